/**
 * The prepare stage between the queue and the sender: each instance of a batch is compressed
 * losslessly for the upload (`upload.compression`, the worker pool of `compress/`), or goes as
 * received, and the stage remembers which destinations refused which transfer syntax.
 *
 * - The local copy is never changed: the compressed Part 10 file exists only in the request body.
 * - An instance the codec cannot carry bit for bit (format, bits above Bits Stored, a decoded frame
 *   that differs) goes as received; these are counted by cause for the status page.
 * - Adaptive sending (`upload.compression_adaptive`, the default): the pool compresses ahead of
 *   the sender, across batches (the batches being sent first, then those the uploader claimed
 *   ahead of a free request slot, `encode_ahead.ts`), and a request body decides each part when it
 *   reaches it (`part_policy.ts`): compressed if ready; when nothing is ready, an instance whose
 *   compression has not started goes as received (counted as "encoder-behind"), so the link never
 *   waits for the encoder; one being encoded is waited for. On a thin link the pool is ahead and
 *   everything goes compressed; on a fast one the link stays full. Memory stays flat: at most
 *   workers + 1 instances are being compressed, codestreams over 256 KiB wait in temporary files.
 * - Fallback: when the archive refuses the syntax — a Failed SOP Sequence item with Failure Reason
 *   (0008,1197) C122 "Referenced Transfer Syntax not supported" (PS3.18 Table I.2-2), a failure
 *   text naming the syntax, or HTTP 415 — those instances are sent again as received, and the
 *   destination (upload URL + syntax) is remembered as not taking it: nothing more is compressed
 *   for it until the upload settings change. The memory and the counts live in the queue index's
 *   state table ({@link COMPRESSION_STATE_KEY}), read by the status page and `doctor`.
 * - Some archives ignore a part whose Content-Type carries the `transfer-syntax` parameter
 *   (Orthanc's DICOMweb plugin 1.7 stores nothing of a request in which any part does, and
 *   answers 200 with empty lists). Until a destination has proved it stores such parts, one
 *   request at a time (the probe) names the syntax in its parts, and the requests prepared
 *   meanwhile use plain `application/dicom` parts (the File Meta Information names the syntax,
 *   and "the latter has precedence", PS3.18 §8.7.9). A request never mixes the two. When the
 *   answer proves nothing for the probe's parts, the destination is remembered as wanting plain
 *   parts and they go again plain; if plain compressed parts prove nothing either, the syntax
 *   counts as refused (above).
 * @module
 */
import type { UploadConfig } from "../config/types.ts";
import { logger } from "../log.ts";
import type { QueueIndex } from "../store/queue_index.ts";
import { absolutePath } from "../store/retention.ts";
import { COMPRESSED_TRANSFER_SYNTAX } from "./compress/codec.ts";
import {
  type Compressor,
  createCompressor,
  defaultWorkerCount,
  type SendCompressed,
} from "./compress/compressor.ts";
import { EncodeAhead, type Lot } from "./encode_ahead.ts";
import type { StowBatchItem } from "./stow_request.ts";

const log = logger("upload");

/**
 * Codestream bytes of one instance kept in memory until its request is sent; a larger compressed
 * instance waits in a temporary file. With up to `concurrency` requests of `batch_max_instances`
 * each, this keeps what compression holds to a few tens of MB.
 */
const CODESTREAM_MEMORY_BYTES = 256 * 1024;

/** Key of the compression record (JSON, {@link CompressionRecord}) in the index's state table. */
export const COMPRESSION_STATE_KEY = "upload.compression";

/** PS3.18 Table I.2-2: Failure Reason C122 "Referenced Transfer Syntax not supported". */
export const TRANSFER_SYNTAX_NOT_SUPPORTED = 0xC122;

/** A destination that refused a transfer syntax. */
export interface SyntaxRefusal {
  /** The upload URL (DICOMweb root; holds no secret: credentials are never part of it). */
  url: string;
  /** `"jpeg-ls"` or `"htj2k"`. */
  syntax: string;
  transferSyntaxUid: string;
  at: number;
  reason: string;
}

/** What the status page and `doctor` show about compression. */
export interface CompressionRecord {
  /** The setting in force (`upload.compression`). */
  setting: string;
  /** Instances delivered compressed, and their bytes before and after. */
  compressed: number;
  bytesIn: number;
  bytesOut: number;
  /** Instances delivered as received, by cause (`OriginalCause`, or `refused` after a fallback). */
  original: Record<string, number>;
  /** Destinations that refused a syntax; cleared when the upload settings change. */
  refused: SyntaxRefusal[];
  /** Upload URLs that ignore parts naming their transfer syntax; cleared with `refused`. */
  plainPartType: string[];
  /** Upload URLs that stored a part naming its transfer syntax; cleared with `refused`. */
  namedPartOk: string[];
  /** The settings the refusals were learnt under (see {@link settingsFingerprint}). */
  settings: string;
}

/** The upload settings whose change clears the refusals: destination, sign-in kind, CA, proxy, syntax. */
export function settingsFingerprint(config: UploadConfig): string {
  return JSON.stringify([config.url, config.compression, config.auth.kind, config.caFile, config.proxy]);
}

/** Reads the record from the state table (an empty one when absent or damaged). */
export function readCompressionRecord(index: Pick<QueueIndex, "getState">): CompressionRecord {
  const empty: CompressionRecord = {
    setting: "",
    compressed: 0,
    bytesIn: 0,
    bytesOut: 0,
    original: {},
    refused: [],
    plainPartType: [],
    namedPartOk: [],
    settings: "",
  };
  const saved = index.getState(COMPRESSION_STATE_KEY);
  if (saved === undefined) return empty;
  try {
    return { ...empty, ...JSON.parse(saved) as Partial<CompressionRecord> };
  } catch {
    return empty;
  }
}

/**
 * Does this failure say the archive does not take the syntax? Failure Reason C122 (PS3.18
 * Table I.2-2), or a reason text naming the transfer syntax (its UID, or JPEG-LS / HTJ2K).
 */
export function refusesSyntax(
  failed: { reason: string; failureReason?: number | null },
  transferSyntaxUid: string,
): boolean {
  if (failed.failureReason === TRANSFER_SYNTAX_NOT_SUPPORTED) return true;
  const text = failed.reason;
  if (text.includes(transferSyntaxUid)) return true;
  const name = transferSyntaxUid === COMPRESSED_TRANSFER_SYNTAX["htj2k"]
    ? /htj2k|high[- ]throughput jpeg ?2000/i
    : /jpeg[- ]?ls/i;
  return name.test(text) || /transfer syntax not supported/i.test(text);
}

/** One instance of a batch, as the uploader holds it. */
export interface PrepareItem {
  sopInstanceUid: string;
  sopClassUid: string;
  path: string;
  size: number;
}

/** How one instance goes: the compressed transfer syntax, or the cause of sending it as received. */
export type PartHow =
  | { transferSyntaxUid: string; bytesIn: number; bytesOut: number; namedInPart: boolean }
  | { cause: string };

/**
 * A batch for one request. Its parts are decided when the request body reaches them
 * ({@link PreparedBatch.next}, the policy of `part_policy.ts`), so `how` fills in as it is sent.
 */
export interface PreparedBatch {
  /** Every instance of the request, in claim order (the answer is read against these). */
  instances: readonly PrepareItem[];
  /** The next part of the body, decided now; null after the last. Call after {@link PrepareStage.start}. */
  next(): Promise<StowBatchItem | null>;
  /** How each instance went, by SOP Instance UID (for the parts decided so far). */
  how: Map<string, PartHow>;
  /** Removes temporary files of the compressed instances; results not sent are discarded. */
  close(): Promise<void>;
  /** This request is the probe whose answer tells whether the destination stores parts naming their syntax. */
  probe: boolean;
}

/** What the pool made of one instance. */
type Outcome = { kind: "compressed"; out: SendCompressed } | { kind: "original"; cause: string };

/** Cause of an instance sent as received because the pool had not started it when the body reached it. */
export const ENCODER_BEHIND = "encoder-behind";

/** A batch whose instances the pool compresses; parts decided as the body reaches them. */
class CompressedBatch implements PreparedBatch {
  readonly how: PreparedBatch["how"] = new Map();
  probe = false;
  /** Compressed parts name their syntax (decided when the request starts). */
  named = false;
  readonly #sent: SendCompressed[] = [];

  constructor(
    readonly lot: Lot<PrepareItem, Outcome>,
    readonly instances: readonly PrepareItem[],
    private readonly context: {
      adaptive: () => boolean;
      active: () => boolean;
      inactiveCause: () => string;
    },
  ) {}

  next(): Promise<StowBatchItem | null> {
    return this.take(this.context.adaptive());
  }

  /** The next part; with `adaptive`, not-started instances go as received rather than waited for. */
  async take(adaptive: boolean): Promise<StowBatchItem | null> {
    const part = await this.lot.next({ adaptive });
    if (part === null) return null;
    const { item } = part;
    if ("behind" in part) {
      this.how.set(item.sopInstanceUid, { cause: ENCODER_BEHIND });
      return { ...item };
    }
    const outcome = part.result;
    if (outcome.kind === "original") {
      this.how.set(item.sopInstanceUid, { cause: outcome.cause });
      return { ...item };
    }
    const out = outcome.out;
    if (!this.context.active()) {
      // Refused (or switched off) while it waited: as received after all.
      await out.close();
      this.how.set(item.sopInstanceUid, { cause: this.context.inactiveCause() });
      return { ...item };
    }
    this.#sent.push(out);
    const namedInPart = this.named;
    this.how.set(item.sopInstanceUid, {
      transferSyntaxUid: out.transferSyntaxUid,
      bytesIn: item.size,
      bytesOut: out.size,
      namedInPart,
    });
    return { ...item, content: Object.assign(out, { namedInPart }) };
  }

  async close(): Promise<void> {
    this.lot.close();
    await Promise.allSettled(this.#sent.map((c) => c.close()));
  }
}

/** Options of {@link PrepareStage}. */
export interface PrepareStageOptions {
  index: Pick<QueueIndex, "getState" | "setState">;
  dataDir: string;
  now?: () => number;
  /** Starts the worker pool (tests). */
  createCompressor?: (workers: number) => Compressor;
}

/** The prepare stage (see the module documentation). */
export class PrepareStage {
  readonly #index: Pick<QueueIndex, "getState" | "setState">;
  readonly #dataDir: string;
  readonly #now: () => number;
  readonly #createCompressor: (workers: number) => Compressor;
  #config: UploadConfig | null = null;
  #compressor: Compressor | null = null;
  #record: CompressionRecord;
  /** A request naming the syntax in its parts is out to learn whether this destination stores them. */
  #probing = false;
  /** A request of this run of uploads has been answered (see {@link noteAnswered}). */
  #linkWarm = false;
  readonly #ahead: EncodeAhead<PrepareItem, Outcome>;

  constructor(options: PrepareStageOptions) {
    this.#index = options.index;
    this.#dataDir = options.dataDir;
    this.#now = options.now ?? Date.now;
    this.#createCompressor = options.createCompressor ??
      ((workers) => createCompressor({ workers, memoryLimit: CODESTREAM_MEMORY_BYTES }));
    this.#record = readCompressionRecord(this.#index);
    this.#ahead = new EncodeAhead<PrepareItem, Outcome>({
      // One instance more than the pool has workers keeps it busy; each one in progress holds its
      // frames, so memory stays flat whatever the batches.
      limit: () => this.#workers() + 1,
      prepare: (item) => this.#encode(item),
      failed: (item, error) => {
        log.debug("Instance {uid} goes as received: {error}", {
          uid: item.sopInstanceUid,
          error: String(error),
        });
        return { kind: "original", cause: "error" };
      },
      discard: (outcome) => {
        if (outcome.kind === "compressed") void outcome.out.close().catch(() => {});
      },
    });
  }

  #workers(): number {
    const configured = this.#config?.compressionWorkers ?? 0;
    return configured > 0 ? configured : defaultWorkerCount();
  }

  /** Applies the settings; refusals learnt under other settings are forgotten. */
  configure(config: UploadConfig): void {
    const workers = config.compressionWorkers > 0 ? config.compressionWorkers : defaultWorkerCount();
    if (
      this.#compressor !== null && (config.compression === "none" || this.#compressor.workers !== workers)
    ) {
      // Frames in flight finish with "compressor closed": those instances go as received.
      this.#compressor.close();
      this.#compressor = null;
    }
    this.#config = config;
    const fingerprint = settingsFingerprint(config);
    if (this.#record.settings !== fingerprint) {
      if (this.#record.refused.length > 0) {
        log.info("The upload settings changed: compressed uploads are tried again for every destination");
      }
      this.#record = {
        ...this.#record,
        refused: [],
        plainPartType: [],
        namedPartOk: [],
        settings: fingerprint,
      };
    }
    this.#record.setting = config.compression;
    this.#save();
  }

  /** The record as the status page shows it. */
  record(): CompressionRecord {
    return structuredClone(this.#record);
  }

  /** The syntax instances would be compressed to now, or null (none, or refused by this destination). */
  activeSyntax(): "jpeg-ls" | "htj2k" | null {
    const config = this.#config;
    if (config === null || config.compression === "none") return null;
    const refused = this.#record.refused.some((r) => r.url === config.url && r.syntax === config.compression);
    return refused ? null : config.compression;
  }

  /** Why an instance goes as received when compression is not active now: `"off"` or `"refused"`. */
  #inactiveCause(): string {
    return this.#config === null || this.#config.compression === "none" ? "off" : "refused";
  }

  /** Compresses one instance in the pool (the look-ahead's preparation). */
  async #encode(item: PrepareItem): Promise<Outcome> {
    const syntax = this.activeSyntax();
    if (syntax === null) return { kind: "original", cause: this.#inactiveCause() };
    this.#compressor ??= this.#createCompressor(this.#workers());
    const compressor = this.#compressor;
    try {
      const out = await compressor.prepare(absolutePath(this.#dataDir, item.path), { syntax });
      if (out.kind === "compressed" && out.size >= item.size) {
        await out.close();
        return { kind: "original", cause: "no-gain" };
      }
      if (out.kind === "compressed") return { kind: "compressed", out };
      if (out.cause === "mismatch" || out.cause === "high-bits") {
        log.info("Instance {uid} goes as received: {reason}", {
          uid: item.sopInstanceUid,
          reason: out.reason,
        });
      }
      return { kind: "original", cause: out.cause };
    } catch (error) {
      // A file that vanished or cannot be read is the sender's business (it reports it); send as is.
      log.debug("Instance {uid} goes as received: {error}", {
        uid: item.sopInstanceUid,
        error: String(error),
      });
      return { kind: "original", cause: "error" };
    }
  }

  /**
   * Registers `items` (one request's batch) with the pool, which starts compressing them when it
   * has nothing more urgent: the batches of requests being sent come first
   * ({@link PrepareStage.start}). As received when `asReceived` (the fallback), when compression is
   * off, or refused here. Nothing is held but a ticket per instance until the pool reaches it.
   */
  open(items: readonly PrepareItem[], options: { asReceived?: boolean } = {}): PreparedBatch {
    const syntax = options.asReceived === true ? null : this.activeSyntax();
    if (syntax === null) {
      const cause = options.asReceived ? "refused" : this.#inactiveCause();
      const how: PreparedBatch["how"] = new Map();
      let next = 0;
      return {
        instances: items,
        how,
        probe: false,
        next: () => {
          const item = items[next++];
          if (item === undefined) return Promise.resolve(null);
          how.set(item.sopInstanceUid, { cause });
          return Promise.resolve({ ...item });
        },
        close: () => Promise.resolve(),
      };
    }
    return new CompressedBatch(this.#ahead.open(items), items, {
      adaptive: () => (this.#config?.compressionAdaptive ?? true) && this.#linkWarm,
      active: () => this.activeSyntax() !== null,
      inactiveCause: () => this.#inactiveCause(),
    });
  }

  /**
   * The request of `batch` is being sent now (once; later calls do nothing): its instances go
   * before those claimed ahead, and
   * whether its compressed parts name their syntax is decided. Not yet known whether this
   * destination stores such parts: this request is the probe (all its compressed parts name it)
   * unless another probe is out (then all are plain). A request never mixes the two. Read now,
   * not when the batch was claimed: another request's answer may have taught it meanwhile.
   */
  start(batch: PreparedBatch): void {
    if (!(batch instanceof CompressedBatch) || batch.lot.startedAt !== null) return;
    const url = this.#config?.url ?? "";
    const plain = this.#record.plainPartType.includes(url);
    const proven = this.#record.namedPartOk.includes(url);
    const probe = !plain && !proven && !this.#probing;
    if (probe) this.#probing = true;
    batch.probe = probe;
    batch.named = proven || probe;
    batch.lot.start();
  }

  /**
   * Prepares the whole of `items` before returning, waiting for the encoder (never "encoder
   * behind"): the parts in claim order, for a caller that needs them all before sending.
   */
  async prepare(
    items: readonly PrepareItem[],
    options: { asReceived?: boolean } = {},
  ): Promise<PreparedBatch & { items: StowBatchItem[] }> {
    const batch = this.open(items, options);
    this.start(batch);
    const parts: StowBatchItem[] = [];
    for (;;) {
      const part = batch instanceof CompressedBatch ? await batch.take(false) : await batch.next();
      if (part === null) break;
      parts.push(part);
    }
    const order = new Map(items.map((item, i) => [item.sopInstanceUid, i]));
    parts.sort((a, b) => order.get(a.sopInstanceUid)! - order.get(b.sopInstanceUid)!);
    let given = 0;
    return {
      instances: batch.instances,
      how: batch.how,
      probe: batch.probe,
      close: () => batch.close(),
      items: parts,
      next: () => Promise.resolve(parts[given++] ?? null),
    };
  }

  /**
   * Remembers that the current destination does not take the syntax of `batch` (after a refusal):
   * later instances go as received until the settings change.
   */
  noteRefused(transferSyntaxUid: string, reason: string): void {
    const config = this.#config;
    if (config === null || config.compression === "none") return;
    if (this.#record.refused.some((r) => r.url === config.url && r.syntax === config.compression)) return;
    this.#record.refused.push({
      url: config.url,
      syntax: config.compression,
      transferSyntaxUid,
      at: this.#now(),
      reason,
    });
    log.warn(
      "The archive does not take {syntax} ({uid}): {reason}. Those instances are sent again as received, and " +
        "nothing more is compressed for this destination until the upload settings change",
      { syntax: config.compression, uid: transferSyntaxUid, reason },
    );
    this.#save();
  }

  /**
   * The answer proved nothing for compressed parts. Returns what to do with them: `"plain"` —
   * send them again compressed with a plain part Content-Type (now remembered for this
   * destination); `"as-received"` — that was tried already, so the syntax counts as refused.
   */
  noteUnproven(transferSyntaxUid: string, namedInPart: boolean): "plain" | "as-received" {
    const url = this.#config?.url ?? "";
    if (namedInPart) {
      if (!this.#record.plainPartType.includes(url)) {
        this.#record.plainPartType.push(url);
        log.info(
          "The archive did not account for parts naming their transfer syntax; sending them with a plain " +
            "application/dicom Content-Type (the file's meta header names the syntax)",
        );
        this.#save();
      }
      return "plain";
    }
    this.noteRefused(
      transferSyntaxUid,
      "the archive answered without storing or refusing the compressed instances",
    );
    return "as-received";
  }

  /**
   * The request of `batch` ended without an answer to learn from (a retry, a pause, a stop): if it
   * was the probe, the next request probes again. (Answers are learnt from in {@link delivered}
   * and {@link noteUnproven}, called at once after it.)
   */
  release(batch: PreparedBatch): void {
    if (!batch.probe) return;
    this.#probing = false;
    batch.probe = false; // once: a later call must not end another request's probe
  }

  /** Counts the delivered instances of `batch` (compressed, or original by cause). */
  delivered(batch: PreparedBatch, uids: readonly string[]): void {
    this.release(batch);
    if (uids.length === 0) return;
    for (const uid of uids) {
      const how = batch.how.get(uid);
      if (how === undefined) continue;
      if ("cause" in how) {
        this.#record.original[how.cause] = (this.#record.original[how.cause] ?? 0) + 1;
      } else {
        this.#record.compressed++;
        const url = this.#config?.url ?? "";
        if (how.namedInPart && !this.#record.namedPartOk.includes(url)) this.#record.namedPartOk.push(url);
        this.#record.bytesIn += how.bytesIn;
        this.#record.bytesOut += how.bytesOut;
      }
    }
    this.#save();
  }

  /**
   * A request was answered. Until the first answer of a run of uploads, no instance goes as
   * received for the encoder being behind: whatever the link, the first megabytes the bodies give
   * only fill the socket and TLS buffers (measured over the emulated 20 Mbit/s uplink: some 50
   * instances as received in the first seconds, the encoder ahead all the time after), so the
   * bodies wait for the encoder until one request has gone the whole way.
   */
  noteAnswered(): void {
    this.#linkWarm = true;
  }

  /** Nothing is being sent: the next run of uploads starts cold again (see {@link noteAnswered}). */
  noteIdle(): void {
    this.#linkWarm = false;
  }

  /** Stops the worker pool. */
  close(): void {
    this.#compressor?.close();
    this.#compressor = null;
  }

  #save(): void {
    try {
      this.#index.setState(COMPRESSION_STATE_KEY, JSON.stringify(this.#record));
    } catch {
      // index closed during shutdown
    }
  }
}
