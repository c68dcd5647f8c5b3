/**
 * Verified delivery against a real archive: Orthanc + DICOMweb plugin behind nginx (TLS with a CA
 * made here, HTTP basic auth). A study is delivered (Orthanc's STOW-RS answer lists every
 * instance), then verified through Orthanc's QIDO-RS (one search per series); an instance deleted
 * from Orthanc (REST DELETE /instances/{id}) between its delivery and the search is found missing,
 * sent again, and verified in the end. Retention deletes a file only once it is verified.
 */
import { queueFile } from "../../scripts/harness/queue.ts";
import { assert, assertEquals } from "../support/assert.ts";
import { defaultConfig, type UploadConfig } from "../../src/config/types.ts";
import { QueueIndex } from "../../src/store/queue_index.ts";
import { Uploader } from "../../src/upload/uploader.ts";
import { makeCtSeries } from "../../scripts/harness/data.ts";
import {
  type CentralServer,
  listInstances,
  ORTHANC_TOOLS,
  startCentralServer,
} from "../../scripts/harness/orthanc.ts";
import { interopTest } from "../support/tools.ts";

async function waitFor(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A data folder and index holding copies of `files`, recorded as the receiver would. */
async function queueFiles(
  files: readonly string[],
): Promise<{ dataDir: string; index: QueueIndex; uids: string[] }> {
  const dataDir = await Deno.makeTempDir({ prefix: "dgw-orthanc-verify-" });
  const index = QueueIndex.open(`${dataDir}/queue.sqlite`);
  await Deno.mkdir(`${dataDir}/instances`, { recursive: true });
  const uids: string[] = [];
  for (const [i, file] of files.entries()) {
    const a = await queueFile(index, dataDir, file, { relativePath: `instances/${i}.dcm` });
    uids.push(a.sopInstanceUid);
  }
  return { dataDir, index, uids };
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
    retentionDays: 0,
    ...overrides,
  };
}

/** A fetch that counts QIDO-RS searches (GET …/instances) and can act after each STOW-RS answer. */
function watchingFetch(
  afterStow: (body: string) => Promise<void>,
): { fetch: typeof fetch; searches: string[] } {
  const searches: string[] = [];
  const wrapped: typeof fetch = async (input, init) => {
    const url = String(input);
    if (init?.method === "GET" && /\/series\/[^/]+\/instances\?/.test(url)) searches.push(url);
    const response = await fetch(input, init);
    if (init?.method === "POST" && url.endsWith("/studies")) await afterStow(await response.clone().text());
    return response;
  };
  return { fetch: wrapped, searches };
}

interopTest(
  "Orthanc behind nginx TLS: delivered, then verified by QIDO-RS; an instance deleted before the search is sent again",
  [...ORTHANC_TOOLS],
  async (t) => {
    const work = await Deno.makeTempDir({ prefix: "dgw-orthanc-verify-test-" });
    const central = await startCentralServer();
    try {
      await t.step(
        "a study is delivered, then verified through Orthanc's QIDO-RS, one search per series",
        async () => {
          await Deno.mkdir(`${work}/a`);
          const files = await makeCtSeries(`${work}/a`, { count: 24, rows: 32, columns: 32 });
          const queue = await queueFiles(files);
          const watch = watchingFetch(() => Promise.resolve());
          const up = new Uploader({
            index: queue.index,
            dataDir: queue.dataDir,
            config: uploadConfig(central),
            fetch: watch.fetch,
            retryBaseMs: 50,
            retentionIntervalMs: 0,
            freeBytes: () => 1e15,
          });
          try {
            up.start();
            await waitFor(() => queue.index.verificationCounts().verified === 24, "all 24 verified");
            assertEquals(queue.index.counts().delivered, 24);
            assertEquals(watch.searches.length, 1, watch.searches.join("\n"));
            const summary = queue.index.recentStudies(1)[0]!;
            assertEquals([summary.received, summary.delivered, summary.verified], [24, 24, 24]);
            assertEquals(up.health().verification.problem, null);
            const inOrthanc = new Set((await listInstances(central.orthanc)).map((i) => i.sopInstanceUid));
            for (const uid of queue.uids) assert(inOrthanc.has(uid), `${uid} in Orthanc`);
            // Verified, so retention may delete (retention_days = 0 keeps nothing back by age here: by space).
            const report = new Uploader({
              index: queue.index,
              dataDir: queue.dataDir,
              config: uploadConfig(central, { minFreeBytes: 1e15 }),
              retentionIntervalMs: 0,
              freeBytes: () => 0,
            }).runRetention();
            assertEquals(report?.deletedForSpace, 24);
          } finally {
            await up.stop();
            queue.index.close();
            await Deno.remove(queue.dataDir, { recursive: true });
          }
        },
      );

      await t.step(
        "an instance deleted from Orthanc before the search is found missing, sent again, verified",
        async () => {
          await Deno.mkdir(`${work}/b`);
          const files = await makeCtSeries(`${work}/b`, { count: 8, rows: 32, columns: 32 });
          const queue = await queueFiles(files);
          const victim = queue.uids[3]!;
          let deleted = false;
          let missingSeen = 0;
          let stillOnDisk = true;
          const watch = watchingFetch(async (body) => {
            if (deleted || !body.includes(victim)) return;
            // Between the delivery (this STOW-RS answer) and the verification search.
            const id = (await listInstances(central.orthanc)).find((i) => i.sopInstanceUid === victim)?.id;
            assert(id !== undefined, "the victim is in Orthanc after its delivery");
            const response = await fetch(`${central.orthanc.restUrl}/instances/${id}`, { method: "DELETE" });
            await response.body?.cancel();
            assertEquals(response.status, 200);
            deleted = true;
          });
          const up = new Uploader({
            index: queue.index,
            dataDir: queue.dataDir,
            config: uploadConfig(central, { minFreeBytes: 1e15 }),
            fetch: watch.fetch,
            retryBaseMs: 50,
            retentionIntervalMs: 0,
            freeBytes: () => 0, // the disk is "full": retention runs after every delivery and verification
            verifier: { recheckDelaysMs: [100, 200] },
          });
          const unsubscribe = queue.index.onChange(() => {
            missingSeen = Math.max(missingSeen, queue.index.verificationCounts().missingInArchive);
            const row = queue.index.verificationState(victim);
            if (
              row !== undefined && row.verifiedAt === null && !queue.index.allPaths().has("instances/3.dcm")
            ) {
              stillOnDisk = false;
            }
          });
          try {
            up.start();
            await waitFor(() => queue.index.verificationCounts().verified === 8, "all 8 verified in the end");
            assert(deleted, "the victim was deleted from Orthanc");
            assertEquals(missingSeen, 1, "the victim was shown missing in the archive");
            assert(stillOnDisk, "the unverified victim's file was never deleted");
            // first search, two re-searches (100 ms, 200 ms), and the search after the re-send
            assertEquals(watch.searches.length, 4, watch.searches.join("\n"));
            const inOrthanc = new Set((await listInstances(central.orthanc)).map((i) => i.sopInstanceUid));
            assert(inOrthanc.has(victim), "the victim is back in Orthanc");
            assertEquals(queue.index.recentStudies(1)[0]!.missingInArchive, 0);
          } finally {
            unsubscribe();
            await up.stop();
            queue.index.close();
            await Deno.remove(queue.dataDir, { recursive: true });
          }
        },
      );
    } finally {
      await central.stop();
      await Deno.remove(work, { recursive: true }).catch(() => {});
    }
  },
);
