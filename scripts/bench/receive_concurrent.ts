/**
 * Scenario "receive-concurrent": several storescu processes at once, each sending its share of the
 * series, to the gateway and to `storescp --fork`.
 * @module
 */
import { startStorescp, storescu } from "../harness/dcmtk.ts";
import { cpuSeconds, type RunResult } from "../harness/process.ts";
import { countDcm, cpuUsed, type GatewayProcess, lastLines, startGatewayProcess } from "./gateway_process.ts";
import type { BenchContext } from "./report.ts";

/** Runs one storescu per share at once against `port`; returns wall seconds and the failures. */
async function concurrentStorescu(port: number, shares: string[][], calledAe: string) {
  const start = performance.now();
  const results = await Promise.all(
    shares.filter((s) => s.length > 0).map((share, i) =>
      storescu("127.0.0.1", port, share, { calledAe, callingAe: `BENCH${i}`, timeoutMs: 3_600_000 })
    ),
  );
  return { seconds: (performance.now() - start) / 1000, failed: results.filter((r) => !r.success) };
}

/**
 * Receive-concurrent: `associations` concurrent storescu processes, each sending its share of the series, to the
 * gateway and, for reference, to `storescp --fork` (one storescp process per association).
 */
export async function benchReceiveConcurrent(
  context: BenchContext,
  options: { associations: number },
): Promise<void> {
  const { work, series, seriesBytes, rows, notes } = context;
  const associations = options.associations;
  const shares: string[][] = Array.from({ length: associations }, () => []);
  series.forEach((path, i) => shares[i % associations]!.push(path));
  const describe = (failed: RunResult[], received: number) =>
    [
      failed.length ? `${failed.length} storescu failed: ${lastLines(failed[0]!.stderr, 2)}` : "",
      received === series.length ? "" : `${received} files received`,
    ].filter(Boolean).join("; ");

  const scpDir = `${work}/storescp-concurrent`;
  await Deno.mkdir(scpDir);
  const scp = await startStorescp({
    outDir: scpDir,
    bitPreserving: true,
    maxPdu: 131072,
    extraArgs: ["--fork"],
  });
  try {
    const { seconds, failed } = await concurrentStorescu(scp.port, shares, "STORESCP");
    rows.push({
      scenario: `${associations} concurrent storescu → storescp --fork +B`,
      instances: series.length,
      bytes: seriesBytes,
      seconds,
      note: describe(failed, await countDcm(scpDir)),
    });
  } catch (error) {
    rows.push({
      scenario: `${associations} concurrent storescu → storescp --fork`,
      note: `failed: ${(error as Error).message}`,
    });
  } finally {
    await scp.stop();
    await Deno.remove(scpDir, { recursive: true });
  }

  const scenario = `${associations} concurrent storescu → gateway (fsync on)`;
  const dataDir = `${work}/gateway-concurrent`;
  let gateway: GatewayProcess | undefined;
  try {
    gateway = await startGatewayProcess(dataDir);
    const cpu0 = await cpuSeconds(gateway.pid);
    const { seconds, failed } = await concurrentStorescu(gateway.port, shares, "DICOM_GATEWAY");
    rows.push({
      scenario,
      instances: series.length,
      bytes: seriesBytes,
      seconds,
      cpuSeconds: await cpuUsed(gateway.pid, cpu0),
      peakRssKb: await gateway.peakRssKb(),
      note: describe(failed, await countDcm(dataDir)),
    });
  } catch (error) {
    rows.push({ scenario, note: `failed: ${(error as Error).message}` });
    notes.push(`concurrent: ${(error as Error).message}`);
  } finally {
    await gateway?.stop();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
}
