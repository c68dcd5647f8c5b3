/**
 * Auth providers (basic, bearer, header, OAuth2 client credentials with an in-process token
 * endpoint), TLS with a CA made by openssl (right CA, wrong CA), and secrets kept out of logs,
 * errors, the index and the health record.
 */
import { assert, assertEquals, assertRejects } from "../support/assert.ts";
import { captureLogs } from "../support/logs.ts";
import { defaultConfig, type UploadAuth, type UploadConfig } from "../../src/config/types.ts";
import { QueueIndex } from "../../src/store/queue_index.ts";
import {
  createAuthProvider,
  CredentialsRejectedError,
  redact,
  TokenUnavailableError,
} from "../../src/upload/auth.ts";
import { createTransport, describeNetworkError } from "../../src/upload/http.ts";
import { HEALTH_STATE_KEY, Uploader } from "../../src/upload/uploader.ts";
import { makeTestCa } from "../../scripts/harness/orthanc.ts";
import { interopTest } from "../support/tools.ts";
import { freePort } from "../../scripts/harness/process.ts";
import { queueStudy, startFakeStow, waitFor } from "./fake_stow.ts";

const plain = { fetch: (url: string, init: RequestInit) => fetch(url, init), close() {} };

Deno.test("auth: none, basic (RFC 7617, UTF-8), bearer, custom header", async () => {
  assertEquals(await createAuthProvider({ kind: "none" }, { transport: plain }).headers(), {});
  const basic = createAuthProvider({ kind: "basic", username: "gateway", password: "pässword" }, {
    transport: plain,
  });
  const header = (await basic.headers())["authorization"]!;
  const decoded = new TextDecoder().decode(Uint8Array.from(atob(header.slice(6)), (c) => c.charCodeAt(0)));
  assertEquals(decoded, "gateway:pässword");
  assertEquals(basic.invalidate(), false);
  assert(basic.secrets().includes("pässword") && basic.secrets().includes(header.slice(6)));
  assertEquals(
    await createAuthProvider({ kind: "bearer", token: "abc.def" }, { transport: plain }).headers(),
    {
      authorization: "Bearer abc.def",
    },
  );
  assertEquals(
    await createAuthProvider({ kind: "header", name: "X-Api-Key", value: "k1" }, { transport: plain })
      .headers(),
    {
      "x-api-key": "k1",
    },
  );
});

Deno.test("redact: secrets and URL credentials are replaced", () => {
  assertEquals(
    redact("token s3cr3t-token in https://u:p@host/x", ["s3cr3t-token"]),
    "token [redacted] in https://host/x",
  );
  assertEquals(redact("short abc stays", ["abc"]), "short abc stays");
});

interface TokenServer {
  url: string;
  requests: URLSearchParams[];
  answer: () => Response;
  close(): Promise<void>;
}

function tokenServer(): TokenServer {
  const state: TokenServer = {
    url: "",
    requests: [],
    answer: () =>
      Response.json({ access_token: `tok-${state.requests.length}`, token_type: "bearer", expires_in: 3600 }),
    close: async () => {},
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    assertEquals(request.headers.get("content-type"), "application/x-www-form-urlencoded");
    state.requests.push(new URLSearchParams(await request.text()));
    await new Promise((r) => setTimeout(r, 20));
    return state.answer();
  });
  state.url = `http://127.0.0.1:${server.addr.port}/oauth2/token`;
  state.close = () => server.shutdown();
  return state;
}

Deno.test("oauth2: client credentials form, cached until expiry minus margin, shared by concurrent callers", async () => {
  const server = tokenServer();
  try {
    let now = 1_000_000;
    const auth: UploadAuth = {
      kind: "oauth2",
      tokenUrl: server.url,
      clientId: "gw",
      clientSecret: "cs-secret",
      scope: "https://dicom.healthcareapis.azure.com/.default",
    };
    const provider = createAuthProvider(auth, { transport: plain, now: () => now });
    const [a, b] = await Promise.all([provider.headers(), provider.headers()]);
    assertEquals(a, { authorization: "Bearer tok-1" });
    assertEquals(b, a);
    assertEquals(server.requests.length, 1);
    const form = server.requests[0]!;
    assertEquals(form.get("grant_type"), "client_credentials");
    assertEquals(form.get("client_id"), "gw");
    assertEquals(form.get("client_secret"), "cs-secret");
    assertEquals(form.get("scope"), "https://dicom.healthcareapis.azure.com/.default");
    now += 3600_000 - 61_000; // still inside the margin
    assertEquals(await provider.headers(), { authorization: "Bearer tok-1" });
    now += 2_000; // within 60 s of expiry: renewed
    assertEquals(await provider.headers(), { authorization: "Bearer tok-2" });
    assertEquals(provider.invalidate(), true);
    assertEquals(await provider.headers(), { authorization: "Bearer tok-3" });
    assert(provider.secrets().includes("tok-3") && provider.secrets().includes("cs-secret"));
    // a short-lived token is renewed at half its life
    server.answer = () => Response.json({ access_token: "short", expires_in: 10 });
    provider.invalidate();
    await provider.headers();
    const count = server.requests.length;
    now += 4_000;
    await provider.headers();
    assertEquals(server.requests.length, count);
    now += 2_000;
    await provider.headers();
    assertEquals(server.requests.length, count + 1);
  } finally {
    await server.close();
  }
});

Deno.test("oauth2: invalid_client is a credentials rejection; 503 and network errors are temporary", async () => {
  const server = tokenServer();
  try {
    const auth: UploadAuth = {
      kind: "oauth2",
      tokenUrl: server.url,
      clientId: "gw",
      clientSecret: "cs-very-secret",
      scope: "",
    };
    server.answer = () =>
      Response.json({ error: "invalid_client", error_description: "bad secret cs-very-secret" }, {
        status: 401,
      });
    const error = await assertRejects(
      () => createAuthProvider(auth, { transport: plain }).headers(),
      CredentialsRejectedError,
      "invalid_client",
    );
    assert(!error.message.includes("cs-very-secret"), error.message);
    assertEquals(server.requests[0]!.has("scope"), false);
    server.answer = () => new Response("down", { status: 503 });
    await assertRejects(
      () => createAuthProvider(auth, { transport: plain }).headers(),
      TokenUnavailableError,
      "HTTP 503",
    );
    const unreachable: UploadAuth = { ...auth, tokenUrl: `http://127.0.0.1:${freePort()}/token` };
    await assertRejects(
      () => createAuthProvider(unreachable, { transport: plain }).headers(),
      TokenUnavailableError,
      "refused",
    );
  } finally {
    await server.close();
  }
});

function config(overrides: Partial<UploadConfig>): UploadConfig {
  return { ...defaultConfig("/unused").upload, maxBackoffMs: 200, ...overrides };
}

Deno.test("uploader + oauth2: a 401 for a revoked token refreshes it once, without pausing", async () => {
  const tokens = tokenServer();
  const fake = startFakeStow();
  const dataDir = await Deno.makeTempDir();
  const index = QueueIndex.open(`${dataDir}/q.sqlite`);
  let uploader: Uploader | null = null;
  try {
    fake.before = ({ request }) =>
      request.headers.get("authorization") === "Bearer tok-1"
        ? new Response("revoked", { status: 401 })
        : undefined;
    await queueStudy(index, dataDir, { count: 3 });
    uploader = new Uploader({
      index,
      dataDir,
      config: config({
        url: fake.url,
        auth: {
          kind: "oauth2",
          tokenUrl: tokens.url,
          clientId: "c",
          clientSecret: "s3cret-value",
          scope: "",
        },
      }),
      retryBaseMs: 20,
      retentionIntervalMs: 0,
    });
    uploader.start();
    await waitFor(() => index.counts().delivered === 3, "delivered");
    assertEquals(tokens.requests.length, 2);
    assertEquals(fake.requests.map((r) => r.status), [401, 200]);
    assertEquals(uploader.health().lastError, null);
  } finally {
    await uploader?.stop();
    await fake.close();
    await tokens.close();
    index.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

interopTest("TLS: private CA file trusted; wrong CA is a TLS error, nothing lost, fixed by the right CA", [
  "openssl",
], async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "tls_test_" });
  const right = await makeTestCa(`${dataDir}/ca-right`, "Right CA");
  const wrong = await makeTestCa(`${dataDir}/ca-wrong`, "Wrong CA");
  const fake = startFakeStow({ tls: { cert: right.serverCert, key: right.serverKey } });
  const index = QueueIndex.open(`${dataDir}/q.sqlite`);
  let uploader: Uploader | null = null;
  try {
    const study = await queueStudy(index, dataDir, { count: 3 });
    const base = config({ url: fake.url, caFile: wrong.caCertPath });
    uploader = new Uploader({ index, dataDir, config: base, retryBaseMs: 20, retentionIntervalMs: 0 });
    const test = await uploader.testConnection();
    assert(!test.ok && test.message.includes("not signed by an authority we trust"), test.message);
    uploader.start();
    await waitFor(() => uploader!.health().state === "retrying", "retrying");
    assert(uploader.health().lastError?.startsWith("TLS:"), uploader.health().lastError ?? "");
    assertEquals(index.counts().failed, 0);
    assertEquals(fake.requests.length, 0);
    await uploader.setConfig({ ...base, caFile: right.caCertPath });
    await waitFor(() => index.counts().delivered === 3, "delivered over TLS");
    for (const uid of study.uids) assertEquals(fake.stored.get(uid), 1);
    assert((await uploader.testConnection()).ok);
    // Without any CA file the system/Mozilla roots do not know our CA either.
    const transport = await createTransport({ caFile: "", proxy: "" });
    const error = await fetch(`${fake.url}/studies`).then(() => null, (e) => e);
    transport.close();
    assertEquals(describeNetworkError(error).kind, "tls");
    await assertRejects(
      () => createTransport({ caFile: `${dataDir}/none.pem`, proxy: "" }),
      Error,
      "Cannot read the CA file",
    );
  } finally {
    await uploader?.stop();
    await fake.close();
    index.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("secrets never reach logs, errors, the index or the health record", async () => {
  const logs = await captureLogs();
  const secrets = ["wrong-Passw0rd", "Bearer-T0ken-xyz", "Api-K3y-value", "0auth-Cl1ent-secret"];
  const tokens = tokenServer();
  tokens.answer = () =>
    Response.json({ error: "invalid_client", error_description: "secret 0auth-Cl1ent-secret is wrong" }, {
      status: 401,
    });
  const fake = startFakeStow();
  fake.before = ({ request }) => {
    // An unfriendly server that echoes the credentials back in its error body.
    const echoed = request.headers.get("authorization") ?? request.headers.get("x-api-key") ?? "";
    return new Response(`denied for ${echoed}`, { status: request.headers.get("x-api-key") ? 500 : 401 });
  };
  const dataDir = await Deno.makeTempDir();
  const index = QueueIndex.open(`${dataDir}/q.sqlite`);
  const uploaders: Uploader[] = [];
  try {
    await queueStudy(index, dataDir, { count: 2 });
    const auths: UploadAuth[] = [
      { kind: "basic", username: "gw", password: secrets[0]! },
      { kind: "bearer", token: secrets[1]! },
      { kind: "header", name: "X-Api-Key", value: secrets[2]! },
      { kind: "oauth2", tokenUrl: tokens.url, clientId: "gw", clientSecret: secrets[3]!, scope: "" },
    ];
    const messages: string[] = [];
    for (const auth of auths) {
      const uploader = new Uploader({
        index,
        dataDir,
        config: config({ url: fake.url.replace("http://", `http://user:${secrets[0]}@`), auth }),
        retryBaseMs: 20,
        credentialsRetryMs: 100,
        retentionIntervalMs: 0,
      });
      uploaders.push(uploader);
      messages.push((await uploader.testConnection()).message);
      uploader.start();
      await waitFor(() => uploader.health().lastError !== null, `an error with ${auth.kind}`);
      await new Promise((r) => setTimeout(r, 150));
      await uploader.stop();
      messages.push(JSON.stringify(uploader.health()));
    }
    assert(logs.records.length > 0);
    const texts = [
      ...logs.lines(),
      ...messages,
      index.getState(HEALTH_STATE_KEY) ?? "",
      JSON.stringify(index.failures(100)),
    ];
    for (const text of texts) {
      for (const secret of secrets) assert(!text.includes(secret), `secret leaked: ${text}`);
      assert(!text.includes(btoa(`gw:${secrets[0]}`)), `basic credentials leaked: ${text}`);
    }
    assertEquals(index.counts().failed, 0);
  } finally {
    for (const uploader of uploaders) await uploader.stop();
    await fake.close();
    await tokens.close();
    index.close();
    await Deno.remove(dataDir, { recursive: true });
    await logs.dispose();
  }
});
