import { assertEquals } from "../support/assert.ts";
import { maxPdvDataLength, pdvFragments, writePData } from "../../src/ul/pdata_writer.ts";
import { decodePdu } from "../../src/ul/pdu_decode.ts";

async function* from(parts: Uint8Array[]): AsyncIterable<Uint8Array> {
  for (const part of parts) yield part;
}

async function cut(parts: Uint8Array[], max: number): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  // Copy each piece as it comes: a caller writes it before asking for the next.
  for await (const piece of pdvFragments(from(parts), max)) out.push(piece.slice());
  return out;
}

function bytes(length: number, start = 0): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (start + i) & 0xff);
}

Deno.test("pdvFragments: odd file reads and a one-byte pad still give even fragments (DCMTK: Odd Fragment Length)", async () => {
  // What CI saw: a deflated data set read as 5025 bytes, then the PS3.5 A.5 pad byte.
  const pieces = await cut([bytes(5025), new Uint8Array(1)], 16378);
  assertEquals(pieces.map((p) => p.length), [5026]);
  assertEquals(pieces[0]!.subarray(0, 5025), bytes(5025));
  assertEquals(pieces[0]![5025], 0);
});

Deno.test("pdvFragments: every fragment but the last is exactly the (even) maximum, bytes kept in order", async () => {
  for (const max of [2, 7, 16, 16378, 16379]) {
    const size = max - (max % 2);
    const reads = [bytes(3), bytes(1, 3), bytes(40, 4), bytes(17, 44), bytes(0), bytes(33, 61), bytes(2, 94)];
    const pieces = await cut(reads, max);
    const total = reads.reduce((n, r) => n + r.length, 0);
    assertEquals(pieces.slice(0, -1).every((p) => p.length === size), true, `max ${max}`);
    assertEquals(pieces.every((p) => p.length % 2 === 0), true, `max ${max}`);
    const joined = new Uint8Array(total);
    let at = 0;
    for (const p of pieces) {
      joined.set(p, at);
      at += p.length;
    }
    assertEquals(at, total);
    assertEquals(joined, bytes(total));
  }
});

Deno.test("pdvFragments: an empty stream gives no fragment", async () => {
  assertEquals(await cut([], 1000), []);
  assertEquals(await cut([new Uint8Array(0)], 1000), []);
});

Deno.test("maxPdvDataLength: the peer's maximum less the 6-byte PDV header, rounded down to even; 1 MiB for no limit", () => {
  assertEquals(maxPdvDataLength(16384), 16378);
  assertEquals(maxPdvDataLength(16385), 16378);
  assertEquals(maxPdvDataLength(7), 2);
  assertEquals(maxPdvDataLength(0), 1024 * 1024);
});

Deno.test("writePData: one PDV per P-DATA-TF, the last bit only on the last, each PDU within the peer's maximum", async () => {
  const pdus: Uint8Array[] = [];
  const data = bytes(5000);
  await writePData(
    (pdu) => {
      pdus.push(pdu.slice());
      return Promise.resolve();
    },
    { presentationContextId: 3, isCommand: false, peerMaxPduLength: 2001 },
    data,
  );
  const pdvs = pdus.map((p) => decodePdu(p)).map((p) => p.type === "P-DATA-TF" ? p.pdvs : []);
  assertEquals(pdvs.map((list) => list.length), [1, 1, 1]);
  assertEquals(pdvs.map((list) => list[0]!.data.length), [1994, 1994, 1012]);
  assertEquals(pdvs.map((list) => list[0]!.isLast), [false, false, true]);
  assertEquals(pdvs.every((list) => list[0]!.presentationContextId === 3 && !list[0]!.isCommand), true);
  assertEquals(pdus.every((p) => p.length - 6 <= 2001), true);
});

Deno.test("writePData: an empty message is one empty last fragment (PS3.8 Annex E.2)", async () => {
  const pdus: Uint8Array[] = [];
  await writePData(
    (pdu) => {
      pdus.push(pdu);
      return Promise.resolve();
    },
    { presentationContextId: 1, isCommand: true, peerMaxPduLength: 0 },
    new Uint8Array(0),
  );
  const pdu = decodePdu(pdus[0]!);
  assertEquals(pdus.length, 1);
  assertEquals(pdu.type === "P-DATA-TF" ? pdu.pdvs.map((p) => [p.data.length, p.isLast, p.isCommand]) : [], [[
    0,
    true,
    true,
  ]]);
});
