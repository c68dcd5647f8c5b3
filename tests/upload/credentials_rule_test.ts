import { assert, assertEquals } from "../support/assert.ts";
import {
  credentialsRefusal,
  describeNetworkError,
  InsecureCredentialsError,
  isLoopbackHost,
  sendRequest,
  startIdleTimer,
} from "../../src/upload/http.ts";

Deno.test("credentials go only over https, or plain http to this PC's loopback", () => {
  assertEquals(credentialsRefusal("https://pacs.example/dicom-web", "the upload address"), null);
  assertEquals(credentialsRefusal("http://127.0.0.1:8042/dicom-web", "the upload address"), null);
  assertEquals(credentialsRefusal("http://localhost/dicom-web", "the upload address"), null);
  assertEquals(credentialsRefusal("http://[::1]:8042/dicom-web", "the upload address"), null);
  assertEquals(
    credentialsRefusal("http://user:pw@10.0.0.5/dicom-web", "the upload address"),
    "Credentials are never sent over plain http: the upload address http://10.0.0.5/dicom-web must start with https://",
  );
  assert(credentialsRefusal("http://127.0.0.1.evil.example/x", "the OAuth2 token address") !== null);
  assert(
    isLoopbackHost("127.8.9.10") && !isLoopbackHost("128.0.0.1") && !isLoopbackHost("localhost.example"),
  );
});

Deno.test("sendRequest refuses a request with credentials over plain http before anything leaves", async () => {
  let called = 0;
  const transport = {
    fetch: () => {
      called++;
      return Promise.resolve(new Response("[]"));
    },
    close: () => {},
  };
  const error = await sendRequest(transport, "http://192.0.2.1/dicom-web/studies", {
    method: "GET",
    headers: { authorization: "Bearer x" },
    timer: startIdleTimer(1000),
    credentials: "the upload address",
  }).then(() => null, (e) => e);
  assert(error instanceof InsecureCredentialsError, String(error));
  assertEquals(called, 0);
});

Deno.test("sendRequest never follows a redirect: the 3xx and its Location come back", async () => {
  let init: RequestInit | undefined;
  const transport = {
    fetch: (_url: string, i: RequestInit) => {
      init = i;
      return Promise.resolve(new Response(null, { status: 303, headers: { location: "https://sso/login" } }));
    },
    close: () => {},
  };
  const result = await sendRequest(transport, "https://pacs.example/dicom-web/studies", {
    method: "POST",
    headers: {},
    body: "x",
    timer: startIdleTimer(1000),
  });
  assertEquals(init?.redirect, "manual");
  assertEquals([result.status, result.headers.get("location")], [303, "https://sso/login"]);
});

Deno.test("a certificate signed by another CA of the same name (BadSignature) reads as not trusted", () => {
  const error = new TypeError(
    "error sending request for url (https://pacs.example.org/dicom-web/studies): client error (Connect): " +
      "invalid peer certificate: BadSignature",
  );
  const described = describeNetworkError(error);
  assertEquals(described.kind, "tls");
  assert(described.message.includes("not signed by an authority we trust"), described.message);
});
