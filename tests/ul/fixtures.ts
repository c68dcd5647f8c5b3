/**
 * Test helpers: reading the commented-hex PDU fixtures of `tests/fixtures/pdu/` (format in its
 * README.md) and a seeded pseudo-random generator for property tests.
 * @module
 */

const FIXTURES = new URL("../fixtures/pdu/", import.meta.url);

/** Parses commented hex: `#` comments, hex byte pairs, and `"ASCII"` strings. */
export function parseHex(text: string): Uint8Array {
  const bytes: number[] = [];
  for (const rawLine of text.split("\n")) {
    let line = rawLine;
    // A '#' inside a quoted string is text, not a comment.
    let inQuote = false;
    for (let i = 0; i < line.length; i++) {
      if (line[i] === '"') inQuote = !inQuote;
      else if (line[i] === "#" && !inQuote) {
        line = line.slice(0, i);
        break;
      }
    }
    const tokens = line.match(/"[^"]*"|\S+/g) ?? [];
    for (const token of tokens) {
      if (token.startsWith('"')) {
        for (const ch of token.slice(1, -1)) {
          const code = ch.charCodeAt(0);
          if (code > 0x7e) throw new Error(`non-ASCII character in fixture string ${token}`);
          bytes.push(code);
        }
      } else {
        if (!/^([0-9a-fA-F]{2})+$/.test(token)) throw new Error(`bad hex token "${token}" in fixture`);
        for (let i = 0; i < token.length; i += 2) bytes.push(parseInt(token.slice(i, i + 2), 16));
      }
    }
  }
  return Uint8Array.from(bytes);
}

/** The bytes of `tests/fixtures/pdu/<name>.hex`. */
export async function fixture(name: string): Promise<Uint8Array> {
  return parseHex(await Deno.readTextFile(new URL(`${name}.hex`, FIXTURES)));
}

/** The bytes of a raw capture, `tests/fixtures/pdu/captured/<name>.bin`. */
export async function capture(name: string): Promise<Uint8Array> {
  return await Deno.readFile(new URL(`captured/${name}.bin`, FIXTURES));
}

/** A small, fast, seeded PRNG (mulberry32), so failures can be replayed from the seed. */
export class Random {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  /** A float in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  bool(): boolean {
    return this.next() < 0.5;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)]!;
  }
  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = this.int(0, 255);
    return out;
  }
  /** A valid UID of 1-64 characters. */
  uid(): string {
    const parts: string[] = [];
    let length = -1;
    const target = this.int(1, 64);
    while (length < target) {
      const digits = this.int(1, 6);
      let part = digits === 1 ? String(this.int(0, 9)) : String(this.int(1, 9));
      for (let i = 1; i < digits; i++) part += String(this.int(0, 9));
      if (length + 1 + part.length > 64) break;
      parts.push(part);
      length += 1 + part.length;
    }
    return parts.length > 0 ? parts.join(".") : "1";
  }
  /** Printable ASCII text of the given length range, with no leading/trailing space. */
  text(min: number, max: number): string {
    const length = this.int(min, max);
    let s = "";
    for (let i = 0; i < length; i++) s += String.fromCharCode(this.int(0x21, 0x7e));
    return s;
  }
}
