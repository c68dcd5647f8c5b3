/**
 * The DICOM Upper Layer state machine of PS3.8 §9.2 as data: states (Table 9-1..9-5 headings),
 * events and actions (Tables 9-6..9-9) and the state transition table (Table 9-10). The table is
 * encoded whole, requestor cells included, so a requestor can use it too; the acceptor reaches
 * Sta1, Sta2, Sta3, Sta6, Sta8 and Sta13 (and Sta10/Sta12 only in a release collision, which an
 * acceptor that never requests release cannot have).
 *
 * Two actions have a next state that depends on a decision: AE-6 goes to Sta3 when the
 * A-ASSOCIATE-RQ is passed to the local user (our negotiation then raises Evt7 or Evt8), or to
 * Sta13 when the provider itself rejects; AR-8 goes to Sta9 for the association-requestor and
 * Sta10 for the acceptor. The table holds the acceptor's answer (Sta3, Sta10); `transition`
 * takes the role into account.
 * @module
 */
import type { Pdu } from "./pdu.ts";

/** PS3.8 §9.2.1 states. */
export type State =
  /** Idle. */
  | "Sta1"
  /** Transport connection open (awaiting A-ASSOCIATE-RQ PDU). */
  | "Sta2"
  /** Awaiting local A-ASSOCIATE response primitive (from local user). */
  | "Sta3"
  /** Awaiting transport connection opening to complete (from local transport service). */
  | "Sta4"
  /** Awaiting A-ASSOCIATE-AC or A-ASSOCIATE-RJ PDU. */
  | "Sta5"
  /** Association established and ready for data transfer. */
  | "Sta6"
  /** Awaiting A-RELEASE-RP PDU. */
  | "Sta7"
  /** Awaiting local A-RELEASE response primitive (from local user). */
  | "Sta8"
  /** Release collision requestor side; awaiting A-RELEASE response (from local user). */
  | "Sta9"
  /** Release collision acceptor side; awaiting A-RELEASE-RP PDU. */
  | "Sta10"
  /** Release collision requestor side; awaiting A-RELEASE-RP PDU. */
  | "Sta11"
  /** Release collision acceptor side; awaiting A-RELEASE response primitive (from local user). */
  | "Sta12"
  /** Awaiting transport connection close indication (association no longer exists). */
  | "Sta13";

/** PS3.8 §9.2.2 events (the rows of Table 9-10). */
export type Event =
  /** A-ASSOCIATE request (local user). */
  | "Evt1"
  /** Transport connect confirmation (local transport service). */
  | "Evt2"
  /** A-ASSOCIATE-AC PDU (received on transport connection). */
  | "Evt3"
  /** A-ASSOCIATE-RJ PDU (received on transport connection). */
  | "Evt4"
  /** Transport connection indication (local transport service). */
  | "Evt5"
  /** A-ASSOCIATE-RQ PDU (received on transport connection). */
  | "Evt6"
  /** A-ASSOCIATE response primitive (accept). */
  | "Evt7"
  /** A-ASSOCIATE response primitive (reject). */
  | "Evt8"
  /** P-DATA request primitive. */
  | "Evt9"
  /** P-DATA-TF PDU (received on transport connection). */
  | "Evt10"
  /** A-RELEASE request primitive. */
  | "Evt11"
  /** A-RELEASE-RQ PDU (received on transport connection). */
  | "Evt12"
  /** A-RELEASE-RP PDU (received on transport connection). */
  | "Evt13"
  /** A-RELEASE response primitive. */
  | "Evt14"
  /** A-ABORT request primitive. */
  | "Evt15"
  /** A-ABORT PDU (received on transport connection). */
  | "Evt16"
  /** Transport connection closed indication (local transport service). */
  | "Evt17"
  /** ARTIM timer expired (association reject/release timer). */
  | "Evt18"
  /** Unrecognized or invalid PDU received. */
  | "Evt19";

/** PS3.8 Tables 9-6 to 9-9 actions. */
export type Action =
  /** Table 9-6: issue TRANSPORT CONNECT request primitive to local transport service. Next Sta4. */
  | "AE-1"
  /** Table 9-6: send A-ASSOCIATE-RQ PDU. Next Sta5. */
  | "AE-2"
  /** Table 9-6: issue A-ASSOCIATE confirmation (accept) primitive. Next Sta6. */
  | "AE-3"
  /** Table 9-6: issue A-ASSOCIATE confirmation (reject) primitive and close transport connection. Next Sta1. */
  | "AE-4"
  /** Table 9-6: issue transport connection response primitive; start ARTIM timer. Next Sta2. */
  | "AE-5"
  /**
   * Table 9-6: stop ARTIM timer and if A-ASSOCIATE-RQ acceptable by service-provider: issue
   * A-ASSOCIATE indication primitive (next Sta3); otherwise issue A-ASSOCIATE-RJ PDU and start
   * ARTIM timer (next Sta13).
   */
  | "AE-6"
  /** Table 9-6: send A-ASSOCIATE-AC PDU. Next Sta6. */
  | "AE-7"
  /** Table 9-6: send A-ASSOCIATE-RJ PDU and start ARTIM timer. Next Sta13. */
  | "AE-8"
  /** Table 9-7: send P-DATA-TF PDU. Next Sta6. */
  | "DT-1"
  /** Table 9-7: send P-DATA indication primitive. Next Sta6. */
  | "DT-2"
  /** Table 9-8: send A-RELEASE-RQ PDU. Next Sta7. */
  | "AR-1"
  /** Table 9-8: issue A-RELEASE indication primitive. Next Sta8. */
  | "AR-2"
  /** Table 9-8: issue A-RELEASE confirmation primitive, and close transport connection. Next Sta1. */
  | "AR-3"
  /** Table 9-8: issue A-RELEASE-RP PDU and start ARTIM timer. Next Sta13. */
  | "AR-4"
  /** Table 9-8: stop ARTIM timer. Next Sta1. */
  | "AR-5"
  /** Table 9-8: issue P-DATA indication. Next Sta7. */
  | "AR-6"
  /** Table 9-8: issue P-DATA-TF PDU. Next Sta8. */
  | "AR-7"
  /**
   * Table 9-8: issue A-RELEASE indication (release collision): if association-requestor, next
   * state is Sta9, if not next state is Sta10.
   */
  | "AR-8"
  /** Table 9-8: send A-RELEASE-RP PDU. Next Sta11. */
  | "AR-9"
  /** Table 9-8: issue A-RELEASE confirmation primitive. Next Sta12. */
  | "AR-10"
  /** Table 9-9: send A-ABORT PDU (service-user source) and start (or restart if already started) ARTIM timer. Next Sta13. */
  | "AA-1"
  /** Table 9-9: stop ARTIM timer if running. Close transport connection. Next Sta1. */
  | "AA-2"
  /**
   * Table 9-9: if (service-user initiated abort): issue A-ABORT indication and close transport
   * connection; otherwise (service-provider initiated abort): issue A-P-ABORT indication and close
   * transport connection. Next Sta1.
   */
  | "AA-3"
  /** Table 9-9: issue A-P-ABORT indication primitive. Next Sta1. */
  | "AA-4"
  /** Table 9-9: stop ARTIM timer. Next Sta1. */
  | "AA-5"
  /** Table 9-9: ignore PDU. Next Sta13. */
  | "AA-6"
  /** Table 9-9: send A-ABORT PDU. Next Sta13. */
  | "AA-7"
  /** Table 9-9: send A-ABORT PDU (service-provider source), issue an A-P-ABORT indication, and start ARTIM timer. Next Sta13. */
  | "AA-8";

/** Every state, Sta1 to Sta13. */
export const STATES: readonly State[] = [
  "Sta1",
  "Sta2",
  "Sta3",
  "Sta4",
  "Sta5",
  "Sta6",
  "Sta7",
  "Sta8",
  "Sta9",
  "Sta10",
  "Sta11",
  "Sta12",
  "Sta13",
];

/** Every event, Evt1 to Evt19. */
export const EVENTS: readonly Event[] = Array.from({ length: 19 }, (_, i) => `Evt${i + 1}` as Event);

type Cells = Readonly<Partial<Record<Event, readonly [Action, State]>>>;

/** Sta3 and Sta5-Sta12: an association exists (or is being set up); unexpected PDUs are AA-8. */
const ABORT_ON_UNEXPECTED_PDU: Cells = {
  Evt3: ["AA-8", "Sta13"],
  Evt4: ["AA-8", "Sta13"],
  Evt6: ["AA-8", "Sta13"],
  Evt10: ["AA-8", "Sta13"],
  Evt12: ["AA-8", "Sta13"],
  Evt13: ["AA-8", "Sta13"],
  Evt15: ["AA-1", "Sta13"],
  Evt16: ["AA-3", "Sta1"],
  Evt17: ["AA-4", "Sta1"],
  Evt19: ["AA-8", "Sta13"],
};

/**
 * PS3.8 Table 9-10, state by state: `TRANSITIONS[state][event]` is `[action, next state]`. Cells
 * left blank in the standard are absent.
 */
export const TRANSITIONS: Readonly<Record<State, Cells>> = {
  Sta1: {
    Evt1: ["AE-1", "Sta4"],
    Evt5: ["AE-5", "Sta2"],
  },
  Sta2: {
    Evt3: ["AA-1", "Sta13"],
    Evt4: ["AA-1", "Sta13"],
    Evt6: ["AE-6", "Sta3"],
    Evt10: ["AA-1", "Sta13"],
    Evt12: ["AA-1", "Sta13"],
    Evt13: ["AA-1", "Sta13"],
    Evt16: ["AA-2", "Sta1"],
    Evt17: ["AA-5", "Sta1"],
    Evt18: ["AA-2", "Sta1"],
    Evt19: ["AA-1", "Sta13"],
  },
  Sta3: {
    ...ABORT_ON_UNEXPECTED_PDU,
    Evt7: ["AE-7", "Sta6"],
    Evt8: ["AE-8", "Sta13"],
  },
  Sta4: {
    Evt2: ["AE-2", "Sta5"],
    Evt15: ["AA-2", "Sta1"],
    Evt17: ["AA-4", "Sta1"],
  },
  Sta5: {
    ...ABORT_ON_UNEXPECTED_PDU,
    Evt3: ["AE-3", "Sta6"],
    Evt4: ["AE-4", "Sta1"],
  },
  Sta6: {
    ...ABORT_ON_UNEXPECTED_PDU,
    Evt9: ["DT-1", "Sta6"],
    Evt10: ["DT-2", "Sta6"],
    Evt11: ["AR-1", "Sta7"],
    Evt12: ["AR-2", "Sta8"],
  },
  Sta7: {
    ...ABORT_ON_UNEXPECTED_PDU,
    Evt10: ["AR-6", "Sta7"],
    Evt12: ["AR-8", "Sta10"],
    Evt13: ["AR-3", "Sta1"],
  },
  Sta8: {
    ...ABORT_ON_UNEXPECTED_PDU,
    Evt9: ["AR-7", "Sta8"],
    Evt14: ["AR-4", "Sta13"],
  },
  Sta9: {
    ...ABORT_ON_UNEXPECTED_PDU,
    Evt14: ["AR-9", "Sta11"],
  },
  Sta10: {
    ...ABORT_ON_UNEXPECTED_PDU,
    Evt13: ["AR-10", "Sta12"],
  },
  Sta11: {
    ...ABORT_ON_UNEXPECTED_PDU,
    Evt13: ["AR-3", "Sta1"],
  },
  Sta12: {
    ...ABORT_ON_UNEXPECTED_PDU,
    Evt14: ["AR-4", "Sta13"],
  },
  Sta13: {
    Evt3: ["AA-6", "Sta13"],
    Evt4: ["AA-6", "Sta13"],
    Evt6: ["AA-7", "Sta13"],
    Evt10: ["AA-6", "Sta13"],
    Evt12: ["AA-6", "Sta13"],
    Evt13: ["AA-6", "Sta13"],
    Evt16: ["AA-2", "Sta1"],
    Evt17: ["AR-5", "Sta1"],
    Evt18: ["AA-2", "Sta1"],
    Evt19: ["AA-7", "Sta13"],
  },
};

/** Options of {@linkcode transition}. */
export interface TransitionOptions {
  /** Which end of the association this machine is; decides AR-8's next state. Default "acceptor". */
  role?: "acceptor" | "requestor";
}

/** Whether PS3.8 Table 9-10 defines the cell (a blank cell means the event cannot happen there). */
export function isDefined(state: State, event: Event): boolean {
  return TRANSITIONS[state][event] !== undefined;
}

/**
 * The action and next state for `event` in `state` (PS3.8 Table 9-10).
 *
 * For a blank cell (an event the standard says cannot occur in that state, e.g. a local primitive
 * out of turn) the answer is the state's own "unrecognized or invalid PDU" cell (Evt19): AA-1 in
 * Sta2, AA-8 in Sta3 and Sta5-Sta12, AA-7 in Sta13. Sta1 and Sta4 have no such cell: there the
 * answer is AA-2, close the transport connection (if any) and return to Sta1.
 */
export function transition(
  state: State,
  event: Event,
  options: TransitionOptions = {},
): { action: Action; next: State } {
  const cell = TRANSITIONS[state][event] ?? TRANSITIONS[state].Evt19 ?? (["AA-2", "Sta1"] as const);
  const [action, next] = cell;
  if (action === "AR-8" && options.role === "requestor") return { action, next: "Sta9" };
  return { action, next };
}

/** PS3.8 §9.2.2: the event a received PDU causes (Evt3, Evt4, Evt6, Evt10, Evt12, Evt13, Evt16). */
export function eventForPdu(pdu: Pdu): Event {
  switch (pdu.type) {
    case "A-ASSOCIATE-AC":
      return "Evt3";
    case "A-ASSOCIATE-RJ":
      return "Evt4";
    case "A-ASSOCIATE-RQ":
      return "Evt6";
    case "P-DATA-TF":
      return "Evt10";
    case "A-RELEASE-RQ":
      return "Evt12";
    case "A-RELEASE-RP":
      return "Evt13";
    case "A-ABORT":
      return "Evt16";
  }
}
