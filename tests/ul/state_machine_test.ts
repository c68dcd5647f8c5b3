/**
 * The PS3.8 Table 9-10 transition table: the cells an acceptor meets, one test each, plus whole-
 * table checks against the standard's structure (what each action's next state is, which cells
 * are blank).
 */
import { assert, assertEquals } from "../support/assert.ts";
import {
  type Action,
  type Event,
  eventForPdu,
  EVENTS,
  isDefined,
  type State,
  STATES,
  transition,
  TRANSITIONS,
} from "../../src/ul/state_machine.ts";

function cell(state: State, event: Event, action: Action, next: State, why: string): void {
  Deno.test(`${state} + ${event} → ${action} → ${next}: ${why}`, () => {
    assert(isDefined(state, event), "the cell is in the table");
    assertEquals(transition(state, event), { action, next });
  });
}

// Association establishment (acceptor)
cell("Sta1", "Evt5", "AE-5", "Sta2", "transport connection indication starts ARTIM");
cell("Sta2", "Evt6", "AE-6", "Sta3", "A-ASSOCIATE-RQ goes to the local user");
cell("Sta3", "Evt7", "AE-7", "Sta6", "accept: send A-ASSOCIATE-AC");
cell("Sta3", "Evt8", "AE-8", "Sta13", "reject: send A-ASSOCIATE-RJ, start ARTIM");
cell("Sta2", "Evt18", "AA-2", "Sta1", "ARTIM expired waiting for A-ASSOCIATE-RQ: close");
cell("Sta2", "Evt17", "AA-5", "Sta1", "peer closed before associating: stop ARTIM");
cell("Sta2", "Evt16", "AA-2", "Sta1", "A-ABORT before associating: close");
cell("Sta2", "Evt10", "AA-1", "Sta13", "P-DATA-TF before association: A-ABORT");
cell("Sta2", "Evt12", "AA-1", "Sta13", "A-RELEASE-RQ before association: A-ABORT");
cell("Sta2", "Evt3", "AA-1", "Sta13", "A-ASSOCIATE-AC to an acceptor: A-ABORT");
cell("Sta2", "Evt19", "AA-1", "Sta13", "invalid PDU before association: A-ABORT");
cell("Sta3", "Evt6", "AA-8", "Sta13", "second A-ASSOCIATE-RQ while deciding: provider A-ABORT");
cell("Sta3", "Evt17", "AA-4", "Sta1", "connection lost while deciding");
// Data transfer
cell("Sta6", "Evt10", "DT-2", "Sta6", "P-DATA-TF: P-DATA indication");
cell("Sta6", "Evt9", "DT-1", "Sta6", "P-DATA request: send P-DATA-TF");
cell("Sta6", "Evt6", "AA-8", "Sta13", "A-ASSOCIATE-RQ on an established association");
cell("Sta6", "Evt3", "AA-8", "Sta13", "A-ASSOCIATE-AC on an established association");
cell("Sta6", "Evt13", "AA-8", "Sta13", "A-RELEASE-RP without a release request");
cell("Sta6", "Evt19", "AA-8", "Sta13", "invalid PDU: provider A-ABORT, A-P-ABORT indication");
cell("Sta6", "Evt15", "AA-1", "Sta13", "local abort (e.g. idle timeout): A-ABORT, ARTIM");
cell("Sta6", "Evt16", "AA-3", "Sta1", "A-ABORT from the peer: indication, close");
cell("Sta6", "Evt17", "AA-4", "Sta1", "connection lost: A-P-ABORT indication");
// Release (acceptor side)
cell("Sta6", "Evt12", "AR-2", "Sta8", "A-RELEASE-RQ: release indication");
cell("Sta8", "Evt14", "AR-4", "Sta13", "release response: send A-RELEASE-RP, start ARTIM");
cell("Sta8", "Evt9", "AR-7", "Sta8", "P-DATA request while release is pending: send it");
cell("Sta8", "Evt10", "AA-8", "Sta13", "P-DATA-TF after the peer asked to release");
cell("Sta8", "Evt12", "AA-8", "Sta13", "second A-RELEASE-RQ");
cell("Sta8", "Evt17", "AA-4", "Sta1", "connection lost during release");
// Waiting for close
cell("Sta13", "Evt17", "AR-5", "Sta1", "peer closed: stop ARTIM");
cell("Sta13", "Evt18", "AA-2", "Sta1", "ARTIM expired: close");
cell("Sta13", "Evt16", "AA-2", "Sta1", "A-ABORT while closing: close");
cell("Sta13", "Evt3", "AA-6", "Sta13", "A-ASSOCIATE-AC while closing: ignore");
cell("Sta13", "Evt4", "AA-6", "Sta13", "A-ASSOCIATE-RJ while closing: ignore");
cell("Sta13", "Evt10", "AA-6", "Sta13", "P-DATA-TF while closing: ignore");
cell("Sta13", "Evt12", "AA-6", "Sta13", "A-RELEASE-RQ while closing: ignore");
cell("Sta13", "Evt13", "AA-6", "Sta13", "A-RELEASE-RP while closing: ignore");
cell("Sta13", "Evt6", "AA-7", "Sta13", "A-ASSOCIATE-RQ while closing: A-ABORT");
cell("Sta13", "Evt19", "AA-7", "Sta13", "invalid PDU while closing: A-ABORT");
// Requestor and collision cells
cell("Sta1", "Evt1", "AE-1", "Sta4", "requestor: connect");
cell("Sta4", "Evt2", "AE-2", "Sta5", "requestor: send A-ASSOCIATE-RQ");
cell("Sta5", "Evt3", "AE-3", "Sta6", "requestor: A-ASSOCIATE-AC accepted");
cell("Sta5", "Evt4", "AE-4", "Sta1", "requestor: A-ASSOCIATE-RJ, close");
cell("Sta6", "Evt11", "AR-1", "Sta7", "requestor: send A-RELEASE-RQ");
cell("Sta7", "Evt13", "AR-3", "Sta1", "requestor: A-RELEASE-RP, close");
cell("Sta7", "Evt10", "AR-6", "Sta7", "P-DATA-TF while awaiting A-RELEASE-RP");
cell("Sta7", "Evt12", "AR-8", "Sta10", "release collision, acceptor side");
cell("Sta9", "Evt14", "AR-9", "Sta11", "collision, requestor: send A-RELEASE-RP");
cell("Sta10", "Evt13", "AR-10", "Sta12", "collision, acceptor: A-RELEASE-RP received");
cell("Sta11", "Evt13", "AR-3", "Sta1", "collision, requestor: A-RELEASE-RP, close");
cell("Sta12", "Evt14", "AR-4", "Sta13", "collision, acceptor: send A-RELEASE-RP");
cell("Sta4", "Evt15", "AA-2", "Sta1", "abort while connecting");

Deno.test("AR-8: Sta9 for the association-requestor, Sta10 for the acceptor", () => {
  assertEquals(transition("Sta7", "Evt12", { role: "requestor" }), { action: "AR-8", next: "Sta9" });
  assertEquals(transition("Sta7", "Evt12", { role: "acceptor" }), { action: "AR-8", next: "Sta10" });
});

/** PS3.8 Tables 9-6..9-9: the next state every action leads to (AE-6 and AR-8 depend). */
const NEXT: Record<Action, State | readonly State[]> = {
  "AE-1": "Sta4",
  "AE-2": "Sta5",
  "AE-3": "Sta6",
  "AE-4": "Sta1",
  "AE-5": "Sta2",
  "AE-6": ["Sta3", "Sta13"],
  "AE-7": "Sta6",
  "AE-8": "Sta13",
  "DT-1": "Sta6",
  "DT-2": "Sta6",
  "AR-1": "Sta7",
  "AR-2": "Sta8",
  "AR-3": "Sta1",
  "AR-4": "Sta13",
  "AR-5": "Sta1",
  "AR-6": "Sta7",
  "AR-7": "Sta8",
  "AR-8": ["Sta9", "Sta10"],
  "AR-9": "Sta11",
  "AR-10": "Sta12",
  "AA-1": "Sta13",
  "AA-2": "Sta1",
  "AA-3": "Sta1",
  "AA-4": "Sta1",
  "AA-5": "Sta1",
  "AA-6": "Sta13",
  "AA-7": "Sta13",
  "AA-8": "Sta13",
};

Deno.test("every cell's next state is the one its action defines (PS3.8 Tables 9-6..9-9)", () => {
  let cells = 0;
  for (const state of STATES) {
    for (const [event, entry] of Object.entries(TRANSITIONS[state])) {
      const [action, next] = entry!;
      const allowed = NEXT[action];
      assert(
        typeof allowed === "string" ? next === allowed : allowed.includes(next),
        `${state} + ${event}: ${action} cannot lead to ${next}`,
      );
      cells++;
    }
  }
  assertEquals(cells, 123, "Table 9-10 has 123 non-blank cells");
});

Deno.test("the table's shape: PDU events are defined in every state with a connection", () => {
  const pduEvents: Event[] = ["Evt3", "Evt4", "Evt6", "Evt10", "Evt12", "Evt13", "Evt16", "Evt19"];
  for (const state of STATES) {
    const connected = state !== "Sta1" && state !== "Sta4";
    for (const event of pduEvents) {
      assertEquals(isDefined(state, event), connected, `${state} + ${event}`);
    }
    // Evt17 (connection closed) is defined wherever a connection can exist, Sta4 included.
    assertEquals(isDefined(state, "Evt17"), state !== "Sta1", `${state} + Evt17`);
  }
  // ARTIM runs only in Sta2 and Sta13.
  assertEquals(STATES.filter((s) => isDefined(s, "Evt18")), ["Sta2", "Sta13"]);
  // Unexpected PDUs in Sta3 and Sta5-Sta12 are AA-8 (A-ABORT with a provider source).
  for (const state of ["Sta3", "Sta8", "Sta9", "Sta10", "Sta11", "Sta12"] as const) {
    for (const event of ["Evt6", "Evt19"] as const) assertEquals(transition(state, event).action, "AA-8");
  }
});

Deno.test("blank cells: the state's Evt19 answer, or AA-2 where there is none", () => {
  // Local primitives out of turn, e.g. an A-ASSOCIATE response with no request pending.
  assertEquals(transition("Sta6", "Evt7"), { action: "AA-8", next: "Sta13" });
  assertEquals(transition("Sta2", "Evt14"), { action: "AA-1", next: "Sta13" });
  assertEquals(transition("Sta13", "Evt9"), { action: "AA-7", next: "Sta13" });
  // No connection yet (Sta1) or still connecting (Sta4): just close.
  assertEquals(transition("Sta1", "Evt10"), { action: "AA-2", next: "Sta1" });
  assertEquals(transition("Sta4", "Evt6"), { action: "AA-2", next: "Sta1" });
  assert(!isDefined("Sta6", "Evt7"));
  assert(!isDefined("Sta1", "Evt10"));
});

Deno.test("STATES and EVENTS list the 13 states and 19 events", () => {
  assertEquals(STATES.length, 13);
  assertEquals<readonly string[]>(EVENTS, Array.from({ length: 19 }, (_, i) => `Evt${i + 1}`));
  assertEquals<readonly string[]>(Object.keys(TRANSITIONS), STATES);
});

Deno.test("an acceptor's whole life: connect, associate, data, release, close", () => {
  const events: Event[] = ["Evt5", "Evt6", "Evt7", "Evt10", "Evt10", "Evt12", "Evt14", "Evt17"];
  let state: State = "Sta1";
  const actions: Action[] = [];
  for (const event of events) {
    const { action, next } = transition(state, event);
    actions.push(action);
    state = next;
  }
  assertEquals(actions, ["AE-5", "AE-6", "AE-7", "DT-2", "DT-2", "AR-2", "AR-4", "AR-5"]);
  assertEquals(state, "Sta1");
});

Deno.test("eventForPdu: each received PDU type is its PS3.8 §9.2.2 event", () => {
  assertEquals(eventForPdu({ type: "A-RELEASE-RQ" }), "Evt12");
  assertEquals(eventForPdu({ type: "A-RELEASE-RP" }), "Evt13");
  assertEquals(eventForPdu({ type: "A-ABORT", source: 0, reason: 0 }), "Evt16");
  assertEquals(eventForPdu({ type: "A-ASSOCIATE-RJ", result: 1, source: 1, reason: 1 }), "Evt4");
  assertEquals(eventForPdu({ type: "P-DATA-TF", pdvs: [] }), "Evt10");
});
