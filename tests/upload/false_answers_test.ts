/**
 * Issue 9: an instance is delivered only when the archive's STOW-RS answer proves it. A scripted
 * HTTPS server gives each false answer a site meets — a redirect to a sign-in page, a web page, an
 * empty 200, 204, empty lists, a partial list, 307/308 to another origin or to plain http with each
 * kind of credential — and the test checks that nothing unproven is marked delivered, that the
 * instances stay queued and are retried, that the status says what happened naming the address,
 * and that no other origin ever sees a credential.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { defaultConfig, type UploadAuth, type UploadConfig } from "../../src/config/types.ts";
import { QueueIndex } from "../../src/store/queue_index.ts";
import { Uploader } from "../../src/upload/uploader.ts";
import { makeTestCa, type TestCa } from "../../scripts/harness/orthanc.ts";
import { interopTest } from "../support/tools.ts";
import { type FakeStowServer, queueStudy, startFakeStow, storeResponseJson, waitFor } from "./fake_stow.ts";

const SECRETS = ["pa55-word-basic", "bearer-tok-42", "api-k3y-value", "client-s3cret"];

const AUTH_KINDS: UploadAuth[] = [
  { kind: "basic", username: "gw", password: SECRETS[0]! },
  { kind: "bearer", token: SECRETS[1]! },
  { kind: "header", name: "X-API-Key", value: SECRETS[2]! },
];

interface Scene {
  ca: TestCa;
  archive: FakeStowServer;
  dataDir: string;
  index: QueueIndex;
  uploader(config: Partial<UploadConfig>): Uploader;
}

async function scene(body: (s: Scene) => Promise<void>, ca?: TestCa): Promise<void> {
  const dataDir = await Deno.makeTempDir({ prefix: "false_answers_" });
  const tls = ca ?? await makeTestCa(`${dataDir}/ca`);
  const archive = startFakeStow({ tls: { cert: tls.serverCert, key: tls.serverKey } });
  const index = QueueIndex.open(`${dataDir}/queue.sqlite`);
  const uploaders: Uploader[] = [];
  try {
    await body({
      ca: tls,
      archive,
      dataDir,
      index,
      uploader(overrides) {
        const config: UploadConfig = {
          ...defaultConfig("/unused").upload,
          url: archive.url,
          caFile: tls.caCertPath,
          maxBackoffMs: 100,
          idleTimeoutMs: 5_000,
          ...overrides,
        };
        const uploader = new Uploader({
          index,
          dataDir,
          config,
          retryBaseMs: 20,
          credentialsRetryMs: 300,
          retentionIntervalMs: 0,
          stopGraceMs: 200,
        });
        uploaders.push(uploader);
        return uploader;
      },
    });
  } finally {
    for (const uploader of uploaders) await uploader.stop();
    await archive.close();
    index.close();
    await Deno.remove(dataDir, { recursive: true });
  }
}

/** Starts uploading 3 instances and waits until the archive has answered at least `requests` times. */
async function answeredTimes(s: Scene, uploader: Uploader, requests = 3): Promise<void> {
  uploader.start();
  await waitFor(
    () => s.archive.requests.length >= requests && uploader.health().lastError !== null,
    `${requests} answers`,
  );
}

function assertNothingDelivered(s: Scene, uploader: Uploader, says: string): void {
  const counts = s.index.counts();
  assertEquals(counts.delivered, 0, "nothing may be marked delivered");
  assertEquals(counts.failed, 0, "nothing is marked failed either: the instances stay queued");
  assertEquals(counts.pending + counts.sending, 3);
  const health = uploader.health();
  assertEquals(health.state, "retrying");
  assertEquals(health.lastSuccessAt, null);
  assert(health.lastError?.includes(`The server at ${s.archive.url}`), health.lastError ?? "");
  assert(health.lastError?.includes(says), health.lastError ?? "");
}

const caNeeded = ["openssl"];

interopTest(
  "false answer: 303 to a sign-in page that answers 200 HTML is not delivery",
  caNeeded,
  async () => {
    await scene(async (s) => {
      await queueStudy(s.index, s.dataDir, { count: 3 });
      s.archive.after = () => new Response(null, { status: 303, headers: { location: "/sso/login" } });
      s.archive.other = ({ request }) =>
        new URL(request.url).pathname === "/sso/login"
          ? new Response("<!DOCTYPE html><html><body>Sign in</body></html>", {
            headers: { "content-type": "text/html" },
          })
          : undefined;
      const uploader = s.uploader({});
      await answeredTimes(s, uploader);
      assertNothingDelivered(s, uploader, "redirect (HTTP 303");
      assert(uploader.health().lastError!.includes("/sso/login"), "the Location is shown");
      assertEquals(s.archive.log.filter((l) => l.line.includes("/sso/login")).length, 0, "never followed");
    });
  },
);

interopTest("false answer: 200 with a web page is not delivery", caNeeded, async () => {
  await scene(async (s) => {
    await queueStudy(s.index, s.dataDir, { count: 3 });
    s.archive.after = () =>
      new Response("<html><body>Welcome to the portal</body></html>", {
        headers: { "content-type": "text/html; charset=utf-8" },
      });
    const uploader = s.uploader({});
    await answeredTimes(s, uploader);
    assertNothingDelivered(s, uploader, "with a web page (HTTP 200");
    assert(uploader.health().lastError!.includes("check the DICOMweb address"));
  });
});

interopTest("false answer: an empty 200 and a 204 are not delivery", caNeeded, async () => {
  for (const answer of [() => new Response("", { status: 200 }), () => new Response(null, { status: 204 })]) {
    await scene(async (s) => {
      await queueStudy(s.index, s.dataDir, { count: 3 });
      s.archive.after = answer;
      const uploader = s.uploader({});
      await answeredTimes(s, uploader);
      assertNothingDelivered(s, uploader, "empty body");
    });
  }
});

interopTest(
  "false answer: 200 with empty Referenced and Failed lists (Orthanc, gzip body) is not delivery",
  caNeeded,
  async () => {
    await scene(async (s) => {
      await queueStudy(s.index, s.dataDir, { count: 3 });
      s.archive.after = () =>
        new Response(storeResponseJson([]), { headers: { "content-type": "application/dicom+json" } });
      const uploader = s.uploader({});
      await answeredTimes(s, uploader);
      assertNothingDelivered(
        s,
        uploader,
        "instances sent, neither as stored nor as failed",
      );
    });
  },
);

interopTest(
  "false answer: a partial list delivers only the listed instances; the others stay queued",
  caNeeded,
  async () => {
    await scene(async (s) => {
      const study = await queueStudy(s.index, s.dataDir, { count: 3 });
      const listed = study.uids[0]!;
      s.archive.after = ({ uids, store }) => {
        store(uids);
        const mine = uids.filter((uid) => uid === listed);
        return new Response(storeResponseJson(mine), {
          headers: { "content-type": "application/dicom+json" },
        });
      };
      const uploader = s.uploader({ batchMaxInstances: 3 });
      uploader.start();
      await waitFor(() => s.archive.requests.length >= 4, "the unlisted ones are sent again");
      const counts = s.index.counts();
      assertEquals(counts.delivered, 1);
      assertEquals(counts.failed, 0);
      assertEquals(counts.pending + counts.sending, 2);
      const rows = s.index.recentStudies(1)[0]!;
      assertEquals(rows.delivered, 1);
      assert(
        uploader.health().lastError?.includes("instances sent, neither as stored nor as failed"),
        uploader.health().lastError ?? "",
      );
      // The unlisted ones were retried (the later requests carry only them).
      assert(s.archive.requests.slice(1).every((r) => !r.uids.includes(listed)));
    });
  },
);

interopTest(
  "redirects: 307/308 to another origin and to plain http — nothing delivered, no credential leaves",
  caNeeded,
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "redirect_ca_" });
    const ca = await makeTestCa(dir);
    const elsewhere = startFakeStow({ tls: { cert: ca.serverCert, key: ca.serverKey } });
    const plain = startFakeStow();
    try {
      for (const status of [307, 308]) {
        for (const target of [elsewhere, plain]) {
          for (const auth of AUTH_KINDS) {
            await scene(async (s) => {
              await queueStudy(s.index, s.dataDir, { count: 3 });
              const location = `${target.url}/studies`;
              s.archive.before = () => new Response(null, { status, headers: { location } });
              const uploader = s.uploader({ auth });
              await answeredTimes(s, uploader, 2);
              assertNothingDelivered(s, uploader, `redirect (HTTP ${status}`);
              assert(uploader.health().lastError!.includes(location));
              // The archive itself received the credential (it is its server) …
              assert(s.archive.log.some((l) => l.authorization !== null || l.apiKey !== null));
              const test = await uploader.testConnection();
              assert(!test.ok && test.message.includes("redirect"), test.message);
            }, ca);
          }
          // … the other origin saw nothing at all.
          assertEquals(target.log, [], `${target.url} must see no request`);
        }
      }
    } finally {
      await elsewhere.close();
      await plain.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

interopTest(
  "redirects: the OAuth2 token request is not redirected; the client secret stays",
  caNeeded,
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "redirect_token_" });
    const ca = await makeTestCa(dir);
    const elsewhere = startFakeStow({ tls: { cert: ca.serverCert, key: ca.serverKey } });
    const plain = startFakeStow();
    try {
      for (const target of [elsewhere, plain]) {
        for (const status of [307, 308]) {
          await scene(async (s) => {
            await queueStudy(s.index, s.dataDir, { count: 3 });
            s.archive.other = ({ request }) =>
              new URL(request.url).pathname === "/token"
                ? new Response(null, {
                  status,
                  headers: { location: `${target.url.replace("/dicom-web", "")}/token` },
                })
                : undefined;
            const uploader = s.uploader({
              auth: {
                kind: "oauth2",
                tokenUrl: s.archive.url.replace("/dicom-web", "/token"),
                clientId: "gw",
                clientSecret: SECRETS[3]!,
                scope: "",
              },
            });
            uploader.start();
            await waitFor(() => uploader.health().lastError !== null, "an error");
            await waitFor(() => s.archive.log.filter((l) => l.line === "POST /token").length >= 2, "retried");
            assertEquals(s.index.counts().delivered, 0);
            assert(uploader.health().lastError!.includes("redirect"), uploader.health().lastError!);
            assert(!uploader.health().lastError!.includes(SECRETS[3]!));
            assertEquals(
              s.archive.log.filter((l) => l.line === "POST /dicom-web/studies").length,
              0,
              "no upload without a token",
            );
          }, ca);
        }
        assertEquals(target.log, [], `${target.url} must see no request`);
      }
    } finally {
      await elsewhere.close();
      await plain.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

interopTest("credentials are never sent over plain http to another machine", caNeeded, async () => {
  await scene(async (s) => {
    await queueStudy(s.index, s.dataDir, { count: 3 });
    for (const auth of AUTH_KINDS) {
      // 127.0.0.2 is loopback too, but a name that is not: use a documentation address that is never reached.
      const uploader = s.uploader({ url: "http://192.0.2.10/dicom-web", auth });
      uploader.start();
      await waitFor(() => uploader.health().lastError !== null, "a set-up error");
      assert(
        uploader.health().lastError!.includes("never sent over plain http"),
        uploader.health().lastError!,
      );
      const test = await uploader.testConnection();
      assert(!test.ok && test.message.includes("must start with https://"), test.message);
      await uploader.stop();
    }
    assertEquals(s.index.counts().delivered, 0);
  });
});
