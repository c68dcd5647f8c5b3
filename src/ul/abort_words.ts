/**
 * A-ABORT source and reason in words (PS3.8 §9.3.8, Table 9-26), for log lines and messages that
 * clinic staff read instead of "(source 0, reason 0)". Pure.
 * @module
 */
import { AbortReason, AbortSource } from "./pdu.ts";

/** PS3.8 Table 9-26 "Reason/Diag." values, meaningful when the source is the service-provider (2). */
const REASONS: Record<number, string> = {
  [AbortReason.NotSpecified]: "no reason given",
  [AbortReason.UnrecognizedPdu]: "it did not recognise a message (unrecognized PDU)",
  [AbortReason.UnexpectedPdu]: "a message came at the wrong moment (unexpected PDU)",
  [AbortReason.UnrecognizedPduParameter]:
    "it did not recognise a field of a message (unrecognized PDU parameter)",
  [AbortReason.UnexpectedPduParameter]: "a field of a message was unexpected (unexpected PDU parameter)",
  [AbortReason.InvalidPduParameterValue]:
    "a field of a message had an invalid value (invalid PDU parameter value)",
};

/**
 * `A-ABORT by the other side's DICOM application (PS3.8 source 0)` or `A-ABORT by the other side's
 * DICOM network layer: a message came at the wrong moment (unexpected PDU) (PS3.8 source 2, reason 2)`.
 */
export function abortWords(source: number, reason: number): string {
  // PS3.8 Table 9-26: 0 DICOM UL service-user (initiated abort), 1 reserved, 2 DICOM UL service-provider.
  if (source === AbortSource.ServiceUser) {
    return `A-ABORT by the other side's DICOM application (PS3.8 source ${source})`;
  }
  if (source === AbortSource.ServiceProvider) {
    const why = REASONS[reason] ?? `reason code ${reason}`;
    return `A-ABORT by the other side's DICOM network layer: ${why} (PS3.8 source ${source}, reason ${reason})`;
  }
  return `A-ABORT with a reserved source (PS3.8 source ${source}, reason ${reason})`;
}
