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
  /** Proven files (see `verify`) are deleted this many days after delivery (0 keeps them for ever). */
  retentionDays: number;
  /** When free disk space falls below this, the oldest proven files (see `verify`) are deleted first. */
  minFreeBytes: number;
  /**
   * What proves an instance is in the archive before its file may be deleted: `"query"` (a QIDO-RS
   * search lists it, PS3.18 §10.6) or `"response"` (the STOW-RS answer listing it is the only proof).
   */
  verify: VerifyMode;
  /** Lossless transfer syntax for the upload (JPEG-LS 1.2.840.10008.1.2.4.80, HTJ2K …4.201), or none. */
  compression: UploadCompression;
  /** Compression workers; 0 = logical cores − 1, at least 1. */
  compressionWorkers: number;
  /**
   * Adaptive sending: when the compression workers fall behind the link, instances they have not
   * started go as received, so the upload never waits for them (true, the default); false: every
   * instance waits for its compression (fewest bytes).
   */
  compressionAdaptive: boolean;
  /** Upload bandwidth of all requests together outside the windows, bits per second; 0 = unlimited. */
  maxRateBitsPerSecond: number;
  /** Other rates for parts of the week (local time); the first window that covers the moment wins. */
  rateWindows: RateWindow[];
  /** Studies from these calling AE titles are uploaded before the backlog. */
  urgentAeTitles: string[];
}

/** Push alerts to a person: a webhook (Slack/Teams-style incoming webhook or any JSON receiver). */
export interface AlertsConfig {
  /** Where alerts are POSTed as JSON (with a readable `text` field). Empty: no alerts. */
  webhookUrl: string;
  /** Optional header carrying a token, e.g. `Authorization` or `X-Api-Key`. Empty: none. */
  headerName: string;
  /** Its value (a secret: environment variable or file, never a flag; redacted in logs). */
  headerValue: string;
  /** Undelivered images and no delivery for this long: "upload stalled". */
  stalledAfterMs: number;
  /** The archive unreachable for this long: "archive unreachable". */
  unreachableAfterMs: number;
  /** Send a daily heartbeat (queue depth, oldest undelivered study, free disk, version). */
  heartbeat: boolean;
  /** Hour of the day (this PC's time, 0–23) the heartbeat is sent. */
  heartbeatHour: number;
}

/** The `upload.verify` values: how delivery is proven (see {@link UploadConfig.verify}). */
export type VerifyMode = "query" | "response";

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
  /** Associations from one IP address at a time; beyond this A-ASSOCIATE-RJ transient / local-limit-exceeded. */
  maxAssociationsPerHost: number;
  /** Connections from one IP address still negotiating (no A-ASSOCIATE-RQ answered); beyond this closed. */
  maxNegotiatingPerHost: number;
  /** Our Maximum Length Received (PS3.8 D.1.1), bytes of PDV data per P-DATA-TF PDU. */
  maxPduLength: number;
  /** ARTIM timer (PS3.8 §9.1.5): waiting for A-ASSOCIATE-RQ after connect, and for close after release/abort. */
  artimTimeoutMs: number;
  /** An established association that completes no PDU for this long is aborted (A-ABORT). */
  idleTimeoutMs: number;
  /** If non-empty, only these calling AE titles may associate. */
  allowedCallingAeTitles: string[];
  /** If non-empty, only peers from these IPv4/IPv6 addresses or CIDR ranges may associate. */
  allowedAddresses: string[];
  /** If true, the called AE title must equal `aeTitle`. */
  requireCalledAeTitle: boolean;
  /** fsync each instance and the directory before answering Success. Only benchmarks turn this off. */
  fsync: boolean;
  /** A deflated data set (PS3.5 A.5) inflating past this many bytes is refused. */
  maxInflatedSize: number;
  upload: UploadConfig;
  alerts: AlertsConfig;
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
    maxAssociationsPerHost: 8,
    maxNegotiatingPerHost: 8,
    maxPduLength: 262144,
    artimTimeoutMs: 30_000,
    idleTimeoutMs: 60_000,
    allowedCallingAeTitles: [],
    allowedAddresses: [],
    requireCalledAeTitle: false,
    fsync: true,
    maxInflatedSize: 4 * 1024 * 1024 * 1024,
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
      compressionAdaptive: true,
      maxRateBitsPerSecond: 0,
      rateWindows: [],
      urgentAeTitles: [],
      verify: "query",
    },
    alerts: {
      webhookUrl: "",
      headerName: "",
      headerValue: "",
      stalledAfterMs: 30 * 60_000,
      unreachableAfterMs: 15 * 60_000,
      heartbeat: true,
      heartbeatHour: 8,
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
