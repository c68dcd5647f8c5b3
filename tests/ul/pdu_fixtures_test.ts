/**
 * Every PDU type and every item/sub-item against readable byte fixtures: decoding a fixture gives
 * the expected value, and encoding that value gives the fixture's exact bytes. Fixtures recorded
 * from DCMTK are also checked against their raw captures.
 */
import { assertEquals } from "../support/assert.ts";
import { decodePdu } from "../../src/ul/pdu_decode.ts";
import { encodePdu } from "../../src/ul/pdu_encode.ts";
import {
  DICOM_APPLICATION_CONTEXT,
  emptyUserInformation,
  type Pdu,
  type UserInformation,
} from "../../src/ul/pdu.ts";
import { capture, fixture } from "./fixtures.ts";

const ascii = (s: string) => new TextEncoder().encode(s);

function userInfo(fields: Partial<UserInformation>): UserInformation {
  return { ...emptyUserInformation(), ...fields };
}

/** The C-ECHO-RQ command echoscu sent (68 bytes, group 0000, implicit VR LE). */
const C_ECHO_RQ = Uint8Array.from([
  ...[0, 0, 0, 0, 4, 0, 0, 0, 0x38, 0, 0, 0],
  ...[0, 0, 2, 0, 0x12, 0, 0, 0, ...ascii("1.2.840.10008.1.1"), 0],
  ...[0, 0, 0, 1, 2, 0, 0, 0, 0x30, 0],
  ...[0, 0, 0x10, 1, 2, 0, 0, 0, 1, 0],
  ...[0, 0, 0, 8, 2, 0, 0, 0, 1, 1],
]);

const C_ECHO_RSP = Uint8Array.from([
  ...[0, 0, 0, 0, 4, 0, 0, 0, 0x42, 0, 0, 0],
  ...[0, 0, 2, 0, 0x12, 0, 0, 0, ...ascii("1.2.840.10008.1.1"), 0],
  ...[0, 0, 0, 1, 2, 0, 0, 0, 0x30, 0x80],
  ...[0, 0, 0x20, 1, 2, 0, 0, 0, 1, 0],
  ...[0, 0, 0, 8, 2, 0, 0, 0, 1, 1],
  ...[0, 0, 0, 9, 2, 0, 0, 0, 0, 0],
]);

/** Fixture name → the PDU it holds. */
const CASES: Record<string, Pdu> = {
  a_associate_rq_echoscu: {
    type: "A-ASSOCIATE-RQ",
    protocolVersion: 1,
    calledAeTitle: "GATEWAY",
    callingAeTitle: "ECHOSCU",
    applicationContextName: DICOM_APPLICATION_CONTEXT,
    presentationContexts: [{
      id: 1,
      abstractSyntax: "1.2.840.10008.1.1",
      transferSyntaxes: ["1.2.840.10008.1.2"],
    }],
    userInformation: userInfo({
      maxPduLength: 16384,
      implementationClassUid: "1.2.276.0.7230010.3.0.3.6.7",
      implementationVersionName: "OFFIS_DCMTK_367",
    }),
  },
  a_associate_ac_gateway_echo: {
    type: "A-ASSOCIATE-AC",
    protocolVersion: 1,
    calledAeTitle: "GATEWAY",
    callingAeTitle: "ECHOSCU",
    applicationContextName: DICOM_APPLICATION_CONTEXT,
    presentationContexts: [{ id: 1, result: 0, transferSyntax: "1.2.840.10008.1.2" }],
    userInformation: userInfo({
      maxPduLength: 16384,
      implementationClassUid: "1.2.826.0.1.3680043.10.1418.1",
      implementationVersionName: "DICOMGW_0.1",
    }),
  },
  p_data_tf_c_echo_rq_echoscu: {
    type: "P-DATA-TF",
    pdvs: [{ presentationContextId: 1, isCommand: true, isLast: true, data: C_ECHO_RQ }],
  },
  p_data_tf_c_echo_rsp_gateway: {
    type: "P-DATA-TF",
    pdvs: [{ presentationContextId: 1, isCommand: true, isLast: true, data: C_ECHO_RSP }],
  },
  a_release_rq: { type: "A-RELEASE-RQ" },
  a_release_rp: { type: "A-RELEASE-RP" },
  a_associate_rq_gateway_to_storescp: {
    type: "A-ASSOCIATE-RQ",
    protocolVersion: 1,
    calledAeTitle: "STORESCP",
    callingAeTitle: "GATEWAY",
    applicationContextName: DICOM_APPLICATION_CONTEXT,
    presentationContexts: [
      { id: 1, abstractSyntax: "1.2.840.10008.1.1", transferSyntaxes: ["1.2.840.10008.1.2"] },
      {
        id: 3,
        abstractSyntax: "1.2.840.10008.5.1.4.1.1.2",
        transferSyntaxes: ["1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.1"],
      },
      { id: 5, abstractSyntax: "1.2.840.10008.5.1.4.1.2.1.1", transferSyntaxes: ["1.2.840.10008.1.2"] },
    ],
    userInformation: userInfo({
      maxPduLength: 16384,
      implementationClassUid: "1.2.826.0.1.3680043.10.1418.1",
      implementationVersionName: "DICOMGW_0.1",
      roleSelections: [{ sopClassUid: "1.2.840.10008.5.1.4.1.1.2", scuRole: true, scpRole: false }],
    }),
  },
  a_associate_ac_storescp: {
    type: "A-ASSOCIATE-AC",
    protocolVersion: 1,
    calledAeTitle: "STORESCP",
    callingAeTitle: "GATEWAY",
    applicationContextName: DICOM_APPLICATION_CONTEXT,
    presentationContexts: [
      { id: 1, result: 0, transferSyntax: "1.2.840.10008.1.2" },
      { id: 3, result: 0, transferSyntax: "1.2.840.10008.1.2.1" },
      { id: 5, result: 3, transferSyntax: "1.2.840.10008.1.2" },
    ],
    userInformation: userInfo({
      maxPduLength: 16384,
      implementationClassUid: "1.2.276.0.7230010.3.0.3.6.7",
      implementationVersionName: "OFFIS_DCMTK_367",
    }),
  },
  a_associate_rj: { type: "A-ASSOCIATE-RJ", result: 1, source: 1, reason: 7 },
  a_abort: { type: "A-ABORT", source: 2, reason: 6 },
  p_data_tf_three_pdvs: {
    type: "P-DATA-TF",
    pdvs: [
      {
        presentationContextId: 1,
        isCommand: true,
        isLast: true,
        data: Uint8Array.of(0xaa, 0xbb, 0xcc, 0xdd),
      },
      {
        presentationContextId: 3,
        isCommand: false,
        isLast: false,
        data: Uint8Array.of(8, 0, 5, 0, 0x43, 0x53),
      },
      { presentationContextId: 3, isCommand: false, isLast: true, data: new Uint8Array(0) },
    ],
  },
  a_associate_rq_all_items: {
    type: "A-ASSOCIATE-RQ",
    protocolVersion: 1,
    calledAeTitle: "ANY-SCP",
    callingAeTitle: "MODALITY_01",
    applicationContextName: DICOM_APPLICATION_CONTEXT,
    presentationContexts: [
      {
        id: 1,
        abstractSyntax: "1.2.840.10008.1.1",
        transferSyntaxes: ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"],
      },
      {
        id: 3,
        abstractSyntax: "1.2.840.10008.5.1.4.1.1.4",
        transferSyntaxes: ["1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.1"],
      },
    ],
    userInformation: {
      maxPduLength: 65536,
      implementationClassUid: "1.2.826.0.1.3680043.9.7",
      asynchronousOperationsWindow: { maxOperationsInvoked: 5, maxOperationsPerformed: 1 },
      roleSelections: [{ sopClassUid: "1.2.840.10008.5.1.4.1.1.4", scuRole: true, scpRole: true }],
      implementationVersionName: "MODALITY_1",
      sopClassExtendedNegotiations: [{
        sopClassUid: "1.2.840.10008.5.1.4.1.1.4",
        serviceClassApplicationInformation: Uint8Array.of(2, 0, 0, 0, 1, 0),
      }],
      sopClassCommonExtendedNegotiations: [{
        sopClassUid: "1.2.840.10008.5.1.4.1.1.4.1",
        serviceClassUid: "1.2.840.10008.4.2",
        relatedGeneralSopClassUids: ["1.2.840.10008.5.1.4.1.1.4"],
      }],
      userIdentityRq: {
        identityType: 2,
        positiveResponseRequested: true,
        primaryField: ascii("alice"),
        secondaryField: ascii("s3cr3t"),
      },
      unknownItems: [{ itemType: 0x5f, data: Uint8Array.of(0xaa, 0xbb, 0xcc) }],
    },
  },
  a_associate_ac_all_items: {
    type: "A-ASSOCIATE-AC",
    protocolVersion: 1,
    calledAeTitle: "ANY-SCP",
    callingAeTitle: "MODALITY_01",
    applicationContextName: DICOM_APPLICATION_CONTEXT,
    presentationContexts: [
      { id: 1, result: 0, transferSyntax: "1.2.840.10008.1.2.1" },
      { id: 3, result: 0, transferSyntax: "1.2.840.10008.1.2.4.90" },
      { id: 5, result: 4, transferSyntax: "1.2.840.10008.1.2.4.50" },
      { id: 7, result: 1, transferSyntax: "" },
    ],
    userInformation: userInfo({
      maxPduLength: 16384,
      implementationClassUid: "1.2.826.0.1.3680043.9.7",
      asynchronousOperationsWindow: { maxOperationsInvoked: 1, maxOperationsPerformed: 1 },
      roleSelections: [{ sopClassUid: "1.2.840.10008.5.1.4.1.1.4", scuRole: true, scpRole: false }],
      implementationVersionName: "GATEWAY_01",
      userIdentityAc: { serverResponse: Uint8Array.of(0xde, 0xad, 0xbe, 0xef) },
    }),
  },
};

/**
 * Reserved bytes a peer set to something other than 00H: decoding ignores them (PS3.8 says they
 * are not tested), the encoder writes 00H. Fixture → [offset, byte the encoder writes].
 */
const RESERVED_DIFFERENCES: Record<string, Array<[number, number]>> = {
  // DCMTK writes FFH in byte 7 of the presentation context item at offset 99 (99 + 6 = 105).
  a_associate_rq_echoscu: [[105, 0x00]],
};

for (const [name, expected] of Object.entries(CASES)) {
  Deno.test(`fixture ${name}: decodes to the expected ${expected.type}`, async () => {
    assertEquals(decodePdu(await fixture(name)), expected);
  });
  Deno.test(`fixture ${name}: the expected ${expected.type} encodes to the fixture bytes`, async () => {
    const bytes = await fixture(name);
    for (const [offset, value] of RESERVED_DIFFERENCES[name] ?? []) bytes[offset] = value;
    assertEquals(encodePdu(expected), bytes);
  });
}

Deno.test("echoscu's FFH in a reserved byte of the presentation context item is not tested", async () => {
  const bytes = await fixture("a_associate_rq_echoscu");
  assertEquals(bytes[105], 0xff);
  bytes[105] = 0x00;
  assertEquals(decodePdu(bytes), CASES.a_associate_rq_echoscu);
});

/** Fixture → raw capture it was transcribed from. */
const CAPTURED: Record<string, string> = {
  a_associate_rq_echoscu: "01_echoscu_a-associate-rq",
  a_associate_ac_gateway_echo: "02_gateway_a-associate-ac",
  p_data_tf_c_echo_rq_echoscu: "03_echoscu_p-data-tf",
  p_data_tf_c_echo_rsp_gateway: "04_gateway_p-data-tf",
  a_release_rq: "05_echoscu_a-release-rq",
  a_release_rp: "06_gateway_a-release-rp",
  a_associate_rq_gateway_to_storescp: "07_gateway_a-associate-rq",
  a_associate_ac_storescp: "08_storescp_a-associate-ac",
};

for (const [name, bin] of Object.entries(CAPTURED)) {
  Deno.test(`fixture ${name} equals the DCMTK capture ${bin}.bin byte for byte`, async () => {
    assertEquals(await fixture(name), await capture(bin));
  });
}

Deno.test("storescp's A-RELEASE-RP capture equals the gateway's", async () => {
  assertEquals(await capture("09_storescp_a-release-rp"), await fixture("a_release_rp"));
});
