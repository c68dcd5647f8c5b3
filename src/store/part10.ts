/**
 * DICOM Part 10 files (PS3.10 §7): the File Meta Information header we write in front of
 * every received data set, and reading the few attributes the gateway indexes from the head
 * of a stored file without loading it whole.
 *
 * File layout (PS3.10 §7.1):
 * ```
 * offset 0    File Preamble       128 bytes, zero here
 * offset 128  DICOM Prefix        "DICM"
 * offset 132  File Meta Elements  group 0002, always Explicit VR Little Endian
 * ...         Data Set            in the transfer syntax named by (0002,0010)
 * ```
 * @module
 */
import { Readable } from "node:stream";
import { createInflateRaw } from "node:zlib";
import dcmjs from "dcmjs";
import { logger } from "../log.ts";

const log = logger("store");

/** Transfer syntax UIDs this module treats specially (PS3.5 §10, Annex A). */
export const TransferSyntax = {
  ImplicitVrLittleEndian: "1.2.840.10008.1.2",
  ExplicitVrLittleEndian: "1.2.840.10008.1.2.1",
  DeflatedExplicitVrLittleEndian: "1.2.840.10008.1.2.1.99",
  ExplicitVrBigEndian: "1.2.840.10008.1.2.2",
  /** JPIP Referenced Deflate (PS3.5 A.6): the data set is deflated like 1.2.840.10008.1.2.1.99. */
  JpipReferencedDeflate: "1.2.840.10008.1.2.4.95",
} as const;

/** The File Meta Information elements we write and read (PS3.10 Table 7.1-1). */
export interface FileMetaInformation {
  /** (0002,0002) UI Media Storage SOP Class UID. */
  mediaStorageSopClassUid: string;
  /** (0002,0003) UI Media Storage SOP Instance UID. */
  mediaStorageSopInstanceUid: string;
  /** (0002,0010) UI Transfer Syntax UID of the data set that follows. */
  transferSyntaxUid: string;
  /** (0002,0012) UI Implementation Class UID of the writer. */
  implementationClassUid: string;
  /** (0002,0013) SH Implementation Version Name of the writer (≤ 16 characters). */
  implementationVersionName: string;
  /** (0002,0016) AE Source Application Entity Title: the AE that sent us the instance. */
  sourceApplicationEntityTitle?: string;
}

/** A file or data set that cannot be read, or values that cannot be written. */
export class DatasetError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DatasetError";
  }
}

const PREAMBLE_LENGTH = 128;
/** Offset of the first File Meta element: preamble + "DICM". */
const META_START = PREAMBLE_LENGTH + 4;
/** PS3.5 §7.1.2: explicit VRs whose header has 2 reserved bytes and a 32-bit length. */
const LONG_VRS = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]);
const UNDEFINED_LENGTH = 0xFFFFFFFF;

const latin1 = new TextDecoder("latin1");

function hex4(n: number): string {
  return n.toString(16).toUpperCase().padStart(4, "0");
}

function tagName(group: number, element: number): string {
  return `(${hex4(group)},${hex4(element)})`;
}

// ---------------------------------------------------------------------------------------------
// File Meta Information: encode
// ---------------------------------------------------------------------------------------------

/**
 * Encodes the 128-byte zero preamble, "DICM" and the File Meta Information group in Explicit
 * VR Little Endian (PS3.10 §7.1), starting with (0002,0000) File Meta Information Group Length
 * and (0002,0001) File Meta Information Version 00\01. Throws {@link DatasetError} for a UID
 * that is empty, over 64 characters, or has characters outside the default repertoire (space
 * and backslash included); the version name and source AE title are made safe instead
 * (non-repertoire characters → "?", cut to 16 characters).
 */
export function encodeFileMetaInformation(meta: FileMetaInformation): Uint8Array {
  const elements: Uint8Array[] = [
    // (0002,0001) OB File Meta Information Version: "a two byte field where ... the
    // least significant bit of the second byte [is] 1" → 00 01 (PS3.10 Table 7.1-1).
    explicitElement(0x0001, "OB", new Uint8Array([0x00, 0x01])),
    explicitElement(0x0002, "UI", uidValue(meta.mediaStorageSopClassUid, "Media Storage SOP Class UID")),
    explicitElement(
      0x0003,
      "UI",
      uidValue(meta.mediaStorageSopInstanceUid, "Media Storage SOP Instance UID"),
    ),
    explicitElement(0x0010, "UI", uidValue(meta.transferSyntaxUid, "Transfer Syntax UID")),
    explicitElement(0x0012, "UI", uidValue(meta.implementationClassUid, "Implementation Class UID")),
    explicitElement(0x0013, "SH", stringValue(meta.implementationVersionName, 16)),
  ];
  if (meta.sourceApplicationEntityTitle !== undefined && meta.sourceApplicationEntityTitle.trim() !== "") {
    elements.push(explicitElement(0x0016, "AE", stringValue(meta.sourceApplicationEntityTitle, 16)));
  }
  const groupLength = elements.reduce((sum, e) => sum + e.length, 0);
  const out = new Uint8Array(META_START + 12 + groupLength);
  // Preamble: 128 zero bytes (already zero), then the DICM prefix.
  out.set([0x44, 0x49, 0x43, 0x4D], PREAMBLE_LENGTH);
  // (0002,0000) UL File Meta Information Group Length: bytes after this element up to the
  // end of group 0002.
  const groupLengthValue = new Uint8Array(4);
  new DataView(groupLengthValue.buffer).setUint32(0, groupLength, true);
  out.set(explicitElement(0x0000, "UL", groupLengthValue), META_START);
  let offset = META_START + 12;
  for (const element of elements) {
    out.set(element, offset);
    offset += element.length;
  }
  return out;
}

/** One group 0002 element in Explicit VR Little Endian (PS3.5 §7.1.2). */
function explicitElement(element: number, vr: string, value: Uint8Array): Uint8Array {
  const long = LONG_VRS.has(vr);
  const header = long ? 12 : 8;
  const out = new Uint8Array(header + value.length);
  const view = new DataView(out.buffer);
  view.setUint16(0, 0x0002, true);
  view.setUint16(2, element, true);
  out[4] = vr.charCodeAt(0);
  out[5] = vr.charCodeAt(1);
  if (long) view.setUint32(8, value.length, true); // bytes 6–7 reserved, zero
  else view.setUint16(6, value.length, true);
  out.set(value, header);
  return out;
}

function uidValue(uid: string, what: string): Uint8Array {
  // PS3.5 §9.1: at most 64 characters; received UIDs that break the digit rules are still
  // written as received (the archive decides), but never anything that breaks the encoding.
  if (uid.length === 0 || uid.length > 64 || !/^[\x21-\x5B\x5D-\x7E]+$/.test(uid)) {
    throw new DatasetError(
      `Cannot encode file meta information: ${what} is not a valid UID: ${JSON.stringify(uid)}`,
    );
  }
  // PS3.5 §9.1: "padded with a single trailing NULL (00H) character" to even length.
  return padded(uid, 0x00);
}

function stringValue(text: string, max: number): Uint8Array {
  // These values are informative (who wrote the file, who sent it) and may come from the wire
  // (a calling AE title): made safe rather than refused. Default repertoire, no backslash (the
  // value delimiter), at most `max` characters (PS3.5 Table 6.2-1 for SH and AE: 16).
  const safe = text.replace(/[^\x20-\x5B\x5D-\x7E]/g, "?").trim().slice(0, max).trimEnd();
  // PS3.5 §6.2: SH and AE are padded with a trailing space to even length.
  return padded(safe, 0x20);
}

function padded(text: string, pad: number): Uint8Array {
  const out = new Uint8Array(text.length + (text.length % 2)).fill(pad);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

// ---------------------------------------------------------------------------------------------
// File Meta Information: decode
// ---------------------------------------------------------------------------------------------

/** Thrown internally when more bytes of the file are needed to decide. */
class NeedMoreBytes extends Error {
  constructor(readonly needed: number) {
    super(`need at least ${needed} bytes`);
  }
}

/**
 * Decodes the preamble, "DICM" prefix and File Meta Information of a Part 10 file (or the head
 * of one: bytes past the meta group are not looked at). Returns the values and the offset where
 * the data set starts. Accepts a header without (0002,0000) by reading group 0002 elements
 * until another group starts. Throws {@link DatasetError} naming the element and offset.
 */
export function decodeFileMetaInformation(
  bytes: Uint8Array,
): { meta: FileMetaInformation; datasetOffset: number } {
  try {
    return decodeMeta(bytes, true);
  } catch (error) {
    if (error instanceof NeedMoreBytes) {
      throw new DatasetError(
        `Cannot decode file meta information: file is truncated (${bytes.length} bytes, at least ${error.needed} needed)`,
      );
    }
    throw error;
  }
}

function decodeMeta(
  bytes: Uint8Array,
  complete: boolean,
): { meta: FileMetaInformation; datasetOffset: number } {
  const need = (n: number) => {
    if (bytes.length < n) throw new NeedMoreBytes(n);
  };
  need(META_START);
  // PS3.10 §7.1: "the four bytes of the DICOM Prefix shall contain the character string DICM".
  if (latin1.decode(bytes.subarray(PREAMBLE_LENGTH, META_START)) !== "DICM") {
    throw new DatasetError(
      `Cannot decode file meta information: no "DICM" prefix at offset ${PREAMBLE_LENGTH} (not a DICOM Part 10 file)`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const values = new Map<number, Uint8Array>();
  let offset = META_START;
  let end = Number.POSITIVE_INFINITY;
  while (offset < end) {
    need(offset + 8);
    const group = view.getUint16(offset, true);
    const element = view.getUint16(offset + 2, true);
    if (group !== 0x0002) {
      if (end !== Number.POSITIVE_INFINITY) {
        throw new DatasetError(
          `Cannot decode file meta information: element ${tagName(group, element)} at offset ${offset} ` +
            `is inside the meta group length but not in group 0002`,
        );
      }
      break; // no group length: group 0002 ends where another group starts
    }
    // PS3.10 §7.1: the meta group is always Explicit VR Little Endian.
    const vr = latin1.decode(bytes.subarray(offset + 4, offset + 6));
    if (!/^[A-Z]{2}$/.test(vr)) {
      throw new DatasetError(
        `Cannot decode file meta information: element ${tagName(group, element)} at offset ${offset} ` +
          `has no explicit VR (bytes ${JSON.stringify(vr)})`,
      );
    }
    let length: number;
    let header: number;
    if (LONG_VRS.has(vr)) {
      need(offset + 12);
      length = view.getUint32(offset + 8, true);
      header = 12;
    } else {
      length = view.getUint16(offset + 6, true);
      header = 8;
    }
    if (length === UNDEFINED_LENGTH) {
      throw new DatasetError(
        `Cannot decode file meta information: element ${
          tagName(group, element)
        } at offset ${offset} has undefined length`,
      );
    }
    const valueEnd = offset + header + length;
    if (valueEnd > end) {
      throw new DatasetError(
        `Cannot decode file meta information: element ${tagName(group, element)} at offset ${offset} ` +
          `declares length ${length} but only ${end - offset - header} bytes of the meta group remain`,
      );
    }
    if (valueEnd > bytes.length && complete) {
      throw new DatasetError(
        `Cannot decode file meta information: element ${tagName(group, element)} at offset ${offset} ` +
          `declares length ${length} but only ${bytes.length - offset - header} bytes remain`,
      );
    }
    need(valueEnd);
    const value = bytes.subarray(offset + header, valueEnd);
    if (element === 0x0000 && offset === META_START) {
      // (0002,0000) UL File Meta Information Group Length.
      if (vr !== "UL" || length !== 4) {
        throw new DatasetError(
          `Cannot decode file meta information: (0002,0000) at offset ${offset} must be UL of length 4, not ${vr} of length ${length}`,
        );
      }
      end = valueEnd + view.getUint32(offset + header, true);
    } else {
      values.set(element, value);
    }
    offset = valueEnd;
  }
  const text = (element: number) => {
    const value = values.get(element);
    return value === undefined ? undefined : latin1.decode(value).replace(/[\0 ]+$/, "").trim();
  };
  const required = (element: number, name: string) => {
    const value = text(element);
    if (value === undefined || value === "") {
      throw new DatasetError(
        `Cannot decode file meta information: ${name} (0002,${hex4(element)}) is missing`,
      );
    }
    return value;
  };
  const meta: FileMetaInformation = {
    mediaStorageSopClassUid: required(0x0002, "Media Storage SOP Class UID"),
    mediaStorageSopInstanceUid: required(0x0003, "Media Storage SOP Instance UID"),
    transferSyntaxUid: required(0x0010, "Transfer Syntax UID"),
    implementationClassUid: text(0x0012) ?? "",
    implementationVersionName: text(0x0013) ?? "",
  };
  const source = text(0x0016);
  if (source !== undefined && source !== "") meta.sourceApplicationEntityTitle = source;
  return { meta, datasetOffset: offset };
}

// ---------------------------------------------------------------------------------------------
// Data set head: how many bytes hold the attributes we want
// ---------------------------------------------------------------------------------------------

interface Encoding {
  littleEndian: boolean;
  explicitVr: boolean;
}

/** Implicit VR Little Endian: the encoding of UN values of undefined length (PS3.5 §6.2.2). */
const IMPLICIT_LE: Encoding = { littleEndian: true, explicitVr: false };

/**
 * Every attribute in {@link DatasetAttributes} lives in groups 0008–0020, so the top-level
 * scan stops before the first element past (0020,FFFF): pixel data (7FE0,xxxx), overlays,
 * curves and big private blocks (e.g. Siemens CSA headers in group 0029) are never read.
 */
const LAST_WANTED_TAG = 0x0020FFFF;
/**
 * The top-level elements handed to dcmjs: (0008,0005) Specific Character Set and the attributes
 * of {@link DatasetAttributes}. Everything else (sequences, private blocks, UN of undefined
 * length, which dcmjs 0.52 cannot read) is skipped by the scan and never parsed.
 */
const WANTED_TAGS: ReadonlySet<number> = new Set([
  0x00080005,
  0x00080016,
  0x00080018,
  0x00080020,
  0x00080030,
  0x00080050,
  0x00080060,
  0x00081030,
  0x0008103E,
  0x00100010,
  0x00100020,
  0x0020000D,
  0x0020000E,
  0x00200011,
  0x00200013,
]);
/** Nesting deeper than this is refused (a hostile file could otherwise exhaust the stack). */
const MAX_DEPTH = 64;

/**
 * Scans element headers of a data set (never values) from `start` up to the first top-level
 * element past {@link LAST_WANTED_TAG} or the end of the data set, and returns the byte ranges
 * of the top-level {@link WANTED_TAGS} elements. Throws {@link NeedMoreBytes} when `bytes` ends
 * first and `complete` is false, and {@link DatasetError} for a structure that cannot be a data set.
 */
function scanHead(
  bytes: Uint8Array,
  start: number,
  encoding: Encoding,
  complete: boolean,
  totalLength?: number,
): ElementRange[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

  const truncated = (offset: number, needed: number, what: string): never => {
    if (!complete) throw new NeedMoreBytes(offset + needed);
    throw new DatasetError(
      `Cannot read data set: ${what} at offset ${offset} needs ${needed} bytes but only ${
        bytes.length - offset
      } remain (truncated file?)`,
    );
  };

  /** Reads one element header (PS3.5 §7.1.2 explicit, §7.1.3 implicit). */
  const header = (offset: number, enc: Encoding) => {
    if (offset + 8 > bytes.length) truncated(offset, 8, "element header");
    const group = view.getUint16(offset, enc.littleEndian);
    const element = view.getUint16(offset + 2, enc.littleEndian);
    const tag = ((group << 16) | element) >>> 0;
    // Item, item delimitation and sequence delimitation (FFFE,xxxx) have no VR (PS3.5 §7.5).
    if (!enc.explicitVr || group === 0xFFFE) {
      return { group, element, tag, vr: "", length: view.getUint32(offset + 4, enc.littleEndian), size: 8 };
    }
    const vr = String.fromCharCode(bytes[offset + 4]!, bytes[offset + 5]!);
    if (!/^[A-Z]{2}$/.test(vr)) {
      throw new DatasetError(
        `Cannot read data set: element ${
          tagName(group, element)
        } at offset ${offset} has no valid explicit VR ` +
          `(bytes ${hex4(view.getUint16(offset + 4, false))})`,
      );
    }
    if (LONG_VRS.has(vr)) {
      if (offset + 12 > bytes.length) truncated(offset, 12, `element ${tagName(group, element)} header`);
      return { group, element, tag, vr, length: view.getUint32(offset + 8, enc.littleEndian), size: 12 };
    }
    return { group, element, tag, vr, length: view.getUint16(offset + 6, enc.littleEndian), size: 8 };
  };

  /** Skips a value of defined length; checks it against the file size when that is known. */
  const skipValue = (offset: number, name: string, valueStart: number, length: number): number => {
    const end = valueStart + length;
    if (totalLength !== undefined && end > totalLength) {
      throw new DatasetError(
        `Cannot read data set: element ${name} at offset ${offset} declares length ${length} but only ${
          totalLength - valueStart
        } bytes remain`,
      );
    }
    if (end > bytes.length) truncated(offset, end - offset, `element ${name}`);
    return end;
  };

  /**
   * Skips the items of a value of undefined length (a sequence, or encapsulated pixel data)
   * up to and including the Sequence Delimitation Item (FFFE,E0DD) (PS3.5 §7.5.2, A.4).
   */
  const skipItems = (offset: number, enc: Encoding, depth: number): number => {
    if (depth > MAX_DEPTH) {
      throw new DatasetError(
        `Cannot read data set: sequences nested deeper than ${MAX_DEPTH} at offset ${offset}`,
      );
    }
    for (;;) {
      const h = header(offset, enc);
      if (h.tag === 0xFFFEE0DD) return offset + 8;
      if (h.tag !== 0xFFFEE000) {
        throw new DatasetError(
          `Cannot read data set: expected an item (FFFE,E000) or sequence delimiter (FFFE,E0DD) at offset ${offset}, ` +
            `found ${tagName(h.group, h.element)}`,
        );
      }
      offset = h.length === UNDEFINED_LENGTH
        ? skipElements(offset + 8, enc, depth + 1)
        : skipValue(offset, "(FFFE,E000)", offset + 8, h.length);
    }
  };

  /** Skips the elements of an item of undefined length, through its Item Delimitation Item (FFFE,E00D). */
  const skipElements = (offset: number, enc: Encoding, depth: number): number => {
    for (;;) {
      const h = header(offset, enc);
      if (h.tag === 0xFFFEE00D) return offset + 8;
      offset = skipElement(offset, h, enc, depth);
    }
  };

  const skipElement = (
    offset: number,
    h: ReturnType<typeof header>,
    enc: Encoding,
    depth: number,
  ): number => {
    const name = tagName(h.group, h.element);
    if (h.length !== UNDEFINED_LENGTH) return skipValue(offset, name, offset + h.size, h.length);
    // PS3.5 §6.2.2: a UN value of undefined length holds a sequence in Implicit VR Little Endian.
    return skipItems(offset + h.size, h.vr === "UN" ? IMPLICIT_LE : enc, depth + 1);
  };

  const wanted: ElementRange[] = [];
  let offset = start;
  for (;;) {
    if (offset === bytes.length) {
      if (complete) return wanted;
      throw new NeedMoreBytes(offset + 8);
    }
    const h = header(offset, encoding);
    if (h.tag > LAST_WANTED_TAG) return wanted;
    const end = skipElement(offset, h, encoding, 0);
    if (WANTED_TAGS.has(h.tag) && h.length !== UNDEFINED_LENGTH) {
      wanted.push({ tag: h.tag, start: offset, valueStart: offset + h.size, end });
    }
    offset = end;
  }
}

/** Where one top-level element lies in the scanned bytes. */
interface ElementRange {
  tag: number;
  start: number;
  valueStart: number;
  end: number;
}

/**
 * The wanted elements, back to back: a small data set in the same transfer syntax. A Specific
 * Character Set with several values (ISO 2022 code extensions), which dcmjs refuses, is
 * replaced by the one value dcmjs can decode it with (see {@link singleCharacterSet}).
 */
function gather(bytes: Uint8Array, ranges: ElementRange[], encoding: Encoding): Uint8Array {
  const parts = ranges.map(({ tag, start, valueStart, end }) => {
    if (tag !== 0x00080005) return bytes.subarray(start, end);
    const values = latin1.decode(bytes.subarray(valueStart, end)).split("\\").map((v) => v.trim());
    return characterSetElement(singleCharacterSet(values), encoding);
  });
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * One Specific Character Set term for a possibly multi-valued (0008,0005) (PS3.3 C.12.1.1.2).
 * dcmjs 0.52 decodes one character set per data set; the WHATWG "iso-2022-jp" decoder it maps
 * ISO 2022 IR 87 to also follows the ESC sequences for ASCII, JIS X 0201 and JIS X 0208, so the
 * common Japanese `\ISO 2022 IR 87` and `ISO 2022 IR 6\ISO 2022 IR 87` become "ISO 2022 IR 87".
 * Otherwise the first non-empty value (an empty first value means the default repertoire).
 */
function singleCharacterSet(values: string[]): string {
  if (values.length <= 1) return values[0] ?? "";
  if (values.includes("ISO 2022 IR 87") || values.includes("ISO 2022 IR 159")) return "ISO 2022 IR 87";
  return values.find((v) => v !== "") ?? "";
}

/** (0008,0005) CS with one value, in the data set's encoding (PS3.5 §7.1.2 / §7.1.3). */
function characterSetElement(value: string, encoding: Encoding): Uint8Array {
  const text = value.length % 2 === 0 ? value : value + " ";
  const header = 8; // explicit: tag, "CS", 16-bit length; implicit: tag, 32-bit length
  const out = new Uint8Array(header + text.length);
  const view = new DataView(out.buffer);
  view.setUint16(0, 0x0008, encoding.littleEndian);
  view.setUint16(2, 0x0005, encoding.littleEndian);
  if (encoding.explicitVr) {
    out[4] = 0x43; // "C"
    out[5] = 0x53; // "S"
    view.setUint16(6, text.length, encoding.littleEndian);
  } else {
    view.setUint32(4, text.length, encoding.littleEndian);
  }
  for (let i = 0; i < text.length; i++) out[header + i] = text.charCodeAt(i);
  return out;
}

// ---------------------------------------------------------------------------------------------
// readDatasetAttributes
// ---------------------------------------------------------------------------------------------

/** The attributes the gateway indexes, from the data set (empty string / null when absent). */
export interface DatasetAttributes {
  /** (0008,0016); falls back to the meta header's Media Storage SOP Class UID if absent. */
  sopClassUid: string;
  /** (0008,0018), required. */
  sopInstanceUid: string;
  /** (0020,000D), required. */
  studyInstanceUid: string;
  /** (0020,000E), required. */
  seriesInstanceUid: string;
  /** (0010,0020) */
  patientId: string;
  /** (0010,0010) in DICOM form: `Family^Given`, with `=ideographic=phonetic` groups if present. */
  patientName: string;
  /** (0008,0060) */
  modality: string;
  /** (0008,0020) DA, YYYYMMDD as stored. */
  studyDate: string;
  /** (0008,0030) TM as stored. */
  studyTime: string;
  /** (0008,1030) */
  studyDescription: string;
  /** (0008,103E) */
  seriesDescription: string;
  /** (0008,0050) */
  accessionNumber: string;
  /** (0020,0011) IS */
  seriesNumber: number | null;
  /** (0020,0013) IS */
  instanceNumber: number | null;
}

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
        decoded = decodeMeta(head, head.length === size);
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
    const deflated = isDeflated(meta.transferSyntaxUid);
    const encoding = encodingOf(meta.transferSyntaxUid);

    let dataset: Uint8Array;
    if (deflated) {
      // The compressed bytes already read are inflated first; the file is read on from there.
      dataset = await inflatedHead(path, head.subarray(datasetOffset), head.length, initial, options.onRead);
    } else {
      for (;;) {
        const complete = head.length === size;
        try {
          dataset = gather(head, scanHead(head, datasetOffset, encoding, complete, size), encoding);
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
  if (isDeflated(meta.transferSyntaxUid)) return undefined;
  const encoding = encodingOf(meta.transferSyntaxUid);
  let dataset: Uint8Array;
  try {
    dataset = gather(head, scanHead(head, 0, encoding, head.length >= totalLength, totalLength), encoding);
  } catch (error) {
    if (error instanceof NeedMoreBytes) return undefined;
    throw error;
  }
  return parseAttributes(meta, dataset, false);
}

/** PS3.5 A.5: the data set is one deflate stream (Deflated Explicit VR LE, JPIP Referenced Deflate). */
function isDeflated(transferSyntaxUid: string): boolean {
  return transferSyntaxUid === TransferSyntax.DeflatedExplicitVrLittleEndian ||
    transferSyntaxUid === TransferSyntax.JpipReferencedDeflate;
}

/** PS3.5 §10: byte order and VR form of a transfer syntax's data set (encapsulated: explicit LE). */
function encodingOf(transferSyntaxUid: string): Encoding {
  return {
    littleEndian: transferSyntaxUid !== TransferSyntax.ExplicitVrBigEndian,
    explicitVr: transferSyntaxUid !== TransferSyntax.ImplicitVrLittleEndian,
  };
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
        return gather(head, scanHead(head, 0, explicitLe, complete), explicitLe);
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
    transferSyntaxUid: deflated ? TransferSyntax.ExplicitVrLittleEndian : meta.transferSyntaxUid,
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

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
