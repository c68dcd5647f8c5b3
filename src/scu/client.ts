/**
 * A small association requestor (SCU) for the `echo` and `store` commands: C-ECHO and C-STORE
 * over one association, data sets streamed from Part 10 files in PDV-sized pieces. The Upper Layer
 * is the acceptor's: the same framer and PDU reader, the same P-DATA writer (`ul/pdata_writer.ts`)
 * and the requestor cells of the same state table (`ul/state_machine.ts`).
 * @module
 */
import { PduFramer } from "../ul/framer.ts";
import { abortWords } from "../ul/abort_words.ts";
import { encodePdu } from "../ul/pdu_encode.ts";
import { writePData } from "../ul/pdata_writer.ts";
import { PduReader } from "../ul/pdu_reader.ts";
import { type Action, type Event, eventForPdu, type State, transition } from "../ul/state_machine.ts";
import {
  AbortReason,
  AbortSource,
  type AssociateAc,
  DICOM_APPLICATION_CONTEXT,
  emptyUserInformation,
  type Pdu,
  PduError,
  PresentationContextResult,
  type PresentationContextRq,
} from "../ul/pdu.ts";
import { MessageAssembler } from "../dimse/assembler.ts";
import { type CommandSet, encodeCommandSet } from "../dimse/command.ts";
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from "../version.ts";

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

/**
 * An association as requestor, driven by the requestor cells of the one PS3.8 Table 9-10
 * (`ul/state_machine.ts`): every received PDU, local request, timeout and closed connection is an
 * event looked up there, and the action found is carried out here.
 */
export class ScuAssociation {
  #conn: Deno.TcpConn;
  #reader: PduReader;
  #timeoutMs: number;
  #state: State = "Sta1";
  #closed = false;
  #nextMessageId = 1;
  /** Accepted presentation contexts: id → { abstractSyntax, transferSyntax }. */
  readonly accepted: Map<number, { abstractSyntax: string; transferSyntax: string }> = new Map();
  #peerMaxPduLength = 0;

  private constructor(conn: Deno.TcpConn, maxPduLength: number, timeoutMs: number) {
    this.#conn = conn;
    this.#reader = new PduReader(conn, new PduFramer({ maxPDataLength: maxPduLength }));
    this.#timeoutMs = timeoutMs;
  }

  /** The acceptor's Maximum Length Received (PS3.8 D.1.1); 0 means no limit. */
  get peerMaxPduLength(): number {
    return this.#peerMaxPduLength;
  }

  /** The state of PS3.8 §9.2.1 the association is in (Sta6 once established, Sta1 once closed). */
  get state(): State {
    return this.#state;
  }

  /** Connects and negotiates; throws ScuError on rejection. */
  static async open(options: ScuOptions): Promise<ScuAssociation> {
    const maxPduLength = options.maxPduLength ?? 262144;
    const timeoutMs = options.timeoutMs ?? 30_000;
    // PS3.8 §9.3.2.2: presentation context IDs are odd integers 1–255.
    if (options.presentationContexts.length > 128) {
      throw new ScuError("At most 128 presentation contexts fit in one association");
    }
    // Sta1 + Evt1 (A-ASSOCIATE request) → AE-1: issue TRANSPORT CONNECT request; next Sta4.
    let conn: Deno.TcpConn;
    try {
      conn = await Deno.connect({ hostname: options.host, port: options.port });
    } catch (error) {
      throw new ScuError(`Cannot connect to ${options.host}:${options.port}: ${(error as Error).message}`);
    }
    conn.setNoDelay(true);
    const association = new ScuAssociation(conn, maxPduLength, timeoutMs);
    association.#state = transition("Sta1", "Evt1", { role: "requestor" }).next;
    const contexts = options.presentationContexts.map((pc, i) => ({ id: 2 * i + 1, ...pc }));
    const userInformation = emptyUserInformation();
    userInformation.maxPduLength = maxPduLength;
    userInformation.implementationClassUid = IMPLEMENTATION_CLASS_UID;
    userInformation.implementationVersionName = IMPLEMENTATION_VERSION_NAME;
    try {
      // Sta4 + Evt2 (transport connect confirmation) → AE-2: send A-ASSOCIATE-RQ; next Sta5.
      await association.#event("Evt2", {
        pdu: encodePdu({
          type: "A-ASSOCIATE-RQ",
          protocolVersion: 1,
          calledAeTitle: options.calledAeTitle,
          callingAeTitle: options.callingAeTitle,
          applicationContextName: DICOM_APPLICATION_CONTEXT,
          presentationContexts: contexts,
          userInformation,
        }),
      });
      const { action, pdu } = await association.#receive();
      if (action === "AE-4" && pdu.type === "A-ASSOCIATE-RJ") {
        throw new ScuError(
          `Association rejected by ${options.calledAeTitle} at ${options.host}:${options.port} ` +
            `(result ${pdu.result}, source ${pdu.source}, reason ${pdu.reason}: ${describeRejection(pdu)})`,
        );
      }
      if (action !== "AE-3" || pdu.type !== "A-ASSOCIATE-AC") throw unexpected("A-ASSOCIATE-AC", pdu);
      association.#accept(pdu, contexts);
      return association;
    } catch (error) {
      association.close();
      throw error;
    }
  }

  #accept(ac: AssociateAc, rq: PresentationContextRq[]): void {
    this.#peerMaxPduLength = ac.userInformation.maxPduLength ?? 0;
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
    const message = { presentationContextId, peerMaxPduLength: this.peerMaxPduLength };
    // Sta6 + Evt9 (P-DATA request) → DT-1: send P-DATA-TF PDU. Anywhere else the table aborts.
    const send = async (pdu: Uint8Array): Promise<void> => {
      const action = await this.#event("Evt9", { pdu });
      if (action !== "DT-1") {
        throw new ScuError(`Cannot send P-DATA-TF in ${this.#state}: association aborted`);
      }
    };
    await writePData(send, { ...message, isCommand: true }, encodeCommandSet(command));
    if (dataset) await writePData(send, { ...message, isCommand: false }, dataset);
    const assembler = new MessageAssembler();
    for (;;) {
      const { action, pdu } = await this.#receive();
      if (action === "AR-2") {
        throw new ScuError("The peer released the association (A-RELEASE-RQ) before answering");
      }
      if (action !== "DT-2" || pdu.type !== "P-DATA-TF") throw unexpected("P-DATA-TF", pdu);
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
      // Sta6 + Evt11 (A-RELEASE request) → AR-1: send A-RELEASE-RQ; next Sta7.
      await this.#event("Evt11");
      for (;;) {
        const { action, pdu } = await this.#receive();
        // AR-3: A-RELEASE-RP, close. AR-6: a P-DATA-TF still in flight, ignored. AR-8: a release
        // collision, already answered by #event (Sta9 → AR-9 → Sta11); wait on for the RP.
        if (action === "AR-3") return;
        if (action !== "AR-6" && action !== "AR-8" && action !== "AR-9") {
          throw unexpected("A-RELEASE-RP", pdu);
        }
      }
    } finally {
      this.close();
    }
  }

  /** Sends A-ABORT and closes. */
  async abort(): Promise<void> {
    try {
      // Evt15 (A-ABORT request) → AA-1 (send A-ABORT, service-user source) or AA-2 (close).
      await this.#event("Evt15");
    } catch { /* closing anyway */ }
    this.close();
  }

  /** Closes the connection. */
  close(): void {
    this.#reader.close();
    if (!this.#closed) {
      this.#closed = true;
      try {
        this.#conn.close();
      } catch { /* already closed */ }
    }
    this.#state = "Sta1";
  }

  /**
   * Waits for the next PDU and applies its event (or Evt19 for an invalid PDU, Evt15 on our
   * timeout, Evt17 when the peer closes). Throws ScuError where the table ends the association.
   */
  async #receive(): Promise<{ action: Action; pdu: Pdu }> {
    let result;
    try {
      result = await this.#reader.next(this.#timeoutMs);
    } catch (error) {
      const reason = error instanceof PduError ? error.abortReason : AbortReason.InvalidPduParameterValue;
      // Evt19 "Unrecognized or invalid PDU received" → AA-8.
      await this.#event("Evt19", { abortReason: reason });
      throw new ScuError(`Invalid PDU from the peer, association aborted: ${(error as Error).message}`);
    }
    if (result.kind === "timeout") {
      // Our own limit: a local A-ABORT request (Evt15 → AA-1).
      await this.#event("Evt15");
      throw new ScuError(`No answer from the peer within ${this.#timeoutMs / 1000} s`);
    }
    if (result.kind === "closed") {
      // Evt17 "Transport connection closed indication" → AA-4 (A-P-ABORT indication).
      await this.#event("Evt17");
      throw new ScuError("The peer closed the connection");
    }
    const pdu = result.pdu;
    const action = await this.#event(eventForPdu(pdu));
    if (action === "AA-3" && pdu.type === "A-ABORT") {
      throw new ScuError(`Association aborted by the peer: ${abortWords(pdu.source, pdu.reason)}`);
    }
    return { action, pdu };
  }

  /**
   * Looks `event` up in PS3.8 Table 9-10 (requestor role), moves to the next state and carries
   * out the action's sends and closes; the caller handles the indications (AE-3, DT-2, …).
   */
  async #event(event: Event, context: { pdu?: Uint8Array; abortReason?: number } = {}): Promise<Action> {
    const { action, next } = transition(this.#state, event, { role: "requestor" });
    this.#state = next;
    switch (action) {
      case "AE-2": // Send A-ASSOCIATE-RQ PDU.
      case "DT-1": // Send P-DATA-TF PDU.
        await this.#write(context.pdu!);
        break;
      case "AR-1": // Send A-RELEASE-RQ PDU.
        await this.#write(encodePdu({ type: "A-RELEASE-RQ" }));
        break;
      case "AR-2":
        // Issue A-RELEASE indication. The requestor has nothing outstanding but what it waits
        // for, so its local A-RELEASE response (Evt14 → AR-4) follows at once.
        await this.#event("Evt14");
        break;
      case "AR-4": // Issue A-RELEASE-RP PDU (and start ARTIM: we close instead of waiting).
        await this.#write(encodePdu({ type: "A-RELEASE-RP" }));
        this.close();
        break;
      case "AR-8":
        // Release collision: issue A-RELEASE indication; as requestor, next Sta9, where our local
        // A-RELEASE response (Evt14) is AR-9.
        await this.#event("Evt14");
        break;
      case "AR-9": // Send A-RELEASE-RP PDU; next Sta11, awaiting A-RELEASE-RP.
        await this.#write(encodePdu({ type: "A-RELEASE-RP" }));
        break;
      case "AA-1": // Send A-ABORT PDU (service-user source); we close rather than wait (ARTIM).
        await this.#sendAbort(AbortSource.ServiceUser, 0);
        this.close();
        break;
      case "AA-7": // Send A-ABORT PDU.
        await this.#sendAbort(AbortSource.ServiceProvider, AbortReason.UnexpectedPdu);
        break;
      case "AA-8": // Send A-ABORT PDU (service-provider source), issue A-P-ABORT indication.
        await this.#sendAbort(AbortSource.ServiceProvider, context.abortReason ?? AbortReason.UnexpectedPdu);
        this.close();
        break;
      case "AE-4": // Issue A-ASSOCIATE confirmation (reject) and close the transport connection.
      case "AR-3": // Issue A-RELEASE confirmation and close the transport connection.
      case "AA-2": // Close the transport connection.
      case "AA-3": // Issue A-ABORT / A-P-ABORT indication and close the transport connection.
      case "AA-4": // Issue A-P-ABORT indication (the connection is gone).
      case "AA-5":
      case "AR-5":
        this.close();
        break;
      default:
        // AE-3, DT-2, AR-6, AR-10, AA-6: indications, handled by the caller (or nothing to do).
        break;
    }
    return action;
  }

  async #sendAbort(source: number, reason: number): Promise<void> {
    try {
      await this.#write(encodePdu({ type: "A-ABORT", source, reason }));
    } catch { /* the connection is closed next anyway */ }
  }

  async #write(bytes: Uint8Array): Promise<void> {
    if (this.#closed) throw new ScuError("The connection is closed");
    let written = 0;
    while (written < bytes.length) written += await this.#conn.write(bytes.subarray(written));
  }
}

function unexpected(expected: string, pdu: Pdu): ScuError {
  return new ScuError(`Expected ${expected}, received ${pdu.type}`);
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
