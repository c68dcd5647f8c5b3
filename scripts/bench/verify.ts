/**
 * Scenario "verify": what verification by query (QIDO-RS) adds to the pipelined upload.
 * storescu sends the series to the gateway while it uploads through nginx (TLS, basic auth) to
 * Orthanc, once with `upload.verify = "query"` (the default) and once with `"response"`; from the
 * gateway's queue index (read-only, polled every 20 ms) the time from the last C-STORE response to
 * the last instance delivered and to the last instance verified; from nginx's access log the
 * STOW-RS and QIDO-RS requests. Run alone: `deno run -A scripts/bench/verify.ts [--count 500]`.
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { parseArgs } from "node:util";
import { makeCtSeries } from "../harness/data.ts";
import { delay } from "../harness/process.ts";
import { type GatewayProcess, startGatewayProcess, timedStorescu } from "./gateway_process.ts";
import type { BenchContext, Row } from "./report.ts";
import { startUploadTarget, uploadSettings, type UploadTarget } from "./upload_target.ts";

/** Delivered and verified counts in the gateway's index (null while it does not exist yet). */
function readCounts(dataDir: string): { delivered: number; verified: number } | null {
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(`${dataDir}/queue.sqlite`, { readOnly: true });
  } catch {
    return null;
  }
  try {
    const row = db.prepare(
      `SELECT sum(status = 'delivered') AS delivered,
         sum(status = 'delivered' AND verified_at IS NOT NULL) AS verified FROM instances`,
    ).get() as { delivered: number | null; verified: number | null } | undefined;
    return { delivered: Number(row?.delivered ?? 0), verified: Number(row?.verified ?? 0) };
  } catch {
    return null; // the schema is being created
  } finally {
    db.close();
  }
}

/** STOW-RS (POST …/studies) and QIDO-RS instance searches (GET …/instances) nginx passed on. */
async function countRequests(target: UploadTarget): Promise<{ stow: number; search: number }> {
  const log = await Deno.readTextFile(target.accessLog).catch(() => "");
  let stow = 0;
  let search = 0;
  for (const line of log.split("\n")) {
    if (/"POST \/dicom-web\/studies HTTP/.test(line)) stow++;
    else if (/"GET \/dicom-web\/studies\/[^ ]+\/instances\?/.test(line)) search++;
  }
  return { stow, search };
}

interface Run {
  sendSeconds: number;
  /** Seconds from the last C-STORE response to the last instance delivered / verified. */
  deliveredAfter: number;
  verifiedAfter: number | null;
  stow: number;
  search: number;
}

async function pipelined(
  context: BenchContext,
  mode: "query" | "response",
  timeoutMs: number,
): Promise<Run> {
  const n = context.series.length;
  const target = await startUploadTarget();
  const dataDir = `${context.work}/gateway-verify-${mode}`;
  let gateway: GatewayProcess | undefined;
  try {
    const upload = uploadSettings(target);
    gateway = await startGatewayProcess(dataDir, [...upload.args, "--upload-verify", mode], upload.env);
    let delivered: number | null = null;
    let verified: number | null = null;
    let sending = true;
    let lastStore = 0;
    const watch = (async () => {
      const deadline = performance.now() + timeoutMs;
      while (performance.now() < deadline) {
        const counts = readCounts(dataDir);
        const now = performance.now();
        if (counts !== null && !sending) {
          if (delivered === null && counts.delivered >= n) delivered = now;
          if (verified === null && counts.verified >= n) verified = now;
          if (delivered !== null && (mode === "response" || verified !== null)) return;
        }
        await delay(20);
      }
      throw new Error(`not all ${n} ${mode === "query" ? "verified" : "delivered"} after ${timeoutMs} ms`);
    })();
    const sendSeconds = await timedStorescu(gateway.port, context.series, "DICOM_GATEWAY");
    lastStore = performance.now();
    sending = false;
    await watch;
    const requests = await countRequests(target);
    return {
      sendSeconds,
      deliveredAfter: (delivered! - lastStore) / 1000,
      verifiedAfter: verified === null ? null : (verified - lastStore) / 1000,
      ...requests,
    };
  } finally {
    await gateway?.stop();
    await target.stop();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
}

/** The pipelined upload with and without verification by query; rows for the results table. */
export async function benchVerify(context: BenchContext): Promise<void> {
  const { series, seriesBytes, rows, notes } = context;
  const n = series.length;
  for (const mode of ["response", "query"] as const) {
    const scenario = `storescu → gateway → Orthanc, pipelined, verify = "${mode}"`;
    try {
      const run = await pipelined(context, mode, 1_800_000);
      const row: Row = {
        scenario,
        instances: n,
        bytes: seriesBytes,
        seconds: run.sendSeconds + (run.verifiedAfter ?? run.deliveredAfter),
        note:
          `C-STOREs ${run.sendSeconds.toFixed(1)} s; delivered ${
            run.deliveredAfter.toFixed(2)
          } s after the ` +
          `last C-STORE${
            run.verifiedAfter === null
              ? ""
              : `, verified ${run.verifiedAfter.toFixed(2)} s after it (+${
                (run.verifiedAfter - run.deliveredAfter).toFixed(2)
              } s)`
          }; ${run.stow} STOW-RS + ${run.search} QIDO-RS requests`,
      };
      rows.push(row);
    } catch (error) {
      rows.push({ scenario, note: `failed: ${(error as Error).message}` });
      notes.push(`verify (${mode}): ${(error as Error).message}`);
    }
  }
}

if (import.meta.main) {
  const { values } = parseArgs({ args: Deno.args, options: { count: { type: "string", default: "500" } } });
  const work = await Deno.makeTempDir({ prefix: "dgw-bench-verify-" });
  try {
    await Deno.mkdir(`${work}/series`);
    const series = await makeCtSeries(`${work}/series`, { count: Number(values.count) });
    let seriesBytes = 0;
    for (const file of series) seriesBytes += (await Deno.stat(file)).size;
    const context: BenchContext = { work, series, seriesBytes, rows: [], notes: [] };
    await benchVerify(context);
    for (const row of context.rows) console.log(`${row.scenario}: ${row.note}`);
    for (const note of context.notes) console.log(`note: ${note}`);
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}
