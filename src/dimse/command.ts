/**
 * DIMSE command sets (PS3.7 §6.3.1, §9.3, §10.3, Annex E): the group 0000 elements that
 * open every DIMSE message. A command set is always encoded in Implicit VR Little Endian
 * (PS3.7 §6.3.1: "The Command Set shall be encoded using the Implicit VR Little Endian
 * Transfer Syntax"), whatever transfer syntax the presentation context negotiated for the
 * data set, and starts with Command Group Length (0000,0000).
 *
 * Each element on the wire (PS3.5 §7.1.3, implicit VR):
 * ```
 * offset 0  group   uint16 LE  always 0x0000 here
 * offset 2  element uint16 LE
 * offset 4  length  uint32 LE  even (PS3.5 §7.1.1)
 * offset 8  value   `length` bytes
 * ```
 * @module
 */
import { hex } from "../bytes.ts";

/** PS3.7 Annex E Table E.1-1: Command Field (0000,0100) values. */
export const CommandField = {
  CStoreRq: 0x0001,
  CStoreRsp: 0x8001,
  CGetRq: 0x0010,
  CGetRsp: 0x8010,
  CFindRq: 0x0020,
  CFindRsp: 0x8020,
  CMoveRq: 0x0021,
  CMoveRsp: 0x8021,
  CEchoRq: 0x0030,
  CEchoRsp: 0x8030,
  NEventReportRq: 0x0100,
  NEventReportRsp: 0x8100,
  NGetRq: 0x0110,
  NGetRsp: 0x8110,
  NSetRq: 0x0120,
  NSetRsp: 0x8120,
  NActionRq: 0x0130,
  NActionRsp: 0x8130,
  NCreateRq: 0x0140,
  NCreateRsp: 0x8140,
  NDeleteRq: 0x0150,
  NDeleteRsp: 0x8150,
  CCancelRq: 0x0FFF,
} as const;

/** PS3.7 Table E.1-1 (0000,0800) Command Data Set Type: "0101H indicates no Data Set present". */
export const NO_DATA_SET = 0x0101;

/** Value we put in (0000,0800) when a data set follows: PS3.7 says any value but 0x0101; 0x0001 as DCMTK and pynetdicom send. */
export const DATA_SET_PRESENT = 0x0001;

/** PS3.7 Table E.1-1 (0000,0700) Priority. */
export const Priority = { Medium: 0x0000, High: 0x0001, Low: 0x0002 } as const;

/** SOP Class UID of the Verification SOP Class (PS3.4 A.4). */
export const VERIFICATION_SOP_CLASS = "1.2.840.10008.1.1";

/** The command elements we read and write. Unknown group 0000 elements are skipped on decode. */
export interface CommandSet {
  /** (0000,0100) US Command Field. */
  commandField: number;
  /** (0000,0110) US Message ID. */
  messageId?: number;
  /** (0000,0120) US Message ID Being Responded To. */
  messageIdBeingRespondedTo?: number;
  /** (0000,0002) UI Affected SOP Class UID. */
  affectedSopClassUid?: string;
  /** (0000,1000) UI Affected SOP Instance UID. */
  affectedSopInstanceUid?: string;
  /** (0000,0003) UI Requested SOP Class UID. */
  requestedSopClassUid?: string;
  /** (0000,1001) UI Requested SOP Instance UID. */
  requestedSopInstanceUid?: string;
  /** (0000,0800) US Command Data Set Type; {@link NO_DATA_SET} means none follows. */
  commandDataSetType: number;
  /** (0000,0900) US Status. */
  status?: number;
  /** (0000,0700) US Priority. */
  priority?: number;
  /** (0000,1030) AE Move Originator Application Entity Title. */
  moveOriginatorAeTitle?: string;
  /** (0000,1031) US Move Originator Message ID. */
  moveOriginatorMessageId?: number;
  /** (0000,0902) LO Error Comment. */
  errorComment?: string;
  /** (0000,0901) AT Offending Element, each as `(group << 16 | element) >>> 0`. */
  offendingElements?: number[];
}

/** A command set that is not valid DIMSE; the association should be aborted or the request failed. */
export class DimseError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DimseError";
  }
}

type Vr = "UL" | "US" | "UI" | "AE" | "LO" | "AT";

/** The command elements this module maps (PS3.7 Table E.1-1), by tag (group 0000). */
const Tag = {
  CommandGroupLength: 0x0000,
  AffectedSopClassUid: 0x0002,
  RequestedSopClassUid: 0x0003,
  CommandField: 0x0100,
  MessageId: 0x0110,
  MessageIdBeingRespondedTo: 0x0120,
  Priority: 0x0700,
  CommandDataSetType: 0x0800,
  Status: 0x0900,
  OffendingElement: 0x0901,
  ErrorComment: 0x0902,
  AffectedSopInstanceUid: 0x1000,
  RequestedSopInstanceUid: 0x1001,
  MoveOriginatorAeTitle: 0x1030,
  MoveOriginatorMessageId: 0x1031,
} as const;

/** Element tag → [CommandSet key, VR, maximum characters for strings]. */
const ELEMENTS: ReadonlyMap<number, readonly [keyof CommandSet, Vr, number]> = new Map<
  number,
  readonly [keyof CommandSet, Vr, number]
>([
  [Tag.AffectedSopClassUid, ["affectedSopClassUid", "UI", 64]],
  [Tag.RequestedSopClassUid, ["requestedSopClassUid", "UI", 64]],
  [Tag.CommandField, ["commandField", "US", 0]],
  [Tag.MessageId, ["messageId", "US", 0]],
  [Tag.MessageIdBeingRespondedTo, ["messageIdBeingRespondedTo", "US", 0]],
  [Tag.Priority, ["priority", "US", 0]],
  [Tag.CommandDataSetType, ["commandDataSetType", "US", 0]],
  [Tag.Status, ["status", "US", 0]],
  [Tag.OffendingElement, ["offendingElements", "AT", 0]],
  [Tag.ErrorComment, ["errorComment", "LO", 64]],
  [Tag.AffectedSopInstanceUid, ["affectedSopInstanceUid", "UI", 64]],
  [Tag.RequestedSopInstanceUid, ["requestedSopInstanceUid", "UI", 64]],
  [Tag.MoveOriginatorAeTitle, ["moveOriginatorAeTitle", "AE", 16]],
  [Tag.MoveOriginatorMessageId, ["moveOriginatorMessageId", "US", 0]],
]);

function tagName(group: number, element: number): string {
  return `(${hex(group, 4)},${hex(element, 4)})`;
}

const latin1 = new TextDecoder("latin1");

/**
 * Decodes a command set (the concatenated command PDV fragments of one message).
 *
 * Tolerated, as DCMTK and pynetdicom do: unknown group 0000 elements (retired ones such as
 * (0000,0001) Length to End, (0000,4000) Comments), elements out of order, odd-length string
 * values, a Command Group Length that disagrees with the bytes (the PDV boundary is what
 * delimits a command set). Refused with a {@link DimseError} naming the tag and offset:
 * elements outside group 0000, a length running past the end, a truncated element header,
 * binary values of the wrong size, a missing Command Field or Command Data Set Type.
 */
export function decodeCommandSet(bytes: Uint8Array): CommandSet {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fields: Record<string, unknown> = {};
  let offset = 0;
  while (offset < bytes.length) {
    const remaining = bytes.length - offset;
    // PS3.5 §7.1.3: an implicit VR element header is tag (4) + value length (4).
    if (remaining < 8) {
      throw new DimseError(
        `Cannot decode command set: ${remaining} trailing byte(s) at offset ${offset} are too short for an element header (8 bytes)`,
      );
    }
    const group = view.getUint16(offset, true);
    const element = view.getUint16(offset + 2, true);
    const length = view.getUint32(offset + 4, true);
    const name = tagName(group, element);
    // PS3.7 §6.3.1: a command set holds group 0000 only (the data set travels in its own PDVs).
    if (group !== 0x0000) {
      throw new DimseError(
        `Cannot decode command set: element ${name} at offset ${offset} is outside command group 0000`,
      );
    }
    const valueOffset = offset + 8;
    const available = bytes.length - valueOffset;
    if (length > available) {
      throw new DimseError(
        `Cannot decode command set: element ${name} at offset ${offset} declares length ${length} but only ${available} bytes remain`,
      );
    }
    const value = bytes.subarray(valueOffset, valueOffset + length);
    const mapping = ELEMENTS.get(element);
    if (mapping !== undefined) {
      const [key, vr] = mapping;
      fields[key] = decodeValue(value, vr, name, offset);
    }
    offset = valueOffset + length;
  }
  if (fields.commandField === undefined) {
    throw new DimseError("Cannot decode command set: Command Field (0000,0100) is missing");
  }
  if (fields.commandDataSetType === undefined) {
    throw new DimseError("Cannot decode command set: Command Data Set Type (0000,0800) is missing");
  }
  return fields as unknown as CommandSet;
}

function decodeValue(value: Uint8Array, vr: Vr, name: string, offset: number): number | string | number[] {
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  switch (vr) {
    case "US":
      // PS3.5 Table 6.2-1: US is a 16-bit unsigned binary integer (VM 1 for every command element).
      if (value.length !== 2) {
        throw new DimseError(
          `Cannot decode command set: element ${name} at offset ${offset} is US and must be 2 bytes long, not ${value.length}`,
        );
      }
      return view.getUint16(0, true);
    case "UL":
      if (value.length !== 4) {
        throw new DimseError(
          `Cannot decode command set: element ${name} at offset ${offset} is UL and must be 4 bytes long, not ${value.length}`,
        );
      }
      return view.getUint32(0, true);
    case "AT": {
      // PS3.5 Table 6.2-1: AT is an ordered pair of 16-bit unsigned integers (group, element).
      if (value.length % 4 !== 0) {
        throw new DimseError(
          `Cannot decode command set: element ${name} at offset ${offset} is AT and its length ${value.length} is not a multiple of 4`,
        );
      }
      const tags: number[] = [];
      for (let i = 0; i < value.length; i += 4) {
        tags.push(((view.getUint16(i, true) << 16) | view.getUint16(i + 2, true)) >>> 0);
      }
      return tags;
    }
    case "UI":
      // PS3.5 §9.1: UIDs are padded to even length with a single trailing NUL (0x00); some
      // implementations pad with a space instead, so both are stripped.
      return latin1.decode(value).replace(/[\0 ]+$/, "");
    case "AE":
    case "LO":
      // PS3.5 Table 6.2-1: leading and trailing spaces are not significant in AE and LO.
      return latin1.decode(value).replace(/\0+$/, "").trim();
  }
}

/**
 * Encodes a command set in Implicit VR Little Endian, elements in ascending tag order, with
 * Command Group Length (0000,0000) first (PS3.7 §E.1: "the even number of bytes from the end
 * of the value field to the beginning of the next group"). Strings are padded to even length:
 * UI with NUL, AE and LO with a space (PS3.5 §6.2). The Error Comment is made safe (default
 * repertoire, no backslash, at most 64 characters); an invalid UID, AE title or number throws
 * {@link DimseError}, since that is a bug in the caller, not the peer.
 */
export function encodeCommandSet(command: CommandSet): Uint8Array {
  const elements: { element: number; value: Uint8Array }[] = [];
  for (const [element, [key, vr, maxChars]] of ELEMENTS) {
    const raw = command[key];
    if (raw === undefined) continue;
    elements.push({ element, value: encodeValue(raw, vr, maxChars, key, element) });
  }
  elements.sort((a, b) => a.element - b.element);
  const groupLength = elements.reduce((sum, e) => sum + 8 + e.value.length, 0);
  const out = new Uint8Array(12 + groupLength);
  const view = new DataView(out.buffer);
  // (0000,0000) UL Command Group Length: tag, length 4, value.
  view.setUint16(0, 0x0000, true);
  view.setUint16(2, Tag.CommandGroupLength, true);
  view.setUint32(4, 4, true);
  view.setUint32(8, groupLength, true);
  let offset = 12;
  for (const { element, value } of elements) {
    view.setUint16(offset, 0x0000, true);
    view.setUint16(offset + 2, element, true);
    view.setUint32(offset + 4, value.length, true);
    out.set(value, offset + 8);
    offset += 8 + value.length;
  }
  return out;
}

function encodeValue(
  raw: unknown,
  vr: Vr,
  maxChars: number,
  key: string,
  element: number,
): Uint8Array {
  const name = tagName(0, element);
  switch (vr) {
    case "US": {
      if (typeof raw !== "number" || !Number.isInteger(raw) || raw < 0 || raw > 0xFFFF) {
        throw new DimseError(
          `Cannot encode command set: ${key} ${name} must be an integer 0..65535, not ${raw}`,
        );
      }
      const out = new Uint8Array(2);
      new DataView(out.buffer).setUint16(0, raw, true);
      return out;
    }
    case "UL": {
      const out = new Uint8Array(4);
      new DataView(out.buffer).setUint32(0, raw as number, true);
      return out;
    }
    case "AT": {
      const tags = raw as number[];
      const out = new Uint8Array(tags.length * 4);
      const view = new DataView(out.buffer);
      tags.forEach((tag, i) => {
        view.setUint16(i * 4, (tag >>> 16) & 0xFFFF, true);
        view.setUint16(i * 4 + 2, tag & 0xFFFF, true);
      });
      return out;
    }
    case "UI": {
      const text = String(raw);
      // PS3.5 §9.1: at most 64 characters of "0"-"9" and ".". Peers do send UIDs with other
      // printable characters; those are echoed as received rather than refused.
      if (!isEncodableUid(text, maxChars)) {
        throw new DimseError(
          `Cannot encode command set: ${key} ${name} is not a valid UID: ${JSON.stringify(text)}`,
        );
      }
      return padded(text, 0x00);
    }
    case "AE": {
      const text = String(raw).trim();
      // PS3.5 Table 6.2-1: AE is 16 characters of the default repertoire, no backslash or control characters.
      if (text.length === 0 || text.length > maxChars || !/^[\x20-\x5B\x5D-\x7E]+$/.test(text)) {
        throw new DimseError(
          `Cannot encode command set: ${key} ${name} is not a valid AE title: ${JSON.stringify(text)}`,
        );
      }
      return padded(text, 0x20);
    }
    case "LO":
      return padded(safeLongString(String(raw), maxChars), 0x20);
  }
}

/** Default repertoire only, no backslash (the value multiplicity delimiter), at most `max` characters. */
function safeLongString(text: string, max: number): string {
  return text.replace(/[^\x20-\x5B\x5D-\x7E]/g, "?").trim().slice(0, max).trimEnd();
}

function padded(text: string, pad: number): Uint8Array {
  const length = text.length + (text.length % 2);
  const out = new Uint8Array(length).fill(pad);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0xFF;
  return out;
}

/** True when a data set follows the command (Command Data Set Type is not 0x0101). */
export function hasDataSet(command: CommandSet): boolean {
  return command.commandDataSetType !== NO_DATA_SET;
}

/** True for a response command field (PS3.7 Table E.1-1: responses have bit 15 set). */
export function isResponse(commandField: number): boolean {
  return (commandField & 0x8000) !== 0;
}

/** C-ECHO-RQ (PS3.7 §9.3.5.1 Table 9.3-12). */
export function cEchoRq(messageId: number): CommandSet {
  return {
    commandField: CommandField.CEchoRq,
    messageId,
    affectedSopClassUid: VERIFICATION_SOP_CLASS,
    commandDataSetType: NO_DATA_SET,
  };
}

/** C-ECHO-RSP (PS3.7 §9.3.5.2 Table 9.3-13) answering `request`. */
export function cEchoRsp(request: CommandSet, status: number): CommandSet {
  return {
    commandField: CommandField.CEchoRsp,
    messageIdBeingRespondedTo: request.messageId ?? 0,
    affectedSopClassUid:
      request.affectedSopClassUid !== undefined && isEncodableUid(request.affectedSopClassUid)
        ? request.affectedSopClassUid
        : VERIFICATION_SOP_CLASS,
    commandDataSetType: NO_DATA_SET,
    status,
  };
}

/** C-STORE-RQ (PS3.7 §9.3.1.1 Table 9.3-1); a data set always follows. */
export function cStoreRq(o: {
  messageId: number;
  sopClassUid: string;
  sopInstanceUid: string;
  priority?: number;
  moveOriginatorAeTitle?: string;
  moveOriginatorMessageId?: number;
}): CommandSet {
  const command: CommandSet = {
    commandField: CommandField.CStoreRq,
    messageId: o.messageId,
    affectedSopClassUid: o.sopClassUid,
    affectedSopInstanceUid: o.sopInstanceUid,
    priority: o.priority ?? Priority.Medium,
    commandDataSetType: DATA_SET_PRESENT,
  };
  if (o.moveOriginatorAeTitle !== undefined) command.moveOriginatorAeTitle = o.moveOriginatorAeTitle;
  if (o.moveOriginatorMessageId !== undefined) command.moveOriginatorMessageId = o.moveOriginatorMessageId;
  return command;
}

/**
 * C-STORE-RSP (PS3.7 §9.3.1.2 Table 9.3-2): echoes the request's Affected SOP Class and
 * Instance UIDs and Message ID, no data set. `errorComment` (≤ 64 characters, made safe on
 * encode) is for warning and failure statuses.
 */
export function cStoreRsp(request: CommandSet, status: number, errorComment?: string): CommandSet {
  const response: CommandSet = {
    commandField: CommandField.CStoreRsp,
    messageIdBeingRespondedTo: request.messageId ?? 0,
    commandDataSetType: NO_DATA_SET,
    status,
  };
  // Echoed as received; a value that cannot be encoded (over 64 characters, control
  // characters) is left out rather than making the response itself unencodable.
  if (request.affectedSopClassUid !== undefined && isEncodableUid(request.affectedSopClassUid)) {
    response.affectedSopClassUid = request.affectedSopClassUid;
  }
  if (request.affectedSopInstanceUid !== undefined && isEncodableUid(request.affectedSopInstanceUid)) {
    response.affectedSopInstanceUid = request.affectedSopInstanceUid;
  }
  if (errorComment !== undefined && errorComment !== "") response.errorComment = errorComment;
  return response;
}

/**
 * A response to a request we do not support or cannot process, e.g. status 0x0211
 * (Unrecognized Operation) for a C-FIND-RQ: Command Field is the request's with bit 15 set
 * (PS3.7 Table E.1-1), the SOP class/instance of the request echoed as the affected ones.
 * Throws {@link DimseError} for C-CANCEL-RQ and for responses, which are never answered.
 */
export function failureRsp(request: CommandSet, status: number, errorComment?: string): CommandSet {
  if (isResponse(request.commandField) || request.commandField === CommandField.CCancelRq) {
    throw new DimseError(
      `Cannot answer command field 0x${request.commandField.toString(16).padStart(4, "0")}: ` +
        "responses and C-CANCEL-RQ get no response",
    );
  }
  const response: CommandSet = {
    commandField: (request.commandField | 0x8000) & 0xFFFF,
    messageIdBeingRespondedTo: request.messageId ?? 0,
    commandDataSetType: NO_DATA_SET,
    status,
  };
  const sopClass = request.affectedSopClassUid ?? request.requestedSopClassUid;
  const sopInstance = request.affectedSopInstanceUid ?? request.requestedSopInstanceUid;
  if (sopClass !== undefined && isEncodableUid(sopClass)) response.affectedSopClassUid = sopClass;
  if (sopInstance !== undefined && isEncodableUid(sopInstance)) response.affectedSopInstanceUid = sopInstance;
  if (errorComment !== undefined && errorComment !== "") response.errorComment = errorComment;
  return response;
}

/** Cuts a text to fit (0000,0902) Error Comment, an LO of at most 64 characters ("..." marks a cut). */
export function errorComment(text: string): string {
  return text.length > 64 ? text.slice(0, 61) + "..." : text;
}

/** 1–64 printable default-repertoire characters without space or backslash. */
function isEncodableUid(uid: string, maxChars = 64): boolean {
  return uid.length > 0 && uid.length <= maxChars && /^[\x21-\x5B\x5D-\x7E]+$/.test(uid);
}
