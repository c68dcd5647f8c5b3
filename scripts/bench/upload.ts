/**
 * Scenario "upload": one pre-built multipart body POSTed by curl, against the gateway uploading
 * the same instances from its queue; both to Orthanc's STOW-RS through nginx (TLS).
 * @module
 */
import { cpuSeconds, runCommand } from "../harness/process.ts";
import { type GatewayProcess, startGatewayProcess } from "./gateway_process.ts";
import type { BenchContext } from "./report.ts";
import { startUploadTarget, uploadSettings, waitForOrthancCount } from "./upload_target.ts";

/** Writes one multipart/related STOW-RS body holding `files` (PS3.18 10.5) to `path`, streaming. */
async function writeMultipartBody(files: string[], path: string, boundary: string): Promise<void> {
  const out = await Deno.open(path, { write: true, create: true, truncate: true });
  const encoder = new TextEncoder();
  const write = async (bytes: Uint8Array) => {
    let n = 0;
    while (n < bytes.length) n += await out.write(bytes.subarray(n));
  };
  try {
    for (const file of files) {
      await write(encoder.encode(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`));
      await write(await Deno.readFile(file));
      await write(encoder.encode("\r\n"));
    }
    await write(encoder.encode(`--${boundary}--\r\n`));
  } finally {
    out.close();
  }
}

/**
 * curl against the gateway uploading the series to Orthanc through nginx (TLS). The gateway is
 * started on `queuedDataDir`, the data folder the receive scenario left (everything queued).
 */
export async function benchUpload(
  context: BenchContext,
  options: { queuedDataDir: string | undefined },
): Promise<void> {
  const { work, series, seriesBytes, rows, notes } = context;
  const queuedDataDir = options.queuedDataDir;
  const n = series.length;
  const uploadTimeoutMs = 1_800_000;

  // curl: one pre-built multipart body, one request.
  const boundary = `dgw-bench-${crypto.randomUUID()}`;
  const body = `${work}/stow-body.bin`;
  await writeMultipartBody(series, body, boundary);
  let curlSeconds: number | undefined;
  {
    const orthanc = await startUploadTarget();
    try {
      const result = await runCommand("curl", [
        "-sS",
        "--fail-with-body",
        "--cacert",
        orthanc.caFile,
        "-u",
        `${orthanc.username}:${orthanc.password}`,
        "-X",
        "POST",
        "-T",
        body,
        "-H",
        `Content-Type: multipart/related; type="application/dicom"; boundary=${boundary}`,
        "-H",
        "Accept: application/dicom+json",
        "-H",
        "Expect:",
        "-o",
        "/dev/null",
        `${orthanc.dicomWebUrl}/studies`,
      ], { timeoutMs: uploadTimeoutMs });
      const held = await orthanc.countInstances();
      if (!result.success) throw new Error(`curl failed (exit ${result.code}): ${result.stderr}`);
      curlSeconds = result.durationMs / 1000;
      rows.push({
        scenario: "curl: one multipart POST → nginx (TLS, basic auth) → Orthanc STOW-RS",
        instances: n,
        bytes: seriesBytes,
        seconds: curlSeconds,
        note: held === n ? "" : `Orthanc holds ${held}`,
      });
    } catch (error) {
      rows.push({ scenario: "curl → Orthanc STOW-RS", note: `failed: ${(error as Error).message}` });
    } finally {
      await orthanc.stop();
      await Deno.remove(body);
    }
  }

  // The gateway, upload only: restarted on the data folder of the series run (everything queued,
  // nothing delivered, since that run had no destination), timed from spawn to all in Orthanc.
  if (queuedDataDir !== undefined) {
    const orthanc = await startUploadTarget();
    let gateway: GatewayProcess | undefined;
    const scenario = "gateway: queued series → nginx (TLS, basic auth) → Orthanc STOW-RS";
    try {
      const start = performance.now();
      const upload = uploadSettings(orthanc);
      gateway = await startGatewayProcess(queuedDataDir, upload.args, upload.env);
      const done = await waitForOrthancCount(orthanc, n, uploadTimeoutMs);
      const seconds = (done - start) / 1000;
      rows.push({
        scenario,
        instances: n,
        bytes: seriesBytes,
        seconds,
        cpuSeconds: await cpuSeconds(gateway.pid),
        peakRssKb: await gateway.peakRssKb(),
        note: `from process start${
          curlSeconds ? `; ${(seconds / curlSeconds).toFixed(2)}× curl's time` : ""
        }`,
      });
    } catch (error) {
      rows.push({ scenario, note: `failed: ${(error as Error).message}` });
      notes.push(`upload: ${(error as Error).message}`);
    } finally {
      await gateway?.stop();
      await orthanc.stop();
    }
  } else {
    notes.push("upload only: skipped (the series run left no queued data folder)");
  }
}
