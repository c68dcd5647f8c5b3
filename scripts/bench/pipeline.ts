/**
 * Scenario "pipeline": storescu sends the series to the gateway while it uploads to Orthanc; the
 * lag from the last C-STORE response to the last instance present in Orthanc.
 * @module
 */
import { cpuSeconds } from "../harness/process.ts";
import { cpuUsed, type GatewayProcess, startGatewayProcess, timedStorescu } from "./gateway_process.ts";
import type { BenchContext } from "./report.ts";
import { startUploadTarget, uploadSettings, waitForOrthancCount } from "./upload_target.ts";

/** The gateway pipelined: storescu sends while the gateway uploads; lag after the last C-STORE. */
export async function benchPipeline(context: BenchContext): Promise<void> {
  const { work, series, seriesBytes, rows, notes } = context;
  const n = series.length;
  const uploadTimeoutMs = 1_800_000;
  const orthanc = await startUploadTarget();
  const dataDir = `${work}/gateway-pipelined`;
  let gateway: GatewayProcess | undefined;
  const scenario = "storescu → gateway → Orthanc, pipelined (receive + upload)";
  try {
    const upload = uploadSettings(orthanc);
    gateway = await startGatewayProcess(dataDir, upload.args, upload.env);
    const start = performance.now();
    const cpu0 = await cpuSeconds(gateway.pid);
    const sendSeconds = await timedStorescu(gateway.port, series, "DICOM_GATEWAY");
    const lastStore = performance.now();
    const done = await waitForOrthancCount(orthanc, n, uploadTimeoutMs);
    rows.push({
      scenario,
      instances: n,
      bytes: seriesBytes,
      seconds: (done - start) / 1000,
      cpuSeconds: await cpuUsed(gateway.pid, cpu0),
      peakRssKb: await gateway.peakRssKb(),
      note:
        `C-STOREs took ${sendSeconds.toFixed(1)} s; last instance in Orthanc ${
          ((done - lastStore) / 1000).toFixed(2)
        } s ` +
        `after the last C-STORE response`,
    });
  } catch (error) {
    rows.push({ scenario, note: `failed: ${(error as Error).message}` });
    notes.push(`pipelined upload: ${(error as Error).message}`);
  } finally {
    await gateway?.stop();
    await orthanc.stop();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
}
