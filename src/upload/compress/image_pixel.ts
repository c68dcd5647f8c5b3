/**
 * The Image Pixel Module (PS3.3 §C.7.6.3) attributes that decide whether native Pixel Data can
 * be carried by a lossless codec unchanged, and the preparation of one native frame for it.
 * @module
 */
import type { FrameFormat } from "./codec.ts";

/** The Image Pixel attributes read from the data set (undefined: absent). */
export interface ImagePixelAttributes {
  /** (0028,0002) */
  samplesPerPixel?: number | undefined;
  /** (0028,0004) */
  photometricInterpretation?: string | undefined;
  /** (0028,0006) */
  planarConfiguration?: number | undefined;
  /** (0028,0008), IS */
  numberOfFrames?: number | undefined;
  /** (0028,0010) */
  rows?: number | undefined;
  /** (0028,0011) */
  columns?: number | undefined;
  /** (0028,0100) */
  bitsAllocated?: number | undefined;
  /** (0028,0101) */
  bitsStored?: number | undefined;
  /** (0028,0102) */
  highBit?: number | undefined;
  /** (0028,0103) */
  pixelRepresentation?: number | undefined;
}

/** A native image the codecs can carry: its frame layout and how to prepare each frame. */
export interface NativeImage {
  format: FrameFormat;
  frames: number;
  /** Bytes of one frame as stored (PS3.5 §8.1.1: frames follow each other with no padding). */
  frameLength: number;
  /** Planar Configuration 1: the frame is reordered to pixel-interleaved (and 0 written). */
  planar: boolean;
}

const MONOCHROME = new Set(["MONOCHROME1", "MONOCHROME2", "PALETTE COLOR"]);
const COLOUR = new Set(["RGB", "YBR_FULL"]);

/** The native image of these attributes, or why the codecs cannot carry it. */
export function nativeImage(a: ImagePixelAttributes): NativeImage | { reason: string } {
  const { rows, columns, bitsAllocated, bitsStored } = a;
  const spp = a.samplesPerPixel ?? 1;
  const photometric = a.photometricInterpretation ?? "";
  if (rows === undefined || columns === undefined || rows === 0 || columns === 0) {
    return { reason: "Rows or Columns missing or zero" };
  }
  if (bitsAllocated !== 8 && bitsAllocated !== 16) {
    return { reason: `Bits Allocated ${bitsAllocated ?? "missing"} (only 8 or 16 are compressed)` };
  }
  if (bitsStored === undefined || bitsStored < 1 || bitsStored > bitsAllocated) {
    return { reason: `Bits Stored ${bitsStored ?? "missing"} with Bits Allocated ${bitsAllocated}` };
  }
  if (a.highBit !== undefined && a.highBit !== bitsStored - 1) {
    return { reason: `High Bit ${a.highBit} is not Bits Stored − 1 (${bitsStored - 1})` };
  }
  if (spp === 1 ? !MONOCHROME.has(photometric) : spp === 3 ? !COLOUR.has(photometric) : true) {
    return { reason: `Photometric Interpretation "${photometric}" with ${spp} samples per pixel` };
  }
  const planar = spp === 3 && a.planarConfiguration === 1;
  if (spp === 3 && a.planarConfiguration !== undefined && a.planarConfiguration > 1) {
    return { reason: `Planar Configuration ${a.planarConfiguration}` };
  }
  const frames = a.numberOfFrames ?? 1;
  if (!Number.isInteger(frames) || frames < 1) return { reason: `Number of Frames ${a.numberOfFrames}` };
  return {
    format: {
      rows,
      columns,
      samplesPerPixel: spp,
      bitsAllocated,
      bitsStored,
      signed: a.pixelRepresentation === 1,
    },
    frames,
    frameLength: rows * columns * spp * (bitsAllocated / 8),
    planar,
  };
}

/**
 * Makes a stored frame (already little endian) ready for the codec, in place where it can:
 * Planar Configuration 1 (R plane, G plane, B plane) becomes pixel-interleaved. Returns the
 * frame to encode, or a reason when a bit above Bits Stored is set: PS3.5 §8.1.1 puts the
 * pixel cell's unused bits outside the value, so the codec (which carries Bits Stored bits)
 * would drop them and the result would not be the original bytes.
 */
export function prepareFrame(frame: Uint8Array, image: NativeImage): Uint8Array | { reason: string } {
  const { bitsAllocated, bitsStored } = image.format;
  if (bitsStored < bitsAllocated) {
    const mask = ~((1 << bitsStored) - 1) & ((1 << bitsAllocated) - 1);
    if (bitsAllocated === 16) {
      for (let i = 0; i + 1 < frame.length; i += 2) {
        if (((frame[i]! | (frame[i + 1]! << 8)) & mask) !== 0) {
          return { reason: `bits above Bits Stored (${bitsStored}) are set in pixel data (byte ${i})` };
        }
      }
    } else {
      for (let i = 0; i < frame.length; i++) {
        if ((frame[i]! & mask) !== 0) {
          return { reason: `bits above Bits Stored (${bitsStored}) are set in pixel data (byte ${i})` };
        }
      }
    }
  }
  if (!image.planar) return frame;
  const bytesPerSample = bitsAllocated / 8;
  const pixels = image.format.rows * image.format.columns;
  const out = new Uint8Array(frame.length);
  const plane = pixels * bytesPerSample;
  for (let p = 0; p < pixels; p++) {
    for (let s = 0; s < 3; s++) {
      const from = s * plane + p * bytesPerSample;
      const to = (p * 3 + s) * bytesPerSample;
      out[to] = frame[from]!;
      if (bytesPerSample === 2) out[to + 1] = frame[from + 1]!;
    }
  }
  return out;
}
