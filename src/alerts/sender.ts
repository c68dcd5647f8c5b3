/**
 * Delivering alerts to the webhook: a queue in memory, sent one at a time in order, each retried
 * with exponential backoff until the receiver answers 2xx. `enqueue` never waits and never
 * throws, so receiving and uploading are never held up by a webhook that is down or slow.
 * Redirects are not followed (`redirect: "manual"`: a 3xx is a failure, the token is never sent
 * on to another address); the proxy is the uploader's (`createTransport`).
 * @module
 */
import type { AlertBody } from "./message.ts";
import { redact } from "../upload/auth.ts";
import { logger } from "../log.ts";

const log = logger("alerts");

/** Options of {@link createAlertSender}. */
export interface AlertSenderOptions {
  url: string;
  /** Optional token header (name and secret value). */
  headerName?: string;
  headerValue?: string;
  /** The HTTP call (the uploader's transport: proxy, CA); default global fetch. */
  fetch?: (url: string, init: RequestInit) => Promise<Response>;
  /** Waits `ms`, resolving early when `signal` aborts (tests pass a fake). */
  wait?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** First retry delay (default 5 s), doubled up to `maxBackoffMs` (default 5 min). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** One attempt's time limit (default 10 s). */
  timeoutMs?: number;
  /** Most alerts kept while the receiver is down (default 500); the oldest are dropped beyond. */
  maxQueue?: number;
  /** Called when an alert has been delivered (its `id`). */
  onDelivered?: (id: number) => void;
}

/** A running sender. */
export interface AlertSenderHandle {
  /** Queues one alert; returns at once. */
  enqueue(id: number, body: AlertBody): void;
  /** Alerts not yet delivered. */
  readonly waiting: number;
  /** Resolves once the queue is empty (tests). */
  idle(): Promise<void>;
  /** Stops retrying; alerts still queued are dropped (they are in the log and on the page). */
  close(): Promise<void>;
}

function defaultWait(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done);
  });
}

/** Starts a sender for one webhook. */
export function createAlertSender(options: AlertSenderOptions): AlertSenderHandle {
  const queue: { id: number; body: AlertBody }[] = [];
  const stop = new AbortController();
  const wait = options.wait ?? defaultWait;
  const doFetch = options.fetch ?? ((url: string, init: RequestInit) => fetch(url, init));
  const minBackoff = options.minBackoffMs ?? 5_000;
  const maxBackoff = options.maxBackoffMs ?? 300_000;
  const maxQueue = options.maxQueue ?? 500;
  const secrets = [options.headerValue ?? "", options.url].filter((s) => s !== "");
  const shownUrl = (() => {
    try {
      return new URL(options.url).origin; // the path and query of a webhook URL are its secret
    } catch {
      return "(the webhook)";
    }
  })();
  let running: Promise<void> | null = null;
  let idleWaiters: (() => void)[] = [];

  async function attempt(body: AlertBody): Promise<string | null> {
    const headers = new Headers({ "Content-Type": "application/json; charset=utf-8" });
    if (options.headerName && options.headerValue) headers.set(options.headerName, options.headerValue);
    const signal = AbortSignal.any([stop.signal, AbortSignal.timeout(options.timeoutMs ?? 10_000)]);
    try {
      const response = await doFetch(options.url, {
        method: "POST",
        headers,
        body: JSON.stringify(body),
        redirect: "manual",
        signal,
      });
      await response.body?.cancel().catch(() => {});
      if (response.status >= 200 && response.status < 300) return null;
      const where = response.headers.get("location");
      // The gateway's one redaction (every encoded form of the token and of the webhook address).
      return redact(
        `the webhook answered ${response.status} ${response.statusText}` +
          (response.status >= 300 && response.status < 400 && where ? ` (a redirect, not followed)` : ""),
        secrets,
      );
    } catch (e) {
      return redact(e instanceof Error ? e.message : String(e), secrets);
    }
  }

  async function run(): Promise<void> {
    let backoff = minBackoff;
    let failures = 0;
    while (queue.length > 0 && !stop.signal.aborted) {
      const head = queue[0]!;
      const problem = await attempt(head.body);
      if (stop.signal.aborted) break;
      if (problem === null) {
        queue.shift();
        if (failures > 0) log.info("Alerts reach {url} again", { url: shownUrl });
        failures = 0;
        backoff = minBackoff;
        options.onDelivered?.(head.id);
        continue;
      }
      failures++;
      // Said once per outage (and every tenth try), not on every retry.
      if (failures === 1 || failures % 10 === 0) {
        log.warn(
          "Alert not delivered to {url}: {problem}. {waiting} alert(s) kept, retried in {seconds} s.",
          {
            url: shownUrl,
            problem,
            waiting: queue.length,
            seconds: Math.round(backoff / 1000),
          },
        );
      }
      await wait(backoff, stop.signal);
      backoff = Math.min(backoff * 2, maxBackoff);
    }
    running = null;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const w of waiters) w();
  }

  return {
    enqueue(id, body) {
      if (stop.signal.aborted) return;
      queue.push({ id, body });
      while (queue.length > maxQueue) queue.splice(1, 1); // keep the one being sent
      running ??= run();
    },
    get waiting() {
      return queue.length;
    },
    idle() {
      if (running === null) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },
    async close() {
      stop.abort();
      await running;
    },
  };
}
