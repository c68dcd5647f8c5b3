/**
 * Scenario "receive": the CT series over one association, to DCMTK storescp and to the gateway
 * (fsync on, and off). storescp does not fsync, so its row is followed by "storescp + sync": the
 * same transfer plus one `sync` afterwards (the same bytes made durable in one batch), which is
 * the fair comparison for the gateway with fsync on. Each gateway run is on a study it has not
 * seen (empty folder, fresh process); with fsync on, the same study is then sent again to the same
 * process ("re-sent study": every instance replaces an earlier one).
 * @module
 */
import { startStorescp } from "../harness/dcmtk.ts";
import { cpuSeconds, peakRssKb, runCommand } from "../harness/process.ts";
import {
  countDcm,
  cpuUsed,
  type GatewayProcess,
  startGatewayProcess,
  timedStorescu,
} from "./gateway_process.ts";
import { type BenchContext, type Run, summarize } from "./report.ts";

/**
 * Receive: storescp and the gateway receiving the series over one association, `repeat` rounds,
 * each time into an empty folder and a fresh process; the median is reported. A round runs every
 * receiver once, one after the other (storescp, gateway fsync on, gateway fsync off), so that a
 * change in the machine's load or disk latency during the benchmark falls on all of them alike.
 * The last fsync-on gateway folder is kept (everything queued, nothing delivered) for the upload
 * part. Each round also measures the durability floor (see {@link durabilityFloor}).
 */
export async function benchReceive(context: BenchContext, options: { repeat: number }): Promise<void> {
  const { work, series, seriesBytes, rows, notes } = context;
  const repeat = options.repeat;
  const scpRuns: Run[] = [];
  const scpSyncRuns: Run[] = [];
  const floorRuns: Run[] = [];
  const gatewayRuns = new Map<boolean, Run[]>([[true, []], [false, []]]);
  const resentRuns: Run[] = [];
  const failed = new Set<boolean>();
  for (let i = 0; i < repeat; i++) {
    await storescpRound(work, series, scpRuns, scpSyncRuns, notes);
    floorRuns.push(await durabilityFloor(work, series));
    for (const fsync of [true, false]) {
      if (failed.has(fsync)) continue;
      const problem = await gatewayRound(work, series, fsync, gatewayRuns.get(fsync)!, resentRuns);
      if (problem !== undefined) {
        notes.push(`storescu → gateway (fsync ${fsync ? "on" : "off"}): ${problem}`);
        failed.add(fsync);
      }
    }
  }
  const scpScenario = "storescu → DCMTK storescp +B (no fsync)";
  rows.push(
    scpRuns.length
      ? summarize(scpScenario, scpRuns, series.length, seriesBytes)
      : { scenario: scpScenario, note: "failed" },
  );
  const scpSyncScenario = "storescu → DCMTK storescp +B, then one sync";
  if (scpSyncRuns.length) rows.push(summarize(scpSyncScenario, scpSyncRuns, series.length, seriesBytes));
  rows.push(summarize(DURABILITY_FLOOR_SCENARIO, floorRuns, series.length, seriesBytes));
  for (const fsync of [true, false]) {
    const scenario = `storescu → gateway (fsync ${fsync ? "on" : "off"})`;
    const runs = gatewayRuns.get(fsync)!;
    rows.push(
      runs.length
        ? summarize(scenario, runs, series.length, seriesBytes)
        : { scenario, note: "failed (see notes)" },
    );
    if (fsync && resentRuns.length) {
      rows.push(
        summarize("storescu → gateway (fsync on), re-sent study", resentRuns, series.length, seriesBytes),
      );
    }
  }
  await Deno.remove(`${work}/gateway-series-nofsync`, { recursive: true }).catch(() => {});
}

/** The scenario name of {@link durabilityFloor}'s row (report.ts finds it by this). */
export const DURABILITY_FLOOR_SCENARIO =
  "durability floor: write, fsync, rename, folder fsync per file (no network)";

/**
 * The disk's cost of the gateway's durability rule, with nothing else: each file of the series
 * (already in memory) is written to a temporary file, fsynced, renamed into a folder and the
 * folder fsynced, one after the other, by a plain loop in this process. A receiver that answers
 * each C-STORE only once its instance is durable cannot take less than storescp's transfer time
 * plus this, whatever its CPU cost: report.ts gives the ratio that bound allows.
 */
async function durabilityFloor(work: string, series: string[]): Promise<Run> {
  const dir = `${work}/floor`;
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(`${dir}/tmp`, { recursive: true });
  await Deno.mkdir(`${dir}/instances`, { recursive: true });
  const contents = await Promise.all(series.map((path) => Deno.readFile(path)));
  const folder = await Deno.open(`${dir}/instances`, { read: true });
  const start = performance.now();
  try {
    for (let i = 0; i < contents.length; i++) {
      const temp = `${dir}/tmp/${i}.part`;
      const file = await Deno.open(temp, { createNew: true, write: true });
      let written = 0;
      while (written < contents[i]!.length) written += file.writeSync(contents[i]!.subarray(written));
      await file.sync();
      file.close();
      Deno.renameSync(temp, `${dir}/instances/${i}.dcm`);
      await folder.sync();
    }
  } finally {
    folder.close();
  }
  const seconds = (performance.now() - start) / 1000;
  await Deno.remove(dir, { recursive: true });
  return { seconds, cpu: undefined, peak: undefined, problem: "" };
}

/** One storescp run (and the same followed by one `sync`), appended to the two lists. */
async function storescpRound(
  work: string,
  series: string[],
  scpRuns: Run[],
  scpSyncRuns: Run[],
  notes: string[],
): Promise<void> {
  // DCMTK storescp, bit-preserving, its largest PDU (131072; the gateway's default is 262144).
  const scpDir = `${work}/storescp`;
  await Deno.mkdir(scpDir);
  const scp = await startStorescp({ outDir: scpDir, bitPreserving: true, maxPdu: 131072 });
  try {
    const cpu0 = await cpuSeconds(scp.pid);
    const seconds = await timedStorescu(scp.port, series, "STORESCP");
    const cpu = await cpuUsed(scp.pid, cpu0);
    const received = await countDcm(scpDir);
    const problem = received === series.length ? "" : `received ${received}`;
    const peak = await peakRssKb(scp.pid);
    scpRuns.push({ seconds, cpu, peak, problem });
    const syncStart = performance.now();
    await runCommand("sync", []);
    const syncSeconds = (performance.now() - syncStart) / 1000;
    scpSyncRuns.push({ seconds: seconds + syncSeconds, cpu, peak, problem });
  } catch (error) {
    notes.push(`storescp: ${(error as Error).message}`);
  } finally {
    await scp.stop();
    await Deno.remove(scpDir, { recursive: true });
  }
}

/**
 * One gateway run on a study it has not seen (empty folder, fresh process); with fsync on, the
 * same study is then sent again to the same process ("re-sent study": every instance replaces an
 * earlier one). Returns the problem if the gateway could not be run.
 */
async function gatewayRound(
  work: string,
  series: string[],
  fsync: boolean,
  runs: Run[],
  resentRuns: Run[],
): Promise<string | undefined> {
  const dataDir = `${work}/gateway-series-${fsync ? "fsync" : "nofsync"}`;
  await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  let gateway: GatewayProcess | undefined;
  try {
    gateway = await startGatewayProcess(dataDir, fsync ? [] : ["--no-fsync"]);
    const cpu0 = await cpuSeconds(gateway.pid);
    const seconds = await timedStorescu(gateway.port, series, "DICOM_GATEWAY");
    const cpu = await cpuUsed(gateway.pid, cpu0);
    const peak = await gateway.peakRssKb();
    const received = await countDcm(dataDir);
    runs.push({
      seconds,
      cpu,
      peak,
      problem: received === series.length ? "" : `${received} files in the data folder`,
    });
    if (fsync) {
      // The same study again, to the same process: every instance replaces the one stored.
      const cpu1 = await cpuSeconds(gateway.pid);
      const again = await timedStorescu(gateway.port, series, "DICOM_GATEWAY");
      const resent = await countDcm(dataDir);
      resentRuns.push({
        seconds: again,
        cpu: await cpuUsed(gateway.pid, cpu1),
        peak: await gateway.peakRssKb(),
        problem: resent === series.length ? "" : `${resent} files in the data folder`,
      });
    }
    return undefined;
  } catch (error) {
    return (error as Error).message;
  } finally {
    await gateway?.stop();
  }
}
