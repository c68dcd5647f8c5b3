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
 * Receive: storescp and the gateway receiving the series over one association, `repeat` times each,
 * each time into an empty folder and a fresh process; the median is reported. The last fsync-on
 * gateway folder is kept (everything queued, nothing delivered) for the upload part.
 */
export async function benchReceive(context: BenchContext, options: { repeat: number }): Promise<void> {
  const { work, series, seriesBytes, rows, notes } = context;
  const repeat = options.repeat;
  // DCMTK storescp, bit-preserving, its largest PDU (131072; the gateway's default is 262144).
  const scpRuns: Run[] = [];
  const scpSyncRuns: Run[] = [];
  for (let i = 0; i < repeat; i++) {
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
  const scpScenario = "storescu → DCMTK storescp +B (no fsync)";
  rows.push(
    scpRuns.length
      ? summarize(scpScenario, scpRuns, series.length, seriesBytes)
      : { scenario: scpScenario, note: "failed" },
  );
  const scpSyncScenario = "storescu → DCMTK storescp +B, then one sync";
  if (scpSyncRuns.length) rows.push(summarize(scpSyncScenario, scpSyncRuns, series.length, seriesBytes));

  for (const fsync of [true, false]) {
    const scenario = `storescu → gateway (fsync ${fsync ? "on" : "off"})`;
    const runs: Run[] = [];
    const resentRuns: Run[] = [];
    for (let i = 0; i < repeat; i++) {
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
      } catch (error) {
        notes.push(`${scenario}: ${(error as Error).message}`);
        break;
      } finally {
        await gateway?.stop();
      }
    }
    rows.push(
      runs.length
        ? summarize(scenario, runs, series.length, seriesBytes)
        : { scenario, note: "failed (see notes)" },
    );
    if (resentRuns.length) {
      rows.push(
        summarize("storescu → gateway (fsync on), re-sent study", resentRuns, series.length, seriesBytes),
      );
    }
    if (!fsync) await Deno.remove(`${work}/gateway-series-nofsync`, { recursive: true }).catch(() => {});
  }
}
