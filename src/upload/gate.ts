/**
 * The upload gate, as plain values and pure functions: when the next request may go, how many may
 * be in flight and how big a batch may be, after each kind of answer. The uploader keeps one
 * {@linkcode GateState} and replaces it with what these functions return; time and randomness are
 * passed in, so tests drive it with a fake clock.
 *
 * - A retryable failure (network, TLS, timeout, 408/429/5xx, an answer that proves nothing) closes
 *   the gate for a capped full-jitter backoff (Retry-After honoured), and while failing only one
 *   single-instance probe is in flight.
 * - Credentials rejected (401/403/407, a refused OAuth2 client) pause the whole queue for
 *   `credentialsRetryMs`; nothing is marked failed.
 * - Any answer the server gives about the instances reopens the gate at full concurrency.
 * @module
 */
import { retryDelayMs } from "./retry.ts";

/** The gate between the queue and the server. */
export interface GateState {
  /** Retryable failures in a row (0: the server answers). */
  readonly consecutiveFailures: number;
  /** No request starts before this time (ms since the epoch; 0: open). */
  readonly closedUntil: number;
  /** The server or the sign-in service refused the credentials: the queue is paused. */
  readonly credentialsRejected: boolean;
}

/** The gate of a fresh start or a new configuration: open. */
export const OPEN_GATE: GateState = { consecutiveFailures: 0, closedUntil: 0, credentialsRejected: false };

/** True while failing or paused: requests are single-instance probes, one at a time. */
export function isProbing(gate: GateState): boolean {
  return gate.consecutiveFailures > 0 || gate.credentialsRejected;
}

/** True when a request may start at `now`. */
export function isOpen(gate: GateState, now: number): boolean {
  return now >= gate.closedUntil;
}

/** Requests allowed in flight: the configured concurrency, or 1 while probing. */
export function concurrencyLimit(gate: GateState, configured: number): number {
  return isProbing(gate) ? 1 : Math.max(1, configured);
}

/**
 * The batch limits: the configured ones, lowered to what a 413 taught, and a single instance while
 * probing (cheap for a server that keeps refusing).
 */
export function batchLimits(
  gate: GateState,
  limits: {
    batchMaxInstances: number;
    batchMaxBytes: number;
    learnedMaxInstances: number | null;
    learnedMaxBytes: number | null;
  },
): { maxInstances: number; maxBytes: number } {
  return {
    maxInstances: isProbing(gate)
      ? 1
      : Math.max(1, Math.min(limits.batchMaxInstances, limits.learnedMaxInstances ?? Infinity)),
    maxBytes: Math.max(1, Math.min(limits.batchMaxBytes, limits.learnedMaxBytes ?? Infinity)),
  };
}

/** The server answered about the instances: the gate opens. `resumed` when it was failing or paused. */
export function afterAnswer(gate: GateState): { gate: GateState; resumed: boolean } {
  return { gate: OPEN_GATE, resumed: isProbing(gate) };
}

/**
 * A retryable failure at `now`: one more failure in a row, and the gate closed for the jittered
 * backoff (never shorter than Retry-After, never reopened earlier than it already was).
 */
export function afterRetryableFailure(
  gate: GateState,
  options: { now: number; baseMs: number; capMs: number; random: () => number; retryAfterMs: number | null },
): { gate: GateState; delayMs: number } {
  const consecutiveFailures = gate.consecutiveFailures + 1;
  const delayMs = retryDelayMs({
    attempt: consecutiveFailures,
    baseMs: options.baseMs,
    capMs: options.capMs,
    random: options.random,
    retryAfterMs: options.retryAfterMs,
  });
  return {
    gate: {
      consecutiveFailures,
      closedUntil: Math.max(gate.closedUntil, options.now + delayMs),
      credentialsRejected: gate.credentialsRejected,
    },
    delayMs,
  };
}

/**
 * The credentials were refused at `now`: paused for `retryMs`. `firstTime` when the queue was not
 * paused already (the caller logs the pause once).
 */
export function afterCredentialsRejected(
  gate: GateState,
  options: { now: number; retryMs: number },
): { gate: GateState; firstTime: boolean } {
  return {
    gate: {
      consecutiveFailures: gate.consecutiveFailures,
      closedUntil: options.now + options.retryMs,
      credentialsRejected: true,
    },
    firstTime: !gate.credentialsRejected,
  };
}

/** What the status page calls the uploader's state. */
export type UploadState = "idle" | "sending" | "retrying" | "credentials-rejected" | "not-configured";

/** The state shown for `gate` (set-up errors count as retrying). */
export function uploadState(
  gate: GateState,
  options: { configured: boolean; setupFailed: boolean; inFlight: number },
): UploadState {
  if (!options.configured) return "not-configured";
  if (gate.credentialsRejected) return "credentials-rejected";
  if (gate.consecutiveFailures > 0 || options.setupFailed) return "retrying";
  if (options.inFlight > 0) return "sending";
  return "idle";
}
