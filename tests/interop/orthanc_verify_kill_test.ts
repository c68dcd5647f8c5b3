/**
 * SIGKILL between delivery and verification: the gateway runs as its own process (`deno run
 * main.ts`) in front of nginx → Orthanc, with the archive's searches (QIDO-RS) failing (nginx
 * answers every GET with 503) so that the study is delivered but cannot be verified, and with the
 * disk "full" (min_free_bytes above any disk) so that retention deletes every file it may. The
 * gateway is killed with SIGKILL; restarted with the searches answering, the study is verified,
 * nothing is lost, and no file was ever deleted before its instance was verified.
 */
import { DatabaseSync } from "node:sqlite";
import { assert, assertEquals } from "../support/assert.ts";
import { collectFiles, store } from "../../src/scu/operations.ts";
import { makeCtSeries } from "../../scripts/harness/data.ts";
import {
  type CentralServer,
  listInstances,
  ORTHANC_TOOLS,
  startCentralServer,
  waitForPort,
} from "../../scripts/harness/orthanc.ts";
import { type ChildHandle, freePort, spawnChild } from "../../scripts/harness/process.ts";
import { interopTest } from "../support/tools.ts";

const REPO = new URL("../../", import.meta.url).pathname;

/** The gateway as its own process, as `deno task start` runs it, retention as eager as it gets. */
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
    "5",
    "--upload-max-backoff-ms",
    "1000",
    "--upload-min-free-bytes",
    "1000 TB",
  ], { cwd, env: { DICOM_GATEWAY_UPLOAD_PASSWORD: central.password, NO_COLOR: "1" } });
  await waitForPort(port, 60_000, child);
  return child;
}

interface Row {
  sop_instance_uid: string;
  path: string;
  status: string;
  verified_at: number | null;
  purged_at: number | null;
}

/** Files first, then the index: a file gone before the read must show a committed verified mark. */
function snapshot(dataDir: string): { rows: Row[]; present: Set<string> } {
  const present = new Set<string>();
  const walk = (dir: string, prefix: string) => {
    for (const entry of Deno.readDirSync(dir)) {
      const relative = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
      if (entry.isDirectory) walk(`${dir}/${entry.name}`, relative);
      else if (entry.name.endsWith(".dcm")) present.add(relative);
    }
  };
  walk(dataDir, "");
  return { rows: readRows(dataDir), present };
}

function readRows(dataDir: string): Row[] {
  const db = new DatabaseSync(`${dataDir}/queue.sqlite`, { readOnly: true });
  try {
    return db.prepare("SELECT sop_instance_uid, path, status, verified_at, purged_at FROM instances")
      .all() as unknown as Row[];
  } finally {
    db.close();
  }
}

async function waitUntil(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interopTest(
  "gateway killed with SIGKILL between delivery and verification: verified after restart, nothing deleted early",
  [...ORTHANC_TOOLS],
  async () => {
    const work = await Deno.makeTempDir({ prefix: "dgw-verify-kill-" });
    const central = await startCentralServer();
    const dataDir = `${work}/data`;
    const port = freePort();
    let gateway: ChildHandle | null = null;
    const early: string[] = [];
    const check = () => {
      const { rows, present } = snapshot(dataDir);
      for (const row of rows) {
        if (!present.has(row.path) && row.verified_at === null) {
          early.push(`${row.sop_instance_uid} (${row.status})`);
        }
      }
      return rows;
    };
    try {
      await Deno.mkdir(`${work}/a`);
      const study = await collectFiles(await makeCtSeries(`${work}/a`, { count: 20, rows: 64, columns: 64 }));
      const uids = study.items.map((i) => i.sopInstanceUid);
      // Uploads pass, searches fail: delivered, not verifiable.
      await central.nginx.start({ kind: "proxy", searchStatus: 503 });
      gateway = await startGatewayProcess(central, dataDir, port, work);
      const peer = {
        host: "127.0.0.1",
        port,
        callingAeTitle: "KILL_SCU",
        calledAeTitle: "DICOM_GATEWAY",
        timeoutMs: 10_000,
      };
      const results = await store(peer, study.items);
      assert(results.every((r) => r.status === 0), "the study is answered Success");
      await waitUntil(
        () => check().filter((r) => r.status === "delivered").length === 20,
        "all 20 delivered",
      );
      // A few verification attempts fail meanwhile; the disk is "full"; nothing may go.
      await new Promise((r) => setTimeout(r, 1500));
      const beforeKill = check();
      assertEquals(
        beforeKill.filter((r) => r.verified_at !== null).length,
        0,
        "nothing verified: searches fail",
      );
      assertEquals(snapshot(dataDir).present.size, 20, "every file kept while unverified, disk full or not");
      Deno.kill(gateway.pid, "SIGKILL");
      await gateway.status;
      gateway = null;

      await central.nginx.start({ kind: "proxy" });
      gateway = await startGatewayProcess(central, dataDir, port, work);
      await waitUntil(() => check().filter((r) => r.verified_at !== null).length === 20, "all 20 verified");
      // Retention (the disk is "full") now deletes the verified files — and only those.
      await waitUntil(() => check().every((r) => r.purged_at !== null), "verified files deleted", 90_000);
      assertEquals(early, [], "a file was deleted before its instance was verified");
      const inOrthanc = new Set((await listInstances(central.orthanc)).map((i) => i.sopInstanceUid));
      for (const uid of uids) assert(inOrthanc.has(uid), `${uid} lost`);
      assertEquals(check().length, 20);
    } finally {
      if (gateway !== null) await gateway.stop("SIGKILL", 1000);
      await central.stop();
      await Deno.remove(work, { recursive: true }).catch(() => {});
    }
  },
);
