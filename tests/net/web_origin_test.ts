import { assertEquals } from "../support/assert.ts";
import { sameWebOrigin, webOrigin } from "../../src/net/web_origin.ts";

Deno.test("webOrigin: RFC 6454 §4 triple, scheme and host lowercased, default ports filled in", () => {
  assertEquals(webOrigin("https://PACS.Example.org/dicom-web"), "https://pacs.example.org:443");
  assertEquals(webOrigin("https://pacs.example.org:443/x?y#z"), "https://pacs.example.org:443");
  assertEquals(webOrigin("HTTP://127.0.0.1/dw"), "http://127.0.0.1:80");
  assertEquals(webOrigin("http://127.0.0.1:80"), "http://127.0.0.1:80");
  assertEquals(webOrigin("https://[::1]:8443/"), "https://[::1]:8443");
  assertEquals(webOrigin("https://bücher.example/"), "https://xn--bcher-kva.example:443");
  for (const unique of ["", "not a url", "file:///etc/passwd", "ftp://host/x", "data:text/plain,x"]) {
    assertEquals(webOrigin(unique), null, unique);
  }
});

Deno.test("sameWebOrigin: path, query, case and an explicit default port do not matter; scheme, host and port do", () => {
  assertEquals(sameWebOrigin("https://a.example/dw", "https://A.EXAMPLE:443/other"), true);
  assertEquals(sameWebOrigin("http://127.0.0.1:8042/a", "http://127.0.0.1:8042/b"), true);
  assertEquals(sameWebOrigin("", " "), true);
  assertEquals(sameWebOrigin("https://a.example", "http://a.example"), false);
  assertEquals(sameWebOrigin("https://a.example", "https://a.example:8443"), false);
  assertEquals(sameWebOrigin("https://a.example", "https://b.example"), false);
  assertEquals(sameWebOrigin("https://a.example", "https://a.example."), false);
  assertEquals(sameWebOrigin("", "https://a.example"), false);
  assertEquals(sameWebOrigin("ftp://a.example", "ftp://a.example"), false);
});
