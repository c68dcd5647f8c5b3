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
  // Cut with a trailing "…", so that redaction knows a secret may end in the cut.
  return texts.length === 0 ? null : bodyExcerpt(texts.join("; "), 500);
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
      detail: detail.length === 0 ? null : bodyExcerpt(detail.join("; "), 500),
    });
  }
  return { referenced, failed };
}

/**
 * Parses a Store Instances Response body: DICOM JSON (PS3.18 Annex F; a single dataset object, or an
 * array holding one, as some servers send) or Native DICOM Model XML (PS3.19 Annex A). Returns null
 * for an empty or unreadable body: such an answer proves nothing (see {@linkcode interpretStowResponse}).
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
    /** Proven stored (or already held by the server); `note` for warnings. */
    delivered: { sopInstanceUid: string; note: string | null }[];
    /**
     * Rejected by the server for their content, with the reason (shown to the operator) and the
     * Failure Reason (0008,1197) code when the answer gave one.
     */
    failed: { sopInstanceUid: string; reason: string; failureReason?: number | null }[];
    /** Not accounted for by a failure response covering several instances: send again in smaller batches. */
    isolate: string[];
    /**
     * Sent, but the answer proves neither storage nor failure (e.g. a 200 that lists only some of
     * them): they stay queued and are retried with backoff, for `unprovenReason`.
     */
    unproven: string[];
    unprovenReason: string | null;
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

/** One instance of the request, with the UIDs stored in the queue index (the bytes received). */
export interface SentInstance {
  sopInstanceUid: string;
  sopClassUid: string;
}

/** Context of {@linkcode interpretStowResponse}. */
export interface InterpretOptions {
  /** The current time (for Retry-After dates). */
  now: number;
  /** The DICOMweb address as shown to the operator (no secret), named in every reason. */
  where: string;
}

function statusLine(response: StowHttpResponse): string {
  return `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ""}`;
}

/** A short, single-line excerpt of a body for reasons shown to the operator. */
export function bodyExcerpt(body: string, max = 200): string {
  const flat = body.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

/** The media type of a Content-Type header value, lower case, without parameters ("" when absent). */
export function mediaTypeOf(contentType: string | null): string {
  return (contentType ?? "").split(";")[0]!.trim().toLowerCase();
}

/**
 * PS3.18 §10.5.3 "Response": the Store Instances Response is sent as `application/dicom+json` or
 * `application/dicom+xml` (§8.7.3.5.2, §8.7.3.5.3 "DICOM JSON" / "DICOM XML" media types).
 */
export function isStoreResponseMediaType(contentType: string | null): boolean {
  const type = mediaTypeOf(contentType);
  return type === "application/dicom+json" || type === "application/dicom+xml";
}

function looksLikeWebPage(response: StowHttpResponse): boolean {
  const type = mediaTypeOf(response.headers.get("content-type"));
  if (type === "text/html" || type === "application/xhtml+xml") return true;
  return /^\s*(<!doctype html|<html[\s>])/i.test(response.body);
}

/**
 * Why a 2xx answer carries no readable Store Instances Response, in plain words naming the
 * address; null when it does carry one. Such an answer proves nothing: the instances stay queued.
 */
function unreadableSuccessReason(
  response: StowHttpResponse,
  parsed: StoreInstancesResponse | null,
  where: string,
): string | null {
  const line = statusLine(response);
  if (looksLikeWebPage(response)) {
    return `The server at ${where} answered the upload with a web page (${line}), not a DICOMweb response: ` +
      "check the DICOMweb address";
  }
  if (response.status === 204 || response.body.trim() === "") {
    return `The server at ${where} answered the upload with ${line} and an empty body, not a DICOMweb ` +
      "Store Instances Response: nothing proves the instances were stored; check the DICOMweb address";
  }
  const type = mediaTypeOf(response.headers.get("content-type"));
  if (!isStoreResponseMediaType(response.headers.get("content-type"))) {
    return `The server at ${where} answered the upload with ${line} of type ${type || "(none)"}, not a ` +
      `DICOMweb Store Instances Response (application/dicom+json): check the DICOMweb address` +
      (bodyExcerpt(response.body) ? ` (it said: ${bodyExcerpt(response.body, 120)})` : "");
  }
  if (parsed === null) {
    return `The server at ${where} answered the upload with ${line} but its Store Instances Response cannot ` +
      `be read: nothing proves the instances were stored (it said: ${bodyExcerpt(response.body, 120)})`;
  }
  return null;
}

/**
 * Decides what each sent instance becomes, from the answer to the STOW-RS request that carried them
 * (PS3.18 §10.5.3, Table 10.5.3-1). The rule: **an instance is delivered only when the answer proves
 * it**.
 * - Proof: status 200, 202 or 409, body `application/dicom+json` or `application/dicom+xml`, and the
 *   instance listed in the Referenced SOP Sequence (0008,1199) with the same Referenced SOP Class UID
 *   (0008,1150) and Referenced SOP Instance UID (0008,1155) as the queue index holds (PS3.18 Table
 *   I.1-1, PS3.3 Table 10-11). Its Warning Reason (0008,1196) becomes a note.
 * - A Failed SOP Sequence (0008,1198) item fails the instance with its Failure Reason (0008,1197),
 *   unless it says the server already holds it ({@linkcode isAlreadyStored}): delivered.
 * - Not proof: a 2xx without a readable Store Instances Response (HTML, empty, 204, another media
 *   type), any other 2xx status, or an instance in neither sequence (Orthanc answers 200 with empty
 *   lists for a body it could not read). Those instances are `unproven`, or the whole answer is a
 *   `retry` when nothing is proven: nothing is marked, the batch is retried with backoff.
 * - 3xx: uploads are never redirected (the request is sent with `redirect: "manual"`); a redirect is
 *   a set-up problem, retried with backoff and reported with its Location.
 * - 400, 409 without proof, other instance-level 4xx: Failed items fail; instances named nowhere are
 *   isolated if several were sent, or failed with the status and body excerpt if alone.
 * - 408, 429, 5xx, 404/405/411/415/426: retry (Retry-After read), nothing is marked.
 * - 401, 403, 407: credentials; 413: too-large.
 */
export function interpretStowResponse(
  response: StowHttpResponse,
  sent: readonly SentInstance[],
  options: InterpretOptions,
): StowOutcome {
  const { now, where } = options;
  const line = statusLine(response);
  const excerpt = bodyExcerpt(response.body);
  if (response.status >= 300 && response.status < 400) {
    const location = response.headers.get("location");
    return {
      kind: "retry",
      reason: `The server at ${where} answered the upload with a redirect (${line})` +
        (location ? ` to ${location}` : " without a Location") +
        ": uploads are never redirected, so nothing was stored; set the upload address to the archive's " +
        "DICOMweb root itself (a sign-in page here means a proxy in front of the archive wants a log-in)",
      retryAfterMs: null,
    };
  }
  const meaning = classifyStatus(response.status);
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

  const proofStatus = response.status === 200 || response.status === 202 || response.status === 409;
  const readable = isStoreResponseMediaType(response.headers.get("content-type"));
  const parsed = parseStoreInstancesResponse(response.body, response.headers.get("content-type"));
  if (meaning === "success") {
    const empty = response.status === 204 || response.body.trim() === "" || looksLikeWebPage(response);
    const why = proofStatus || empty
      ? unreadableSuccessReason(response, readable ? parsed : null, where)
      : `The server at ${where} answered the upload with ${line}, which is not a STOW-RS answer ` +
        "(PS3.18 expects 200, 202 or 409 with a Store Instances Response): nothing proves the instances " +
        "were stored";
    if (why !== null) return { kind: "retry", reason: why, retryAfterMs: null };
  }

  const byUid = new Map(sent.map((s) => [s.sopInstanceUid, s]));
  const pending = new Set(byUid.keys());
  const delivered: { sopInstanceUid: string; note: string | null }[] = [];
  const failed: { sopInstanceUid: string; reason: string; failureReason?: number | null }[] = [];
  const otherClass: string[] = [];
  if (parsed !== null && readable) {
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
          failureReason: item.failureReason,
        });
      }
    }
    if (proofStatus) {
      for (const item of parsed.referenced) {
        const mine = byUid.get(item.sopInstanceUid);
        if (mine === undefined || !pending.has(item.sopInstanceUid)) continue;
        if (item.sopClassUid !== mine.sopClassUid) {
          otherClass.push(item.sopInstanceUid);
          continue;
        }
        pending.delete(item.sopInstanceUid);
        delivered.push({
          sopInstanceUid: item.sopInstanceUid,
          note: item.warningReason === null
            ? null
            : `stored with a warning: ${describeWarningReason(item.warningReason)}`,
        });
      }
    }
  }
  const rest = sent.map((s) => s.sopInstanceUid).filter((uid) => pending.has(uid));
  if (meaning === "success" || (response.status === 409 && parsed !== null && readable)) {
    if (rest.length === 0) {
      return { kind: "settle", delivered, failed, isolate: [], unproven: [], unprovenReason: null };
    }
    const classNote = otherClass.length > 0
      ? ` (${otherClass.length} listed with another SOP Class UID than the one received)`
      : "";
    const reason = `The server at ${where} answered the upload with ${line} but its Store Instances ` +
      `Response does not list ${rest.length} of the ${sent.length} instances sent, neither as stored nor ` +
      `as failed${classNote}: nothing proves they were stored, so they stay queued`;
    if (delivered.length === 0 && failed.length === 0) return { kind: "retry", reason, retryAfterMs: null };
    return { kind: "settle", delivered, failed, isolate: [], unproven: rest, unprovenReason: reason };
  }
  if (rest.length > 1) {
    return { kind: "settle", delivered, failed, isolate: rest, unproven: [], unprovenReason: null };
  }
  for (const uid of rest) {
    const said = (parsed === null || !readable) && excerpt ? `: ${excerpt}` : "";
    failed.push({ sopInstanceUid: uid, reason: `the server refused the instance (${line}${said})` });
  }
  return { kind: "settle", delivered, failed, isolate: [], unproven: [], unprovenReason: null };
}
