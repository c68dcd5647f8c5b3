import { assert, assertEquals } from "../support/assert.ts";
import {
  backoffDelayMs,
  classifyStatus,
  parseRetryAfter,
  RETRY_AFTER_LIMIT_MS,
  retryDelayMs,
} from "../../src/upload/retry.ts";

Deno.test("backoff: full jitter bounds with injected random, exponential growth, cap", () => {
  const options = (r: number) => ({ baseMs: 1000, capMs: 300_000, random: () => r });
  for (let attempt = 1; attempt <= 12; attempt++) {
    const ceiling = Math.min(300_000, 1000 * 2 ** (attempt - 1));
    assertEquals(backoffDelayMs(attempt, options(0)), 0);
    assertEquals(backoffDelayMs(attempt, options(0.5)), Math.floor(ceiling / 2));
    const high = backoffDelayMs(attempt, options(0.999999));
    assert(high <= ceiling && high >= ceiling - 1, `attempt ${attempt}: ${high} vs ${ceiling}`);
  }
  assertEquals(backoffDelayMs(100, options(0.999999)), 299_999);
  assertEquals(backoffDelayMs(1e9, options(1)), 300_000);
  // random outside [0,1) is clamped
  assertEquals(backoffDelayMs(3, { baseMs: 100, capMs: 1000, random: () => 7 }), 400);
  assertEquals(backoffDelayMs(3, { baseMs: 100, capMs: 1000, random: () => -1 }), 0);
});

Deno.test("backoff: the random draws are spread over the whole range", () => {
  let seed = 1;
  const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const draws = Array.from(
    { length: 2000 },
    () => backoffDelayMs(4, { baseMs: 1000, capMs: 60_000, random }),
  );
  assert(Math.min(...draws) < 400);
  assert(Math.max(...draws) > 7600);
  assert(draws.every((d) => d >= 0 && d <= 8000));
});

Deno.test("Retry-After: delta-seconds, HTTP-date, past date, garbage", () => {
  const now = Date.parse("2024-05-01T12:00:00Z");
  assertEquals(parseRetryAfter("120", now), 120_000);
  assertEquals(parseRetryAfter(" 0 ", now), 0);
  assertEquals(parseRetryAfter("Wed, 01 May 2024 12:00:30 GMT", now), 30_000);
  assertEquals(parseRetryAfter("Wed, 01 May 2024 11:00:00 GMT", now), 0);
  assertEquals(parseRetryAfter(null, now), null);
  assertEquals(parseRetryAfter("", now), null);
  assertEquals(parseRetryAfter("-5", now), null);
  assertEquals(parseRetryAfter("soon", now), null);
  assertEquals(parseRetryAfter("1.5", now), null);
});

Deno.test("retryDelayMs: Retry-After is a floor, limited to one hour; otherwise the jitter", () => {
  const base = { attempt: 1, baseMs: 1000, capMs: 300_000, random: () => 0.5 };
  assertEquals(retryDelayMs({ ...base, retryAfterMs: null }), 500);
  assertEquals(retryDelayMs({ ...base, retryAfterMs: 5000 }), 5000);
  assertEquals(retryDelayMs({ ...base, retryAfterMs: 10 }), 500);
  assertEquals(retryDelayMs({ ...base, retryAfterMs: 86_400_000 }), RETRY_AFTER_LIMIT_MS);
});

Deno.test("classifyStatus: PS3.18 §10.5.3 and HTTP semantics", () => {
  const table: [number, string][] = [
    [200, "success"],
    [202, "success"],
    [204, "success"],
    [400, "instances"],
    [409, "instances"],
    [422, "instances"],
    [401, "credentials"],
    [403, "credentials"],
    [407, "credentials"],
    [413, "too-large"],
    [408, "retry"],
    [429, "retry"],
    [500, "retry"],
    [502, "retry"],
    [503, "retry"],
    [504, "retry"],
    [404, "configuration"],
    [405, "configuration"],
    [411, "configuration"],
    [415, "configuration"],
    [302, "retry"],
  ];
  for (const [status, meaning] of table) assertEquals(classifyStatus(status), meaning, `HTTP ${status}`);
});
