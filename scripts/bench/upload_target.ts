/**
 * The central server the upload scenarios send to: Orthanc's DICOMweb behind nginx (TLS, basic
 * auth), as the upload tests run it, and the gateway flags that point at it.
 * @module
 */
import { startCentralServer } from "../harness/orthanc.ts";
import { delay } from "../harness/process.ts";

/** The central server for one upload measurement: Orthanc behind nginx (TLS, basic auth). */
export interface UploadTarget {
  /** DICOMweb root through nginx; STOW-RS goes to `${dicomWebUrl}/studies`. */
  dicomWebUrl: string;
  caFile: string;
  username: string;
  password: string;
  /** nginx's access log: one line per request that reached the archive. */
  accessLog: string;
  countInstances(): Promise<number>;
  stop(): Promise<void>;
}

/** A fresh, empty central server (scripts/harness/orthanc.ts: the one the upload tests use). */
export async function startUploadTarget(): Promise<UploadTarget> {
  const central = await startCentralServer();
  return {
    dicomWebUrl: central.nginx.url,
    caFile: central.ca.caCertPath,
    username: central.username,
    password: central.password,
    accessLog: `${central.dir}/nginx/access.log`,
    async countInstances() {
      const response = await fetch(`${central.orthanc.restUrl}/statistics`);
      return ((await response.json()) as { CountInstances: number }).CountInstances;
    },
    stop: () => central.stop(),
  };
}

/**
 * Gateway flags and environment to upload to `target` with basic auth (the password only in the
 * environment). Compression is off here: these scenarios compare the transport with curl sending
 * the same bytes, and the synthetic CT pixels are noise that compresses 1.0× (the compression
 * scenario measures compression on real images).
 */
export function uploadSettings(target: UploadTarget): { args: string[]; env: Record<string, string> } {
  return {
    args: [
      "--upload-url",
      target.dicomWebUrl,
      "--upload-ca-file",
      target.caFile,
      "--upload-auth",
      "basic",
      "--upload-username",
      target.username,
      "--upload-compression",
      "none",
    ],
    env: { DICOM_GATEWAY_UPLOAD_PASSWORD: target.password },
  };
}

/** Polls Orthanc until it holds `count` instances; returns the time it got there (performance.now()). */
export async function waitForOrthancCount(
  orthanc: UploadTarget,
  count: number,
  timeoutMs: number,
): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  let last = -1;
  for (;;) {
    last = await orthanc.countInstances();
    if (last >= count) return performance.now();
    if (performance.now() > deadline) {
      throw new Error(`Orthanc holds ${last} of ${count} instances after ${timeoutMs} ms`);
    }
    await delay(50);
  }
}
