/**
 * Scenario "large instance": one multi-frame instance (default 1 GiB) to the gateway and to
 * storescp; the gateway's peak memory is what it shows.
 * @module
 */
import { makeLargeInstance } from "../harness/data.ts";
import { startStorescp } from "../harness/dcmtk.ts";
import { cpuSeconds, peakRssKb } from "../harness/process.ts";
import { cpuUsed, type GatewayProcess, startGatewayProcess, timedStorescu } from "./gateway_process.ts";
import type { BenchContext } from "./report.ts";

/** One large instance to the gateway (and to storescp for reference): time, CPU and peak memory. */
export async function benchLargeInstance(context: BenchContext, options: { largeMb: number }): Promise<void> {
  const { work, rows, notes } = context;
  const largeMb = options.largeMb;
  const dir = `${work}/large-source`;
  await Deno.mkdir(dir);
  const start = performance.now();
  const path = await makeLargeInstance(dir, { bytes: largeMb * 1024 * 1024 });
  const bytes = (await Deno.stat(path)).size;
  console.error(
    `  made a ${(bytes / 2 ** 20).toFixed(0)} MiB instance in ${
      ((performance.now() - start) / 1000).toFixed(1)
    } s`,
  );
  const label = `${(bytes / 2 ** 30).toFixed(2)} GiB instance`;
  try {
    const dataDir = `${work}/gateway-large`;
    let gateway: GatewayProcess | undefined;
    try {
      gateway = await startGatewayProcess(dataDir);
      const cpu0 = await cpuSeconds(gateway.pid);
      const seconds = await timedStorescu(gateway.port, [path], "DICOM_GATEWAY");
      const cpu = await cpuUsed(gateway.pid, cpu0);
      rows.push({
        scenario: `${label} → gateway`,
        instances: 1,
        bytes,
        seconds,
        cpuSeconds: cpu,
        peakRssKb: await gateway.peakRssKb(),
      });
    } catch (error) {
      rows.push({ scenario: `${label} → gateway`, note: `failed: ${(error as Error).message}` });
      notes.push(`large instance: ${(error as Error).message}`);
    } finally {
      await gateway?.stop();
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    }
    const scpDir = `${work}/storescp-large`;
    await Deno.mkdir(scpDir);
    const scp = await startStorescp({ outDir: scpDir, bitPreserving: true, maxPdu: 131072 });
    try {
      const cpu0 = await cpuSeconds(scp.pid);
      const seconds = await timedStorescu(scp.port, [path], "STORESCP");
      const cpu = await cpuUsed(scp.pid, cpu0);
      rows.push({
        scenario: `${label} → storescp +B`,
        instances: 1,
        bytes,
        seconds,
        cpuSeconds: cpu,
        peakRssKb: await peakRssKb(scp.pid),
      });
    } catch (error) {
      rows.push({ scenario: `${label} → storescp +B`, note: `failed: ${(error as Error).message}` });
    } finally {
      await scp.stop();
      await Deno.remove(scpDir, { recursive: true });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
