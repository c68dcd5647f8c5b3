/**
 * Encapsulated Pixel Data (PS3.5 §A.4): "The Pixel Data Element (7FE0,0010) ... shall be
 * encoded with an undefined length ... a sequence of Items ... The first Item in the Sequence of
 * Items before the encoded Pixel Data Stream shall be a Basic Offset Table Item", then one
 * fragment per frame here, then the Sequence Delimiter Item. When an offset does not fit the
 * Basic Offset Table's 32 bits, the Basic Offset Table is empty and the Extended Offset Table
 * (7FE0,0001) OV with Extended Offset Table Lengths (7FE0,0002) OV hold 64-bit values instead.
 * @module
 */
import { explicitHeader, itemTag, UNDEFINED_LENGTH } from "./dataset_walk.ts";

/** Length of a fragment's value: its codestream padded to even length (PS3.5 §A.4 b). */
export function paddedLength(length: number): number {
  return length + (length % 2);
}

/** The parts written around the fragments. */
export interface EncapsulationFrame {
  /** (7FE0,0001) and (7FE0,0002), or empty when the Basic Offset Table holds the offsets. */
  extendedOffsetTable: Uint8Array;
  /** (7FE0,0010) OB of undefined length, then the Basic Offset Table item. */
  pixelDataStart: Uint8Array;
  /** The Sequence Delimitation Item. */
  pixelDataEnd: Uint8Array;
  /** Bytes of everything written for the Pixel Data, fragments included. */
  totalLength: number;
}

/**
 * The offset tables for fragments of these (unpadded) codestream lengths, one per frame. Offsets
 * count from the first byte of the first fragment's Item tag (PS3.5 §A.4 Table A.4-1).
 */
export function encapsulationFrame(fragmentLengths: readonly number[]): EncapsulationFrame {
  const offsets: number[] = [];
  let offset = 0;
  for (const length of fragmentLengths) {
    offsets.push(offset);
    offset += 8 + paddedLength(length);
  }
  const fragmentsLength = offset;
  const lastOffset = offsets[offsets.length - 1] ?? 0;
  const extended = lastOffset > 0xFFFFFFFF;
  let extendedOffsetTable = new Uint8Array(0);
  let bot: Uint8Array;
  if (extended) {
    const n = fragmentLengths.length;
    const table = new Uint8Array(12 + 8 * n + 12 + 8 * n);
    const view = new DataView(table.buffer);
    table.set(explicitHeader(0x7FE0, 0x0001, "OV", 8 * n), 0);
    table.set(explicitHeader(0x7FE0, 0x0002, "OV", 8 * n), 12 + 8 * n);
    for (let i = 0; i < n; i++) {
      view.setBigUint64(12 + 8 * i, BigInt(offsets[i]!), true);
      view.setBigUint64(24 + 8 * n + 8 * i, BigInt(paddedLength(fragmentLengths[i]!)), true);
    }
    extendedOffsetTable = table;
    bot = itemTag(0xE000, 0);
  } else {
    bot = new Uint8Array(8 + 4 * offsets.length);
    bot.set(itemTag(0xE000, 4 * offsets.length));
    const view = new DataView(bot.buffer);
    offsets.forEach((o, i) => view.setUint32(8 + 4 * i, o, true));
  }
  const header = explicitHeader(0x7FE0, 0x0010, "OB", UNDEFINED_LENGTH);
  const pixelDataStart = new Uint8Array(header.length + bot.length);
  pixelDataStart.set(header);
  pixelDataStart.set(bot, header.length);
  const pixelDataEnd = itemTag(0xE0DD, 0);
  return {
    extendedOffsetTable,
    pixelDataStart,
    pixelDataEnd,
    totalLength: extendedOffsetTable.length + pixelDataStart.length + fragmentsLength + pixelDataEnd.length,
  };
}

/** The Item tag and padded value of one fragment. */
export function fragmentItem(codestream: Uint8Array): Uint8Array[] {
  const head = itemTag(0xE000, paddedLength(codestream.length));
  return codestream.length % 2 === 0 ? [head, codestream] : [head, codestream, new Uint8Array(1)];
}
