/**
 * Reading a STOW-RS response (PS3.18 §10.5.3 and Annex I "Store Instances Response Module") instance
 * by instance, and deciding what each sent instance becomes: delivered, failed with the server's
 * reason, sent again alone (to isolate a bad one), or whether the whole request is retried, paused
 * for credentials or split. Pure functions over the status, headers and body text.
 * @module
 */
import { classifyStatus, parseRetryAfter } from "./retry.ts";

/** An instance the server says it stored: Referenced SOP Sequence (0008,1199) item. */
export interface ReferencedInstance {
  sopInstanceUid: string;
  sopClassUid: string | null;
  /** Warning Reason (0008,1196), PS3.18 Table I.2-1, when stored with a warning. */
  warningReason: number | null;
}

/** An instance the server did not store: Failed SOP Sequence (0008,1198) item. */
export interface FailedInstance {
  sopInstanceUid: string;
  sopClassUid: string | null;
  /** Failure Reason (0008,1197), PS3.18 Table I.2-2. */
  failureReason: number | null;
  /** Any other text in the item (e.g. a private FailureDetail), for the operator. */
  detail: string | null;
}

/** The Store Instances Response Module as far as the uploader needs it. */
export interface StoreInstancesResponse {
  referenced: ReferencedInstance[];
  failed: FailedInstance[];
}

// PS3.18 Table I.1-1 "Store Instances Response Module Attributes" and PS3.3 Table 10-11
// "SOP Instance Reference Macro Attributes".
const FAILED_SOP_SEQUENCE = "00081198";
const REFERENCED_SOP_SEQUENCE = "00081199";
const REFERENCED_SOP_CLASS_UID = "00081150";
const REFERENCED_SOP_INSTANCE_UID = "00081155";
const FAILURE_REASON = "00081197";
const WARNING_REASON = "00081196";
const RETRIEVE_URL = "00081190";

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** First value of a DICOM JSON attribute (PS3.18 §F.2.2: `{ "vr": …, "Value": [ … ] }`). */
function firstValue(dataset: JsonObject, tag: string): unknown {
  const attribute = dataset[tag] ?? dataset[tag.toLowerCase()];
  if (!isObject(attribute)) return undefined;
  const values = attribute["Value"];
  return Array.isArray(values) ? values[0] : undefined;
}

function items(dataset: JsonObject, tag: string): JsonObject[] {
  const attribute = dataset[tag] ?? dataset[tag.toLowerCase()];
  if (!isObject(attribute)) return [];
  const values = attribute["Value"];
  return Array.isArray(values) ? values.filter(isObject) : [];
}

function asUid(value: unknown): string | null {
  return typeof value === "string" && value.trim() !== "" ? value.trim().replace(/\0+$/, "") : null;
}

function asNumber(value: unknown): number | null {
  if (typeof value === "number" && Number.isFinite(value)) return value;
  if (typeof value === "string" && /^\s*\d+\s*$/.test(value)) return Number(value);
  return null;
}

/** Text of the attributes of a Failed SOP Sequence item other than the macro's, e.g. Google's (0009,0097). */
function otherText(item: JsonObject): string | null {
  const known = new Set([
    REFERENCED_SOP_CLASS_UID,
    REFERENCED_SOP_INSTANCE_UID,
    FAILURE_REASON,
    WARNING_REASON,
    RETRIEVE_URL,
  ]);
  const texts: string[] = [];
  for (const [tag, attribute] of Object.entries(item)) {
    if (known.has(tag.toUpperCase()) || !isObject(attribute)) continue;
    const values = attribute["Value"];
    if (!Array.isArray(values)) continue;
    for (const value of values) {
      if (typeof value === "string" && value.trim() !== "") texts.push(value.trim());
    }
  }
  return texts.length === 0 ? null : texts.join("; ").slice(0, 500);
}

function fromJsonDataset(dataset: JsonObject): StoreInstancesResponse {
  const referenced: ReferencedInstance[] = [];
  for (const item of items(dataset, REFERENCED_SOP_SEQUENCE)) {
    const sopInstanceUid = asUid(firstValue(item, REFERENCED_SOP_INSTANCE_UID));
    if (sopInstanceUid === null) continue;
    referenced.push({
      sopInstanceUid,
      sopClassUid: asUid(firstValue(item, REFERENCED_SOP_CLASS_UID)),
      warningReason: asNumber(firstValue(item, WARNING_REASON)),
    });
  }
  const failed: FailedInstance[] = [];
  for (const item of items(dataset, FAILED_SOP_SEQUENCE)) {
    const sopInstanceUid = asUid(firstValue(item, REFERENCED_SOP_INSTANCE_UID));
    if (sopInstanceUid === null) continue;
    failed.push({
      sopInstanceUid,
      sopClassUid: asUid(firstValue(item, REFERENCED_SOP_CLASS_UID)),
      failureReason: asNumber(firstValue(item, FAILURE_REASON)),
      detail: otherText(item),
    });
  }
  return { referenced, failed };
}

function decodeXmlText(text: string): string {
  return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&apos;/g, "'")
    .replace(/&amp;/g, "&").trim();
}

/** Values of `<DicomAttribute tag="…"><Value …>x</Value>` in a fragment of PS3.19 Native DICOM Model XML. */
function xmlValue(fragment: string, tag: string): string | null {
  const match = new RegExp(
    `<DicomAttribute[^>]*tag="${tag}"[^>]*>\\s*<Value[^>]*>([^<]*)</Value>`,
    "i",
  ).exec(fragment);
  return match?.[1] === undefined ? null : decodeXmlText(match[1]);
}

/** The `<Item>` bodies of one sequence attribute (items of the response module are not nested deeper). */
function xmlItems(xml: string, tag: string): string[] {
  const start = new RegExp(`<DicomAttribute[^>]*tag="${tag}"[^>]*>`, "i").exec(xml);
  if (start === null) return [];
  const rest = xml.slice(start.index + start[0].length);
  const end = rest.search(/<DicomAttribute[^>]*tag="0008119[89]"|<\/NativeDicomModel>/i);
  const body = end < 0 ? rest : rest.slice(0, end);
  return [...body.matchAll(/<Item[^>]*>([\s\S]*?)<\/Item>/gi)].map((m) => m[1] ?? "");
}

function fromXml(xml: string): StoreInstancesResponse {
  const referenced: ReferencedInstance[] = [];
  for (const item of xmlItems(xml, REFERENCED_SOP_SEQUENCE)) {
    const sopInstanceUid = asUid(xmlValue(item, REFERENCED_SOP_INSTANCE_UID));
    if (sopInstanceUid === null) continue;
    referenced.push({
      sopInstanceUid,
      sopClassUid: asUid(xmlValue(item, REFERENCED_SOP_CLASS_UID)),
      warningReason: asNumber(xmlValue(item, WARNING_REASON)),
    });
  }
  const failed: FailedInstance[] = [];
  for (const item of xmlItems(xml, FAILED_SOP_SEQUENCE)) {
    const sopInstanceUid = asUid(xmlValue(item, REFERENCED_SOP_INSTANCE_UID));
    if (sopInstanceUid === null) continue;
    const detail = [...item.matchAll(/<Value[^>]*>([^<]*)<\/Value>/gi)].map((m) => decodeXmlText(m[1] ?? ""))
      .filter((v) => v !== "" && v !== sopInstanceUid && !/^\d+$/.test(v) && !/^[\d.]+$/.test(v));
    failed.push({
      sopInstanceUid,
      sopClassUid: asUid(xmlValue(item, REFERENCED_SOP_CLASS_UID)),
      failureReason: asNumber(xmlValue(item, FAILURE_REASON)),
      detail: detail.length === 0 ? null : detail.join("; ").slice(0, 500),
    });
  }
  return { referenced, failed };
}

/**
 * Parses a Store Instances Response body: DICOM JSON (PS3.18 Annex F; a single dataset object, or an
 * array holding one, as some servers send) or Native DICOM Model XML (PS3.19 Annex A). Returns null
 * for an empty or unreadable body — the caller then relies on the HTTP status alone.
 */
export function parseStoreInstancesResponse(
  body: string,
  contentType: string | null,
): StoreInstancesResponse | null {
  const trimmed = body.trim();
  if (trimmed === "") return null;
  const looksXml = trimmed.startsWith("<") || /xml/i.test(contentType ?? "");
  if (looksXml) {
    if (!/NativeDicomModel|DicomAttribute/i.test(trimmed)) return null;
    return fromXml(trimmed);
  }
  let json: unknown;
  try {
    json = JSON.parse(trimmed);
  } catch {
    return null;
  }
  if (Array.isArray(json)) {
    const merged: StoreInstancesResponse = { referenced: [], failed: [] };
    for (const dataset of json.filter(isObject)) {
      const part = fromJsonDataset(dataset);
      merged.referenced.push(...part.referenced);
      merged.failed.push(...part.failed);
    }
    return merged;
  }
  return isObject(json) ? fromJsonDataset(json) : null;
}

/**
 * Plain words for a Failure Reason (0008,1197): PS3.18 Table I.2-2 "Store Instances Response Failure
 * Reason Values" (A7xx out of resources, A9xx data set does not match SOP class, Cxxx cannot
 * understand, C122 transfer syntax not supported, 0110 processing failure, 0122 SOP class not
 * supported), plus PS3.7 0111 "Duplicate SOP Instance" and vendor codes seen in the field.
 */
export function describeFailureReason(code: number | null): string {
  if (code === null) return "no reason given";
  const hex = `0x${code.toString(16).toUpperCase().padStart(4, "0")}`;
  let meaning: string;
  if (code === 0xC122) meaning = "transfer syntax not supported";
  else if (code >= 0xA700 && code <= 0xA7FF) meaning = "refused: out of resources";
  else if (code >= 0xA900 && code <= 0xA9FF) meaning = "data set does not match SOP class";
  else if (code >= 0xC000 && code <= 0xCFFF) meaning = "cannot understand";
  else if (code === 0x0110) meaning = "processing failure";
  else if (code === 0x0111) meaning = "duplicate SOP instance";
  else if (code === 0x0122) meaning = "SOP class not supported";
  else if (code === 0x0124) meaning = "not authorized";
  else if (code === 0xB00E) meaning = "instance already exists";
  else meaning = "server-specific reason";
  return `${meaning} (${hex})`;
}

/** Plain words for a Warning Reason (0008,1196), PS3.18 Table I.2-1 (B000, B006, B007). */
export function describeWarningReason(code: number): string {
  const hex = `0x${code.toString(16).toUpperCase().padStart(4, "0")}`;
  if (code === 0xB000) return `coercion of data elements (${hex})`;
  if (code === 0xB006) return `elements discarded (${hex})`;
  if (code === 0xB007) return `data set does not match SOP class (${hex})`;
  return `warning (${hex})`;
}

/**
 * True when a Failed SOP Sequence item says the server already holds this instance — a resend
 * after a crash, which counts as delivered, not as a failure: PS3.7 0x0111 "Duplicate SOP Instance",
 * Azure's 45070 (0xB00E) "already been stored", or a failure text saying "already exists/stored".
 * A text saying the stored copy differs (Google's "checksum mismatch") is a real conflict: false.
 */
export function isAlreadyStored(failed: FailedInstance): boolean {
  const text = failed.detail ?? "";
  if (/differ|mismatch|conflicting/i.test(text)) return false;
  if (failed.failureReason === 0x0111 || failed.failureReason === 0xB00E) return true;
  return /already (exists|been stored|stored|present)|duplicate (sop )?instance/i.test(text);
}

/** What becomes of the instances of one STOW-RS request. */
export type StowOutcome =
  | {
    kind: "settle";
    /** Confirmed stored (or already held by the server); `note` for warnings. */
    delivered: { sopInstanceUid: string; note: string | null }[];
    /** Rejected by the server for their content, with the reason (shown to the operator). */
    failed: { sopInstanceUid: string; reason: string }[];
    /** Not accounted for by a failure response covering several instances: send again in smaller batches. */
    isolate: string[];
  }
  | { kind: "retry"; reason: string; retryAfterMs: number | null }
  | { kind: "credentials"; reason: string; status: number }
  | { kind: "too-large"; reason: string };

/** The parts of an HTTP response the interpreter reads. */
export interface StowHttpResponse {
  status: number;
  statusText: string;
  /** Lower-case header names. */
  headers: { get(name: string): string | null };
  body: string;
}

function statusLine(response: StowHttpResponse): string {
  return `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ""}`;
}

/** A short, single-line excerpt of a body for reasons shown to the operator. */
export function bodyExcerpt(body: string, max = 200): string {
  const flat = body.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

/**
 * Decides what each of the `sent` SOP Instance UIDs becomes, from the response to the STOW-RS request
 * that carried them (PS3.18 §10.5.3, Table 10.5.3-1):
 * - 200/202 (any 2xx): every Referenced SOP Sequence item is delivered (with its Warning Reason as a
 *   note); Failed SOP Sequence items fail with their Failure Reason, except "already stored" ones,
 *   which are delivered. An instance named in neither sequence is delivered: PS3.18 Table I.1-1 makes
 *   the Failed SOP Sequence "Required if one or more SOP Instances failed to store", and 200 means
 *   "successfully stored all Instances". An unreadable 202 body with several instances: isolate.
 * - 400, 409, other instance-level 4xx: the same per-instance reading (Orthanc answers 400 yet lists
 *   the instances it stored); instances named nowhere are isolated if several were sent, or failed
 *   with the status and body excerpt if alone.
 * - 408, 429, 5xx, 404/405/411/415/426: retry (Retry-After read), nothing is marked.
 * - 401, 403, 407: credentials; 413: too-large.
 */
export function interpretStowResponse(
  response: StowHttpResponse,
  sent: readonly string[],
  now: number,
): StowOutcome {
  const meaning = classifyStatus(response.status);
  const line = statusLine(response);
  const excerpt = bodyExcerpt(response.body);
  switch (meaning) {
    case "retry":
    case "configuration": {
      const hint = meaning === "configuration"
        ? response.status === 404 || response.status === 405
          ? " — is the URL the server's DICOMweb root?"
          : " — the server does not accept this kind of request"
        : "";
      return {
        kind: "retry",
        reason: `the server answered ${line}${hint}${excerpt ? `: ${excerpt}` : ""}`,
        retryAfterMs: parseRetryAfter(response.headers.get("retry-after"), now),
      };
    }
    case "credentials":
      return {
        kind: "credentials",
        status: response.status,
        reason: response.status === 407
          ? `the proxy rejected the credentials (${line})`
          : `the server rejected the credentials (${line})`,
      };
    case "too-large":
      return { kind: "too-large", reason: `the server refused the request as too large (${line})` };
    case "success":
    case "instances":
      break;
  }

  const pending = new Set(sent);
  const delivered: { sopInstanceUid: string; note: string | null }[] = [];
  const failed: { sopInstanceUid: string; reason: string }[] = [];
  const parsed = parseStoreInstancesResponse(response.body, response.headers.get("content-type"));
  if (parsed !== null) {
    for (const item of parsed.failed) {
      if (!pending.delete(item.sopInstanceUid)) continue;
      if (isAlreadyStored(item)) {
        delivered.push({
          sopInstanceUid: item.sopInstanceUid,
          note: "the server already held this instance",
        });
      } else {
        const detail = item.detail === null ? "" : `: ${item.detail}`;
        failed.push({
          sopInstanceUid: item.sopInstanceUid,
          reason: `${line}, ${describeFailureReason(item.failureReason)}${detail}`,
        });
      }
    }
    for (const item of parsed.referenced) {
      if (!pending.delete(item.sopInstanceUid)) continue;
      delivered.push({
        sopInstanceUid: item.sopInstanceUid,
        note: item.warningReason === null
          ? null
          : `stored with a warning: ${describeWarningReason(item.warningReason)}`,
      });
    }
  }
  const rest = sent.filter((uid) => pending.has(uid));
  if (meaning === "success") {
    if (parsed === null && response.status === 202 && rest.length > 1) {
      return { kind: "settle", delivered, failed, isolate: rest };
    }
    for (const uid of rest) delivered.push({ sopInstanceUid: uid, note: null });
    return { kind: "settle", delivered, failed, isolate: [] };
  }
  if (rest.length > 1) return { kind: "settle", delivered, failed, isolate: rest };
  for (const uid of rest) {
    const said = parsed === null && excerpt ? `: ${excerpt}` : "";
    failed.push({ sopInstanceUid: uid, reason: `the server refused the instance (${line}${said})` });
  }
  return { kind: "settle", delivered, failed, isolate: [] };
}
