/**
 * The indexed attributes of a received instance, from its Part 10 file or from the head of its
 * data set kept in memory: reading a file's head, inflating a deflated data set's head (PS3.5
 * A.5), and the adapter that hands the wanted elements to dcmjs. The byte-level work (meta
 * header, head scan) is pure and lives in `part10.ts`.
 * @module
 */
import { Readable } from "node:stream";
import { createInflateRaw } from "node:zlib";
import dcmjs from "dcmjs";
import { logger } from "../log.ts";
import { messageOf } from "../errors.ts";
import { datasetEncoding, ExplicitVrLittleEndian } from "../dicom/uids.ts";
import {
  type DatasetAttributes,
  DatasetError,
  decodeMetaHead,
  encodeFileMetaInformation,
  type FileMetaInformation,
  NeedMoreBytes,
  wantedElements,
} from "./part10.ts";

const log = logger("store");

/** Tuning and test hooks for {@link readDatasetAttributes}. */
export interface ReadAttributesOptions {
  /** Bytes read first; doubled while the attributes run past them. Default 256 KiB. */
  initialReadBytes?: number;
  /** Called with the number of bytes read from the file each time it is read. */
  onRead?: (bytes: number) => void;
}

const DEFAULT_INITIAL_READ = 256 * 1024;

/**
 * Reads the indexed attributes from a Part 10 file, reading only its head: element headers are
 * scanned until the first element past group 0020 (so pixel data is never read), starting with
 * `initialReadBytes` and doubling up to the whole file if the attributes run past what was
 * read. Works for every transfer syntax: implicit/explicit little endian, explicit big endian,
 * deflated (inflating only the head) and encapsulated (compressed pixel data is never reached).
 * Values are parsed by dcmjs (character sets included). Throws {@link DatasetError} for a file
 * that is not Part 10, a malformed data set, or a missing SOP Instance, Study or Series UID.
 */
export async function readDatasetAttributes(
  path: string,
  options: ReadAttributesOptions = {},
): Promise<DatasetAttributes> {
  const initial = Math.max(256, options.initialReadBytes ?? DEFAULT_INITIAL_READ);
  const file = await Deno.open(path, { read: true });
  try {
    const size = (await file.stat()).size;
    const reader = new HeadReader(file, size, options.onRead);
    let head = await reader.readTo(Math.min(initial, size));
    // The meta group is normally a few hundred bytes; grow until it is whole.
    let decoded: { meta: FileMetaInformation; datasetOffset: number };
    for (;;) {
      try {
        decoded = decodeMetaHead(head, head.length === size);
        break;
      } catch (error) {
        if (!(error instanceof NeedMoreBytes)) throw error;
        if (head.length === size) {
          throw new DatasetError(`Cannot decode file meta information: file is truncated (${size} bytes)`);
        }
        head = await reader.readTo(Math.min(size, Math.max(error.needed, head.length * 2)));
      }
    }
    const { meta, datasetOffset } = decoded;
    const encoding = datasetEncoding(meta.transferSyntaxUid);
    const deflated = encoding.deflated;

    let dataset: Uint8Array;
    if (deflated) {
      // The compressed bytes already read are inflated first; the file is read on from there.
      dataset = await inflatedHead(path, head.subarray(datasetOffset), head.length, initial, options.onRead);
    } else {
      for (;;) {
        const complete = head.length === size;
        try {
          dataset = wantedElements(head, datasetOffset, encoding, complete, size);
          break;
        } catch (error) {
          if (!(error instanceof NeedMoreBytes) || complete) throw error;
          head = await reader.readTo(Math.min(size, Math.max(error.needed, head.length * 2)));
        }
      }
    }
    return parseAttributes(meta, dataset, deflated);
  } finally {
    file.close();
  }
}

/** Reads up to the first `length` bytes of a file (fewer if the file is shorter). */
export async function readFileHead(path: string, length: number): Promise<Uint8Array> {
  using file = await Deno.open(path, { read: true });
  const buffer = new Uint8Array(length);
  let filled = 0;
  while (filled < length) {
    const n = await file.read(buffer.subarray(filled));
    if (n === null) break;
    filled += n;
  }
  return buffer.subarray(0, filled);
}

/**
 * The indexed attributes from the first bytes of a data set held in memory: the receiver keeps
 * the head of each instance as it streams to disk, so it need not read the file back. `meta`
 * gives the transfer syntax (and the SOP Class UID if the data set lacks one); `totalLength` is
 * the whole data set's length (`head` is all of it when they are equal). Returns `undefined`
 * when the attributes run past `head` or the data set is deflated: read the file instead with
 * {@link readDatasetAttributes}. Throws {@link DatasetError} like it.
 */
export function datasetAttributesFromHead(
  meta: FileMetaInformation,
  head: Uint8Array,
  totalLength: number,
): DatasetAttributes | undefined {
  const encoding = datasetEncoding(meta.transferSyntaxUid);
  if (encoding.deflated) return undefined;
  let dataset: Uint8Array;
  try {
    dataset = wantedElements(head, 0, encoding, head.length >= totalLength, totalLength);
  } catch (error) {
    if (error instanceof NeedMoreBytes) return undefined;
    throw error;
  }
  return parseAttributes(meta, dataset, false);
}

/** Reads a growing prefix of a file into one buffer. */
class HeadReader {
  #buffer = new Uint8Array(0);
  #length = 0;
  constructor(
    private readonly file: Deno.FsFile,
    private readonly size: number,
    private readonly onRead: ((bytes: number) => void) | undefined,
  ) {}

  /** Returns the first `length` bytes, reading only the ones not read yet. */
  async readTo(length: number): Promise<Uint8Array<ArrayBuffer>> {
    length = Math.min(length, this.size);
    if (length > this.#buffer.length) {
      const grown = new Uint8Array(length);
      grown.set(this.#buffer.subarray(0, this.#length));
      this.#buffer = grown;
    }
    await this.file.seek(this.#length, Deno.SeekMode.Start);
    const start = this.#length;
    while (this.#length < length) {
      const n = await this.file.read(this.#buffer.subarray(this.#length, length));
      if (n === null) {
        throw new DatasetError(
          `Cannot read data set: the file ended at ${this.#length} of ${this.size} bytes`,
        );
      }
      this.#length += n;
    }
    this.onRead?.(this.#length - start);
    return this.#buffer.subarray(0, this.#length);
  }
}

/**
 * Inflates the head of a deflated data set (PS3.5 §A.5: the whole data set after the meta
 * group is one raw deflate stream, RFC 1951 without zlib header), pulling compressed chunks
 * only until the scan finds the end of the wanted attributes. node:zlib is used rather than
 * DecompressionStream because PS3.5 A.5 pads an odd-length deflated bit stream with one zero
 * byte, which node:zlib ignores after the end of the stream and DecompressionStream rejects.
 */
async function inflatedHead(
  path: string,
  alreadyRead: Uint8Array<ArrayBuffer>,
  readOnFrom: number,
  initial: number,
  onRead: ((bytes: number) => void) | undefined,
): Promise<Uint8Array> {
  const chunkSize = Math.min(64 * 1024, initial);
  // The compressed chunks come from a file handle of their own, closed by the generator itself
  // when the stream is destroyed (after any read in flight), never under a pending read.
  async function* compressed(): AsyncGenerator<Uint8Array> {
    if (alreadyRead.length > 0) yield alreadyRead;
    using file = await Deno.open(path, { read: true });
    await file.seek(readOnFrom, Deno.SeekMode.Start);
    for (;;) {
      const chunk = new Uint8Array(chunkSize);
      const n = await file.read(chunk);
      if (n === null) return;
      onRead?.(n);
      yield chunk.subarray(0, n);
    }
  }
  const source = Readable.from(compressed(), { objectMode: false, highWaterMark: 1 });
  const inflater = createInflateRaw({ chunkSize });
  source.on("error", (error) => inflater.destroy(error));
  source.pipe(inflater);
  const output = inflater[Symbol.asyncIterator]();
  let buffer = new Uint8Array(Math.max(initial, 1024));
  let length = 0;
  let target = initial;
  let complete = false;
  try {
    for (;;) {
      while (!complete && length < target) {
        let result: IteratorResult<Uint8Array>;
        try {
          result = await output.next();
        } catch (error) {
          throw new DatasetError(`Cannot inflate deflated data set: ${messageOf(error)}`, {
            cause: error,
          });
        }
        if (result.done) {
          complete = true;
          break;
        }
        const chunk = result.value;
        if (length + chunk.length > buffer.length) {
          const grown = new Uint8Array(Math.max(buffer.length * 2, length + chunk.length));
          grown.set(buffer.subarray(0, length));
          buffer = grown;
        }
        buffer.set(chunk, length);
        length += chunk.length;
      }
      const head = buffer.subarray(0, length);
      try {
        const explicitLe = { littleEndian: true, explicitVr: true };
        return wantedElements(head, 0, explicitLe, complete);
      } catch (error) {
        if (!(error instanceof NeedMoreBytes)) throw error;
        target = Math.max(error.needed, target * 2);
      }
    }
  } finally {
    source.destroy();
    inflater.destroy();
  }
}

type DcmjsElement = { vr?: string; Value?: unknown[] };

/** Hands a meta header + the gathered wanted elements to dcmjs and picks out the attributes. */
function parseAttributes(
  meta: FileMetaInformation,
  dataset: Uint8Array,
  deflated: boolean,
): DatasetAttributes {
  // dcmjs reads a whole Part 10 buffer; give it a fresh meta header (with the deflated syntax
  // replaced by the explicit VR little endian we already inflated to) and the wanted elements.
  // Only the transfer syntax matters to dcmjs here; the other meta values are placeholders.
  const header = encodeFileMetaInformation({
    mediaStorageSopClassUid: "1.2",
    mediaStorageSopInstanceUid: "1.2",
    transferSyntaxUid: deflated ? ExplicitVrLittleEndian : meta.transferSyntaxUid,
    implementationClassUid: "1.2",
    implementationVersionName: "",
  });
  const buffer = new Uint8Array(header.length + dataset.length);
  buffer.set(header);
  buffer.set(dataset, header.length);

  let dict: Record<string, DcmjsElement>;
  try {
    dict = readWithDcmjs(buffer.buffer, false);
  } catch (strictError) {
    // dcmjs refuses some character set declarations (e.g. several ISO 2022 code extensions)
    // that do not stop us indexing: read again leniently and accept it if the UIDs are there.
    try {
      dict = readWithDcmjs(buffer.buffer, true);
    } catch {
      dict = {};
    }
    if (stringOf(dict["00080018"]) === "") {
      throw new DatasetError(`Cannot read data set: ${messageOf(strictError)}`, {
        cause: strictError,
      });
    }
    log.warn("Data set read leniently after dcmjs refused it: {error}", { error: messageOf(strictError) });
  }

  const attributes: DatasetAttributes = {
    sopClassUid: uidOf(dict["00080016"]) || meta.mediaStorageSopClassUid,
    sopInstanceUid: uidOf(dict["00080018"]),
    studyInstanceUid: uidOf(dict["0020000D"]),
    seriesInstanceUid: uidOf(dict["0020000E"]),
    patientId: stringOf(dict["00100020"]),
    patientName: personNameOf(dict["00100010"]),
    modality: stringOf(dict["00080060"]),
    studyDate: stringOf(dict["00080020"]),
    studyTime: stringOf(dict["00080030"]),
    studyDescription: stringOf(dict["00081030"]),
    seriesDescription: stringOf(dict["0008103E"]),
    accessionNumber: stringOf(dict["00080050"]),
    seriesNumber: numberOf(dict["00200011"]),
    instanceNumber: numberOf(dict["00200013"]),
    priority: (stringOf(dict["00401003"]) || stringOf(dict["0032000C"])).trim().toUpperCase(),
  };
  const missing = [
    ["SOP Instance UID (0008,0018)", attributes.sopInstanceUid],
    ["Study Instance UID (0020,000D)", attributes.studyInstanceUid],
    ["Series Instance UID (0020,000E)", attributes.seriesInstanceUid],
  ].filter(([, value]) => value === "").map(([name]) => name);
  if (missing.length > 0) {
    throw new DatasetError(`Cannot index data set: no ${missing.join(", ")}`);
  }
  return attributes;
}

function readWithDcmjs(buffer: ArrayBuffer, ignoreErrors: boolean): Record<string, DcmjsElement> {
  // dcmjs reports through its own loglevel loggers straight to the console; silence them for
  // this synchronous call (no other code can run meanwhile) and report through ours instead.
  const loggers = [dcmjs.log, dcmjs.log.getLogger("validation.dcmjs")];
  const levels = loggers.map((dcmjsLogger) => dcmjsLogger.getLevel());
  for (const dcmjsLogger of loggers) dcmjsLogger.setLevel("silent", false);
  try {
    const message = dcmjs.data.DicomMessage.readFile(buffer, {
      ignoreErrors,
      untilTag: "7FE00010",
      includeUntilTagValue: false,
      noCopy: true,
      forceStoreRaw: false,
    });
    return message.dict as Record<string, DcmjsElement>;
  } finally {
    loggers.forEach((dcmjsLogger, i) => dcmjsLogger.setLevel(levels[i], false));
  }
}

function stringOf(element: DcmjsElement | undefined): string {
  const value = element?.Value?.[0];
  if (value === undefined || value === null) return "";
  if (typeof value === "object") return personNameOf(element);
  return String(value).trim();
}

function uidOf(element: DcmjsElement | undefined): string {
  return stringOf(element).replace(/\0+$/, "");
}

function numberOf(element: DcmjsElement | undefined): number | null {
  const value = element?.Value?.[0];
  if (value === undefined || value === null || value === "") return null;
  const n = typeof value === "number" ? value : Number.parseInt(String(value).trim(), 10);
  return Number.isFinite(n) ? n : null;
}

/** dcmjs gives PN values as `{ Alphabetic, Ideographic, Phonetic }`; back to `A=I=P` (PS3.5 §6.2.1). */
function personNameOf(element: DcmjsElement | undefined): string {
  const value = element?.Value?.[0];
  if (value === undefined || value === null) return "";
  if (typeof value !== "object") return String(value).trim();
  const pn = value as { Alphabetic?: string; Ideographic?: string; Phonetic?: string };
  const groups = [pn.Alphabetic ?? "", pn.Ideographic ?? "", pn.Phonetic ?? ""];
  while (groups.length > 1 && groups[groups.length - 1] === "") groups.pop();
  return groups.join("=").trim();
}
