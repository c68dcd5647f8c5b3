import { assert, assertEquals } from "../support/assert.ts";
import {
  afterAnswer,
  afterCredentialsRejected,
  afterRetryableFailure,
  batchLimits,
  concurrencyLimit,
  isOpen,
  isProbing,
  OPEN_GATE,
  uploadState,
} from "../../src/upload/gate.ts";

/** A fake clock and a fixed random: the gate is driven by values only. */
const clock = { now: 1_000_000 };
const backoff = { baseMs: 1_000, capMs: 8_000, random: () => 0.999_999, retryAfterMs: null };
const limits = {
  batchMaxInstances: 50,
  batchMaxBytes: 100e6,
  learnedMaxInstances: null,
  learnedMaxBytes: null,
};

Deno.test("gate: open at start, full concurrency and batches", () => {
  assert(isOpen(OPEN_GATE, clock.now));
  assert(!isProbing(OPEN_GATE));
  assertEquals(concurrencyLimit(OPEN_GATE, 4), 4);
  assertEquals(batchLimits(OPEN_GATE, limits), { maxInstances: 50, maxBytes: 100e6 });
  assertEquals(batchLimits(OPEN_GATE, { ...limits, learnedMaxInstances: 7, learnedMaxBytes: 5e6 }), {
    maxInstances: 7,
    maxBytes: 5e6,
  });
  assertEquals(uploadState(OPEN_GATE, { configured: true, setupFailed: false, inFlight: 0 }), "idle");
  assertEquals(uploadState(OPEN_GATE, { configured: true, setupFailed: false, inFlight: 2 }), "sending");
  assertEquals(
    uploadState(OPEN_GATE, { configured: false, setupFailed: false, inFlight: 0 }),
    "not-configured",
  );
  assertEquals(uploadState(OPEN_GATE, { configured: true, setupFailed: true, inFlight: 0 }), "retrying");
});

Deno.test("gate: failures back off exponentially up to the cap, one single-instance probe at a time", () => {
  let gate = OPEN_GATE;
  const delays: number[] = [];
  for (let i = 0; i < 6; i++) {
    const next = afterRetryableFailure(gate, { ...backoff, now: clock.now });
    gate = next.gate;
    delays.push(next.delayMs);
  }
  assertEquals(delays, [999, 1_999, 3_999, 7_999, 7_999, 7_999]);
  assertEquals(gate.consecutiveFailures, 6);
  assert(!isOpen(gate, clock.now + 7_998));
  assert(isOpen(gate, clock.now + 7_999));
  assertEquals(concurrencyLimit(gate, 4), 1);
  assertEquals(batchLimits(gate, limits).maxInstances, 1);
  assertEquals(uploadState(gate, { configured: true, setupFailed: false, inFlight: 1 }), "retrying");
  const answered = afterAnswer(gate);
  assertEquals(answered, { gate: OPEN_GATE, resumed: true });
  assertEquals(afterAnswer(OPEN_GATE).resumed, false);
});

Deno.test("gate: Retry-After is honoured, and a later failure never reopens the gate earlier", () => {
  const first = afterRetryableFailure(OPEN_GATE, { ...backoff, now: clock.now, retryAfterMs: 30_000 });
  assertEquals(first.delayMs, 30_000);
  const second = afterRetryableFailure(first.gate, { ...backoff, now: clock.now + 10, random: () => 0 });
  assertEquals(second.delayMs, 0);
  assertEquals(second.gate.closedUntil, clock.now + 30_000);
});

Deno.test("gate: credentials rejected pauses for the retry period, logged once; an answer resumes", () => {
  const paused = afterCredentialsRejected(OPEN_GATE, { now: clock.now, retryMs: 60_000 });
  assert(paused.firstTime);
  assert(!isOpen(paused.gate, clock.now + 59_999));
  assert(isOpen(paused.gate, clock.now + 60_000));
  assertEquals(
    uploadState(paused.gate, { configured: true, setupFailed: false, inFlight: 0 }),
    "credentials-rejected",
  );
  assertEquals(concurrencyLimit(paused.gate, 4), 1);
  const again = afterCredentialsRejected(paused.gate, { now: clock.now + 60_000, retryMs: 60_000 });
  assertEquals(again.firstTime, false);
  assertEquals(again.gate.closedUntil, clock.now + 120_000);
  assertEquals(afterAnswer(again.gate), { gate: OPEN_GATE, resumed: true });
});
