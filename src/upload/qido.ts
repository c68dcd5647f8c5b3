/**
 * Verification by query, the pure part: the QIDO-RS request that asks the archive which instances
 * of a series it holds (PS3.18 §10.6.1, Search Transaction, at the instance level of a series:
 * `GET {root}/studies/{study}/series/{series}/instances`), what its answer says (PS3.18 §10.6.3:
 * 200 with a DICOM JSON array of matches, PS3.18 Annex F.2; 204 No Content when nothing matches),
 * how to page through it (`limit` / `offset`, §8.3.4.4), and when an instance the archive did not
 * list is asked about again or sent again. Plain functions over values; `verifier.ts` does the I/O.
 * @module
 */
import { parseRetryAfter } from "./retry.ts";
import { bodyExcerpt, mediaTypeOf } from "./response.ts";
import { stowUrl } from "./stow.ts";

/** SOP Instance UID (0008,0018), the one attribute the verifier asks for and compares. */
export const SOP_INSTANCE_UID_TAG = "00080018";

/** Results asked for per page (`limit`); a server may return fewer (PS3.18 §8.3.4.4). */
export const DEFAULT_PAGE_SIZE = 1000;

/**
 * Delays of the re-queries of an instance the archive did not list (archives index what they
 * stored asynchronously): 2 s, 10 s, then 60 s after the previous query. Not listed at the query
 * after the last delay, it is sent again.
 */
export const RECHECK_DELAYS_MS: readonly number[] = [2_000, 10_000, 60_000];

/** The series a query asks about. */
export interface SeriesRef {
  studyInstanceUid: string;
  seriesInstanceUid: string;
}

/**
 * The QIDO-RS URL for one page of the instances of a series: PS3.18 §10.6.1 "Search Transaction"
 * resource `{root}/studies/{study}/series/{series}/instances`, with `includefield=00080018` and
 * the paging parameters `limit` and `offset` (§8.3.4.4). UIDs go in the path as stored (only
 * digits and dots, nothing to escape; they are percent-encoded anyway).
 */
export function instancesQueryUrl(
  root: string,
  series: SeriesRef,
  page: { limit: number; offset: number },
): string {
  const path = `${stowUrl(root)}/${encodeURIComponent(series.studyInstanceUid)}/series/${
    encodeURIComponent(series.seriesInstanceUid)
  }/instances`;
  return `${path}?includefield=${SOP_INSTANCE_UID_TAG}&limit=${Math.max(1, Math.floor(page.limit))}&offset=${
    Math.max(0, Math.floor(page.offset))
  }`;
}

/** The parts of an HTTP answer the interpreter reads. */
export interface QidoHttpResponse {
  status: number;
  statusText: string;
  headers: { get(name: string): string | null };
  body: string;
}

/** Why a query proved nothing, in broad kinds (the status page and `doctor` word them). */
export type QidoProblemKind =
  /** 401, 403, 407. */
  | "credentials"
  /** Any 3xx: never followed. */
  | "redirect"
  /** 404, 405, 501: no QIDO-RS at this address. */
  | "not-found"
  /** A web page, 400, another media type, JSON that is not a list of DICOM JSON objects. */
  | "not-dicomweb"
  /** 408, 429, 5xx: the archive has a problem of its own; asked again later. */
  | "server";

/** What one QIDO-RS answer says. */
export type QidoAnswer =
  | {
    kind: "listed";
    /** SOP Instance UIDs of the matches on this page, exactly as the archive wrote them. */
    sopInstanceUids: string[];
    /** Matches on this page (with or without a SOP Instance UID). */
    count: number;
    /** The archive said more results can be requested (Warning: 299 … additional results). */
    more: boolean;
  }
  | {
    kind: "problem";
    problem: QidoProblemKind;
    /** One or two sentences naming the address; nothing was verified. */
    reason: string;
    retryAfterMs: number | null;
  };

function line(response: QidoHttpResponse): string {
  return `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ""}`;
}

function isWebPage(response: QidoHttpResponse): boolean {
  const type = mediaTypeOf(response.headers.get("content-type"));
  return type === "text/html" || type === "application/xhtml+xml" ||
    /^\s*(<!doctype html|<html[\s>])/i.test(response.body);
}

/**
 * PS3.18 §8.3.4.4 / §10.6.3.2: when there are more matches than returned, the response carries
 * `Warning: 299 {service}: There are additional results that can be requested`.
 */
function saysMore(warning: string | null): boolean {
  return warning !== null && /\b299\b/.test(warning) && /additional results/i.test(warning);
}

/** The SOP Instance UID of one DICOM JSON object (PS3.18 F.2.2: `{"00080018": {"vr": "UI", "Value": [uid]}}`). */
function sopInstanceUidOf(item: Record<string, unknown>): string | null {
  const element = item[SOP_INSTANCE_UID_TAG];
  if (typeof element !== "object" || element === null) return null;
  const value = (element as { Value?: unknown }).Value;
  if (!Array.isArray(value) || typeof value[0] !== "string" || value[0] === "") return null;
  return value[0];
}

/**
 * Reads one answer to an instance-level QIDO-RS query (PS3.18 §10.6.3). Listed: 200 with a DICOM
 * JSON array (`application/dicom+json`, or `application/json` as some servers label it), or 204
 * (no match: an empty list). Anything else proves nothing and is a problem in plain words naming
 * `where`: a redirect (never followed), 401/403/407, 404, a web page, 400, another media type,
 * JSON that is not an array of objects, matches without a SOP Instance UID, 5xx.
 */
export function interpretQidoAnswer(
  response: QidoHttpResponse,
  options: { where: string; now: number },
): QidoAnswer {
  const { where } = options;
  const said = bodyExcerpt(response.body, 120);
  const problem = (
    kind: QidoProblemKind,
    reason: string,
    retryAfterMs: number | null = null,
  ): QidoAnswer => ({ kind: "problem", problem: kind, reason, retryAfterMs });
  if (response.status >= 300 && response.status < 400) {
    const location = response.headers.get("location");
    return problem(
      "redirect",
      `The server at ${where} answered the verification query with a redirect (${line(response)})` +
        (location ? ` to ${location}` : " without a Location") +
        ": redirects are not followed, so nothing is verified; give the archive's DICOMweb root itself " +
        "(a sign-in page here means a proxy in front of the archive wants a log-in)",
    );
  }
  if (response.status === 401 || response.status === 403 || response.status === 407) {
    return problem(
      "credentials",
      `The server at ${where} refused the verification query (${line(response)}): the credentials are not ` +
        "accepted for searches (QIDO-RS); nothing is verified and no local copy is deleted",
    );
  }
  if (response.status === 404 || response.status === 405 || response.status === 501) {
    return problem(
      "not-found",
      `The server at ${where} answered the verification query with ${line(response)}: it does not seem to ` +
        'offer DICOMweb searches (QIDO-RS) there. If the archive has none, set verify = "response" in [upload]',
    );
  }
  if (response.status === 408 || response.status === 429 || response.status >= 500) {
    return problem(
      "server",
      `The server at ${where} answered the verification query with ${line(response)}${
        said ? ` (${said})` : ""
      }`,
      parseRetryAfter(response.headers.get("retry-after"), options.now),
    );
  }
  if (response.status === 204) return { kind: "listed", sopInstanceUids: [], count: 0, more: false };
  if (isWebPage(response)) {
    return problem(
      "not-dicomweb",
      `The server at ${where} answered the verification query with a web page (${line(response)}), not a ` +
        "DICOMweb search result: check the DICOMweb address",
    );
  }
  const type = mediaTypeOf(response.headers.get("content-type"));
  if (response.status !== 200) {
    return problem(
      "not-dicomweb",
      `The server at ${where} answered the verification query with ${line(response)}${
        said ? ` (${said})` : ""
      }, not a DICOMweb search result`,
    );
  }
  if (type !== "" && type !== "application/dicom+json" && type !== "application/json") {
    return problem(
      "not-dicomweb",
      `The server at ${where} answered the verification query with ${line(response)} of type ${type}, not ` +
        "DICOM JSON (application/dicom+json): check the DICOMweb address",
    );
  }
  let json: unknown;
  try {
    json = response.body.trim() === "" ? [] : JSON.parse(response.body);
  } catch {
    json = undefined;
  }
  if (
    !Array.isArray(json) ||
    !json.every((item) => typeof item === "object" && item !== null && !Array.isArray(item))
  ) {
    return problem(
      "not-dicomweb",
      `The server at ${where} answered the verification query with ${
        line(response)
      } but not with a list of ` +
        `DICOM JSON objects${said ? ` (it said: ${said})` : ""}`,
    );
  }
  const items = json as Record<string, unknown>[];
  const sopInstanceUids = items.flatMap((item) => {
    const uid = sopInstanceUidOf(item);
    return uid === null ? [] : [uid];
  });
  if (items.length > 0 && sopInstanceUids.length === 0) {
    return problem(
      "not-dicomweb",
      `The server at ${where} answered the verification query with ${items.length} matches but none carries ` +
        "its SOP Instance UID (0008,0018): nothing can be verified",
    );
  }
  return {
    kind: "listed",
    sopInstanceUids,
    count: items.length,
    more: saysMore(response.headers.get("warning")),
  };
}

/**
 * The offset of the next page, or null when the last page has been read: a page with no match, a
 * short page without the "additional results" warning, or a page that listed nothing new (a
 * server that ignores `offset` would otherwise be asked for ever).
 */
export function nextPageOffset(
  page: { count: number; more: boolean; newUids: number },
  request: { limit: number; offset: number },
): number | null {
  if (page.count === 0 || page.newUids === 0) return null;
  if (page.count < request.limit && !page.more) return null;
  return request.offset + page.count;
}

/**
 * When an instance the archive did not list is asked about again: `misses` queries already missed
 * it before this one; returns `now` + the next delay of `delays`, or null when the delays are used
 * up (then it is sent again).
 */
export function recheckAt(
  misses: number,
  now: number,
  delays: readonly number[] = RECHECK_DELAYS_MS,
): number | null {
  const delay = delays[Math.max(0, Math.floor(misses))];
  return delay === undefined ? null : now + delay;
}
