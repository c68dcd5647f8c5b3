/**
 * Sharing the clinic's uplink: one token bucket for the bytes of every STOW-RS request body
 * together, at the rate the settings give for the moment (`upload.max_rate`, or the first
 * `upload.rate_windows` entry covering the PC's local day and time).
 *
 * The core is pure (an injected clock and local-time function): {@link rateAt} reads the
 * schedule, {@link TokenBucket.reserve} says how long to wait before sending a number of bytes.
 * The bucket keeps a theoretical send time (GCRA): each reservation moves it on by
 * `bytes / rate`; a sender waits until it is at most {@link BURST_MS} ahead of now. So over any
 * interval the bytes sent are at most `rate × interval + rate × burst + one piece`: within 1 %
 * over a minute at the sizes used here. {@link limitedStream} is the thin shell wrapping a body.
 * @module
 */
import type { RateWindow } from "../config/types.ts";

/** Local day of the week (0 = Sunday, like `Date.getDay()`) and minute after midnight. */
export interface LocalTime {
  day: number;
  minute: number;
}

/** The PC's local time at `ms` (the default of {@link RateLimiter}). */
export function localTimeOf(ms: number): LocalTime {
  const d = new Date(ms);
  return { day: d.getDay(), minute: d.getHours() * 60 + d.getMinutes() };
}

/** The rate settings the schedule reads. */
export interface RateSchedule {
  /** Bits per second outside the windows; 0 = unlimited. */
  maxRateBitsPerSecond: number;
  rateWindows: readonly RateWindow[];
}

/** Does `window` cover `at`? A window whose end is not after its start runs past midnight. */
export function windowCovers(window: RateWindow, at: LocalTime): boolean {
  if (window.toMinute > window.fromMinute) {
    return window.days[at.day] === true && at.minute >= window.fromMinute && at.minute < window.toMinute;
  }
  const yesterday = (at.day + 6) % 7;
  return (window.days[at.day] === true && at.minute >= window.fromMinute) ||
    (window.days[yesterday] === true && at.minute < window.toMinute);
}

/** Bits per second allowed at `at` (0 = unlimited): the first window covering it, else `max_rate`. */
export function rateAt(schedule: RateSchedule, at: LocalTime): number {
  for (const window of schedule.rateWindows) {
    if (windowCovers(window, at)) return window.bitsPerSecond;
  }
  return schedule.maxRateBitsPerSecond;
}

/** How far the bucket may run ahead of the clock: a short burst, so others on the link are not starved. */
export const BURST_MS = 50;

/** A token bucket over an injected clock (GCRA form). Pure apart from its one number of state. */
export class TokenBucket {
  #theoreticalAt = Number.NEGATIVE_INFINITY;

  /**
   * Reserves `bytes` at `bytesPerSecond` (0 = unlimited) at time `now` (ms) and returns how many
   * milliseconds the sender must wait before sending them (0: at once).
   */
  reserve(bytes: number, bytesPerSecond: number, now: number): number {
    if (bytesPerSecond <= 0) {
      this.#theoreticalAt = now;
      return 0;
    }
    // An idle bucket does not save up: sending resumes at the rate, after at most one burst.
    const start = Math.max(this.#theoreticalAt, now - BURST_MS);
    this.#theoreticalAt = start + (bytes * 1000) / bytesPerSecond;
    return Math.max(0, this.#theoreticalAt - now - BURST_MS);
  }
}

/** Options of {@link RateLimiter}. */
export interface RateLimiterOptions {
  now?: () => number;
  localTime?: (ms: number) => LocalTime;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Largest piece reserved at once: small enough to keep the sending smooth at low rates. */
export const PIECE_BYTES = 64 * 1024;

/** The uploader's one limiter: the schedule of the current settings and the shared bucket. */
export class RateLimiter {
  #schedule: RateSchedule;
  readonly #bucket = new TokenBucket();
  readonly #now: () => number;
  readonly #localTime: (ms: number) => LocalTime;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(schedule: RateSchedule, options: RateLimiterOptions = {}) {
    this.#schedule = schedule;
    this.#now = options.now ?? Date.now;
    this.#localTime = options.localTime ?? localTimeOf;
    this.#sleep = options.sleep ?? abortableSleep;
  }

  /** New settings take effect with the next piece. */
  setSchedule(schedule: RateSchedule): void {
    this.#schedule = schedule;
  }

  /** Bits per second allowed now (0 = unlimited). */
  currentRate(): number {
    return rateAt(this.#schedule, this.#localTime(this.#now()));
  }

  /** Waits until `bytes` may be sent (reserving them). */
  async acquire(bytes: number, signal?: AbortSignal): Promise<void> {
    const now = this.#now();
    const bits = rateAt(this.#schedule, this.#localTime(now));
    const wait = this.#bucket.reserve(bytes, bits / 8, now);
    if (wait > 0) await this.#sleep(wait, signal);
  }

  /** True when no cap applies at all (no rate, no window): streams need not be wrapped. */
  get unlimited(): boolean {
    return this.#schedule.maxRateBitsPerSecond === 0 &&
      this.#schedule.rateWindows.every((w) => w.bitsPerSecond === 0);
  }
}

/**
 * `stream` paced by `limiter`: chunks are cut into pieces of at most {@link PIECE_BYTES}, each
 * passed on once the shared bucket allows it. Pull-driven, so nothing is read ahead.
 */
export function limitedStream(
  stream: ReadableStream<Uint8Array>,
  limiter: RateLimiter,
  signal?: AbortSignal,
): ReadableStream<Uint8Array> {
  const reader = stream.getReader();
  let pending: Uint8Array | null = null;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (pending === null || pending.length === 0) {
        const next = await reader.read();
        if (next.done) {
          controller.close();
          return;
        }
        pending = next.value;
      }
      const piece: Uint8Array = pending.subarray(0, PIECE_BYTES);
      pending = pending.subarray(piece.length);
      await limiter.acquire(piece.length, signal);
      controller.enqueue(piece);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}
