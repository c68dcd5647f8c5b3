/**
 * Scenario "large instance": one multi-frame instance (default 1 GiB) to the gateway and to
 * storescp; the gateway's peak memory is what it shows, and its rate against storescp's.
 *
 * The two receivers take turns (gateway, storescp, gateway, …; `repeat` runs each, median
 * shown), each run's file deleted before the next. On this virtual machine the first writes into
 * page-cache memory not used for a while cost several times more kernel time than writes into
 * memory just freed (measured: 1 GiB of 1 MiB `write`s, 2.5 s of system time against 0.4 s when
 * repeated at once), so a fixed order would favour whichever receiver runs second.
 * @module
 */
import { makeLargeInstance } from "../harness/data.ts";
import { startStorescp } from "../harness/dcmtk.ts";
import { cpuSeconds, peakRssKb } from "../harness/process.ts";
import { cpuUsed, type GatewayProcess, startGatewayProcess, timedStorescu } from "./gateway_process.ts";
import { type BenchContext, type Run, summarize } from "./report.ts";

/** One large instance to the gateway and to storescp, in turns: time, CPU and peak memory. */
export async function benchLargeInstance(
  context: BenchContext,
  options: { largeMb: number; repeat?: number },
): Promise<void> {
  const { work, rows, notes } = context;
  const repeat = options.repeat ?? 1;
  const dir = `${work}/large-source`;
  await Deno.mkdir(dir);
  const start = performance.now();
  const path = await makeLargeInstance(dir, { bytes: options.largeMb * 1024 * 1024 });
  const bytes = (await Deno.stat(path)).size;
  console.error(
    `  made a ${(bytes / 2 ** 20).toFixed(0)} MiB instance in ${
      ((performance.now() - start) / 1000).toFixed(1)
    } s`,
  );
  const label = `${(bytes / 2 ** 30).toFixed(2)} GiB instance`;
  const gatewayRuns: Run[] = [];
  const scpRuns: Run[] = [];
  let gatewayFailed = false;
  try {
    for (let i = 0; i < repeat; i++) {
      if (!gatewayFailed) {
        const dataDir = `${work}/gateway-large`;
        let gateway: GatewayProcess | undefined;
        try {
          gateway = await startGatewayProcess(dataDir);
          const cpu0 = await cpuSeconds(gateway.pid);
          const seconds = await timedStorescu(gateway.port, [path], "DICOM_GATEWAY");
          const cpu = await cpuUsed(gateway.pid, cpu0);
          gatewayRuns.push({ seconds, cpu, peak: await gateway.peakRssKb(), problem: "" });
        } catch (error) {
          gatewayFailed = true;
          notes.push(`large instance: ${(error as Error).message}`);
        } finally {
          await gateway?.stop();
          await Deno.remove(dataDir, { recursive: true }).catch(() => {});
        }
      }
      const scpDir = `${work}/storescp-large`;
      await Deno.mkdir(scpDir);
      const scp = await startStorescp({ outDir: scpDir, bitPreserving: true, maxPdu: 131072 });
      try {
        const cpu0 = await cpuSeconds(scp.pid);
        const seconds = await timedStorescu(scp.port, [path], "STORESCP");
        const cpu = await cpuUsed(scp.pid, cpu0);
        scpRuns.push({ seconds, cpu, peak: await peakRssKb(scp.pid), problem: "" });
      } catch (error) {
        notes.push(`large instance, storescp: ${(error as Error).message}`);
      } finally {
        await scp.stop();
        await Deno.remove(scpDir, { recursive: true });
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  rows.push(
    gatewayRuns.length
      ? summarize(`${label} → gateway`, gatewayRuns, 1, bytes)
      : { scenario: `${label} → gateway`, note: "failed (see notes)" },
  );
  rows.push(
    scpRuns.length
      ? summarize(`${label} → storescp +B`, scpRuns, 1, bytes)
      : { scenario: `${label} → storescp +B`, note: "failed (see notes)" },
  );
}
