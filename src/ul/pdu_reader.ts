/**
 * Whole PDUs from a connection, through the shared {@linkcode PduFramer}: the socket is read
 * straight into the buffer the framer names (so a read never takes bytes of the next PDU), and a
 * read still under way when a wait times out is kept for the next call, so no byte is lost.
 * The SCU reads with it; it is the same read the acceptor in `association.ts` does.
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

/** The read side of a connection: anything with `read` like `Deno.Conn`. */
export interface ByteSource {
  read(p: Uint8Array): Promise<number | null>;
}

/** Reads whole, decoded PDUs from a byte source. */
export class PduReader {
  readonly #source: ByteSource;
  readonly #framer: PduFramer;
  #queue: Pdu[] = [];
  #pendingRead: Promise<number | null> | null = null;

  /** Reads `source` through `framer` (its limits decide which declared lengths are refused). */
  constructor(source: ByteSource, framer: PduFramer) {
    this.#source = source;
    this.#framer = framer;
  }

  /**
   * The next PDU, or "closed", or "timeout" after `timeoutMs` without a whole PDU.
   * @throws {PduError} from the framer or the decoder (PS3.8 §9.2.2 Evt19, invalid PDU).
   */
  async next(timeoutMs: number): Promise<PduReadResult> {
    const deadline = Date.now() + timeoutMs;
    while (this.#queue.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) return { kind: "timeout" };
      this.#pendingRead ??= this.#source.read(this.#framer.readBuffer()).catch(() => null);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const n = await Promise.race([
        this.#pendingRead,
        new Promise<"timeout">((resolve) => timer = setTimeout(() => resolve("timeout"), left)),
      ]).finally(() => clearTimeout(timer));
      if (n === "timeout") return { kind: "timeout" };
      this.#pendingRead = null;
      if (n === null) return { kind: "closed" };
      // Decoded PDUs hold copies or views of their own buffer, never of the framer's scratch.
      for (const frame of this.#framer.commit(n)) this.#queue.push(decodePdu(frame));
    }
    return { kind: "pdu", pdu: this.#queue.shift()! };
  }
}
