/**
 * The boundary between the Upper Layer and its service user, the DIMSE layer (PS3.8 §7: the UL
 * service primitives A-ASSOCIATE, P-DATA, A-RELEASE, A-ABORT, seen from the acceptor side). The
 * UL hands an accepted association's PDVs to a `PDataHandler` in order and lends it a
 * `PDataSender`; nothing here touches a socket (`association.ts` does).
 *
 * Errors: a handler that finds the peer breaking the protocol (DIMSE fragments out of order, a
 * data set with no command) throws {@link ProtocolError}, and the association is aborted
 * (A-ABORT, PS3.8 §9.2.3 Evt19 → AA-8). Any other error thrown by the handler is a local
 * failure on one message: the handler answers that message with a failure status, and the
 * association lives on (as pynetdicom answers 0xC211 when a handler raises).
 * @module
 */
import type { AcceptedContext } from "./negotiation.ts";
import type { Pdv } from "./pdu.ts";

/** What the DIMSE layer learns about an accepted association. */
export interface AssociationInfo {
  /** A short id for log lines, e.g. "#12". */
  id: string;
  callingAeTitle: string;
  calledAeTitle: string;
  peerAddress: string;
  peerPort: number;
  contexts: Map<number, AcceptedContext>;
  /** The largest P-DATA-TF the peer accepts (its Maximum Length Received), 0 = unlimited. */
  peerMaxPduLength: number;
}

/** Sends P-DATA-TF PDUs to the peer, split to its maximum PDU length. */
export interface PDataSender {
  /** Sends one whole message part (command or data set) on a presentation context. */
  send(presentationContextId: number, isCommand: boolean, bytes: Uint8Array): Promise<void>;
}

/** A protocol violation found above the UL (e.g. DIMSE fragments out of order): the association is aborted. */
export class ProtocolError extends Error {
  override name = "ProtocolError";
}

/** The DIMSE side of an association: receives PDVs in order, may send replies. */
export interface PDataHandler {
  /**
   * Called for every PDV in arrival order; the next read waits for the returned promise
   * (back-pressure). `pdv.data` is a view of the PDU's buffer, which is reused for a later PDU
   * once the promise settles: copy whatever must outlive it. Throw {@link ProtocolError} to
   * abort the association; any other error is logged and the association goes on.
   */
  onPdv(pdv: Pdv): Promise<void>;
  /** Called once when the association ends for any reason (release, abort, connection lost). */
  onClose(how: "released" | "aborted"): Promise<void>;
}

/** Builds the DIMSE handler once an association is accepted. */
export type PDataHandlerFactory = (info: AssociationInfo, sender: PDataSender) => PDataHandler;
