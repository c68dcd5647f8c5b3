/**
 * The one connection probe, used by the status page's "Test connection" (through the uploader) and
 * by `doctor`: a QIDO-RS search `GET {root}/studies?limit=1` (PS3.18 §10.6.1, Search Transaction)
 * with the configured credentials, CA and proxy, never redirected. It counts as connected only when
 * the server answers like a DICOMweb server: 200 with a DICOM JSON array (PS3.18 §10.6.3.3,
 * Annex F.2) or 204 No Content (a search with no match). A 400, a web page, a redirect or any other
 * answer is a failure, told in plain words that name the address; no secret appears in the result.
 * @module
 */
import { messageOf } from "../errors.ts";
import type { UploadConfig } from "../config/types.ts";
import { studiesSuffixProblem } from "../dicomweb_url.ts";
import { configuredSecrets, createAuthProvider, CredentialsRejectedError, redact } from "./auth.ts";
import {
  createTransport,
  describeNetworkError,
  type HttpTransport,
  InsecureCredentialsError,
  sendRequest,
  startIdleTimer,
} from "./http.ts";
import { instancesQueryUrl, interpretQidoAnswer, type QidoProblemKind } from "./qido.ts";
import { bodyExcerpt, mediaTypeOf } from "./response.ts";
import { stowUrl } from "./stow.ts";

/** What the probe found. */
export type ProbeKind =
  /** 200 DICOM JSON or 204: a DICOMweb server that accepts our sign-in. */
  | "connected"
  | "not-configured"
  /** The address ends in /studies, credentials over plain http, an unreadable CA file. */
  | "setup"
  /** The OAuth2 token service refused the client (RFC 6749 §5.2). */
  | "sign-in-rejected"
  /** The OAuth2 token service could not be reached or failed. */
  | "sign-in-failed"
  /** No HTTP answer: DNS, TLS, refused, timeout, proxy. */
  | "network"
  /** 401, 403 (or 407 from a proxy). */
  | "credentials"
  /** Any 3xx: not followed. */
  | "redirect"
  /** 404: the address is not a DICOMweb root. */
  | "not-found"
  /** An answer that is not DICOM JSON: a web page, 400, another media type. */
  | "not-dicomweb"
  /** 5xx: the server has a problem of its own. */
  | "server-error";

/** The result of {@linkcode probeConnection}. Contains no secret. */
export interface ProbeResult {
  ok: boolean;
  kind: ProbeKind;
  /** One or two sentences for the operator, naming the address. */
  message: string;
  /** `HTTP 200 OK` etc. when the server answered. */
  statusLine: string | null;
  status: number | null;
  /** The server's `Date` header, when it answered (doctor compares clocks). */
  serverDate: string | null;
  /** The URL asked, without user-info or query. */
  target: string;
}

/** Options of {@linkcode probeConnection}. */
export interface ProbeOptions {
  /** Replaces the global fetch (tests). */
  fetch?: typeof fetch;
  now?: () => number;
  /** Idle limit of the probe's requests (default: the configured idle timeout, at most 30 s). */
  timeoutMs?: number;
}

function isDicomJsonArray(body: string): boolean {
  try {
    const json: unknown = JSON.parse(body);
    return Array.isArray(json) &&
      json.every((item) => typeof item === "object" && item !== null && !Array.isArray(item));
  } catch {
    return false;
  }
}

/** The answer to one signed-in GET, or why there is none (a sentence naming the address, redacted). */
type SignedInAnswer =
  | { answer: HttpAnswer; secrets: () => string[] }
  | {
    answer?: undefined;
    kind: "not-configured" | "setup" | "sign-in-rejected" | "sign-in-failed" | "network";
    message: string;
  };

type HttpAnswer = Awaited<ReturnType<typeof sendRequest>>;

/**
 * One GET of `url` with the configured credentials, CA and proxy, never redirected (both probes):
 * the address is checked first (empty, `/studies`), then the transport, the sign-in and the request.
 */
async function signedInGet(
  config: UploadConfig,
  url: string,
  options: ProbeOptions,
): Promise<SignedInAnswer> {
  const secrets = configuredSecrets(config);
  const where = redact(config.url.trim(), secrets);
  if (config.url.trim() === "") {
    return { kind: "not-configured", message: "No upload destination is configured." };
  }
  const suffix = studiesSuffixProblem(config.url);
  if (suffix !== null) return { kind: "setup", message: suffix };
  let transport: HttpTransport;
  try {
    transport = await createTransport(config, options.fetch ?? fetch);
  } catch (error) {
    return { kind: "setup", message: redact(messageOf(error), secrets) };
  }
  const timeoutMs = options.timeoutMs ?? Math.min(config.idleTimeoutMs, 30_000);
  const auth = createAuthProvider(config.auth, {
    transport,
    ...(options.now === undefined ? {} : { now: options.now }),
    idleTimeoutMs: timeoutMs,
  });
  const all = () => [...secrets, ...auth.secrets()];
  try {
    let headers: Record<string, string>;
    try {
      headers = await auth.headers();
    } catch (error) {
      const message = messageOf(error);
      return error instanceof CredentialsRejectedError
        ? {
          kind: "sign-in-rejected",
          message: redact(`The OAuth2 credentials were rejected: ${message}`, all()),
        }
        : { kind: "sign-in-failed", message: redact(`The OAuth2 sign-in failed: ${message}`, all()) };
    }
    try {
      const answer = await sendRequest(transport, url, {
        method: "GET",
        headers: { ...headers, accept: "application/dicom+json" },
        timer: startIdleTimer(timeoutMs),
        maxBodyBytes: 64 * 1024,
        ...(config.auth.kind === "none" ? {} : { credentials: "the upload address" }),
      });
      return { answer, secrets: all };
    } catch (error) {
      if (error instanceof InsecureCredentialsError) return { kind: "setup", message: error.message };
      return {
        kind: "network",
        message: redact(`Cannot reach ${where}: ${describeNetworkError(error).message}`, all()),
      };
    }
  } finally {
    transport.close();
  }
}

/** Probes the configured DICOMweb server (see the module documentation). */
export async function probeConnection(
  config: UploadConfig,
  options: ProbeOptions = {},
): Promise<ProbeResult> {
  const secrets = configuredSecrets(config);
  const where = redact(config.url.trim(), secrets);
  const url = `${stowUrl(config.url)}?limit=1`;
  const target = redact(url.replace(/\?.*$/, ""), secrets);
  const result = (
    ok: boolean,
    kind: ProbeKind,
    message: string,
    answer: { status: number; statusText: string; headers: Headers } | null = null,
  ): ProbeResult => ({
    ok,
    kind,
    message: redact(message, secrets),
    status: answer?.status ?? null,
    statusLine: answer === null
      ? null
      : `HTTP ${answer.status}${answer.statusText ? ` ${answer.statusText}` : ""}`,
    serverDate: answer?.headers.get("date") ?? null,
    target,
  });
  const got = await signedInGet(config, url, options);
  if (got.answer === undefined) return result(false, got.kind, got.message);
  const answer = got.answer;
  const line = `HTTP ${answer.status}${answer.statusText ? ` ${answer.statusText}` : ""}`;
  const type = mediaTypeOf(answer.headers.get("content-type"));
  const said = bodyExcerpt(answer.body, 120);
  if (answer.status >= 300 && answer.status < 400) {
    const location = answer.headers.get("location");
    return result(
      false,
      "redirect",
      `${where} answered the DICOMweb query with a redirect (${line})${location ? ` to ${location}` : ""}: ` +
        "redirects are not followed (credentials stay with their server); give the archive's DICOMweb root " +
        "itself (a sign-in page means a proxy in front of the archive wants a log-in).",
      answer,
    );
  }
  if (answer.status === 401 || answer.status === 403 || answer.status === 407) {
    return result(
      false,
      "credentials",
      `${where} rejected the credentials (${line}). Check the user name, password or token.`,
      answer,
    );
  }
  if (answer.status === 404) {
    return result(
      false,
      "not-found",
      `${where} answered ${line}: is this the server's DICOMweb root URL?`,
      answer,
    );
  }
  if (answer.status >= 500) {
    return result(
      false,
      "server-error",
      `${where} answered ${line}: the server has a problem of its own.`,
      answer,
    );
  }
  const webPage = type === "text/html" || type === "application/xhtml+xml" ||
    /^\s*(<!doctype html|<html[\s>])/i.test(answer.body);
  if (answer.status === 204 || (answer.status === 200 && !webPage && isDicomJsonArray(answer.body))) {
    return result(true, "connected", `Connected: ${where} answered a DICOMweb query (${line}).`, answer);
  }
  if (webPage) {
    return result(
      false,
      "not-dicomweb",
      `${where} answered the DICOMweb query with a web page (${line}), not a DICOMweb response: check the ` +
        "DICOMweb address.",
      answer,
    );
  }
  return result(
    false,
    "not-dicomweb",
    `${where} answered the DICOMweb query with ${line}${type ? ` (${type})` : ""}, not a DICOM JSON search ` +
      `result: check the DICOMweb address${said ? ` (it said: ${said})` : ""}.`,
    answer,
  );
}

/** The result of {@linkcode probeInstanceSearch}. Contains no secret. */
export interface InstanceSearchProbe {
  ok: boolean;
  /** "listed" when the archive answered like a DICOMweb search; else the problem kind, or "network"/"setup". */
  kind: "listed" | QidoProblemKind | "network" | "setup";
  /** One or two sentences for the operator, naming the address. */
  message: string;
  statusLine: string | null;
}

/**
 * Does the archive answer the search the verifier sends (PS3.18 §10.6.1 QIDO-RS at the instance
 * level of a series, `includefield=00080018`, `limit`/`offset`) with the configured credentials,
 * CA and proxy, never redirected? Asks about a series no archive holds (UIDs under the 2.25 root
 * that match nothing): a DICOMweb server answers 200 with an empty DICOM JSON array or 204. The
 * answer is read by the verifier's own parser (`qido.ts`), so what passes here is what works there.
 */
export async function probeInstanceSearch(
  config: UploadConfig,
  options: ProbeOptions = {},
): Promise<InstanceSearchProbe> {
  const secrets = configuredSecrets(config);
  const where = redact(config.url.trim(), secrets);
  const result = (
    ok: boolean,
    kind: InstanceSearchProbe["kind"],
    message: string,
    line: string | null = null,
  ) => ({
    ok,
    kind,
    message: redact(message, secrets),
    statusLine: line,
  });
  const url = instancesQueryUrl(config.url, NO_SUCH_SERIES, { limit: 1, offset: 0 });
  const got = await signedInGet(config, url, options);
  if (got.answer === undefined) {
    // The search probe reports any sign-in problem as a credentials problem.
    const kind = got.kind === "sign-in-rejected" || got.kind === "sign-in-failed"
      ? "credentials"
      : got.kind === "not-configured"
      ? "setup"
      : got.kind;
    return result(false, kind, got.message);
  }
  const answer = got.answer;
  const line = `HTTP ${answer.status}${answer.statusText ? ` ${answer.statusText}` : ""}`;
  const read = interpretQidoAnswer(answer, { where, now: (options.now ?? Date.now)() });
  if (read.kind === "listed") {
    return result(
      true,
      "listed",
      `${where} answered a DICOMweb instance search (QIDO-RS) (${line}).`,
      line,
    );
  }
  return result(false, read.problem, redact(read.reason, got.secrets()), line);
}

/** A series no archive holds: UUID-derived UIDs (PS3.5 §B.2, root 2.25) made of zeros and ones. */
const NO_SUCH_SERIES = {
  studyInstanceUid: "2.25.1000000000000000000001",
  seriesInstanceUid: "2.25.1000000000000000000002",
};
