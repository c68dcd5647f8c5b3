/**
 * The acceptor side of one DICOM association over one TCP connection (PS3.8 §9.2). This is the
 * only Upper Layer file that touches `Deno.Conn`: bytes are framed by `PduFramer`, decoded by
 * `decodePdu`, and every event is looked up in the state table (`state_machine.ts`); the action
 * named there is carried out here. DIMSE work is delegated to a `PDataHandler` per association
 * (the boundary is `service_user.ts`).
 * @module
 */
import type { Logger } from "@logtape/logtape";
import { messageOf } from "../errors.ts";
import { PduFramer } from "./framer.ts";
import { decodePdu } from "./pdu_decode.ts";
import { encodePdu } from "./pdu_encode.ts";
import { negotiate, type NegotiationResult } from "./negotiation.ts";
import type { AssociationPolicy } from "./negotiation.ts";
import { type Action, type Event, eventForPdu, type State, transition } from "./state_machine.ts";
import { writePData } from "./pdata_writer.ts";
import {
  AbortReason,
  AbortSource,
  type AssociateRq,
  type Pdu,
  PduError,
  RejectReason,
  RejectResult,
  RejectSource,
} from "./pdu.ts";
import { abortWords } from "./abort_words.ts";
import type { RefusalLog } from "./host_limits.ts";
import {
  type AssociationInfo,
  type PDataHandler,
  type PDataHandlerFactory,
  ProtocolError,
} from "./service_user.ts";

/** Options for `serveAssociation`. */
export interface ServeAssociationOptions {
  policy: AssociationPolicy;
  /** Number of other associations currently established (for the concurrency cap). */
  activeAssociations: () => number;
  /** Number of other associations established from this peer's address (the per-host cap). */
  hostAssociations?: () => number;
  /**
   * ARTIM timer (PS3.8 §9.1.5): one deadline from the transport connection to a complete
   * A-ASSOCIATE-RQ (bytes arriving do not restart it), and from a release or abort to the close.
   */
  artimTimeoutMs: number;
  /**
   * Progress timeout: an established association that completes no PDU for this long is aborted
   * (counted from the end of the handling of its last PDU; bytes of an unfinished PDU do not count).
   */
  idleTimeoutMs: number;
  /** Throttles the log lines of local-limit rejections (one per host per minute). */
  refusals?: RefusalLog;
  /** Builds the DIMSE handler once the association is accepted. */
  createHandler: PDataHandlerFactory;
  log: Logger;
  id: string;
  /** Called when the association is accepted or rejected (for statistics). */
  onNegotiated?: (result: NegotiationResult, rq: AssociateRq) => void;
}

type ReadResult = { kind: "bytes"; count: number } | { kind: "closed" } | { kind: "timeout" };

/**
 * Runs the acceptor state machine for one accepted TCP connection until it is closed.
 * Never throws: every failure ends in an A-ABORT or a close, and a log line naming the peer.
 */
export async function serveAssociation(conn: Deno.Conn, options: ServeAssociationOptions): Promise<void> {
  const session = new AcceptorSession(conn, options);
  try {
    await session.run();
  } catch (error) {
    options.log.error("Association {id} from {peer}: internal error: {error}", {
      id: options.id,
      peer: session.peerName(),
      error: String(error),
    });
  } finally {
    await session.finish();
  }
}

class AcceptorSession {
  #conn: Deno.Conn;
  #options: ServeAssociationOptions;
  #state: State = "Sta1";
  #framer: PduFramer;
  #handler: PDataHandler | null = null;
  #info: AssociationInfo | null = null;
  #closed = false;
  #artimRunning = false;
  /** When the ARTIM timer expires (while it runs): one deadline, never moved by arriving bytes. */
  #artimDeadline = 0;
  /** When an established association that completes no further PDU is aborted. */
  #progressDeadline = 0;
  #pendingPdu: Pdu | null = null;
  #closeHow: "released" | "aborted" = "aborted";
  #callingAeTitle = "";
  #peerAddress: string;
  #peerPort: number;
  /** A socket read into the buffer the framer named (kept across a timeout: its bytes are not lost). */
  #pendingRead: Promise<number | null> | null = null;

  constructor(conn: Deno.Conn, options: ServeAssociationOptions) {
    this.#conn = conn;
    this.#options = options;
    this.#framer = new PduFramer({ maxPDataLength: options.policy.maxPduLength });
    const remote = conn.remoteAddr as Deno.NetAddr;
    this.#peerAddress = remote.hostname ?? "unknown";
    this.#peerPort = remote.port ?? 0;
  }

  peerName(): string {
    const ae = this.#callingAeTitle ? `${this.#callingAeTitle} ` : "";
    return `${ae}(${this.#peerAddress}:${this.#peerPort})`;
  }

  async run(): Promise<void> {
    // PS3.8 §9.2.3 Evt5 "Transport connection indication" → AE-5: issue transport response,
    // start ARTIM timer; next state Sta2.
    await this.#apply("Evt5");
    while (!this.#ended()) {
      const result = await this.#read(this.#waitUntil());
      if (result.kind === "closed") {
        await this.#apply("Evt17");
        break;
      }
      if (result.kind === "timeout") {
        if (this.#state === "Sta6") {
          this.#options.log.warn(
            "Association {id} from {peer}: no PDU completed for {seconds} s (idle_timeout_ms), aborting",
            {
              id: this.#options.id,
              peer: this.peerName(),
              seconds: Math.round(this.#options.idleTimeoutMs / 1000),
            },
          );
          // Local A-ABORT request (Evt15 → AA-1): idle peers must not hold a slot for ever.
          await this.#apply("Evt15");
        } else {
          const what = this.#state === "Sta2"
            ? `no complete A-ASSOCIATE-RQ within ${
              Math.round(this.#options.artimTimeoutMs / 1000)
            } s of connecting`
            : `the peer did not close within ${Math.round(this.#options.artimTimeoutMs / 1000)} s`;
          this.#options.log.warn(
            "Association {id} from {peer}: ARTIM timer expired in {state} ({what}); closing",
            {
              id: this.#options.id,
              peer: this.peerName(),
              state: this.#state,
              what,
            },
          );
          await this.#apply("Evt18");
        }
        continue;
      }
      let frames: Uint8Array[];
      try {
        frames = this.#framer.commit(result.count);
      } catch (error) {
        await this.#invalidPdu(error);
        continue;
      }
      for (const frame of frames) {
        if (this.#ended()) break;
        let pdu: Pdu;
        try {
          pdu = decodePdu(frame);
        } catch (error) {
          await this.#invalidPdu(error);
          break;
        }
        this.#pendingPdu = pdu;
        await this.#apply(eventForPdu(pdu));
        this.#pendingPdu = null;
        // The PDU is fully handled: the DIMSE layer copied the data set bytes on (DatasetBuffer)
        // and keeps no view of them (command fragments are copied by the MessageAssembler), and
        // the decoded A-ASSOCIATE-RQ holds copies. The framer may reuse a P-DATA-TF's buffer.
        this.#framer.release(frame);
        // Progress: a whole PDU was completed and handled (our own work on it, an fsync say, is
        // not the peer's delay).
        this.#progressDeadline = Date.now() + this.#options.idleTimeoutMs;
      }
    }
  }

  /** True once the connection is closed or the state machine is back in Sta1 (idle). */
  #ended(): boolean {
    return this.#closed || this.#state === "Sta1";
  }

  async finish(): Promise<void> {
    if (this.#handler) {
      const handler = this.#handler;
      this.#handler = null;
      try {
        await handler.onClose(this.#closeHow);
      } catch (error) {
        this.#options.log.error("Association {id}: cleanup failed: {error}", {
          id: this.#options.id,
          error: String(error),
        });
      }
    }
    this.#close();
  }

  #abortReason = 0;

  async #invalidPdu(error: unknown): Promise<void> {
    const reason = error instanceof PduError ? error.abortReason : AbortReason.InvalidPduParameterValue;
    this.#abortReason = reason;
    this.#options.log.warn("Association {id} from {peer}: invalid PDU, aborting: {reason}", {
      id: this.#options.id,
      peer: this.peerName(),
      reason: messageOf(error),
    });
    // Evt19 "Unrecognized or invalid PDU received".
    await this.#apply("Evt19");
  }

  /** When the wait for the peer's next bytes ends: the ARTIM deadline while it runs, else progress. */
  #waitUntil(): number {
    return this.#artimRunning ? this.#artimDeadline : this.#progressDeadline;
  }

  /** PS3.8 §9.1.5: start (or restart) the ARTIM timer. */
  #startArtim(): void {
    this.#artimRunning = true;
    this.#artimDeadline = Date.now() + this.#options.artimTimeoutMs;
  }

  /** Looks the event up in the state table and carries out the action. */
  async #apply(event: Event): Promise<void> {
    const { action, next } = transition(this.#state, event);
    this.#options.log.debug("Association {id}: {state} + {event} → {action} → {next}", {
      id: this.#options.id,
      state: this.#state,
      event,
      action,
      next,
    });
    this.#state = next;
    await this.#perform(action);
  }

  async #perform(action: Action): Promise<void> {
    const log = this.#options.log;
    switch (action) {
      case "AE-5":
        // Issue connection response primitive; start ARTIM timer.
        this.#startArtim();
        return;
      case "AE-6": {
        // Stop ARTIM; issue A-ASSOCIATE indication (here: our policy decides at once).
        this.#artimRunning = false;
        const rq = this.#pendingPdu as AssociateRq;
        this.#callingAeTitle = rq.callingAeTitle;
        const result = negotiate(rq, this.#options.policy, {
          peerAddress: this.#peerAddress,
          activeAssociations: this.#options.activeAssociations(),
          hostAssociations: this.#options.hostAssociations?.() ?? 0,
        });
        this.#options.onNegotiated?.(result, rq);
        if (result.kind === "accept") {
          await this.#acceptAssociation(rq, result);
        } else {
          this.#logRejection(rq, result.rj, result.reason);
          this.#rejection = result.rj;
          await this.#apply("Evt8");
        }
        return;
      }
      case "AE-7":
        // Send A-ASSOCIATE-AC PDU.
        await this.#write(encodePdu(this.#acceptance!));
        this.#acceptance = null;
        return;
      case "AE-8":
        // Send A-ASSOCIATE-RJ PDU and start ARTIM timer.
        await this.#write(encodePdu(this.#rejection!));
        this.#startArtim();
        return;
      case "DT-2":
        // Send P-DATA indication primitive.
        await this.#pData();
        return;
      case "AR-2":
        // Issue A-RELEASE indication primitive. All our DIMSE work is awaited in order, so the
        // local A-RELEASE response (Evt14) follows at once.
        this.#closeHow = "released";
        log.debug("Association {id} from {peer} released", { id: this.#options.id, peer: this.peerName() });
        await this.#apply("Evt14");
        return;
      case "AR-4":
        // Issue A-RELEASE-RP PDU and start ARTIM timer.
        await this.#write(encodePdu({ type: "A-RELEASE-RP" }));
        this.#startArtim();
        return;
      case "AR-5":
        // Stop ARTIM timer.
        this.#artimRunning = false;
        this.#close();
        return;
      case "AA-1":
        // Send A-ABORT PDU (service-user source) and start (or restart) ARTIM timer.
        await this.#sendAbort(AbortSource.ServiceUser, 0);
        this.#startArtim();
        return;
      case "AA-2":
        // Stop ARTIM timer if running. Close transport connection.
        this.#artimRunning = false;
        this.#close();
        return;
      case "AA-3": {
        // If (service-user initiated abort) issue A-ABORT indication, otherwise A-P-ABORT; close.
        const pdu = this.#pendingPdu;
        const detail = pdu?.type === "A-ABORT" ? `: ${abortWords(pdu.source, pdu.reason)}` : "";
        log.warn("Association {id} from {peer} aborted by the peer{detail}", {
          id: this.#options.id,
          peer: this.peerName(),
          detail,
        });
        this.#close();
        return;
      }
      case "AA-4":
        // Issue A-P-ABORT indication primitive (connection lost).
        if (this.#handler) {
          log.warn("Association {id} from {peer}: connection closed without release", {
            id: this.#options.id,
            peer: this.peerName(),
          });
        }
        this.#close();
        return;
      case "AA-5":
        // Stop ARTIM timer.
        this.#artimRunning = false;
        this.#close();
        return;
      case "AA-6":
        // Ignore PDU.
        return;
      case "AA-7":
        // Send A-ABORT PDU.
        await this.#sendAbort(AbortSource.ServiceProvider, AbortReason.UnexpectedPdu);
        return;
      case "AA-8": {
        // Send A-ABORT PDU (service-provider source), issue an A-P-ABORT indication, start ARTIM.
        const reason = this.#abortReason || AbortReason.UnexpectedPdu;
        if (!this.#abortReason) {
          log.warn("Association {id} from {peer}: unexpected {pdu} in {state}, aborting", {
            id: this.#options.id,
            peer: this.peerName(),
            pdu: this.#pendingPdu?.type ?? "PDU",
            state: this.#state,
          });
        }
        await this.#sendAbort(AbortSource.ServiceProvider, reason);
        this.#abortReason = 0;
        this.#startArtim();
        return;
      }
      default:
        // Requestor-only actions (AE-1..4, AR-1, AR-3, AR-6..10, DT-1) cannot be reached by an
        // acceptor that never requests release; reaching one is a bug, so abort safely.
        log.error("Association {id}: unexpected action {action} in {state}", {
          id: this.#options.id,
          action,
          state: this.#state,
        });
        await this.#sendAbort(AbortSource.ServiceProvider, AbortReason.NotSpecified);
        this.#close();
    }
  }

  #acceptance: Pdu | null = null;
  #rejection: Pdu | null = null;

  /**
   * Rejections for a local limit (transient, PS3.8 Table 9-21 source 3 reason 2) are logged once
   * per host per minute: a host retrying in a loop must not flood the log. Others once each.
   */
  #logRejection(rq: AssociateRq, rj: Extract<Pdu, { type: "A-ASSOCIATE-RJ" }>, reason: string): void {
    const limit = rj.result === RejectResult.Transient &&
      rj.source === RejectSource.ServiceProviderPresentation && rj.reason === RejectReason.LocalLimitExceeded;
    const properties = {
      id: this.#options.id,
      peer: this.peerName(),
      called: rq.calledAeTitle,
      reason,
      more: "",
    };
    if (limit && this.#options.refusals) {
      const note = this.#options.refusals.note(this.#peerAddress);
      if (!note.log) return;
      properties.more = note.suppressed > 0
        ? ` (${note.suppressed} more from this host not logged since its last line)`
        : " (further refusals of this host are logged at most once a minute)";
    }
    this.#options.log.warn("Association {id} from {peer} to {called} rejected: {reason}{more}", properties);
  }

  async #acceptAssociation(rq: AssociateRq, result: Extract<NegotiationResult, { kind: "accept" }>) {
    const info: AssociationInfo = {
      id: this.#options.id,
      callingAeTitle: rq.callingAeTitle,
      calledAeTitle: rq.calledAeTitle,
      peerAddress: this.#peerAddress,
      peerPort: this.#peerPort,
      contexts: result.contexts,
      peerMaxPduLength: result.peerMaxPduLength,
    };
    this.#info = info;
    this.#handler = this.#options.createHandler(info, {
      send: (id, isCommand, bytes) => this.#sendPData(id, isCommand, bytes),
    });
    this.#acceptance = result.ac;
    this.#progressDeadline = Date.now() + this.#options.idleTimeoutMs;
    this.#options.log.info(
      "Association {id} from {peer} to {called} accepted ({accepted} of {proposed} contexts)",
      {
        id: this.#options.id,
        peer: this.peerName(),
        called: rq.calledAeTitle,
        accepted: result.contexts.size,
        proposed: rq.presentationContexts.length,
      },
    );
    await this.#apply("Evt7");
  }

  async #pData(): Promise<void> {
    const pdu = this.#pendingPdu;
    if (pdu?.type !== "P-DATA-TF" || !this.#handler || !this.#info) return;
    for (const pdv of pdu.pdvs) {
      if (!this.#info.contexts.has(pdv.presentationContextId)) {
        this.#abortReason = AbortReason.InvalidPduParameterValue;
        this.#options.log.warn(
          "Association {id} from {peer}: PDV on presentation context {pc}, which was not accepted; aborting",
          { id: this.#options.id, peer: this.peerName(), pc: pdv.presentationContextId },
        );
        // Treat as an invalid PDU (Evt19 → AA-8).
        await this.#apply("Evt19");
        return;
      }
      try {
        await this.#handler.onPdv(pdv);
      } catch (error) {
        if (!(error instanceof ProtocolError)) {
          // A local failure, not the peer's: the handler answers the message with a failure
          // status where it can, and the association goes on.
          this.#options.log.error("Association {id} from {peer}: DIMSE handler failed: {reason}", {
            id: this.#options.id,
            peer: this.peerName(),
            reason: messageOf(error),
          });
          continue;
        }
        this.#abortReason = AbortReason.UnexpectedPduParameter;
        this.#options.log.warn("Association {id} from {peer}: DIMSE protocol error, aborting: {reason}", {
          id: this.#options.id,
          peer: this.peerName(),
          reason: error.message,
        });
        await this.#apply("Evt19");
        return;
      }
    }
  }

  async #sendPData(presentationContextId: number, isCommand: boolean, bytes: Uint8Array): Promise<void> {
    if (this.#state !== "Sta6" || this.#closed) return;
    const peerMaxPduLength = this.#info?.peerMaxPduLength ?? 0;
    await writePData(
      (pdu) => this.#write(pdu),
      { presentationContextId, isCommand, peerMaxPduLength },
      bytes,
    );
  }

  async #sendAbort(source: number, reason: number): Promise<void> {
    await this.#write(encodePdu({ type: "A-ABORT", source, reason }));
  }

  async #write(bytes: Uint8Array): Promise<void> {
    if (this.#closed) return;
    try {
      let written = 0;
      while (written < bytes.length) written += await this.#conn.write(bytes.subarray(written));
    } catch (error) {
      this.#options.log.warn("Association {id} from {peer}: write failed: {error}", {
        id: this.#options.id,
        peer: this.peerName(),
        error: String(error),
      });
      this.#close();
    }
  }

  /** Reads until `deadline` at most; an unfinished read is kept for the next call so no bytes are lost. */
  async #read(deadline: number): Promise<ReadResult> {
    if (this.#closed) return { kind: "closed" };
    if (!this.#pendingRead) {
      // Straight into the framer's buffer: the rest of the PDU under way (so no byte of the next
      // PDU is taken) or, between PDUs, its scratch buffer.
      this.#pendingRead = this.#conn.read(this.#framer.readBuffer()).catch(() => null);
    }
    // The deadline is the caller's (ARTIM's or the progress timeout's), not counted from this read.
    this.#deadline = deadline;
    const left = deadline - Date.now();
    if (left <= 0) return { kind: "timeout" };
    if (this.#timer === undefined || this.#timerAt > this.#deadline) this.#setTimer(left);
    const timeout = new Promise<"timeout">((resolve) => {
      this.#wake = resolve;
    });
    try {
      const n = await Promise.race([this.#pendingRead, timeout]);
      if (n === "timeout") return { kind: "timeout" };
      this.#pendingRead = null;
      if (n === null) return { kind: "closed" };
      return { kind: "bytes", count: n };
    } finally {
      this.#wake = null;
    }
  }

  /** When the read now waiting times out. */
  #deadline = 0;
  /**
   * One timer for the session, not one per read: setting and clearing a timer costs more than
   * the rest of a read (a 512 MB instance takes some 8000 reads). Reads only move `#deadline`
   * on; when the timer fires early it is set again for the time left.
   */
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = 0;
  /** Ends the wait of the read now waiting with "timeout". */
  #wake: ((value: "timeout") => void) | null = null;

  #setTimer(ms: number): void {
    clearTimeout(this.#timer);
    this.#timerAt = Date.now() + ms;
    this.#timer = setTimeout(() => this.#onTimer(), ms);
  }

  #onTimer(): void {
    this.#timer = undefined;
    // No read waiting (the last PDU is still being handled): the next read sets the timer again.
    if (this.#closed || !this.#wake) return;
    const left = this.#deadline - Date.now();
    if (left > 0) this.#setTimer(left);
    else this.#wake("timeout");
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    try {
      this.#conn.close();
    } catch {
      // already closed by the peer
    }
  }
}
