/**
 * The one redaction (`redact` in upload/auth.ts) hides each secret in every form it may come back
 * in: as is, URL-encoded, form-encoded, base64 (also inside a longer base64 text and as the Basic
 * `user:password`), JSON-escaped, HTML-escaped, and cut off in an excerpt. An OAuth2 token endpoint
 * that echoes the posted form body in its error answer leaks none of them through the error, the
 * "Test connection" / `doctor` probe, or the uploader's log and health record.
 */
import { assert, assertEquals, assertRejects } from "../support/assert.ts";
import { captureLogs } from "../support/logs.ts";
import { defaultConfig, type UploadAuth, type UploadConfig } from "../../src/config/types.ts";
import { QueueIndex } from "../../src/store/queue_index.ts";
import {
  configuredSecrets,
  createAuthProvider,
  CredentialsRejectedError,
  redact,
} from "../../src/upload/auth.ts";
import { probeConnection } from "../../src/upload/probe.ts";
import { Uploader } from "../../src/upload/uploader.ts";
import { queueStudy, startFakeStow, waitFor } from "./fake_stow.ts";

/** A secret with a space, non-ASCII letters, "/", "+", "&", "=", a quote, a backslash and "~!'". */
const SECRET = `Pä/ss+w&rd="x\\y" ~!'z`;

function b64(text: string): string {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** Each form written out by hand (not by the code under test). */
const FORMS: [string, string][] = [
  ["as is", SECRET],
  ["encodeURIComponent", "P%C3%A4%2Fss%2Bw%26rd%3D%22x%5Cy%22%20~!'z"],
  ["encodeURIComponent, + for spaces", "P%C3%A4%2Fss%2Bw%26rd%3D%22x%5Cy%22+~!'z"],
  ["form-encoded (URLSearchParams)", "P%C3%A4%2Fss%2Bw%26rd%3D%22x%5Cy%22+%7E%21%27z"],
  ["form-encoded, lower-case hex", "P%c3%a4%2fss%2bw%26rd%3d%22x%5cy%22+%7e%21%27z"],
  ["base64", b64(SECRET)],
  ["base64 without padding", b64(SECRET).replace(/=+$/, "")],
  ["base64url", b64(SECRET).replaceAll("+", "-").replaceAll("/", "_")],
  ["JSON-escaped", `Pä/ss+w&rd=\\"x\\\\y\\" ~!'z`],
  ["JSON-escaped, ASCII only (Python json.dumps)", `P\\u00e4/ss+w&rd=\\"x\\\\y\\" ~!'z`],
  ["JSON-escaped with \\/", `Pä\\/ss+w&rd=\\"x\\\\y\\" ~!'z`],
  ["HTML-escaped", "Pä/ss+w&amp;rd=&quot;x\\y&quot; ~!&#39;z"],
];

Deno.test("redact: every encoded form of a secret is replaced", () => {
  for (const [name, form] of FORMS) {
    const out = redact(`before ${form} after`, [SECRET]);
    assertEquals(out, "before [redacted] after", name);
  }
});

Deno.test("redact: a secret inside a longer base64 text is hidden at each alignment", () => {
  for (const prefix of ["", "a", "ab", "client_secret=", "grant_type=client_credentials&client_secret="]) {
    const body = `${prefix}${SECRET}&scope=dicom`;
    for (const encoded of [b64(body), b64(body).replaceAll("+", "-").replaceAll("/", "_")]) {
      const out = redact(`echo: ${encoded}`, [SECRET]);
      assert(out.includes("[redacted]"), `${prefix}: ${out}`);
      // What is left either side of the mark decodes to at most 2 bytes of the secret.
      const left = out.slice("echo: ".length).split("[redacted]");
      assertEquals(left.length, 2);
      assert(left[0]!.length <= Math.ceil((prefix.length * 8) / 6) + 1, `${prefix}: ${out}`);
    }
  }
});

Deno.test("redact: Basic user:password, proxy credentials, cut excerpts, short secrets", () => {
  const secrets = configuredSecrets({
    auth: { kind: "basic", username: "gateway", password: SECRET },
    proxyUsername: "proxy-user",
    proxyPassword: "proxy-Pa55",
  });
  const basic = b64(`gateway:${SECRET}`);
  assertEquals(redact(`Authorization: Basic ${basic}`, secrets), "Authorization: Basic [redacted]");
  const proxy = b64("proxy-user:proxy-Pa55");
  assertEquals(
    redact(`Proxy-Authorization: Basic ${proxy}`, secrets),
    "Proxy-Authorization: Basic [redacted]",
  );
  assertEquals(redact("proxy-Pa55", secrets), "[redacted]");
  // An excerpt cut through the secret (bodyExcerpt ends with "…") keeps none of it.
  assertEquals(
    redact(`it said: client_secret=${SECRET.slice(0, 9)}…`, [SECRET]),
    "it said: client_secret=[redacted]…",
  );
  assertEquals(
    redact(`it said: ${encodeURIComponent(SECRET).slice(0, 12)}…`, [SECRET]),
    "it said: [redacted]…",
  );
  assertEquals(redact("short abc stays", ["abc"]), "short abc stays");
});

/** A token endpoint on this PC that answers each form post with `answer(body)`. */
function echoingTokenServer(answer: (body: string) => Response) {
  const bodies: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const body = await request.text();
    bodies.push(body);
    return answer(body);
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/oauth2/token`,
    bodies,
    close: () => server.shutdown(),
  };
}

/** Ways a careless OAuth2 server echoes the form body (RFC 6749 §5.2 error answers). */
const ECHOES: [string, (body: string) => Response][] = [
  [
    "error_description = the body",
    (body) =>
      Response.json({ error: "invalid_client", error_description: `bad request: ${body}` }, { status: 401 }),
  ],
  ["error = the body", (body) => Response.json({ error: body }, { status: 400 })],
  [
    "base64 of the body",
    (body) =>
      Response.json({ error: "invalid_client", error_description: `got ${b64(body)}` }, { status: 401 }),
  ],
  [
    "the secret cut by the 200-character limit",
    (body) =>
      Response.json({ error: "invalid_client", error_description: `${"x".repeat(130)} ${body}` }, {
        status: 401,
      }),
  ],
  ["the secret decoded, JSON-escaped by hand", (body) =>
    new Response(
      `{"error":"invalid_client","error_description":"secret ${
        JSON.stringify(new URLSearchParams(body).get("client_secret")).slice(1, -1).replaceAll("/", "\\/")
      } is wrong"}`,
      { status: 401, headers: { "content-type": "application/json" } },
    )],
];

function assertNoForm(text: string, where: string): void {
  for (const [name, form] of FORMS) {
    assert(!text.includes(form), `${name} of the secret in ${where}: ${text}`);
  }
  assert(!text.includes(encodeURIComponent(SECRET).slice(0, 12)), `a URL-encoded part in ${where}: ${text}`);
  assert(!text.includes(SECRET.slice(0, 8)), `a part of the secret in ${where}: ${text}`);
}

Deno.test("oauth2: a token endpoint that echoes the posted body leaks no form of the client secret", async () => {
  for (const [name, answer] of ECHOES) {
    const server = echoingTokenServer(answer);
    try {
      const auth: UploadAuth = {
        kind: "oauth2",
        tokenUrl: server.url,
        clientId: "gw",
        clientSecret: SECRET,
        scope: "",
      };
      const plain = { fetch: (url: string, init: RequestInit) => fetch(url, init), close() {} };
      const error = await assertRejects(() => createAuthProvider(auth, { transport: plain }).headers());
      assert(error instanceof CredentialsRejectedError, `${name}: ${error}`);
      // The endpoint really got (and echoed) the URL-encoded secret.
      assert(server.bodies[0]!.includes(`client_secret=${FORMS[3]![1]}`), server.bodies[0]);
      assertNoForm(error.message, `the error (${name})`);
      // "Test connection" and doctor: the same probe.
      const config: UploadConfig = { ...defaultConfig("/unused").upload, url: "http://127.0.0.1:9/dw", auth };
      const probe = await probeConnection(config, { timeoutMs: 5_000 });
      assertEquals(probe.kind, "sign-in-rejected", `${name}: ${probe.message}`);
      assertNoForm(probe.message, `the probe (${name})`);
    } finally {
      await server.close();
    }
  }
});

Deno.test("uploader + oauth2 echoing the body: the log, the health record and the page's error hold no form of it", async () => {
  const logs = await captureLogs();
  const server = echoingTokenServer(ECHOES[0]![1]);
  const fake = startFakeStow();
  const dataDir = await Deno.makeTempDir();
  const index = QueueIndex.open(`${dataDir}/q.sqlite`);
  const uploader = new Uploader({
    index,
    dataDir,
    config: {
      ...defaultConfig("/unused").upload,
      maxBackoffMs: 200,
      url: fake.url,
      auth: { kind: "oauth2", tokenUrl: server.url, clientId: "gw", clientSecret: SECRET, scope: "" },
    },
    retryBaseMs: 20,
    credentialsRetryMs: 100,
    retentionIntervalMs: 0,
  });
  try {
    await queueStudy(index, dataDir, { count: 1 });
    uploader.start();
    await waitFor(() => uploader.health().lastError !== null, "the token error");
    await uploader.stop();
    assert(server.bodies.length > 0);
    const texts = [...logs.lines(), JSON.stringify(uploader.health()), JSON.stringify(index.failures(10))];
    assert(texts.some((t) => t.includes("[redacted]")), texts.join("\n"));
    for (const text of texts) assertNoForm(text, "the uploader's output");
  } finally {
    await uploader.stop();
    await fake.close();
    await server.close();
    index.close();
    await Deno.remove(dataDir, { recursive: true });
    await logs.dispose();
  }
});
