/** encodePdu / encodePDataTf / encodePDataTfHeader: padding rules, limits, and the header helper. */
import { assertEquals, assertThrows } from "../support/assert.ts";
import { encodePDataTf, encodePDataTfHeader, encodePdu } from "../../src/ul/pdu_encode.ts";
import { decodePdu } from "../../src/ul/pdu_decode.ts";
import { type AssociateRq, DICOM_APPLICATION_CONTEXT, emptyUserInformation } from "../../src/ul/pdu.ts";
import { Random } from "./fixtures.ts";

function rq(overrides: Partial<AssociateRq> = {}): AssociateRq {
  return {
    type: "A-ASSOCIATE-RQ",
    protocolVersion: 1,
    calledAeTitle: "SCP",
    callingAeTitle: "SCU",
    applicationContextName: DICOM_APPLICATION_CONTEXT,
    presentationContexts: [{
      id: 1,
      abstractSyntax: "1.2.840.10008.1.1",
      transferSyntaxes: ["1.2.840.10008.1.2"],
    }],
    userInformation: emptyUserInformation(),
    ...overrides,
  };
}

Deno.test("encodePdu: odd-length UIDs are not NUL padded in UL items (PS3.5 §9.1, PS3.8)", () => {
  const bytes = encodePdu(rq());
  // Abstract syntax sub-item right after the presentation context header: 74 + 25 + 8 = 107.
  assertEquals([...bytes.subarray(107, 111)], [0x30, 0, 0, 17]);
  assertEquals(new TextDecoder().decode(bytes.subarray(111, 128)), "1.2.840.10008.1.1");
  assertEquals(bytes[128], 0x40, "the transfer syntax sub-item follows at once");
});

Deno.test("encodePdu: AE titles are 16 bytes, space padded", () => {
  const bytes = encodePdu(rq({ calledAeTitle: "A", callingAeTitle: "SIXTEEN_CHARS_AE" }));
  assertEquals(new TextDecoder().decode(bytes.subarray(10, 26)), "A               ");
  assertEquals(new TextDecoder().decode(bytes.subarray(26, 42)), "SIXTEEN_CHARS_AE");
});

Deno.test("encodePdu: values that cannot be encoded throw RangeError naming the field", () => {
  assertEquals(
    assertThrows(() => encodePdu(rq({ calledAeTitle: "SEVENTEEN_CHARS_X" })), RangeError).message,
    'Cannot encode called AE title: "SEVENTEEN_CHARS_X" is longer than 16 characters',
  );
  assertEquals(
    assertThrows(() => encodePdu(rq({ callingAeTitle: "CAFÉ☕" })), RangeError).message,
    "Cannot encode calling AE title: character U+2615 is not ISO 646",
  );
  assertEquals(
    assertThrows(
      () =>
        encodePdu(rq({ presentationContexts: [{ id: 257, abstractSyntax: "1.2", transferSyntaxes: [] }] })),
      RangeError,
    ).message,
    "Cannot encode presentation context ID: 257 is not an integer from 0 to 255",
  );
  const info = emptyUserInformation();
  info.sopClassExtendedNegotiations.push({
    sopClassUid: "1.2",
    serviceClassApplicationInformation: new Uint8Array(70000),
  });
  assertEquals(
    assertThrows(() => encodePdu(rq({ userInformation: info })), RangeError).message,
    "Cannot encode SOP class extended negotiation sub-item: 70005 bytes exceed the 65535-byte item length",
  );
  assertThrows(() => encodePdu({ type: "A-ABORT", source: 2, reason: -1 }), RangeError);
  assertThrows(() => encodePdu({ ...rq(), protocolVersion: 0x10000 }), RangeError);
});

Deno.test("encodePdu: a rejected AC context with no transfer syntax has no sub-item; an accepted one always has", () => {
  const ac = {
    type: "A-ASSOCIATE-AC" as const,
    protocolVersion: 1,
    calledAeTitle: "SCP",
    callingAeTitle: "SCU",
    applicationContextName: DICOM_APPLICATION_CONTEXT,
    userInformation: emptyUserInformation(),
  };
  const rejected = encodePdu({ ...ac, presentationContexts: [{ id: 1, result: 3, transferSyntax: "" }] });
  assertEquals([...rejected.subarray(99, 107)], [0x21, 0, 0, 4, 1, 0, 3, 0]);
  assertEquals(rejected[107], 0x50, "the user information item follows");
  const accepted = encodePdu({ ...ac, presentationContexts: [{ id: 1, result: 0, transferSyntax: "" }] });
  assertEquals([...accepted.subarray(99, 111)], [0x21, 0, 0, 8, 1, 0, 0, 0, 0x40, 0, 0, 0]);
});

Deno.test("encodePDataTfHeader + fragment equals encodePDataTf with that one PDV", () => {
  const r = new Random(7);
  for (const length of [0, 1, 2, 255, 256, 65535, 65536, 100_000]) {
    const pdv = {
      presentationContextId: r.int(1, 255),
      isCommand: r.bool(),
      isLast: r.bool(),
      data: r.bytes(length),
    };
    const header = encodePDataTfHeader(length, pdv);
    assertEquals(header.length, 12);
    assertEquals(Uint8Array.from([...header, ...pdv.data]), encodePDataTf([pdv]));
  }
});

Deno.test("encodePDataTf: message control header bits and PDV order", () => {
  const bytes = encodePDataTf([
    { presentationContextId: 1, isCommand: true, isLast: false, data: Uint8Array.of(1) },
    { presentationContextId: 3, isCommand: false, isLast: true, data: Uint8Array.of(2, 3) },
  ]);
  assertEquals([...bytes], [4, 0, 0, 0, 0, 15, 0, 0, 0, 3, 1, 0x01, 1, 0, 0, 0, 4, 3, 0x02, 2, 3]);
  assertEquals(decodePdu(bytes), {
    type: "P-DATA-TF",
    pdvs: [
      { presentationContextId: 1, isCommand: true, isLast: false, data: Uint8Array.of(1) },
      { presentationContextId: 3, isCommand: false, isLast: true, data: Uint8Array.of(2, 3) },
    ],
  });
});

Deno.test("encodePdu: A-RELEASE-RQ/RP are ten bytes with four reserved zero bytes", () => {
  assertEquals([...encodePdu({ type: "A-RELEASE-RQ" })], [5, 0, 0, 0, 0, 4, 0, 0, 0, 0]);
  assertEquals([...encodePdu({ type: "A-RELEASE-RP" })], [6, 0, 0, 0, 0, 4, 0, 0, 0, 0]);
});
