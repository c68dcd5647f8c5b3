/**
 * DICOM Upper Layer PDU and item types (PS3.8 §9.3). Plain values: `pdu_decode.ts` turns
 * bytes into these and `pdu_encode.ts` turns these into bytes.
 * @module
 */

/** PS3.8 §9.3.1 PDU types (first byte of every PDU). */
export const PduType = {
  AssociateRq: 0x01,
  AssociateAc: 0x02,
  AssociateRj: 0x03,
  PDataTf: 0x04,
  ReleaseRq: 0x05,
  ReleaseRp: 0x06,
  Abort: 0x07,
} as const;

/** PS3.8 §9.3.2 / Table 9-11 item types inside A-ASSOCIATE-RQ/AC and user information (Annex D). */
export const ItemType = {
  ApplicationContext: 0x10,
  PresentationContextRq: 0x20,
  PresentationContextAc: 0x21,
  AbstractSyntax: 0x30,
  TransferSyntax: 0x40,
  UserInformation: 0x50,
  MaximumLength: 0x51,
  ImplementationClassUid: 0x52,
  AsynchronousOperationsWindow: 0x53,
  ScpScuRoleSelection: 0x54,
  ImplementationVersionName: 0x55,
  SopClassExtendedNegotiation: 0x56,
  SopClassCommonExtendedNegotiation: 0x57,
  UserIdentityRq: 0x58,
  UserIdentityAc: 0x59,
} as const;

/** The DICOM Application Context Name (PS3.7 Annex A.2.1). */
export const DICOM_APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1";

/** PS3.8 §9.3.3.2 Table 9-18: presentation context result/reason in A-ASSOCIATE-AC. */
export const PresentationContextResult = {
  Acceptance: 0,
  UserRejection: 1,
  NoReason: 2,
  AbstractSyntaxNotSupported: 3,
  TransferSyntaxesNotSupported: 4,
} as const;
export type PresentationContextResult =
  typeof PresentationContextResult[keyof typeof PresentationContextResult];

/** PS3.8 §9.3.4 Table 9-21: A-ASSOCIATE-RJ result. */
export const RejectResult = { Permanent: 1, Transient: 2 } as const;
/** PS3.8 §9.3.4 Table 9-21: A-ASSOCIATE-RJ source. */
export const RejectSource = {
  ServiceUser: 1,
  ServiceProviderAcse: 2,
  ServiceProviderPresentation: 3,
} as const;
/** PS3.8 §9.3.4 Table 9-21: A-ASSOCIATE-RJ reason/diag., per source. */
export const RejectReason = {
  /** source 1 */
  NoReasonGiven: 1,
  ApplicationContextNameNotSupported: 2,
  CallingAeTitleNotRecognized: 3,
  CalledAeTitleNotRecognized: 7,
  /** source 2 */
  AcseNoReasonGiven: 1,
  ProtocolVersionNotSupported: 2,
  /** source 3 */
  TemporaryCongestion: 1,
  LocalLimitExceeded: 2,
} as const;

/** PS3.8 §9.3.8 Table 9-26: A-ABORT source. */
export const AbortSource = { ServiceUser: 0, Reserved: 1, ServiceProvider: 2 } as const;
/** PS3.8 §9.3.8 Table 9-26: A-ABORT reason/diag. (meaningful when source is 2). */
export const AbortReason = {
  NotSpecified: 0,
  UnrecognizedPdu: 1,
  UnexpectedPdu: 2,
  Reserved: 3,
  UnrecognizedPduParameter: 4,
  UnexpectedPduParameter: 5,
  InvalidPduParameterValue: 6,
} as const;

/** Presentation context item of an A-ASSOCIATE-RQ (PS3.8 §9.3.2.2). */
export interface PresentationContextRq {
  id: number;
  abstractSyntax: string;
  transferSyntaxes: string[];
}

/** Presentation context item of an A-ASSOCIATE-AC (PS3.8 §9.3.3.2). */
export interface PresentationContextAc {
  id: number;
  result: PresentationContextResult;
  /** The accepted transfer syntax; PS3.8 says it is not significant unless result is 0. */
  transferSyntax: string;
}

/** SCP/SCU Role Selection sub-item (PS3.7 D.3.3.4). */
export interface RoleSelection {
  sopClassUid: string;
  scuRole: boolean;
  scpRole: boolean;
}

/** SOP Class Extended Negotiation sub-item (PS3.7 D.3.3.5). */
export interface SopClassExtendedNegotiation {
  sopClassUid: string;
  serviceClassApplicationInformation: Uint8Array;
}

/** SOP Class Common Extended Negotiation sub-item (PS3.7 D.3.3.6). */
export interface SopClassCommonExtendedNegotiation {
  sopClassUid: string;
  serviceClassUid: string;
  relatedGeneralSopClassUids: string[];
}

/** User Identity Negotiation sub-item, A-ASSOCIATE-RQ form (PS3.7 D.3.3.7.1). */
export interface UserIdentityRq {
  /** 1 username, 2 username+passcode, 3 Kerberos, 4 SAML, 5 JWT. */
  identityType: number;
  positiveResponseRequested: boolean;
  primaryField: Uint8Array;
  secondaryField: Uint8Array;
}

/** User Identity Negotiation sub-item, A-ASSOCIATE-AC form (PS3.7 D.3.3.7.2). */
export interface UserIdentityAc {
  serverResponse: Uint8Array;
}

/** A user information sub-item we do not interpret, kept as raw bytes. */
export interface UnknownItem {
  itemType: number;
  data: Uint8Array;
}

/** User Information item (PS3.8 §9.3.2.3, PS3.7 Annex D.3.3). */
export interface UserInformation {
  /** Maximum Length Received (PS3.8 D.1.1); 0 means no limit. */
  maxPduLength?: number;
  implementationClassUid?: string;
  implementationVersionName?: string;
  asynchronousOperationsWindow?: { maxOperationsInvoked: number; maxOperationsPerformed: number };
  roleSelections: RoleSelection[];
  sopClassExtendedNegotiations: SopClassExtendedNegotiation[];
  sopClassCommonExtendedNegotiations: SopClassCommonExtendedNegotiation[];
  userIdentityRq?: UserIdentityRq;
  userIdentityAc?: UserIdentityAc;
  unknownItems: UnknownItem[];
}

/** A-ASSOCIATE-RQ PDU (PS3.8 §9.3.2). */
export interface AssociateRq {
  type: "A-ASSOCIATE-RQ";
  protocolVersion: number;
  calledAeTitle: string;
  callingAeTitle: string;
  applicationContextName: string;
  presentationContexts: PresentationContextRq[];
  userInformation: UserInformation;
}

/** A-ASSOCIATE-AC PDU (PS3.8 §9.3.3). */
export interface AssociateAc {
  type: "A-ASSOCIATE-AC";
  protocolVersion: number;
  calledAeTitle: string;
  callingAeTitle: string;
  applicationContextName: string;
  presentationContexts: PresentationContextAc[];
  userInformation: UserInformation;
}

/** A-ASSOCIATE-RJ PDU (PS3.8 §9.3.4). */
export interface AssociateRj {
  type: "A-ASSOCIATE-RJ";
  result: number;
  source: number;
  reason: number;
}

/** One presentation data value (PS3.8 §9.3.5.1 and Annex E.2 message control header). */
export interface Pdv {
  presentationContextId: number;
  /** Message control header bit 0: 1 = command, 0 = data set. */
  isCommand: boolean;
  /** Message control header bit 1: 1 = last fragment. */
  isLast: boolean;
  data: Uint8Array;
}

/** P-DATA-TF PDU (PS3.8 §9.3.5). */
export interface PDataTf {
  type: "P-DATA-TF";
  pdvs: Pdv[];
}

/** A-RELEASE-RQ PDU (PS3.8 §9.3.6). */
export interface ReleaseRq {
  type: "A-RELEASE-RQ";
}

/** A-RELEASE-RP PDU (PS3.8 §9.3.7). */
export interface ReleaseRp {
  type: "A-RELEASE-RP";
}

/** A-ABORT PDU (PS3.8 §9.3.8). */
export interface Abort {
  type: "A-ABORT";
  source: number;
  reason: number;
}

/** Any Upper Layer PDU. */
export type Pdu = AssociateRq | AssociateAc | AssociateRj | PDataTf | ReleaseRq | ReleaseRp | Abort;

/** An empty user information item, for building PDUs. */
export function emptyUserInformation(): UserInformation {
  return {
    roleSelections: [],
    sopClassExtendedNegotiations: [],
    sopClassCommonExtendedNegotiations: [],
    unknownItems: [],
  };
}

/** Error raised for bytes that do not form a valid PDU; carries the A-ABORT reason to send. */
export class PduError extends Error {
  /** PS3.8 Table 9-26 reason to put in the A-ABORT this error causes. */
  readonly abortReason: number;
  constructor(message: string, abortReason: number = AbortReason.InvalidPduParameterValue) {
    super(message);
    this.name = "PduError";
    this.abortReason = abortReason;
  }
}
