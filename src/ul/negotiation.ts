/**
 * Association negotiation for the acceptor (PS3.8 §7.1.1, §9.3.2–9.3.4; PS3.7 Annex D.3.3): a pure
 * function from an A-ASSOCIATE-RQ and the local policy to an A-ASSOCIATE-AC (with the accepted
 * presentation contexts) or an A-ASSOCIATE-RJ (with a plain-words reason for the log). No I/O.
 *
 * Choices made here, beyond what PS3.8 fixes:
 * - Presentation contexts with an even ID (PS3.8 §9.3.2.2 requires odd IDs 1-255), and every
 *   context sharing an ID with another, get result 2 "no-reason (provider rejection)": the ID is
 *   malformed at the Upper Layer, which is the provider's concern, not a user policy (1), and the
 *   AC still answers each proposed item once, as PS3.8 §9.3.3.2 expects. Neither DCMTK nor
 *   pynetdicom specifies this case; they would accept or crash.
 * - Rejected contexts carry, as their (not significant) transfer syntax, the first one proposed.
 * - User identity (PS3.7 D.3.3.7) is never answered: the gateway does not verify identities, and
 *   PS3.7 lets the acceptor omit the response, even when a positive response was requested; the
 *   requestor then decides whether to go on.
 * - SOP class extended and common extended negotiation are not answered (PS3.7 D.3.3.5/D.3.3.6:
 *   no reply means "not supported"). The asynchronous operations window is not answered either,
 *   which PS3.7 D.3.3.3 defines as the default, one operation at a time.
 * @module
 */
import {
  type AssociateAc,
  type AssociateRj,
  type AssociateRq,
  DICOM_APPLICATION_CONTEXT,
  emptyUserInformation,
  type PresentationContextAc,
  PresentationContextResult,
  type PresentationContextRq,
  RejectReason,
  RejectResult,
  RejectSource,
  type RoleSelection,
} from "./pdu.ts";
import {
  isValidUid,
  NON_STORAGE_SOP_CLASSES,
  transferSyntaxPreference,
  VERIFICATION_SOP_CLASS,
} from "../dicom/uids.ts";
import { addressAllowed } from "../net/ip.ts";

/** The local rules an association request is checked against. */
export interface AssociationPolicy {
  /** Our AE title. */
  aeTitle: string;
  /** Calling AE titles allowed to associate; empty allows any (compared trimmed, case-sensitive). */
  allowedCallingAeTitles: string[];
  /** Peer addresses or CIDR ranges allowed to associate; empty allows any. */
  allowedAddresses: string[];
  /** Whether the called AE title must equal `aeTitle`. */
  requireCalledAeTitle: boolean;
  /** Associations open at once; a request beyond this is rejected transiently. */
  maxAssociations: number;
  /**
   * Associations open at once from one host (remote IP address); a request beyond this is
   * rejected transiently, so one address cannot take the whole `maxAssociations`. Absent: no cap.
   */
  maxAssociationsPerHost?: number;
  /** Our Maximum Length Received (PS3.8 D.1.1), sent in the AC. */
  maxPduLength: number;
  /** Our Implementation Class UID (PS3.7 D.3.3.2), sent in the AC. */
  implementationClassUid: string;
  /** Our Implementation Version Name (PS3.7 D.3.3.2), sent in the AC unless empty. */
  implementationVersionName: string;
}

/** Facts about the request that are not in the PDU. */
export interface AssociationRequestContext {
  /** The peer's IP address as the socket reports it. */
  peerAddress: string;
  /** Other associations currently open, not counting this one. */
  activeAssociations: number;
  /** Other associations currently open from the same host (`peerAddress`). Default 0. */
  hostAssociations?: number;
}

/** One accepted presentation context. */
export interface AcceptedContext {
  id: number;
  abstractSyntax: string;
  transferSyntax: string;
}

/** The outcome of {@linkcode negotiate}. */
export type NegotiationResult =
  | {
    kind: "accept";
    ac: AssociateAc;
    contexts: Map<number, AcceptedContext>;
    /** The peer's Maximum Length Received; 0 = unlimited. */
    peerMaxPduLength: number;
  }
  | {
    kind: "reject";
    rj: AssociateRj;
    /** Plain words for the log. */
    reason: string;
  };

function reject(result: number, source: number, reason: number, words: string): NegotiationResult {
  return { kind: "reject", rj: { type: "A-ASSOCIATE-RJ", result, source, reason }, reason: words };
}

/** The first reason, in PS3.8 order of checks, to refuse the whole association; undefined if none. */
function associationRejection(
  rq: AssociateRq,
  policy: AssociationPolicy,
  context: AssociationRequestContext,
): NegotiationResult | undefined {
  // PS3.8 Table 9-11, bytes 7-8: "A receiver ... shall only test that bit 0 is set."
  if ((rq.protocolVersion & 0x0001) === 0) {
    return reject(
      RejectResult.Permanent,
      RejectSource.ServiceProviderAcse,
      RejectReason.ProtocolVersionNotSupported,
      `protocol version 0x${rq.protocolVersion.toString(16).padStart(4, "0")} does not include version 1`,
    );
  }
  if (rq.applicationContextName !== DICOM_APPLICATION_CONTEXT) {
    return reject(
      RejectResult.Permanent,
      RejectSource.ServiceUser,
      RejectReason.ApplicationContextNameNotSupported,
      `application context ${rq.applicationContextName} is not DICOM's (${DICOM_APPLICATION_CONTEXT})`,
    );
  }
  if (!addressAllowed(context.peerAddress, policy.allowedAddresses)) {
    return reject(
      RejectResult.Permanent,
      RejectSource.ServiceUser,
      RejectReason.NoReasonGiven,
      `peer address ${context.peerAddress} is not in the allowed addresses`,
    );
  }
  const calling = rq.callingAeTitle.trim();
  if (
    policy.allowedCallingAeTitles.length > 0 &&
    !policy.allowedCallingAeTitles.some((title) => title.trim() === calling)
  ) {
    return reject(
      RejectResult.Permanent,
      RejectSource.ServiceUser,
      RejectReason.CallingAeTitleNotRecognized,
      `calling AE title "${calling}" is not in the allowed calling AE titles`,
    );
  }
  if (policy.requireCalledAeTitle && rq.calledAeTitle.trim() !== policy.aeTitle.trim()) {
    return reject(
      RejectResult.Permanent,
      RejectSource.ServiceUser,
      RejectReason.CalledAeTitleNotRecognized,
      `called AE title "${rq.calledAeTitle.trim()}" is not ours ("${policy.aeTitle.trim()}")`,
    );
  }
  if (context.activeAssociations >= policy.maxAssociations) {
    return reject(
      RejectResult.Transient,
      RejectSource.ServiceProviderPresentation,
      RejectReason.LocalLimitExceeded,
      `${context.activeAssociations} associations already open (limit ${policy.maxAssociations})`,
    );
  }
  const fromHost = context.hostAssociations ?? 0;
  if (policy.maxAssociationsPerHost !== undefined && fromHost >= policy.maxAssociationsPerHost) {
    // PS3.8 Table 9-21: result 2 rejected-transient, source 3 "DICOM UL service-provider
    // (Presentation related function)", reason 2 "local-limit-exceeded".
    return reject(
      RejectResult.Transient,
      RejectSource.ServiceProviderPresentation,
      RejectReason.LocalLimitExceeded,
      `${fromHost} associations already open from ${context.peerAddress} (limit ${policy.maxAssociationsPerHost} per host)`,
    );
  }
  return undefined;
}

/**
 * The transfer syntax to accept among those proposed, or undefined when none is known: the best
 * by `transferSyntaxPreference` (dicom/uids.ts), the peer's order breaking ties. Lossless
 * encapsulated syntaxes first, a lossy one only when nothing lossless is proposed.
 */
export function chooseTransferSyntax(
  abstractSyntax: string,
  proposed: readonly string[],
): string | undefined {
  const verification = abstractSyntax === VERIFICATION_SOP_CLASS;
  let best: string | undefined;
  let bestRank = Infinity;
  for (const uid of proposed) {
    const r = transferSyntaxPreference(uid, verification);
    if (r !== undefined && r < bestRank) {
      best = uid;
      bestRank = r;
    }
  }
  return best;
}

/** Whether the gateway may accept this abstract syntax (Verification, storage, unknown/private). */
function abstractSyntaxSupported(uid: string): boolean {
  return isValidUid(uid) && !NON_STORAGE_SOP_CLASSES.has(uid);
}

/** The AC result for each proposed presentation context, in the order proposed. */
function negotiateContexts(
  proposed: readonly PresentationContextRq[],
): { results: PresentationContextAc[]; accepted: Map<number, AcceptedContext> } {
  const counts = new Map<number, number>();
  for (const pc of proposed) counts.set(pc.id, (counts.get(pc.id) ?? 0) + 1);
  const results: PresentationContextAc[] = [];
  const accepted = new Map<number, AcceptedContext>();
  for (const pc of proposed) {
    const placeholder = pc.transferSyntaxes[0] ?? "";
    const refuse = (result: PresentationContextResult) =>
      results.push({ id: pc.id, result, transferSyntax: placeholder });
    if (pc.id % 2 === 0 || counts.get(pc.id)! > 1) {
      refuse(PresentationContextResult.NoReason);
    } else if (!abstractSyntaxSupported(pc.abstractSyntax)) {
      refuse(PresentationContextResult.AbstractSyntaxNotSupported);
    } else {
      const transferSyntax = chooseTransferSyntax(pc.abstractSyntax, pc.transferSyntaxes);
      if (transferSyntax === undefined) {
        refuse(PresentationContextResult.TransferSyntaxesNotSupported);
      } else {
        results.push({ id: pc.id, result: PresentationContextResult.Acceptance, transferSyntax });
        accepted.set(pc.id, { id: pc.id, abstractSyntax: pc.abstractSyntax, transferSyntax });
      }
    }
  }
  return { results, accepted };
}

/**
 * PS3.7 D.3.3.4: answer each proposed role selection whose SOP class has an accepted context. The
 * requestor keeps the SCU role it proposed; it may never be the SCP (we only receive).
 */
function roleReplies(
  proposed: readonly RoleSelection[],
  accepted: Map<number, AcceptedContext>,
): RoleSelection[] {
  const acceptedSopClasses = new Set([...accepted.values()].map((c) => c.abstractSyntax));
  const seen = new Set<string>();
  const replies: RoleSelection[] = [];
  for (const role of proposed) {
    if (!acceptedSopClasses.has(role.sopClassUid) || seen.has(role.sopClassUid)) continue;
    seen.add(role.sopClassUid);
    replies.push({ sopClassUid: role.sopClassUid, scuRole: role.scuRole, scpRole: false });
  }
  return replies;
}

/**
 * Decides an association request: an A-ASSOCIATE-RJ for the first failed check (protocol version,
 * application context, peer address, calling AE title, called AE title, association limit), else
 * an A-ASSOCIATE-AC. Any calling AE title is accepted when the allow list is empty. The
 * association is accepted even when no presentation context is: the peer then decides.
 */
export function negotiate(
  rq: AssociateRq,
  policy: AssociationPolicy,
  context: AssociationRequestContext,
): NegotiationResult {
  const rejection = associationRejection(rq, policy, context);
  if (rejection !== undefined) return rejection;
  const { results, accepted } = negotiateContexts(rq.presentationContexts);
  const userInformation = emptyUserInformation();
  userInformation.maxPduLength = policy.maxPduLength;
  userInformation.implementationClassUid = policy.implementationClassUid;
  if (policy.implementationVersionName !== "") {
    userInformation.implementationVersionName = policy.implementationVersionName;
  }
  userInformation.roleSelections = roleReplies(rq.userInformation.roleSelections, accepted);
  const ac: AssociateAc = {
    type: "A-ASSOCIATE-AC",
    protocolVersion: 1,
    calledAeTitle: rq.calledAeTitle,
    callingAeTitle: rq.callingAeTitle,
    applicationContextName: rq.applicationContextName,
    presentationContexts: results,
    userInformation,
  };
  return { kind: "accept", ac, contexts: accepted, peerMaxPduLength: rq.userInformation.maxPduLength ?? 0 };
}
