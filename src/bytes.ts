/**
 * Byte helpers shared by the codecs (PDUs, DIMSE command sets, Part 10 headers).
 * @module
 */

/** Concatenates byte arrays into one new array. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** `n` in upper-case hexadecimal, zero-padded to `digits` (no prefix): `hex(0x10, 4)` is "0010". */
export function hex(n: number, digits: number): string {
  return n.toString(16).toUpperCase().padStart(digits, "0");
}
