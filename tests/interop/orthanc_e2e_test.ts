/**
 * The whole chain against real peers: DCMTK `dcmsend` (a modality) → the gateway → nginx (TLS,
 * basic auth) → Orthanc + DICOMweb. Every instance answered Success must arrive with an identical
 * data set; the lag from the last C-STORE to the last instance in Orthanc is reported. Then the
 * gateway runs as its own process (`deno run main.ts`) and is killed with SIGKILL while receiving
 * and again while uploading: after a restart on the same data folder every instance that was
 * answered Success arrives, and none is left queued.
 */
import { assert, assertEquals, assertSameDataset } from "../support/assert.ts";
import { defaultConfig, type UploadConfig } from "../../src/config/types.ts";
import { QueueIndex } from "../../src/store/queue_index.ts";
import { collectFiles, store, type StoreResult } from "../../src/scu/operations.ts";
import {
  datasetDump,
  fileTransferSyntax,
  makeCtSeries,
  makeTransferSyntaxSet,
} from "../../scripts/harness/data.ts";
import { readDatasetAttributes } from "../../src/store/dataset_attributes.ts";
import { instanceRelativePath } from "../../src/store/names.ts";
import { startTestGateway } from "../support/gateway.ts";
import {
  type CentralServer,
  fetchInstanceFile,
  listInstances,
  ORTHANC_TOOLS,
  startCentralServer,
  waitForPort,
} from "../../scripts/harness/orthanc.ts";
import { type ChildHandle, freePort, runCommand, spawnChild } from "../../scripts/harness/process.ts";
import { interopTest } from "../support/tools.ts";

const TOOLS = [...ORTHANC_TOOLS, "dcmsend", "dcmconv", "dcmcjpeg", "dcmcjpls", "dcmcrle", "dcmdump"];
const REPO = new URL("../../", import.meta.url).pathname;

async function waitUntil(
  condition: () => Promise<boolean> | boolean,
  what: string,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function orthancUids(central: CentralServer): Promise<Set<string>> {
  return new Set((await listInstances(central.orthanc)).map((i) => i.sopInstanceUid));
}

function uploadConfig(central: CentralServer): UploadConfig {
  return {
    ...defaultConfig("/unused").upload,
    url: central.nginx.url,
    auth: { kind: "basic", username: central.username, password: central.password },
    caFile: central.ca.caCertPath,
    maxBackoffMs: 300,
    // As received: the data sets in Orthanc are compared with the originals byte for byte. The
    // compressed path to Orthanc is tested in orthanc_compress_test.ts.
    compression: "none",
  };
}

interopTest("DCMTK → gateway → nginx TLS → Orthanc: every instance arrives, identical", TOOLS, async () => {
  const work = await Deno.makeTempDir({ prefix: "dgw-e2e-" });
  const central = await startCentralServer();
  const gateway = await startTestGateway({ upload: uploadConfig(central) });
  try {
    const samples = (await makeTransferSyntaxSet(work)).filter((s) => s.dcmtkKnows);
    await Deno.mkdir(`${work}/ct`);
    const ct = await makeCtSeries(`${work}/ct`, { count: 60, rows: 256, columns: 256 });
    const files = [...samples.map((s) => s.path), ...ct];
    const sent = await runCommand(
      "dcmsend",
      ["-aet", "E2E_SCU", "-aec", "DICOM_GATEWAY", "127.0.0.1", String(gateway.port), ...files],
      { env: { TCP_NODELAY: "1" }, timeoutMs: 120_000 },
    );
    const lastStoreAt = Date.now();
    assert(sent.success, `dcmsend failed: ${sent.stderr}${sent.stdout}`);
    const byUid = new Map<string, string>();
    for (const file of files) {
      const { items } = await collectFiles([file]);
      byUid.set(items[0]!.sopInstanceUid, file);
    }
    await waitUntil(async () => {
      const inOrthanc = await orthancUids(central);
      return [...byUid.keys()].every((uid) => inOrthanc.has(uid));
    }, "every instance in Orthanc");
    const lagMs = Date.now() - lastStoreAt;
    const ids = new Map((await listInstances(central.orthanc)).map((i) => [i.sopInstanceUid, i.id]));
    let i = 0;
    let transcodedByDcmsend = 0;
    for (const [uid, original] of byUid) {
      // What the gateway stored (dcmsend may have converted on the fly to the syntax the gateway
      // preferred, e.g. implicit → explicit VR little endian) must be exactly what Orthanc holds…
      const a = await readDatasetAttributes(original);
      const stored = `${gateway.dataDir}/${
        instanceRelativePath({ studyInstanceUid: a.studyInstanceUid, sopInstanceUid: uid })
      }`;
      const copy = `${work}/orthanc-${i++}.dcm`;
      await fetchInstanceFile(central.orthanc, ids.get(uid)!, copy);
      await assertSameDataset(stored, copy);
      // …and the same data set as the modality's file.
      if (await fileTransferSyntax(stored) === await fileTransferSyntax(original)) {
        await assertSameDataset(original, stored);
      } else {
        transcodedByDcmsend++;
        const strip = (dump: string) =>
          dump.split("\n").filter((l) => !l.startsWith("# Used TransferSyntax")).join("\n");
        assertEquals(
          strip(await datasetDump(stored)),
          strip(await datasetDump(original)),
          `${original} vs ${stored}`,
        );
      }
    }
    await waitUntil(
      () => gateway.index.counts().pending + gateway.index.counts().sending === 0,
      "queue empty",
    );
    assertEquals(gateway.index.counts().failed, 0);
    console.log(
      `${byUid.size} instances (${samples.length} transfer syntaxes + 60 CT 256×256) sent by dcmsend; ` +
        `the last was in Orthanc ${lagMs} ms after dcmsend finished (${transcodedByDcmsend} converted by dcmsend ` +
        `to the transfer syntax the gateway accepted)`,
    );
    assert(lagMs < 10_000, `lag ${lagMs} ms`);
  } finally {
    await gateway.dispose();
    await central.stop();
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
});

/** The gateway as its own process, as `deno task start` runs it. */
async function startGatewayProcess(
  central: CentralServer,
  dataDir: string,
  port: number,
  cwd: string,
): Promise<ChildHandle> {
  const child = spawnChild(Deno.execPath(), [
    "run",
    "-A",
    "--config",
    `${REPO}deno.json`,
    `${REPO}main.ts`,
    "--port",
    String(port),
    "--data-dir",
    dataDir,
    "--status-port",
    "0",
    "--upload-url",
    central.nginx.url,
    "--upload-username",
    central.username,
    "--upload-ca-file",
    central.ca.caCertPath,
    "--upload-batch-max-instances",
    "4",
    "--upload-max-backoff-ms",
    "1000",
  ], { cwd, env: { DICOM_GATEWAY_UPLOAD_PASSWORD: central.password, NO_COLOR: "1" } });
  await waitForPort(port, 60_000, child);
  return child;
}

function queueCounts(dataDir: string) {
  const index = QueueIndex.open(`${dataDir}/queue.sqlite`);
  try {
    return index.counts();
  } finally {
    index.close();
  }
}

interopTest(
  "gateway killed with SIGKILL while receiving and while uploading loses nothing",
  TOOLS,
  async () => {
    const work = await Deno.makeTempDir({ prefix: "dgw-kill-" });
    const central = await startCentralServer();
    const dataDir = `${work}/data`;
    const port = freePort();
    let gateway: ChildHandle | null = null;
    try {
      await Deno.mkdir(`${work}/a`);
      await Deno.mkdir(`${work}/b`);
      const studyA = await collectFiles(
        await makeCtSeries(`${work}/a`, { count: 60, rows: 128, columns: 128 }),
      );
      const studyB = await collectFiles(
        await makeCtSeries(`${work}/b`, { count: 60, rows: 256, columns: 256 }),
      );

      // 1. Killed while receiving: nginx answers 503 so everything stays queued.
      await central.nginx.start({ kind: "status", status: 503, retryAfterSeconds: 1 });
      gateway = await startGatewayProcess(central, dataDir, port, work);
      const answered: string[] = [];
      const victim = gateway;
      const peer = {
        host: "127.0.0.1",
        port,
        callingAeTitle: "KILL_SCU",
        calledAeTitle: "DICOM_GATEWAY",
        timeoutMs: 10_000,
      };
      await store(peer, studyA.items, (result: StoreResult) => {
        if (result.status === 0) answered.push(result.sopInstanceUid);
        if (answered.length === 25 && !victim.exited()) Deno.kill(victim.pid, "SIGKILL");
      }).catch(() => {}); // the association dies with the gateway
      await gateway.status;
      assert(answered.length >= 25 && answered.length < 60, `${answered.length} answered before the kill`);

      // Restart with the server reachable: every answered instance arrives, nothing stays queued.
      await central.nginx.start();
      gateway = await startGatewayProcess(central, dataDir, port, work);
      await waitUntil(async () => {
        const inOrthanc = await orthancUids(central);
        return answered.every((uid) => inOrthanc.has(uid));
      }, "instances answered before the kill in Orthanc");

      // 2. Killed while uploading: queue study B behind a 503, then open the way and kill mid-upload.
      await central.nginx.start({ kind: "status", status: 503, retryAfterSeconds: 1 });
      const results = await store(peer, studyB.items);
      assert(results.every((r) => r.status === 0), "study B fully answered Success");
      const uidsB = studyB.items.map((i) => i.sopInstanceUid);
      await central.nginx.start();
      let atKill = 0;
      await waitUntil(
        async () => {
          const inOrthanc = await orthancUids(central);
          atKill = uidsB.filter((uid) => inOrthanc.has(uid)).length;
          return atKill > 0;
        },
        "upload of study B under way",
        30_000,
      );
      Deno.kill(gateway.pid, "SIGKILL");
      await gateway.status;
      const countsAtKill = queueCounts(dataDir);
      console.log(
        `killed while receiving after ${answered.length}/60 answered; killed while uploading with ` +
          `${atKill}/60 of study B in Orthanc (queue then: ${JSON.stringify(countsAtKill)})`,
      );

      gateway = await startGatewayProcess(central, dataDir, port, work);
      await waitUntil(async () => {
        const inOrthanc = await orthancUids(central);
        return uidsB.every((uid) => inOrthanc.has(uid));
      }, "all of study B in Orthanc after the restart");
      await waitUntil(() => {
        const c = queueCounts(dataDir);
        return c.pending + c.sending === 0;
      }, "queue empty");
      await gateway.stop("SIGTERM", 10_000);
      gateway = null;
      const final = queueCounts(dataDir);
      assertEquals(final.failed, 0);
      assertEquals(final.pending + final.sending, 0);
      assert(final.delivered >= answered.length + 60, JSON.stringify(final));
    } catch (error) {
      // What the running gateway said and what its queue holds: the test's only view of why.
      if (gateway !== null) {
        console.error(`gateway output (last 6000 characters):\n${gateway.output().slice(-6000)}`);
      }
      console.error(`queue: ${JSON.stringify(queueCounts(dataDir))}`);
      throw error;
    } finally {
      if (gateway !== null) await gateway.stop("SIGKILL", 1000);
      await central.stop();
      await Deno.remove(work, { recursive: true }).catch(() => {});
    }
  },
);
