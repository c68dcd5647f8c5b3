/** The shared token bucket and the time-window schedule, on a fake clock (no timing assertions). */
import { assert, assertEquals } from "../support/assert.ts";
import { parseRateWindow } from "../../src/config/rate.ts";
import type { RateWindow } from "../../src/config/types.ts";
import {
  limitedStream,
  type LocalTime,
  PIECE_BYTES,
  rateAt,
  RateLimiter,
  TokenBucket,
} from "../../src/upload/rate_limit.ts";

function windowOf(text: string): RateWindow {
  const w = parseRateWindow(text);
  if (w === null) throw new Error(`not a window: ${text}`);
  return w;
}

/**
 * Simulates `senders` bodies sharing one bucket for `durationMs` of fake time: each sender
 * reserves its next piece as soon as the previous one went. Returns the bytes sent in the interval.
 */
function simulate(bytesPerSecond: number, senders: number, pieceSizes: number[], durationMs: number): number {
  const bucket = new TokenBucket();
  const readyAt = new Array<number>(senders).fill(0);
  let sent = 0;
  let turn = 0;
  for (;;) {
    let who = 0;
    for (let i = 1; i < senders; i++) if (readyAt[i]! < readyAt[who]!) who = i;
    const now = readyAt[who]!;
    const size = pieceSizes[turn++ % pieceSizes.length]!;
    const sendAt = now + bucket.reserve(size, bytesPerSecond, now);
    if (sendAt >= durationMs) return sent;
    sent += size;
    readyAt[who] = sendAt;
  }
}

Deno.test("one bucket shared by 1, 4 and 16 requests holds the rate within 5 % over a minute", () => {
  const rate = 8_000_000 / 8; // 8 Mbit/s
  for (const senders of [1, 4, 16]) {
    for (const sizes of [[PIECE_BYTES], [1000, 65536, 17, 30000], [1500]]) {
      const sent = simulate(rate, senders, sizes, 60_000);
      const ratio = sent / (rate * 60);
      assert(
        ratio <= 1.05 && ratio >= 0.95,
        `${senders} senders, pieces ${sizes}: ${ratio.toFixed(4)} of the rate`,
      );
    }
  }
});

Deno.test("an idle bucket does not save up a burst for later", () => {
  const bucket = new TokenBucket();
  const rate = 1_000_000;
  assertEquals(bucket.reserve(rate, rate, 0), 900); // one second of bytes: 1 s less the burst, twice
  // Ten idle minutes later, a second's worth still takes a second.
  assertEquals(bucket.reserve(rate, rate, 600_000), 900);
  assertEquals(bucket.reserve(1000, 0, 600_001), 0); // unlimited
});

Deno.test("the schedule: the first window covering the local time, else max_rate", () => {
  const schedule = {
    maxRateBitsPerSecond: 0,
    rateWindows: [windowOf("Mon-Fri 07:00-19:00 8 Mbit/s"), windowOf("daily 22:00-06:00 50 Mbit/s")],
  };
  const at = (day: number, hh: number, mm = 0): LocalTime => ({ day, minute: hh * 60 + mm });
  assertEquals(rateAt(schedule, at(1, 7)), 8_000_000); // Monday 07:00: in
  assertEquals(rateAt(schedule, at(5, 18, 59)), 8_000_000); // Friday 18:59: in
  assertEquals(rateAt(schedule, at(5, 19)), 0); // Friday 19:00: out, unlimited
  assertEquals(rateAt(schedule, at(6, 12)), 0); // Saturday noon
  assertEquals(rateAt(schedule, at(1, 6, 59)), 0); // Monday 06:59
  assertEquals(rateAt(schedule, at(0, 23)), 50_000_000); // Sunday 23:00 (past-midnight window)
  assertEquals(rateAt(schedule, at(1, 5, 59)), 50_000_000); // Monday 05:59, begun on Sunday
  assertEquals(rateAt({ ...schedule, maxRateBitsPerSecond: 2_000_000 }, at(6, 12)), 2_000_000);
});

Deno.test("the limiter follows the window when the fake clock crosses its end", async () => {
  let now = 0;
  // Local time: minutes since the fake epoch, on a Monday.
  const localTime = (ms: number): LocalTime => ({ day: 1, minute: Math.floor(ms / 60_000) % 1440 });
  const slept: number[] = [];
  const limiter = new RateLimiter(
    { maxRateBitsPerSecond: 0, rateWindows: [windowOf("Mon 00:00-00:01 8 Mbit/s")] },
    {
      now: () => now,
      localTime,
      sleep: (ms) => {
        slept.push(ms);
        now += ms;
        return Promise.resolve();
      },
    },
  );
  let bytesInWindow = 0;
  while (now < 60_000) {
    await limiter.acquire(PIECE_BYTES);
    if (now < 60_000) bytesInWindow += PIECE_BYTES;
  }
  const ratio = bytesInWindow / (1_000_000 * 60);
  assert(ratio <= 1.05 && ratio >= 0.95, `in the window: ${ratio.toFixed(4)} of 8 Mbit/s`);
  const sleeps = slept.length;
  for (let i = 0; i < 100; i++) await limiter.acquire(PIECE_BYTES); // 00:01: unlimited
  assertEquals(slept.length, sleeps);
  assertEquals(limiter.currentRate(), 0);
});

Deno.test("limitedStream cuts chunks into pieces, passes every byte in order and asks before each piece", async () => {
  const asked: number[] = [];
  const limiter = new RateLimiter({ maxRateBitsPerSecond: 8_000, rateWindows: [] }, {
    now: () => 0,
    sleep: () => Promise.resolve(),
  });
  const original = limiter.acquire.bind(limiter);
  limiter.acquire = (bytes, signal) => {
    asked.push(bytes);
    return original(bytes, signal);
  };
  const data = new Uint8Array(PIECE_BYTES * 2 + 5).map((_, i) => i % 251);
  const source = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(data.subarray(0, 10));
      c.enqueue(data.subarray(10));
      c.close();
    },
  });
  const out = new Uint8Array(await new Response(limitedStream(source, limiter)).arrayBuffer());
  assertEquals(out, data);
  assertEquals(asked, [10, PIECE_BYTES, PIECE_BYTES - 5]);
});
