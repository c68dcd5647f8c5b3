/**
 * Property tests over seeded random PDUs: encode → decode gives back the PDU; and a fuzz target:
 * mutated and truncated PDUs either decode (to a value that survives another round trip) or throw
 * a PduError, never anything else. The seeds are fixed so a failure can be replayed.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { decodePdu } from "../../src/ul/pdu_decode.ts";
import { encodePdu } from "../../src/ul/pdu_encode.ts";
import { PduError } from "../../src/ul/pdu.ts";
import { fixture, Random } from "./fixtures.ts";
import { randomPdu } from "./random_pdu.ts";

const ROUND_TRIPS = 3000;
const MUTATIONS = 6000;

Deno.test(`round trip: ${ROUND_TRIPS} random PDUs encode and decode to themselves`, () => {
  const r = new Random(0x5eed0001);
  const seen = new Set<string>();
  for (let i = 0; i < ROUND_TRIPS; i++) {
    const pdu = randomPdu(r);
    seen.add(pdu.type);
    const bytes = encodePdu(pdu);
    assertEquals(decodePdu(bytes), pdu, `case ${i} (${pdu.type})`);
  }
  assertEquals(seen.size, 7, "every PDU type was generated");
});

Deno.test("round trip: the encoded PDU length field matches the byte count", () => {
  const r = new Random(0x5eed0002);
  for (let i = 0; i < 500; i++) {
    const bytes = encodePdu(randomPdu(r));
    assertEquals(new DataView(bytes.buffer).getUint32(2), bytes.length - 6);
  }
});

/** One random change: flip, overwrite, truncate, insert, delete, or rewrite a length field. */
function mutate(r: Random, input: Uint8Array): Uint8Array {
  const bytes = input.slice();
  if (bytes.length < 6) return Uint8Array.from([...bytes, ...r.bytes(r.int(0, 3))]);
  switch (r.int(0, 6)) {
    case 0: { // flip some bits
      const n = r.int(1, 4);
      for (let i = 0; i < n; i++) bytes[r.int(0, bytes.length - 1)]! ^= 1 << r.int(0, 7);
      return bytes;
    }
    case 1: // overwrite a byte
      bytes[r.int(0, bytes.length - 1)] = r.int(0, 255);
      return bytes;
    case 2: // truncate (PDU length left as it was)
      return bytes.slice(0, r.int(0, bytes.length - 1));
    case 3: { // truncate and fix the PDU length, so the inner items are what is short
      const cut = bytes.slice(0, r.int(6, bytes.length));
      new DataView(cut.buffer).setUint32(2, cut.length - 6);
      return cut;
    }
    case 4: { // insert random bytes and fix the PDU length
      const at = r.int(6, bytes.length);
      const out = Uint8Array.from([...bytes.subarray(0, at), ...r.bytes(r.int(1, 8)), ...bytes.subarray(at)]);
      new DataView(out.buffer).setUint32(2, out.length - 6);
      return out;
    }
    case 5: { // set a 16-bit big-endian field somewhere to an extreme or random value
      if (bytes.length < 2) return bytes;
      const at = r.int(0, bytes.length - 2);
      const value = r.pick([0, 1, 2, 3, 4, 0xffff, 0x7fff, r.int(0, 0xffff)]);
      bytes[at] = value >> 8;
      bytes[at + 1] = value & 0xff;
      return bytes;
    }
    default: { // delete a range and fix the PDU length
      const from = r.int(6, bytes.length);
      const to = r.int(from, Math.min(bytes.length, from + 16));
      const out = Uint8Array.from([...bytes.subarray(0, from), ...bytes.subarray(to)]);
      if (out.length >= 6) new DataView(out.buffer).setUint32(2, out.length - 6);
      return out;
    }
  }
}

Deno.test(`fuzz: ${MUTATIONS} mutated PDUs decode or throw PduError, nothing else`, async () => {
  const r = new Random(0x5eed0003);
  const seeds: Uint8Array[] = [];
  for (
    const name of [
      "a_associate_rq_echoscu",
      "a_associate_rq_all_items",
      "a_associate_ac_all_items",
      "p_data_tf_three_pdvs",
      "a_abort",
    ]
  ) {
    seeds.push(await fixture(name));
  }
  for (let i = 0; i < 40; i++) seeds.push(encodePdu(randomPdu(r)));
  let decoded = 0;
  let refused = 0;
  for (let i = 0; i < MUTATIONS; i++) {
    let bytes = r.pick(seeds);
    const rounds = r.int(1, 3);
    for (let k = 0; k < rounds; k++) bytes = mutate(r, bytes);
    let pdu;
    try {
      pdu = decodePdu(bytes);
    } catch (error) {
      assert(error instanceof PduError, `case ${i}: ${String(error)}`);
      assert(error.message.startsWith("Cannot decode "), error.message);
      assert([1, 4, 5, 6].includes(error.abortReason), `case ${i}: reason ${error.abortReason}`);
      refused++;
      continue;
    }
    // Whatever decodes is a well-formed value: it encodes, and decodes to itself again.
    assertEquals(decodePdu(encodePdu(pdu)), pdu, `case ${i}`);
    decoded++;
  }
  // Both outcomes happen, so the mutations exercise the decoder and not just its first check.
  assert(decoded > MUTATIONS / 20, `only ${decoded} mutants decoded`);
  assert(refused > MUTATIONS / 4, `only ${refused} mutants refused`);
});

Deno.test("fuzz: random byte strings with a valid PDU header never escape as non-PduError", () => {
  const r = new Random(0x5eed0004);
  for (let i = 0; i < 3000; i++) {
    const body = r.bytes(r.int(0, 120));
    const bytes = Uint8Array.from([r.int(0, 8), 0, 0, 0, 0, 0, ...body]);
    new DataView(bytes.buffer).setUint32(2, body.length);
    try {
      decodePdu(bytes);
    } catch (error) {
      assert(error instanceof PduError, String(error));
    }
  }
});
