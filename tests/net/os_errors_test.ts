/** "(os error 111)" and friends become plain words. */
import { assertEquals } from "../support/assert.ts";
import { plainOsErrors } from "../../src/net/os_errors.ts";

Deno.test("plainOsErrors: Linux errno and Windows codes in words; unknown codes drop only the tail", () => {
  assertEquals(plainOsErrors("Connection refused (os error 111)", "linux"), "connection refused");
  assertEquals(
    plainOsErrors("the server refused the connection (Connection refused (os error 111))", "linux"),
    "the server refused the connection (connection refused)",
  );
  assertEquals(
    plainOsErrors(
      "No connection could be made because the target machine actively refused it. (os error 10061)",
      "windows",
    ),
    "connection refused",
  );
  assertEquals(
    plainOsErrors("cannot write a.dcm: No space left on device (os error 28)", "linux"),
    "cannot write a.dcm: no space left on the disk",
  );
  assertEquals(
    plainOsErrors("Connection reset by peer (os error 104)", "linux"),
    "connection reset by the other side",
  );
  assertEquals(plainOsErrors("Something odd (os error 4242)", "linux"), "Something odd");
  assertEquals(plainOsErrors("no tail here", "linux"), "no tail here");
});
