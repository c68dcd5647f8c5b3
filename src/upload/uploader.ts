/**
 * The uploader: claims batches of pending instances from the queue index (per study, within the
 * instance and byte limits), sends each as one STOW-RS request with the body streamed from disk,
 * and settles every instance from the server's answer — `concurrency` requests in flight, woken by
 * the index as soon as the receiver records an instance (pipelined: a study uploads while it
 * arrives).
 *
 * This file is the loop that claims, sends and settles. The decisions are pure and live beside it:
 * the gate (backoff, the credentials pause, batch limits) in `gate.ts`, what an answer proves in
 * `response.ts`, the connection test in `probe.ts`; retention is the store's (`store/retention.ts`).
 *
 * Never lost, never stuck:
 * - an instance is marked delivered only when the server's Store Instances Response lists it
 *   (`interpretStowResponse`); an answer that proves nothing (a web page, an empty 200, 204, a
 *   redirect, an instance in neither list) leaves it queued and retried with backoff; rows left
 *   "sending" by a crash go back to pending at start; a delivered instance is not sent again
 *   unless re-received;
 * - network/TLS errors, idle timeouts, 408, 429 and 5xx are retried for ever with capped
 *   full-jitter backoff (Retry-After honoured), one probe request at a time while failing;
 * - 413 splits the batch; a failure response that does not say which instance is bad is narrowed
 *   down by sending halves; only instances the server rejects for their content are marked failed;
 * - 401/403 pause the whole queue ("credentials rejected"), retried every minute or when the
 *   configuration changes; nothing is marked failed.
 *
 * Delivered is not the end: with `upload.verify = "query"` (the default) the verifier
 * (`verifier.ts`) runs beside this loop on the same transport and sign-in, asks the archive with
 * QIDO-RS which instances of each delivered series it holds, marks those verified, and puts back to
 * pending the ones it never lists. Retention deletes only verified files (only delivered ones with
 * `verify = "response"`).
 * Each batch passes the prepare stage (`prepare.ts`: lossless compression in the worker pool, the
 * fallback to the instance as received when the archive refuses the syntax) while other batches are
 * being sent, and every request body shares one rate limiter (`rate_limit.ts`, `upload.max_rate`).
 * Urgent studies (STAT/HIGH, `upload.urgent_ae_titles`) are claimed first.
 * @module
 */
import { messageOf } from "../errors.ts";
import type { UploadConfig } from "../config/types.ts";
import { logger } from "../log.ts";
import type { ClaimedInstance, ClaimRef, QueueIndex } from "../store/queue_index.ts";
import { absolutePath, type RetentionReport, RetentionRunner } from "../store/retention.ts";
import { studiesSuffixProblem } from "../dicomweb_url.ts";
import { type AuthProvider, configuredSecrets, createAuthProvider, redact } from "./auth.ts";
import {
  afterAnswer,
  afterCredentialsRejected,
  afterRetryableFailure,
  batchLimits,
  concurrencyLimit,
  type GateState,
  isOpen,
  OPEN_GATE,
  uploadState,
} from "./gate.ts";
import { HealthRecord, type UploadHealth } from "./health.ts";
import { createTransport, credentialsRefusal, type HttpTransport } from "./http.ts";
import { probeConnection } from "./probe.ts";
import { StudyProgressLog } from "./progress_log.ts";
import type { StowOutcome } from "./response.ts";
import { DEFAULT_RETRY_BASE_MS } from "./retry.ts";
import { type VerificationHealth, Verifier } from "./verifier.ts";
import { sendStowBatch, type SyntaxRefused } from "./stow_request.ts";
import {
  type CompressionRecord,
  type PreparedBatch,
  type PrepareItem,
  PrepareStage,
  refusesSyntax,
} from "./prepare.ts";
import { RateLimiter, type RateLimiterOptions } from "./rate_limit.ts";
import type { Compressor } from "./compress/compressor.ts";

export { stowUrl } from "./stow.ts";
export { HEALTH_STATE_KEY, type UploadHealth } from "./health.ts";
export type { VerificationHealth } from "./verifier.ts";

/** Options of {@linkcode Uploader}. The last six are for tests and rarely need changing. */
export interface UploaderOptions {
  index: QueueIndex;
  /** Folder the index's relative paths are relative to. */
  dataDir: string;
  config: UploadConfig;
  /** Replaces the global fetch (tests). */
  fetch?: typeof fetch;
  now?: () => number;
  random?: () => number;
  /** First backoff step (default 1 s). */
  retryBaseMs?: number;
  /** Delay between probes while credentials are rejected (default 60 s). */
  credentialsRetryMs?: number;
  /** Period of the retention pass (default 10 min; 0 disables the timer). */
  retentionIntervalMs?: number;
  /**
   * With nothing to send, look at the queue again this often (default 30 s): picks up instances
   * put back by another process (`dicom-gateway retry-failed`). One indexed query; 0 = never.
   */
  rescanMs?: number;
  /** `stop()` lets requests in flight finish for this long before aborting them (default 5 s). */
  stopGraceMs?: number;
  /** Free-space probe for retention (tests). */
  freeBytes?: () => number | null;
  /** Verifier timing and paging (tests; see {@linkcode Verifier}). */
  verifier?: {
    pageSize?: number;
    settleMs?: number;
    maxWaitMs?: number;
    recheckDelaysMs?: readonly number[];
  };
  /** Starts the compression worker pool (tests). */
  createCompressor?: (workers: number) => Compressor;
  /** Clock, local time and sleep of the shared rate limiter (tests). */
  rateLimiter?: RateLimiterOptions;
}

interface SendItem {
  claim: ClaimedInstance;
  size: number;
  /** Send the stored file even if compression is on (the archive refused the compressed one). */
  asReceived?: boolean;
}

const log = logger("upload");

/**
 * Batches claimed ahead of a free request slot while compressing, so the pool has work when every
 * request in flight has all its instances compressed or sent (it never idles while the link is
 * fed instances as received). One batch: an urgent study claimed later still goes first (see
 * `#nextBatch`), and what waits in memory stays a batch's compressed instances.
 */
const LOOKAHEAD_BATCHES = 1;

/** A batch claimed ahead, registered with the compression pool. */
interface StagedBatch {
  claims: ClaimedInstance[];
  prepared: PreparedBatch;
}

function refs(items: readonly SendItem[]): ClaimRef[] {
  return items.map((item) => ({
    sopInstanceUid: item.claim.sopInstanceUid,
    generation: item.claim.generation,
  }));
}

function prepareItem(claim: ClaimedInstance, size: number): PrepareItem {
  return { sopInstanceUid: claim.sopInstanceUid, sopClassUid: claim.sopClassUid, path: claim.path, size };
}

function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

/** Uploads the queue to the configured DICOMweb server. See the module documentation. */
export class Uploader {
  readonly #index: QueueIndex;
  readonly #dataDir: string;
  #config: UploadConfig;
  readonly #fetch: typeof fetch;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #retryBaseMs: number;
  readonly #credentialsRetryMs: number;
  readonly #retentionIntervalMs: number;
  readonly #rescanMs: number;
  readonly #stopGraceMs: number;
  readonly #retention: RetentionRunner;
  readonly #verifier: Verifier;

  #transport: HttpTransport | null = null;
  /** Transports replaced by setConfig, closed once no request uses them. */
  readonly #retired: HttpTransport[] = [];
  #auth: AuthProvider | null = null;
  #setupError: string | null = null;
  #setupGeneration = 0;
  #started = false;
  #stopping = false;
  #stopController = new AbortController();
  #unsubscribe: (() => void) | null = null;
  #pumpQueued = false;
  #wakeTimer: ReturnType<typeof setTimeout> | undefined;
  #wakeAt = 0;
  #retentionTimer: ReturnType<typeof setInterval> | undefined;
  #setupTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #active = new Set<Promise<void>>();
  /** Batches claimed ahead of a free request slot (the look-ahead), oldest first. */
  #staged: StagedBatch[] = [];

  #inFlight = 0;
  #gate: GateState = OPEN_GATE;
  #learnedMaxInstances: number | null = null;
  #learnedMaxBytes: number | null = null;
  #lastSuccessAt: number | null = null;
  #lastError: string | null = null;
  #lastErrorAt: number | null = null;
  readonly #healthRecord: HealthRecord;
  readonly #progress: StudyProgressLog;
  readonly #prepare: PrepareStage;
  readonly #limiter: RateLimiter;

  /** Creates an uploader; nothing happens until {@linkcode Uploader.start}. */
  constructor(options: UploaderOptions) {
    this.#index = options.index;
    this.#dataDir = options.dataDir;
    this.#config = options.config;
    this.#fetch = options.fetch ?? fetch;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#retryBaseMs = options.retryBaseMs ?? DEFAULT_RETRY_BASE_MS;
    this.#credentialsRetryMs = options.credentialsRetryMs ?? 60_000;
    this.#retentionIntervalMs = options.retentionIntervalMs ?? 10 * 60_000;
    this.#rescanMs = options.rescanMs ?? 30_000;
    this.#stopGraceMs = options.stopGraceMs ?? 5_000;
    this.#retention = new RetentionRunner({
      index: this.#index,
      dataDir: this.#dataDir,
      settings: () => this.#config,
      now: this.#now,
      ...(options.freeBytes === undefined ? {} : { freeBytes: options.freeBytes }),
    });
    this.#verifier = new Verifier({
      index: this.#index,
      context: () =>
        this.#transport === null || this.#auth === null || !this.#configured ? null : {
          transport: this.#transport,
          auth: this.#auth,
          config: this.#config,
          where: this.#safeUrl(),
        },
      now: this.#now,
      random: this.#random,
      retryBaseMs: this.#retryBaseMs,
      redact: (text) => this.#redact(text),
      onVerified: () => this.#retention.afterDelivery(),
      onIdle: () => this.#closeRetired(),
      ...options.verifier,
    });
    this.#progress = new StudyProgressLog((study) => this.#index.studyProgress(study), this.#now);
    this.#healthRecord = new HealthRecord(this.#index);
    this.#lastSuccessAt = this.#healthRecord.savedLastSuccessAt();
    this.#prepare = new PrepareStage({
      index: this.#index,
      dataDir: this.#dataDir,
      now: this.#now,
      ...(options.createCompressor === undefined ? {} : { createCompressor: options.createCompressor }),
    });
    this.#prepare.configure(this.#config);
    this.#limiter = new RateLimiter(this.#config, options.rateLimiter);
  }

  get #configured(): boolean {
    return this.#config.url.trim() !== "";
  }

  /**
   * Starts uploading: rows left "sending" by a previous run go back to pending, the index wakes the
   * uploader on every change, and the retention pass runs periodically.
   */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    const requeued = this.#index.requeueSending();
    if (requeued > 0) {
      log.info("{count} instances were being sent when the gateway stopped; they will be sent again", {
        count: requeued,
      });
    }
    this.#unsubscribe = this.#index.onChange(() => this.#schedulePump());
    if (this.#retentionIntervalMs > 0) {
      this.#retentionTimer = setInterval(() => this.runRetention(), this.#retentionIntervalMs);
      this.runRetention();
    }
    if (!this.#configured) {
      log.warn(
        "No upload destination is configured: received instances are kept on disk, nothing is uploaded",
      );
    } else {
      log.info("Uploading to {url}", { url: this.#safeUrl() });
    }
    this.#verifier.start();
    void this.#setup();
    this.#publish(true);
  }

  /** Replaces the configuration (e.g. new credentials): the pause and backoff are cleared and everything due now. */
  async setConfig(config: UploadConfig): Promise<void> {
    this.#releaseStaged(0);
    this.#config = config;
    this.#prepare.configure(config);
    this.#limiter.setSchedule(config);
    this.#learnedMaxBytes = null;
    this.#learnedMaxInstances = null;
    this.#gate = OPEN_GATE;
    await this.#setup();
    if (this.#started && !this.#stopping) {
      this.#index.makeAllDue();
      this.#verifier.poke();
    }
    this.#publish(true);
    this.#schedulePump();
  }

  async #setup(): Promise<void> {
    const generation = ++this.#setupGeneration;
    const old = this.#transport;
    this.#transport = null;
    this.#auth = null;
    this.#setupError = null;
    if (!this.#configured) return;
    const refusal = studiesSuffixProblem(this.#config.url) ??
      (this.#config.auth.kind === "none" ? null : credentialsRefusal(this.#config.url, "the upload address"));
    if (refusal !== null) {
      this.#setupError = this.#redact(refusal);
      this.#lastError = this.#setupError;
      this.#lastErrorAt = this.#now();
      log.error("Cannot upload: {reason}", { reason: this.#setupError });
      if (old !== null) this.#retired.push(old);
      this.#closeRetired();
      this.#schedulePump();
      return;
    }
    try {
      const transport = await createTransport(this.#config, this.#fetch);
      if (generation !== this.#setupGeneration) {
        transport.close();
        return;
      }
      this.#transport = transport;
      this.#auth = createAuthProvider(this.#config.auth, {
        transport,
        now: this.#now,
        idleTimeoutMs: this.#config.idleTimeoutMs,
      });
    } catch (error) {
      this.#setupError = this.#redact(messageOf(error));
      this.#lastError = this.#setupError;
      this.#lastErrorAt = this.#now();
      log.error("Cannot upload: {reason}", { reason: this.#setupError });
    } finally {
      if (old !== null) this.#retired.push(old);
      this.#closeRetired();
    }
    this.#verifier.poke();
    this.#schedulePump();
  }

  /** Stops: no new request; requests in flight may finish for a short grace period, then are aborted. */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    if (this.#wakeTimer !== undefined) clearTimeout(this.#wakeTimer);
    if (this.#retentionTimer !== undefined) clearInterval(this.#retentionTimer);
    if (this.#setupTimer !== undefined) clearTimeout(this.#setupTimer);
    this.#releaseStaged(0);
    if (this.#active.size > 0) {
      let timeout: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.allSettled([...this.#active]),
        new Promise<void>((resolve) => timeout = setTimeout(resolve, this.#stopGraceMs)),
      ]);
      clearTimeout(timeout);
    }
    this.#stopController.abort();
    await Promise.allSettled([...this.#active]);
    await this.#verifier.stop();
    this.#transport?.close();
    this.#transport = null;
    this.#closeRetired();
    this.#prepare.close();
    try {
      this.#publish(true);
    } catch {
      // the index may already be closed
    }
  }

  /** The current health (see {@linkcode UploadHealth}). */
  health(): UploadHealth {
    const now = this.#now();
    const state = uploadState(this.#gate, {
      configured: this.#configured,
      setupFailed: this.#setupError !== null,
      inFlight: this.#inFlight,
    });
    const waiting = state === "retrying" || state === "credentials-rejected";
    return {
      configured: this.#configured,
      state,
      lastSuccessAt: this.#lastSuccessAt,
      lastError: this.#lastError,
      lastErrorAt: this.#lastErrorAt,
      nextRetryAt: waiting && this.#gate.closedUntil > now ? this.#gate.closedUntil : null,
      inFlight: this.#inFlight,
      verification: this.verification(),
    };
  }

  /** How verification by query is going (mode, last verification, the current problem). */
  verification(): VerificationHealth {
    return { ...this.#verifier.health(), mode: this.#config.verify };
  }

  /**
   * Checks the destination without uploading: the one connection probe (`probe.ts`, also used by
   * `doctor`) with the current configuration, credentials, CA and proxy.
   */
  async testConnection(): Promise<{ ok: boolean; message: string }> {
    const probe = await probeConnection(this.#config, { fetch: this.#fetch, now: this.#now });
    return { ok: probe.ok, message: this.#redact(probe.message) };
  }

  /** Compression counts and the syntaxes destinations refused (see `prepare.ts`). */
  compression(): CompressionRecord {
    return this.#prepare.record();
  }

  /** Runs one retention pass now (also runs periodically). Returns what it did, or null if it failed. */
  runRetention(): RetentionReport | null {
    return this.#retention.run();
  }

  // ---- the pump: claim → send → settle ----

  #schedulePump(): void {
    if (this.#pumpQueued || this.#stopping || !this.#started) return;
    this.#pumpQueued = true;
    queueMicrotask(() => {
      this.#pumpQueued = false;
      try {
        this.#pump();
      } catch (error) {
        log.error("Upload queue error: {error}", { error: String(error) });
        this.#armWake(this.#now() + 5_000);
      }
    });
  }

  #armWake(at: number): void {
    if (this.#stopping) return;
    if (this.#wakeTimer !== undefined && this.#wakeAt <= at && this.#wakeAt > this.#now()) return;
    if (this.#wakeTimer !== undefined) clearTimeout(this.#wakeTimer);
    this.#wakeAt = at;
    this.#wakeTimer = setTimeout(() => {
      this.#wakeTimer = undefined;
      this.#schedulePump();
    }, Math.max(0, at - this.#now()) + 5);
  }

  #limits(): { maxInstances: number; maxBytes: number } {
    return batchLimits(this.#gate, {
      batchMaxInstances: this.#config.batchMaxInstances,
      batchMaxBytes: this.#config.batchMaxBytes,
      learnedMaxInstances: this.#learnedMaxInstances,
      learnedMaxBytes: this.#learnedMaxBytes,
    });
  }

  #pump(): void {
    if (this.#stopping || !this.#configured) return;
    const now = this.#now();
    if (this.#transport === null || this.#auth === null) {
      if (this.#setupError !== null && this.#setupTimer === undefined) {
        // E.g. an unreadable CA file: try the set-up again later (or at once when setConfig is called).
        this.#setupTimer = setTimeout(() => {
          this.#setupTimer = undefined;
          if (!this.#stopping) void this.#setup();
        }, this.#credentialsRetryMs);
      }
      this.#publish(false);
      return;
    }
    if (!isOpen(this.#gate, now)) {
      this.#releaseStaged(this.#gate.closedUntil);
      this.#armWake(this.#gate.closedUntil);
      this.#publish(false);
      return;
    }
    // While failing, one probe at a time; full concurrency once the server answers again.
    const limit = concurrencyLimit(this.#gate, this.#config.concurrency);
    while (this.#inFlight < limit) {
      const next = this.#nextBatch(now);
      if (next === null) break;
      this.#launch(next.claims, next.prepared ?? this.#stage(next.claims).prepared);
    }
    if (limit < this.#config.concurrency) {
      this.#releaseStaged(0);
    } else if (this.#inFlight >= limit && this.#prepare.activeSyntax() !== null) {
      // Every slot busy: claim ahead so the pool compresses the next batch meanwhile.
      while (this.#staged.length < LOOKAHEAD_BATCHES) {
        const claims = this.#claim(now);
        if (claims.length === 0) break;
        this.#staged.push(this.#stage(claims));
      }
    }
    if (this.#inFlight === 0) this.#prepare.noteIdle();
    if (this.#inFlight < limit) {
      const due = this.#index.nextDueAt();
      const rescan = this.#rescanMs > 0 ? now + this.#rescanMs : Infinity;
      const at = Math.min(due !== null && due > now ? due : Infinity, rescan);
      if (at !== Infinity) this.#armWake(at);
    }
    this.#publish(false);
  }

  #claim(now: number): ClaimedInstance[] {
    return this.#index.claimBatch(this.#limits(), now, { urgentAeTitles: this.#config.urgentAeTitles });
  }

  #stage(claims: ClaimedInstance[]): StagedBatch {
    return { claims, prepared: this.#prepare.open(claims.map((claim) => prepareItem(claim, claim.size))) };
  }

  /**
   * The batch for a free request slot: the look-ahead's oldest, unless an urgent study was queued
   * after it was claimed (that one goes first, the look-ahead waits); else a fresh claim.
   */
  #nextBatch(now: number): { claims: ClaimedInstance[]; prepared?: PreparedBatch } | null {
    const staged = this.#staged[0];
    if (staged === undefined) {
      const claims = this.#claim(now);
      return claims.length === 0 ? null : { claims };
    }
    if (staged.claims[0]?.urgent !== true) {
      const fresh = this.#claim(now);
      if (fresh[0]?.urgent === true) return { claims: fresh };
      this.#staged.shift();
      if (fresh.length > 0) this.#staged.push(this.#stage(fresh));
      return staged;
    }
    this.#staged.shift();
    return staged;
  }

  /** Gives the look-ahead back to the queue (not an attempt): a pause, a settings change, a stop. */
  #releaseStaged(nextAttemptAt: number): void {
    for (const staged of this.#staged.splice(0)) {
      void this.#discard(staged.prepared);
      try {
        this.#index.release(
          staged.claims.map((c) => ({ sopInstanceUid: c.sopInstanceUid, generation: c.generation })),
          { nextAttemptAt, countAttempt: false },
        );
      } catch {
        // index closed
      }
    }
  }

  #launch(batch: ClaimedInstance[], staged: PreparedBatch): void {
    // Sending from now on: its instances go before the look-ahead's in the pool.
    this.#prepare.start(staged);
    this.#inFlight++;
    const task = this.#process(batch, staged)
      .catch((error) => {
        log.error("Unexpected upload error: {error}", { error: this.#redact(String(error)) });
        void this.#discard(staged);
        try {
          this.#index.release(batch, { nextAttemptAt: this.#now() + 5_000, countAttempt: true });
        } catch {
          // index closed
        }
      })
      .finally(() => {
        this.#inFlight--;
        this.#active.delete(task);
        this.#closeRetired();
        this.#publish(false);
        this.#schedulePump();
      });
    this.#active.add(task);
  }

  async #process(batch: ClaimedInstance[], staged?: PreparedBatch): Promise<void> {
    const items: SendItem[] = [];
    const missing: (ClaimRef & { reason: string })[] = [];
    for (const claim of batch) {
      try {
        const info = await Deno.stat(absolutePath(this.#dataDir, claim.path));
        items.push({ claim, size: info.size });
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
        missing.push({
          sopInstanceUid: claim.sopInstanceUid,
          generation: claim.generation,
          reason: `the stored file ${claim.path} is missing from the data folder`,
        });
      }
    }
    if (missing.length > 0) {
      const changed = this.#index.markFailed(missing, this.#now());
      if (changed > 0) log.error("{count} queued files are missing from the data folder", { count: changed });
    }
    // The look-ahead was claimed with the sizes the index holds: a file missing or changed since
    // makes it compress again for what is sent.
    if (
      staged !== undefined &&
      (missing.length > 0 || items.some((item) => item.size !== item.claim.size))
    ) {
      await this.#discard(staged);
      staged = undefined;
    }
    if (items.length > 0) await this.#sendBatch(items, false, staged);
    else if (staged !== undefined) await this.#discard(staged);
  }

  async #sendBatch(items: SendItem[], authRetried: boolean, staged?: PreparedBatch): Promise<void> {
    const now = this.#now();
    if (this.#stopping || !isOpen(this.#gate, now)) {
      if (staged !== undefined) await this.#discard(staged);
      const nextAttemptAt = this.#stopping ? 0 : this.#gate.closedUntil;
      this.#index.release(refs(items), { nextAttemptAt, countAttempt: false });
      return;
    }
    const { outcome, prepared } = await this.#post(items, staged);
    switch (outcome.kind) {
      case "syntax-refused":
        this.#onServerAnswered();
        this.#noteRefused(prepared, outcome.reason);
        return await this.#sendBatch(items.map((item) => ({ ...item, asReceived: true })), authRetried);
      case "stopped":
        this.#index.release(refs(items), { nextAttemptAt: 0, countAttempt: false });
        return;
      case "credentials": {
        if (outcome.status === 401 && !authRetried && this.#auth?.invalidate()) {
          log.info("The server answered 401; getting a fresh OAuth2 token and trying once more");
          return await this.#sendBatch(items, true);
        }
        this.#onCredentialsRejected(outcome.reason);
        this.#index.release(refs(items), { nextAttemptAt: 0, countAttempt: false, error: this.#lastError });
        return;
      }
      case "retry": {
        const delay = this.#onRetryableFailure(outcome.reason, outcome.retryAfterMs);
        this.#index.release(refs(items), {
          nextAttemptAt: this.#now() + delay,
          countAttempt: true,
          error: this.#lastError,
        });
        return;
      }
      case "too-large": {
        this.#onServerAnswered();
        if (items.length > 1) {
          const bytes = items.reduce((sum, item) => sum + item.size, 0);
          this.#learnedMaxBytes = Math.max(1, Math.floor(bytes / 2));
          this.#learnedMaxInstances = Math.max(1, Math.ceil(items.length / 2));
          log.warn(
            "The server refused a request of {count} instances ({mb} MB) as too large; sending halves",
            {
              count: items.length,
              mb: (bytes / 1e6).toFixed(1),
            },
          );
          await this.#sendHalves(items);
        } else {
          const item = items[0]!;
          this.#markFailed([{
            item,
            reason: `${outcome.reason}: this ${
              (item.size / 1e6).toFixed(1)
            } MB instance is larger than the server accepts`,
          }]);
          this.#progress.note(items.map((item) => item.claim.studyInstanceUid));
        }
        return;
      }
      case "settle": {
        this.#onServerAnswered();
        const byUid = new Map(items.map((item) => [item.claim.sopInstanceUid, item]));
        const delivered = outcome.delivered.flatMap((d) => {
          const item = byUid.get(d.sopInstanceUid);
          return item === undefined ? [] : [{ item, note: d.note }];
        });
        const at = this.#now();
        this.#index.markDelivered(delivered.map((d) => refs([d.item])[0]!), at);
        if (prepared !== null) {
          this.#prepare.delivered(
            prepared,
            delivered.map((d) => d.item.claim.sopInstanceUid),
          );
        }
        // The fallback: a compressed instance refused for its transfer syntax goes again as received.
        const again: SendItem[] = [];
        outcome.failed = outcome.failed.filter((f) => {
          const item = byUid.get(f.sopInstanceUid);
          const how = prepared?.how.get(f.sopInstanceUid);
          if (item === undefined || how === undefined || !("transferSyntaxUid" in how)) return true;
          if (!refusesSyntax(f, how.transferSyntaxUid)) return true;
          this.#noteRefused(prepared, f.reason);
          again.push({ ...item, asReceived: true });
          return false;
        });
        // An answer that accounts for none of the request (an archive skipping parts that name their
        // syntax): its compressed parts go again with a plain part type, then as received; its parts
        // sent as received go again too when others named their syntax (skipped with them). A
        // partial answer is only unproven, retried with backoff below.
        const nothingAccounted = delivered.length === 0 && outcome.failed.length === 0 && again.length === 0;
        const named = [...(prepared?.how.values() ?? [])].some((h) => "namedInPart" in h && h.namedInPart);
        outcome.unproven = outcome.unproven.filter((uid) => {
          if (!nothingAccounted) return true;
          const item = byUid.get(uid);
          const how = prepared?.how.get(uid);
          if (item === undefined || how === undefined) return true;
          if (!("transferSyntaxUid" in how)) {
            if (!named) return true;
            again.push({ ...item });
            return false;
          }
          const next = this.#prepare.noteUnproven(how.transferSyntaxUid, how.namedInPart);
          again.push({ ...item, asReceived: next === "as-received" });
          return false;
        });
        for (const d of delivered) {
          if (d.note !== null) {
            log.info("Instance {uid}: {note}", {
              uid: d.item.claim.sopInstanceUid,
              note: this.#redact(d.note),
            });
          }
        }
        if (delivered.length > 0) this.#lastSuccessAt = at;
        this.#markFailed(outcome.failed.flatMap((f) => {
          const item = byUid.get(f.sopInstanceUid);
          return item === undefined ? [] : [{ item, reason: f.reason }];
        }));
        const unproven = outcome.unproven.flatMap((uid) => {
          const item = byUid.get(uid);
          return item === undefined ? [] : [item];
        });
        if (unproven.length > 0) {
          // The answer proves nothing for these: they stay queued, retried with backoff.
          const delay = this.#onRetryableFailure(outcome.unprovenReason ?? "not listed in the answer", null);
          this.#index.release(refs(unproven), {
            nextAttemptAt: this.#now() + delay,
            countAttempt: true,
            error: this.#lastError,
          });
        }
        this.#progress.note(items.map((item) => item.claim.studyInstanceUid));
        this.#publish(delivered.length > 0);
        if (delivered.length > 0) this.#retention.afterDelivery();
        const isolate = outcome.isolate.flatMap((uid) => {
          const item = byUid.get(uid);
          return item === undefined ? [] : [item];
        });
        if (isolate.length > 0) {
          log.warn(
            "The server refused {count} instances without saying which; sending them in smaller batches",
            {
              count: isolate.length,
            },
          );
          await this.#sendHalves(isolate);
        }
        if (again.length > 0) await this.#sendBatch(again, false);
        return;
      }
    }
  }

  /** A prepared batch that will not be sent: a probe it was is over, its pool results are freed. */
  async #discard(prepared: PreparedBatch): Promise<void> {
    this.#prepare.release(prepared);
    await prepared.close();
  }

  #noteRefused(prepared: PreparedBatch | null, reason: string): void {
    const syntax = [...(prepared?.how.values() ?? [])].find((h) => "transferSyntaxUid" in h);
    if (syntax !== undefined && "transferSyntaxUid" in syntax) {
      this.#prepare.noteRefused(syntax.transferSyntaxUid, this.#redact(reason));
    }
  }

  async #sendHalves(items: SendItem[]): Promise<void> {
    const middle = Math.ceil(items.length / 2);
    await this.#sendBatch(items.slice(0, middle), false);
    await this.#sendBatch(items.slice(middle), false);
  }

  #markFailed(failures: { item: SendItem; reason: string }[]): void {
    if (failures.length === 0) return;
    const at = this.#now();
    this.#index.markFailed(
      failures.map((f) => ({ ...refs([f.item])[0]!, reason: this.#redact(f.reason) })),
      at,
    );
    for (const f of failures) {
      log.error("Instance {uid} of study {study} was rejected by the server: {reason}", {
        uid: f.item.claim.sopInstanceUid,
        study: f.item.claim.studyInstanceUid,
        reason: this.#redact(f.reason),
      });
    }
  }

  async #post(
    items: SendItem[],
    staged?: PreparedBatch,
  ): Promise<{ outcome: StowOutcome | SyntaxRefused | { kind: "stopped" }; prepared: PreparedBatch | null }> {
    const transport = this.#transport;
    const auth = this.#auth;
    if (transport === null || auth === null) {
      if (staged !== undefined) await this.#discard(staged);
      const reason = this.#setupError ?? "the uploader is not ready";
      return { outcome: { kind: "retry", reason, retryAfterMs: null }, prepared: null };
    }
    // Compressed in the worker pool ahead of the sender; each part is decided as the body reaches
    // it (compressed when ready, else as received while the encoder is behind, `prepare.ts`).
    const prepared = staged ?? this.#prepare.open(
      items.map((item) => prepareItem(item.claim, item.size)),
      { asReceived: items.some((item) => item.asReceived === true) },
    );
    this.#prepare.start(prepared);
    let settled = false;
    try {
      const outcome = await sendStowBatch(prepared, {
        transport,
        auth,
        config: this.#config,
        dataDir: this.#dataDir,
        stopSignal: this.#stopController.signal,
        where: this.#safeUrl(),
        now: this.#now,
        limiter: this.#limiter,
      });
      settled = outcome.kind === "settle";
      return { outcome, prepared };
    } finally {
      // A settled answer is learnt from by the caller; anything else ends a probe here.
      if (!settled) this.#prepare.release(prepared);
      await prepared.close();
    }
  }

  #closeRetired(): void {
    if (this.#inFlight > 0 || this.#verifier.busy) return;
    for (const transport of this.#retired.splice(0)) transport.close();
  }

  // ---- state changes ----

  #onServerAnswered(): void {
    this.#prepare.noteAnswered();
    const { gate, resumed } = afterAnswer(this.#gate);
    if (resumed) log.info("Upload resumed: {url} is answering again", { url: this.#safeUrl() });
    this.#gate = gate;
  }

  #onRetryableFailure(reason: string, retryAfterMs: number | null): number {
    const now = this.#now();
    const { gate, delayMs } = afterRetryableFailure(this.#gate, {
      now,
      baseMs: this.#retryBaseMs,
      capMs: this.#config.maxBackoffMs,
      random: this.#random,
      retryAfterMs,
    });
    this.#gate = gate;
    this.#lastError = this.#redact(reason);
    this.#lastErrorAt = now;
    log.warn(
      "Upload failed: {reason}. Retrying in {delay} (attempt {attempt}); the instances wait in the queue",
      {
        reason: this.#lastError,
        delay: seconds(delayMs),
        attempt: gate.consecutiveFailures,
      },
    );
    this.#publish(true);
    return delayMs;
  }

  #onCredentialsRejected(reason: string): void {
    const now = this.#now();
    const { gate, firstTime } = afterCredentialsRejected(this.#gate, {
      now,
      retryMs: this.#credentialsRetryMs,
    });
    if (firstTime) {
      log.error(
        "Upload paused: {reason}. Nothing is marked failed; trying again every {every} or when the settings change",
        { reason: this.#redact(reason), every: seconds(this.#credentialsRetryMs) },
      );
    }
    this.#gate = gate;
    this.#lastError = this.#redact(`credentials rejected: ${reason}`);
    this.#lastErrorAt = now;
    this.#publish(true);
  }

  #publish(force: boolean): void {
    this.#healthRecord.publish(this.health(), force);
  }

  #secrets(): string[] {
    return [...configuredSecrets(this.#config), ...(this.#auth?.secrets() ?? [])];
  }

  #redact(text: string): string {
    return redact(text, this.#secrets());
  }

  #safeUrl(): string {
    return this.#redact(this.#config.url);
  }
}
