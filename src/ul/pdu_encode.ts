/**
 * Encoding of DICOM Upper Layer PDUs (PS3.8 §9.3) and their items. The inverse of
 * `pdu_decode.ts`: `decodePdu(encodePdu(pdu))` equals `pdu`.
 *
 * UIDs in Upper Layer items are written without padding: PS3.5 §9.1 pads an odd-length UID with
 * a trailing NUL "except when used for network negotiation (see PS3.8)". AE titles are written
 * as 16 bytes, space padded (PS3.8 Table 9-11, bytes 11-42).
 *
 * Values that cannot be encoded (an AE title over 16 characters, an item over 65535 bytes, a
 * character outside ISO 646/Latin-1, a number out of range) are programming errors and throw
 * `RangeError`.
 * @module
 */
import { concatBytes } from "../bytes.ts";
import {
  type Abort,
  type AssociateAc,
  type AssociateRj,
  type AssociateRq,
  ItemType,
  type Pdu,
  PduType,
  type Pdv,
  type PresentationContextAc,
  type PresentationContextRq,
  type UserInformation,
} from "./pdu.ts";

function checkInt(what: string, value: number, max: number): number {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`Cannot encode ${what}: ${value} is not an integer from 0 to ${max}`);
  }
  return value;
}

function u16(what: string, value: number): Uint8Array {
  checkInt(what, value, 0xffff);
  return Uint8Array.of(value >> 8, value & 0xff);
}

function u32(what: string, value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, checkInt(what, value, 0xffffffff), false);
  return out;
}

/** Text as one byte per character (ISO 646 / Latin-1), the inverse of the decoder's reading. */
function latin1(what: string, text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0xff) {
      throw new RangeError(
        `Cannot encode ${what}: character U+${code.toString(16).padStart(4, "0")} is not ISO 646`,
      );
    }
    out[i] = code;
  }
  return out;
}

/** PS3.8 Table 9-11, bytes 11-42: an AE title as 16 bytes, padded with trailing spaces. */
function aeTitle(what: string, title: string): Uint8Array {
  if (title.length > 16) {
    throw new RangeError(`Cannot encode ${what}: "${title}" is longer than 16 characters`);
  }
  return latin1(what, title.padEnd(16, " "));
}

/** An item or sub-item: type (1), reserved 00H (1), item-length (2), value (PS3.8 §9.3.2). */
function item(type: number, what: string, value: Uint8Array): Uint8Array {
  if (value.length > 0xffff) {
    throw new RangeError(`Cannot encode ${what}: ${value.length} bytes exceed the 65535-byte item length`);
  }
  return concatBytes([Uint8Array.of(type, 0x00), u16(`${what} length`, value.length), value]);
}

/** A field prefixed with its 2-byte length (role selection, extended negotiation, user identity). */
function lengthPrefixed(what: string, value: Uint8Array): Uint8Array {
  return concatBytes([u16(`${what} length`, value.length), value]);
}

function encodePresentationContextRq(pc: PresentationContextRq): Uint8Array {
  return item(
    ItemType.PresentationContextRq,
    "presentation context item",
    concatBytes([
      // PS3.8 Table 9-13, byte 5: Presentation-context-ID; bytes 6-8: reserved
      Uint8Array.of(checkInt("presentation context ID", pc.id, 0xff), 0, 0, 0),
      // PS3.8 Table 9-14: Abstract Syntax sub-item
      item(ItemType.AbstractSyntax, "abstract syntax sub-item", latin1("abstract syntax", pc.abstractSyntax)),
      // PS3.8 Table 9-15: Transfer Syntax sub-item(s)
      ...pc.transferSyntaxes.map((uid) =>
        item(ItemType.TransferSyntax, "transfer syntax sub-item", latin1("transfer syntax", uid))
      ),
    ]),
  );
}

function encodePresentationContextAc(pc: PresentationContextAc): Uint8Array {
  return item(
    ItemType.PresentationContextAc,
    "presentation context item",
    concatBytes([
      // PS3.8 Table 9-18, byte 5: Presentation-context-ID; byte 6: reserved; byte 7: Result/Reason;
      // byte 8: reserved
      Uint8Array.of(checkInt("presentation context ID", pc.id, 0xff), 0, checkInt("result", pc.result, 4), 0),
      // PS3.8 Table 9-19: Transfer Syntax sub-item; left out for a rejected context that names
      // none (its value is not significant then), always present for an accepted one
      pc.transferSyntax === "" && pc.result !== 0 ? new Uint8Array(0) : item(
        ItemType.TransferSyntax,
        "transfer syntax sub-item",
        latin1("transfer syntax", pc.transferSyntax),
      ),
    ]),
  );
}

/** PS3.8 Table 9-16 and Annex D, PS3.7 Annex D.3.3: the user information item and its sub-items. */
function encodeUserInformation(info: UserInformation): Uint8Array {
  const subs: Uint8Array[] = [];
  if (info.maxPduLength !== undefined) {
    // PS3.8 Table D.1-1, bytes 5-8: Maximum-length-received
    subs.push(
      item(ItemType.MaximumLength, "maximum length sub-item", u32("maximum length", info.maxPduLength)),
    );
  }
  if (info.implementationClassUid !== undefined) {
    // PS3.7 Table D.3-1, bytes 5-xxx: Implementation-class-uid
    subs.push(
      item(
        ItemType.ImplementationClassUid,
        "implementation class UID sub-item",
        latin1("implementation class UID", info.implementationClassUid),
      ),
    );
  }
  if (info.asynchronousOperationsWindow !== undefined) {
    const w = info.asynchronousOperationsWindow;
    // PS3.7 Table D.3-7, bytes 5-6: max operations invoked; bytes 7-8: max operations performed
    subs.push(
      item(
        ItemType.AsynchronousOperationsWindow,
        "asynchronous operations window sub-item",
        concatBytes([
          u16("operations invoked", w.maxOperationsInvoked),
          u16("operations performed", w.maxOperationsPerformed),
        ]),
      ),
    );
  }
  for (const role of info.roleSelections) {
    // PS3.7 Table D.3-9, bytes 5-6: UID-length; 7-xxx: SOP-class-uid; xxx+1: SCU-role; xxx+2: SCP-role
    subs.push(
      item(
        ItemType.ScpScuRoleSelection,
        "SCP/SCU role selection sub-item",
        concatBytes([
          lengthPrefixed("role selection UID", latin1("role selection SOP class UID", role.sopClassUid)),
          Uint8Array.of(role.scuRole ? 1 : 0, role.scpRole ? 1 : 0),
        ]),
      ),
    );
  }
  if (info.implementationVersionName !== undefined) {
    // PS3.7 Table D.3-3, bytes 5-xxx: Implementation-version-name
    subs.push(
      item(
        ItemType.ImplementationVersionName,
        "implementation version name sub-item",
        latin1("implementation version name", info.implementationVersionName),
      ),
    );
  }
  for (const ext of info.sopClassExtendedNegotiations) {
    // PS3.7 Table D.3-11, bytes 5-6: SOP-class-uid-length; 7-xxx: SOP-class-uid; then the
    // service-class-application-information to the end of the sub-item
    subs.push(
      item(
        ItemType.SopClassExtendedNegotiation,
        "SOP class extended negotiation sub-item",
        concatBytes([
          lengthPrefixed("extended negotiation SOP class UID", latin1("SOP class UID", ext.sopClassUid)),
          ext.serviceClassApplicationInformation,
        ]),
      ),
    );
  }
  for (const ext of info.sopClassCommonExtendedNegotiations) {
    // PS3.7 Table D.3-13: each related general SOP class is a 2-byte length and a UID
    const related = concatBytes(
      ext.relatedGeneralSopClassUids.map((uid) =>
        lengthPrefixed("related general SOP class UID", latin1("related general SOP class UID", uid))
      ),
    );
    // PS3.7 Table D.3-12: SOP class UID, service class UID, related general SOP class identification,
    // each preceded by its 2-byte length. Byte 2 is the sub-item version, 00H.
    subs.push(
      item(
        ItemType.SopClassCommonExtendedNegotiation,
        "SOP class common extended negotiation sub-item",
        concatBytes([
          lengthPrefixed(
            "common extended negotiation SOP class UID",
            latin1("SOP class UID", ext.sopClassUid),
          ),
          lengthPrefixed("service class UID", latin1("service class UID", ext.serviceClassUid)),
          lengthPrefixed("related general SOP class identification", related),
        ]),
      ),
    );
  }
  if (info.userIdentityRq !== undefined) {
    const id = info.userIdentityRq;
    // PS3.7 Table D.3-14: byte 5 User-Identity-Type; byte 6 Positive-response-requested;
    // primary field and secondary field, each preceded by its 2-byte length
    subs.push(
      item(
        ItemType.UserIdentityRq,
        "user identity sub-item",
        concatBytes([
          Uint8Array.of(
            checkInt("user identity type", id.identityType, 0xff),
            id.positiveResponseRequested ? 1 : 0,
          ),
          lengthPrefixed("primary field", id.primaryField),
          lengthPrefixed("secondary field", id.secondaryField),
        ]),
      ),
    );
  }
  if (info.userIdentityAc !== undefined) {
    // PS3.7 Table D.3-15, bytes 5-6: Server-response-length; 7-n: Server-response
    subs.push(
      item(
        ItemType.UserIdentityAc,
        "user identity sub-item",
        lengthPrefixed("server response", info.userIdentityAc.serverResponse),
      ),
    );
  }
  for (const unknown of info.unknownItems) {
    subs.push(item(checkInt("sub-item type", unknown.itemType, 0xff), "unknown sub-item", unknown.data));
  }
  return item(ItemType.UserInformation, "user information item", concatBytes(subs));
}

/** A PDU: type (1), reserved 00H (1), PDU-length (4), then the body (PS3.8 §9.3.1). */
function pdu(type: number, body: Uint8Array): Uint8Array {
  return concatBytes([Uint8Array.of(type, 0x00), u32("PDU length", body.length), body]);
}

function encodeAssociate(p: AssociateRq | AssociateAc): Uint8Array {
  const contexts = p.type === "A-ASSOCIATE-RQ"
    ? p.presentationContexts.map(encodePresentationContextRq)
    : p.presentationContexts.map(encodePresentationContextAc);
  return pdu(
    p.type === "A-ASSOCIATE-RQ" ? PduType.AssociateRq : PduType.AssociateAc,
    concatBytes([
      // PS3.8 Table 9-11/9-17, bytes 7-8: Protocol-version; bytes 9-10: reserved
      u16("protocol version", p.protocolVersion),
      new Uint8Array(2),
      // bytes 11-26: Called-AE-title; bytes 27-42: Calling-AE-title (the AC echoes the RQ's)
      aeTitle("called AE title", p.calledAeTitle),
      aeTitle("calling AE title", p.callingAeTitle),
      // bytes 43-74: reserved, 00H
      new Uint8Array(32),
      // bytes 75-xxx: application context item (PS3.8 Table 9-12), presentation context items,
      // user information item
      item(
        ItemType.ApplicationContext,
        "application context item",
        latin1("application context", p.applicationContextName),
      ),
      ...contexts,
      encodeUserInformation(p.userInformation),
    ]),
  );
}

function encodeAssociateRj(p: AssociateRj): Uint8Array {
  // PS3.8 Table 9-21, byte 7: reserved; byte 8: Result; byte 9: Source; byte 10: Reason/Diag.
  return pdu(
    PduType.AssociateRj,
    Uint8Array.of(
      0,
      checkInt("result", p.result, 0xff),
      checkInt("source", p.source, 0xff),
      checkInt("reason", p.reason, 0xff),
    ),
  );
}

function encodeAbort(p: Abort): Uint8Array {
  // PS3.8 Table 9-26, bytes 7-8: reserved; byte 9: Source; byte 10: Reason/Diag.
  return pdu(
    PduType.Abort,
    Uint8Array.of(0, 0, checkInt("source", p.source, 0xff), checkInt("reason", p.reason, 0xff)),
  );
}

/** PS3.8 Annex E.2: the message control header; bit 0 command, bit 1 last fragment. */
function messageControlHeader(pdv: { isCommand: boolean; isLast: boolean }): number {
  return (pdv.isCommand ? 0x01 : 0) | (pdv.isLast ? 0x02 : 0);
}

/**
 * The first 12 bytes of a P-DATA-TF PDU that carries one PDV of `dataLength` bytes: PDU header,
 * PDV item length, presentation context ID and message control header. Write these bytes and then
 * the fragment itself to send a large fragment without copying it into a new buffer.
 */
export function encodePDataTfHeader(
  dataLength: number,
  pdv: { presentationContextId: number; isCommand: boolean; isLast: boolean },
): Uint8Array {
  checkInt("PDV data length", dataLength, 0xffffffff - 8);
  const out = new Uint8Array(12);
  const view = new DataView(out.buffer);
  // PS3.8 Table 9-22, byte 1: PDU-type 04H; byte 2: reserved; bytes 3-6: PDU-length
  out[0] = PduType.PDataTf;
  view.setUint32(2, dataLength + 6, false);
  // PS3.8 Table 9-23, bytes 1-4: Item-length; byte 5: Presentation-context-ID
  view.setUint32(6, dataLength + 2, false);
  out[10] = checkInt("presentation context ID", pdv.presentationContextId, 0xff);
  // PS3.8 Annex E.2: message control header
  out[11] = messageControlHeader(pdv);
  return out;
}

/** A P-DATA-TF PDU (PS3.8 Table 9-22) carrying `pdvs` in order. */
export function encodePDataTf(pdvs: readonly Pdv[]): Uint8Array {
  let length = 0;
  for (const pdv of pdvs) length += 6 + pdv.data.length;
  checkInt("P-DATA-TF PDU length", length, 0xffffffff);
  const out = new Uint8Array(6 + length);
  const view = new DataView(out.buffer);
  // PS3.8 Table 9-22, byte 1: PDU-type 04H; byte 2: reserved; bytes 3-6: PDU-length
  out[0] = PduType.PDataTf;
  view.setUint32(2, length, false);
  let offset = 6;
  for (const pdv of pdvs) {
    // PS3.8 Table 9-23, bytes 1-4: Item-length; byte 5: Presentation-context-ID;
    // bytes 6-xxx: message control header (Annex E.2) and fragment
    view.setUint32(offset, pdv.data.length + 2, false);
    out[offset + 4] = checkInt("presentation context ID", pdv.presentationContextId, 0xff);
    out[offset + 5] = messageControlHeader(pdv);
    out.set(pdv.data, offset + 6);
    offset += 6 + pdv.data.length;
  }
  return out;
}

/**
 * Encodes any PDU to its bytes, header included.
 * @throws {RangeError} for values that cannot be encoded (see the module documentation).
 */
export function encodePdu(p: Pdu): Uint8Array {
  switch (p.type) {
    case "A-ASSOCIATE-RQ":
    case "A-ASSOCIATE-AC":
      return encodeAssociate(p);
    case "A-ASSOCIATE-RJ":
      return encodeAssociateRj(p);
    case "P-DATA-TF":
      return encodePDataTf(p.pdvs);
    case "A-RELEASE-RQ":
      // PS3.8 Table 9-24, bytes 7-10: reserved, 00000000H
      return pdu(PduType.ReleaseRq, new Uint8Array(4));
    case "A-RELEASE-RP":
      // PS3.8 Table 9-25, bytes 7-10: reserved, 00000000H
      return pdu(PduType.ReleaseRp, new Uint8Array(4));
    case "A-ABORT":
      return encodeAbort(p);
  }
}
