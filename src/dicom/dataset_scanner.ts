/**
 * A push parser over the bytes of one data set (PS3.5 §7), fed the same chunks that go to disk,
 * in whatever sizes they arrive. It checks every element header of the whole data set as it
 * streams and keeps the values of a few top-level elements; every other value is skipped by
 * counting, never buffered, whatever its length and position. What it holds at any time is one
 * partial element header (at most 12 bytes), the kept values (each cut at `maxKeptValueBytes`)
 * and one frame per open sequence and item (at most `maxSequenceDepth` sequences): memory is
 * bounded by design, whatever the input.
 *
 * Checked (a failure is a {@link DatasetError} naming the element and offset, with a short
 * Error Comment):
 * - PS3.5 §7.1.2: an explicit VR is two upper-case letters; OB, OD, OF, OL, OV, OW, SQ, SV, UC,
 *   UN, UR, UT, UV have 2 reserved bytes and a 32-bit length, the others a 16-bit length.
 * - Every value lies within the enclosing item or sequence of defined length, and within the
 *   data set (checked at {@link DatasetScanner.end}, when its length is known).
 * - PS3.5 §7.5: a sequence holds items (FFFE,E000); one of undefined length ends with a Sequence
 *   Delimitation Item (FFFE,E0DD), an item of undefined length with an Item Delimitation Item
 *   (FFFE,E00D); a delimiter never appears anywhere else. Everything opened is closed.
 * - PS3.5 §6.2.2: UN of undefined length holds a sequence in Implicit VR Little Endian.
 * - PS3.5 §A.4: encapsulated pixel data (OB/OW of undefined length) is a sequence of items of
 *   defined length (Basic Offset Table, fragments) ended by a Sequence Delimitation Item.
 * - Sequences nest at most `maxSequenceDepth` deep.
 *
 * Not checked: the inside of values of defined length whose VR is not SQ (in Implicit VR a
 * sequence of defined length cannot be told from any other value without a data dictionary;
 * its length is still checked against its surroundings), tag order, value contents.
 * @module
 */
import { hex } from "../bytes.ts";
import { DatasetError } from "./dataset_error.ts";
import type { DatasetEncoding } from "./uids.ts";

export { DatasetError };

/** Byte order and VR form of a data set (PS3.5 §7.1, §7.3). */
export type ElementEncoding = Pick<DatasetEncoding, "littleEndian" | "explicitVr">;

/** What to keep and the limits. */
export interface DatasetScannerOptions {
  /** The encoding of the data set (from `datasetEncoding` in uids.ts; deflated means explicit LE). */
  encoding: ElementEncoding;
  /** Top-level tags (group << 16 | element) whose values are kept. Default: none. */
  keep?: ReadonlySet<number>;
  /** Bytes kept of each kept value; the rest is skipped and the value marked cut. Default 1024. */
  maxKeptValueBytes?: number;
  /** Sequences nested deeper than this are refused. Default 64. */
  maxSequenceDepth?: number;
  /**
   * Stop at the first top-level element past the kept tags: later bytes are ignored and `end`
   * checks nothing (for reading a stored file's attributes, whose structure was checked when it
   * was received). Default false: the whole data set is checked.
   */
  stopAfterKept?: boolean;
}

/** A kept top-level value, as found in the data set. */
export interface KeptValue {
  /** The explicit VR, "" in Implicit VR. */
  vr: string;
  /** The value's first bytes (all of it unless `cut`). */
  bytes: Uint8Array;
  /** The declared value length. */
  length: number;
  /** The value was longer than `maxKeptValueBytes`. */
  cut: boolean;
}

/** Default nesting limit for sequences. */
export const DEFAULT_MAX_SEQUENCE_DEPTH = 64;
/** Default bytes kept of each kept value. */
export const DEFAULT_MAX_KEPT_VALUE_BYTES = 1024;

/** PS3.5 §7.1.2: explicit VRs whose header has 2 reserved bytes and a 32-bit length. */
const LONG_VRS: ReadonlySet<string> = new Set([
  "OB",
  "OD",
  "OF",
  "OL",
  "OV",
  "OW",
  "SQ",
  "SV",
  "UC",
  "UN",
  "UR",
  "UT",
  "UV",
]);
const UNDEFINED_LENGTH = 0xFFFFFFFF;
/** PS3.5 §7.5: Item, Item Delimitation Item, Sequence Delimitation Item. */
const ITEM = 0xFFFEE000;
const ITEM_DELIMITATION = 0xFFFEE00D;
const SEQUENCE_DELIMITATION = 0xFFFEE0DD;
/** PS3.5 §6.2.2: the encoding of UN values of undefined length. */
const IMPLICIT_LE: ElementEncoding = { littleEndian: true, explicitVr: false };

/** The group and element of a tag, as "(gggg,eeee)". */
export function tagName(tag: number): string {
  return `(${hex(tag >>> 16, 4)},${hex(tag & 0xFFFF, 4)})`;
}

/**
 * One open level: the data set itself, an item (elements), a sequence (items) or encapsulated
 * pixel data (fragments).
 */
interface Frame {
  kind: "elements" | "items" | "fragments";
  encoding: ElementEncoding;
  /** Offset just past the frame's value, or Infinity for undefined length (or the data set). */
  end: number;
  /** The nearest defined end of this frame or any frame around it. */
  limit: number;
  /** The tag that opened it (sequence / pixel data tag, or ITEM) and where, for messages. */
  tag: number;
  start: number;
}

/** Streams over one data set; see the module note. Throws {@link DatasetError} at the first fault. */
export class DatasetScanner {
  readonly #keep: ReadonlySet<number>;
  readonly #lastKept: number;
  readonly #maxKept: number;
  readonly #maxDepth: number;
  readonly #stopAfterKept: boolean;
  #stopped = false;
  readonly #stack: Frame[];
  readonly #header = new Uint8Array(12);
  readonly #headerView = new DataView(this.#header.buffer);
  readonly #values = new Map<number, KeptValue>();
  /** Bytes consumed so far: the offset of the next byte in the data set. */
  #offset = 0;
  #headerFilled = 0;
  /** Where the header being read starts. */
  #headerStart = 0;
  /** Value bytes still to skip, and the element they belong to. */
  #skip = 0;
  #skipTag = 0;
  #skipStart = 0;
  #skipLength = 0;
  /** The kept value being filled, if the value being skipped is kept. */
  #capture: { tag: number; vr: string; bytes: Uint8Array; filled: number; length: number } | null = null;
  #depth = 0;
  #pastKept = false;
  #failed: DatasetError | null = null;
  #ended = false;
  #buffered = 0;
  #maxBuffered = 0;

  constructor(options: DatasetScannerOptions) {
    this.#keep = options.keep ?? new Set();
    this.#lastKept = Math.max(-1, ...this.#keep);
    this.#maxKept = options.maxKeptValueBytes ?? DEFAULT_MAX_KEPT_VALUE_BYTES;
    this.#maxDepth = options.maxSequenceDepth ?? DEFAULT_MAX_SEQUENCE_DEPTH;
    this.#stopAfterKept = options.stopAfterKept ?? false;
    this.#stack = [{
      kind: "elements",
      encoding: options.encoding,
      end: Infinity,
      limit: Infinity,
      tag: 0,
      start: 0,
    }];
  }

  /** Bytes of the data set consumed so far. */
  get offset(): number {
    return this.#offset;
  }

  /** The kept top-level values found so far, by tag. */
  get values(): ReadonlyMap<number, KeptValue> {
    return this.#values;
  }

  /**
   * A top-level element past every kept tag has been seen (or the data set has ended): the kept
   * values are final, a reader that only wants them may stop.
   */
  get pastKept(): boolean {
    return this.#pastKept || this.#ended;
  }

  /** Bytes this scanner holds now: partial header, kept values, open frames (about 48 each). */
  get bufferedBytes(): number {
    return this.#buffered + this.#headerFilled + this.#stack.length * 48;
  }

  /** The most {@link bufferedBytes} ever held: the memory test's measure. */
  get maxBufferedBytes(): number {
    return this.#maxBuffered;
  }

  /** Consumes the next bytes of the data set (not kept: the caller may reuse them). */
  push(bytes: Uint8Array): void {
    if (this.#failed) throw this.#failed;
    try {
      this.#push(bytes);
    } catch (error) {
      if (error instanceof DatasetError) this.#failed = error;
      throw error;
    }
    this.#account();
  }

  /** The data set has ended: checks that no element, item or sequence is left open. */
  end(): void {
    if (this.#failed) throw this.#failed;
    try {
      this.#end();
    } catch (error) {
      if (error instanceof DatasetError) this.#failed = error;
      throw error;
    }
    this.#ended = true;
  }

  #account(): void {
    const now = this.bufferedBytes;
    if (now > this.#maxBuffered) this.#maxBuffered = now;
  }

  #push(bytes: Uint8Array): void {
    let i = 0;
    const n = bytes.length;
    while (i < n && !this.#stopped) {
      if (this.#skip > 0) {
        const take = Math.min(this.#skip, n - i);
        const capture = this.#capture;
        if (capture && capture.filled < capture.bytes.length) {
          const copy = Math.min(take, capture.bytes.length - capture.filled);
          capture.bytes.set(bytes.subarray(i, i + copy), capture.filled);
          capture.filled += copy;
        }
        this.#skip -= take;
        this.#offset += take;
        i += take;
        if (this.#skip === 0) this.#valueDone();
        continue;
      }
      if (this.#headerFilled === 0) {
        this.#closeEnded();
        this.#headerStart = this.#offset;
      }
      // Gather the header: 8 bytes, or 12 for an explicit VR with a 32-bit length.
      const needed = this.#headerLength();
      const take = Math.min(needed - this.#headerFilled, n - i);
      this.#header.set(bytes.subarray(i, i + take), this.#headerFilled);
      this.#headerFilled += take;
      this.#offset += take;
      i += take;
      if (this.#headerFilled < 8 || this.#headerFilled < this.#headerLength()) continue;
      this.#headerFilled = 0;
      this.#onHeader();
      this.#account();
    }
  }

  /** Bytes of the header being read, as far as the bytes gathered so far tell. */
  #headerLength(): number {
    const frame = this.#top();
    if (frame.kind !== "elements" || !frame.encoding.explicitVr || this.#headerFilled < 6) return 8;
    if (this.#headerView.getUint16(0, frame.encoding.littleEndian) === 0xFFFE) return 8;
    const vr = String.fromCharCode(this.#header[4]!, this.#header[5]!);
    return LONG_VRS.has(vr) ? 12 : 8;
  }

  #top(): Frame {
    return this.#stack[this.#stack.length - 1]!;
  }

  /** Pops the frames of defined length that end here. */
  #closeEnded(): void {
    for (;;) {
      const frame = this.#top();
      if (frame.end !== this.#offset) return;
      this.#pop();
    }
  }

  #pop(): void {
    const frame = this.#stack.pop()!;
    if (frame.kind !== "elements") this.#depth--;
  }

  #open(frame: Omit<Frame, "limit">): void {
    if (frame.kind !== "elements") {
      if (this.#depth + 1 > this.#maxDepth) {
        throw new DatasetError(
          `Cannot read data set: sequences nested deeper than ${this.#maxDepth} at offset ${frame.start} (${
            tagName(frame.tag)
          })`,
          { comment: `Sequences nested deeper than ${this.#maxDepth}` },
        );
      }
      this.#depth++;
    }
    this.#stack.push({ ...frame, limit: Math.min(frame.end, this.#top().limit) });
  }

  #onHeader(): void {
    const frame = this.#top();
    const le = frame.encoding.littleEndian;
    const view = this.#headerView;
    const start = this.#headerStart;
    const tag = ((view.getUint16(0, le) << 16) | view.getUint16(2, le)) >>> 0;
    if (frame.kind !== "elements") {
      this.#onItemHeader(frame, tag, view.getUint32(4, le), start);
      return;
    }
    if (tag >>> 16 === 0xFFFE) {
      // Item, item delimiter or sequence delimiter: no VR, 32-bit length (PS3.5 §7.5).
      if (tag === ITEM_DELIMITATION && frame.tag === ITEM && frame.end === Infinity) {
        this.#pop();
        return;
      }
      const what = tag === ITEM_DELIMITATION
        ? "Item Delimitation Item (FFFE,E00D)"
        : tag === SEQUENCE_DELIMITATION
        ? "Sequence Delimitation Item (FFFE,E0DD)"
        : tag === ITEM
        ? "Item (FFFE,E000)"
        : `element ${tagName(tag)}`;
      const where = frame.tag === ITEM
        ? (frame.end === Infinity ? "inside an item" : "inside an item of defined length")
        : "outside any sequence";
      throw new DatasetError(`Cannot read data set: ${what} at offset ${start} ${where}`, {
        comment: `Misplaced ${tagName(tag)} at offset ${start}`,
      });
    }
    let vr = "";
    let length: number;
    let headerLength = 8;
    if (frame.encoding.explicitVr) {
      vr = String.fromCharCode(this.#header[4]!, this.#header[5]!);
      if (!isVr(this.#header[4]!, this.#header[5]!)) {
        throw new DatasetError(
          `Cannot read data set: element ${tagName(tag)} at offset ${start} has no valid explicit VR ` +
            `(bytes ${hex(view.getUint16(4, false), 4)})`,
          { comment: `Element ${tagName(tag)} at offset ${start} has no valid VR` },
        );
      }
      if (LONG_VRS.has(vr)) {
        length = view.getUint32(8, le);
        headerLength = 12;
      } else {
        length = view.getUint16(6, le);
      }
    } else {
      length = view.getUint32(4, le);
    }
    const top = this.#stack.length === 1;
    if (top && tag > this.#lastKept) {
      this.#pastKept = true;
      if (this.#stopAfterKept) {
        this.#stopped = true;
        return;
      }
    }
    const valueStart = start + headerLength;
    if (length === UNDEFINED_LENGTH) {
      if (vr === "SQ" || vr === "UN" || vr === "") {
        // PS3.5 §7.5.2 (and §6.2.2 for UN: the items are Implicit VR Little Endian).
        this.#open({
          kind: "items",
          encoding: vr === "UN" ? IMPLICIT_LE : frame.encoding,
          end: Infinity,
          tag,
          start,
        });
        return;
      }
      if (vr === "OB" || vr === "OW") {
        // PS3.5 §A.4: encapsulated pixel data.
        this.#open({ kind: "fragments", encoding: frame.encoding, end: Infinity, tag, start });
        return;
      }
      throw new DatasetError(
        `Cannot read data set: element ${tagName(tag)} at offset ${start} is ${vr} of undefined length`,
        { comment: `Element ${tagName(tag)} (${vr}) of undefined length` },
      );
    }
    const end = valueStart + length;
    this.#checkWithin(frame, tag, start, valueStart, length);
    if (vr === "SQ") {
      this.#open({ kind: "items", encoding: frame.encoding, end, tag, start });
      return;
    }
    if (top && this.#keep.has(tag)) {
      const bytes = new Uint8Array(Math.min(length, this.#maxKept));
      this.#buffered += bytes.length;
      const previous = this.#values.get(tag);
      if (previous) this.#buffered -= previous.bytes.length;
      this.#values.delete(tag);
      this.#capture = { tag, vr, bytes, filled: 0, length };
    }
    this.#skipValue(tag, start, length);
  }

  #onItemHeader(frame: Frame, tag: number, length: number, start: number): void {
    if (tag === SEQUENCE_DELIMITATION) {
      if (frame.end === Infinity) {
        this.#pop();
        return;
      }
      throw new DatasetError(
        `Cannot read data set: Sequence Delimitation Item (FFFE,E0DD) at offset ${start} in ${
          tagName(frame.tag)
        }, a sequence of defined length`,
        { comment: `Misplaced (FFFE,E0DD) at offset ${start}` },
      );
    }
    if (tag !== ITEM) {
      const what = frame.kind === "fragments" ? "encapsulated pixel data" : "a sequence";
      throw new DatasetError(
        `Cannot read data set: expected an item (FFFE,E000) or sequence delimiter (FFFE,E0DD) at offset ${start}` +
          ` in ${what} ${tagName(frame.tag)}, found ${tagName(tag)}`,
        { comment: `No item at offset ${start} in ${tagName(frame.tag)}` },
      );
    }
    const valueStart = start + 8;
    if (frame.kind === "fragments") {
      // PS3.5 §A.4: "Each Item shall have a defined length".
      if (length === UNDEFINED_LENGTH) {
        throw new DatasetError(
          `Cannot read data set: pixel data fragment at offset ${start} has undefined length (PS3.5 A.4)`,
          { comment: `Pixel data fragment at offset ${start} of undefined length` },
        );
      }
      this.#checkWithin(frame, ITEM, start, valueStart, length);
      this.#skipValue(ITEM, start, length);
      return;
    }
    if (length === UNDEFINED_LENGTH) {
      this.#open({ kind: "elements", encoding: frame.encoding, end: Infinity, tag: ITEM, start });
      return;
    }
    this.#checkWithin(frame, ITEM, start, valueStart, length);
    this.#open({ kind: "elements", encoding: frame.encoding, end: valueStart + length, tag: ITEM, start });
  }

  /** A value of defined length must end within the enclosing frames of defined length. */
  #checkWithin(frame: Frame, tag: number, start: number, valueStart: number, length: number): void {
    if (valueStart + length <= frame.limit) return;
    throw new DatasetError(
      `Cannot read data set: element ${tagName(tag)} at offset ${start} declares length ${length} but only ${
        frame.limit - valueStart
      } bytes remain in the enclosing item`,
      { comment: `Length of ${tagName(tag)} at offset ${start} exceeds its item` },
    );
  }

  #skipValue(tag: number, start: number, length: number): void {
    this.#skipTag = tag;
    this.#skipStart = start;
    this.#skipLength = length;
    this.#skip = length;
    if (length === 0) this.#valueDone();
  }

  #valueDone(): void {
    const capture = this.#capture;
    if (!capture) return;
    this.#capture = null;
    this.#values.set(capture.tag, {
      vr: capture.vr,
      bytes: capture.bytes,
      length: capture.length,
      cut: capture.length > capture.bytes.length,
    });
  }

  #end(): void {
    if (this.#stopped) return;
    if (this.#headerFilled > 0) {
      throw new DatasetError(
        `Cannot read data set: element header at offset ${this.#headerStart} needs ${this.#headerLength()} bytes ` +
          `but only ${this.#headerFilled} remain (truncated file?)`,
        { comment: `Data set ends inside an element header` },
      );
    }
    if (this.#skip > 0) {
      throw new DatasetError(
        `Cannot read data set: element ${
          tagName(this.#skipTag)
        } at offset ${this.#skipStart} declares length ` +
          `${this.#skipLength} but only ${this.#skipLength - this.#skip} bytes remain (truncated file?)`,
        { comment: `Data set ends inside ${tagName(this.#skipTag)} at offset ${this.#skipStart}` },
      );
    }
    this.#closeEnded();
    if (this.#stack.length > 1) {
      const frame = this.#top();
      const what = frame.tag === ITEM
        ? "item"
        : frame.kind === "fragments"
        ? `encapsulated pixel data ${tagName(frame.tag)}`
        : `sequence ${tagName(frame.tag)}`;
      const how = frame.end === Infinity
        ? "is never closed"
        : `declares ${frame.end - frame.start} bytes but the data set ends first`;
      throw new DatasetError(
        `Cannot read data set: ${what} at offset ${frame.start} ${how} (truncated file?)`,
        {
          comment: frame.end === Infinity
            ? `${
              what.startsWith("encapsulated") ? "Pixel data" : cap(what)
            } at offset ${frame.start} not closed`
            : `Data set ends inside ${tagName(frame.tag)} at offset ${frame.start}`,
        },
      );
    }
  }
}

function cap(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** PS3.5 §6.2: a VR is two upper-case letters. */
function isVr(a: number, b: number): boolean {
  return a >= 0x41 && a <= 0x5A && b >= 0x41 && b <= 0x5A;
}
