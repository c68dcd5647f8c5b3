/**
 * Lossless frame codecs: JPEG-LS (CharLS, PS3.5 §8.2.3, 1.2.840.10008.1.2.4.80) and HTJ2K
 * (OpenJPH, PS3.5 §8.2.4, 1.2.840.10008.1.2.4.201), both WebAssembly. Every frame is encoded,
 * decoded again and compared byte for byte with the input: only an exact match is returned.
 *
 * How the WebAssembly is loaded (never fetched from the network):
 * - CharLS: `@cornerstonejs/codec-charls/wasmjs` (dist/charlswasm.js) reads dist/charlswasm.wasm
 *   beside it through node:fs; measured twice as fast as the main build. If that file cannot be
 *   read (an executable without the npm folder's .wasm), the main build (dist/charlsjs.js) is
 *   used: it carries its .wasm inline as a base64 data URI and needs no file at all.
 * - OpenJPH: dist/openjphjs.js reads dist/openjphjs.wasm beside it through node:fs (no other
 *   build); a `deno compile` executable must carry the npm folder's files for HTJ2K to load.
 * @module
 */
import charlsInlineFactory from "@cornerstonejs/codec-charls";
import charlsFileFactory from "@cornerstonejs/codec-charls/wasmjs";
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

/** The first loader that succeeds, with the name of the one used; the last one's error otherwise. */
export async function firstLoaded<T>(
  loaders: readonly { name: string; load: () => Promise<T> }[],
): Promise<{ name: string; module: T }> {
  let last: unknown = new Error("no loader");
  for (const { name, load } of loaders) {
    try {
      return { name, module: await load() };
    } catch (error) {
      last = error;
    }
  }
  throw last;
}

/** Which CharLS build was loaded in this thread ("wasm file" or "inline"), once loaded. */
export let charlsBuild: string | undefined;

function loadCharls(): Promise<Module> {
  charls ??= firstLoaded([
    // deno-lint-ignore no-explicit-any
    { name: "wasm file", load: () => (charlsFileFactory as any)() as Promise<Module> },
    // deno-lint-ignore no-explicit-any
    { name: "inline", load: () => (charlsInlineFactory as any)() as Promise<Module> },
  ]).then(({ name, module }) => {
    charlsBuild = name;
    return module;
  });
  return charls;
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

/** Index of the first differing byte, or -1 when equal (compared 4 bytes at a time where aligned). */
function equalBytes(decoded: ArrayBufferView, b: Uint8Array): number {
  const a = new Uint8Array(decoded.buffer, decoded.byteOffset, decoded.byteLength);
  if (a.length !== b.length) return Math.min(a.length, b.length);
  let i = 0;
  if (a.byteOffset % 4 === 0 && b.byteOffset % 4 === 0) {
    const words = a.length >>> 2;
    const wa = new Uint32Array(a.buffer, a.byteOffset, words);
    const wb = new Uint32Array(b.buffer, b.byteOffset, words);
    while (i < words && wa[i] === wb[i]) i++;
    i *= 4;
  }
  for (; i < a.length; i++) if (a[i] !== b[i]) return i;
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
