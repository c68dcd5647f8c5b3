/**
 * Splits and merges the chunks a TCP connection delivers into whole PDUs (PS3.8 §9.3.1: a 6-byte
 * header whose bytes 3-6 give the length of the rest). The declared length is checked against
 * the limits as soon as the header is complete, before any of the body is buffered, so a peer
 * cannot make the gateway hold more than one allowed PDU.
 *
 * Chunks are kept in a list, never re-concatenated on each push: a PDU lying inside one chunk is
 * returned as a view of that chunk; a PDU spread over several chunks is copied once into its own
 * array.
 * @module
 */
import { AbortReason, PduError, PduType } from "./pdu.ts";
import { pduTypeName } from "./pdu_decode.ts";

/** PS3.8 §9.3.1: PDU type (1), reserved (1), PDU-length (4). */
const HEADER_LENGTH = 6;
/** Default ceiling for PDUs other than P-DATA-TF (A-ASSOCIATE-RQ with many contexts is the largest). */
const DEFAULT_MAX_OTHER_PDU_LENGTH = 1024 * 1024;
const MAX_UINT32 = 0xffffffff;

/** Options of {@linkcode PduFramer}. */
export interface PduFramerOptions {
  /**
   * Largest PDU-length accepted for a P-DATA-TF: our Maximum Length Received (PS3.8 D.1.1), which
   * bounds the variable field of every P-DATA-TF the peer sends. 0 means no limit, as in D.1.1.
   */
  maxPDataLength: number;
  /** Largest PDU-length accepted for every other PDU type. Default 1 MiB; 0 means no limit. */
  maxOtherPduLength?: number;
}

function checkLimit(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > MAX_UINT32) {
    throw new RangeError(`${name} must be an integer from 0 to ${MAX_UINT32}, got ${value}`);
  }
  return value;
}

/**
 * Turns arbitrary TCP reads into whole PDUs.
 *
 * `push` takes ownership of each chunk: the framer keeps chunks (and returns views of them) until
 * the PDUs they hold are consumed, so the caller must not reuse or modify a pushed buffer. Read
 * each chunk into a fresh array (a `ReadableStream` from `Deno.Conn.readable` does).
 *
 * After a `PduError` the framer stays failed: every later `push` throws the same error.
 *
 * @example
 * ```ts
 * const framer = new PduFramer({ maxPDataLength: 16384 });
 * for await (const chunk of conn.readable) {
 *   for (const bytes of framer.push(chunk)) handle(decodePdu(bytes));
 * }
 * ```
 */
export class PduFramer {
  #maxPDataLength: number;
  readonly #maxOtherPduLength: number;
  /** Chunks not yet fully consumed; `#chunks[#first]` is the oldest, read from `#offset`. */
  #chunks: Uint8Array[] = [];
  #first = 0;
  #offset = 0;
  #buffered = 0;
  /** Total length (header included) of the PDU whose header has been checked, or -1. */
  #pending = -1;
  #failed: PduError | undefined;

  /** Creates a framer with the given length limits. */
  constructor(options: PduFramerOptions) {
    this.#maxPDataLength = checkLimit("maxPDataLength", options.maxPDataLength);
    this.#maxOtherPduLength = checkLimit(
      "maxOtherPduLength",
      options.maxOtherPduLength ?? DEFAULT_MAX_OTHER_PDU_LENGTH,
    );
  }

  /** Bytes received but not yet returned as part of a whole PDU. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /**
   * Changes the P-DATA-TF limit (for example once the association is negotiated). Applies to PDUs
   * whose header has not been checked yet.
   */
  setMaxPDataLength(n: number): void {
    this.#maxPDataLength = checkLimit("maxPDataLength", n);
  }

  /**
   * Adds one chunk and returns the PDUs it completes (zero or more), each one whole PDU with its
   * header, in order. When a chunk completes some PDUs and then holds a bad header, the error is
   * thrown at once and those PDUs are not returned: the association is aborted either way.
   * @throws {PduError} for an unknown PDU type (reason 1) or a declared length over the limit (6).
   */
  push(chunk: Uint8Array): Uint8Array[] {
    if (this.#failed) throw this.#failed;
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
    }
    const out: Uint8Array[] = [];
    try {
      while (true) {
        if (this.#pending < 0) {
          if (this.#buffered < HEADER_LENGTH) break;
          this.#pending = HEADER_LENGTH + this.#checkHeader();
        }
        if (this.#buffered < this.#pending) break;
        out.push(this.#take(this.#pending));
        this.#pending = -1;
      }
    } catch (error) {
      if (error instanceof PduError) this.#failed = error;
      throw error;
    }
    this.#release(chunk);
    this.#compact();
    return out;
  }

  /**
   * If the bytes of `chunk` still buffered are a small part of a large backing buffer (a 256 KiB
   * read that brought 3 bytes), keeps a copy of just those bytes instead: a peer sending a PDU one
   * byte per TCP segment would otherwise pin one read buffer per byte. Each byte is copied at most
   * once, so the framer stays linear.
   */
  #release(chunk: Uint8Array): void {
    const last = this.#chunks.length - 1;
    if (last < this.#first || this.#chunks[last] !== chunk) return;
    const start = last === this.#first ? this.#offset : 0;
    const kept = chunk.length - start;
    if (chunk.buffer.byteLength <= 2 * kept + 4096) return;
    this.#chunks[last] = chunk.slice(start);
    if (last === this.#first) this.#offset = 0;
  }

  /** The byte `index` bytes past the read position (index < #buffered). */
  #byteAt(index: number): number {
    let i = this.#first;
    let at = this.#offset + index;
    while (at >= this.#chunks[i]!.length) {
      at -= this.#chunks[i]!.length;
      i++;
    }
    return this.#chunks[i]![at]!;
  }

  /** Checks the 6-byte header at the read position; returns its PDU-length. */
  #checkHeader(): number {
    // PS3.8 §9.3.1, byte 1: PDU-type; bytes 3-6: PDU-length (big endian)
    const type = this.#byteAt(0);
    const length = ((this.#byteAt(2) << 24) >>> 0) + (this.#byteAt(3) << 16) + (this.#byteAt(4) << 8) +
      this.#byteAt(5);
    const name = pduTypeName(type);
    if (name === undefined) {
      throw new PduError(
        `Cannot frame PDU: unrecognized PDU type 0x${type.toString(16).padStart(2, "0").toUpperCase()}`,
        AbortReason.UnrecognizedPdu,
      );
    }
    const limit = type === PduType.PDataTf ? this.#maxPDataLength : this.#maxOtherPduLength;
    if (limit !== 0 && length > limit) {
      throw new PduError(
        `Cannot frame ${name}: declared PDU length ${length} exceeds the allowed ${limit} bytes`,
        AbortReason.InvalidPduParameterValue,
      );
    }
    return length;
  }

  /** Removes and returns the next `n` bytes; a view when they lie in one chunk, else one copy. */
  #take(n: number): Uint8Array {
    const head = this.#chunks[this.#first]!;
    if (head.length - this.#offset >= n) {
      const view = head.subarray(this.#offset, this.#offset + n);
      this.#advance(n);
      return view;
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.#chunks[this.#first]!;
      const count = Math.min(chunk.length - this.#offset, n - filled);
      out.set(chunk.subarray(this.#offset, this.#offset + count), filled);
      filled += count;
      this.#advance(count);
    }
    return out;
  }

  /** Moves the read position `n` bytes on, within the current chunk or to the next. */
  #advance(n: number): void {
    this.#offset += n;
    this.#buffered -= n;
    const head = this.#chunks[this.#first]!;
    if (this.#offset === head.length) {
      this.#chunks[this.#first] = EMPTY;
      this.#first++;
      this.#offset = 0;
    }
  }

  /** Drops consumed chunk slots so the list does not grow without bound. */
  #compact(): void {
    if (this.#first === this.#chunks.length) {
      this.#chunks = [];
      this.#first = 0;
    } else if (this.#first > 64 && this.#first * 2 > this.#chunks.length) {
      this.#chunks = this.#chunks.slice(this.#first);
      this.#first = 0;
    }
  }
}

const EMPTY = new Uint8Array(0);
