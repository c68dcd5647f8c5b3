/**
 * End-to-end upload against a real server: Orthanc + DICOMweb plugin behind nginx (TLS with a CA
 * made here, HTTP basic auth). Real DICOM files made with DCMTK and dcmjs (several transfer
 * syntaxes, a CT series) are queued in an index and uploaded by the Uploader; every instance must
 * be in Orthanc with a data set identical to the original. Then the faults a real site sees: a
 * resend of what Orthanc already holds, a wrong password, nginx down and back, 503/500 from nginx,
 * a body limit (413), a wrong CA.
 */
import { queueFile } from "../../scripts/harness/queue.ts";
import { assert, assertEquals } from "../support/assert.ts";
import { defaultConfig, type UploadConfig } from "../../src/config/types.ts";
import { QueueIndex } from "../../src/store/queue_index.ts";
import { parseStoreInstancesResponse } from "../../src/upload/response.ts";
import { Uploader } from "../../src/upload/uploader.ts";
import {
  datasetDump,
  datasetFingerprint,
  makeCtSeries,
  makeTransferSyntaxSet,
} from "../../scripts/harness/data.ts";
import {
  type CentralServer,
  fetchInstanceFile,
  listInstances,
  makeTestCa,
  ORTHANC_TOOLS,
  startCentralServer,
} from "../../scripts/harness/orthanc.ts";
import { interopTest } from "../support/tools.ts";
import { startTinyproxy, TINYPROXY_TOOLS } from "../support/tinyproxy.ts";

const TOOLS = [...ORTHANC_TOOLS, "dcmconv", "dcmcjpeg", "dcmcjpls", "dcmcrle", "dcmdump"];

async function waitFor(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A data folder + index holding copies of `files`, recorded as the receiver would. */
interface Queue {
  dataDir: string;
  index: QueueIndex;
  /** SOP Instance UID → original file. */
  originals: Map<string, string>;
  close(): Promise<void>;
}

async function queueFiles(files: readonly string[]): Promise<Queue> {
  const dataDir = await Deno.makeTempDir({ prefix: "dgw-orthanc-queue-" });
  const index = QueueIndex.open(`${dataDir}/queue.sqlite`);
  const originals = new Map<string, string>();
  await Deno.mkdir(`${dataDir}/instances`, { recursive: true });
  for (const [i, file] of files.entries()) {
    const a = await queueFile(index, dataDir, file, { relativePath: `instances/${i}.dcm` });
    originals.set(a.sopInstanceUid, file);
  }
  return {
    dataDir,
    index,
    originals,
    close: async () => {
      index.close();
      await Deno.remove(dataDir, { recursive: true });
    },
  };
}

function uploadConfig(central: CentralServer, overrides: Partial<UploadConfig> = {}): UploadConfig {
  return {
    ...defaultConfig("/unused").upload,
    url: central.nginx.url,
    auth: { kind: "basic", username: central.username, password: central.password },
    caFile: central.ca.caCertPath,
    batchMaxInstances: 10,
    maxBackoffMs: 500,
    idleTimeoutMs: 20_000,
    // As received: the data sets are compared with the originals byte for byte. Compressed uploads
    // to Orthanc are tested in orthanc_compress_test.ts.
    compression: "none",
    ...overrides,
  };
}

function uploader(queue: Queue, config: UploadConfig, fetchImpl?: typeof fetch): Uploader {
  return new Uploader({
    index: queue.index,
    dataDir: queue.dataDir,
    config,
    ...(fetchImpl === undefined ? {} : { fetch: fetchImpl }),
    retryBaseMs: 50,
    credentialsRetryMs: 300,
    retentionIntervalMs: 0,
  });
}

/**
 * A fetch that also reads every STOW-RS answer: the SOP Instance UIDs Orthanc listed in a
 * Referenced SOP Sequence (0008,1199), and the media types it answered with.
 */
function listeningFetch(): { fetch: typeof fetch; referenced: Set<string>; mediaTypes: Set<string> } {
  const referenced = new Set<string>();
  const mediaTypes = new Set<string>();
  const wrapped: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    if (init?.method === "POST" && String(input).endsWith("/studies")) {
      const type = response.headers.get("content-type");
      mediaTypes.add((type ?? "").split(";")[0]!.trim());
      const parsed = parseStoreInstancesResponse(await response.clone().text(), type);
      for (const item of parsed?.referenced ?? []) referenced.add(item.sopInstanceUid);
    }
    return response;
  };
  return { fetch: wrapped, referenced, mediaTypes };
}

async function orthancUids(central: CentralServer): Promise<Set<string>> {
  return new Set((await listInstances(central.orthanc)).map((i) => i.sopInstanceUid));
}

interopTest(
  "Orthanc behind nginx TLS: uploads, identical data sets, and every fault a site sees",
  TOOLS,
  async (t) => {
    const work = await Deno.makeTempDir({ prefix: "dgw-orthanc-test-" });
    const central = await startCentralServer();
    try {
      const samples = await makeTransferSyntaxSet(work);
      let studyCount = 0;
      const ctSeries = async (count: number, rows = 64) => {
        const dir = `${work}/ct${studyCount++}`;
        await Deno.mkdir(dir);
        return await makeCtSeries(dir, { count, rows, columns: rows });
      };

      await t.step(
        "every instance arrives with an identical data set (several transfer syntaxes, a CT series)",
        async () => {
          const ct = await ctSeries(30);
          const queue = await queueFiles([...samples.map((s) => s.path), ...ct]);
          const answers = listeningFetch();
          const up = uploader(queue, uploadConfig(central, { concurrency: 4 }), answers.fetch);
          try {
            const started = Date.now();
            up.start();
            await waitFor(
              () => queue.index.counts().pending + queue.index.counts().sending === 0,
              "queue drained",
            );
            const elapsed = Date.now() - started;
            const counts = queue.index.counts();
            const failures = queue.index.failures(100);
            const unknownToOrthanc = new Set(
              samples.filter((s) => !s.dcmtkKnows).map((s) => s.sopInstanceUid),
            );
            // Should Orthanc refuse a transfer syntax its DCMTK does not know (HTJ2K before 3.6.8), the
            // gateway must report exactly those as failed with the server's reason; Orthanc 1.10 stores them.
            for (const failure of failures) {
              assert(
                unknownToOrthanc.has(failure.sopInstanceUid),
                `unexpected failure: ${JSON.stringify(failure)}`,
              );
              assert(failure.reason.includes("HTTP 400"), failure.reason);
            }
            assertEquals(counts.delivered + counts.failed, queue.originals.size);
            assertEquals(counts.delivered, queue.originals.size - failures.length);
            const instances = await listInstances(central.orthanc);
            const byUid = new Map(instances.map((i) => [i.sopInstanceUid, i.id]));
            let compared = 0;
            for (const [uid, original] of queue.originals) {
              if (failures.some((f) => f.sopInstanceUid === uid)) continue;
              const id = byUid.get(uid);
              assert(id !== undefined, `instance ${uid} (${original}) is not in Orthanc`);
              const copy = `${work}/from-orthanc-${compared}.dcm`;
              await fetchInstanceFile(central.orthanc, id, copy);
              const [a, b] = [await datasetFingerprint(original), await datasetFingerprint(copy)];
              if (a !== b) {
                throw new Error(
                  `data set differs for ${original}:\n${await datasetDump(
                    original,
                  )}\n---\n${await datasetDump(copy)}`,
                );
              }
              compared++;
            }
            assertEquals(compared, counts.delivered);
            // Issue 9: each delivered instance was proven by Orthanc's own STOW-RS answer.
            const delivered = [...queue.originals.keys()].filter(
              (uid) => !failures.some((f) => f.sopInstanceUid === uid),
            );
            assertEquals(delivered.filter((uid) => !answers.referenced.has(uid)), []);
            assertEquals([...answers.mediaTypes], ["application/dicom+json"]);
            console.log(
              `uploaded ${counts.delivered} instances (${samples.length} transfer-syntax samples + 30 CT) ` +
                `through nginx TLS to Orthanc in ${elapsed} ms; ${failures.length} rejected by Orthanc`,
            );
            assertEquals(up.health().state, "idle");
          } finally {
            await up.stop();
            await queue.close();
          }
        },
      );

      await t.step("a resend of instances Orthanc already holds counts as delivered", async () => {
        const ct = await ctSeries(6);
        const first = await queueFiles(ct);
        const up1 = uploader(first, uploadConfig(central));
        up1.start();
        await waitFor(() => first.index.counts().delivered === 6, "first upload");
        await up1.stop();
        await first.close();
        const before = (await listInstances(central.orthanc)).length;
        // The index is lost (e.g. restored from an older backup): everything is sent again.
        const again = await queueFiles(ct);
        const up2 = uploader(again, uploadConfig(central));
        try {
          up2.start();
          await waitFor(() => again.index.counts().delivered === 6, "resend delivered");
          assertEquals(again.index.counts().failed, 0);
          assertEquals((await listInstances(central.orthanc)).length, before);
        } finally {
          await up2.stop();
          await again.close();
        }
      });

      await t.step("a wrong password pauses the queue, nothing lost; the right one resumes it", async () => {
        const queue = await queueFiles(await ctSeries(5));
        const wrong = uploadConfig(central, {
          auth: { kind: "basic", username: central.username, password: "wrong" },
        });
        const up = uploader(queue, wrong);
        try {
          up.start();
          await waitFor(() => up.health().state === "credentials-rejected", "credentials-rejected");
          await new Promise((r) => setTimeout(r, 400));
          const counts = queue.index.counts();
          assertEquals([counts.delivered, counts.failed, counts.pending + counts.sending], [0, 0, 5]);
          const inOrthanc = await orthancUids(central);
          for (const uid of queue.originals.keys()) assert(!inOrthanc.has(uid));
          await up.setConfig(uploadConfig(central));
          await waitFor(() => queue.index.counts().delivered === 5, "delivered with the right password");
          const after = await orthancUids(central);
          for (const uid of queue.originals.keys()) assert(after.has(uid));
        } finally {
          await up.stop();
          await queue.close();
        }
      });

      await t.step("nginx down, then back: retried until delivered", async () => {
        await central.nginx.stop();
        const queue = await queueFiles(await ctSeries(5));
        const up = uploader(queue, uploadConfig(central));
        try {
          up.start();
          await waitFor(() => up.health().state === "retrying", "retrying");
          assert(up.health().lastError?.includes("refused"), up.health().lastError ?? "");
          await new Promise((r) => setTimeout(r, 300));
          assertEquals(queue.index.counts().failed, 0);
          await central.nginx.start();
          await waitFor(() => queue.index.counts().delivered === 5, "delivered after nginx came back");
          assertEquals(up.health().state, "idle");
        } finally {
          await up.stop();
          await queue.close();
        }
      });

      await t.step("nginx answering 503 with Retry-After, then 500: retried, then delivered", async () => {
        await central.nginx.start({ kind: "status", status: 503, retryAfterSeconds: 1 });
        const queue = await queueFiles(await ctSeries(5));
        const up = uploader(queue, uploadConfig(central));
        try {
          up.start();
          await waitFor(() => up.health().lastError?.includes("HTTP 503") === true, "a 503");
          const health = up.health();
          assert(
            health.nextRetryAt !== null && health.nextRetryAt - (health.lastErrorAt ?? 0) >= 900,
            JSON.stringify(health),
          );
          await central.nginx.start({ kind: "status", status: 500 });
          await waitFor(() => up.health().lastError?.includes("HTTP 500") === true, "a 500", 10_000);
          assertEquals(queue.index.counts().failed, 0);
          await central.nginx.start();
          await waitFor(() => queue.index.counts().delivered === 5, "delivered after the faults");
        } finally {
          await up.stop();
          await queue.close();
        }
      });

      await t.step("nginx's body limit (413) splits the batch until it fits", async () => {
        await central.nginx.start({ kind: "proxy", maxBodyBytes: 120_000 });
        const queue = await queueFiles(await ctSeries(8, 128)); // ~33 kB each, ~265 kB per batch of 8
        const up = uploader(queue, uploadConfig(central, { concurrency: 1 }));
        try {
          up.start();
          await waitFor(
            () => queue.index.counts().pending + queue.index.counts().sending === 0,
            "queue drained",
          );
          assertEquals(queue.index.counts().delivered, 8);
          const access = await Deno.readTextFile(`${central.dir}/nginx/access.log`);
          assert(/ 413 /.test(access), "nginx answered 413 at least once");
        } finally {
          await up.stop();
          await queue.close();
          await central.nginx.start();
        }
      });

      await t.step("a wrong CA is a TLS error, nothing lost; the right CA delivers", async () => {
        const other = await makeTestCa(`${work}/other-ca`, "Some Other CA");
        const queue = await queueFiles(await ctSeries(4));
        const up = uploader(queue, uploadConfig(central, { caFile: other.caCertPath }));
        try {
          const test = await up.testConnection();
          assert(!test.ok && test.message.includes("TLS"), test.message);
          up.start();
          await waitFor(() => up.health().state === "retrying", "retrying");
          assert(up.health().lastError?.startsWith("TLS:"), up.health().lastError ?? "");
          assertEquals(queue.index.counts().failed, 0);
          await up.setConfig(uploadConfig(central));
          await waitFor(() => queue.index.counts().delivered === 4, "delivered with the right CA");
          const ok = await up.testConnection();
          assert(ok.ok, ok.message);
        } finally {
          await up.stop();
          await queue.close();
        }
      });
    } finally {
      await central.stop();
      await Deno.remove(work, { recursive: true }).catch(() => {});
    }
  },
);

interopTest(
  "through a real web proxy (tinyproxy): the proxy setting, HTTPS_PROXY, and a proxy that asks for credentials",
  [...TOOLS, ...TINYPROXY_TOOLS],
  async (t) => {
    const work = await Deno.makeTempDir({ prefix: "dgw-proxy-test-" });
    const central = await startCentralServer();
    const target = new URL(central.nginx.url).host;
    let studyCount = 0;
    const ctSeries = async (count: number) => {
      const dir = `${work}/ct${studyCount++}`;
      await Deno.mkdir(dir);
      return await makeCtSeries(dir, { count, rows: 32, columns: 32 });
    };
    try {
      await t.step("the proxy setting: every upload goes through CONNECT", async () => {
        const proxy = await startTinyproxy(`${work}/open-proxy`);
        const queue = await queueFiles(await ctSeries(3));
        const up = uploader(queue, uploadConfig(central, { proxy: proxy.url }));
        try {
          const test = await up.testConnection();
          assert(test.ok, test.message);
          up.start();
          await waitFor(() => queue.index.counts().delivered === 3, "delivered through the proxy");
          const uids = await orthancUids(central);
          for (const uid of queue.originals.keys()) assert(uids.has(uid), `${uid} not in Orthanc`);
          const connects = await proxy.connects();
          assert(connects.length > 0 && connects.every((c) => c === target), JSON.stringify(connects));
        } finally {
          await up.stop();
          await queue.close();
          await proxy.stop();
        }
      });

      await t.step("HTTPS_PROXY from the environment is used when the setting is empty", async () => {
        const proxy = await startTinyproxy(`${work}/env-proxy`);
        const saved = ["HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"].map((k) =>
          [k, Deno.env.get(k)] as const
        );
        Deno.env.set("HTTPS_PROXY", proxy.url);
        for (const k of ["https_proxy", "NO_PROXY", "no_proxy"]) Deno.env.delete(k);
        const queue = await queueFiles(await ctSeries(2));
        const up = uploader(queue, uploadConfig(central, { proxy: "" }));
        try {
          up.start();
          await waitFor(() => queue.index.counts().delivered === 2, "delivered through HTTPS_PROXY");
          const connects = await proxy.connects();
          assert(connects.includes(target), `no CONNECT ${target} in ${JSON.stringify(connects)}`);
        } finally {
          await up.stop();
          await queue.close();
          await proxy.stop();
          for (const [k, v] of saved) v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
        }
      });

      await t.step(
        "a proxy asking for credentials: refused without them (nothing lost), delivered with them",
        async () => {
          const password = `proxy-${crypto.randomUUID().slice(0, 8)}`;
          const proxy = await startTinyproxy(`${work}/auth-proxy`, {
            basicAuth: { username: "gw", password },
          });
          const queue = await queueFiles(await ctSeries(3));
          const up = uploader(queue, uploadConfig(central, { proxy: proxy.url }));
          try {
            const test = await up.testConnection();
            assert(!test.ok && test.message.includes("proxy refused"), test.message);
            up.start();
            await waitFor(() => up.health().lastError !== null, "an error without proxy credentials");
            assert(up.health().lastError!.includes("proxy credentials"), up.health().lastError!);
            assertEquals(queue.index.counts().delivered, 0);
            assertEquals(queue.index.counts().failed, 0);
            console.log(`without proxy credentials: ${up.health().lastError}`);
            await up.setConfig(
              uploadConfig(central, { proxy: proxy.url, proxyUsername: "gw", proxyPassword: password }),
            );
            await waitFor(() => queue.index.counts().delivered === 3, "delivered with proxy credentials");
            const health = JSON.stringify(up.health());
            assert(!health.includes(password), "the proxy password leaked into the health record");
          } finally {
            await up.stop();
            await queue.close();
            await proxy.stop();
          }
        },
      );
    } finally {
      await central.stop();
      await Deno.remove(work, { recursive: true }).catch(() => {});
    }
  },
);
