/**
 * The indexed attributes of an instance, read by the streaming scanner (`dicom/dataset_scanner.ts`)
 * as the data set arrives ({@link DatasetReader}) or from a Part 10 file's head
 * ({@link readDatasetAttributes}, start-up reconciliation), and the decoding of the kept values.
 *
 * Identity (SOP Instance, Study, Series UIDs) is the received bytes with only the padding PS3.5
 * allows removed (trailing NUL or space, §9.1 and §6.2): never cleaned, whatever the characters.
 * A kept element written as UN (PS3.5 §6.2.2: archives that do not know a tag write it so) is
 * decoded by the dictionary VR of its tag, which for every kept tag is a character string whose
 * bytes are the same in any byte order.
 * @module
 */
import { datasetEncoding } from "../dicom/uids.ts";
import { DatasetScanner, type KeptValue } from "../dicom/dataset_scanner.ts";
import { DeflatedDatasetScanner } from "../dicom/deflated_scanner.ts";
import {
  type DatasetAttributes,
  DatasetError,
  decodeMetaHead,
  type FileMetaInformation,
  NeedMoreBytes,
} from "./part10.ts";

/** Limits of the streaming read of a data set. */
export interface DatasetLimits {
  /** Sequences nested deeper than this are refused. Default 64. */
  maxSequenceDepth?: number;
  /** A deflated data set may inflate to at most this many bytes. Default 4 GiB. */
  maxInflatedBytes?: number;
}

/** (0008,0005) Specific Character Set and the tags of {@link DatasetAttributes}. */
const Tag = {
  SpecificCharacterSet: 0x00080005,
  SopClassUid: 0x00080016,
  SopInstanceUid: 0x00080018,
  StudyDate: 0x00080020,
  StudyTime: 0x00080030,
  AccessionNumber: 0x00080050,
  Modality: 0x00080060,
  StudyDescription: 0x00081030,
  SeriesDescription: 0x0008103E,
  PatientName: 0x00100010,
  PatientId: 0x00100020,
  StudyInstanceUid: 0x0020000D,
  SeriesInstanceUid: 0x0020000E,
  SeriesNumber: 0x00200011,
  InstanceNumber: 0x00200013,
  /** (0032,000C) Study Priority ID (CS, retired but still written: HIGH, ROUTINE, …). */
  StudyPriorityId: 0x0032000C,
  /** (0040,1003) Requested Procedure Priority (SH: STAT, HIGH, ROUTINE, MEDIUM, LOW). */
  RequestedProcedurePriority: 0x00401003,
} as const;

/** The top-level elements the scanner keeps (every other value is skipped unread). */
export const KEPT_TAGS: ReadonlySet<number> = new Set(Object.values(Tag));

/**
 * Streams one data set through the scanner as it arrives: checks its structure and keeps the
 * attributes; a deflated one is inflated as a stream on the way. Synchronous. Throws
 * {@link DatasetError} at the first fault.
 */
export class DatasetReader {
  readonly #plain: DatasetScanner | null;
  readonly #deflated: DeflatedDatasetScanner | null;

  constructor(transferSyntaxUid: string, limits: DatasetLimits & { stopAfterKept?: boolean } = {}) {
    const encoding = datasetEncoding(transferSyntaxUid);
    const options = {
      keep: KEPT_TAGS,
      stopAfterKept: limits.stopAfterKept ?? false,
      ...(limits.maxSequenceDepth === undefined ? {} : { maxSequenceDepth: limits.maxSequenceDepth }),
    };
    if (encoding.deflated) {
      this.#plain = null;
      this.#deflated = new DeflatedDatasetScanner({
        ...options,
        ...(limits.maxInflatedBytes === undefined ? {} : { maxInflatedBytes: limits.maxInflatedBytes }),
      });
    } else {
      this.#plain = new DatasetScanner({ ...options, encoding });
      this.#deflated = null;
    }
  }

  /** The next bytes of the data set (not kept: the caller may reuse them). */
  push(bytes: Uint8Array): void {
    if (this.#plain) this.#plain.push(bytes);
    else this.#deflated!.push(bytes);
  }

  /** The data set has ended: everything opened must be closed. */
  end(): void {
    if (this.#plain) this.#plain.end();
    else this.#deflated!.end();
  }

  /** Stops reading (a deflated stream's inflater is released). */
  close(): void {
    this.#deflated?.close();
  }

  /** The kept values are final (a top-level element past them was seen, or the end). */
  get pastKept(): boolean {
    return (this.#plain ?? this.#deflated!).pastKept;
  }

  /** The most bytes the reader held at once (scanner state, kept values, inflated piece). */
  get maxBufferedBytes(): number {
    return (this.#plain ?? this.#deflated!).maxBufferedBytes;
  }

  /** The indexed attributes; `meta` gives the SOP Class UID when the data set has none. */
  attributes(meta: Pick<FileMetaInformation, "mediaStorageSopClassUid">): DatasetAttributes {
    return attributesOf((this.#plain ?? this.#deflated!).values, meta.mediaStorageSopClassUid);
  }
}

/** Tuning and test hooks for {@link readDatasetAttributes}. */
export interface ReadAttributesOptions {
  /** Bytes read first; each further read doubles what was read. Default 256 KiB. */
  initialReadBytes?: number;
  /** Called with the number of bytes read from the file each time it is read. */
  onRead?: (bytes: number) => void;
}

const DEFAULT_INITIAL_READ = 256 * 1024;

/**
 * Reads the indexed attributes from a Part 10 file, reading only its head: the file is read
 * (`initialReadBytes` first, then doubling) through the streaming scanner until it has passed
 * every kept element, so pixel data is never read, in every transfer syntax (a deflated data set
 * is inflated only as far as that). Throws {@link DatasetError} for a file that is not Part 10,
 * a malformed head, or a missing SOP Instance, Study or Series UID.
 */
export async function readDatasetAttributes(
  path: string,
  options: ReadAttributesOptions = {},
): Promise<DatasetAttributes> {
  let readSize = Math.max(256, options.initialReadBytes ?? DEFAULT_INITIAL_READ);
  using file = await Deno.open(path, { read: true });
  const size = (await file.stat()).size;
  let total = 0;
  const readChunk = async (length: number): Promise<Uint8Array> => {
    const buffer = new Uint8Array(Math.min(length, size - total));
    let filled = 0;
    while (filled < buffer.length) {
      const n = await file.read(buffer.subarray(filled));
      if (n === null) break;
      filled += n;
    }
    total += filled;
    options.onRead?.(filled);
    return buffer.subarray(0, filled);
  };

  // The meta group is normally a few hundred bytes; read on until it is whole.
  let head = await readChunk(readSize);
  let decoded: { meta: FileMetaInformation; datasetOffset: number };
  for (;;) {
    try {
      decoded = decodeMetaHead(head, total === size);
      break;
    } catch (error) {
      if (!(error instanceof NeedMoreBytes)) throw error;
      if (total === size) {
        throw new DatasetError(`Cannot decode file meta information: file is truncated (${size} bytes)`);
      }
      const more = await readChunk(Math.max(error.needed - total, total));
      const grown = new Uint8Array(head.length + more.length);
      grown.set(head);
      grown.set(more, head.length);
      head = grown;
    }
  }
  const { meta, datasetOffset } = decoded;
  const reader = new DatasetReader(meta.transferSyntaxUid, { stopAfterKept: true });
  try {
    let chunk = head.subarray(datasetOffset);
    for (;;) {
      reader.push(chunk);
      if (reader.pastKept) break;
      if (total === size) {
        reader.end();
        break;
      }
      readSize = total;
      chunk = await readChunk(readSize);
    }
    return reader.attributes(meta);
  } finally {
    reader.close();
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

const latin1 = new TextDecoder("latin1");

/** The attributes from the kept values; throws {@link DatasetError} for missing or overlong UIDs. */
export function attributesOf(
  values: ReadonlyMap<number, KeptValue>,
  fallbackSopClassUid: string,
): DatasetAttributes {
  const decoder = characterSetDecoder(values.get(Tag.SpecificCharacterSet));
  const uid = (tag: number, name: string): string => {
    const value = values.get(tag);
    if (value === undefined) return "";
    if (value.cut) {
      throw new DatasetError(
        `Cannot index data set: ${name} ${tagName(tag)} is ${value.length} bytes long`,
        { comment: `${name} is ${value.length} bytes long` },
      );
    }
    // PS3.5 §9.1: padded to even length with a trailing NUL; some writers pad with a space.
    return latin1.decode(value.bytes).replace(/[\0 ]+$/, "");
  };
  const string = (tag: number) => {
    const value = values.get(tag);
    return value === undefined ? "" : firstValue(decoder.decode(value.bytes));
  };
  const number = (tag: number): number | null => {
    const text = string(tag);
    if (text === "") return null;
    const n = Number.parseInt(text, 10);
    return Number.isFinite(n) ? n : null;
  };
  const attributes: DatasetAttributes = {
    sopClassUid: uid(Tag.SopClassUid, "SOP Class UID") || fallbackSopClassUid,
    sopInstanceUid: uid(Tag.SopInstanceUid, "SOP Instance UID"),
    studyInstanceUid: uid(Tag.StudyInstanceUid, "Study Instance UID"),
    seriesInstanceUid: uid(Tag.SeriesInstanceUid, "Series Instance UID"),
    patientId: string(Tag.PatientId),
    patientName: personName(string(Tag.PatientName)),
    modality: string(Tag.Modality),
    studyDate: string(Tag.StudyDate),
    studyTime: string(Tag.StudyTime),
    studyDescription: string(Tag.StudyDescription),
    seriesDescription: string(Tag.SeriesDescription),
    accessionNumber: string(Tag.AccessionNumber),
    seriesNumber: number(Tag.SeriesNumber),
    instanceNumber: number(Tag.InstanceNumber),
    priority: (string(Tag.RequestedProcedurePriority) || string(Tag.StudyPriorityId)).trim().toUpperCase(),
  };
  const missing = [
    ["SOP Instance UID (0008,0018)", attributes.sopInstanceUid],
    ["Study Instance UID (0020,000D)", attributes.studyInstanceUid],
    ["Series Instance UID (0020,000E)", attributes.seriesInstanceUid],
  ].filter(([, value]) => value === "").map(([name]) => name!);
  if (missing.length > 0) {
    throw new DatasetError(`Cannot index data set: no ${missing.join(", ")}`, {
      comment: `No ${missing.map((m) => m.replace(/ \(.*\)$/, "")).join(", ")}`,
    });
  }
  return attributes;
}

function tagName(tag: number): string {
  const hex4 = (n: number) => n.toString(16).toUpperCase().padStart(4, "0");
  return `(${hex4(tag >>> 16)},${hex4(tag & 0xFFFF)})`;
}

/** The first value of a string (PS3.5 §6.4: values are separated by backslashes), trimmed. */
function firstValue(text: string): string {
  const backslash = text.indexOf("\\");
  return (backslash < 0 ? text : text.slice(0, backslash)).replace(/\0+$/, "").trim();
}

/** `A=I=P` without trailing empty component groups (PS3.5 §6.2.1). */
function personName(text: string): string {
  return text.replace(/=+$/, "").trim();
}

/**
 * PS3.3 C.12.1.1.2 Defined Terms of (0008,0005) and the WHATWG encodings that decode them. The
 * ISO 2022 terms with code extensions: Japanese (IR 87, IR 159) uses the 7-bit escape sequences
 * the "iso-2022-jp" decoder follows; Korean (IR 149) and Chinese (IR 58) put their double bytes in
 * G1 with the high bit set, which "euc-kr" and "gbk" decode once the escape sequences are gone.
 */
const CHARACTER_SETS: ReadonlyMap<string, string> = new Map([
  ["ISO_IR 6", "latin1"],
  ["ISO_IR 100", "latin1"],
  ["ISO_IR 101", "iso-8859-2"],
  ["ISO_IR 109", "iso-8859-3"],
  ["ISO_IR 110", "iso-8859-4"],
  ["ISO_IR 144", "iso-8859-5"],
  ["ISO_IR 127", "iso-8859-6"],
  ["ISO_IR 126", "iso-8859-7"],
  ["ISO_IR 138", "iso-8859-8"],
  ["ISO_IR 148", "iso-8859-9"],
  ["ISO_IR 203", "iso-8859-15"],
  ["ISO_IR 13", "shift_jis"],
  ["ISO_IR 166", "windows-874"],
  ["ISO_IR 192", "utf-8"],
  ["GB18030", "gb18030"],
  ["GBK", "gbk"],
  ["ISO 2022 IR 6", "latin1"],
  ["ISO 2022 IR 100", "latin1"],
  ["ISO 2022 IR 101", "iso-8859-2"],
  ["ISO 2022 IR 109", "iso-8859-3"],
  ["ISO 2022 IR 110", "iso-8859-4"],
  ["ISO 2022 IR 144", "iso-8859-5"],
  ["ISO 2022 IR 127", "iso-8859-6"],
  ["ISO 2022 IR 126", "iso-8859-7"],
  ["ISO 2022 IR 138", "iso-8859-8"],
  ["ISO 2022 IR 148", "iso-8859-9"],
  ["ISO 2022 IR 203", "iso-8859-15"],
  ["ISO 2022 IR 13", "shift_jis"],
  ["ISO 2022 IR 166", "windows-874"],
  ["ISO 2022 IR 87", "iso-2022-jp"],
  ["ISO 2022 IR 159", "iso-2022-jp"],
  ["ISO 2022 IR 149", "euc-kr"],
  ["ISO 2022 IR 58", "gbk"],
]);

/** ISO 2022 escape sequences (ESC, intermediate bytes 0x20–0x2F, final byte). */
// deno-lint-ignore no-control-regex -- ESC (0x1B) starts every ISO 2022 escape sequence.
const ESCAPE_SEQUENCE = /\x1b[\x20-\x2f]+[\x30-\x7e]/g;

/** A decoder for the data set's character set; the default repertoire (or an unknown term) is latin1. */
function characterSetDecoder(value: KeptValue | undefined): { decode(bytes: Uint8Array): string } {
  const terms = value === undefined ? [] : latin1.decode(value.bytes).split("\\").map((t) => t.trim());
  const labels = terms.map((t) => CHARACTER_SETS.get(t)).filter((l) => l !== undefined);
  if (labels.includes("iso-2022-jp")) return new TextDecoder("iso-2022-jp");
  const label = labels.find((l) => l !== "latin1") ?? "latin1";
  const decoder = new TextDecoder(label);
  if (terms.length <= 1 || label === "utf-8" || label === "gb18030") return decoder;
  // Code extensions: drop the escape sequences, decode the rest with the one non-ASCII set.
  return {
    decode: (bytes) => decoder.decode(bytes).replace(ESCAPE_SEQUENCE, ""),
  };
}
