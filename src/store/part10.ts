/**
 * DICOM Part 10 files (PS3.10 §7), the pure part: the File Meta Information header we write in
 * front of every received data set and read back, and the attributes the gateway indexes. The
 * data set itself is read by the streaming scanner (`dicom/dataset_scanner.ts`); files and the
 * decoding of the kept values are in `dataset_attributes.ts`.
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
import { DatasetError } from "../dicom/dataset_error.ts";

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

export { DatasetError };

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

/**
 * Longest UID written into the meta header. PS3.5 §9.1 allows 64 characters; a received UID that
 * breaks that rule (or the digit rules) is still written as received when the command and the
 * data set agree on it (the archive decides), up to this many characters.
 */
export const MAX_WRITTEN_UID_LENGTH = 1024;

function uidValue(uid: string, what: string): Uint8Array {
  // Written as received, but never anything that breaks the encoding: no padding character (NUL,
  // space), no value delimiter (backslash), no control or non-ASCII character.
  if (uid.length === 0 || uid.length > MAX_WRITTEN_UID_LENGTH || !/^[\x21-\x5B\x5D-\x7E]+$/.test(uid)) {
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
