/**
 * Verification by query, the I/O loop: once a series' instances are delivered (the STOW-RS answer
 * listed them), ask the archive which instances of that series it holds — one QIDO-RS search per
 * series, paged (`qido.ts`) — and mark each delivered instance it lists *verified*, comparing SOP
 * Instance UIDs exactly as the queue index holds them. An instance the archive does not list is
 * asked about again after 2 s, 10 s and 60 s (archives index asynchronously), then sent again
 * (back to pending). Only verified instances may be deleted by retention (`store/retention.ts`).
 *
 * The loop runs beside the uploader and never blocks sends: one query at a time, on the uploader's
 * transport and sign-in (same CA, proxy, credentials rule, never redirected). A query that proves
 * nothing (a web page, 401, a redirect, 5xx…) verifies nothing: the problem is reported in plain
 * words and the query is tried again with backoff. With `upload.verify = "response"` it does nothing.
 * @module
 */
import { messageOf } from "../errors.ts";
import type { UploadConfig } from "../config/types.ts";
import { logger } from "../log.ts";
import type { NotListed, QueueIndex, SeriesToVerify } from "../store/queue_index.ts";
import { type AuthProvider, CredentialsRejectedError } from "./auth.ts";
import { type HttpTransport, sendRequest, startIdleTimer, StoppedError } from "./http.ts";
import {
  DEFAULT_PAGE_SIZE,
  instancesQueryUrl,
  interpretQidoAnswer,
  nextPageOffset,
  RECHECK_DELAYS_MS,
  recheckAt,
} from "./qido.ts";
import { backoffDelayMs } from "./retry.ts";

const log = logger("upload");

/** What the verifier borrows from the uploader for each query. */
export interface VerifierContext {
  transport: HttpTransport;
  auth: AuthProvider;
  config: Pick<UploadConfig, "url" | "idleTimeoutMs" | "auth" | "verify" | "maxBackoffMs">;
  /** The address as shown to the operator (no secret). */
  where: string;
}

/** How verification is going, for the status page. Contains no secret. */
export interface VerificationHealth {
  /** `upload.verify`: "query", or "response" (the STOW-RS answer is the only proof). */
  mode: "query" | "response";
  /** Last time a query verified something. */
  lastVerifiedAt: number | null;
  /** Why the last query proved nothing (cleared by the next answer that lists), or null. */
  problem: string | null;
  problemAt: number | null;
  /** QIDO-RS requests sent since start (figures). */
  queries: number;
}

/** Options of {@linkcode Verifier}. The timing ones are for tests. */
export interface VerifierOptions {
  index: QueueIndex;
  /** The uploader's transport, sign-in and settings; null while it is not set up. */
  context: () => VerifierContext | null;
  now?: () => number;
  random?: () => number;
  /** Results asked for per page (default 1000). */
  pageSize?: number;
  /** A series is queried once its last delivery is this old and nothing of it waits (default 300 ms). */
  settleMs?: number;
  /** …or once its oldest unverified delivery waited this long (default 30 s). */
  maxWaitMs?: number;
  /** Re-query delays of an instance not listed (default 2 s, 10 s, 60 s). */
  recheckDelaysMs?: readonly number[];
  /** First backoff step after a query that proved nothing (default 1 s). */
  retryBaseMs?: number;
  /** Replaces secrets in texts that go to the log and the status page. */
  redact?: (text: string) => string;
  /** Called after instances were verified (retention may have work). */
  onVerified?: () => void;
  /** Called when a pass ends (no query in flight: a replaced transport may be closed). */
  onIdle?: () => void;
}

/** The verification loop (see the module documentation). */
export class Verifier {
  readonly #index: QueueIndex;
  readonly #context: () => VerifierContext | null;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #pageSize: number;
  readonly #settleMs: number;
  readonly #maxWaitMs: number;
  readonly #recheckDelays: readonly number[];
  readonly #retryBaseMs: number;
  readonly #redact: (text: string) => string;
  readonly #onVerified: () => void;
  readonly #onIdle: () => void;

  #started = false;
  #stopping = false;
  readonly #stopController = new AbortController();
  #unsubscribe: (() => void) | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = 0;
  #running: Promise<void> | null = null;
  #again = false;
  #failures = 0;
  #closedUntil = 0;
  #health: VerificationHealth = {
    mode: "query",
    lastVerifiedAt: null,
    problem: null,
    problemAt: null,
    queries: 0,
  };

  /** Creates a verifier; nothing happens until {@linkcode Verifier.start}. */
  constructor(options: VerifierOptions) {
    this.#index = options.index;
    this.#context = options.context;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#pageSize = Math.max(1, options.pageSize ?? DEFAULT_PAGE_SIZE);
    this.#settleMs = options.settleMs ?? 300;
    this.#maxWaitMs = options.maxWaitMs ?? 30_000;
    this.#recheckDelays = options.recheckDelaysMs ?? RECHECK_DELAYS_MS;
    this.#retryBaseMs = options.retryBaseMs ?? 1_000;
    this.#redact = options.redact ?? ((text) => text);
    this.#onVerified = options.onVerified ?? (() => {});
    this.#onIdle = options.onIdle ?? (() => {});
  }

  /** True while a query is in flight (its transport must stay open). */
  get busy(): boolean {
    return this.#running !== null;
  }

  /** Starts: woken by every change of the index (deliveries), and by its own timers. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#unsubscribe = this.#index.onChange(() => this.#arm(this.#now() + this.#settleMs));
    this.poke();
  }

  /** Looks for work now (e.g. the settings changed: any backoff is cleared). */
  poke(): void {
    this.#failures = 0;
    this.#closedUntil = 0;
    this.#arm(this.#now());
  }

  /** Stops: no new query; one in flight is aborted. */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#stopController.abort();
    await this.#running?.catch(() => {});
  }

  /** How verification is going (see {@linkcode VerificationHealth}). */
  health(): VerificationHealth {
    return { ...this.#health, mode: this.#context()?.config.verify ?? this.#health.mode };
  }

  #arm(at: number): void {
    if (this.#stopping || !this.#started) return;
    if (this.#running !== null) {
      this.#again = true;
      return;
    }
    const now = this.#now();
    if (this.#timer !== undefined && this.#timerAt <= at && this.#timerAt >= now) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#runOnce();
    }, Math.max(0, at - now));
  }

  #runOnce(): void {
    if (this.#stopping || this.#running !== null) return;
    this.#again = false;
    this.#running = this.#pass()
      .catch((error) => {
        this.#problem(`verification failed unexpectedly: ${messageOf(error)}`);
      })
      .finally(() => {
        this.#running = null;
        this.#onIdle();
        if (this.#stopping) return;
        this.#rearm();
      });
  }

  /** After a pass: again at once if woken meanwhile, else at the next due re-query or settle. */
  #rearm(): void {
    const context = this.#context();
    // Nothing to do until set up (the uploader pokes), nor ever with verify = "response".
    if (context === null || context.config.verify !== "query" || context.config.url.trim() === "") return;
    const now = this.#now();
    let at = Infinity;
    if (this.#closedUntil > now) at = this.#closedUntil;
    else {
      if (this.#again) at = now + this.#settleMs;
      let due: number | null = null;
      try {
        due = this.#index.nextVerifyDueAt();
      } catch {
        return; // index closed
      }
      // Due work not taken yet waits for its series to settle (or for maxWait): look again then.
      if (due !== null) at = Math.min(at, Math.max(due, now + this.#settleMs));
    }
    if (at !== Infinity) this.#arm(at);
  }

  async #pass(): Promise<void> {
    const context = this.#context();
    if (context === null || context.config.verify !== "query" || context.config.url.trim() === "") return;
    if (this.#closedUntil > this.#now()) return;
    while (!this.#stopping) {
      const series = this.#index.seriesToVerify(this.#now(), {
        settleMs: this.#settleMs,
        maxWaitMs: this.#maxWaitMs,
        limit: 20,
      });
      if (series.length === 0) return;
      for (const one of series) {
        if (this.#stopping) return;
        const ok = await this.#verifySeries(one, context);
        if (!ok) return;
      }
    }
  }

  /** One series: query (paged), mark what is listed, schedule or re-send what is not. False on a problem. */
  async #verifySeries(series: SeriesToVerify, context: VerifierContext): Promise<boolean> {
    const unverified = this.#index.unverifiedInSeries(series);
    if (unverified.length === 0) return true;
    const sought = new Map(unverified.map((row) => [row.sopInstanceUid, row]));
    const found = new Set<string>();
    const seen = new Set<string>();
    let offset = 0;
    while (found.size < sought.size) {
      const url = instancesQueryUrl(context.config.url, series, { limit: this.#pageSize, offset });
      const answer = await this.#query(url, context, false);
      if (answer === null) return false;
      if (answer.kind === "problem") {
        this.#problem(answer.reason, answer.retryAfterMs);
        return false;
      }
      let newUids = 0;
      for (const uid of answer.sopInstanceUids) {
        if (seen.has(uid)) continue;
        seen.add(uid);
        newUids++;
        if (sought.has(uid)) found.add(uid);
      }
      const next = nextPageOffset(
        { count: answer.count, more: answer.more, newUids },
        { limit: this.#pageSize, offset },
      );
      if (next === null) break;
      offset = next;
    }
    this.#failures = 0;
    if (this.#health.problem !== null) {
      log.info("Verification resumed: {where} answers DICOMweb searches again", { where: context.where });
    }
    this.#health = { ...this.#health, problem: null, problemAt: null };
    const now = this.#now();
    const verified = this.#index.markVerified(
      unverified.filter((row) => found.has(row.sopInstanceUid)),
      now,
    );
    if (verified > 0) {
      this.#health = { ...this.#health, lastVerifiedAt: now };
      const progress = this.#index.studyProgress(series.studyInstanceUid);
      const values = {
        study: series.studyInstanceUid,
        verified: progress.verified,
        received: progress.received,
      };
      if (progress.verified === progress.received) {
        log.info("Study {study}: {verified}/{received} instances verified in the archive — complete", values);
      } else {
        log.info("Study {study}: {verified}/{received} instances verified in the archive", values);
      }
      this.#onVerified();
    }
    const notListed: NotListed[] = unverified
      .filter((row) => !found.has(row.sopInstanceUid) && row.verifyDueAt <= now)
      .map((row) => ({
        sopInstanceUid: row.sopInstanceUid,
        generation: row.generation,
        recheckAt: recheckAt(row.verifyMisses, now, this.#recheckDelays),
      }));
    if (notListed.length > 0) {
      const reason = `the archive at ${context.where} does not list this instance (QIDO-RS) after ` +
        `${this.#recheckDelays.length + 1} queries: sending it again`;
      const { resend, recheck } = this.#index.markNotListed(notListed, now, reason);
      const values = { count: recheck, study: series.studyInstanceUid, series: series.seriesInstanceUid };
      if (recheck > 0) {
        log.warn(
          "The archive does not list {count} delivered instances of study {study} (series {series}) yet; asking again shortly",
          values,
        );
      }
      if (resend > 0) {
        log.warn(
          "{count} delivered instances of study {study} (series {series}) are missing from the archive: sending them again",
          { ...values, count: resend },
        );
      }
    }
    return true;
  }

  async #query(
    url: string,
    context: VerifierContext,
    authRetried: boolean,
  ): Promise<ReturnType<typeof interpretQidoAnswer> | null> {
    let headers: Record<string, string>;
    try {
      headers = await context.auth.headers(this.#stopController.signal);
    } catch (error) {
      if (this.#stopping) return null;
      const why = error instanceof CredentialsRejectedError
        ? `the sign-in for the verification query was refused: ${messageOf(error)}`
        : `the sign-in for the verification query failed: ${messageOf(error)}`;
      this.#problem(why);
      return null;
    }
    try {
      this.#health = { ...this.#health, queries: this.#health.queries + 1 };
      const result = await sendRequest(context.transport, url, {
        method: "GET",
        headers: { ...headers, accept: "application/dicom+json" },
        timer: startIdleTimer(context.config.idleTimeoutMs),
        stopSignal: this.#stopController.signal,
        ...(context.config.auth.kind === "none" ? {} : { credentials: "the upload address" }),
      });
      if (result.status === 401 && !authRetried && context.auth.invalidate()) {
        return await this.#query(url, context, true);
      }
      return interpretQidoAnswer(result, { where: context.where, now: this.#now() });
    } catch (error) {
      if (this.#stopping || error instanceof StoppedError) return null;
      this.#problem(`the verification query to ${context.where} failed: ${messageOf(error)}`);
      return null;
    }
  }

  #problem(reason: string, retryAfterMs: number | null = null): void {
    const now = this.#now();
    this.#failures++;
    const cap = this.#context()?.config.maxBackoffMs ?? 300_000;
    const delay = Math.max(
      retryAfterMs ?? 0,
      this.#retryBaseMs,
      backoffDelayMs(this.#failures, { baseMs: this.#retryBaseMs, capMs: cap, random: this.#random }),
    );
    this.#closedUntil = now + delay;
    const text = this.#redact(reason);
    if (this.#health.problem !== text) {
      log.warn("Verification: {reason}. Nothing is verified or deleted; asking again in {seconds} s", {
        reason: text,
        seconds: Math.round(delay / 1000),
      });
    }
    this.#health = { ...this.#health, problem: text, problemAt: now };
  }
}
