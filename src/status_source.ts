/**
 * Connects the status page to the running gateway: the snapshot it shows and the actions it
 * offers (retry failed, test connection, save the upload destination).
 * @module
 */
import type { StatusSnapshot, StatusSource, UploadSettingsInput, UploadState } from "./status/api.ts";
import { diskSpace } from "./status/disk.ts";
import type { Gateway } from "./gateway.ts";
import { loadConfig, writeUploadSettings } from "./cli/config.ts";
import { localPrivateAddresses } from "./net.ts";
import { redactPatient } from "./log_setup.ts";
import type { UploadAuth } from "./config.ts";
import { VERSION } from "./version.ts";

const iso = (ms: number | null): string | null => ms === null ? null : new Date(ms).toISOString();

/** Options of `createStatusSource`. */
export interface StatusSourceOptions {
  /** The settings file the form writes. */
  configPath: string;
  /** Arguments the gateway was started with (flags still win after the file changes). */
  args?: string[];
}

/** Builds the status page's view of `gateway`. Disk space is refreshed in the background. */
export function createStatusSource(gateway: Gateway, options: StatusSourceOptions): StatusSource {
  const config = gateway.config;
  let disk: { freeBytes: number | null; totalBytes: number | null } = { freeBytes: null, totalBytes: null };
  let lastDiskCheck = 0;
  const refreshDisk = () => {
    if (Date.now() - lastDiskCheck < 10_000) return;
    lastDiskCheck = Date.now();
    diskSpace(config.dataDir).then((d) => disk = d).catch(() => {});
  };
  refreshDisk();
  let hostname = "";
  try {
    hostname = Deno.hostname();
  } catch { /* not permitted */ }
  let addresses = localPrivateAddresses();
  let addressesAt = Date.now();
  let failingSince: number | null = null;

  return {
    snapshot(): StatusSnapshot {
      refreshDisk();
      if (Date.now() - addressesAt > 60_000) {
        addresses = localPrivateAddresses();
        addressesAt = Date.now();
      }
      const upload = gateway.uploader.health();
      const uploadConfig = gateway.uploadConfig();
      if (
        upload.lastErrorAt !== null &&
        (upload.lastSuccessAt === null || upload.lastErrorAt > upload.lastSuccessAt)
      ) {
        failingSince ??= upload.lastErrorAt;
      } else {
        failingSince = null;
      }
      const state: UploadState = upload.state === "sending" ? "uploading" : upload.state;
      return {
        version: VERSION,
        startedAt: new Date(gateway.startedAt).toISOString(),
        modality: { aeTitle: config.aeTitle, port: gateway.port, addresses, hostname },
        queue: gateway.index.counts(),
        studies: gateway.index.recentStudies(50).map((s) => ({
          studyInstanceUid: s.studyInstanceUid,
          patientName: redactPatient(s.patientName, config.logPatientDetails),
          modality: s.modality,
          studyDate: s.studyDate,
          description: s.studyDescription,
          callingAeTitle: s.callingAeTitle,
          received: s.received,
          delivered: s.delivered,
          failed: s.failed,
          pending: s.pending,
          firstReceivedAt: new Date(s.firstReceivedAt).toISOString(),
          lastReceivedAt: new Date(s.lastReceivedAt).toISOString(),
          lastError: s.lastError,
        })),
        failures: gateway.index.failures(50).map((f) => ({ ...f, at: new Date(f.at).toISOString() })),
        disk: { dataDir: config.dataDir, ...disk, minFreeBytes: uploadConfig.minFreeBytes },
        upload: {
          configured: upload.configured,
          url: uploadConfig.url,
          state,
          lastSuccessAt: iso(upload.lastSuccessAt),
          lastError: upload.lastError,
          lastErrorAt: iso(upload.lastErrorAt),
          failingSince: iso(failingSince),
          nextRetryAt: iso(upload.nextRetryAt),
          inFlight: upload.inFlight,
        },
        associations: { ...gateway.associations },
        settings: settingsView(uploadConfig.url, uploadConfig.auth, uploadConfig.caFile),
      };
    },
    retryFailed(studyInstanceUid?: string): Promise<number> {
      return Promise.resolve(gateway.index.retryFailed(studyInstanceUid));
    },
    testConnection() {
      return gateway.uploader.testConnection();
    },
    async saveUploadSettings(settings: UploadSettingsInput): Promise<void> {
      await writeUploadSettings(options.configPath, settings);
      // Read back through the same path as start-up, so file, environment and flags combine as usual.
      const { config: reloaded } = await loadConfig(options.args ?? []);
      await gateway.setUploadConfig(reloaded.upload);
    },
  };
}

function settingsView(url: string, auth: UploadAuth, caFile: string) {
  return {
    url,
    authKind: auth.kind,
    username: auth.kind === "basic" ? auth.username : "",
    headerName: auth.kind === "header" ? auth.name : "",
    tokenUrl: auth.kind === "oauth2" ? auth.tokenUrl : "",
    clientId: auth.kind === "oauth2" ? auth.clientId : "",
    scope: auth.kind === "oauth2" ? auth.scope : "",
    caFile,
    secretStored: (auth.kind === "basic" && auth.password !== "") ||
      (auth.kind === "bearer" && auth.token !== "") ||
      (auth.kind === "header" && auth.value !== "") || (auth.kind === "oauth2" && auth.clientSecret !== ""),
  };
}
