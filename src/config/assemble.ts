/**
 * Assembly: the merged values (defaults, then file, environment, flags) become one
 * {@link Config}, with the checks that span several settings (the upload sign-in fields of
 * the chosen kind, the proxy user name and password pair) and relative folders resolved.
 * @module
 */
import { joinPath } from "../platform/fs.ts";
import {
  type Config,
  defaultConfig,
  type UploadAuth,
  type UploadCompression,
  type VerifyMode,
} from "./types.ts";
import { parseRateWindow, type RateWindow } from "./rate.ts";
import { AUTH_FIELDS, CONFIG_KEYS, envName, flagName, keyId, KEYS_BY_ID } from "./schema.ts";
import type { Merged } from "./origin.ts";

function isAbsolutePath(p: string): boolean {
  return /^([A-Za-z]:[\\/]|[\\/])/.test(p);
}

/** Resolves a relative folder or file against the installation folder; absolute paths pass through. */
export function resolveAgainst(baseDir: string, p: string): string {
  if (p === "" || isAbsolutePath(p)) return p;
  return joinPath(baseDir, p.replace(/^\.[\\/]/, ""));
}

/** Builds the Config from the merged values; problems (sign-in, proxy pair) are added to `problems`. */
export function assemble(merged: Merged, baseDir: string, configFile: string, problems: string[]): Config {
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
  // The webhook token comes with its header name: a value alone would be sent nowhere.
  if ((s("alerts.header_value") === "") !== (s("alerts.header_name") === "")) {
    problems.push(
      `The alert webhook's token needs both header_name in [alerts] of ${configFile} and its value ` +
        `(the environment variable DICOM_GATEWAY_ALERTS_HEADER_VALUE, or header_value in [alerts]).`,
    );
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
    maxAssociationsPerHost: n("max_associations_per_host"),
    maxNegotiatingPerHost: n("max_negotiating_per_host"),
    maxPduLength: n("max_pdu_length"),
    artimTimeoutMs: n("artim_timeout_ms"),
    idleTimeoutMs: n("idle_timeout_ms"),
    allowedCallingAeTitles: l("allowed_calling_ae_titles"),
    allowedAddresses: l("allowed_addresses"),
    requireCalledAeTitle: b("require_called_ae_title"),
    fsync: b("fsync"),
    maxInflatedSize: n("max_inflated_size"),
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
      compression: s("upload.compression") as UploadCompression,
      compressionWorkers: n("upload.compression_workers"),
      compressionAdaptive: b("upload.compression_adaptive"),
      maxRateBitsPerSecond: n("upload.max_rate"),
      // Checked already (validate.ts): every entry parses.
      rateWindows: l("upload.rate_windows").map((w) => parseRateWindow(w)).filter((w): w is RateWindow =>
        w !== null
      ),
      urgentAeTitles: l("upload.urgent_ae_titles"),
      verify: s("upload.verify") as VerifyMode,
    },
    alerts: {
      webhookUrl: s("alerts.webhook_url"),
      headerName: s("alerts.header_name"),
      headerValue: s("alerts.header_value"),
      stalledAfterMs: n("alerts.stalled_after") * 60_000,
      unreachableAfterMs: n("alerts.unreachable_after") * 60_000,
      heartbeat: b("alerts.heartbeat"),
      heartbeatHour: n("alerts.heartbeat_hour"),
    },
  };
}

/** How to set one auth field, in words: the env variable for secrets, the file key otherwise. */
function howToSet(name: string, configFile: string): string {
  const key = KEYS_BY_ID.get(`upload.auth.${name}`)!;
  return key.secret
    ? `the environment variable ${envName(key)} (or ${name} in [upload.auth] of ${configFile})`
    : `${name} in [upload.auth] of ${configFile} (or ${flagName(key)})`;
}

/**
 * The sign-in kind the merged values choose: `kind` in [upload.auth], or for `auto` the one kind
 * whose fields are filled in ("none" when none is, or when several are: a problem then).
 */
export function decideAuthKind(merged: Merged, configFile: string, problems: string[]): UploadAuth["kind"] {
  const v = (name: string) => (merged.get(`upload.auth.${name}`)?.value as string | undefined) ?? "";
  const kind = (merged.get("upload.auth.kind")?.value as string | undefined) ?? "auto";
  if (kind !== "auto") return kind as UploadAuth["kind"];
  const filled = (Object.keys(AUTH_FIELDS) as (keyof typeof AUTH_FIELDS)[]).filter((k) => {
    const f = AUTH_FIELDS[k];
    return [...f.required, ...f.optional].some((name) => v(name) !== "");
  });
  if (filled.length > 1) {
    problems.push(
      `Upload sign-in: credentials for several kinds are filled in (${filled.join(" and ")}). ` +
        `Set kind in [upload.auth] of ${configFile} to the one to use.`,
    );
    return "none";
  }
  return filled[0] ?? "none";
}

/** Decides the auth kind (`auto`: from the fields filled in) and checks its fields are present. */
export function assembleAuth(merged: Merged, configFile: string, problems: string[]): UploadAuth {
  const v = (name: string) => (merged.get(`upload.auth.${name}`)?.value as string | undefined) ?? "";
  const kind = decideAuthKind(merged, configFile, problems);
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

/** Every setting at its built-in default (the bottom layer of every merge). */
export function defaultsMerged(baseDir: string): Merged {
  const merged: Merged = new Map();
  const defaults = defaultConfig(baseDir);
  for (const key of CONFIG_KEYS) {
    merged.set(keyId(key), { value: key.read(defaults), origin: { source: "default" } });
  }
  return merged;
}
