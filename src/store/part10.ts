/**
 * DICOM Part 10 files (PS3.10 §7), the pure part: the File Meta Information header we write in
 * front of every received data set and read back, and the scan of a data set's head that finds
 * the few elements the gateway indexes without reading values (pixel data is never reached).
 * Reading files, inflating and handing the elements to dcmjs are in `dataset_attributes.ts`.
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
import { hex } from "../bytes.ts";
import type { DatasetEncoding } from "../dicom/uids.ts";

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
  return hex(n, 4);
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

/** More bytes of the file (or data set) are needed to decide: read on and try again. */
export class NeedMoreBytes extends Error {
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
    return decodeMetaHead(bytes, true);
  } catch (error) {
    if (error instanceof NeedMoreBytes) {
      throw new DatasetError(
        `Cannot decode file meta information: file is truncated (${bytes.length} bytes, at least ${error.needed} needed)`,
      );
    }
    throw error;
  }
}

/**
 * Like {@link decodeFileMetaInformation}, for a head that may end early: throws
 * {@link NeedMoreBytes} when `bytes` ends inside the meta group and `complete` is false.
 */
export function decodeMetaHead(
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

/** Byte order and VR form of a data set (PS3.5 §7.1, §7.3). */
export type Encoding = Pick<DatasetEncoding, "littleEndian" | "explicitVr">;

/** Implicit VR Little Endian: the encoding of UN values of undefined length (PS3.5 §6.2.2). */
const IMPLICIT_LE: Encoding = { littleEndian: true, explicitVr: false };

/**
 * Every attribute in {@link DatasetAttributes} lives in groups 0008–0040, so the top-level
 * scan stops before the first element past (0040,1003) Requested Procedure Priority: pixel data
 * (7FE0,xxxx), overlays and curves are never read (values of private blocks in between, e.g.
 * Siemens CSA headers in group 0029, are skipped, not parsed).
 */
const LAST_WANTED_TAG = 0x00401003;
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
  0x0032000C,
  0x00401003,
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
 * The wanted top-level elements of a data set (Specific Character Set and the attributes of
 * {@link DatasetAttributes}), back to back, found by scanning element headers from `start` of
 * `bytes` (see {@link scanHead}). `complete` says `bytes` holds the whole data set; otherwise
 * {@link NeedMoreBytes} is thrown when the wanted elements may run past its end. Throws
 * {@link DatasetError} for a structure that cannot be a data set.
 */
export function wantedElements(
  bytes: Uint8Array,
  start: number,
  encoding: Encoding,
  complete: boolean,
  totalLength?: number,
): Uint8Array {
  return gather(bytes, scanHead(bytes, start, encoding, complete, totalLength), encoding);
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
  /**
   * Upload priority as written, upper case: (0040,1003) Requested Procedure Priority (SH: STAT,
   * HIGH, ROUTINE, MEDIUM, LOW; PS3.3 C.4.11), else (0032,000C) Study Priority ID (CS: HIGH, MED,
   * LOW; retired but still sent). Top level only. "" when absent.
   */
  priority: string;
}
