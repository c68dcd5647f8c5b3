/**
 * Upload rate settings in words: a rate such as `"8 Mbit/s"` (or `"unlimited"`), and time windows
 * such as `"Mon-Fri 07:00-19:00 8 Mbit/s"` that apply another rate during part of the week, in
 * the PC's local time. Pure parsing only; the token bucket lives in `upload/rate_limit.ts`.
 * @module
 */

/** A rate for part of the week. Days are numbered like `Date.getDay()`: 0 = Sunday … 6 = Saturday. */
export interface RateWindow {
  /** `days[d]` is true when the window starts on day `d`. */
  days: readonly boolean[];
  /** Minutes after local midnight the window opens (0–1439). */
  fromMinute: number;
  /**
   * Minutes after local midnight it closes (1–1440). When not after `fromMinute`, the window runs
   * past midnight into the next day.
   */
  toMinute: number;
  /** Bits per second during the window; 0 = unlimited. */
  bitsPerSecond: number;
  /** The window as written (normalised), for messages. */
  text: string;
}

const PREFIX: Record<string, number> = { "": 1, k: 1e3, m: 1e6, g: 1e9 };

/** The allowed form of a rate, for messages. */
export const RATE_ALLOWED =
  '"unlimited" or a rate like "8 Mbit/s" (bit/s, kbit/s, Mbit/s, Gbit/s; kB/s, MB/s)';

/**
 * Parses `"8 Mbit/s"`, `"500 kbit/s"`, `"20 Mbps"`, `"2 MB/s"` (bytes: capital B), `"unlimited"`
 * (0) into bits per second; null if not a rate.
 */
export function parseRate(text: string): number | null {
  const t = text.trim();
  if (/^(unlimited|none|0)$/i.test(t)) return 0;
  const m = /^(\d+(?:\.\d+)?)\s*([kKmMgG]?)(bit\/s|bps|b\/s|B\/s)$/.exec(t);
  if (!m) return null;
  const perUnit = PREFIX[m[2]!.toLowerCase()]! * (m[3] === "B/s" ? 8 : 1);
  const bits = Math.round(Number(m[1]) * perUnit);
  return Number.isSafeInteger(bits) && bits > 0 ? bits : null;
}

/** `8000000` → `"8 Mbit/s"`, `0` → `"unlimited"`. */
export function formatRate(bitsPerSecond: number): string {
  if (bitsPerSecond <= 0) return "unlimited";
  for (const [unit, size] of [["Gbit/s", 1e9], ["Mbit/s", 1e6], ["kbit/s", 1e3]] as const) {
    if (bitsPerSecond >= size) return `${Number((bitsPerSecond / size).toFixed(3))} ${unit}`;
  }
  return `${bitsPerSecond} bit/s`;
}

const DAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

function dayNumber(name: string): number | null {
  const i = DAY_NAMES.indexOf(name.slice(0, 3).toLowerCase());
  return i < 0 || name.length > 9 ? null : i;
}

/** `"Mon-Fri"`, `"Sat,Sun"`, `"daily"`, `"Fri-Mon"` → seven flags; null if not days. */
function parseDays(text: string): boolean[] | null {
  const days = new Array<boolean>(7).fill(false);
  const t = text.trim().toLowerCase();
  if (t === "daily" || t === "every day" || t === "all") return days.fill(true);
  for (const part of t.split(",")) {
    const range = part.trim().split("-");
    if (range.length === 1) {
      const d = dayNumber(range[0]!);
      if (d === null) return null;
      days[d] = true;
    } else if (range.length === 2) {
      const a = dayNumber(range[0]!.trim());
      const b = dayNumber(range[1]!.trim());
      if (a === null || b === null) return null;
      for (let d = a;; d = (d + 1) % 7) {
        days[d] = true;
        if (d === b) break;
      }
    } else {
      return null;
    }
  }
  return days;
}

function parseClock(text: string, allow24: boolean): number | null {
  const m = /^(\d{1,2}):(\d{2})$/.exec(text.trim());
  if (!m) return null;
  const minutes = Number(m[1]) * 60 + Number(m[2]);
  if (Number(m[2]) > 59 || minutes > (allow24 ? 1440 : 1439)) return null;
  return minutes;
}

/** The allowed form of a window, for messages. */
export const RATE_WINDOW_ALLOWED =
  'a time window like "Mon-Fri 07:00-19:00 8 Mbit/s" (days: Mon-Fri, Sat,Sun, daily; local time; ' +
  'a rate or "unlimited")';

/**
 * Parses `"<days> <HH:MM>-<HH:MM> <rate>"`, e.g. `"Mon-Fri 07:00-19:00 8 Mbit/s"` or
 * `"daily 22:00-06:00 unlimited"` (past midnight). Returns null if it is not a window.
 */
export function parseRateWindow(text: string): RateWindow | null {
  const m = /^\s*(\S+(?:\s*,\s*\S+)*)\s+(\d{1,2}:\d{2})\s*[-–]\s*(\d{1,2}:\d{2})\s+(.+?)\s*$/.exec(text);
  if (!m) return null;
  const days = parseDays(m[1]!);
  const fromMinute = parseClock(m[2]!, false);
  const toMinute = parseClock(m[3]!, true);
  const bitsPerSecond = parseRate(m[4]!);
  if (days === null || fromMinute === null || toMinute === null || bitsPerSecond === null) return null;
  if (toMinute === fromMinute) return null;
  return {
    days,
    fromMinute,
    toMinute,
    bitsPerSecond,
    text: `${m[1]!.trim()} ${m[2]}-${m[3]} ${formatRate(bitsPerSecond)}`,
  };
}
