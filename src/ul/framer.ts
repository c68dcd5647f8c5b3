/**
 * Cuts the byte stream of a TCP connection into whole PDUs (PS3.8 §9.3.1: "PDU-type" in byte 1,
 * "PDU-length" in bytes 3-6, the length of the rest of the PDU). The declared length is checked
 * against the limits as soon as the 6-byte header is complete, before any of the body is
 * buffered, so a peer cannot make the gateway hold more than one allowed PDU.
 *
 * Each PDU is gathered into a buffer of its own, of exactly its size, which the framer then hands
 * out. Bytes get there in one of two ways:
 *
 * - `readBuffer()` / `commit(n)`: the caller reads the socket straight into the buffer the framer
 *   names. While a PDU is under way that is the unfilled rest of its buffer, never more, so a read
 *   cannot take bytes of the next PDU and the body of a large P-DATA-TF is not copied at all.
 *   Between PDUs it is a reusable scratch buffer, for the next header and whatever came with it;
 *   those bytes are copied once into their PDU's buffer.
 * - `push(chunk)`: the chunk's bytes are copied into PDU buffers (once each); the caller keeps
 *   the chunk.
 *
 * Buffers of P-DATA-TF PDUs may be handed back with `release` once nothing refers to their bytes;
 * the next P-DATA-TF reuses them instead of allocating (a small pool, one association's worth).
 *
 * Pure: no I/O, no timers.
 * @module
 */
import { AbortReason, PduError, PduType } from "./pdu.ts";
import { pduTypeName } from "./pdu_decode.ts";

/** PS3.8 §9.3.1: PDU type (1), reserved (1), PDU-length (4). */
const HEADER_LENGTH = 6;
/** Default ceiling for PDUs other than P-DATA-TF (A-ASSOCIATE-RQ with many contexts is the largest). */
const DEFAULT_MAX_OTHER_PDU_LENGTH = 1024 * 1024;
const MAX_UINT32 = 0xffffffff;
/** Default size of the scratch buffer that reads land in between PDUs. */
const DEFAULT_SCRATCH_BYTES = 64 * 1024;
/**
 * A P-DATA-TF buffer is allocated at its full declared size up to this many bytes (the usual
 * Maximum Length Received is 16 KiB to 1 MiB); beyond it (only when the limit is above it, or 0 =
 * none) and for every other PDU type the buffer starts smaller and doubles as bytes arrive, so a
 * header alone cannot make the gateway allocate a large buffer.
 */
const PREALLOCATE_P_DATA_BYTES = 4 * 1024 * 1024;
/** First size of the buffer of a PDU other than P-DATA-TF (an A-ASSOCIATE-RQ is a few hundred bytes). */
const INITIAL_OTHER_BYTES = 64 * 1024;
/** Released P-DATA-TF buffers kept for reuse. */
const POOL_SIZE = 2;

/** Options of {@linkcode PduFramer}. */
export interface PduFramerOptions {
  /**
   * Largest PDU-length accepted for a P-DATA-TF: our Maximum Length Received (PS3.8 D.1.1), which
   * bounds the variable field of every P-DATA-TF the peer sends. 0 means no limit, as in D.1.1.
   */
  maxPDataLength: number;
  /** Largest PDU-length accepted for every other PDU type. Default 1 MiB; 0 means no limit. */
  maxOtherPduLength?: number;
  /** Size of the scratch buffer `readBuffer()` names between PDUs. Default 64 KiB. */
  scratchBytes?: number;
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
 * Every PDU returned is a view of `length` bytes at offset 0 of a buffer that belongs to the
 * caller until it is given back with `release` (never, if the caller keeps it).
 *
 * After a `PduError` the framer stays failed: every later `push` or `commit` throws the same error.
 *
 * @example Reading a socket straight into the framer's buffers
 * ```ts
 * const framer = new PduFramer({ maxPDataLength: 16384 });
 * for (;;) {
 *   const n = await conn.read(framer.readBuffer());
 *   if (n === null) break;
 *   for (const bytes of framer.commit(n)) {
 *     await handle(decodePdu(bytes));
 *     framer.release(bytes); // nothing refers to its bytes any more
 *   }
 * }
 * ```
 */
export class PduFramer {
  #maxPDataLength: number;
  readonly #maxOtherPduLength: number;
  readonly #scratchBytes: number;
  #scratch: Uint8Array | null = null;
  /** The header being gathered while no PDU buffer exists yet. */
  #header = new Uint8Array(HEADER_LENGTH);
  #headerFilled = 0;
  /** The buffer of the PDU under way (its header included), or null between PDUs. */
  #pdu: Uint8Array | null = null;
  /** Total length (header included) of the PDU under way. */
  #pduLength = 0;
  /** Bytes of `#pdu` filled so far. */
  #filled = 0;
  /** What the buffer last named by `readBuffer()` was, until `commit`. */
  #target: "scratch" | "pdu" | null = null;
  /** Released P-DATA-TF buffers, whole (offset 0, full length). */
  #pool: Uint8Array[] = [];
  /**
   * Buffers of P-DATA-TF PDUs handed out and not yet released. Weak: a caller that never releases
   * (the SCU client, tests) must not make the framer keep every PDU it ever returned.
   */
  #lent = new WeakSet<ArrayBufferLike>();
  #failed: PduError | undefined;

  /** Creates a framer with the given length limits. */
  constructor(options: PduFramerOptions) {
    this.#maxPDataLength = checkLimit("maxPDataLength", options.maxPDataLength);
    this.#maxOtherPduLength = checkLimit(
      "maxOtherPduLength",
      options.maxOtherPduLength ?? DEFAULT_MAX_OTHER_PDU_LENGTH,
    );
    this.#scratchBytes = options.scratchBytes ?? DEFAULT_SCRATCH_BYTES;
    if (!Number.isInteger(this.#scratchBytes) || this.#scratchBytes < 1) {
      throw new RangeError(`scratchBytes must be a positive integer, got ${this.#scratchBytes}`);
    }
  }

  /** Bytes received but not yet returned as part of a whole PDU. */
  get bufferedBytes(): number {
    return this.#pdu ? this.#filled : this.#headerFilled;
  }

  /**
   * Changes the P-DATA-TF limit (for example once the association is negotiated). Applies to PDUs
   * whose header has not been checked yet.
   */
  setMaxPDataLength(n: number): void {
    this.#maxPDataLength = checkLimit("maxPDataLength", n);
  }

  /**
   * Where the next read should put its bytes; report how many arrived with `commit`. While a PDU
   * is under way this is the unfilled rest of its buffer (so the read takes no byte of the next
   * PDU); between PDUs, the scratch buffer. Calling it again before `commit` names the same bytes.
   * A failed framer names the scratch buffer (what the peer still sends is read and dropped) and
   * throws its error at the next `commit`.
   */
  readBuffer(): Uint8Array {
    if (this.#pdu && !this.#failed) {
      this.#growIfFull();
      this.#target = "pdu";
      return this.#pdu.subarray(this.#filled, Math.min(this.#pdu.length, this.#pduLength));
    }
    this.#target = "scratch";
    this.#scratch ??= new Uint8Array(this.#scratchBytes);
    return this.#scratch;
  }

  /**
   * Takes note that `n` bytes were read into the buffer `readBuffer()` last named, and returns
   * the PDUs they complete (zero or more, in order). When a read completes some PDUs and then
   * holds a bad header, the error is thrown at once and those PDUs are not returned: the
   * association is aborted either way.
   * @throws {PduError} for an unknown PDU type (reason 1) or a declared length over the limit (6).
   */
  commit(n: number): Uint8Array[] {
    const target = this.#target;
    this.#target = null;
    if (this.#failed) throw this.#failed;
    if (target === null) throw new Error("PduFramer.commit without readBuffer");
    if (target === "scratch") return this.#consume(this.#scratch!.subarray(0, n));
    const pdu = this.#pdu!;
    if (!Number.isInteger(n) || n < 0 || this.#filled + n > Math.min(pdu.length, this.#pduLength)) {
      throw new RangeError(`PduFramer.commit: ${n} bytes do not fit the buffer named by readBuffer`);
    }
    this.#filled += n;
    return this.#filled === this.#pduLength ? [this.#finish()] : [];
  }

  /**
   * Copies one chunk's bytes into PDU buffers and returns the PDUs it completes (zero or more),
   * each one whole PDU with its header, in order. The chunk is not kept: the caller may reuse it.
   * Errors as for `commit`.
   * @throws {PduError} for an unknown PDU type (reason 1) or a declared length over the limit (6).
   */
  push(chunk: Uint8Array): Uint8Array[] {
    if (this.#failed) throw this.#failed;
    this.#target = null;
    return this.#consume(chunk);
  }

  /**
   * Gives back the buffer of a P-DATA-TF returned by `commit` or `push`, once nothing refers to
   * its bytes any more (the data set bytes have been copied on). Its memory is reused for a later
   * P-DATA-TF. Anything else (another PDU type, a buffer already released) is ignored.
   */
  release(pdu: Uint8Array): void {
    const buffer = pdu.buffer;
    if (!this.#lent.delete(buffer)) return;
    const whole = new Uint8Array(buffer);
    if (this.#pool.length < POOL_SIZE) {
      this.#pool.push(whole);
      return;
    }
    // Pool full: keep the larger buffers, which serve every P-DATA-TF up to their size.
    let smallest = 0;
    for (let i = 1; i < this.#pool.length; i++) {
      if (this.#pool[i]!.length < this.#pool[smallest]!.length) smallest = i;
    }
    if (whole.length > this.#pool[smallest]!.length) this.#pool[smallest] = whole;
  }

  /** Copies `bytes` into the header or the PDU buffer under way; returns the PDUs completed. */
  #consume(bytes: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    let at = 0;
    try {
      while (at < bytes.length) {
        if (!this.#pdu) {
          const take = Math.min(HEADER_LENGTH - this.#headerFilled, bytes.length - at);
          this.#header.set(bytes.subarray(at, at + take), this.#headerFilled);
          this.#headerFilled += take;
          at += take;
          if (this.#headerFilled < HEADER_LENGTH) break;
          this.#begin();
        } else {
          this.#growIfFull();
          const pdu = this.#pdu;
          const take = Math.min(pdu.length - this.#filled, bytes.length - at);
          pdu.set(bytes.subarray(at, at + take), this.#filled);
          this.#filled += take;
          at += take;
        }
        if (this.#filled === this.#pduLength) out.push(this.#finish());
      }
    } catch (error) {
      if (error instanceof PduError) this.#failed = error;
      throw error;
    }
    return out;
  }

  /** Checks the complete header, then gives the PDU its buffer and copies the header into it. */
  #begin(): void {
    const header = this.#header;
    // PS3.8 §9.3.1, byte 1: PDU-type; bytes 3-6: PDU-length (big endian)
    const type = header[0]!;
    const length = ((header[2]! << 24) >>> 0) + (header[3]! << 16) + (header[4]! << 8) + header[5]!;
    const name = pduTypeName(type);
    if (name === undefined) {
      throw new PduError(
        `Cannot frame PDU: unrecognized PDU type 0x${type.toString(16).padStart(2, "0").toUpperCase()}`,
        AbortReason.UnrecognizedPdu,
      );
    }
    const isPData = type === PduType.PDataTf;
    const limit = isPData ? this.#maxPDataLength : this.#maxOtherPduLength;
    if (limit !== 0 && length > limit) {
      throw new PduError(
        `Cannot frame ${name}: declared PDU length ${length} exceeds the allowed ${limit} bytes`,
        AbortReason.InvalidPduParameterValue,
      );
    }
    const total = HEADER_LENGTH + length;
    let pdu: Uint8Array;
    if (isPData && total <= PREALLOCATE_P_DATA_BYTES) {
      pdu = this.#fromPool(total);
      this.#lent.add(pdu.buffer);
    } else {
      pdu = new Uint8Array(Math.min(total, isPData ? PREALLOCATE_P_DATA_BYTES : INITIAL_OTHER_BYTES));
    }
    pdu.set(header);
    this.#pdu = pdu;
    this.#pduLength = total;
    this.#filled = HEADER_LENGTH;
    this.#headerFilled = 0;
  }

  /** A view of `total` bytes of the smallest pooled buffer that holds them, or a new buffer. */
  #fromPool(total: number): Uint8Array {
    let best = -1;
    for (let i = 0; i < this.#pool.length; i++) {
      const length = this.#pool[i]!.length;
      if (length >= total && (best < 0 || length < this.#pool[best]!.length)) best = i;
    }
    if (best < 0) return new Uint8Array(total);
    const [buffer] = this.#pool.splice(best, 1);
    return buffer!.subarray(0, total);
  }

  /**
   * Doubles a buffer that started below its PDU's size once it is full (never past that size).
   * Each byte is copied at most once per doubling, so the total stays linear.
   */
  #growIfFull(): void {
    const pdu = this.#pdu!;
    if (this.#filled < pdu.length || pdu.length === this.#pduLength) return;
    const grown = new Uint8Array(Math.min(this.#pduLength, pdu.length * 2));
    grown.set(pdu);
    this.#pdu = grown;
  }

  /** Hands out the completed PDU and gets ready for the next header. */
  #finish(): Uint8Array {
    const pdu = this.#pdu!.subarray(0, this.#pduLength);
    this.#pdu = null;
    this.#filled = 0;
    this.#pduLength = 0;
    return pdu;
  }
}
