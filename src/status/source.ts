/**
 * The status page's view of the running gateway: the snapshot it shows and the actions it
 * offers (retry failed, test connection, save the upload destination), built from plain
 * functions ({@link StatusInputs}) that the `run` command hands it. Disk space, host name
 * and addresses are read here.
 * @module
 */
import type {
  AlertSummary,
  ModalityAddress,
  StatusSnapshot,
  StatusSource,
  StudyChangeSummary,
  UploadSettingsInput,
  UploadState,
} from "./api.ts";
import { diskSpace } from "./disk.ts";
import { redactPatient } from "../log_setup.ts";
import type { UploadAuth, UploadConfig } from "../config/types.ts";
import { secretInEnvironment } from "../config/upload_settings.ts";
import { VERSION } from "../version.ts";
import { plainOsErrors } from "../net/os_errors.ts";
import {
  type CertificateFileProblem,
  checkCertificateFile,
  wrongCertificateProblem,
} from "../net/tls_files.ts";
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
  /** Verification by query (times in ms since the epoch). */
  verification?: {
    mode: "query" | "response";
    lastVerifiedAt: number | null;
    problem: string | null;
    problemAt: number | null;
  };
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
  verified?: number;
  missingInArchive?: number;
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
  /** Verified instances and instances found missing in the archive (QIDO-RS). */
  verificationCounts?(): { verified: number; missingInArchive: number };
  /** Most recent first. */
  recentStudies(limit: number): StudyReading[];
  /** Most recent first. */
  failures(limit: number): FailureReading[];
  /** SOP Instance UIDs re-sent within another study, most recent first (`at` in ms since the epoch). */
  studyChanges?(limit: number): (Omit<StudyChangeSummary, "at"> & { at: number })[];
  associations(): StatusSnapshot["associations"];
  /** Puts failed instances (of one study, or all) back in the queue; returns how many. */
  retryFailed(studyInstanceUid?: string): number;
  testConnection(): Promise<{ ok: boolean; message: string }>;
  /** Writes the destination into the settings file and applies it; throws `ConfigError` for bad values. */
  saveUploadSettings(settings: UploadSettingsInput): Promise<void>;
  /** The last alerts, most recent first (none when absent). */
  recentAlerts?(): AlertSummary[];
  /** The process environment, where a secret may be set (default: `Deno.env`, read once). */
  environment?: Record<string, string>;
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
  // The CA file is re-checked in the background every 10 s (and at once when the setting changes).
  let caProblem: CertificateFileProblem | null = null;
  let caCheckedFile: string | null = null;
  let lastCaCheck = 0;
  const refreshCaFile = (caFile: string) => {
    if (caFile === caCheckedFile && Date.now() - lastCaCheck < 10_000) return;
    if (caFile !== caCheckedFile) caProblem = null;
    caCheckedFile = caFile;
    lastCaCheck = Date.now();
    checkCertificateFile(caFile).then((p) => {
      if (caCheckedFile === caFile) caProblem = p;
    }).catch(() => {});
  };
  refreshCaFile(inputs.uploadConfig().caFile);
  const environment = inputs.environment ?? readEnvironment();

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
      refreshCaFile(uploadConfig.caFile);
      const fileProblem = caProblem ??
        (state === "retrying" && upload.lastError !== null
          ? wrongCertificateProblem(uploadConfig.caFile, hostOf(uploadConfig.url), upload.lastError)
          : null);
      return {
        version: VERSION,
        startedAt: new Date(inputs.startedAt).toISOString(),
        modality: { aeTitle: inputs.aeTitle, port: inputs.dicomPort, addresses, hostname },
        queue: { ...inputs.queueCounts(), ...inputs.verificationCounts?.() },
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
          ...(s.verified === undefined ? {} : { verified: s.verified }),
          ...(s.missingInArchive === undefined ? {} : { missingInArchive: s.missingInArchive }),
        })),
        failures: inputs.failures(50).map((f) => ({ ...f, at: new Date(f.at).toISOString() })),
        ...(inputs.studyChanges === undefined ? {} : {
          studyChanges: inputs.studyChanges(50).map((c) => ({ ...c, at: new Date(c.at).toISOString() })),
        }),
        disk: { dataDir: inputs.dataDir, ...disk, minFreeBytes: uploadConfig.minFreeBytes },
        upload: {
          configured: upload.configured,
          url: uploadConfig.url,
          state,
          lastSuccessAt: iso(upload.lastSuccessAt),
          lastError: upload.lastError === null ? null : plainOsErrors(upload.lastError),
          lastErrorAt: iso(upload.lastErrorAt),
          failingSince: iso(failingSince),
          nextRetryAt: iso(upload.nextRetryAt),
          inFlight: upload.inFlight,
          settingsProblem: fileProblem ? { title: fileProblem.message, fix: fileProblem.fix } : null,
          ...(upload.verification === undefined ? {} : {
            verification: {
              ...upload.verification,
              lastVerifiedAt: iso(upload.verification.lastVerifiedAt),
              problemAt: iso(upload.verification.problemAt),
            },
          }),
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
        settings: settingsView(uploadConfig.url, uploadConfig.auth, uploadConfig.caFile, environment),
        alerts: inputs.recentAlerts?.() ?? [],
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

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

function readEnvironment(): Record<string, string> {
  try {
    return Deno.env.toObject();
  } catch {
    return {}; // not permitted: then the configuration could not be read from there either
  }
}

function settingsView(url: string, auth: UploadAuth, caFile: string, env: Record<string, string>) {
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
    secretFromEnvironment: secretInEnvironment(auth.kind, env)?.variable ?? "",
  };
}
