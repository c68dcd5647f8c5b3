/**
 * Random PDUs for property tests: every PDU type, every item and sub-item, within the value space
 * that encodes and decodes to itself (AE titles without leading/trailing spaces, UIDs without
 * trailing NULs, accepted contexts with a transfer syntax).
 * @module
 */
import type { Random } from "./fixtures.ts";
import type {
  Pdu,
  Pdv,
  PresentationContextAc,
  PresentationContextResult,
  PresentationContextRq,
  UserInformation,
} from "../../src/ul/pdu.ts";

function aeTitle(r: Random): string {
  if (r.int(0, 9) === 0) return "";
  const text = r.text(1, 16);
  if (text.length < 3 || r.bool()) return text;
  const at = r.int(1, text.length - 2);
  return text.slice(0, at) + " " + text.slice(at + 1); // an interior space is significant
}

/** Mostly valid UIDs; sometimes arbitrary Latin-1 text (the codec must carry any bytes). */
function uid(r: Random): string {
  if (r.int(0, 7) > 0) return r.uid();
  const length = r.int(0, 70);
  let s = "";
  for (let i = 0; i < length; i++) s += String.fromCharCode(r.int(0, 255));
  return s.replace(/\0+$/, "");
}

function list<T>(r: Random, max: number, make: () => T): T[] {
  return Array.from({ length: r.int(0, max) }, make);
}

function userInformation(r: Random): UserInformation {
  const info: UserInformation = {
    roleSelections: list(r, 3, () => ({ sopClassUid: uid(r), scuRole: r.bool(), scpRole: r.bool() })),
    sopClassExtendedNegotiations: list(r, 2, () => ({
      sopClassUid: uid(r),
      serviceClassApplicationInformation: r.bytes(r.int(0, 8)),
    })),
    sopClassCommonExtendedNegotiations: list(r, 2, () => ({
      sopClassUid: uid(r),
      serviceClassUid: uid(r),
      relatedGeneralSopClassUids: list(r, 3, () => uid(r)),
    })),
    unknownItems: list(r, 2, () => ({
      itemType: r.bool() ? r.int(0x5a, 0xff) : r.int(0x00, 0x0f),
      data: r.bytes(r.int(0, 12)),
    })),
  };
  if (r.bool()) info.maxPduLength = r.pick([0, 16384, 65536, r.int(0, 0xffffffff)]);
  if (r.bool()) info.implementationClassUid = uid(r);
  if (r.bool()) info.implementationVersionName = r.text(0, 16);
  if (r.bool()) {
    info.asynchronousOperationsWindow = {
      maxOperationsInvoked: r.int(0, 0xffff),
      maxOperationsPerformed: r.int(0, 0xffff),
    };
  }
  if (r.bool()) {
    info.userIdentityRq = {
      identityType: r.int(0, 255),
      positiveResponseRequested: r.bool(),
      primaryField: r.bytes(r.int(0, 40)),
      secondaryField: r.bytes(r.int(0, 20)),
    };
  }
  if (r.int(0, 3) === 0) info.userIdentityAc = { serverResponse: r.bytes(r.int(0, 30)) };
  return info;
}

function contextRq(r: Random): PresentationContextRq {
  return { id: r.int(0, 255), abstractSyntax: uid(r), transferSyntaxes: list(r, 4, () => uid(r)) };
}

function contextAc(r: Random): PresentationContextAc {
  const result = r.int(0, 4) as PresentationContextResult;
  const transferSyntax = result === 0 || r.bool() ? uid(r) || "1.2" : "";
  return { id: r.int(0, 255), result, transferSyntax };
}

function pdv(r: Random): Pdv {
  return {
    presentationContextId: r.int(0, 255),
    isCommand: r.bool(),
    isLast: r.bool(),
    data: r.bytes(r.int(0, 64)),
  };
}

/** A random PDU of a random type. */
export function randomPdu(r: Random): Pdu {
  const common = () => ({
    protocolVersion: r.pick([1, 1, 3, r.int(0, 0xffff)]),
    calledAeTitle: aeTitle(r),
    callingAeTitle: aeTitle(r),
    applicationContextName: uid(r),
    userInformation: userInformation(r),
  });
  switch (r.int(0, 6)) {
    case 0:
      return { type: "A-ASSOCIATE-RQ", ...common(), presentationContexts: list(r, 5, () => contextRq(r)) };
    case 1:
      return { type: "A-ASSOCIATE-AC", ...common(), presentationContexts: list(r, 5, () => contextAc(r)) };
    case 2:
      return { type: "A-ASSOCIATE-RJ", result: r.int(0, 255), source: r.int(0, 255), reason: r.int(0, 255) };
    case 3:
      return { type: "P-DATA-TF", pdvs: Array.from({ length: r.int(1, 4) }, () => pdv(r)) };
    case 4:
      return { type: "A-RELEASE-RQ" };
    case 5:
      return { type: "A-RELEASE-RP" };
    default:
      return { type: "A-ABORT", source: r.int(0, 255), reason: r.int(0, 255) };
  }
}
