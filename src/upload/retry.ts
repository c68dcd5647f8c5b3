/**
 * The retry policy, as pure functions: exponential backoff with full jitter, capped; Retry-After
 * (RFC 9110 §10.2.3, delta-seconds or HTTP-date) honoured; and what each HTTP status of a STOW-RS
 * response means for the queue.
 * @module
 */

/** First backoff step (the delay before the first retry is at most this). */
export const DEFAULT_RETRY_BASE_MS = 1_000;

/** A Retry-After longer than this is not believed (a misconfigured server must not park the queue for days). */
export const RETRY_AFTER_LIMIT_MS = 60 * 60 * 1000;

/**
 * Full-jitter exponential backoff ("Exponential Backoff And Jitter", AWS architecture blog):
 * a uniformly random delay in `[0, min(capMs, baseMs · 2^(attempt-1))]`. `attempt` counts failures
 * so far, from 1. `random` returns values in [0, 1) (injected for tests).
 */
export function backoffDelayMs(
  attempt: number,
  options: { baseMs: number; capMs: number; random: () => number },
): number {
  const exponent = Math.min(Math.max(0, Math.floor(attempt) - 1), 52);
  const ceiling = Math.min(options.capMs, options.baseMs * 2 ** exponent);
  const r = Math.min(Math.max(options.random(), 0), 1);
  return Math.floor(r * Math.max(0, ceiling));
}

/**
 * Parses a Retry-After header value into milliseconds from `now`: either delta-seconds
 * (`Retry-After: 120`) or an HTTP-date (`Retry-After: Fri, 31 Dec 1999 23:59:59 GMT`), RFC 9110
 * §10.2.3. Returns null when absent or unparseable; a date in the past gives 0.
 */
export function parseRetryAfter(value: string | null | undefined, now: number): number | null {
  if (value === null || value === undefined) return null;
  const trimmed = value.trim();
  if (trimmed === "") return null;
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  if (!/[a-z]/i.test(trimmed)) return null;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - now);
}

/**
 * The delay before the next try after `attempt` consecutive failures: the jittered backoff, but
 * never less than what the server asked for with Retry-After (itself limited to
 * {@linkcode RETRY_AFTER_LIMIT_MS}).
 */
export function retryDelayMs(
  options: {
    attempt: number;
    baseMs: number;
    capMs: number;
    random: () => number;
    retryAfterMs: number | null;
  },
): number {
  const jittered = backoffDelayMs(options.attempt, options);
  if (options.retryAfterMs === null) return jittered;
  return Math.max(jittered, Math.min(options.retryAfterMs, RETRY_AFTER_LIMIT_MS));
}

/**
 * What an HTTP status of a STOW-RS response means for the instances of the request:
 * - `success`: 2xx — PS3.18 §10.5.3.1: 200 "The origin server successfully stored all Instances",
 *   202 "stored some of the Instances but warnings or failures exist for others".
 * - `retry`: the server or the path to it has a temporary problem (408, 429, 5xx): retried for ever.
 * - `credentials`: 401, 403, 407 — the queue pauses; no instance is marked failed.
 * - `too-large`: 413 — the batch is split in half.
 * - `configuration`: 404, 405, 411, 415, 426 — the URL or the server's set-up is wrong, not the
 *   instances: retried with backoff, the status page shows the reason.
 * - `instances`: 400, 409, 422 and other 4xx — PS3.18: 400 "unable to store any Instances due to bad
 *   syntax", 409 "unable to store any Instances due to a conflict in the request"; the body says
 *   which instances failed and why.
 */
export type StatusMeaning = "success" | "retry" | "credentials" | "too-large" | "configuration" | "instances";

/** Classifies an HTTP status code (see {@linkcode StatusMeaning}). */
export function classifyStatus(status: number): StatusMeaning {
  if (status >= 200 && status < 300) return "success";
  if (status === 401 || status === 403 || status === 407) return "credentials";
  if (status === 413) return "too-large";
  if (status === 408 || status === 429 || status === 425 || status >= 500) return "retry";
  if (status === 404 || status === 405 || status === 411 || status === 415 || status === 426) {
    return "configuration";
  }
  if (status >= 400) return "instances";
  // 1xx/3xx (redirects are not followed: the STOW answer reports them first) — try again later.
  return "retry";
}
