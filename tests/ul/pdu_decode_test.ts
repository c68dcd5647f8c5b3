/**
 * decodePdu on malformed input: every error is a PduError that names the PDU, the field and the
 * offset, with the A-ABORT reason PS3.8 Table 9-26 gives for it. Also: tolerated deviations
 * (reserved bytes, padding, missing user information) and the no-copy P-DATA-TF.
 */
import { assert, assertEquals, assertPduError } from "../support/assert.ts";
import { decodePdu } from "../../src/ul/pdu_decode.ts";
import { encodePdu } from "../../src/ul/pdu_encode.ts";
import { AbortReason, emptyUserInformation } from "../../src/ul/pdu.ts";
import { fixture } from "./fixtures.ts";

/** A-ASSOCIATE-RQ bytes with the PDU length fixed up after an edit. */
function withPduLength(bytes: Uint8Array): Uint8Array {
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(2, bytes.length - 6);
  return bytes;
}

/** Inserts `extra` at `offset` and fixes the PDU length. */
function insert(bytes: Uint8Array, offset: number, extra: number[]): Uint8Array {
  return withPduLength(Uint8Array.from([...bytes.subarray(0, offset), ...extra, ...bytes.subarray(offset)]));
}

// Offsets in a_associate_rq_echoscu.hex: application context item at 74, presentation context
// item at 99 (length 46), user information item at 149 (length 58), PDU ends at 211.

Deno.test("decodePdu: fewer than 6 bytes", () => {
  assertPduError(
    () => decodePdu(Uint8Array.of(1, 0, 0)),
    "Cannot decode PDU: need the 6-byte PDU header but got 3 bytes",
    6,
  );
});

Deno.test("decodePdu: unknown PDU type is UnrecognizedPdu (reason 1)", () => {
  assertPduError(
    () => decodePdu(Uint8Array.of(0x08, 0, 0, 0, 0, 4, 0, 0, 0, 0)),
    "Cannot decode PDU: unrecognized PDU type 0x08 at offset 0",
    AbortReason.UnrecognizedPdu,
  );
  assertPduError(
    () => decodePdu(Uint8Array.of(0x00, 0, 0, 0, 0, 0)),
    "Cannot decode PDU: unrecognized PDU type 0x00 at offset 0",
    AbortReason.UnrecognizedPdu,
  );
});

Deno.test("decodePdu: PDU length must match the bytes that follow", () => {
  assertPduError(
    () => decodePdu(Uint8Array.of(0x05, 0, 0, 0, 0, 5, 0, 0, 0, 0)),
    "Cannot decode A-RELEASE-RQ: PDU length at offset 2 declares 5 bytes but 4 follow",
    6,
  );
});

Deno.test("decodePdu: release and abort PDUs have length 4", () => {
  for (
    const [type, name] of [[5, "A-RELEASE-RQ"], [6, "A-RELEASE-RP"], [7, "A-ABORT"], [
      3,
      "A-ASSOCIATE-RJ",
    ]] as const
  ) {
    assertPduError(
      () => decodePdu(Uint8Array.of(type, 0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0)),
      `Cannot decode ${name}: PDU length at offset 2 is 6, expected 4`,
      6,
    );
  }
});

Deno.test("decodePdu: A-ASSOCIATE-RQ shorter than its fixed fields", () => {
  const bytes = withPduLength(Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 1, 0, 0));
  assertPduError(
    () => decodePdu(bytes),
    "Cannot decode A-ASSOCIATE-RQ: fixed fields (bytes 7-74) at offset 6 needs 68 bytes but only 4 remain",
    6,
  );
});

Deno.test("decodePdu: item length beyond the PDU names item, offset, length and what remains", async () => {
  const bytes = await fixture("a_associate_rq_echoscu");
  bytes.set([0, 200], 99 + 2); // presentation context item length 46 → 200
  assertPduError(
    () => decodePdu(bytes),
    "Cannot decode A-ASSOCIATE-RQ: presentation context item at offset 99 declares length 200 but only 108 bytes remain",
    6,
  );
});

Deno.test("decodePdu: truncated item header at the end of the variable field", async () => {
  const bytes = insert(await fixture("a_associate_rq_echoscu"), 211, [0x50, 0]);
  assertPduError(
    () => decodePdu(bytes),
    "Cannot decode A-ASSOCIATE-RQ: 2 bytes at offset 211 in the variable items are too few for an item header (4 bytes)",
    6,
  );
});

Deno.test("decodePdu: sub-item length beyond its presentation context item", async () => {
  const bytes = await fixture("a_associate_rq_echoscu");
  bytes.set([0, 40], 107 + 2); // abstract syntax sub-item length 17 → 40 (item value ends at 149)
  assertPduError(
    () => decodePdu(bytes),
    "Cannot decode A-ASSOCIATE-RQ: abstract syntax sub-item at offset 107 declares length 40 but only 38 bytes remain",
    6,
  );
});

Deno.test("decodePdu: unknown item type in an A-ASSOCIATE-RQ is UnrecognizedPduParameter (reason 4)", async () => {
  const bytes = insert(await fixture("a_associate_rq_echoscu"), 149, [0x99, 0, 0, 1, 0xab]);
  assertPduError(
    () => decodePdu(bytes),
    "Cannot decode A-ASSOCIATE-RQ: unrecognized item type 0x99 at offset 149 in the variable items",
    AbortReason.UnrecognizedPduParameter,
  );
});

Deno.test("decodePdu: a known item in the wrong place is UnexpectedPduParameter (reason 5)", async () => {
  // An AC-form presentation context (21H) inside an A-ASSOCIATE-RQ.
  const rq = insert(await fixture("a_associate_rq_echoscu"), 149, [0x21, 0, 0, 4, 1, 0, 0, 0]);
  assertPduError(
    () => decodePdu(rq),
    "Cannot decode A-ASSOCIATE-RQ: unexpected presentation context item (type 0x21) at offset 149 in the variable items",
    AbortReason.UnexpectedPduParameter,
  );
  // A maximum length sub-item (51H) at PDU level.
  const top = insert(await fixture("a_associate_rq_echoscu"), 149, [0x51, 0, 0, 4, 0, 0, 0x40, 0]);
  assertPduError(
    () => decodePdu(top),
    "Cannot decode A-ASSOCIATE-RQ: unexpected maximum length sub-item (type 0x51) at offset 149 in the variable items",
    AbortReason.UnexpectedPduParameter,
  );
  // A transfer syntax sub-item (40H) inside the user information item.
  const bytes = await fixture("a_associate_rq_echoscu");
  bytes[153] = 0x40;
  assertPduError(
    () => decodePdu(bytes),
    "Cannot decode A-ASSOCIATE-RQ: unexpected transfer syntax sub-item (type 0x40) at offset 153 in the user information item",
    AbortReason.UnexpectedPduParameter,
  );
});

Deno.test("decodePdu: a second application context or user information item is refused", async () => {
  const app = insert(await fixture("a_associate_rq_echoscu"), 99, [0x10, 0, 0, 1, 0x31]);
  assertPduError(
    () => decodePdu(app),
    "Cannot decode A-ASSOCIATE-RQ: second application context item at offset 99",
    5,
  );
  const user = insert(await fixture("a_associate_rq_echoscu"), 211, [0x50, 0, 0, 0]);
  assertPduError(
    () => decodePdu(user),
    "Cannot decode A-ASSOCIATE-RQ: second user information item at offset 211",
    5,
  );
});

Deno.test("decodePdu: A-ASSOCIATE-RQ without an application context item", async () => {
  const full = await fixture("a_associate_rq_echoscu");
  const bytes = withPduLength(Uint8Array.from([...full.subarray(0, 74), ...full.subarray(99)]));
  assertPduError(() => decodePdu(bytes), "Cannot decode A-ASSOCIATE-RQ: no application context item", 6);
});

Deno.test("decodePdu: presentation context without an abstract syntax, or with two", () => {
  const none = encodePdu({
    type: "A-ASSOCIATE-RQ",
    protocolVersion: 1,
    calledAeTitle: "A",
    callingAeTitle: "B",
    applicationContextName: "1.2.840.10008.3.1.1.1",
    presentationContexts: [],
    userInformation: emptyUserInformation(),
  });
  // Insert a presentation context item holding only a transfer syntax sub-item.
  const item = [0x20, 0, 0, 9, 1, 0, 0, 0, 0x40, 0, 0, 1, 0x31];
  assertPduError(
    () => decodePdu(insert(none, 99, item)),
    "Cannot decode A-ASSOCIATE-RQ: presentation context 1 at offset 99 has no abstract syntax sub-item",
    6,
  );
  const two = [0x20, 0, 0, 14, 1, 0, 0, 0, 0x30, 0, 0, 1, 0x31, 0x30, 0, 0, 1, 0x32];
  assertPduError(
    () => decodePdu(insert(none, 99, two)),
    "Cannot decode A-ASSOCIATE-RQ: presentation context 1 has a second abstract syntax sub-item at offset 112",
    5,
  );
});

Deno.test("decodePdu: presentation context item too short for its ID and reserved bytes", async () => {
  const bytes = await fixture("a_associate_rq_echoscu");
  const cut = insert(bytes, 149, [0x20, 0, 0, 2, 1, 0]);
  assertPduError(
    () => decodePdu(cut),
    "Cannot decode A-ASSOCIATE-RQ: presentation context reserved bytes at offset 154 needs 3 bytes but only 1 remain",
    6,
  );
});

Deno.test("decodePdu: A-ASSOCIATE-AC result outside 0-4, and an accepted context with no transfer syntax", async () => {
  const ac = await fixture("a_associate_ac_storescp");
  ac[99 + 6] = 5; // result/reason of context 1
  assertPduError(
    () => decodePdu(ac),
    "Cannot decode A-ASSOCIATE-AC: presentation context 1 at offset 99 has result/reason 5, not 0-4",
    6,
  );
  // An accepted (result 0) context item with no sub-item, inserted before the others.
  const noTs = insert(await fixture("a_associate_ac_all_items"), 99, [0x21, 0, 0, 4, 9, 0, 0, 0]);
  assertPduError(
    () => decodePdu(noTs),
    "Cannot decode A-ASSOCIATE-AC: accepted presentation context 9 at offset 99 has no transfer syntax sub-item",
    6,
  );
});

Deno.test("decodePdu: user information sub-items with wrong fixed lengths", async () => {
  const base = await fixture("a_associate_rq_echoscu");
  // Maximum length sub-item (at 153) declaring 3 bytes: shrink it and the user information item.
  const bytes = withPduLength(
    Uint8Array.from([...base.subarray(0, 153), 0x51, 0, 0, 3, 0, 0x40, 0, ...base.subarray(161)]),
  );
  bytes.set([0, 57], 151);
  assertPduError(
    () => decodePdu(bytes),
    "Cannot decode A-ASSOCIATE-RQ: maximum length sub-item at offset 153 declares length 3, expected 4",
    6,
  );
  const asyncWindow = insert(base, 211, [0x53, 0, 0, 2, 0, 1]);
  asyncWindow.set([0, 58 + 6], 151);
  assertPduError(
    () => decodePdu(asyncWindow),
    "Cannot decode A-ASSOCIATE-RQ: asynchronous operations window sub-item at offset 211 declares length 2, expected 4",
    6,
  );
});

Deno.test("decodePdu: role selection sub-item whose UID length overruns it", async () => {
  const base = await fixture("a_associate_rq_echoscu");
  const bytes = insert(base, 211, [0x54, 0, 0, 5, 0, 9, 0x31, 1, 0]);
  bytes.set([0, 58 + 9], 151);
  assertPduError(
    () => decodePdu(bytes),
    "Cannot decode A-ASSOCIATE-RQ: role selection SOP class UID at offset 217 needs 9 bytes but only 3 remain",
    6,
  );
  const badRole = insert(base, 211, [0x54, 0, 0, 5, 0, 1, 0x31, 2, 0]);
  badRole.set([0, 58 + 9], 151);
  assertPduError(
    () => decodePdu(badRole),
    "Cannot decode A-ASSOCIATE-RQ: SCP/SCU role selection sub-item at offset 211 has a role value other than 0 or 1",
    6,
  );
});

Deno.test("decodePdu: user identity sub-item fields must fill it exactly", async () => {
  const base = await fixture("a_associate_rq_echoscu");
  // type 1, no positive response, primary "ab", secondary length 0, then one stray byte
  const bytes = insert(base, 211, [0x58, 0, 0, 9, 1, 0, 0, 2, 0x61, 0x62, 0, 0, 0xff]);
  bytes.set([0, 58 + 13], 151);
  assertPduError(
    () => decodePdu(bytes),
    "Cannot decode A-ASSOCIATE-RQ: user identity sub-item at offset 211 declares length 9, expected 8",
    6,
  );
  const short = insert(base, 211, [0x58, 0, 0, 5, 1, 0, 0, 9, 0x61]);
  short.set([0, 58 + 9], 151);
  assertPduError(
    () => decodePdu(short),
    "Cannot decode A-ASSOCIATE-RQ: primary field at offset 219 needs 9 bytes but only 1 remain",
    6,
  );
});

Deno.test("decodePdu: P-DATA-TF PDV items", () => {
  assertPduError(
    () => decodePdu(Uint8Array.of(4, 0, 0, 0, 0, 5, 0, 0, 0, 1, 1)),
    "Cannot decode P-DATA-TF: presentation data value item at offset 6 declares length 1, less than the 2 bytes of context ID and message control header",
    6,
  );
  assertPduError(
    () => decodePdu(Uint8Array.of(4, 0, 0, 0, 0, 8, 0, 0, 0, 9, 1, 3, 0xaa, 0xbb)),
    "Cannot decode P-DATA-TF: presentation data value item at offset 6 declares length 9 but only 4 bytes remain",
    6,
  );
  assertPduError(
    () => decodePdu(Uint8Array.of(4, 0, 0, 0, 0, 2, 0, 0)),
    "Cannot decode P-DATA-TF: presentation data value item length at offset 6 needs 4 bytes but only 2 remain",
    6,
  );
  assertPduError(
    () => decodePdu(Uint8Array.of(4, 0, 0, 0, 0, 0)),
    "Cannot decode P-DATA-TF: no presentation data value item",
    6,
  );
});

Deno.test("decodePdu: P-DATA-TF fragments are views of the input, not copies", async () => {
  const bytes = await fixture("p_data_tf_three_pdvs");
  const pdu = decodePdu(bytes);
  assert(pdu.type === "P-DATA-TF");
  const [first, second] = pdu.pdvs;
  assert(first !== undefined && second !== undefined);
  assert(first.data.buffer === bytes.buffer, "the PDV shares the input's buffer");
  assertEquals(first.data.byteOffset, bytes.byteOffset + 12);
  bytes[12] = 0x11; // a change to the input shows through the view
  assertEquals(first.data[0], 0x11);
  assertEquals(second.data.byteOffset, bytes.byteOffset + 22);
});

Deno.test("decodePdu: the message control header's reserved bits 2-7 are not tested", () => {
  const pdu = decodePdu(Uint8Array.of(4, 0, 0, 0, 0, 7, 0, 0, 0, 3, 5, 0xfd, 0x42));
  assertEquals(pdu, {
    type: "P-DATA-TF",
    pdvs: [{ presentationContextId: 5, isCommand: true, isLast: false, data: Uint8Array.of(0x42) }],
  });
});

Deno.test("decodePdu: AE titles lose leading/trailing spaces and NULs; UIDs lose trailing NUL padding", async () => {
  const bytes = await fixture("a_associate_rq_echoscu");
  bytes.set(new TextEncoder().encode("  MY AE\0\0\0\0\0\0\0\0\0"), 10); // called AE title, 16 bytes
  // Pad the abstract syntax UID (at 111, 17 bytes) to 18 with a NUL, as PS3.5 pads data elements.
  const padded = insert(bytes, 128, [0]);
  padded[110] = 18; // abstract syntax sub-item length (bytes 109-110)
  padded[102] = 47; // presentation context item length (bytes 101-102)
  const pdu = decodePdu(padded);
  assert(pdu.type === "A-ASSOCIATE-RQ");
  assertEquals(pdu.calledAeTitle, "MY AE");
  assertEquals(pdu.presentationContexts[0]?.abstractSyntax, "1.2.840.10008.1.1");
});

Deno.test("decodePdu: the reserved bytes of the fixed fields are not tested", async () => {
  const bytes = await fixture("a_associate_rq_echoscu");
  bytes[1] = 0xff; // PDU header reserved byte
  bytes.fill(0xee, 8, 10); // bytes 9-10
  bytes.fill(0xdd, 42, 74); // bytes 43-74
  const pdu = decodePdu(bytes);
  assert(pdu.type === "A-ASSOCIATE-RQ");
  assertEquals(pdu.callingAeTitle, "ECHOSCU");
  const abort = decodePdu(Uint8Array.of(7, 0xff, 0, 0, 0, 4, 0xff, 0xff, 0, 1));
  assertEquals(abort, { type: "A-ABORT", source: 0, reason: 1 });
});

Deno.test("decodePdu: an A-ASSOCIATE-RQ with no user information item gets an empty one", async () => {
  const full = await fixture("a_associate_rq_echoscu");
  const pdu = decodePdu(withPduLength(full.slice(0, 149)));
  assert(pdu.type === "A-ASSOCIATE-RQ");
  assertEquals(pdu.userInformation, emptyUserInformation());
});

Deno.test("decodePdu: a repeated user information sub-item keeps the first value", async () => {
  const base = await fixture("a_associate_rq_echoscu");
  const bytes = insert(base, 211, [0x51, 0, 0, 4, 0, 0, 0x10, 0]);
  bytes.set([0, 58 + 8], 151);
  const pdu = decodePdu(bytes);
  assert(pdu.type === "A-ASSOCIATE-RQ");
  assertEquals(pdu.userInformation.maxPduLength, 16384);
});

Deno.test("decodePdu: decoded non-P-DATA values are copies, independent of the input", async () => {
  const bytes = await fixture("a_associate_rq_all_items");
  const pdu = decodePdu(bytes);
  assert(pdu.type === "A-ASSOCIATE-RQ");
  bytes.fill(0);
  assertEquals(pdu.userInformation.userIdentityRq?.primaryField, new TextEncoder().encode("alice"));
  assertEquals(pdu.userInformation.unknownItems[0]?.data, Uint8Array.of(0xaa, 0xbb, 0xcc));
});
