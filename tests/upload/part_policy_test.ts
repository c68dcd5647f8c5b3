/**
 * Adaptive sending's two pure choices (issue 11): the next part of a request body, and the next
 * instance the compression pool starts.
 */
import { assertEquals } from "../support/assert.ts";
import {
  chooseEncode,
  choosePart,
  encodeOrder,
  ENCODER_GRACE_MS,
  type TicketState,
} from "../../src/upload/part_policy.ts";

/** Adaptive, the body having waited out the grace. */
const adaptive = { adaptive: true, waitedMs: ENCODER_GRACE_MS };
const waiting = { adaptive: false, waitedMs: 10 * ENCODER_GRACE_MS };

Deno.test("choosePart: a finished instance goes first, the first one finished", () => {
  const states: TicketState[] = ["taken", "encoding", "ready", "waiting", "ready"];
  assertEquals(choosePart(states, adaptive), { kind: "ready", index: 2 });
  assertEquals(choosePart(states, waiting), { kind: "ready", index: 2 });
});

Deno.test("choosePart: nothing finished — adaptive sends the last not-started one as received, else waits", () => {
  const states: TicketState[] = ["encoding", "encoding", "waiting", "waiting", "waiting"];
  // The last: the pool works from the front, so sender and encoder meet in the middle.
  assertEquals(choosePart(states, adaptive), { kind: "as-received", index: 4 });
  assertEquals(choosePart(states, waiting), { kind: "wait" });
});

Deno.test("choosePart: within the grace a body waits for the encoder, and is told when to look again", () => {
  const states: TicketState[] = ["encoding", "waiting", "waiting"];
  assertEquals(choosePart(states, { adaptive: true, waitedMs: 0 }), {
    kind: "wait",
    retryInMs: ENCODER_GRACE_MS,
  });
  assertEquals(choosePart(states, { adaptive: true, waitedMs: 30, graceMs: 50 }), {
    kind: "wait",
    retryInMs: 20,
  });
  assertEquals(choosePart(states, { adaptive: true, waitedMs: 50, graceMs: 50 }), {
    kind: "as-received",
    index: 2,
  });
  // Finished within the grace: it goes as prepared at once.
  assertEquals(choosePart(["ready", "waiting"], { adaptive: true, waitedMs: 0 }), {
    kind: "ready",
    index: 0,
  });
});

Deno.test("choosePart: at most one instance as received per grace, across all requests", () => {
  const states: TicketState[] = ["encoding", "waiting", "waiting"];
  const waited = { adaptive: true, waitedMs: 500, graceMs: 100 };
  assertEquals(choosePart(states, { ...waited, sinceAsReceivedMs: 40 }), { kind: "wait", retryInMs: 60 });
  assertEquals(choosePart(states, { ...waited, sinceAsReceivedMs: 100 }), { kind: "as-received", index: 2 });
  // Both limits: the later one counts.
  assertEquals(
    choosePart(states, { adaptive: true, waitedMs: 10, graceMs: 100, sinceAsReceivedMs: 70 }),
    { kind: "wait", retryInMs: 90 },
  );
});

Deno.test("encodeOrder: waiting bodies first (longest waiting), then requests being sent (oldest), then the look-ahead", () => {
  const order = encodeOrder([
    { startedAt: null, waitingSince: null, openedAt: 0 }, // look-ahead
    { startedAt: 2, waitingSince: null, openedAt: 1 }, // being sent
    { startedAt: 3, waitingSince: 500, openedAt: 2 }, // waiting since 500
    { startedAt: 1, waitingSince: 200, openedAt: 3 }, // waiting since 200
    { startedAt: 4, waitingSince: null, openedAt: 4 }, // being sent, later
  ]);
  assertEquals(order, [3, 2, 1, 4, 0]);
});

Deno.test("choosePart: an instance being encoded is waited for, never sent as received", () => {
  const states: TicketState[] = ["taken", "encoding", "taken", "encoding"];
  assertEquals(choosePart(states, adaptive), { kind: "wait" });
  assertEquals(choosePart(states, waiting), { kind: "wait" });
});

Deno.test("choosePart: done when every instance is in the body (or there is none)", () => {
  assertEquals(choosePart(["taken", "taken"], adaptive), { kind: "done" });
  assertEquals(choosePart([], waiting), { kind: "done" });
});

Deno.test("chooseEncode: the first not-started instance of the first request that has one", () => {
  assertEquals(
    chooseEncode([["taken", "encoding"], ["ready", "waiting", "waiting"], ["waiting"]]),
    { request: 1, index: 1 },
  );
  assertEquals(chooseEncode([["taken"], ["ready", "encoding"]]), null);
  assertEquals(chooseEncode([]), null);
});

Deno.test("policy with fake timing: a sender faster than the encoder keeps sending, no encoded work is lost", () => {
  // 20 instances, the encoder finishes one per tick (at most 2 in progress), the sender takes 2
  // parts per tick. The policy alone, stepped by hand: no clock, no timing assertion.
  const states: TicketState[] = Array.from({ length: 20 }, () => "waiting");
  const encodingOrder: number[] = [];
  const sent: { index: number; how: "ready" | "as-received" }[] = [];
  let encodedDiscarded = 0;
  const startEncoding = () => {
    while (states.filter((s) => s === "encoding").length < 2) {
      const pick = chooseEncode([states]);
      if (pick === null) return;
      states[pick.index] = "encoding";
      encodingOrder.push(pick.index);
    }
  };
  startEncoding();
  for (let tick = 0; tick < 100; tick++) {
    const oldest = encodingOrder.find((i) => states[i] === "encoding");
    if (oldest !== undefined) states[oldest] = "ready";
    startEncoding();
    for (let part = 0; part < 2; part++) {
      const choice = choosePart(states, adaptive);
      if (choice.kind === "ready" || choice.kind === "as-received") {
        if (choice.kind === "as-received" && states[choice.index] !== "waiting") encodedDiscarded++;
        states[choice.index] = "taken";
        sent.push({ index: choice.index, how: choice.kind });
      }
    }
    if (choosePart(states, adaptive).kind === "done") break;
  }
  assertEquals(sent.length, 20, "every instance once");
  assertEquals(new Set(sent.map((s) => s.index)).size, 20);
  assertEquals(encodedDiscarded, 0, "nothing the pool started goes as received");
  const compressed = sent.filter((s) => s.how === "ready").length;
  assertEquals(compressed, encodingOrder.length, "everything encoded is sent encoded");
  assertEquals(
    compressed > 0 && compressed < 20,
    true,
    "a mix: the pool's share compressed, the rest as received",
  );
});

Deno.test("policy with fake timing: a sender slower than the encoder sends everything compressed", () => {
  // The encoder finishes two per tick, the sender takes one part per tick after the first tick.
  const states: TicketState[] = Array.from({ length: 12 }, () => "waiting");
  let asReceived = 0;
  for (let tick = 0; tick < 100 && choosePart(states, adaptive).kind !== "done"; tick++) {
    for (let n = 0; n < 2; n++) {
      const pick = chooseEncode([states]);
      if (pick !== null) states[pick.index] = "ready";
    }
    const choice = choosePart(states, adaptive);
    if (choice.kind === "as-received") asReceived++;
    if (choice.kind === "ready" || choice.kind === "as-received") states[choice.index] = "taken";
  }
  assertEquals(asReceived, 0);
  assertEquals(states.every((s) => s === "taken"), true);
});
