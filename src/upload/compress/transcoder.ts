/**
 * Transcoding a stored Part 10 instance with native Pixel Data to a lossless encapsulated
 * transfer syntax (JPEG-LS or HTJ2K), frame by frame, with memory flat: the file (or its
 * inflated data set) is read in order, one frame at a time, and the checked codestreams are kept
 * in memory up to a limit and then in a temporary file.
 *
 * What changes (PS3.5 §8.2, §A.4): the Transfer Syntax UID in the File Meta Information, the
 * data set encoding (Explicit VR Little Endian), the Pixel Data (encapsulated, one fragment per
 * frame, Basic or Extended Offset Table) and Planar Configuration (0 when planar data were
 * interleaved for the codec). SOP Instance UID and Lossy Image Compression (0028,2110) stay:
 * the compression is lossless. Every other element is carried in the same order.
 * @module
 */
import {
  DatasetError,
  decodeFileMetaInformation,
  encodeFileMetaInformation,
  type FileMetaInformation,
} from "../../store/part10.ts";
import { readFileHead } from "../../store/dataset_attributes.ts";
import { datasetEncoding, transferSyntaxInfo } from "../../dicom/uids.ts";
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from "../../version.ts";
import { ByteReader, EndOfStream } from "./byte_reader.ts";
import {
  COMPRESSED_TRANSFER_SYNTAX,
  type CompressionSyntax,
  type FrameFormat,
  type FrameResult,
  refusal,
} from "./codec.ts";
import {
  type Encoding,
  explicitHeader,
  readElementHeader,
  swapBytes,
  tagText,
  transcodeElement,
  WalkError,
} from "./dataset_walk.ts";
import { encapsulationFrame, fragmentItem } from "./encapsulation.ts";
import { type ImagePixelAttributes, type NativeImage, nativeImage, prepareFrame } from "./image_pixel.ts";

/** Encodes and checks one frame (a worker pool, or {@link encodeFrame} in process). */
export type FrameEncoder = (
  syntax: CompressionSyntax,
  frame: Uint8Array,
  format: FrameFormat,
) => Promise<FrameResult>;

/** Counts of one transcoding. */
export interface CompressionStats {
  frames: number;
  /** Native Pixel Data bytes of the frames. */
  pixelBytes: number;
  /** Codestream bytes of the fragments (unpadded). */
  encodedBytes: number;
  /** Wall-clock time of the whole preparation. */
  elapsedMs: number;
}

/**
 * Why an instance goes as received, for counting: `not-native` (already compressed or another
 * transfer syntax), `no-pixel-data` (SR, ECG, RT plan …), `pixel-format` (float, 32-bit, a
 * photometric interpretation or layout the codecs do not carry, a codec refusal), `high-bits`
 * (bits set above Bits Stored), `mismatch` (a decoded frame differs, or the codec failed),
 * `unreadable` (not Part 10, a malformed data set).
 */
export type OriginalCause =
  | "not-native"
  | "no-pixel-data"
  | "pixel-format"
  | "high-bits"
  | "mismatch"
  | "unreadable";

/** The instance goes as stored, and why. */
export interface SendOriginal {
  kind: "original";
  /** For counting: which kind of reason. */
  cause: OriginalCause;
  reason: string;
}

/** The instance goes as this encapsulated Part 10 file. */
export interface SendCompressed {
  kind: "compressed";
  transferSyntaxUid: string;
  /** Exact length of what {@link stream} yields. */
  size: number;
  /** The Part 10 file: preamble, File Meta Information, data set. May be read more than once. */
  stream(): ReadableStream<Uint8Array>;
  stats: CompressionStats;
  /** Removes the temporary file holding the codestreams, if any. Idempotent. */
  close(): Promise<void>;
}

/** What to send. */
export type Prepared = SendOriginal | SendCompressed;

/** Options of {@link transcode}. */
export interface TranscodeOptions {
  syntax: CompressionSyntax;
  encoder: FrameEncoder;
  /** Frames encoding at once (more than the pool's workers keeps them all busy). Default 4. */
  inFlight?: number;
  /** Codestream bytes kept in memory before the rest goes to a temporary file. Default 8 MiB. */
  memoryLimit?: number;
  /** Folder of the temporary file. Default: the system's. */
  tempDir?: string;
}

/** Holds the checked codestreams in order: in memory, then in a temporary file. */
class FragmentStore {
  readonly lengths: number[] = [];
  #memory: Uint8Array[] = [];
  #memoryBytes = 0;
  #file: Deno.FsFile | undefined;
  path: string | undefined;

  constructor(private readonly limit: number, private readonly tempDir: string | undefined) {}

  async add(codestream: Uint8Array): Promise<void> {
    this.lengths.push(codestream.length);
    if (this.#file === undefined && this.#memoryBytes + codestream.length <= this.limit) {
      this.#memory.push(codestream);
      this.#memoryBytes += codestream.length;
      return;
    }
    if (this.#file === undefined) {
      this.path = await Deno.makeTempFile({ prefix: "dg-compress-", suffix: ".fragments", ...this.#dir() });
      this.#file = await Deno.open(this.path, { write: true, read: true });
    }
    let written = 0;
    while (written < codestream.length) written += await this.#file.write(codestream.subarray(written));
  }

  #dir(): { dir?: string } {
    return this.tempDir === undefined ? {} : { dir: this.tempDir };
  }

  /** Closes the writer; the store is read-only from here. */
  finish(): void {
    this.#file?.close();
    this.#file = undefined;
  }

  /** The codestreams in order. */
  async *read(): AsyncGenerator<Uint8Array> {
    yield* this.#memory;
    if (this.path === undefined) return;
    using file = await Deno.open(this.path, { read: true });
    for (const length of this.lengths.slice(this.#memory.length)) {
      const buffer = new Uint8Array(length);
      let filled = 0;
      while (filled < length) {
        const n = await file.read(buffer.subarray(filled));
        if (n === null) throw new Error(`temporary file ${this.path} is shorter than written`);
        filled += n;
      }
      yield buffer;
    }
  }

  async remove(): Promise<void> {
    this.finish();
    if (this.path !== undefined) await Deno.remove(this.path).catch(() => {});
    this.path = undefined;
  }
}

/** Why an instance goes as received, thrown inside the walk. */
class Original extends Error {
  constructor(readonly kind: OriginalCause, message: string) {
    super(message);
  }
}

function number(bytes: Uint8Array, vr: string): number | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (vr === "US" && bytes.length >= 2) return view.getUint16(0, true);
  if (vr === "SS" && bytes.length >= 2) return view.getInt16(0, true);
  if (vr === "IS" || vr === "DS") {
    const text = new TextDecoder("latin1").decode(bytes).replace(/\0/g, "").trim();
    return text === "" ? undefined : Number(text);
  }
  return undefined;
}

function text(bytes: Uint8Array): string {
  return new TextDecoder("latin1").decode(bytes).replace(/[\0 ]+$/, "").trim();
}

/** Records an Image Pixel attribute from its Explicit VR Little Endian value. */
function note(a: ImagePixelAttributes, element: number, vr: string, value: Uint8Array): void {
  switch (element) {
    case 0x0002:
      a.samplesPerPixel = number(value, vr);
      break;
    case 0x0004:
      a.photometricInterpretation = text(value);
      break;
    case 0x0006:
      a.planarConfiguration = number(value, vr);
      break;
    case 0x0008:
      a.numberOfFrames = number(value, vr);
      break;
    case 0x0010:
      a.rows = number(value, vr);
      break;
    case 0x0011:
      a.columns = number(value, vr);
      break;
    case 0x0100:
      a.bitsAllocated = number(value, vr);
      break;
    case 0x0101:
      a.bitsStored = number(value, vr);
      break;
    case 0x0102:
      a.highBit = number(value, vr);
      break;
    case 0x0103:
      a.pixelRepresentation = number(value, vr);
      break;
  }
}

async function readMeta(
  source: string | Uint8Array,
): Promise<{ meta: FileMetaInformation; datasetOffset: number }> {
  if (typeof source !== "string") return decodeFileMetaInformation(source);
  const path = source;
  let length = 64 * 1024;
  for (;;) {
    const head = await readFileHead(path, length);
    try {
      return decodeFileMetaInformation(head);
    } catch (error) {
      if (head.length < length || length >= 16 * 1024 * 1024) throw error;
      length *= 4;
    }
  }
}

/**
 * Decides whether the stored instance (a Part 10 file's path, or its bytes) is sent compressed,
 * and prepares it if so. Never throws for the content of the file: anything the transcoder does
 * not carry exactly gives `{ kind: "original", reason }`. Throws only when the file cannot be read.
 */
export async function transcode(source: string | Uint8Array, options: TranscodeOptions): Promise<Prepared> {
  const started = performance.now();
  let meta: FileMetaInformation;
  let datasetOffset: number;
  try {
    ({ meta, datasetOffset } = await readMeta(source));
  } catch (error) {
    if (error instanceof DatasetError) {
      return { kind: "original", cause: "unreadable", reason: `not a Part 10 file: ${error.message}` };
    }
    throw error;
  }
  const ts = meta.transferSyntaxUid;
  // Native Pixel Data: a transfer syntax the registry knows that does not encapsulate (PS3.5 §8.1).
  if (transferSyntaxInfo(ts)?.encapsulated !== false) {
    return {
      kind: "original",
      cause: "not-native",
      reason: `transfer syntax ${ts} is not native (already compressed or not supported)`,
    };
  }
  const { littleEndian, explicitVr, deflated } = datasetEncoding(ts);
  const encoding: Encoding = { littleEndian, explicitVr };
  const store = new FragmentStore(options.memoryLimit ?? 8 * 1024 * 1024, options.tempDir);
  let file: Deno.FsFile | undefined;
  let stream: ReadableStream<Uint8Array>;
  if (typeof source === "string") {
    file = await Deno.open(source, { read: true });
    await file.seek(datasetOffset, Deno.SeekMode.Start);
    stream = file.readable;
  } else {
    const rest = source.subarray(datasetOffset);
    stream = new ReadableStream({
      start(controller) {
        if (rest.length > 0) controller.enqueue(rest);
        controller.close();
      },
    });
  }
  if (deflated) {
    // PS3.5 §A.5: the data set is a raw deflate stream (RFC 1951) without zlib header.
    stream = stream.pipeThrough(
      new DecompressionStream("deflate-raw") as unknown as TransformStream<Uint8Array, Uint8Array>,
    );
  }
  const reader = new ByteReader(stream);
  try {
    const result = await walk(reader, encoding, options, store);
    store.finish();
    const output = assemble(meta, result, store, options.syntax);
    const stats: CompressionStats = {
      frames: store.lengths.length,
      pixelBytes: result.image.frameLength * result.image.frames,
      encodedBytes: store.lengths.reduce((a, b) => a + b, 0),
      elapsedMs: performance.now() - started,
    };
    return {
      kind: "compressed",
      transferSyntaxUid: COMPRESSED_TRANSFER_SYNTAX[options.syntax],
      size: output.size,
      stream: output.stream,
      stats,
      close: () => store.remove(),
    };
  } catch (error) {
    await store.remove();
    if (error instanceof Original) return { kind: "original", cause: error.kind, reason: error.message };
    if (error instanceof DatasetError) {
      return { kind: "original", cause: "unreadable", reason: `cannot rewrite: ${error.message}` };
    }
    if (error instanceof WalkError || error instanceof EndOfStream) {
      return { kind: "original", cause: "unreadable", reason: `data set not carried: ${error.message}` };
    }
    if (error instanceof TypeError && /deflate|decompress|corrupt/i.test(error.message)) {
      return {
        kind: "original",
        cause: "unreadable",
        reason: `deflated data set cannot be inflated: ${error.message}`,
      };
    }
    throw error;
  } finally {
    await reader.cancel();
    try {
      file?.close();
    } catch {
      // already closed by the stream
    }
  }
}

interface Walked {
  before: { element: number; group: number; pieces: Uint8Array[] }[];
  after: Uint8Array[];
  image: NativeImage;
}

async function walk(
  reader: ByteReader,
  encoding: Encoding,
  options: TranscodeOptions,
  store: FragmentStore,
): Promise<Walked> {
  const attributes: ImagePixelAttributes = {};
  const before: Walked["before"] = [];
  const after: Uint8Array[] = [];
  let image: NativeImage | undefined;
  while (!(await reader.atEnd())) {
    const signed = attributes.pixelRepresentation === 1;
    const header = await readElementHeader(reader, encoding, signed);
    const { group, element } = header;
    if (group === 0x7FE0 && (element === 0x0008 || element === 0x0009)) {
      throw new Original(
        "pixel-format",
        `${element === 8 ? "Float" : "Double Float"} Pixel Data ${tagText(group, element)}`,
      );
    }
    if (group === 0x7FE0 && element === 0x0010 && image === undefined) {
      if (header.length === 0xFFFFFFFF) {
        throw new Original("not-native", "Pixel Data is already encapsulated");
      }
      const native = nativeImage(attributes);
      if ("reason" in native) throw new Original("pixel-format", native.reason);
      const refused = refusal(options.syntax, native.format);
      if (refused !== null) throw new Original("pixel-format", refused);
      const needed = native.frameLength * native.frames;
      if (header.length < needed) {
        throw new Original(
          "unreadable",
          `Pixel Data has ${header.length} bytes, ${needed} needed for ${native.frames} frame(s)`,
        );
      }
      if (
        !encoding.littleEndian && native.format.bitsAllocated === 8 && header.vr === "OW" &&
        native.frameLength % 2 === 1
      ) {
        throw new Original("pixel-format", "big endian 8-bit OW Pixel Data with frames of odd length");
      }
      image = native;
      await encodeFrames(reader, encoding, header.vr, native, options, store);
      await reader.skip(header.length - needed);
      continue;
    }
    const pieces = await transcodeElement(reader, encoding, header, signed);
    if (image === undefined) {
      if (group === 0x0028 && pieces.length === 2) note(attributes, element, header.vr, pieces[1]!);
      before.push({ group, element, pieces });
    } else {
      after.push(...pieces);
    }
  }
  if (image === undefined) throw new Original("no-pixel-data", "no Pixel Data (7FE0,0010)");
  return { before, after, image };
}

async function encodeFrames(
  reader: ByteReader,
  encoding: Encoding,
  vr: string,
  image: NativeImage,
  options: TranscodeOptions,
  store: FragmentStore,
): Promise<void> {
  const limit = Math.max(1, options.inFlight ?? 4);
  const pending: Promise<FrameResult>[] = [];
  const settle = async () => {
    const result = await pending.shift()!;
    if (!result.ok) throw new Original("mismatch", result.reason);
    await store.add(result.encoded);
  };
  try {
    for (let i = 0; i < image.frames; i++) {
      const frame = (await reader.read(image.frameLength)).slice();
      // PS3.5 §7.3: big endian OW values are 16-bit words (8-bit samples in OW swap in pairs).
      if (!encoding.littleEndian && (image.format.bitsAllocated === 16 || vr === "OW")) swapBytes(frame, 2);
      const ready = prepareFrame(frame, image);
      if ("reason" in ready) throw new Original("high-bits", `frame ${i + 1}: ${ready.reason}`);
      pending.push(
        options.encoder(options.syntax, ready, image.format).then((r) =>
          r.ok ? r : { ok: false as const, reason: `frame ${i + 1}: ${r.reason}` }
        ),
      );
      if (pending.length >= limit) await settle();
    }
    while (pending.length > 0) await settle();
  } finally {
    // Frames still encoding when one failed: let them finish unobserved.
    for (const p of pending) p.catch(() => {});
  }
}

function assemble(
  meta: FileMetaInformation,
  walked: Walked,
  store: FragmentStore,
  syntax: CompressionSyntax,
): { size: number; stream: () => ReadableStream<Uint8Array> } {
  const head = encodeFileMetaInformation({
    ...meta,
    transferSyntaxUid: COMPRESSED_TRANSFER_SYNTAX[syntax],
    implementationClassUid: IMPLEMENTATION_CLASS_UID,
    implementationVersionName: IMPLEMENTATION_VERSION_NAME,
  });
  const before: Uint8Array[] = [];
  for (const e of walked.before) {
    if (walked.image.planar && e.group === 0x0028 && e.element === 0x0006) {
      // Planar Configuration 0: the codestream's samples are interleaved (PS3.5 §8.2.3, §8.2.4).
      const value = new Uint8Array(2);
      before.push(explicitHeader(0x0028, 0x0006, "US", 2), value);
    } else {
      before.push(...e.pieces);
    }
  }
  const frame = encapsulationFrame(store.lengths);
  const prefix = [head, ...before, frame.extendedOffsetTable, frame.pixelDataStart];
  const suffix = [frame.pixelDataEnd, ...walked.after];
  const size = [...prefix, ...suffix].reduce((n, b) => n + b.length, 0) +
    store.lengths.reduce((n, l) => n + 8 + l + (l % 2), 0);
  const stream = () => {
    let fragments: AsyncGenerator<Uint8Array> | undefined;
    let phase = 0;
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (phase === 0) {
          for (const b of prefix) if (b.length > 0) controller.enqueue(b);
          fragments = store.read();
          phase = 1;
          return;
        }
        if (phase === 1) {
          const next = await fragments!.next();
          if (!next.done) {
            for (const b of fragmentItem(next.value)) controller.enqueue(b);
            return;
          }
          phase = 2;
        }
        for (const b of suffix) if (b.length > 0) controller.enqueue(b);
        controller.close();
      },
      async cancel() {
        await fragments?.return(undefined);
      },
    });
  };
  return { size, stream };
}
