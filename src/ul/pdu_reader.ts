/**
 * Whole PDUs from a connection, through the shared {@linkcode PduFramer}: the socket is read
 * straight into the buffer the framer names (the rest of the PDU under way, so a read never takes
 * bytes of the next PDU, or between PDUs its scratch buffer), and a read still under way when a
 * wait times out is kept for the next call, so no byte is lost.
 *
 * Two levels: `readFrames` gives the raw PDU buffers a read completed (the caller decodes each,
 * and may hand its buffer back with `release`), as the acceptor's loop in `association.ts` does;
 * `next` gives decoded PDUs one at a time, as the SCU and the tests' scripted peer want.
 * @module
 */
import type { PduFramer } from "./framer.ts";
import { decodePdu } from "./pdu_decode.ts";
import type { Pdu } from "./pdu.ts";

/** What one wait for a PDU gave. */
export type PduReadResult =
  | { kind: "pdu"; pdu: Pdu }
  /** The peer closed the connection (PS3.8 §9.2.2 Evt17). */
  | { kind: "closed" }
  /** Nothing whole arrived within the time given. */
  | { kind: "timeout" };

/** What one socket read gave: the PDUs it completed (maybe none), or closed, or timeout. */
export type FrameReadResult =
  | { kind: "frames"; frames: Uint8Array[] }
  | { kind: "closed" }
  | { kind: "timeout" };

/** The read side of a connection: anything with `read` like `Deno.Conn`. */
export interface ByteSource {
  read(p: Uint8Array): Promise<number | null>;
}

/** Reads whole PDUs from a byte source. */
export class PduReader {
  readonly #source: ByteSource;
  readonly #framer: PduFramer;
  #queue: Pdu[] = [];
  #pendingRead: Promise<number | null> | null = null;
  /** When the read now waiting times out. */
  #deadline = 0;
  /**
   * One timer for the reader, not one per read: setting and clearing a timer costs more than the
   * rest of a read (a 512 MB instance takes some 8000 reads). Reads only move `#deadline` on;
   * when the timer fires early it is set again for the time left.
   */
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = 0;
  /** Ends the wait of the read now waiting with "timeout". */
  #wake: ((value: "timeout") => void) | null = null;

  /** Reads `source` through `framer` (its limits decide which declared lengths are refused). */
  constructor(source: ByteSource, framer: PduFramer) {
    this.#source = source;
    this.#framer = framer;
  }

  /**
   * One socket read (or the one still under way), waiting at most `timeoutMs` from this call: the
   * PDU buffers it completed, in order (often none), or "closed", or "timeout".
   * @throws {PduError} from the framer: unrecognized PDU type, declared length over the limit.
   */
  async readFrames(timeoutMs: number): Promise<FrameReadResult> {
    this.#pendingRead ??= this.#source.read(this.#framer.readBuffer()).catch(() => null);
    this.#deadline = Date.now() + timeoutMs;
    if (this.#timer === undefined || this.#timerAt > this.#deadline) this.#setTimer(timeoutMs);
    const timeout = new Promise<"timeout">((resolve) => {
      this.#wake = resolve;
    });
    let n: number | null | "timeout";
    try {
      n = await Promise.race([this.#pendingRead, timeout]);
    } finally {
      this.#wake = null;
    }
    if (n === "timeout") return { kind: "timeout" };
    this.#pendingRead = null;
    if (n === null) {
      this.close();
      return { kind: "closed" };
    }
    return { kind: "frames", frames: this.#framer.commit(n) };
  }

  /**
   * The next decoded PDU, or "closed", or "timeout" after `timeoutMs` without a whole PDU.
   * @throws {PduError} from the framer or the decoder (PS3.8 §9.2.2 Evt19, invalid PDU).
   */
  async next(timeoutMs: number): Promise<PduReadResult> {
    const deadline = Date.now() + timeoutMs;
    while (this.#queue.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) return { kind: "timeout" };
      const result = await this.readFrames(left);
      if (result.kind !== "frames") return result;
      // Each PDU has a buffer of its own (never released here), so decoded views stay valid.
      for (const frame of result.frames) this.#queue.push(decodePdu(frame));
    }
    return { kind: "pdu", pdu: this.#queue.shift()! };
  }

  /** Gives a P-DATA-TF buffer from `readFrames` back to the framer once nothing refers to it. */
  release(frame: Uint8Array): void {
    this.#framer.release(frame);
  }

  /** Stops the timer (the connection is done with). A read under way is left to the connection's close. */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #setTimer(ms: number): void {
    clearTimeout(this.#timer);
    this.#timerAt = Date.now() + ms;
    this.#timer = setTimeout(() => this.#onTimer(), ms);
  }

  #onTimer(): void {
    this.#timer = undefined;
    // No read waiting (the last PDU is still being handled): the next read sets the timer again.
    if (!this.#wake) return;
    const left = this.#deadline - Date.now();
    if (left > 0) this.#setTimer(left);
    else this.#wake("timeout");
  }
}
