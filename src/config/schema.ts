/**
 * The key schema: every setting is one row of {@link CONFIG_KEYS}; its TOML name, flag and
 * environment variable all come from that row, so they cannot drift apart:
 * - TOML: `name` in `[section]` (top level for the DICOM settings),
 * - flag: `--<cliName>` (secrets have no flag: command lines are visible to other programs),
 * - environment: `DICOM_GATEWAY_<CLINAME>` with `-` → `_`, upper case.
 * @module
 */
import type { Config, UploadAuth } from "./types.ts";

/** Name of the configuration file in the installation folder. */
export const CONFIG_FILE_NAME = "dicom-gateway.toml";
/** Prefix of every environment variable the gateway reads. */
export const ENV_PREFIX = "DICOM_GATEWAY_";
/** Environment variable naming the configuration file (like `--config`). */
export const CONFIG_ENV = `${ENV_PREFIX}CONFIG`;

/** TOML sections (`""` is the top level). */
export type ConfigSection = "" | "status" | "logs" | "alerts" | "upload" | "upload.auth";

/** What a setting holds and how it is checked. */
export type ConfigKind =
  | "aeTitle"
  | "port"
  | "portOrZero"
  | "int"
  | "bytes"
  | "bool"
  | "aeTitleList"
  | "addressList"
  | "host"
  | "path"
  | "optionalPath"
  | "uploadUrl"
  | "webhookUrl"
  | "minutes"
  | "tokenUrl"
  | "proxyUrl"
  | "text"
  | "headerName"
  | "secret"
  | "authKind"
  | "verifyMode"
  | "compression"
  | "rate"
  | "rateWindowList";

/** A value as read from TOML, the environment or a flag, after checking. */
export type ConfigValue = string | number | boolean | string[];

/** One setting: its names in every source, its check and its documentation. */
export interface ConfigKey {
  /** TOML section; `""` is the top level. */
  section: ConfigSection;
  /** TOML key inside the section. */
  name: string;
  /** Flag name without `--`; the environment variable derives from it. */
  cliName: string;
  /** Secrets are read from the file or the environment only, never from a flag. */
  secret: boolean;
  kind: ConfigKind;
  /** Smallest allowed number (numbers only). */
  min?: number;
  /** Largest allowed number (numbers only). */
  max?: number;
  /** One or two plain sentences; written above the key by `init`. */
  doc: string;
  /** This setting's value inside a whole Config (used for defaults and by `init`). */
  read(config: Config): ConfigValue;
}

/** `section.name` (or `name` at top level): how a key is identified internally. */
export function keyId(key: Pick<ConfigKey, "section" | "name">): string {
  return key.section === "" ? key.name : `${key.section}.${key.name}`;
}

/** The environment variable of a key, e.g. `DICOM_GATEWAY_UPLOAD_URL`. */
export function envName(key: Pick<ConfigKey, "cliName">): string {
  return ENV_PREFIX + key.cliName.toUpperCase().replaceAll("-", "_");
}

/** The flag of a key, e.g. `--upload-url`, or null for secrets. */
export function flagName(key: Pick<ConfigKey, "cliName" | "secret">): string | null {
  return key.secret ? null : `--${key.cliName}`;
}

/** The `upload.verify` values (how delivery is proven before retention may delete a file). */
export const VERIFY_MODES = ["query", "response"] as const;

/** Upload authentication kinds; `auto` picks the kind from the credentials filled in. */
export const AUTH_KINDS = ["auto", "none", "basic", "bearer", "header", "oauth2"] as const;

function authField(c: Config, kind: UploadAuth["kind"], field: string): string {
  const auth = c.upload.auth as unknown as Record<string, string>;
  return c.upload.auth.kind === kind ? auth[field] ?? "" : "";
}

type KeyRow = Omit<ConfigKey, "secret"> & { secret?: boolean };
function row(k: KeyRow): ConfigKey {
  return { secret: false, ...k };
}

/** Every setting, in the order `init` writes them. */
export const CONFIG_KEYS: readonly ConfigKey[] = [
  row({
    section: "",
    name: "ae_title",
    cliName: "ae-title",
    kind: "aeTitle",
    doc:
      "Our AE title: what the modality must enter as the destination (called) AE title. 1 to 16 characters.",
    read: (c) => c.aeTitle,
  }),
  row({
    section: "",
    name: "port",
    cliName: "port",
    kind: "port",
    min: 1,
    max: 65535,
    doc: "DICOM port the modality sends to.",
    read: (c) => c.port,
  }),
  row({
    section: "",
    name: "bind",
    cliName: "bind",
    kind: "host",
    doc: 'Network address the DICOM port listens on. "0.0.0.0" means every network card of this PC.',
    read: (c) => c.bindAddress,
  }),
  row({
    section: "",
    name: "data_dir",
    cliName: "data-dir",
    kind: "path",
    doc: "Folder for received images and the queue. A relative folder is inside the gateway's folder.",
    read: (c) => c.dataDir,
  }),
  row({
    section: "",
    name: "max_associations",
    cliName: "max-associations",
    kind: "int",
    min: 1,
    max: 1000,
    doc: "How many modalities may send at the same time; more are asked to retry later.",
    read: (c) => c.maxAssociations,
  }),
  row({
    section: "",
    name: "max_associations_per_host",
    cliName: "max-associations-per-host",
    kind: "int",
    min: 1,
    max: 1000,
    doc: "How many of those may come from one network address at the same time.",
    read: (c) => c.maxAssociationsPerHost,
  }),
  row({
    section: "",
    name: "max_negotiating_per_host",
    cliName: "max-negotiating-per-host",
    kind: "int",
    min: 1,
    max: 1000,
    doc: "Connections from one network address still introducing themselves; more are closed.",
    read: (c) => c.maxNegotiatingPerHost,
  }),
  row({
    section: "",
    name: "max_pdu_length",
    cliName: "max-pdu-length",
    kind: "int",
    min: 4096,
    max: 16_777_216,
    doc: "Largest DICOM data packet (PDU) we accept, in bytes. Leave as is unless a vendor asks.",
    read: (c) => c.maxPduLength,
  }),
  row({
    section: "",
    name: "artim_timeout_ms",
    cliName: "artim-timeout-ms",
    kind: "int",
    min: 1000,
    max: 600_000,
    doc: "Milliseconds a new connection has, in all, to introduce itself (DICOM ARTIM timer).",
    read: (c) => c.artimTimeoutMs,
  }),
  row({
    section: "",
    name: "idle_timeout_ms",
    cliName: "idle-timeout-ms",
    kind: "int",
    min: 1000,
    max: 86_400_000,
    doc: "Milliseconds without a complete DICOM packet after which a connection is aborted.",
    read: (c) => c.idleTimeoutMs,
  }),
  row({
    section: "",
    name: "allowed_calling_ae_titles",
    cliName: "allowed-calling-ae-titles",
    kind: "aeTitleList",
    doc:
      'Only accept these modalities (their own AE titles), e.g. ["CT_SCANNER", "US_ROOM2"]. Empty: accept all.',
    read: (c) => c.allowedCallingAeTitles,
  }),
  row({
    section: "",
    name: "allowed_addresses",
    cliName: "allowed-addresses",
    kind: "addressList",
    doc:
      'Only accept connections from these addresses or ranges, e.g. ["192.168.1.0/24"]. Empty: accept all.',
    read: (c) => c.allowedAddresses,
  }),
  row({
    section: "",
    name: "require_called_ae_title",
    cliName: "require-called-ae-title",
    kind: "bool",
    doc: "Refuse modalities that address us by another AE title than ae_title.",
    read: (c) => c.requireCalledAeTitle,
  }),
  row({
    section: "",
    name: "fsync",
    cliName: "fsync",
    kind: "bool",
    doc:
      "Force every image onto the disk before confirming it to the modality. Only benchmarks turn this off.",
    read: (c) => c.fsync,
  }),
  row({
    section: "",
    name: "max_inflated_size",
    cliName: "max-inflated-size",
    kind: "bytes",
    min: 1024 * 1024,
    max: Number.MAX_SAFE_INTEGER,
    doc: 'Largest size a deflate-compressed image may unpack to, e.g. "4 GiB"; bigger ones are refused.',
    read: (c) => c.maxInflatedSize,
  }),
  row({
    section: "status",
    name: "port",
    cliName: "status-port",
    kind: "portOrZero",
    min: 0,
    max: 65535,
    doc: "Port of the status page (http://127.0.0.1:PORT). 0 turns the page off.",
    read: (c) => c.statusPort,
  }),
  row({
    section: "status",
    name: "bind",
    cliName: "status-bind",
    kind: "host",
    doc:
      'Address of the status page. Keep "127.0.0.1" (this PC only) unless a monitoring system must reach it.',
    read: (c) => c.statusBindAddress,
  }),
  row({
    section: "logs",
    name: "dir",
    cliName: "log-dir",
    kind: "optionalPath",
    doc: 'Folder for log files. A relative folder is inside the gateway\'s folder. "" writes no log files.',
    read: (c) => c.logDir,
  }),
  row({
    section: "logs",
    name: "retention_days",
    cliName: "log-retention-days",
    kind: "int",
    min: 0,
    max: 3650,
    doc: "Days log files are kept. 0 keeps them for ever.",
    read: (c) => c.logRetentionDays,
  }),
  row({
    section: "logs",
    name: "patient_details",
    cliName: "log-patient-details",
    kind: "bool",
    doc: "Write patient names into the logs and the status page. Off: only study identifiers and counts.",
    read: (c) => c.logPatientDetails,
  }),
  row({
    section: "alerts",
    name: "webhook_url",
    cliName: "alerts-webhook-url",
    kind: "webhookUrl",
    doc:
      'Where alerts are sent (JSON POST with a "text" line, as Slack, Teams or Mattermost incoming webhooks show). "" : no alerts.',
    read: (c) => c.alerts.webhookUrl,
  }),
  row({
    section: "alerts",
    name: "header_name",
    cliName: "alerts-header-name",
    kind: "headerName",
    doc: 'Optional HTTP header carrying a token for the webhook, e.g. "Authorization". "" : none.',
    read: (c) => c.alerts.headerName,
  }),
  row({
    section: "alerts",
    name: "header_value",
    cliName: "alerts-header-value",
    kind: "secret",
    secret: true,
    doc: "Its value (the token). Better kept in the environment variable DICOM_GATEWAY_ALERTS_HEADER_VALUE.",
    read: (c) => c.alerts.headerValue,
  }),
  row({
    section: "alerts",
    name: "stalled_after",
    cliName: "alerts-stalled-after",
    kind: "minutes",
    min: 1,
    max: 10_080,
    doc: 'Alert "upload stalled" when images wait and nothing was delivered for this long, e.g. "30 min".',
    read: (c) => c.alerts.stalledAfterMs / 60_000,
  }),
  row({
    section: "alerts",
    name: "unreachable_after",
    cliName: "alerts-unreachable-after",
    kind: "minutes",
    min: 1,
    max: 10_080,
    doc:
      'Alert "archive unreachable" when the central archive cannot be reached for this long, e.g. "15 min".',
    read: (c) => c.alerts.unreachableAfterMs / 60_000,
  }),
  row({
    section: "alerts",
    name: "heartbeat",
    cliName: "alerts-heartbeat",
    kind: "bool",
    doc: "Send a daily heartbeat: images waiting, the oldest undelivered study, free disk and version.",
    read: (c) => c.alerts.heartbeat,
  }),
  row({
    section: "alerts",
    name: "heartbeat_hour",
    cliName: "alerts-heartbeat-hour",
    kind: "int",
    min: 0,
    max: 23,
    doc: "Hour of the day (this PC's clock, 0 to 23) the heartbeat is sent.",
    read: (c) => c.alerts.heartbeatHour,
  }),
  row({
    section: "upload",
    name: "url",
    cliName: "upload-url",
    kind: "uploadUrl",
    doc:
      'DICOMweb address of the central archive, e.g. "https://pacs.example.org/dicom-web". "" : keep images here, upload nothing.',
    read: (c) => c.upload.url,
  }),
  row({
    section: "upload",
    name: "ca_file",
    cliName: "upload-ca-file",
    kind: "optionalPath",
    doc:
      "PEM file with the certificate of a private certificate authority to trust (besides Windows' own list).",
    read: (c) => c.upload.caFile,
  }),
  row({
    section: "upload",
    name: "proxy",
    cliName: "upload-proxy",
    kind: "proxyUrl",
    doc:
      'Web proxy, e.g. "http://proxy.clinic.local:3128". "" : use HTTPS_PROXY / NO_PROXY if set, else none.',
    read: (c) => c.upload.proxy,
  }),
  row({
    section: "upload",
    name: "proxy_username",
    cliName: "upload-proxy-username",
    kind: "text",
    doc: "User name, for a proxy (the setting above) that asks for one (HTTP 407). Basic authentication.",
    read: (c) => c.upload.proxyUsername,
  }),
  row({
    section: "upload",
    name: "proxy_password",
    cliName: "upload-proxy-password",
    kind: "secret",
    secret: true,
    doc: "Its password. Better kept in the environment variable DICOM_GATEWAY_UPLOAD_PROXY_PASSWORD.",
    read: (c) => c.upload.proxyPassword,
  }),
  row({
    section: "upload",
    name: "batch_max_instances",
    cliName: "upload-batch-max-instances",
    kind: "int",
    min: 1,
    max: 10_000,
    doc: "Most images sent in one upload request.",
    read: (c) => c.upload.batchMaxInstances,
  }),
  row({
    section: "upload",
    name: "batch_max_bytes",
    cliName: "upload-batch-max-bytes",
    kind: "bytes",
    min: 1,
    max: 64 * 1024 * 1024 * 1024,
    doc: 'Most data sent in one upload request, in bytes or with a unit, e.g. "64 MiB".',
    read: (c) => c.upload.batchMaxBytes,
  }),
  row({
    section: "upload",
    name: "concurrency",
    cliName: "upload-concurrency",
    kind: "int",
    min: 1,
    max: 64,
    doc: "Upload requests in flight at the same time.",
    read: (c) => c.upload.concurrency,
  }),
  row({
    section: "upload",
    name: "idle_timeout_ms",
    cliName: "upload-idle-timeout-ms",
    kind: "int",
    min: 1000,
    max: 3_600_000,
    doc: "Milliseconds without progress after which an upload request is abandoned and retried.",
    read: (c) => c.upload.idleTimeoutMs,
  }),
  row({
    section: "upload",
    name: "max_backoff_ms",
    cliName: "upload-max-backoff-ms",
    kind: "int",
    min: 1000,
    max: 86_400_000,
    doc: "Longest wait between two attempts when the central server cannot be reached.",
    read: (c) => c.upload.maxBackoffMs,
  }),
  row({
    section: "upload",
    name: "retention_days",
    cliName: "upload-retention-days",
    kind: "int",
    min: 0,
    max: 3650,
    doc:
      "Days a delivered study stays on this PC. 0 keeps it for ever. Images the archive has not confirmed are never deleted.",
    read: (c) => c.upload.retentionDays,
  }),
  row({
    section: "upload",
    name: "min_free_bytes",
    cliName: "upload-min-free-bytes",
    kind: "bytes",
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
    doc: 'Below this free disk space the oldest delivered studies are deleted early, e.g. "2 GiB".',
    read: (c) => c.upload.minFreeBytes,
  }),
  row({
    section: "upload",
    name: "verify",
    cliName: "upload-verify",
    kind: "verifyMode",
    doc: 'How delivery is proven before a local copy may be deleted: "query" asks the archive (QIDO-RS) ' +
      'whether it lists each image; "response" trusts the upload answer alone (archives without QIDO-RS).',
    read: (c) => c.upload.verify,
  }),
  row({
    section: "upload",
    name: "compression",
    cliName: "upload-compression",
    kind: "compression",
    doc:
      '"jpeg-ls" (lossless, readable by most archives), "htj2k" (lossless HTJ2K, some archives cannot decode it) or "none". Images are compressed for the upload only; the copy on this PC stays as received.',
    read: (c) => c.upload.compression,
  }),
  row({
    section: "upload",
    name: "compression_workers",
    cliName: "upload-compression-workers",
    kind: "int",
    min: 0,
    max: 64,
    doc: "Processor cores used for compressing. 0: all but one (at least one).",
    read: (c) => c.upload.compressionWorkers,
  }),
  row({
    section: "upload",
    name: "compression_adaptive",
    cliName: "upload-compression-adaptive",
    kind: "bool",
    doc:
      "When compressing is slower than the link, images not compressed yet go as received so the upload never waits (fastest delivery). false: every image waits for its compression (fewest bytes).",
    read: (c) => c.upload.compressionAdaptive,
  }),
  row({
    section: "upload",
    name: "max_rate",
    cliName: "upload-max-rate",
    kind: "rate",
    doc:
      'Most upload bandwidth used by all requests together, e.g. "8 Mbit/s", or "unlimited". Time windows below can set another rate.',
    read: (c) => c.upload.maxRateBitsPerSecond,
  }),
  row({
    section: "upload",
    name: "rate_windows",
    cliName: "upload-rate-windows",
    kind: "rateWindowList",
    doc:
      'Rates for parts of the week (this PC\'s local time), e.g. ["Mon-Fri 07:00-19:00 8 Mbit/s"]; max_rate applies outside them. As an option or variable: separated by ";".',
    read: (c) => c.upload.rateWindows.map((w) => w.text),
  }),
  row({
    section: "upload",
    name: "urgent_ae_titles",
    cliName: "upload-urgent-ae-titles",
    kind: "aeTitleList",
    doc:
      "Studies from these calling AE titles go before the queue, like studies marked STAT or HIGH priority.",
    read: (c) => c.upload.urgentAeTitles,
  }),
  row({
    section: "upload.auth",
    name: "kind",
    cliName: "upload-auth",
    kind: "authKind",
    doc:
      'How to sign in: "auto" (from what is filled in below), "none", "basic", "bearer", "header" or "oauth2".',
    read: (c) => c.upload.auth.kind === "none" ? "auto" : c.upload.auth.kind,
  }),
  row({
    section: "upload.auth",
    name: "username",
    cliName: "upload-username",
    kind: "text",
    doc: "basic: user name.",
    read: (c) => authField(c, "basic", "username"),
  }),
  row({
    section: "upload.auth",
    name: "password",
    cliName: "upload-password",
    kind: "secret",
    secret: true,
    doc: "basic: password. Better kept in the environment variable DICOM_GATEWAY_UPLOAD_PASSWORD.",
    read: (c) => authField(c, "basic", "password"),
  }),
  row({
    section: "upload.auth",
    name: "token",
    cliName: "upload-token",
    kind: "secret",
    secret: true,
    doc: "bearer: the access token. Better kept in DICOM_GATEWAY_UPLOAD_TOKEN.",
    read: (c) => authField(c, "bearer", "token"),
  }),
  row({
    section: "upload.auth",
    name: "header_name",
    cliName: "upload-header-name",
    kind: "headerName",
    doc: 'header: name of the HTTP header carrying the API key, e.g. "X-API-Key".',
    read: (c) => authField(c, "header", "name"),
  }),
  row({
    section: "upload.auth",
    name: "header_value",
    cliName: "upload-header-value",
    kind: "secret",
    secret: true,
    doc: "header: the API key. Better kept in DICOM_GATEWAY_UPLOAD_HEADER_VALUE.",
    read: (c) => authField(c, "header", "value"),
  }),
  row({
    section: "upload.auth",
    name: "token_url",
    cliName: "upload-token-url",
    kind: "tokenUrl",
    doc: "oauth2: token endpoint of the identity provider.",
    read: (c) => authField(c, "oauth2", "tokenUrl"),
  }),
  row({
    section: "upload.auth",
    name: "client_id",
    cliName: "upload-client-id",
    kind: "text",
    doc: "oauth2: client (application) id.",
    read: (c) => authField(c, "oauth2", "clientId"),
  }),
  row({
    section: "upload.auth",
    name: "client_secret",
    cliName: "upload-client-secret",
    kind: "secret",
    secret: true,
    doc: "oauth2: client secret. Better kept in DICOM_GATEWAY_UPLOAD_CLIENT_SECRET.",
    read: (c) => authField(c, "oauth2", "clientSecret"),
  }),
  row({
    section: "upload.auth",
    name: "scope",
    cliName: "upload-scope",
    kind: "text",
    doc: 'oauth2: scope to ask for, e.g. "https://dicom.healthcareapis.azure.com/.default".',
    read: (c) => authField(c, "oauth2", "scope"),
  }),
];

/** Every setting by {@link keyId}. */
export const KEYS_BY_ID = new Map(CONFIG_KEYS.map((k) => [keyId(k), k]));
/** Every TOML section the file may hold. */
export const SECTIONS: readonly ConfigSection[] = ["", "status", "logs", "alerts", "upload", "upload.auth"];

/** The fields each upload sign-in kind needs (`required`) or may have (`optional`), by TOML name. */
export const AUTH_FIELDS: Record<
  Exclude<UploadAuth["kind"], "none">,
  { required: string[]; optional: string[] }
> = {
  basic: { required: ["username", "password"], optional: [] },
  bearer: { required: ["token"], optional: [] },
  header: { required: ["header_name", "header_value"], optional: [] },
  oauth2: { required: ["token_url", "client_id", "client_secret"], optional: ["scope"] },
};
