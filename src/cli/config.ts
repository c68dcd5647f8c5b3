/**
 * Configuration: built-in defaults → `dicom-gateway.toml` → `DICOM_GATEWAY_*` environment
 * variables → command-line flags (later wins), validated into one {@link Config}.
 *
 * Every setting is one row of {@link CONFIG_KEYS}; its TOML name, flag and environment
 * variable all come from that row, so they cannot drift apart:
 * - TOML: `name` in `[section]` (top level for the DICOM settings),
 * - flag: `--<cliName>` (secrets have no flag: command lines are visible to other programs),
 * - environment: `DICOM_GATEWAY_<CLINAME>` with `-` → `_`, upper case.
 *
 * Error messages are for clinic staff: they name the setting, where it was set (file and
 * line, environment variable or flag) and what is allowed.
 * @module
 */
import { parseArgs } from "node:util";
import { parse as parseToml, TomlError } from "smol-toml";
import { type Config, defaultConfig, installDir, type UploadAuth } from "../config.ts";
import { joinPath } from "../platform/fs.ts";

/** Name of the configuration file in the installation folder. */
export const CONFIG_FILE_NAME = "dicom-gateway.toml";
/** Prefix of every environment variable the gateway reads. */
export const ENV_PREFIX = "DICOM_GATEWAY_";
/** Environment variable naming the configuration file (like `--config`). */
export const CONFIG_ENV = `${ENV_PREFIX}CONFIG`;

/** A configuration value that cannot be used; the message says where it is and what is allowed. */
export class ConfigError extends Error {
  /** Every problem found, one sentence each (the message joins them with new lines). */
  readonly problems: string[];
  /** @param problems one or more plain-words problems */
  constructor(problems: string | string[]) {
    const list = typeof problems === "string" ? [problems] : problems;
    super(list.join("\n"));
    this.name = "ConfigError";
    this.problems = list;
  }
}

/** TOML sections (`""` is the top level). */
export type ConfigSection = "" | "status" | "logs" | "upload" | "upload.auth";

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
  | "tokenUrl"
  | "proxyUrl"
  | "text"
  | "headerName"
  | "secret"
  | "authKind";

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
    doc: "Milliseconds to wait for a new connection to introduce itself (DICOM ARTIM timer).",
    read: (c) => c.artimTimeoutMs,
  }),
  row({
    section: "",
    name: "idle_timeout_ms",
    cliName: "idle-timeout-ms",
    kind: "int",
    min: 1000,
    max: 86_400_000,
    doc: "Milliseconds of silence after which a DICOM connection is closed.",
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
      "Days a delivered study stays on this PC. 0 keeps it for ever. Undelivered images are never deleted.",
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

const KEYS_BY_ID = new Map(CONFIG_KEYS.map((k) => [keyId(k), k]));
const SECTIONS: readonly ConfigSection[] = ["", "status", "logs", "upload", "upload.auth"];

/** Where a value came from, for messages. */
type Origin =
  | { source: "default" }
  | { source: "file"; file: string; line: number | null }
  | { source: "env"; name: string }
  | { source: "flag"; name: string };

function where(origin: Origin): string {
  switch (origin.source) {
    case "default":
      return "built-in default";
    case "file":
      return origin.line === null ? origin.file : `${origin.file} line ${origin.line}`;
    case "env":
      return `environment variable ${origin.name}`;
    case "flag":
      return `option ${origin.name}`;
  }
}

/** `"port"` or `"url" in [upload]`. */
function tomlLabel(key: ConfigKey): string {
  return key.section === "" ? `"${key.name}"` : `"${key.name}" in [${key.section}]`;
}

function problem(key: ConfigKey, origin: Origin, allowed: string, got: unknown): string {
  const shown = key.kind === "secret"
    ? "(hidden)"
    : typeof got === "string"
    ? JSON.stringify(got)
    : String(got);
  const subject = origin.source === "file" ? `${where(origin)}: ${tomlLabel(key)}` : where(origin);
  return `${subject} must be ${allowed}, got ${shown}`;
}

// ---------------------------------------------------------------------------------------------
// Checks per kind. `text` is true when the value came from the environment or a flag (a string).

type Checked = { ok: true; value: ConfigValue } | { ok: false; allowed: string };

const BYTE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

/** Parses `"64 MiB"`, `"2GB"`, `"1048576"` into bytes; null when not a size. */
export function parseByteSize(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  if (!m) return null;
  const unit = BYTE_UNITS[(m[2] ?? "").toLowerCase()];
  if (unit === undefined) return null;
  const n = Number(m[1]) * unit;
  return Number.isSafeInteger(Math.round(n)) ? Math.round(n) : null;
}

function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase();
  return h === "localhost" || h === "[::1]" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** True for a dotted IPv4 address with every part 0–255. */
export function isIpv4(text: string): boolean {
  const parts = text.split(".");
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

/** True for an IPv6 address (loose syntax check, including `::` and embedded IPv4). */
export function isIpv6(text: string): boolean {
  if (!text.includes(":") || !/^[0-9a-fA-F:.]+$/.test(text)) return false;
  if ((text.match(/::/g) ?? []).length > 1) return false;
  const groups = text.split(":");
  return groups.length >= 3 && groups.length <= 8 &&
    groups.every((g, i) =>
      g === "" || /^[0-9a-fA-F]{1,4}$/.test(g) || (i === groups.length - 1 && isIpv4(g))
    );
}

function isAddressOrRange(text: string): boolean {
  const [addr = "", bits, ...more] = text.split("/");
  if (more.length > 0) return false;
  const max = isIpv4(addr) ? 32 : isIpv6(addr) ? 128 : -1;
  if (max < 0) return false;
  return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= max);
}

/** Checks an AE title (PS3.5 §6.2 AE VR): 1–16 characters, no backslash or control characters, not all spaces. */
export function checkAeTitle(value: string): string | null {
  const t = value.trim();
  if (t.length === 0) return "1 to 16 characters, not all spaces";
  if (t.length > 16) return "at most 16 characters";
  if (!/^[\x20-\x7e]+$/.test(t) || t.includes("\\")) {
    return "letters, digits, spaces and punctuation other than \\ (no accents or control characters)";
  }
  return null;
}

const AE_ALLOWED = "1 to 16 characters (letters, digits, spaces, punctuation except \\), not all spaces";

function checkUrl(
  raw: string,
  what: "upload" | "token" | "proxy",
): { ok: true; value: string } | { ok: false; allowed: string } {
  const allowed = what === "proxy"
    ? 'an address starting with http:// or https://, or ""'
    : 'an address starting with https:// (http:// only for this PC: localhost or 127.0.0.1), or ""';
  const text = raw.trim();
  if (text === "") return { ok: true, value: "" };
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { ok: false, allowed };
  }
  if (url.username !== "" || url.password !== "") {
    return {
      ok: false,
      allowed: `${allowed} without a user name or password in it (put those in [upload.auth])`,
    };
  }
  if (what === "proxy") {
    if (url.protocol !== "http:" && url.protocol !== "https:") return { ok: false, allowed };
    return { ok: true, value: text };
  }
  const secure = url.protocol === "https:" || (url.protocol === "http:" && isLoopbackHost(url.hostname));
  if (!secure) return { ok: false, allowed };
  if (what === "upload" && (url.search !== "" || url.hash !== "")) {
    return {
      ok: false,
      allowed: `${allowed} without ? or # parts (the DICOMweb root, e.g. https://host/dicom-web)`,
    };
  }
  return { ok: true, value: what === "upload" ? text.replace(/\/+$/, "") : text };
}

function parseBool(text: string): boolean | null {
  const t = text.trim().toLowerCase();
  if (["true", "yes", "on", "1"].includes(t)) return true;
  if (["false", "no", "off", "0"].includes(t)) return false;
  return null;
}

function splitList(text: string): string[] {
  return text.split(",").map((s) => s.trim()).filter((s) => s !== "");
}

function checkValue(key: ConfigKey, raw: unknown, text: boolean): Checked {
  const min = key.min ?? 0;
  const max = key.max ?? Number.MAX_SAFE_INTEGER;
  switch (key.kind) {
    case "port":
    case "portOrZero":
    case "int": {
      const allowed = `a whole number from ${min} to ${max}${
        key.kind === "portOrZero" ? " (0 turns it off)" : ""
      }`;
      let n: number | null = null;
      if (typeof raw === "number" || typeof raw === "bigint") n = Number(raw);
      else if (text && typeof raw === "string" && /^\s*\d+\s*$/.test(raw)) n = Number(raw);
      if (n === null || !Number.isInteger(n) || n < min || n > max) return { ok: false, allowed };
      return { ok: true, value: n };
    }
    case "bytes": {
      const allowed = `a size from ${min} to ${max} bytes, as a number or text like "64 MiB"`;
      let n: number | null = null;
      if (typeof raw === "number" || typeof raw === "bigint") n = Number(raw);
      else if (typeof raw === "string") n = parseByteSize(raw);
      if (n === null || !Number.isInteger(n) || n < min || n > max) return { ok: false, allowed };
      return { ok: true, value: n };
    }
    case "bool": {
      const allowed = text ? "true or false (also yes/no, on/off, 1/0)" : "true or false (without quotes)";
      if (typeof raw === "boolean") return { ok: true, value: raw };
      if (text && typeof raw === "string") {
        const b = parseBool(raw);
        if (b !== null) return { ok: true, value: b };
      }
      return { ok: false, allowed };
    }
    case "aeTitleList":
    case "addressList": {
      const allowed = key.kind === "aeTitleList"
        ? `a list of AE titles, each ${AE_ALLOWED}`
        : 'a list of IP addresses or ranges, e.g. ["192.168.1.20", "10.0.0.0/8"]';
      let items: unknown[] | null = null;
      if (Array.isArray(raw)) items = raw;
      else if (text && typeof raw === "string") items = splitList(raw);
      if (items === null || !items.every((i) => typeof i === "string")) return { ok: false, allowed };
      const list = (items as string[]).map((s) => s.trim());
      const good = key.kind === "aeTitleList"
        ? list.every((s) => checkAeTitle(s) === null)
        : list.every(isAddressOrRange);
      return good ? { ok: true, value: list } : { ok: false, allowed };
    }
    default:
      break;
  }
  if (typeof raw !== "string") return { ok: false, allowed: "text in double quotes" };
  switch (key.kind) {
    case "aeTitle": {
      return checkAeTitle(raw) === null
        ? { ok: true, value: raw.trim() }
        : { ok: false, allowed: AE_ALLOWED };
    }
    case "host": {
      const h = raw.trim();
      const ok = isIpv4(h) || isIpv6(h) || /^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$/.test(h);
      return ok ? { ok: true, value: h } : {
        ok: false,
        allowed: 'an IP address of this PC, "0.0.0.0" (all network cards) or "127.0.0.1" (this PC only)',
      };
    }
    case "path":
      return raw.trim() === ""
        ? { ok: false, allowed: "a folder name (not empty)" }
        : { ok: true, value: raw.trim() };
    case "optionalPath":
      return { ok: true, value: raw.trim() };
    case "uploadUrl":
      return checkUrl(raw, "upload");
    case "tokenUrl":
      return checkUrl(raw, "token");
    case "proxyUrl":
      return checkUrl(raw, "proxy");
    case "text":
      // deno-lint-ignore no-control-regex
      return /[\x00-\x1f\x7f]/.test(raw)
        ? { ok: false, allowed: "text without line breaks or control characters" }
        : { ok: true, value: raw.trim() };
    case "headerName":
      return raw.trim() === "" || /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(raw.trim())
        ? { ok: true, value: raw.trim() }
        : { ok: false, allowed: 'an HTTP header name (letters, digits and -), e.g. "X-API-Key"' };
    case "secret":
      // deno-lint-ignore no-control-regex
      return /[\x00-\x1f\x7f]/.test(raw)
        ? { ok: false, allowed: "text without line breaks or control characters" }
        : { ok: true, value: raw };
    case "authKind": {
      const k = raw.trim().toLowerCase();
      return (AUTH_KINDS as readonly string[]).includes(k)
        ? { ok: true, value: k }
        : { ok: false, allowed: AUTH_KINDS.map((a) => `"${a}"`).join(", ") };
    }
    default:
      return { ok: false, allowed: "a valid value" };
  }
}

// ---------------------------------------------------------------------------------------------
// TOML file: line numbers, unknown keys.

/** Maps `section.key` (as in {@link keyId}) and `[section]` headers to 1-based line numbers. */
export function tomlLineIndex(text: string): Map<string, number> {
  const index = new Map<string, number>();
  let section = "";
  const lines = text.split(/\r?\n/);
  const unquote = (s: string) => s.split(".").map((p) => p.trim().replace(/^["']|["']$/g, "")).join(".");
  lines.forEach((line, i) => {
    const header = /^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$/.exec(line);
    if (header) {
      section = unquote(header[1] ?? "");
      if (!index.has(`[${section}]`)) index.set(`[${section}]`, i + 1);
      return;
    }
    const kv = /^\s*([A-Za-z0-9_\-."' ]+?)\s*=/.exec(line);
    if (kv) {
      const id = section === "" ? unquote(kv[1] ?? "") : `${section}.${unquote(kv[1] ?? "")}`;
      if (!index.has(id)) index.set(id, i + 1);
    }
  });
  return index;
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
    }
  }
  return d[a.length]![b.length]!;
}

function suggestion(section: string, name: string): string {
  const candidates = CONFIG_KEYS.filter((k) => k.section === section).map((k) => k.name);
  let best: string | null = null;
  let bestD = 3;
  for (const c of candidates) {
    const d = editDistance(name.toLowerCase(), c);
    if (d < bestD) [best, bestD] = [c, d];
  }
  if (best !== null) return ` Did you mean "${best}"?`;
  return candidates.length > 0 ? ` Allowed here: ${candidates.join(", ")}.` : "";
}

function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

interface Layer {
  values: Map<string, { value: ConfigValue; origin: Origin }>;
}

function readTomlText(text: string, fileLabel: string, problems: string[]): Layer {
  const layer: Layer = { values: new Map() };
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text, { integersAsBigInt: "asNeeded" }) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof TomlError) {
      const first = e.message.replace(/^Invalid TOML document:\s*/, "").split("\n")[0] ?? "";
      const badLine = text.split(/\r?\n/)[e.line - 1] ?? "";
      const hint = badLine.includes("\\")
        ? `For a Windows folder use single quotes, e.g. data_dir = 'D:\\dicom\\data', or double each backslash.`
        : `Text values need double quotes, e.g. ae_title = "DICOM_GATEWAY".`;
      problems.push(`${fileLabel} line ${e.line}: this line is not valid TOML (${first}). ${hint}`);
      return layer;
    }
    throw e;
  }
  const lines = tomlLineIndex(text);
  const walk = (table: Record<string, unknown>, section: string) => {
    for (const [name, value] of Object.entries(table)) {
      const id = section === "" ? name : `${section}.${name}`;
      const line = lines.get(id) ?? lines.get(`[${id}]`) ?? null;
      const at = line === null ? fileLabel : `${fileLabel} line ${line}`;
      if (isTable(value) && (SECTIONS as readonly string[]).includes(id)) {
        walk(value, id);
        continue;
      }
      const key = KEYS_BY_ID.get(id);
      if (!key) {
        const place = section === "" ? "at the top of the file" : `in [${section}]`;
        const what = isTable(value) ? `section [${id}]` : `setting "${name}" ${place}`;
        problems.push(`${at}: unknown ${what}.${isTable(value) ? "" : suggestion(section, name)}`);
        continue;
      }
      const origin: Origin = { source: "file", file: fileLabel, line };
      const checked = checkValue(key, value, false);
      if (!checked.ok) problems.push(problem(key, origin, checked.allowed, value));
      else layer.values.set(id, { value: checked.value, origin });
    }
  };
  walk(doc, "");
  return layer;
}

function readEnv(env: Record<string, string>, problems: string[], warnings: string[]): Layer {
  const layer: Layer = { values: new Map() };
  const known = new Set<string>([CONFIG_ENV]);
  for (const key of CONFIG_KEYS) {
    const name = envName(key);
    known.add(name);
    const raw = env[name];
    if (raw === undefined) continue;
    const origin: Origin = { source: "env", name };
    const checked = checkValue(key, raw, true);
    if (!checked.ok) problems.push(problem(key, origin, checked.allowed, raw));
    else layer.values.set(keyId(key), { value: checked.value, origin });
  }
  for (const name of Object.keys(env)) {
    if (name.startsWith(ENV_PREFIX) && !known.has(name)) {
      warnings.push(`The environment variable ${name} is not a dicom-gateway setting and is ignored.`);
    }
  }
  return layer;
}

function readFlags(
  args: string[],
  problems: string[],
): { layer: Layer; configFlag: string | null; rest: string[] } {
  const layer: Layer = { values: new Map() };
  type Opt = { type: "string" | "boolean" };
  const options: Record<string, Opt> = { config: { type: "string" } };
  const byFlag = new Map<string, { key: ConfigKey; negated: boolean }>();
  for (const key of CONFIG_KEYS) {
    if (key.secret) continue;
    if (key.kind === "bool") {
      options[key.cliName] = { type: "boolean" };
      options[`no-${key.cliName}`] = { type: "boolean" };
      byFlag.set(key.cliName, { key, negated: false });
      byFlag.set(`no-${key.cliName}`, { key, negated: true });
    } else {
      options[key.cliName] = { type: "string" };
      byFlag.set(key.cliName, { key, negated: false });
    }
  }
  const secretFlags = new Map(CONFIG_KEYS.filter((k) => k.secret).map((k) => [k.cliName, k]));
  const { tokens } = parseArgs({ args, options, strict: false, allowPositionals: true, tokens: true });
  const rest: string[] = [];
  let configFlag: string | null = null;
  for (const token of tokens ?? []) {
    if (token.kind === "positional") {
      rest.push(token.value);
      continue;
    }
    if (token.kind === "option-terminator") {
      rest.push("--");
      continue;
    }
    const flag = `--${token.name}`;
    if (token.name === "config") {
      if (token.value === undefined || token.value === "") problems.push(`option --config needs a file name`);
      else configFlag = token.value;
      continue;
    }
    const secret = secretFlags.get(token.name);
    if (secret) {
      problems.push(
        `option ${flag} is not accepted: a secret on the command line is visible to other programs. ` +
          `Set the environment variable ${
            envName(secret)
          } instead (or ${secret.name} in [${secret.section}]).`,
      );
      continue;
    }
    const entry = byFlag.get(token.name);
    if (!entry) {
      rest.push(args[token.index] ?? flag);
      continue;
    }
    const origin: Origin = { source: "flag", name: flag };
    const { key, negated } = entry;
    if (key.kind === "bool") {
      let b = true;
      if (token.value !== undefined) {
        const parsed = parseBool(token.value);
        if (parsed === null) {
          problems.push(problem(key, origin, "given without a value, or =true / =false", token.value));
          continue;
        }
        b = parsed;
      }
      layer.values.set(keyId(key), { value: negated ? !b : b, origin });
      continue;
    }
    if (token.value === undefined) {
      problems.push(`option ${flag} needs a value, e.g. ${flag} ${exampleValue(key)}`);
      continue;
    }
    const checked = checkValue(key, token.value, true);
    if (!checked.ok) problems.push(problem(key, origin, checked.allowed, token.value));
    else layer.values.set(keyId(key), { value: checked.value, origin });
  }
  return { layer, configFlag, rest };
}

function exampleValue(key: ConfigKey): string {
  const v = key.read(defaultConfig(""));
  if (Array.isArray(v)) return "A,B";
  if (v === "" || v === "auto") {
    return key.kind === "uploadUrl" ? "https://pacs.example.org/dicom-web" : "VALUE";
  }
  return String(v);
}

// ---------------------------------------------------------------------------------------------
// Assembly.

function isAbsolutePath(p: string): boolean {
  return /^([A-Za-z]:[\\/]|[\\/])/.test(p);
}

/** Resolves a relative folder or file against the installation folder; absolute paths pass through. */
export function resolveAgainst(baseDir: string, p: string): string {
  if (p === "" || isAbsolutePath(p)) return p;
  return joinPath(baseDir, p.replace(/^\.[\\/]/, ""));
}

type Merged = Map<string, { value: ConfigValue; origin: Origin }>;

function assemble(merged: Merged, baseDir: string, configFile: string, problems: string[]): Config {
  const get = (id: string) => merged.get(id)!;
  const s = (id: string) => get(id).value as string;
  const n = (id: string) => get(id).value as number;
  const b = (id: string) => get(id).value as boolean;
  const l = (id: string) => get(id).value as string[];
  const auth = assembleAuth(merged, configFile, problems);
  // Proxy credentials belong to the proxy setting and come as a pair.
  if (s("upload.proxy_username") !== "" || s("upload.proxy_password") !== "") {
    if (s("upload.proxy") === "") {
      problems.push(
        `proxy_username / proxy_password in [upload] are set but proxy is empty: set proxy in [upload] of ${configFile} ` +
          `(the credentials are sent only to that proxy).`,
      );
    } else if (s("upload.proxy_username") === "" || s("upload.proxy_password") === "") {
      problems.push(
        `The proxy needs both a user name (proxy_username in [upload] of ${configFile}) and a password ` +
          `(the environment variable DICOM_GATEWAY_UPLOAD_PROXY_PASSWORD).`,
      );
    }
  }
  return {
    aeTitle: s("ae_title"),
    port: n("port"),
    bindAddress: s("bind"),
    dataDir: resolveAgainst(baseDir, s("data_dir")),
    logDir: resolveAgainst(baseDir, s("logs.dir")),
    logRetentionDays: n("logs.retention_days"),
    logPatientDetails: b("logs.patient_details"),
    statusPort: n("status.port"),
    statusBindAddress: s("status.bind"),
    maxAssociations: n("max_associations"),
    maxPduLength: n("max_pdu_length"),
    artimTimeoutMs: n("artim_timeout_ms"),
    idleTimeoutMs: n("idle_timeout_ms"),
    allowedCallingAeTitles: l("allowed_calling_ae_titles"),
    allowedAddresses: l("allowed_addresses"),
    requireCalledAeTitle: b("require_called_ae_title"),
    fsync: b("fsync"),
    upload: {
      url: s("upload.url"),
      auth,
      caFile: resolveAgainst(baseDir, s("upload.ca_file")),
      proxy: s("upload.proxy"),
      proxyUsername: s("upload.proxy_username"),
      proxyPassword: s("upload.proxy_password"),
      batchMaxInstances: n("upload.batch_max_instances"),
      batchMaxBytes: n("upload.batch_max_bytes"),
      concurrency: n("upload.concurrency"),
      idleTimeoutMs: n("upload.idle_timeout_ms"),
      maxBackoffMs: n("upload.max_backoff_ms"),
      retentionDays: n("upload.retention_days"),
      minFreeBytes: n("upload.min_free_bytes"),
    },
  };
}

const AUTH_FIELDS: Record<Exclude<UploadAuth["kind"], "none">, { required: string[]; optional: string[] }> = {
  basic: { required: ["username", "password"], optional: [] },
  bearer: { required: ["token"], optional: [] },
  header: { required: ["header_name", "header_value"], optional: [] },
  oauth2: { required: ["token_url", "client_id", "client_secret"], optional: ["scope"] },
};

/** How to set one auth field, in words: the env variable for secrets, the file key otherwise. */
function howToSet(name: string, configFile: string): string {
  const key = KEYS_BY_ID.get(`upload.auth.${name}`)!;
  return key.secret
    ? `the environment variable ${envName(key)} (or ${name} in [upload.auth] of ${configFile})`
    : `${name} in [upload.auth] of ${configFile} (or ${flagName(key)})`;
}

/** Decides the auth kind (`auto`: from the fields filled in) and checks its fields are present. */
function assembleAuth(merged: Merged, configFile: string, problems: string[]): UploadAuth {
  const v = (name: string) => (merged.get(`upload.auth.${name}`)?.value as string | undefined) ?? "";
  const kindEntry = merged.get("upload.auth.kind");
  let kind = (kindEntry?.value as string | undefined) ?? "auto";
  if (kind === "auto") {
    const filled = (Object.keys(AUTH_FIELDS) as (keyof typeof AUTH_FIELDS)[]).filter((k) => {
      const f = AUTH_FIELDS[k];
      return [...f.required, ...f.optional].some((name) => v(name) !== "");
    });
    if (filled.length > 1) {
      problems.push(
        `Upload sign-in: credentials for several kinds are filled in (${filled.join(" and ")}). ` +
          `Set kind in [upload.auth] of ${configFile} to the one to use.`,
      );
      return { kind: "none" };
    }
    kind = filled[0] ?? "none";
  }
  if (kind === "none") return { kind: "none" };
  const fields = AUTH_FIELDS[kind as keyof typeof AUTH_FIELDS];
  const missing = fields.required.filter((name) => v(name) === "");
  for (const name of missing) {
    problems.push(
      `Upload sign-in "${kind}" needs ${name.replaceAll("_", " ")}: set ${howToSet(name, configFile)}.`,
    );
  }
  if (missing.length > 0) return { kind: "none" };
  switch (kind) {
    case "basic":
      return { kind, username: v("username"), password: v("password") };
    case "bearer":
      return { kind, token: v("token") };
    case "header":
      return { kind, name: v("header_name"), value: v("header_value") };
    default:
      return {
        kind: "oauth2",
        tokenUrl: v("token_url"),
        clientId: v("client_id"),
        clientSecret: v("client_secret"),
        scope: v("scope"),
      };
  }
}

/** What {@link loadConfig} returns. */
export interface LoadedConfig {
  config: Config;
  /** The configuration file that was (or would have been) read. */
  configPath: string;
  /** False when the file does not exist and the defaults were used. */
  configFileFound: boolean;
  /** Arguments that are not configuration flags, in order: the subcommand, its arguments and its own options. */
  rest: string[];
  /** Things worth logging that do not stop the program (e.g. an unknown DICOM_GATEWAY_ variable). */
  warnings: string[];
}

/**
 * Builds the configuration from defaults, the TOML file, the environment and the flags.
 *
 * `rest` keeps everything that is not a configuration flag (positionals and unknown
 * `--options`, in their original order), so subcommands can parse their own options;
 * `run` should refuse a non-empty `rest`.
 *
 * @param args command-line arguments (e.g. `Deno.args`)
 * @param options `env` replaces `Deno.env` (tests), `baseDir` replaces {@link installDir};
 *   `skipFile` works out `configPath` without reading the file (for `init`, which may replace a broken one)
 * @throws {ConfigError} naming every wrong value with its file line, variable or flag
 */
export async function loadConfig(
  args: string[],
  options: { env?: Record<string, string>; baseDir?: string; skipFile?: boolean } = {},
): Promise<LoadedConfig> {
  const env = options.env ?? Deno.env.toObject();
  const baseDir = options.baseDir ?? installDir();
  const problems: string[] = [];
  const warnings: string[] = [];

  const flags = readFlags(args, problems);
  const explicitPath = flags.configFlag ?? (env[CONFIG_ENV] || null);
  const configPath = explicitPath ?? joinPath(baseDir, CONFIG_FILE_NAME);
  const fileLabel = explicitPath === null ? CONFIG_FILE_NAME : configPath;

  let fileLayer: Layer = { values: new Map() };
  let configFileFound = false;
  let text: string | null = null;
  try {
    if (!options.skipFile) {
      text = await Deno.readTextFile(configPath);
      configFileFound = true;
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      problems.push(`Cannot read the settings file ${configPath}: ${(e as Error).message}`);
    } else if (explicitPath !== null) {
      problems.push(`The settings file ${configPath} does not exist. Create one with: dicom-gateway init`);
    }
  }
  if (text !== null) fileLayer = readTomlText(text.replace(/^\uFEFF/, ""), fileLabel, problems);
  const envLayer = readEnv(env, problems, warnings);

  const merged: Merged = new Map();
  const defaults = defaultConfig(baseDir);
  for (const key of CONFIG_KEYS) {
    merged.set(keyId(key), { value: key.read(defaults), origin: { source: "default" } });
  }
  for (const layer of [fileLayer, envLayer, flags.layer]) {
    for (const [id, entry] of layer.values) merged.set(id, entry);
  }
  const config = assemble(merged, baseDir, fileLabel, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return { config, configPath, configFileFound, rest: flags.rest, warnings };
}

/** A plain list of every flag and environment variable, for `--help`. */
export function configHelpText(): string {
  const lines = ["Settings (flag, environment variable; the same names as in dicom-gateway.toml):"];
  lines.push(`  --config FILE                      ${CONFIG_ENV}`);
  for (const key of CONFIG_KEYS) {
    const flag = key.secret
      ? "(no flag: secret)"
      : key.kind === "bool"
      ? `--${key.cliName} / --no-${key.cliName}`
      : `--${key.cliName} VALUE`;
    lines.push(`  ${flag.padEnd(34)} ${envName(key)}`);
  }
  return lines.join("\n");
}

// ---------------------------------------------------------------------------------------------
// Writing the [upload] settings from the status page.

/** Upload destination settings as the status page's form sends them. Empty secrets keep the stored ones. */
export interface UploadSettings {
  url: string;
  authKind: string;
  username?: string;
  password?: string;
  token?: string;
  headerName?: string;
  headerValue?: string;
  tokenUrl?: string;
  clientId?: string;
  clientSecret?: string;
  scope?: string;
  caFile?: string;
}

/** Renders a value as TOML (strings as basic strings; JSON escapes are valid TOML escapes). */
export function tomlValue(value: ConfigValue): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((v) => JSON.stringify(v)).join(", ")}]`;
  return String(value);
}

/**
 * Sets `name = value` in `[section]` of TOML text, keeping every other line and comment:
 * an existing line keeps its indentation and trailing comment; a missing key is added after
 * the section's last setting; a missing section is appended.
 */
export function setTomlKey(text: string, section: string, name: string, value: ConfigValue): string {
  const nl = text.includes("\r\n") ? "\r\n" : "\n";
  const lines = text.split(/\r?\n/);
  let current = "";
  let sectionStart = section === "" ? 0 : -1;
  let lastKeyInSection = -1;
  let firstHeader = -1;
  const rendered = `${name} = ${tomlValue(value)}`;
  const unquote = (s: string) => s.split(".").map((p) => p.trim().replace(/^["']|["']$/g, "")).join(".");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const header = /^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$/.exec(line);
    if (header) {
      current = unquote(header[1] ?? "");
      if (firstHeader < 0) firstHeader = i;
      if (current === section) sectionStart = i;
      continue;
    }
    if (current !== section) continue;
    const kv = /^(\s*)([A-Za-z0-9_\-"']+)(\s*=\s*)(.*)$/.exec(line);
    if (!kv) continue;
    lastKeyInSection = i;
    if (unquote(kv[2] ?? "") !== name) continue;
    const after = kv[4] ?? "";
    const valueMatch = /^("(?:[^"\\]|\\.)*"|'[^']*'|[^\s#]+)(\s*#.*)?\s*$/.exec(after);
    const comment = valueMatch?.[2] ?? "";
    lines[i] = `${kv[1]}${name}${kv[3]}${tomlValue(value)}${comment}`;
    return lines.join(nl);
  }
  if (sectionStart < 0) {
    while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
    lines.push("", `[${section}]`, rendered, "");
    return lines.join(nl);
  }
  const at = lastKeyInSection >= 0
    ? lastKeyInSection + 1
    : section === ""
    ? (firstHeader >= 0 ? firstHeader : lines.length)
    : sectionStart + 1;
  lines.splice(at, 0, rendered);
  return lines.join(nl);
}

const SETTINGS_FIELDS: [keyof UploadSettings, string][] = [
  ["username", "username"],
  ["password", "password"],
  ["token", "token"],
  ["headerName", "header_name"],
  ["headerValue", "header_value"],
  ["tokenUrl", "token_url"],
  ["clientId", "client_id"],
  ["clientSecret", "client_secret"],
  ["scope", "scope"],
];

/**
 * Writes the upload destination into the `[upload]` and `[upload.auth]` sections of the
 * configuration file, keeping its comments and other settings (the file is created from the
 * `init` template when missing). Secrets left empty keep the value already in the file if the
 * sign-in kind is unchanged; fields of other kinds are cleared. The file is replaced atomically,
 * and only if the result is a valid configuration.
 * @throws {ConfigError} when a value is not allowed (nothing is written then)
 */
export async function writeUploadSettings(configPath: string, settings: UploadSettings): Promise<void> {
  let text: string;
  try {
    text = await Deno.readTextFile(configPath);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    const { initialConfigText } = await import("./init.ts");
    text = initialConfigText();
  }
  const label = configPath.replace(/^.*[\\/]/, "");
  const problems: string[] = [];
  const current = readTomlText(text, label, problems);
  if (problems.length > 0) {
    throw new ConfigError([`The settings file has to be fixed by hand first:`, ...problems]);
  }
  const formProblem = (field: string, allowed: string, got: unknown) =>
    `${field} must be ${allowed}, got ${typeof got === "string" ? JSON.stringify(got) : String(got)}`;

  const updates = new Map<string, ConfigValue>();
  const check = (id: string, raw: string, field: string) => {
    const key = KEYS_BY_ID.get(id)!;
    const c = checkValue(key, raw, true);
    if (!c.ok) problems.push(formProblem(field, c.allowed, key.secret ? "(hidden)" : raw));
    else updates.set(id, c.value);
  };
  check("upload.url", settings.url ?? "", "Server address");
  check("upload.ca_file", settings.caFile ?? "", "CA certificate file");
  check("upload.auth.kind", settings.authKind ?? "none", "Sign-in method");
  const newKind = (updates.get("upload.auth.kind") as string | undefined) ?? "none";
  const oldKind = (current.values.get("upload.auth.kind")?.value as string | undefined) ?? "auto";
  const fieldsOfKind = newKind in AUTH_FIELDS
    ? [
      ...AUTH_FIELDS[newKind as keyof typeof AUTH_FIELDS].required,
      ...AUTH_FIELDS[newKind as keyof typeof AUTH_FIELDS].optional,
    ]
    : [];
  for (const [prop, name] of SETTINGS_FIELDS) {
    const id = `upload.auth.${name}`;
    const key = KEYS_BY_ID.get(id)!;
    const given = (settings[prop] as string | undefined) ?? "";
    if (!fieldsOfKind.includes(name)) {
      if (current.values.has(id) && current.values.get(id)!.value !== "") updates.set(id, "");
      continue;
    }
    if (key.secret && given === "" && oldKind === newKind) continue; // keep the stored secret
    check(id, given, name.replaceAll("_", " "));
  }
  if (problems.length > 0) throw new ConfigError(problems);

  for (const [id, value] of updates) {
    const key = KEYS_BY_ID.get(id)!;
    text = setTomlKey(text, key.section, key.name, value);
  }
  // The result must load: same checks as start-up, including the sign-in fields.
  const after = readTomlText(text, label, problems);
  const merged: Merged = new Map();
  const defaults = defaultConfig("");
  for (const key of CONFIG_KEYS) {
    merged.set(keyId(key), { value: key.read(defaults), origin: { source: "default" } });
  }
  for (const [id, entry] of after.values) merged.set(id, entry);
  assembleAuth(merged, label, problems);
  if (problems.length > 0) throw new ConfigError(problems);

  const tmp = `${configPath}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.writeTextFile(tmp, text);
  try {
    await renameWithRetry(tmp, configPath);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/** `Deno.rename`, retried a few times: on Windows antivirus or an editor can hold the file for a moment. */
async function renameWithRetry(from: string, to: string): Promise<void> {
  for (let attempt = 0;; attempt++) {
    try {
      await Deno.rename(from, to);
      return;
    } catch (e) {
      if (attempt >= 5 || !(e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.Busy)) {
        throw e;
      }
      await new Promise((r) => setTimeout(r, 100 * (attempt + 1)));
    }
  }
}
