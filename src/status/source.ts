/**
 * The status page's view of the running gateway: the snapshot it shows and the actions it
 * offers (retry failed, test connection, save the upload destination), built from plain
 * functions ({@link StatusInputs}) that the `run` command hands it. Disk space, host name
 * and addresses are read here.
 * @module
 */
import type {
  ModalityAddress,
  StatusSnapshot,
  StatusSource,
  UploadSettingsInput,
  UploadState,
} from "./api.ts";
import { diskSpace } from "./disk.ts";
import { redactPatient } from "../log_setup.ts";
import type { UploadAuth, UploadConfig } from "../config/types.ts";
import { VERSION } from "../version.ts";
import type { CompressionRecord } from "../upload/prepare.ts";

const iso = (ms: number | null): string | null => ms === null ? null : new Date(ms).toISOString();

/** The uploader's health as it reports it (times in milliseconds since the epoch). */
export interface UploaderReading {
  configured: boolean;
  state: "not-configured" | "idle" | "sending" | "retrying" | "credentials-rejected";
  lastSuccessAt: number | null;
  lastError: string | null;
  lastErrorAt: number | null;
  nextRetryAt: number | null;
  inFlight: number;
}

/** One recent study as the queue index reports it (times in milliseconds since the epoch). */
export interface StudyReading {
  studyInstanceUid: string;
  /** Not yet redacted: {@link createStatusSource} redacts it unless `logPatientDetails`. */
  patientName: string;
  modality: string;
  studyDate: string;
  studyDescription: string;
  callingAeTitle: string;
  received: number;
  delivered: number;
  failed: number;
  pending: number;
  firstReceivedAt: number;
  lastReceivedAt: number;
  lastError: string | null;
}

/** One refused instance as the queue index reports it (`at` in milliseconds since the epoch). */
export interface FailureReading {
  sopInstanceUid: string;
  studyInstanceUid: string;
  reason: string;
  at: number;
}

/** What the status page reads and asks for, as plain values and functions. */
export interface StatusInputs {
  /** Our AE title, as the modality must enter it. */
  aeTitle: string;
  /** The DICOM port actually bound. */
  dicomPort: number;
  /** Folder of the received instances (its disk is the one watched). */
  dataDir: string;
  /** Show patient names (else they are redacted). */
  logPatientDetails: boolean;
  /** When the gateway started, milliseconds since the epoch. */
  startedAt: number;
  /** This PC's private addresses (re-read every minute). */
  addresses(): ModalityAddress[];
  uploadHealth(): UploaderReading;
  /** Compression counts and refusals (`Uploader.compression()`); optional. */
  uploadCompression?(): CompressionRecord;
  /** The upload settings in force. */
  uploadConfig(): UploadConfig;
  queueCounts(): StatusSnapshot["queue"];
  /** Most recent first. */
  recentStudies(limit: number): StudyReading[];
  /** Most recent first. */
  failures(limit: number): FailureReading[];
  associations(): StatusSnapshot["associations"];
  /** Puts failed instances (of one study, or all) back in the queue; returns how many. */
  retryFailed(studyInstanceUid?: string): number;
  testConnection(): Promise<{ ok: boolean; message: string }>;
  /** Writes the destination into the settings file and applies it; throws `ConfigError` for bad values. */
  saveUploadSettings(settings: UploadSettingsInput): Promise<void>;
}

/** Builds the status page's source from `inputs`. Disk space is refreshed in the background. */
export function createStatusSource(inputs: StatusInputs): StatusSource {
  let disk: { freeBytes: number | null; totalBytes: number | null } = { freeBytes: null, totalBytes: null };
  let lastDiskCheck = 0;
  const refreshDisk = () => {
    if (Date.now() - lastDiskCheck < 10_000) return;
    lastDiskCheck = Date.now();
    diskSpace(inputs.dataDir).then((d) => disk = d).catch(() => {});
  };
  refreshDisk();
  let hostname = "";
  try {
    hostname = Deno.hostname();
  } catch { /* not permitted */ }
  let addresses = inputs.addresses();
  let addressesAt = Date.now();
  let failingSince: number | null = null;

  return {
    snapshot(): StatusSnapshot {
      refreshDisk();
      if (Date.now() - addressesAt > 60_000) {
        addresses = inputs.addresses();
        addressesAt = Date.now();
      }
      const upload = inputs.uploadHealth();
      const uploadConfig = inputs.uploadConfig();
      const compression = inputs.uploadCompression?.();
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
        startedAt: new Date(inputs.startedAt).toISOString(),
        modality: { aeTitle: inputs.aeTitle, port: inputs.dicomPort, addresses, hostname },
        queue: inputs.queueCounts(),
        studies: inputs.recentStudies(50).map((s) => ({
          studyInstanceUid: s.studyInstanceUid,
          patientName: redactPatient(s.patientName, inputs.logPatientDetails),
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
        failures: inputs.failures(50).map((f) => ({ ...f, at: new Date(f.at).toISOString() })),
        disk: { dataDir: inputs.dataDir, ...disk, minFreeBytes: uploadConfig.minFreeBytes },
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
          ...(compression === undefined ? {} : {
            compression: {
              setting: compression.setting,
              compressed: compression.compressed,
              bytesIn: compression.bytesIn,
              bytesOut: compression.bytesOut,
              original: compression.original,
              refused: compression.refused
                .filter((r) => r.url === uploadConfig.url)
                .map((r) => ({
                  syntax: r.syntax,
                  transferSyntaxUid: r.transferSyntaxUid,
                  at: iso(r.at)!,
                  reason: r.reason,
                })),
            },
          }),
        },
        associations: { ...inputs.associations() },
        settings: settingsView(uploadConfig.url, uploadConfig.auth, uploadConfig.caFile),
      };
    },
    retryFailed(studyInstanceUid?: string): Promise<number> {
      return Promise.resolve(inputs.retryFailed(studyInstanceUid));
    },
    testConnection() {
      return inputs.testConnection();
    },
    saveUploadSettings(settings: UploadSettingsInput): Promise<void> {
      return inputs.saveUploadSettings(settings);
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
