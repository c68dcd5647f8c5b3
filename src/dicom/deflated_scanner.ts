/**
 * The {@link DatasetScanner} over a deflated data set (PS3.5 §A.5: the data set after the File
 * Meta Information is one raw deflate stream, RFC 1951 without zlib header, of an Explicit VR
 * Little Endian data set). The compressed chunks are inflated as a stream in 4 KiB pieces that
 * go straight to the scanner: nothing is inflated whole, whatever the ratio.
 *
 * Checked on top of the scanner's checks: the inflated size stays within `maxInflatedBytes`
 * (a deflate bomb is refused as soon as it passes it); the stream is complete; and nothing
 * follows its end but the single zero byte PS3.5 §A.5 allows as padding to even length.
 *
 * node:zlib rather than DecompressionStream("deflate-raw"): measured here (Deno 2.9), the latter
 * hands out the whole inflation of each written chunk as one buffer (10 MB from a 9.7 kB write),
 * reports no error for a truncated stream, and cannot tell where the stream ended. node:zlib
 * gives bounded pieces (`chunkSize`), "unexpected end of file", and `bytesWritten`.
 * @module
 */
import { createInflateRaw, type InflateRaw } from "node:zlib";
import {
  DatasetError,
  DatasetScanner,
  type DatasetScannerOptions,
  type KeptValue,
} from "./dataset_scanner.ts";

/** Options of {@link DeflatedDatasetScanner}. */
export interface DeflatedScannerOptions extends Omit<DatasetScannerOptions, "encoding"> {
  /** The inflated data set may not be longer than this. Default 4 GiB. */
  maxInflatedBytes?: number;
}

/** Default cap on the inflated size of a deflated data set: 4 GiB. */
export const DEFAULT_MAX_INFLATED_BYTES = 4 * 1024 * 1024 * 1024;

/**
 * Inflated bytes handed to the scanner at a time. Small on purpose: each piece is a fresh buffer
 * that lives until the next garbage collection, and with 64 KiB pieces a 1 GiB bomb raised the
 * peak RSS by 140 MB before the collector caught up, with 16 KiB by 100 MB, with 4 KiB by 26 MB
 * (measured here, `--max-semi-space-size=2`; inflating costs 1.6 s per GiB instead of 0.7 s).
 */
const PIECE = 4 * 1024;
/**
 * Inflated bytes one write to the inflater may produce, about: node:zlib inflates all of a
 * written chunk before its callback, so the compressed bytes are written in slices sized by the
 * ratio seen so far (a zero-filled bomb inflates about 1000:1: 256 bytes then make about 256 kB).
 */
const OUTPUT_PER_WRITE = 256 * 1024;
const MIN_SLICE = 256;
const MAX_SLICE = 64 * 1024;
const FIRST_SLICE = 256;

/** An inflated size beyond the cap: the instance is refused (not malformed, just too big). */
export class InflatedSizeError extends DatasetError {
  constructor(limit: number) {
    super(`Cannot read data set: the deflated data set inflates past the limit of ${limit} bytes`, {
      comment: `Deflated data set inflates past the limit (${formatBytes(limit)})`,
    });
    this.name = "InflatedSizeError";
  }
}

function formatBytes(n: number): string {
  const gib = n / 2 ** 30;
  if (gib >= 1 && Number.isInteger(gib)) return `${gib} GiB`;
  const mib = n / 2 ** 20;
  if (mib >= 1 && Number.isInteger(mib)) return `${mib} MiB`;
  return `${n} bytes`;
}

/** Inflates and scans; `push` and `end` settle once the bytes given are inflated and scanned. */
export class DeflatedDatasetScanner {
  readonly #scanner: DatasetScanner;
  readonly #maxInflated: number;
  readonly #inflater: InflateRaw;
  #inflated = 0;
  #compressed = 0;
  #lastByte = -1;
  #streamEnded = false;
  #failure: DatasetError | null = null;
  #closed: Promise<void>;
  #maxPiece = 0;
  /** Inflated bytes since the last write went in, and the most one write produced. */
  #sinceWrite = 0;
  #maxPerWrite = 0;
  #slice = FIRST_SLICE;

  constructor(options: DeflatedScannerOptions = {}) {
    this.#scanner = new DatasetScanner({
      ...options,
      encoding: { littleEndian: true, explicitVr: true },
    });
    this.#maxInflated = options.maxInflatedBytes ?? DEFAULT_MAX_INFLATED_BYTES;
    this.#inflater = createInflateRaw({ chunkSize: PIECE });
    this.#inflater.on("data", (piece: Uint8Array) => this.#onInflated(piece));
    this.#closed = new Promise<void>((resolve) => {
      this.#inflater.on("end", () => {
        this.#streamEnded = true;
        resolve();
      });
      this.#inflater.on("error", (error: Error) => {
        this.#failure ??= new DatasetError(`Cannot inflate deflated data set: ${error.message}`, {
          cause: error,
          comment: "Cannot inflate the deflated data set",
        });
        resolve();
      });
      this.#inflater.on("close", () => resolve());
    });
  }

  /** The kept values (see {@link DatasetScanner.values}). */
  get values(): ReadonlyMap<number, KeptValue> {
    return this.#scanner.values;
  }

  /** See {@link DatasetScanner.pastKept}. */
  get pastKept(): boolean {
    return this.#scanner.pastKept;
  }

  /** Inflated bytes so far. */
  get inflatedBytes(): number {
    return this.#inflated;
  }

  /**
   * The scanner's most buffered bytes plus the most inflated bytes one write produced (all of
   * which the inflater may hold before the scanner has them): the bound on what this holds.
   */
  get maxBufferedBytes(): number {
    return this.#scanner.maxBufferedBytes + Math.max(this.#maxPiece, this.#maxPerWrite);
  }

  /** Inflates and scans the next compressed bytes (not kept once the promise settles). */
  async push(bytes: Uint8Array): Promise<void> {
    this.#throwIfFailed();
    if (bytes.length === 0) return;
    this.#lastByte = bytes[bytes.length - 1]!;
    let offset = 0;
    while (offset < bytes.length) {
      if (this.#streamEnded) {
        this.#compressed += bytes.length - offset;
        this.#checkTrailing();
        return;
      }
      const slice = bytes.subarray(offset, offset + this.#slice);
      offset += slice.length;
      this.#compressed += slice.length;
      this.#sinceWrite = 0;
      await new Promise<void>((resolve) => {
        this.#inflater.write(slice, () => resolve());
        // The callback is not called once the inflater is destroyed: the close settles it too.
        void this.#closed.then(resolve);
      });
      if (this.#sinceWrite > this.#maxPerWrite) this.#maxPerWrite = this.#sinceWrite;
      this.#throwIfFailed();
      const ratio = this.#inflated / Math.max(1, this.#compressed);
      this.#slice = Math.max(
        MIN_SLICE,
        Math.min(MAX_SLICE, Math.floor(OUTPUT_PER_WRITE / Math.max(1, ratio))),
      );
    }
    if (this.#streamEnded) this.#checkTrailing();
  }

  /** The last compressed byte has been pushed: the stream and the data set must be complete. */
  async end(): Promise<void> {
    this.#throwIfFailed();
    if (!this.#streamEnded) {
      this.#inflater.end();
      await this.#closed;
      this.#throwIfFailed();
      if (!this.#streamEnded) {
        throw this.#fail(
          new DatasetError("Cannot inflate deflated data set: the stream ended early", {
            comment: "Cannot inflate the deflated data set",
          }),
        );
      }
    }
    this.#checkTrailing();
    try {
      this.#scanner.end();
    } catch (error) {
      if (error instanceof DatasetError) throw this.#fail(error);
      throw error;
    }
  }

  /** Stops inflating (the reader has what it wants, or gives up). */
  close(): void {
    this.#inflater.destroy();
  }

  #onInflated(piece: Uint8Array): void {
    if (this.#failure) return;
    if (piece.length > this.#maxPiece) this.#maxPiece = piece.length;
    this.#inflated += piece.length;
    this.#sinceWrite += piece.length;
    if (this.#inflated > this.#maxInflated) {
      this.#fail(new InflatedSizeError(this.#maxInflated));
      this.#inflater.destroy();
      return;
    }
    try {
      this.#scanner.push(piece);
    } catch (error) {
      this.#fail(
        error instanceof DatasetError ? error : new DatasetError(String(error), { cause: error }),
      );
      this.#inflater.destroy();
    }
  }

  /** PS3.5 §A.5: after the stream, at most the one zero byte that pads it to even length. */
  #checkTrailing(): void {
    const consumed = this.#inflater.bytesWritten;
    const trailing = this.#compressed - consumed;
    if (trailing === 0 || (trailing === 1 && this.#lastByte === 0)) return;
    this.#inflater.destroy();
    throw this.#fail(
      new DatasetError(
        `Cannot read data set: ${trailing} bytes follow the end of the deflated data set at offset ${consumed}`,
        { comment: "Data after the end of the deflated data set" },
      ),
    );
  }

  #fail(error: DatasetError): DatasetError {
    this.#failure ??= error;
    return this.#failure;
  }

  #throwIfFailed(): void {
    if (this.#failure) {
      this.#inflater.destroy();
      throw this.#failure;
    }
  }
}
