/**
 * Decoding of DICOM Upper Layer PDUs (PS3.8 §9.3) and their items (PS3.8 §9.3.2–9.3.3, PS3.8
 * Annex D, PS3.7 Annex D.3.3). `decodePdu` takes one whole PDU, header included, checks every
 * length before it reads, and throws a {@linkcode PduError} naming the PDU, the field and the
 * byte offset (0-based, from the first byte of the PDU) when the bytes are not a valid PDU.
 *
 * Byte positions in the comments are the 1-based positions of the PS3.8 tables.
 * @module
 */
import { hex } from "../bytes.ts";
import {
  type Abort,
  AbortReason,
  type AssociateAc,
  type AssociateRj,
  type AssociateRq,
  emptyUserInformation,
  ItemType,
  type PDataTf,
  type Pdu,
  PduError,
  PduType,
  type Pdv,
  type PresentationContextAc,
  type PresentationContextResult,
  type PresentationContextRq,
  type UserInformation,
} from "./pdu.ts";

/** PS3.8 §9.3: every PDU starts with type (1), reserved (1) and PDU-length (4). */
const PDU_HEADER_LENGTH = 6;
/** PS3.8 Table 9-11 / 9-17: bytes 7-74 of A-ASSOCIATE-RQ/AC are fixed fields. */
const ASSOCIATE_FIXED_LENGTH = 68;
/** PS3.8 §9.3.2: item type (1), reserved (1), item-length (2). */
const ITEM_HEADER_LENGTH = 4;

const PDU_NAMES: Readonly<Record<number, string>> = {
  [PduType.AssociateRq]: "A-ASSOCIATE-RQ",
  [PduType.AssociateAc]: "A-ASSOCIATE-AC",
  [PduType.AssociateRj]: "A-ASSOCIATE-RJ",
  [PduType.PDataTf]: "P-DATA-TF",
  [PduType.ReleaseRq]: "A-RELEASE-RQ",
  [PduType.ReleaseRp]: "A-RELEASE-RP",
  [PduType.Abort]: "A-ABORT",
};

const ITEM_NAMES: Readonly<Record<number, string>> = {
  [ItemType.ApplicationContext]: "application context item",
  [ItemType.PresentationContextRq]: "presentation context item",
  [ItemType.PresentationContextAc]: "presentation context item",
  [ItemType.AbstractSyntax]: "abstract syntax sub-item",
  [ItemType.TransferSyntax]: "transfer syntax sub-item",
  [ItemType.UserInformation]: "user information item",
  [ItemType.MaximumLength]: "maximum length sub-item",
  [ItemType.ImplementationClassUid]: "implementation class UID sub-item",
  [ItemType.AsynchronousOperationsWindow]: "asynchronous operations window sub-item",
  [ItemType.ScpScuRoleSelection]: "SCP/SCU role selection sub-item",
  [ItemType.ImplementationVersionName]: "implementation version name sub-item",
  [ItemType.SopClassExtendedNegotiation]: "SOP class extended negotiation sub-item",
  [ItemType.SopClassCommonExtendedNegotiation]: "SOP class common extended negotiation sub-item",
  [ItemType.UserIdentityRq]: "user identity sub-item",
  [ItemType.UserIdentityAc]: "user identity sub-item",
};

/** The PS3.8 name of a PDU type ("A-ASSOCIATE-RQ", ...), or undefined for an unknown type. */
export function pduTypeName(type: number): string | undefined {
  return PDU_NAMES[type];
}

function hex2(n: number): string {
  return "0x" + hex(n, 2);
}

function itemName(type: number): string {
  return ITEM_NAMES[type] ?? `item of type ${hex2(type)}`;
}

/**
 * A bounds-checked reader over one PDU. Offsets are absolute (from the first PDU byte) so that
 * error messages point at the byte a hex dump shows. `end` bounds the current item.
 */
class Reader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  readonly #pdu: string;

  constructor(bytes: Uint8Array, pdu: string) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#pdu = pdu;
  }

  /** An error in this PDU, with the standard's "Cannot decode X: ..." shape. */
  error(message: string, reason: number = AbortReason.InvalidPduParameterValue): PduError {
    return new PduError(`Cannot decode ${this.#pdu}: ${message}`, reason);
  }

  /** Checks that `count` bytes of `field` at `offset` lie before `end`. */
  need(field: string, offset: number, count: number, end: number): void {
    if (offset + count > end) {
      const remaining = Math.max(0, end - offset);
      throw this.error(
        `${field} at offset ${offset} needs ${count} byte${
          count === 1 ? "" : "s"
        } but only ${remaining} remain`,
      );
    }
  }

  u8(field: string, offset: number, end: number): number {
    this.need(field, offset, 1, end);
    return this.#view.getUint8(offset);
  }

  u16(field: string, offset: number, end: number): number {
    this.need(field, offset, 2, end);
    return this.#view.getUint16(offset, false);
  }

  u32(field: string, offset: number, end: number): number {
    this.need(field, offset, 4, end);
    return this.#view.getUint32(offset, false);
  }

  /** A copy of `count` bytes (so decoded items do not keep the whole PDU buffer alive). */
  copy(field: string, offset: number, count: number, end: number): Uint8Array {
    this.need(field, offset, count, end);
    return this.#bytes.slice(offset, offset + count);
  }

  /** A view of `count` bytes without copying (P-DATA-TF fragments). */
  view(field: string, offset: number, count: number, end: number): Uint8Array {
    this.need(field, offset, count, end);
    return this.#bytes.subarray(offset, offset + count);
  }

  /** `count` bytes as ISO 646 / Latin-1 text, one character per byte. */
  text(field: string, offset: number, count: number, end: number): string {
    this.need(field, offset, count, end);
    let s = "";
    for (let i = offset; i < offset + count; i++) s += String.fromCharCode(this.#bytes[i]!);
    return s;
  }

  /** A UID: text with the trailing NUL padding some implementations add removed. */
  uid(field: string, offset: number, count: number, end: number): string {
    return this.text(field, offset, count, end).replace(/\0+$/, "");
  }

  /** A 16-byte AE title with its non-significant leading/trailing spaces (and NULs) removed. */
  aeTitle(field: string, offset: number, end: number): string {
    return this.text(field, offset, 16, end).replace(/^[ \0]+|[ \0]+$/g, "");
  }
}

/** One item of a variable field: its type, where its value starts and ends. */
interface ItemSpan {
  type: number;
  /** Offset of the item's first byte (the item type). */
  start: number;
  /** Offset of the first value byte (after the 4-byte item header). */
  valueStart: number;
  /** Offset just past the item. */
  end: number;
}

/**
 * Splits `[start, end)` into items with a 1-byte type, 1 reserved byte and a 2-byte length
 * (PS3.8 §9.3.2 items and PS3.7 D.3.3 sub-items share this header).
 */
function* items(r: Reader, where: string, start: number, end: number): Generator<ItemSpan> {
  let offset = start;
  while (offset < end) {
    if (end - offset < ITEM_HEADER_LENGTH) {
      const n = end - offset;
      throw r.error(
        `${n} byte${
          n === 1 ? "" : "s"
        } at offset ${offset} in ${where} are too few for an item header (4 bytes)`,
      );
    }
    // PS3.8 §9.3.2: byte 1 item-type, byte 2 reserved, bytes 3-4 item-length
    const type = r.u8("item type", offset, end);
    const length = r.u16("item length", offset + 2, end);
    const valueStart = offset + ITEM_HEADER_LENGTH;
    if (valueStart + length > end) {
      throw r.error(
        `${itemName(type)} at offset ${offset} declares length ${length} but only ${
          end - valueStart
        } bytes remain`,
      );
    }
    yield { type, start: offset, valueStart, end: valueStart + length };
    offset = valueStart + length;
  }
}

/** A known item type in the wrong place, or an unknown type where only known ones may appear. */
function unexpectedItem(r: Reader, item: ItemSpan, where: string): PduError {
  if (ITEM_NAMES[item.type] === undefined) {
    return r.error(
      `unrecognized item type ${hex2(item.type)} at offset ${item.start} in ${where}`,
      AbortReason.UnrecognizedPduParameter,
    );
  }
  return r.error(
    `unexpected ${itemName(item.type)} (type ${hex2(item.type)}) at offset ${item.start} in ${where}`,
    AbortReason.UnexpectedPduParameter,
  );
}

function decodePresentationContextRq(r: Reader, item: ItemSpan): PresentationContextRq {
  const end = item.end;
  // PS3.8 Table 9-13, byte 5: Presentation-context-ID
  const id = r.u8("presentation context ID", item.valueStart, end);
  // PS3.8 Table 9-13, bytes 6-8: reserved (not tested)
  r.need("presentation context reserved bytes", item.valueStart + 1, 3, end);
  let abstractSyntax: string | undefined;
  const transferSyntaxes: string[] = [];
  // PS3.8 Table 9-13, bytes 9-xxx: one abstract syntax sub-item, one or more transfer syntax sub-items
  for (const sub of items(r, `presentation context ${id}`, item.valueStart + 4, end)) {
    const length = sub.end - sub.valueStart;
    if (sub.type === ItemType.AbstractSyntax) {
      if (abstractSyntax !== undefined) {
        throw r.error(
          `presentation context ${id} has a second abstract syntax sub-item at offset ${sub.start}`,
          AbortReason.UnexpectedPduParameter,
        );
      }
      // PS3.8 Table 9-14, bytes 5-xxx: Abstract-syntax-name
      abstractSyntax = r.uid("abstract syntax name", sub.valueStart, length, sub.end);
    } else if (sub.type === ItemType.TransferSyntax) {
      // PS3.8 Table 9-15, bytes 5-xxx: Transfer-syntax-name(s)
      transferSyntaxes.push(r.uid("transfer syntax name", sub.valueStart, length, sub.end));
    } else {
      throw unexpectedItem(r, sub, `presentation context ${id}`);
    }
  }
  if (abstractSyntax === undefined) {
    throw r.error(`presentation context ${id} at offset ${item.start} has no abstract syntax sub-item`);
  }
  return { id, abstractSyntax, transferSyntaxes };
}

function decodePresentationContextAc(r: Reader, item: ItemSpan): PresentationContextAc {
  const end = item.end;
  // PS3.8 Table 9-18, byte 5: Presentation-context-ID
  const id = r.u8("presentation context ID", item.valueStart, end);
  // PS3.8 Table 9-18, byte 6: reserved; byte 7: Result/Reason; byte 8: reserved
  const result = r.u8("presentation context result/reason", item.valueStart + 2, end);
  r.need("presentation context reserved byte", item.valueStart + 3, 1, end);
  if (result > 4) {
    throw r.error(
      `presentation context ${id} at offset ${item.start} has result/reason ${result}, not 0-4`,
    );
  }
  let transferSyntax: string | undefined;
  // PS3.8 Table 9-18, bytes 9-xxx: one transfer syntax sub-item (not significant unless result is 0)
  for (const sub of items(r, `presentation context ${id}`, item.valueStart + 4, end)) {
    if (sub.type !== ItemType.TransferSyntax) throw unexpectedItem(r, sub, `presentation context ${id}`);
    if (transferSyntax !== undefined) {
      throw r.error(
        `presentation context ${id} has a second transfer syntax sub-item at offset ${sub.start}`,
        AbortReason.UnexpectedPduParameter,
      );
    }
    // PS3.8 Table 9-19, bytes 5-xxx: Transfer-syntax-name
    transferSyntax = r.uid("transfer syntax name", sub.valueStart, sub.end - sub.valueStart, sub.end);
  }
  if (transferSyntax === undefined && result === 0) {
    throw r.error(
      `accepted presentation context ${id} at offset ${item.start} has no transfer syntax sub-item`,
    );
  }
  return { id, result: result as PresentationContextResult, transferSyntax: transferSyntax ?? "" };
}

function expectLength(r: Reader, sub: ItemSpan, expected: number): void {
  const length = sub.end - sub.valueStart;
  if (length !== expected) {
    throw r.error(
      `${itemName(sub.type)} at offset ${sub.start} declares length ${length}, expected ${expected}`,
    );
  }
}

/** Decodes one user information sub-item into `info` (PS3.8 Annex D, PS3.7 Annex D.3.3). */
function decodeUserInformationSubItem(r: Reader, sub: ItemSpan, info: UserInformation): void {
  const { valueStart: v, end } = sub;
  const length = end - v;
  switch (sub.type) {
    case ItemType.MaximumLength:
      // PS3.8 Table D.1-1, bytes 5-8: Maximum-length-received
      expectLength(r, sub, 4);
      info.maxPduLength ??= r.u32("maximum length received", v, end);
      return;
    case ItemType.ImplementationClassUid:
      // PS3.7 Table D.3-1, bytes 5-xxx: Implementation-class-uid
      info.implementationClassUid ??= r.uid("implementation class UID", v, length, end);
      return;
    case ItemType.AsynchronousOperationsWindow: {
      // PS3.7 Table D.3-7, bytes 5-6: Maximum-number-operations-invoked; 7-8: -performed
      expectLength(r, sub, 4);
      const maxOperationsInvoked = r.u16("maximum number of operations invoked", v, end);
      const maxOperationsPerformed = r.u16("maximum number of operations performed", v + 2, end);
      info.asynchronousOperationsWindow ??= { maxOperationsInvoked, maxOperationsPerformed };
      return;
    }
    case ItemType.ScpScuRoleSelection: {
      // PS3.7 Table D.3-9, bytes 5-6: UID-length; 7-xxx: SOP-class-uid
      const uidLength = r.u16("role selection UID length", v, end);
      const sopClassUid = r.uid("role selection SOP class UID", v + 2, uidLength, end);
      // PS3.7 Table D.3-9, byte xxx+1: SCU-role; byte xxx+2: SCP-role
      const scu = r.u8("SCU role", v + 2 + uidLength, end);
      const scp = r.u8("SCP role", v + 3 + uidLength, end);
      if (v + 4 + uidLength !== end) {
        throw r.error(
          `SCP/SCU role selection sub-item at offset ${sub.start} declares length ${length}, ` +
            `expected ${4 + uidLength}`,
        );
      }
      if (scu > 1 || scp > 1) {
        throw r.error(
          `SCP/SCU role selection sub-item at offset ${sub.start} has a role value other than 0 or 1`,
        );
      }
      info.roleSelections.push({ sopClassUid, scuRole: scu === 1, scpRole: scp === 1 });
      return;
    }
    case ItemType.ImplementationVersionName:
      // PS3.7 Table D.3-3, bytes 5-xxx: Implementation-version-name
      info.implementationVersionName ??= r.text("implementation version name", v, length, end);
      return;
    case ItemType.SopClassExtendedNegotiation: {
      // PS3.7 Table D.3-11, bytes 5-6: SOP-class-uid-length; 7-xxx: SOP-class-uid
      const uidLength = r.u16("extended negotiation UID length", v, end);
      const sopClassUid = r.uid("extended negotiation SOP class UID", v + 2, uidLength, end);
      // PS3.7 Table D.3-11, bytes xxx-xxx: Service-class-application-information
      const infoStart = v + 2 + uidLength;
      const serviceClassApplicationInformation = r.copy(
        "service class application information",
        infoStart,
        end - infoStart,
        end,
      );
      info.sopClassExtendedNegotiations.push({ sopClassUid, serviceClassApplicationInformation });
      return;
    }
    case ItemType.SopClassCommonExtendedNegotiation: {
      // PS3.7 Table D.3-12, bytes 5-6: SOP-class-uid-length; 7-x: SOP-class-uid
      const uidLength = r.u16("common extended negotiation SOP class UID length", v, end);
      const sopClassUid = r.uid("common extended negotiation SOP class UID", v + 2, uidLength, end);
      let o = v + 2 + uidLength;
      // PS3.7 Table D.3-12, bytes (x+1)-(x+2): Service-class-uid-length; (x+3)-y: Service-class-uid
      const serviceLength = r.u16("service class UID length", o, end);
      const serviceClassUid = r.uid("service class UID", o + 2, serviceLength, end);
      o += 2 + serviceLength;
      // PS3.7 Table D.3-12, bytes (y+1)-(y+2): Related-general-sop-class-identification-length
      const relatedLength = r.u16("related general SOP class identification length", o, end);
      o += 2;
      const relatedEnd = o + relatedLength;
      r.need("related general SOP class identification", o, relatedLength, end);
      const relatedGeneralSopClassUids: string[] = [];
      // PS3.7 Table D.3-13, bytes 1-2: Related-general-sop-class-uid-length; 3-n: the UID
      while (o < relatedEnd) {
        const n = r.u16("related general SOP class UID length", o, relatedEnd);
        relatedGeneralSopClassUids.push(r.uid("related general SOP class UID", o + 2, n, relatedEnd));
        o += 2 + n;
      }
      // Bytes after the related general SOP classes are reserved and not tested.
      info.sopClassCommonExtendedNegotiations.push({
        sopClassUid,
        serviceClassUid,
        relatedGeneralSopClassUids,
      });
      return;
    }
    case ItemType.UserIdentityRq: {
      // PS3.7 Table D.3-14, byte 5: User-Identity-Type; byte 6: Positive-response-requested
      const identityType = r.u8("user identity type", v, end);
      const positive = r.u8("positive response requested", v + 1, end);
      // PS3.7 Table D.3-14, bytes 7-8: Primary-field-length; 9-n: Primary-field
      const primaryLength = r.u16("primary field length", v + 2, end);
      const primaryField = r.copy("primary field", v + 4, primaryLength, end);
      // PS3.7 Table D.3-14, bytes (n+1)-(n+2): Secondary-field-length; (n+3)-m: Secondary-field
      const s = v + 4 + primaryLength;
      const secondaryLength = r.u16("secondary field length", s, end);
      const secondaryField = r.copy("secondary field", s + 2, secondaryLength, end);
      if (s + 2 + secondaryLength !== end) {
        throw r.error(
          `user identity sub-item at offset ${sub.start} declares length ${length}, ` +
            `expected ${6 + primaryLength + secondaryLength}`,
        );
      }
      info.userIdentityRq ??= {
        identityType,
        positiveResponseRequested: positive === 1,
        primaryField,
        secondaryField,
      };
      return;
    }
    case ItemType.UserIdentityAc: {
      // PS3.7 Table D.3-15, bytes 5-6: Server-response-length; 7-n: Server-response
      const responseLength = r.u16("server response length", v, end);
      const serverResponse = r.copy("server response", v + 2, responseLength, end);
      if (v + 2 + responseLength !== end) {
        throw r.error(
          `user identity sub-item at offset ${sub.start} declares length ${length}, expected ${
            2 + responseLength
          }`,
        );
      }
      info.userIdentityAc ??= { serverResponse };
      return;
    }
    default:
      // PS3.7 D.3.3: sub-items this implementation does not know are kept and otherwise ignored.
      info.unknownItems.push({ itemType: sub.type, data: r.copy("unknown sub-item", v, length, end) });
  }
}

function decodeUserInformation(r: Reader, item: ItemSpan): UserInformation {
  const info = emptyUserInformation();
  // PS3.8 Table 9-16, bytes 5-xxx: User-data sub-items
  for (const sub of items(r, "the user information item", item.valueStart, item.end)) {
    // Known PDU-level items (0x10-0x50) cannot nest here; unknown sub-item types are kept.
    if (sub.type <= ItemType.UserInformation && ITEM_NAMES[sub.type] !== undefined) {
      throw unexpectedItem(r, sub, "the user information item");
    }
    decodeUserInformationSubItem(r, sub, info);
  }
  return info;
}

/** PS3.8 Tables 9-11 (RQ) and 9-17 (AC): identical fixed fields, different presentation items. */
function decodeAssociate(
  r: Reader,
  bytes: Uint8Array,
  type: "A-ASSOCIATE-RQ" | "A-ASSOCIATE-AC",
): AssociateRq | AssociateAc {
  const end = bytes.length;
  r.need("fixed fields (bytes 7-74)", PDU_HEADER_LENGTH, ASSOCIATE_FIXED_LENGTH, end);
  // PS3.8 Table 9-11, bytes 7-8: Protocol-version (bit 0 = version 1)
  const protocolVersion = r.u16("protocol version", 6, end);
  // PS3.8 Table 9-11, bytes 9-10: reserved (not tested)
  // PS3.8 Table 9-11, bytes 11-26: Called-AE-title (Table 9-17: echoed, not tested)
  const calledAeTitle = r.aeTitle("called AE title", 10, end);
  // PS3.8 Table 9-11, bytes 27-42: Calling-AE-title (Table 9-17: echoed, not tested)
  const callingAeTitle = r.aeTitle("calling AE title", 26, end);
  // PS3.8 Table 9-11, bytes 43-74: reserved (not tested)
  // PS3.8 Table 9-11, bytes 75-xxx: one application context item, presentation context items,
  // one user information item
  const isRq = type === "A-ASSOCIATE-RQ";
  const contextType = isRq ? ItemType.PresentationContextRq : ItemType.PresentationContextAc;
  let applicationContextName: string | undefined;
  let userInformation: UserInformation | undefined;
  const rqContexts: PresentationContextRq[] = [];
  const acContexts: PresentationContextAc[] = [];
  for (const item of items(r, "the variable items", PDU_HEADER_LENGTH + ASSOCIATE_FIXED_LENGTH, end)) {
    if (item.type === ItemType.ApplicationContext) {
      if (applicationContextName !== undefined) {
        throw r.error(
          `second application context item at offset ${item.start}`,
          AbortReason.UnexpectedPduParameter,
        );
      }
      // PS3.8 Table 9-12, bytes 5-xxx: Application-context-name
      applicationContextName = r.uid(
        "application context name",
        item.valueStart,
        item.end - item.valueStart,
        item.end,
      );
    } else if (item.type === contextType) {
      if (isRq) rqContexts.push(decodePresentationContextRq(r, item));
      else acContexts.push(decodePresentationContextAc(r, item));
    } else if (item.type === ItemType.UserInformation) {
      if (userInformation !== undefined) {
        throw r.error(
          `second user information item at offset ${item.start}`,
          AbortReason.UnexpectedPduParameter,
        );
      }
      userInformation = decodeUserInformation(r, item);
    } else {
      throw unexpectedItem(r, item, "the variable items");
    }
  }
  if (applicationContextName === undefined) {
    throw r.error("no application context item");
  }
  // A missing user information item is tolerated (old peers); it then carries nothing.
  const common = {
    protocolVersion,
    calledAeTitle,
    callingAeTitle,
    applicationContextName,
    userInformation: userInformation ?? emptyUserInformation(),
  };
  return isRq
    ? { type: "A-ASSOCIATE-RQ", ...common, presentationContexts: rqContexts }
    : { type: "A-ASSOCIATE-AC", ...common, presentationContexts: acContexts };
}

function decodeAssociateRj(r: Reader, bytes: Uint8Array): AssociateRj {
  const end = bytes.length;
  // PS3.8 Table 9-21, byte 7: reserved; byte 8: Result; byte 9: Source; byte 10: Reason/Diag.
  const result = r.u8("result", 7, end);
  const source = r.u8("source", 8, end);
  const reason = r.u8("reason/diagnostic", 9, end);
  return { type: "A-ASSOCIATE-RJ", result, source, reason };
}

function decodePDataTf(r: Reader, bytes: Uint8Array): PDataTf {
  const end = bytes.length;
  const pdvs: Pdv[] = [];
  // PS3.8 Table 9-22, bytes 7-xxx: one or more Presentation-data-value items
  let offset = PDU_HEADER_LENGTH;
  while (offset < end) {
    // PS3.8 Table 9-23, bytes 1-4: Item-length (from byte 5 to the end of the PDV)
    const length = r.u32("presentation data value item length", offset, end);
    if (length < 2) {
      throw r.error(
        `presentation data value item at offset ${offset} declares length ${length}, ` +
          `less than the 2 bytes of context ID and message control header`,
      );
    }
    if (offset + 4 + length > end) {
      throw r.error(
        `presentation data value item at offset ${offset} declares length ${length} but only ` +
          `${end - offset - 4} bytes remain`,
      );
    }
    // PS3.8 Table 9-23, byte 5: Presentation-context-ID
    const presentationContextId = r.u8("presentation context ID", offset + 4, end);
    // PS3.8 Annex E.2, byte 6: message control header (bit 0 command, bit 1 last fragment)
    const header = r.u8("message control header", offset + 5, end);
    // PS3.8 Table 9-23, bytes 7-xxx: the fragment itself, viewed, not copied
    const data = r.view("presentation data value", offset + 6, length - 2, end);
    pdvs.push({
      presentationContextId,
      isCommand: (header & 0x01) !== 0,
      isLast: (header & 0x02) !== 0,
      data,
    });
    offset += 4 + length;
  }
  if (pdvs.length === 0) throw r.error("no presentation data value item");
  return { type: "P-DATA-TF", pdvs };
}

function decodeAbort(r: Reader, bytes: Uint8Array): Abort {
  const end = bytes.length;
  // PS3.8 Table 9-26, bytes 7-8: reserved; byte 9: Source; byte 10: Reason/Diag.
  const source = r.u8("source", 8, end);
  const reason = r.u8("reason/diagnostic", 9, end);
  return { type: "A-ABORT", source, reason };
}

/**
 * Decodes one whole PDU (its 6-byte header included) into a {@linkcode Pdu}.
 *
 * P-DATA-TF fragments are views into `bytes` (no copy): keep `bytes` unchanged while they are used.
 * Every other decoded value is a copy.
 *
 * @throws {PduError} when the bytes are not a valid PDU; `abortReason` is the A-ABORT reason to send
 * (1 unrecognized PDU, 4 unrecognized parameter, 5 unexpected parameter, 6 invalid value).
 */
export function decodePdu(bytes: Uint8Array): Pdu {
  if (bytes.length < PDU_HEADER_LENGTH) {
    throw new PduError(
      `Cannot decode PDU: need the 6-byte PDU header but got ${bytes.length} byte${
        bytes.length === 1 ? "" : "s"
      }`,
    );
  }
  // PS3.8 Table 9-11 (and every PDU), byte 1: PDU-type
  const type = bytes[0]!;
  const name = PDU_NAMES[type];
  if (name === undefined) {
    throw new PduError(
      `Cannot decode PDU: unrecognized PDU type ${hex2(type)} at offset 0`,
      AbortReason.UnrecognizedPdu,
    );
  }
  const r = new Reader(bytes, name);
  // Byte 2: reserved (not tested). Bytes 3-6: PDU-length, the bytes after this field
  const length = r.u32("PDU length", 2, bytes.length);
  if (length !== bytes.length - PDU_HEADER_LENGTH) {
    throw r.error(
      `PDU length at offset 2 declares ${length} bytes but ${bytes.length - PDU_HEADER_LENGTH} follow`,
    );
  }
  switch (type) {
    case PduType.AssociateRq:
      return decodeAssociate(r, bytes, "A-ASSOCIATE-RQ");
    case PduType.AssociateAc:
      return decodeAssociate(r, bytes, "A-ASSOCIATE-AC");
    case PduType.AssociateRj:
      expectPduLength(r, length, 4);
      return decodeAssociateRj(r, bytes);
    case PduType.PDataTf:
      return decodePDataTf(r, bytes);
    case PduType.ReleaseRq:
      // PS3.8 Table 9-24, bytes 7-10: reserved (not tested)
      expectPduLength(r, length, 4);
      return { type: "A-RELEASE-RQ" };
    case PduType.ReleaseRp:
      // PS3.8 Table 9-25, bytes 7-10: reserved (not tested)
      expectPduLength(r, length, 4);
      return { type: "A-RELEASE-RP" };
    default:
      expectPduLength(r, length, 4);
      return decodeAbort(r, bytes);
  }
}

function expectPduLength(r: Reader, length: number, expected: number): void {
  if (length !== expected) {
    throw r.error(`PDU length at offset 2 is ${length}, expected ${expected}`);
  }
}
