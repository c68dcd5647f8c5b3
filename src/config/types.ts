/**
 * The one validated configuration of a running gateway: its value types and built-in
 * defaults. Built once at start-up by `loadConfig` (`load.ts`) from built-in defaults, the `dicom-gateway.toml` file beside the
 * executable, `DICOM_GATEWAY_*` environment variables and command-line flags (in that
 * order, later wins). Every module receives the part it needs; nothing reads globals.
 * @module
 */
import { joinPath } from "../platform/fs.ts";
import type { RateWindow } from "./rate.ts";

export type { RateWindow } from "./rate.ts";

/** `upload.compression`: the lossless transfer syntax instances are uploaded in, or none. */
export type UploadCompression = "jpeg-ls" | "htj2k" | "none";

/** How the gateway authenticates to the central DICOMweb server. Secrets come from the environment or file. */
export type UploadAuth =
  | { kind: "none" }
  | { kind: "basic"; username: string; password: string }
  | { kind: "bearer"; token: string }
  | { kind: "header"; name: string; value: string }
  | {
    kind: "oauth2";
    tokenUrl: string;
    clientId: string;
    clientSecret: string;
    scope: string;
  };

/** Where and how stored instances are uploaded (DICOMweb STOW-RS, PS3.18 §10.5). */
export interface UploadConfig {
  /** DICOMweb root, e.g. `https://pacs.example.org/dicom-web`; STOW goes to `{url}/studies`. Empty: no upload. */
  url: string;
  auth: UploadAuth;
  /** PEM file with extra CA certificates to trust (a private CA). Empty: none. */
  caFile: string;
  /** Explicit HTTPS proxy URL. Empty: use HTTPS_PROXY / NO_PROXY from the environment. */
  proxy: string;
  /** User name for a proxy that asks for Basic credentials (HTTP 407). Empty: none. */
  proxyUsername: string;
  /** Its password (a secret: environment variable, never a flag). */
  proxyPassword: string;
  /** Maximum instances in one STOW-RS request. */
  batchMaxInstances: number;
  /** Maximum bytes of DICOM files in one STOW-RS request. */
  batchMaxBytes: number;
  /** STOW-RS requests in flight at once. */
  concurrency: number;
  /** A request with no progress (no bytes sent or received) for this long is abandoned and retried. */
  idleTimeoutMs: number;
  /** Longest wait between retries. */
  maxBackoffMs: number;
  /** Delivered files are deleted after this many days (0 keeps them for ever). */
  retentionDays: number;
  /** When free disk space falls below this, the oldest delivered files are deleted first. */
  minFreeBytes: number;
  /** Lossless transfer syntax for the upload (JPEG-LS 1.2.840.10008.1.2.4.80, HTJ2K …4.201), or none. */
  compression: UploadCompression;
  /** Compression workers; 0 = logical cores − 1, at least 1. */
  compressionWorkers: number;
  /** Upload bandwidth of all requests together outside the windows, bits per second; 0 = unlimited. */
  maxRateBitsPerSecond: number;
  /** Other rates for parts of the week (local time); the first window that covers the moment wins. */
  rateWindows: RateWindow[];
  /** Studies from these calling AE titles are uploaded before the backlog. */
  urgentAeTitles: string[];
}

/** The whole configuration. */
export interface Config {
  /** Our AE title (called AE title that modalities must enter). 1–16 characters of the default repertoire. */
  aeTitle: string;
  /** DICOM listening port. */
  port: number;
  /** Address the DICOM listener binds (all interfaces by default: modalities are on the LAN). */
  bindAddress: string;
  /** Folder holding the received instances and the queue index. */
  dataDir: string;
  /** Folder for rotating log files. Empty: no log files. */
  logDir: string;
  /** Days log files are kept. */
  logRetentionDays: number;
  /** Log patient names and IDs (off by default: logs carry UIDs, AE titles and counts). */
  logPatientDetails: boolean;
  /** Local status page port (0 disables the page). */
  statusPort: number;
  /** Address the status page binds: 127.0.0.1 unless deliberately changed. */
  statusBindAddress: string;
  /** Concurrent associations accepted; beyond this A-ASSOCIATE-RJ transient / local-limit-exceeded. */
  maxAssociations: number;
  /** Our Maximum Length Received (PS3.8 D.1.1), bytes of PDV data per P-DATA-TF PDU. */
  maxPduLength: number;
  /** ARTIM timer (PS3.8 §9.1.5): waiting for A-ASSOCIATE-RQ after connect, and for close after release/abort. */
  artimTimeoutMs: number;
  /** An association with no PDU for this long is aborted. */
  idleTimeoutMs: number;
  /** If non-empty, only these calling AE titles may associate. */
  allowedCallingAeTitles: string[];
  /** If non-empty, only peers from these IPv4/IPv6 addresses or CIDR ranges may associate. */
  allowedAddresses: string[];
  /** If true, the called AE title must equal `aeTitle`. */
  requireCalledAeTitle: boolean;
  /** fsync each instance and the directory before answering Success. Only benchmarks turn this off. */
  fsync: boolean;
  upload: UploadConfig;
}

/** AE title a fresh installation answers to. */
const DEFAULT_AE_TITLE = "DICOM_GATEWAY";

/** Built-in defaults; `dataDir`/`logDir` are relative to the installation folder (see `installDir`). */
export function defaultConfig(baseDir: string): Config {
  return {
    aeTitle: DEFAULT_AE_TITLE,
    port: 4104,
    bindAddress: "0.0.0.0",
    dataDir: joinPath(baseDir, "data"),
    logDir: joinPath(baseDir, "logs"),
    logRetentionDays: 30,
    logPatientDetails: false,
    statusPort: 4105,
    statusBindAddress: "127.0.0.1",
    maxAssociations: 32,
    maxPduLength: 262144,
    artimTimeoutMs: 30_000,
    idleTimeoutMs: 300_000,
    allowedCallingAeTitles: [],
    allowedAddresses: [],
    requireCalledAeTitle: false,
    fsync: true,
    upload: {
      url: "",
      auth: { kind: "none" },
      caFile: "",
      proxy: "",
      proxyUsername: "",
      proxyPassword: "",
      batchMaxInstances: 50,
      batchMaxBytes: 64 * 1024 * 1024,
      concurrency: 4,
      idleTimeoutMs: 60_000,
      maxBackoffMs: 300_000,
      retentionDays: 7,
      minFreeBytes: 2 * 1024 * 1024 * 1024,
      compression: "jpeg-ls",
      compressionWorkers: 0,
      maxRateBitsPerSecond: 0,
      rateWindows: [],
      urgentAeTitles: [],
    },
  };
}

/**
 * The installation folder: beside the executable when compiled (`deno compile`), the
 * working directory under `deno run`. Data, logs and the config file live here by default.
 */
export function installDir(): string {
  const exe = Deno.execPath();
  const name = exe.replace(/^.*[\\/]/, "").toLowerCase();
  const isDenoItself = name === "deno" || name === "deno.exe";
  return isDenoItself ? Deno.cwd() : exe.replace(/[\\/][^\\/]*$/, "");
}

/** The queue index inside the data folder (shared by the gateway and `retry-failed`). */
export function queueIndexPath(dataDir: string): string {
  return joinPath(dataDir, "queue.sqlite");
}
