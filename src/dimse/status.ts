/**
 * DIMSE status codes (PS3.7 Annex C, and Annex B.2.3 for the Storage Service Class as
 * narrowed by PS3.4 Table B.2-1) with their categories and human-readable descriptions.
 *
 * The Status (0000,0900) element of every response carries one of these. PS3.7 §C.1:
 * "Status codes are divided into the categories Success, Warning, Failure, Cancel and
 * Pending"; a receiver must treat an unknown code by the range it falls in.
 * @module
 */
import { hex } from "../bytes.ts";

/** Named DIMSE status codes (PS3.7 Annex C, PS3.4 Table B.2-1 for C-STORE). */
export const Status = {
  /** PS3.7 C.1.1 Success. */
  Success: 0x0000,
  /** PS3.7 C.3 Cancel: the operation was terminated by a C-CANCEL. */
  Cancel: 0xFE00,
  /** PS3.7 C.2 Pending: matches/sub-operations continue. */
  Pending: 0xFF00,
  /** PS3.4 C.4.1.1.4: pending, but one or more optional keys were not supported. */
  PendingWarning: 0xFF01,

  /** PS3.4 B.2.3 Refused: Out of Resources (A7xx). */
  OutOfResources: 0xA700,
  /** PS3.4 C.4.2.1.4: Refused: Out of Resources – Unable to calculate number of matches. */
  OutOfResourcesNumberOfMatches: 0xA701,
  /** PS3.4 C.4.2.1.4: Refused: Out of Resources – Unable to perform sub-operations. */
  OutOfResourcesSubOperations: 0xA702,
  /** PS3.4 C.4.2.1.4: Refused: Move Destination unknown. */
  MoveDestinationUnknown: 0xA801,
  /** PS3.4 B.2.3 Error: Data Set does not match SOP Class (A9xx). */
  DataSetDoesNotMatchSopClass: 0xA900,
  /** PS3.4 B.2.3 Error: Cannot understand (Cxxx). */
  CannotUnderstand: 0xC000,

  /** PS3.7 C.5.1 Warning: requested optional attributes are not supported. */
  AttributeListError: 0x0107,
  /** PS3.7 C.5.2 Warning: attribute value out of range. */
  AttributeValueOutOfRange: 0x0116,
  /** PS3.4 B.2.3 Warning: Coercion of Data Elements. */
  CoercionOfDataElements: 0xB000,
  /** PS3.4 B.2.3 Warning: Elements Discarded. */
  ElementsDiscarded: 0xB006,
  /** PS3.4 B.2.3 Warning: Data Set does not match SOP Class. */
  DataSetDoesNotMatchSopClassWarning: 0xB007,

  /** PS3.7 C.4.1 Failure: no such attribute. */
  NoSuchAttribute: 0x0105,
  /** PS3.7 C.4.2 Failure: invalid attribute value. */
  InvalidAttributeValue: 0x0106,
  /** PS3.7 C.4.3 Failure: processing failure. */
  ProcessingFailure: 0x0110,
  /** PS3.7 C.4.4 Failure: duplicate SOP instance. */
  DuplicateSopInstance: 0x0111,
  /** PS3.7 C.4.5 Failure: no such SOP instance. */
  NoSuchSopInstance: 0x0112,
  /** PS3.7 C.4.6 Failure: no such event type. */
  NoSuchEventType: 0x0113,
  /** PS3.7 C.4.7 Failure: no such argument. */
  NoSuchArgument: 0x0114,
  /** PS3.7 C.4.8 Failure: invalid argument value. */
  InvalidArgumentValue: 0x0115,
  /** PS3.7 C.4.9 Failure: invalid object instance. */
  InvalidObjectInstance: 0x0117,
  /** PS3.7 C.4.10 Failure: no such SOP class. */
  NoSuchSopClass: 0x0118,
  /** PS3.7 C.4.11 Failure: class-instance conflict. */
  ClassInstanceConflict: 0x0119,
  /** PS3.7 C.4.12 Failure: missing attribute. */
  MissingAttribute: 0x0120,
  /** PS3.7 C.4.13 Failure: missing attribute value. */
  MissingAttributeValue: 0x0121,
  /** PS3.7 C.4.14 Failure: SOP class not supported. */
  SopClassNotSupported: 0x0122,
  /** PS3.7 C.4.15 Failure: no such action type. */
  NoSuchActionType: 0x0123,
  /** PS3.7 C.4.16 Failure: not authorized. */
  NotAuthorized: 0x0124,
  /** PS3.7 C.4.17 Failure: duplicate invocation (Message ID already in use). */
  DuplicateInvocation: 0x0210,
  /** PS3.7 C.4.18 Failure: unrecognized operation. */
  UnrecognizedOperation: 0x0211,
  /** PS3.7 C.4.19 Failure: mistyped argument. */
  MistypedArgument: 0x0212,
  /** PS3.7 C.4.20 Failure: resource limitation. */
  ResourceLimitation: 0x0213,
} as const;

/** A status code's category (PS3.7 §C.1). */
export type StatusCategory = "success" | "warning" | "failure" | "cancel" | "pending";

/**
 * The category of a status code. Exact codes first, then the ranges PS3.7 Annex C and
 * PS3.4 reserve: 0xBxxx warning, 0xFF00/0xFF01 pending, 0xFE00 cancel, 0x0001/0x0107/0x0116
 * warning, anything else (0xAxxx, 0xCxxx, 0x01xx, 0x02xx, unknown) failure.
 */
export function statusCategory(code: number): StatusCategory {
  if (code === Status.Success) return "success";
  if (code === Status.Cancel) return "cancel";
  if (code === Status.Pending || code === Status.PendingWarning) return "pending";
  // PS3.7 C.5: 0x0001 (requested optional attributes not supported), 0x0107, 0x0116.
  if (code === 0x0001 || code === Status.AttributeListError || code === Status.AttributeValueOutOfRange) {
    return "warning";
  }
  // PS3.4 B.2.3 / C.4: Bxxx is the warning range of the query/retrieve and storage services.
  if ((code & 0xF000) === 0xB000) return "warning";
  return "failure";
}

const DESCRIPTIONS: ReadonlyMap<number, string> = new Map<number, string>([
  [Status.Success, "Success"],
  [Status.Cancel, "Cancel: operation terminated by C-CANCEL"],
  [Status.Pending, "Pending"],
  [Status.PendingWarning, "Pending: one or more optional keys were not supported"],
  [Status.OutOfResources, "Refused: out of resources"],
  [Status.OutOfResourcesNumberOfMatches, "Refused: out of resources, unable to calculate number of matches"],
  [Status.OutOfResourcesSubOperations, "Refused: out of resources, unable to perform sub-operations"],
  [Status.MoveDestinationUnknown, "Refused: move destination unknown"],
  [Status.DataSetDoesNotMatchSopClass, "Error: data set does not match SOP class"],
  [Status.CannotUnderstand, "Error: cannot understand"],
  [0x0001, "Warning: requested optional attributes are not supported"],
  [Status.AttributeListError, "Warning: attribute list error"],
  [Status.AttributeValueOutOfRange, "Warning: attribute value out of range"],
  [Status.CoercionOfDataElements, "Warning: coercion of data elements"],
  [Status.ElementsDiscarded, "Warning: elements discarded"],
  [Status.DataSetDoesNotMatchSopClassWarning, "Warning: data set does not match SOP class"],
  [Status.NoSuchAttribute, "Failure: no such attribute"],
  [Status.InvalidAttributeValue, "Failure: invalid attribute value"],
  [Status.ProcessingFailure, "Failure: processing failure"],
  [Status.DuplicateSopInstance, "Failure: duplicate SOP instance"],
  [Status.NoSuchSopInstance, "Failure: no such SOP instance"],
  [Status.NoSuchEventType, "Failure: no such event type"],
  [Status.NoSuchArgument, "Failure: no such argument"],
  [Status.InvalidArgumentValue, "Failure: invalid argument value"],
  [Status.InvalidObjectInstance, "Failure: invalid object instance"],
  [Status.NoSuchSopClass, "Failure: no such SOP class"],
  [Status.ClassInstanceConflict, "Failure: class-instance conflict"],
  [Status.MissingAttribute, "Failure: missing attribute"],
  [Status.MissingAttributeValue, "Failure: missing attribute value"],
  [Status.SopClassNotSupported, "Failure: SOP class not supported"],
  [Status.NoSuchActionType, "Failure: no such action type"],
  [Status.NotAuthorized, "Failure: not authorized"],
  [Status.DuplicateInvocation, "Failure: duplicate invocation"],
  [Status.UnrecognizedOperation, "Failure: unrecognized operation"],
  [Status.MistypedArgument, "Failure: mistyped argument"],
  [Status.ResourceLimitation, "Failure: resource limitation"],
]);

/** Formats a status code as the standard writes it, e.g. `0xA700`. */
export function formatStatus(code: number): string {
  return "0x" + hex(code & 0xFFFF, 4);
}

/**
 * A one-line description for logs and the status page, e.g.
 * `"0xA710 Refused: out of resources (A7xx)"` or `"0xB000 Warning: coercion of data elements"`.
 * Unknown codes are described by their range (PS3.4 B.2.3: A7xx, A9xx, Cxxx, Bxxx).
 */
export function describeStatus(code: number): string {
  const exact = DESCRIPTIONS.get(code);
  if (exact !== undefined) return `${formatStatus(code)} ${exact}`;
  const high = code & 0xFF00;
  if (high === 0xA700) return `${formatStatus(code)} Refused: out of resources (A7xx)`;
  if (high === 0xA900) return `${formatStatus(code)} Error: data set does not match SOP class (A9xx)`;
  if ((code & 0xF000) === 0xC000) return `${formatStatus(code)} Error: cannot understand (Cxxx)`;
  if ((code & 0xF000) === 0xB000) return `${formatStatus(code)} Warning (Bxxx)`;
  if ((code & 0xF000) === 0xA000) return `${formatStatus(code)} Failure: refused (Axxx)`;
  const category = statusCategory(code);
  return `${formatStatus(code)} Unknown ${category} status`;
}
