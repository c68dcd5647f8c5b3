/**
 * Value checks, one per kind of setting ({@link ConfigKind}): whole numbers in range, sizes with
 * units, booleans, AE titles (PS3.5 §6.2, AE VR), IP addresses and ranges (through the one
 * parser in `net/ip.ts`), host names, URLs and header names. Pure functions only.
 * @module
 */
import { isIpv4, isIpv6, isLoopbackAddress, parseAddressRange, parsePeerAddress } from "../net/ip.ts";
import { studiesSuffixProblem } from "../dicomweb_url.ts";
import { AUTH_KINDS, type ConfigKey, type ConfigValue, VERIFY_MODES } from "./schema.ts";
import { parseRate, parseRateWindow, RATE_ALLOWED, RATE_WINDOW_ALLOWED } from "./rate.ts";

/** Values of `upload.compression`. */
const COMPRESSIONS = ["jpeg-ls", "htj2k", "none"] as const;

/** The outcome of checking one value: the value to use, or what is allowed. */
export type Checked = { ok: true; value: ConfigValue } | {
  ok: false;
  allowed: string;
  /** What exactly is wrong, in plain sentences, when the check can tell. */
  reason?: string;
};

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
function parseByteSize(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  if (!m) return null;
  const unit = BYTE_UNITS[(m[2] ?? "").toLowerCase()];
  if (unit === undefined) return null;
  const n = Number(m[1]) * unit;
  return Number.isSafeInteger(Math.round(n)) ? Math.round(n) : null;
}

function isLoopbackHost(hostname: string): boolean {
  if (hostname.toLowerCase() === "localhost") return true;
  const address = parsePeerAddress(hostname);
  return address !== undefined && isLoopbackAddress(address);
}

/** Checks an AE title (PS3.5 §6.2 AE VR): 1–16 characters, no backslash or control characters, not all spaces. */
function checkAeTitle(value: string): string | null {
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
  what: "upload" | "token" | "proxy" | "webhook",
): { ok: true; value: string } | { ok: false; allowed: string; reason?: string } {
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
  const studies = what === "upload" ? studiesSuffixProblem(text) : null;
  if (studies !== null) {
    return { ok: false, allowed: "the DICOMweb root, not its /studies resource", reason: studies };
  }
  return { ok: true, value: what === "upload" ? text.replace(/\/+$/, "") : text };
}

/** `"30"`, `"30 min"`, `"2 h"`, `"1 day"` into whole minutes; null when not a time. */
function parseMinutes(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  if (!m) return null;
  const unit = (m[2] ?? "").toLowerCase();
  const factor = ["", "m", "min", "mins", "minute", "minutes"].includes(unit)
    ? 1
    : ["h", "hr", "hrs", "hour", "hours"].includes(unit)
    ? 60
    : ["d", "day", "days"].includes(unit)
    ? 1440
    : null;
  if (factor === null) return null;
  const n = Number(m[1]) * factor;
  return Number.isInteger(n) ? n : null;
}

/** `true`/`yes`/`on`/`1` and `false`/`no`/`off`/`0` (any case); null otherwise. */
export function parseBool(text: string): boolean | null {
  const t = text.trim().toLowerCase();
  if (["true", "yes", "on", "1"].includes(t)) return true;
  if (["false", "no", "off", "0"].includes(t)) return false;
  return null;
}

function splitList(text: string): string[] {
  return text.split(",").map((s) => s.trim()).filter((s) => s !== "");
}

/**
 * Checks one value for a key. `text` is true when the value came from the environment or a
 * flag (always a string), false for a TOML value (typed).
 */
export function checkValue(key: ConfigKey, raw: unknown, text: boolean): Checked {
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
    case "minutes": {
      // Whole minutes, written as a number or as text with a unit: "45 min", "2 h", "1 day".
      const allowed =
        `a time from ${min} to ${max} minutes, as a number of minutes or text like "30 min" or "2 h"`;
      let minutes: number | null = null;
      if (typeof raw === "number" || typeof raw === "bigint") minutes = Number(raw);
      else if (typeof raw === "string") minutes = parseMinutes(raw);
      if (minutes === null || !Number.isInteger(minutes) || minutes < min || minutes > max) {
        return { ok: false, allowed };
      }
      return { ok: true, value: minutes };
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
      if (key.kind === "aeTitleList") {
        return list.every((s) => checkAeTitle(s) === null)
          ? { ok: true, value: list }
          : { ok: false, allowed };
      }
      // The same parser as the allowlist matcher: an entry that validates is an entry that matches.
      const reasons = list.map(parseAddressRange).flatMap((r) => "problem" in r ? [r.problem] : []);
      return reasons.length === 0
        ? { ok: true, value: list }
        : { ok: false, allowed, reason: reasons.join(" ") };
    }
    case "rate": {
      if (raw === 0 || raw === 0n) return { ok: true, value: 0 };
      const bits = typeof raw === "string" ? parseRate(raw) : null;
      return bits === null ? { ok: false, allowed: RATE_ALLOWED } : { ok: true, value: bits };
    }
    case "rateWindowList": {
      const allowed = `a list of time windows, each ${RATE_WINDOW_ALLOWED.replace(/^a time window /, "")}`;
      let items: unknown[] | null = null;
      if (Array.isArray(raw)) items = raw;
      else if (text && typeof raw === "string") items = raw.split(";").filter((s) => s.trim() !== "");
      if (items === null || !items.every((i) => typeof i === "string")) return { ok: false, allowed };
      const windows = (items as string[]).map((w) => ({ w, parsed: parseRateWindow(w) }));
      const bad = windows.filter((x) => x.parsed === null).map((x) => JSON.stringify(x.w.trim()));
      return bad.length === 0
        ? { ok: true, value: windows.map((x) => x.parsed!.text) }
        : { ok: false, allowed, reason: `Not a time window: ${bad.join(", ")}.` };
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
    case "webhookUrl":
      return checkUrl(raw, "webhook");
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
    case "verifyMode": {
      const mode = raw.trim().toLowerCase();
      return (VERIFY_MODES as readonly string[]).includes(mode)
        ? { ok: true, value: mode }
        : { ok: false, allowed: VERIFY_MODES.map((m) => `"${m}"`).join(" or ") };
    }
    case "compression": {
      const c = raw.trim().toLowerCase();
      return (COMPRESSIONS as readonly string[]).includes(c)
        ? { ok: true, value: c }
        : { ok: false, allowed: COMPRESSIONS.map((a) => `"${a}"`).join(", ") };
    }
    default:
      return { ok: false, allowed: "a valid value" };
  }
}
