/**
 * Data sets built element by element in any of the plain encodings (PS3.5 §7.1: implicit or
 * explicit VR, little or big endian), with sequences, items and encapsulated pixel data of
 * defined or undefined length, and the hostile data sets of issue 10 (a 1 GiB element before the
 * Study UID as a generated stream, a deflate bomb, 10,000 nested sequences, wrong lengths).
 */
import { deflateRawSync } from "node:zlib";

/** Byte order and VR form. */
export interface Enc {
  explicitVr: boolean;
  littleEndian: boolean;
}

export const IMPLICIT_LE: Enc = { explicitVr: false, littleEndian: true };
export const EXPLICIT_LE: Enc = { explicitVr: true, littleEndian: true };
export const EXPLICIT_BE: Enc = { explicitVr: true, littleEndian: false };

export const CT = "1.2.840.10008.5.1.4.1.1.2";
export const SOP = "1.2.826.0.1.3680043.9.7433.1.10";
export const STUDY = "1.2.826.0.1.3680043.9.7433.2.10";
export const SERIES = "1.2.826.0.1.3680043.9.7433.3.10";

const LONG = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]);
export const UNDEFINED = 0xFFFFFFFF;

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** An element header: tag, VR (explicit), length. `vr` "" for items and delimiters. */
export function header(tag: number, vr: string, length: number, enc: Enc): Uint8Array {
  const group = tag >>> 16;
  const noVr = !enc.explicitVr || group === 0xFFFE;
  const long = LONG.has(vr);
  const out = new Uint8Array(noVr || long ? (noVr ? 8 : 12) : 8);
  const view = new DataView(out.buffer);
  view.setUint16(0, group, enc.littleEndian);
  view.setUint16(2, tag & 0xFFFF, enc.littleEndian);
  if (noVr) {
    view.setUint32(4, length, enc.littleEndian);
  } else {
    out[4] = vr.charCodeAt(0);
    out[5] = vr.charCodeAt(1);
    if (long) view.setUint32(8, length, enc.littleEndian);
    else view.setUint16(6, length, enc.littleEndian);
  }
  return out;
}

/** A string value padded to even length (NUL for UI, space otherwise). */
export function text(value: string, vr: string): Uint8Array {
  const bytes = new Uint8Array([...value].map((c) => c.charCodeAt(0) & 0xFF));
  if (bytes.length % 2 === 0) return bytes;
  return concat(bytes, new Uint8Array([vr === "UI" ? 0 : 0x20]));
}

/** One element with a value of defined length. */
export function el(tag: number, vr: string, value: string | Uint8Array, enc: Enc): Uint8Array {
  const bytes = typeof value === "string" ? text(value, vr) : value;
  return concat(header(tag, vr, bytes.length, enc), bytes);
}

/** A sequence of items (each the encoded elements of one item). */
export function sq(
  tag: number,
  items: Uint8Array[],
  enc: Enc,
  options: { undefinedLength?: boolean; undefinedItems?: boolean; vr?: string } = {},
): Uint8Array {
  const encodedItems = items.map((item) =>
    options.undefinedItems
      ? concat(header(0xFFFEE000, "", UNDEFINED, enc), item, header(0xFFFEE00D, "", 0, enc))
      : concat(header(0xFFFEE000, "", item.length, enc), item)
  );
  const body = concat(...encodedItems);
  const vr = options.vr ?? "SQ";
  if (options.undefinedLength) {
    return concat(header(tag, vr, UNDEFINED, enc), body, header(0xFFFEE0DD, "", 0, enc));
  }
  return concat(header(tag, vr, body.length, enc), body);
}

/** Encapsulated pixel data (PS3.5 A.4): empty Basic Offset Table, fragments, delimiter. */
export function encapsulated(fragments: Uint8Array[], enc: Enc = EXPLICIT_LE): Uint8Array {
  return concat(
    header(0x7FE00010, "OB", UNDEFINED, enc),
    header(0xFFFEE000, "", 0, enc),
    ...fragments.map((f) => concat(header(0xFFFEE000, "", f.length, enc), f)),
    header(0xFFFEE0DD, "", 0, enc),
  );
}

/** The identifying elements, in tag order up to (0008,0060). */
export function identity(
  enc: Enc,
  o: { sopClass?: string; sop?: string; charset?: string } = {},
): Uint8Array {
  return concat(
    ...(o.charset === undefined ? [] : [el(0x00080005, "CS", o.charset, enc)]),
    el(0x00080016, "UI", o.sopClass ?? CT, enc),
    el(0x00080018, "UI", o.sop ?? SOP, enc),
    el(0x00080060, "CS", "CT", enc),
  );
}

/** Patient, study and series elements (0010,0010)…(0020,0013). */
export function studyElements(
  enc: Enc,
  o: { study?: string; series?: string; patientName?: string } = {},
): Uint8Array {
  return concat(
    el(0x00100010, "PN", o.patientName ?? "Doe^Jane", enc),
    el(0x00100020, "LO", "PID-10", enc),
    el(0x0020000D, "UI", o.study ?? STUDY, enc),
    el(0x0020000E, "UI", o.series ?? SERIES, enc),
    el(0x00200013, "IS", "7", enc),
  );
}

/** A small valid data set with native pixel data. */
export function validDataset(
  enc: Enc,
  o: { sop?: string; study?: string; pixels?: number } = {},
): Uint8Array {
  return concat(
    identity(enc, o),
    studyElements(enc, o),
    el(0x7FE00010, "OW", new Uint8Array(o.pixels ?? 64).fill(0x5A), enc),
  );
}

/**
 * The 1 GiB case as a stream: identity, then a private OB element of `length` bytes placed
 * before the Study UID, then the study elements. The value is one reused zero chunk, so the test
 * itself holds no more than `chunk` bytes.
 */
export function* bigElementBeforeStudy(
  length: number,
  chunk = 256 * 1024,
  enc: Enc = EXPLICIT_LE,
): Generator<Uint8Array> {
  yield concat(identity(enc), el(0x00090010, "LO", "ACME", enc), header(0x00091010, "OB", length, enc));
  const zeros = new Uint8Array(chunk);
  for (let left = length; left > 0; left -= chunk) yield left >= chunk ? zeros : zeros.subarray(0, left);
  yield studyElements(enc);
}

/** `depth` sequences nested in each other (undefined lengths), around one element. */
export function nestedSequences(depth: number, enc: Enc = EXPLICIT_LE): Uint8Array {
  const open = concat(header(0x00081115, "SQ", UNDEFINED, enc), header(0xFFFEE000, "", UNDEFINED, enc));
  const close = concat(header(0xFFFEE00D, "", 0, enc), header(0xFFFEE0DD, "", 0, enc));
  const parts: Uint8Array[] = [identity(enc)];
  for (let i = 0; i < depth; i++) parts.push(open);
  parts.push(el(0x00081150, "UI", CT, enc));
  for (let i = 0; i < depth; i++) parts.push(close);
  parts.push(studyElements(enc));
  return concat(...parts);
}

/**
 * A deflated data set whose private OB value of `inflated` zero bytes compresses about 1000:1
 * (64 MiB of data set become about 64 kB on the wire).
 */
export function deflateBomb(inflated: number): Uint8Array {
  const enc = EXPLICIT_LE;
  return deflate(concat(
    identity(enc),
    el(0x00090010, "LO", "ACME", enc),
    header(0x00091010, "OB", inflated, enc),
    new Uint8Array(inflated),
    studyElements(enc),
  ));
}

/** Raw deflate of a whole (small) data set. */
export function deflate(dataset: Uint8Array): Uint8Array {
  return new Uint8Array(deflateRawSync(dataset));
}
