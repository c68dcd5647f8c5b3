/**
 * A small association requestor (SCU) for the `echo` and `store` commands: C-ECHO and C-STORE
 * over one association, data sets streamed from Part 10 files in PDV-sized pieces.
 * @module
 */
import { PduFramer } from "../ul/framer.ts";
import { decodePdu } from "../ul/pdu_decode.ts";
import { encodePDataTf, encodePdu } from "../ul/pdu_encode.ts";
import {
  type AssociateAc,
  DICOM_APPLICATION_CONTEXT,
  emptyUserInformation,
  type Pdu,
  PresentationContextResult,
  type PresentationContextRq,
} from "../ul/pdu.ts";
import { MessageAssembler } from "../dimse/assembler.ts";
import { type CommandSet, encodeCommandSet } from "../dimse/command.ts";
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from "../version.ts";

/**
 * Cuts a byte stream into PDV fragments of exactly `max` bytes (rounded down to even), the last
 * one holding the rest. PS3.8 Annex E.2 limits a fragment to the peer's maximum length, and
 * DCMTK refuses any odd fragment ("Odd Fragment Length"), so fragment edges must never follow
 * the edges of file reads, which can be odd. An even-length stream thus gives even fragments.
 */
export async function* pdvFragments(
  parts: AsyncIterable<Uint8Array>,
  max: number,
): AsyncIterable<Uint8Array> {
  const size = Math.max(2, max - (max % 2));
  let carry = new Uint8Array(size);
  let filled = 0;
  for await (const part of parts) {
    let offset = 0;
    if (filled > 0) {
      const take = Math.min(size - filled, part.length);
      carry.set(part.subarray(0, take), filled);
      filled += take;
      offset = take;
      if (filled < size) continue;
      yield carry;
      carry = new Uint8Array(size);
      filled = 0;
    }
    for (; part.length - offset >= size; offset += size) yield part.subarray(offset, offset + size);
    if (offset < part.length) {
      carry.set(part.subarray(offset), 0);
      filled = part.length - offset;
    }
  }
  if (filled > 0) yield carry.subarray(0, filled);
}

/** Options for `ScuAssociation.open`. */
export interface ScuOptions {
  host: string;
  port: number;
  callingAeTitle: string;
  calledAeTitle: string;
  presentationContexts: { abstractSyntax: string; transferSyntaxes: string[] }[];
  /** Our Maximum Length Received. */
  maxPduLength?: number;
  /** Give up when the peer sends nothing for this long. */
  timeoutMs?: number;
}

/** Raised when the peer rejects or aborts the association, or the connection fails. */
export class ScuError extends Error {
  override name = "ScuError";
}

/** An established association as requestor. */
export class ScuAssociation {
  #conn: Deno.TcpConn;
  #framer: PduFramer;
  #queue: Pdu[] = [];
  #timeoutMs: number;
  #nextMessageId = 1;
  /** Accepted presentation contexts: id → { abstractSyntax, transferSyntax }. */
  readonly accepted: Map<number, { abstractSyntax: string; transferSyntax: string }>;
  readonly peerMaxPduLength: number;

  private constructor(
    conn: Deno.TcpConn,
    framer: PduFramer,
    ac: AssociateAc,
    rq: PresentationContextRq[],
    timeoutMs: number,
  ) {
    this.#conn = conn;
    this.#framer = framer;
    this.#timeoutMs = timeoutMs;
    this.peerMaxPduLength = ac.userInformation.maxPduLength ?? 0;
    this.accepted = new Map();
    for (const pc of ac.presentationContexts) {
      const proposed = rq.find((p) => p.id === pc.id);
      if (proposed && pc.result === PresentationContextResult.Acceptance) {
        this.accepted.set(pc.id, {
          abstractSyntax: proposed.abstractSyntax,
          transferSyntax: pc.transferSyntax,
        });
      }
    }
  }

  /** Connects and negotiates; throws ScuError on rejection. */
  static async open(options: ScuOptions): Promise<ScuAssociation> {
    const maxPduLength = options.maxPduLength ?? 262144;
    const timeoutMs = options.timeoutMs ?? 30_000;
    let conn: Deno.TcpConn;
    try {
      conn = await Deno.connect({ hostname: options.host, port: options.port });
    } catch (error) {
      throw new ScuError(`Cannot connect to ${options.host}:${options.port}: ${(error as Error).message}`);
    }
    conn.setNoDelay(true);
    // PS3.8 §9.3.2.2: presentation context IDs are odd integers 1–255.
    if (options.presentationContexts.length > 128) {
      conn.close();
      throw new ScuError("At most 128 presentation contexts fit in one association");
    }
    const contexts = options.presentationContexts.map((pc, i) => ({ id: 2 * i + 1, ...pc }));
    const userInformation = emptyUserInformation();
    userInformation.maxPduLength = maxPduLength;
    userInformation.implementationClassUid = IMPLEMENTATION_CLASS_UID;
    userInformation.implementationVersionName = IMPLEMENTATION_VERSION_NAME;
    const framer = new PduFramer({ maxPDataLength: maxPduLength });
    const partial = new ScuReader(conn, framer, timeoutMs);
    try {
      await writeAll(
        conn,
        encodePdu({
          type: "A-ASSOCIATE-RQ",
          protocolVersion: 1,
          calledAeTitle: options.calledAeTitle,
          callingAeTitle: options.callingAeTitle,
          applicationContextName: DICOM_APPLICATION_CONTEXT,
          presentationContexts: contexts,
          userInformation,
        }),
      );
      const reply = await partial.next();
      if (reply.type === "A-ASSOCIATE-RJ") {
        throw new ScuError(
          `Association rejected by ${options.calledAeTitle} at ${options.host}:${options.port} ` +
            `(result ${reply.result}, source ${reply.source}, reason ${reply.reason}: ${
              describeRejection(reply)
            })`,
        );
      }
      if (reply.type !== "A-ASSOCIATE-AC") {
        throw new ScuError(`Expected A-ASSOCIATE-AC, received ${reply.type}`);
      }
      const association = new ScuAssociation(conn, framer, reply, contexts, timeoutMs);
      association.#queue = partial.queue;
      return association;
    } catch (error) {
      try {
        conn.close();
      } catch { /* closed */ }
      throw error;
    }
  }

  /** The accepted context for an abstract syntax and transfer syntax, if any. */
  contextFor(abstractSyntax: string, transferSyntax?: string): number | undefined {
    for (const [id, pc] of this.accepted) {
      if (pc.abstractSyntax === abstractSyntax && (!transferSyntax || pc.transferSyntax === transferSyntax)) {
        return id;
      }
    }
    return undefined;
  }

  /** A new Message ID (PS3.7 §9.1.1.1: unique among this association's outstanding messages). */
  nextMessageId(): number {
    const id = this.#nextMessageId;
    this.#nextMessageId = (this.#nextMessageId % 0xffff) + 1;
    return id;
  }

  /**
   * Sends a command and optionally a data set read from `dataset` (a stream of bytes), then waits
   * for the response command.
   */
  async request(
    presentationContextId: number,
    command: CommandSet,
    dataset?: AsyncIterable<Uint8Array>,
  ): Promise<CommandSet> {
    await this.#sendFragments(presentationContextId, true, single(encodeCommandSet(command)));
    if (dataset) await this.#sendFragments(presentationContextId, false, dataset);
    const assembler = new MessageAssembler();
    for (;;) {
      const pdu = await this.#next();
      if (pdu.type === "A-ABORT") {
        throw new ScuError(`Association aborted by the peer (source ${pdu.source}, reason ${pdu.reason})`);
      }
      if (pdu.type !== "P-DATA-TF") throw new ScuError(`Expected P-DATA-TF, received ${pdu.type}`);
      for (const pdv of pdu.pdvs) {
        for (const event of assembler.push(pdv)) {
          if (event.kind === "command") return event.command;
        }
      }
    }
  }

  /** A-RELEASE-RQ, wait for A-RELEASE-RP, close. */
  async release(): Promise<void> {
    try {
      await writeAll(this.#conn, encodePdu({ type: "A-RELEASE-RQ" }));
      const pdu = await this.#next();
      if (pdu.type !== "A-RELEASE-RP") throw new ScuError(`Expected A-RELEASE-RP, received ${pdu.type}`);
    } finally {
      this.close();
    }
  }

  /** Sends A-ABORT and closes. */
  async abort(): Promise<void> {
    try {
      await writeAll(this.#conn, encodePdu({ type: "A-ABORT", source: 0, reason: 0 }));
    } catch { /* closing anyway */ }
    this.close();
  }

  /** Closes the connection. */
  close(): void {
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }

  async #sendFragments(id: number, isCommand: boolean, parts: AsyncIterable<Uint8Array>): Promise<void> {
    // PS3.8 §9.3.5: every PDV item costs 6 bytes of header inside the peer's maximum length.
    const max = this.peerMaxPduLength > 0 ? this.peerMaxPduLength - 6 : 1024 * 1024;
    let held: Uint8Array | null = null;
    for await (const piece of pdvFragments(parts, max)) {
      if (held) {
        await writeAll(
          this.#conn,
          encodePDataTf([{ presentationContextId: id, isCommand, isLast: false, data: held }]),
        );
      }
      held = piece;
    }
    // The last fragment carries the "last" bit (PS3.8 Annex E.2), even an empty data set.
    await writeAll(
      this.#conn,
      encodePDataTf([{
        presentationContextId: id,
        isCommand,
        isLast: true,
        data: held ?? new Uint8Array(0),
      }]),
    );
  }

  async #next(): Promise<Pdu> {
    const reader = new ScuReader(this.#conn, this.#framer, this.#timeoutMs);
    reader.queue = this.#queue;
    const pdu = await reader.next();
    this.#queue = reader.queue;
    return pdu;
  }
}

/** Reads whole PDUs from a connection with a timeout. */
class ScuReader {
  queue: Pdu[] = [];
  constructor(private conn: Deno.TcpConn, private framer: PduFramer, private timeoutMs: number) {}

  async next(): Promise<Pdu> {
    while (this.queue.length === 0) {
      const buffer = new Uint8Array(65536);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const n = await Promise.race([
        this.conn.read(buffer).catch(() => null),
        new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), this.timeoutMs)),
      ]).finally(() => clearTimeout(timer));
      if (n === "timeout") throw new ScuError(`No answer from the peer within ${this.timeoutMs / 1000} s`);
      if (n === null) throw new ScuError("The peer closed the connection");
      for (const frame of this.framer.push(buffer.subarray(0, n))) this.queue.push(decodePdu(frame.slice()));
    }
    return this.queue.shift()!;
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

async function* single(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  yield bytes;
}

function describeRejection(rj: { result: number; source: number; reason: number }): string {
  const transient = rj.result === 2 ? "transient" : "permanent";
  if (rj.source === 1) {
    const reasons: Record<number, string> = {
      1: "no reason given",
      2: "application context name not supported",
      3: "calling AE title not recognized",
      7: "called AE title not recognized",
    };
    return `${transient}; ${reasons[rj.reason] ?? "unknown reason"}`;
  }
  if (rj.source === 2) {
    return `${transient}; ${rj.reason === 2 ? "protocol version not supported" : "no reason given"}`;
  }
  return `${transient}; ${rj.reason === 2 ? "local limit exceeded" : "temporary congestion"}`;
}
