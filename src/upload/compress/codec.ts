/**
 * Lossless frame codecs: JPEG-LS (CharLS, PS3.5 §8.2.3, 1.2.840.10008.1.2.4.80) and HTJ2K
 * (OpenJPH, PS3.5 §8.2.4, 1.2.840.10008.1.2.4.201), both WebAssembly. Every frame is encoded,
 * decoded again and compared byte for byte with the input: only an exact match is returned.
 *
 * How the WebAssembly is loaded: `@cornerstonejs/codec-charls`'s main module (dist/charlsjs.js)
 * carries its .wasm inline as a base64 data URI, so it needs no file and no fetch, also inside a
 * `deno compile` executable. `@cornerstonejs/codec-openjph` reads dist/openjphjs.wasm beside its
 * module through node:fs; a compiled executable carries that file in its embedded npm folder.
 * @module
 */
import charlsFactory from "@cornerstonejs/codec-charls";
import openjphFactory from "@cornerstonejs/codec-openjph";

/** The lossless syntaxes this gateway writes. */
export type CompressionSyntax = "jpeg-ls" | "htj2k";

/** PS3.5 §10 / PS3.6 Annex A. */
export const COMPRESSED_TRANSFER_SYNTAX: Record<CompressionSyntax, string> = {
  /** JPEG-LS Lossless Image Compression. */
  "jpeg-ls": "1.2.840.10008.1.2.4.80",
  /** High-Throughput JPEG 2000 Image Compression (Lossless Only). */
  "htj2k": "1.2.840.10008.1.2.4.201",
};

/** The layout of one native frame as handed to the codec: samples pixel-interleaved, little endian. */
export interface FrameFormat {
  rows: number;
  columns: number;
  /** 1 or 3. */
  samplesPerPixel: number;
  /** 8 or 16. */
  bitsAllocated: number;
  /** ≤ bitsAllocated; the bits above are zero (checked before encoding). */
  bitsStored: number;
  /** Pixel Representation 1. */
  signed: boolean;
}

/** A frame encoded and checked, or why it was not. */
export type FrameResult = { ok: true; encoded: Uint8Array } | { ok: false; reason: string };

// deno-lint-ignore no-explicit-any
type Module = any;
let charls: Promise<Module> | undefined;
let openjph: Promise<Module> | undefined;

function loadCharls(): Promise<Module> {
  // deno-lint-ignore no-explicit-any
  charls ??= (charlsFactory as any)();
  return charls!;
}

function loadOpenjph(): Promise<Module> {
  // deno-lint-ignore no-explicit-any
  openjph ??= (openjphFactory as any)();
  return openjph!;
}

/**
 * The sample precision given to the codec: Bits Stored, but at least 9 for 16-bit containers
 * (both codecs size their sample buffer from the precision: ≤ 8 means one byte a sample) and at
 * least 2 (JPEG-LS, ISO 14495-1 §C.2.2: P ≥ 2). A larger precision than the values need is still
 * lossless.
 */
export function codecPrecision(format: FrameFormat): number {
  if (format.bitsAllocated === 16) return Math.max(9, format.bitsStored);
  return Math.max(2, format.bitsStored);
}

/** A reason the syntax cannot carry this format, or null. */
export function refusal(syntax: CompressionSyntax, format: FrameFormat): string | null {
  if (syntax === "htj2k" && format.samplesPerPixel === 3 && format.bitsAllocated > 8) {
    // GUIDE.md: OpenJPH 2.4.11's encoder writes every component equal to the first above 8 bits.
    return "htj2k: the OpenJPH encoder does not carry colour above 8 bits losslessly";
  }
  return null;
}

/** The bytes of a typed array the codec returned (CharLS gives Uint8ClampedArray), copied out of WASM memory. */
function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength).slice();
}

/** Index of the first differing byte, or -1 when equal. */
function equalBytes(decoded: ArrayBufferView, b: Uint8Array): number {
  const a = new Uint8Array(decoded.buffer, decoded.byteOffset, decoded.byteLength);
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

async function jpegLs(frame: Uint8Array, format: FrameFormat): Promise<FrameResult> {
  const m = await loadCharls();
  const encoder = new m.JpegLSEncoder();
  let encoded: Uint8Array;
  try {
    encoder.getDecodedBuffer({
      width: format.columns,
      height: format.rows,
      bitsPerSample: codecPrecision(format),
      componentCount: format.samplesPerPixel,
    }).set(frame);
    // Interleave mode 2 (sample): PS3.5 §8.2.3 with Planar Configuration 0; NEAR = 0 is lossless.
    if (format.samplesPerPixel === 3) encoder.setInterleaveMode(2);
    encoder.setNearLossless(0);
    encoder.encode();
    encoded = bytesOf(encoder.getEncodedBuffer());
  } finally {
    encoder.delete();
  }
  const decoder = new m.JpegLSDecoder();
  try {
    decoder.getEncodedBuffer(encoded.length).set(encoded);
    decoder.decode();
    const at = equalBytes(decoder.getDecodedBuffer(), frame);
    if (at >= 0) {
      return { ok: false, reason: `jpeg-ls: decoded frame differs from the original at byte ${at}` };
    }
  } finally {
    decoder.delete();
  }
  return { ok: true, encoded };
}

async function htj2k(frame: Uint8Array, format: FrameFormat): Promise<FrameResult> {
  const m = await loadOpenjph();
  const encoder = new m.HTJ2KEncoder();
  let encoded: Uint8Array;
  try {
    encoder.getDecodedBuffer({
      width: format.columns,
      height: format.rows,
      bitsPerSample: codecPrecision(format),
      componentCount: format.samplesPerPixel,
      // Signed only when the sign bit is the container's top bit (otherwise the bits above Bits
      // Stored are zero and the stored bit pattern is carried as is).
      isSigned: format.signed && format.bitsStored === format.bitsAllocated,
      isUsingColorTransform: false,
    }).set(frame);
    encoder.encode();
    encoded = bytesOf(encoder.getEncodedBuffer());
  } finally {
    encoder.delete();
  }
  const decoder = new m.HTJ2KDecoder();
  try {
    decoder.getEncodedBuffer(encoded.length).set(encoded);
    decoder.decode();
    const at = equalBytes(decoder.getDecodedBuffer(), frame);
    if (at >= 0) return { ok: false, reason: `htj2k: decoded frame differs from the original at byte ${at}` };
  } finally {
    decoder.delete();
  }
  return { ok: true, encoded };
}

/** Options of {@link encodeFrame}. */
export interface EncodeFrameOptions {
  /** Refuse formats a codec is known to corrupt ({@link refusal}) before trying. Default true. */
  refuseKnownFaults?: boolean;
}

/**
 * Encodes one frame losslessly and checks it: decoded again, it must equal `frame` byte for
 * byte. A codec exception is a failed frame too.
 */
export async function encodeFrame(
  syntax: CompressionSyntax,
  frame: Uint8Array,
  format: FrameFormat,
  options: EncodeFrameOptions = {},
): Promise<FrameResult> {
  const refused = options.refuseKnownFaults === false ? null : refusal(syntax, format);
  if (refused !== null) return { ok: false, reason: refused };
  try {
    return syntax === "jpeg-ls" ? await jpegLs(frame, format) : await htj2k(frame, format);
  } catch (error) {
    return { ok: false, reason: `${syntax}: ${error instanceof Error ? error.message : String(error)}` };
  }
}
