/**
 * Walking a data set element by element (PS3.5 §7) in any native encoding, implicit or explicit
 * VR, little or big endian, and writing each element again in Explicit VR Little Endian
 * (PS3.5 §A.2), the encoding of every encapsulated transfer syntax.
 *
 * Implicit VR elements get their VR from the data dictionary (PS3.6, via dcmjs); big endian
 * values are byte-swapped by VR (PS3.5 §7.3). Sequences and items are written with undefined
 * length (PS3.5 §7.5.2), which carries the same content whatever length form came in.
 * @module
 */
import dcmjs from "dcmjs";
import type { ByteReader } from "./byte_reader.ts";

/** Byte order and VR form of a data set (PS3.5 §10). */
export interface Encoding {
  littleEndian: boolean;
  explicitVr: boolean;
}

/** One element header as read (length 0xFFFFFFFF: undefined). */
export interface ElementHeader {
  group: number;
  element: number;
  vr: string;
  length: number;
}

/** A data set this walker does not carry across unchanged (the instance goes as received). */
export class WalkError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WalkError";
  }
}

/** Undefined length (PS3.5 §7.1.1). */
export const UNDEFINED_LENGTH = 0xFFFFFFFF;
/** PS3.5 §7.1.2: explicit VRs with 2 reserved bytes and a 32-bit length. */
const LONG_VRS = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]);
/** Value width to swap for big endian (PS3.5 §7.3); VRs not listed are byte strings. */
const SWAP_WIDTH: Record<string, number> = {
  US: 2,
  SS: 2,
  OW: 2,
  AT: 2,
  UL: 4,
  SL: 4,
  FL: 4,
  OF: 4,
  OL: 4,
  FD: 8,
  OD: 8,
  SV: 8,
  UV: 8,
  OV: 8,
};
const ITEM = 0xE000;
const ITEM_DELIMITATION = 0xE00D;
const SEQUENCE_DELIMITATION = 0xE0DD;

// deno-lint-ignore no-explicit-any
const dictionary = (dcmjs as any).data.DicomMetaDictionary.dictionary as Record<
  string,
  { vr: string } | undefined
>;

function hex4(n: number): string {
  return n.toString(16).toUpperCase().padStart(4, "0");
}

/** `(gggg,eeee)` as the standard writes tags. */
export function tagText(group: number, element: number): string {
  return `(${hex4(group)},${hex4(element)})`;
}

/**
 * The VR of an implicit VR element (PS3.5 §A.1 leaves it to the dictionary). Group lengths are
 * UL, private creators LO, other private or unknown elements UN. "US or SS" follows Pixel
 * Representation (PS3.3 C.7.6.3.1.4: the value's representation matches the pixels'), "OB or
 * OW" is OW (PS3.5 §A.1 c: implicit VR Pixel Data and Overlay Data are OW), "US or OW" is OW.
 */
export function implicitVr(group: number, element: number, signedPixels: boolean): string {
  if (element === 0x0000) return "UL";
  if (group % 2 === 1) return element >= 0x0010 && element <= 0x00FF ? "LO" : "UN";
  const vr = dictionary[tagText(group, element)]?.vr;
  if (vr === undefined) return "UN";
  if (vr === "xs") return signedPixels ? "SS" : "US";
  if (vr === "ox" || vr === "lt") return "OW";
  if (/^[A-Z]{2}$/.test(vr)) return vr;
  return "UN";
}

/** Reads one element header; the VR is looked up for implicit VR (item tags get VR ""). */
export async function readElementHeader(
  reader: ByteReader,
  encoding: Encoding,
  signedPixels: boolean,
): Promise<ElementHeader> {
  const head = await reader.read(8);
  const view = new DataView(head.buffer, head.byteOffset, 8);
  const le = encoding.littleEndian;
  const group = view.getUint16(0, le);
  const element = view.getUint16(2, le);
  if (group === 0xFFFE) return { group, element, vr: "", length: view.getUint32(4, le) };
  if (!encoding.explicitVr) {
    return { group, element, vr: implicitVr(group, element, signedPixels), length: view.getUint32(4, le) };
  }
  const vr = String.fromCharCode(head[4]!, head[5]!);
  if (!/^[A-Z]{2}$/.test(vr)) {
    throw new WalkError(`element ${tagText(group, element)} has no valid VR (bytes ${head[4]}, ${head[5]})`);
  }
  if (LONG_VRS.has(vr)) {
    const more = await reader.read(4);
    return { group, element, vr, length: new DataView(more.buffer, more.byteOffset, 4).getUint32(0, le) };
  }
  return { group, element, vr, length: view.getUint16(6, le) };
}

/** Swaps each `width`-byte value of `bytes` in place (PS3.5 §7.3: big to little endian). */
export function swapBytes(bytes: Uint8Array, width: number): void {
  if (width < 2) return;
  const end = bytes.length - (bytes.length % width);
  for (let i = 0; i < end; i += width) {
    for (let a = i, b = i + width - 1; a < b; a++, b--) {
      const t = bytes[a]!;
      bytes[a] = bytes[b]!;
      bytes[b] = t;
    }
  }
}

/** The Explicit VR Little Endian header of an element (PS3.5 §7.1.2). */
export function explicitHeader(group: number, element: number, vr: string, length: number): Uint8Array {
  const long = LONG_VRS.has(vr);
  if (!long && length > 0xFFFF) {
    throw new WalkError(`${tagText(group, element)} ${vr} is ${length} bytes, more than its 16-bit length`);
  }
  const out = new Uint8Array(long ? 12 : 8);
  const view = new DataView(out.buffer);
  view.setUint16(0, group, true);
  view.setUint16(2, element, true);
  out[4] = vr.charCodeAt(0);
  out[5] = vr.charCodeAt(1);
  if (long) view.setUint32(8, length, true);
  else view.setUint16(6, length, true);
  return out;
}

/** An item, item delimitation or sequence delimitation tag with its 32-bit length (PS3.5 §7.5). */
export function itemTag(element: number, length: number): Uint8Array {
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  view.setUint16(0, 0xFFFE, true);
  view.setUint16(2, element, true);
  view.setUint32(4, length, true);
  return out;
}

/**
 * Reads the value of the element whose header was just read and returns the element re-encoded
 * in Explicit VR Little Endian (as pieces to write in order). Sequences recurse.
 */
export async function transcodeElement(
  reader: ByteReader,
  encoding: Encoding,
  header: ElementHeader,
  signedPixels: boolean,
): Promise<Uint8Array[]> {
  const { group, element } = header;
  let vr = header.vr;
  if (header.length === UNDEFINED_LENGTH) {
    // PS3.5 §7.5.1 / §6.2.2: undefined length is a sequence (an implicit VR UN element of
    // undefined length is one too); explicit UN of undefined length holds implicit VR items.
    if (vr === "UN" && encoding.explicitVr) {
      throw new WalkError(`${tagText(group, element)} is UN with undefined length`);
    }
    if (vr !== "SQ" && vr !== "UN") {
      throw new WalkError(`${tagText(group, element)} ${vr} has undefined length outside Pixel Data`);
    }
    vr = "SQ";
  }
  if (vr === "SQ") {
    const out: Uint8Array[] = [explicitHeader(group, element, "SQ", UNDEFINED_LENGTH)];
    await transcodeItems(reader, encoding, header.length, signedPixels, out, tagText(group, element));
    out.push(itemTag(SEQUENCE_DELIMITATION, 0));
    return out;
  }
  const value = (await reader.read(header.length)).slice();
  if (!encoding.littleEndian) swapBytes(value, SWAP_WIDTH[vr] ?? 1);
  return [explicitHeader(group, element, vr, value.length), value];
}

async function transcodeItems(
  reader: ByteReader,
  encoding: Encoding,
  length: number,
  signedPixels: boolean,
  out: Uint8Array[],
  where: string,
): Promise<void> {
  const end = length === UNDEFINED_LENGTH ? Infinity : reader.position + length;
  while (reader.position < end) {
    const item = await readElementHeader(reader, encoding, signedPixels);
    if (item.group !== 0xFFFE) {
      throw new WalkError(`${where}: expected an item, found ${tagText(item.group, item.element)}`);
    }
    if (item.element === SEQUENCE_DELIMITATION) {
      if (length !== UNDEFINED_LENGTH) {
        throw new WalkError(`${where}: delimiter in a sequence of defined length`);
      }
      return;
    }
    if (item.element !== ITEM) {
      throw new WalkError(`${where}: unexpected ${tagText(item.group, item.element)}`);
    }
    out.push(itemTag(ITEM, UNDEFINED_LENGTH));
    const itemEnd = item.length === UNDEFINED_LENGTH ? Infinity : reader.position + item.length;
    while (reader.position < itemEnd) {
      const h = await readElementHeader(reader, encoding, signedPixels);
      if (h.group === 0xFFFE && h.element === ITEM_DELIMITATION) {
        if (item.length !== UNDEFINED_LENGTH) {
          throw new WalkError(`${where}: item delimiter in a defined-length item`);
        }
        break;
      }
      if (h.group === 0xFFFE) {
        throw new WalkError(`${where}: unexpected ${tagText(h.group, h.element)} in an item`);
      }
      out.push(...await transcodeElement(reader, encoding, h, signedPixels));
    }
    if (reader.position > itemEnd) throw new WalkError(`${where}: an item overruns its length`);
    out.push(itemTag(ITEM_DELIMITATION, 0));
  }
  if (reader.position > end) throw new WalkError(`${where}: a sequence overruns its length`);
}
