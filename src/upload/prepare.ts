/**
 * The prepare stage between the queue and the sender: each instance of a batch is compressed
 * losslessly for the upload (`upload.compression`, the worker pool of `compress/`), or goes as
 * received, and the stage remembers which destinations refused which transfer syntax.
 *
 * - The local copy is never changed: the compressed Part 10 file exists only in the request body.
 * - An instance the codec cannot carry bit for bit (format, bits above Bits Stored, a decoded frame
 *   that differs) goes as received; these are counted by cause for the status page.
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
  type OriginalCause,
  type SendCompressed,
} from "./compress/compressor.ts";
import type { StowBatchItem } from "./stow_request.ts";

const log = logger("upload");

/**
 * Codestream bytes of one instance kept in memory until its request is sent; a larger compressed
 * instance waits in a temporary file. With up to `concurrency` requests of `batch_max_instances`
 * each, this keeps what compression holds to a few tens of MB.
 */
const CODESTREAM_MEMORY_BYTES = 256 * 1024;

/** `fn` over `items` with at most `limit` calls running at once; results in the order of `items`. */
async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i]!);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  return out;
}

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

/** A prepared batch: what to send, and how each instance goes. */
export interface PreparedBatch {
  items: StowBatchItem[];
  /** How each instance goes, by SOP Instance UID: the compressed transfer syntax, or the cause of an original. */
  how: Map<
    string,
    { transferSyntaxUid: string; bytesIn: number; bytesOut: number; namedInPart: boolean } | { cause: string }
  >;
  /** Removes temporary files of the compressed instances. */
  close(): Promise<void>;
  /** This request is the probe whose answer tells whether the destination stores parts naming their syntax. */
  probe: boolean;
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

  constructor(options: PrepareStageOptions) {
    this.#index = options.index;
    this.#dataDir = options.dataDir;
    this.#now = options.now ?? Date.now;
    this.#createCompressor = options.createCompressor ??
      ((workers) => createCompressor({ workers, memoryLimit: CODESTREAM_MEMORY_BYTES }));
    this.#record = readCompressionRecord(this.#index);
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

  /**
   * Prepares `items` for one request: compressed in the worker pool, or as received when
   * `asReceived`, compression is off, or refused here. A few instances at a time (one more than the
   * pool has workers, so the pool stays busy), not the whole batch: each one in progress holds its
   * frames, so memory stays flat whatever the batch. An instance whose compressed form is not
   * smaller (noise, tiny images) goes as received ("no-gain").
   */
  async prepare(
    items: readonly PrepareItem[],
    options: { asReceived?: boolean } = {},
  ): Promise<PreparedBatch> {
    const syntax = options.asReceived === true ? null : this.activeSyntax();
    const how: PreparedBatch["how"] = new Map();
    if (syntax === null) {
      for (const item of items) {
        how.set(item.sopInstanceUid, { cause: options.asReceived ? "refused" : "off" });
      }
      return { items: items.map((item) => ({ ...item })), how, close: () => Promise.resolve(), probe: false };
    }
    this.#compressor ??= this.#createCompressor(
      this.#config!.compressionWorkers > 0 ? this.#config!.compressionWorkers : defaultWorkerCount(),
    );
    const compressor = this.#compressor;
    const compressed: SendCompressed[] = [];
    const url = this.#config!.url;
    const prepareOne = async (item: PrepareItem): Promise<StowBatchItem> => {
      let cause: OriginalCause | "error" | "no-gain";
      try {
        const out = await compressor.prepare(absolutePath(this.#dataDir, item.path), { syntax });
        if (out.kind === "compressed" && out.size >= item.size) {
          await out.close();
          how.set(item.sopInstanceUid, { cause: "no-gain" });
          return { ...item };
        }
        if (out.kind === "compressed") {
          compressed.push(out);
          const namedInPart = false; // decided below, once the whole request is ready
          how.set(item.sopInstanceUid, {
            transferSyntaxUid: out.transferSyntaxUid,
            bytesIn: item.size,
            bytesOut: out.size,
            namedInPart,
          });
          return { ...item, content: Object.assign(out, { namedInPart }) };
        }
        cause = out.cause;
        if (out.cause === "mismatch" || out.cause === "high-bits") {
          log.info("Instance {uid} goes as received: {reason}", {
            uid: item.sopInstanceUid,
            reason: out.reason,
          });
        }
      } catch (error) {
        // A file that vanished or cannot be read is the sender's business (it reports it); send as is.
        cause = "error";
        log.debug("Instance {uid} goes as received: {error}", {
          uid: item.sopInstanceUid,
          error: String(error),
        });
      }
      how.set(item.sopInstanceUid, { cause });
      return { ...item };
    };
    const prepared = await mapLimited(items, compressor.workers + 1, prepareOne);
    // Not yet known whether this destination stores parts naming their syntax: this request is
    // the probe (all its parts name it) unless another probe is out (then all are plain).
    // Read now, not before compressing: another request's answer may have taught it meanwhile.
    const plain = this.#record.plainPartType.includes(url);
    const proven = this.#record.namedPartOk.includes(url);
    const probe = !plain && !proven && !this.#probing && compressed.length > 0;
    if (probe) this.#probing = true;
    if (proven || probe) {
      for (const item of prepared) if (item.content !== undefined) item.content.namedInPart = true;
      for (const entry of how.values()) if ("namedInPart" in entry) entry.namedInPart = true;
    }
    return {
      items: prepared,
      how,
      close: async () => {
        await Promise.allSettled(compressed.map((c) => c.close()));
      },
      probe,
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
    if (batch.probe) this.#probing = false;
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
