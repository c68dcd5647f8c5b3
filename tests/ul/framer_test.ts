/**
 * PduFramer: any way of cutting a byte stream into chunks yields the same PDUs; the declared
 * length is refused from the header alone; PDUs inside one chunk are views, not copies.
 */
import { deepStrictEqual as assertEquals, ok as assert, throws } from "node:assert/strict";
import { PduFramer } from "../../src/ul/framer.ts";
import { encodePDataTf, encodePdu } from "../../src/ul/pdu_encode.ts";
import { AbortReason, PduError } from "../../src/ul/pdu.ts";
import { fixture, Random } from "./fixtures.ts";

const NAMES = [
  "a_associate_rq_echoscu",
  "p_data_tf_c_echo_rq_echoscu",
  "a_release_rq",
  "p_data_tf_three_pdvs",
  "a_abort",
];

async function stream(): Promise<{ pdus: Uint8Array[]; bytes: Uint8Array }> {
  const pdus = await Promise.all(NAMES.map(fixture));
  return { pdus, bytes: Uint8Array.from(pdus.flatMap((p) => [...p])) };
}

function feed(framer: PduFramer, chunks: Uint8Array[]): Uint8Array[] {
  return chunks.flatMap((chunk) => framer.push(chunk));
}

function framer(): PduFramer {
  return new PduFramer({ maxPDataLength: 16384 });
}

Deno.test("framer: the whole stream in one chunk gives every PDU, as views of the chunk", async () => {
  const { pdus, bytes } = await stream();
  const f = framer();
  const out = f.push(bytes);
  assertEquals(out, pdus);
  for (const pdu of out) assert(pdu.buffer === bytes.buffer, "a PDU inside one chunk is not copied");
  assertEquals(f.bufferedBytes, 0);
});

Deno.test("framer: every split point of the stream into two chunks", async () => {
  const { pdus, bytes } = await stream();
  for (let i = 0; i <= bytes.length; i++) {
    const f = framer();
    assertEquals(feed(f, [bytes.subarray(0, i), bytes.subarray(i)]), pdus, `split at ${i}`);
    assertEquals(f.bufferedBytes, 0);
  }
});

Deno.test("framer: every pair of split points into three chunks (first 120 bytes of two PDUs)", async () => {
  const pdus = [
    await fixture("a_release_rq"),
    await fixture("p_data_tf_three_pdvs"),
    await fixture("a_abort"),
  ];
  const bytes = Uint8Array.from(pdus.flatMap((p) => [...p]));
  for (let i = 0; i <= bytes.length; i++) {
    for (let j = i; j <= bytes.length; j++) {
      const out = feed(framer(), [bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)]);
      assertEquals(out, pdus, `splits at ${i}, ${j}`);
    }
  }
});

Deno.test("framer: one byte at a time", async () => {
  const { pdus, bytes } = await stream();
  const f = framer();
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i++) {
    out.push(...f.push(bytes.subarray(i, i + 1)));
    const consumed = out.reduce((n, p) => n + p.length, 0);
    assertEquals(f.bufferedBytes, i + 1 - consumed);
  }
  assertEquals(out, pdus);
});

Deno.test("framer: random chunk sizes, seeded, with empty chunks mixed in", async () => {
  const { pdus, bytes } = await stream();
  const r = new Random(42);
  for (let round = 0; round < 300; round++) {
    const chunks: Uint8Array[] = [];
    for (let at = 0; at < bytes.length;) {
      const size = r.pick([0, 1, 2, 5, 6, 7, r.int(1, 64), r.int(1, 400)]);
      chunks.push(bytes.slice(at, at + size)); // fresh arrays, as a socket gives them
      at += size;
    }
    assertEquals(feed(framer(), chunks), pdus, `round ${round}`);
  }
});

Deno.test("framer: a PDU spread over chunks is copied once into its own array", async () => {
  const rq = await fixture("a_associate_rq_echoscu");
  const f = framer();
  assertEquals(f.push(rq.slice(0, 100)), []);
  const [pdu] = f.push(rq.slice(100));
  assert(pdu !== undefined);
  assertEquals(pdu, rq);
  assertEquals(pdu.byteOffset, 0);
  assertEquals(pdu.buffer.byteLength, rq.length, "exactly one PDU-sized buffer");
});

Deno.test("framer: a partial PDU stays buffered until its last byte arrives", async () => {
  const rq = await fixture("a_associate_rq_echoscu");
  const f = framer();
  assertEquals(f.push(rq.subarray(0, rq.length - 1)), []);
  assertEquals(f.bufferedBytes, rq.length - 1);
  assertEquals(f.push(rq.subarray(rq.length - 1)), [rq]);
  assertEquals(f.bufferedBytes, 0);
});

function assertPduError(fn: () => unknown, message: string, reason: number): void {
  throws(fn, (error: unknown) => {
    assert(error instanceof PduError, String(error));
    assertEquals(error.message, message);
    assertEquals(error.abortReason, reason);
    return true;
  });
}

Deno.test("framer: an oversize P-DATA-TF is refused from its 6-byte header alone", () => {
  const f = new PduFramer({ maxPDataLength: 16384 });
  // Five bytes: not yet a header, nothing to decide.
  assertEquals(f.push(Uint8Array.of(4, 0, 0, 0, 0x40)), []);
  assertPduError(
    () => f.push(Uint8Array.of(0x01)),
    "Cannot frame P-DATA-TF: declared PDU length 16385 exceeds the allowed 16384 bytes",
    AbortReason.InvalidPduParameterValue,
  );
  assertEquals(f.bufferedBytes, 6, "no body was waited for");
});

Deno.test("framer: a P-DATA-TF of exactly the maximum length passes", () => {
  const data = new Uint8Array(16384 - 6);
  const pdu = encodePDataTf([{ presentationContextId: 1, isCommand: false, isLast: true, data }]);
  assertEquals(new DataView(pdu.buffer).getUint32(2), 16384);
  assertEquals(new PduFramer({ maxPDataLength: 16384 }).push(pdu), [pdu]);
});

Deno.test("framer: other PDUs are limited by maxOtherPduLength (default 1 MiB)", () => {
  assertPduError(
    () => new PduFramer({ maxPDataLength: 16384 }).push(Uint8Array.of(1, 0, 0, 0x10, 0, 1)),
    "Cannot frame A-ASSOCIATE-RQ: declared PDU length 1048577 exceeds the allowed 1048576 bytes",
    AbortReason.InvalidPduParameterValue,
  );
  assertPduError(
    () =>
      new PduFramer({ maxPDataLength: 16384, maxOtherPduLength: 100 }).push(
        Uint8Array.of(7, 0, 0, 0, 0, 101),
      ),
    "Cannot frame A-ABORT: declared PDU length 101 exceeds the allowed 100 bytes",
    AbortReason.InvalidPduParameterValue,
  );
  // The P-DATA-TF limit does not apply to an A-ASSOCIATE-RQ, and the other way round.
  const f = new PduFramer({ maxPDataLength: 10, maxOtherPduLength: 1000 });
  assertEquals(f.push(Uint8Array.of(1, 0, 0, 0, 0x03, 0xe8)), []);
});

Deno.test("framer: an unknown PDU type is refused as soon as the header is complete", () => {
  const f = framer();
  assertPduError(
    () => f.push(Uint8Array.of(0x47, 0x45, 0x54, 0x20, 0x2f, 0x20)), // "GET / " — an HTTP client
    "Cannot frame PDU: unrecognized PDU type 0x47",
    AbortReason.UnrecognizedPdu,
  );
  assertPduError(
    () => new PduFramer({ maxPDataLength: 0 }).push(new Uint8Array(6)),
    "Cannot frame PDU: unrecognized PDU type 0x00",
    1,
  );
});

Deno.test("framer: PDUs pushed before a bad header were returned; after the error it stays failed", async () => {
  const release = await fixture("a_release_rq");
  const f = framer();
  assertEquals(f.push(release), [release]);
  assertPduError(
    () => f.push(Uint8Array.of(9, 0, 0, 0, 0, 0)),
    "Cannot frame PDU: unrecognized PDU type 0x09",
    1,
  );
  assertPduError(() => f.push(release), "Cannot frame PDU: unrecognized PDU type 0x09", 1);
});

Deno.test("framer: setMaxPDataLength applies to the next header", () => {
  const pdu = encodePDataTf([{
    presentationContextId: 1,
    isCommand: true,
    isLast: true,
    data: new Uint8Array(100),
  }]);
  const f = new PduFramer({ maxPDataLength: 50 });
  f.setMaxPDataLength(106);
  assertEquals(f.push(pdu), [pdu]);
  f.setMaxPDataLength(105);
  assertPduError(
    () => f.push(pdu),
    "Cannot frame P-DATA-TF: declared PDU length 106 exceeds the allowed 105 bytes",
    6,
  );
  throws(() => f.setMaxPDataLength(-1), RangeError);
  throws(() => new PduFramer({ maxPDataLength: 1.5 }), RangeError);
});

Deno.test("framer: maxPDataLength 0 means no limit (PS3.8 D.1.1)", () => {
  const pdu = encodePDataTf([{
    presentationContextId: 1,
    isCommand: false,
    isLast: true,
    data: new Uint8Array(200_000),
  }]);
  assertEquals(new PduFramer({ maxPDataLength: 0 }).push(pdu), [pdu]);
});

Deno.test("framer: a 1 MiB P-DATA-TF fed one byte per chunk is linear, not quadratic", () => {
  const data = new Uint8Array(1 << 20).map((_, i) => i & 0xff);
  const pdu = encodePDataTf([{ presentationContextId: 1, isCommand: false, isLast: true, data }]);
  const f = new PduFramer({ maxPDataLength: 0 });
  const out: Uint8Array[] = [];
  for (let i = 0; i < pdu.length; i++) out.push(...f.push(pdu.subarray(i, i + 1)));
  assertEquals(out.length, 1);
  assertEquals(out[0], pdu);
});

Deno.test("framer: ten thousand small PDUs in one large chunk", () => {
  const release = encodePdu({ type: "A-RELEASE-RQ" });
  const many = new Uint8Array(release.length * 10_000);
  for (let i = 0; i < 10_000; i++) many.set(release, i * release.length);
  const out = framer().push(many);
  assertEquals(out.length, 10_000);
  assertEquals(out[9_999], release);
});

Deno.test("framer: a few buffered bytes of a large read buffer are copied, not the buffer kept", async () => {
  const rq = await fixture("a_associate_rq_echoscu");
  const readBuffer = new Uint8Array(256 * 1024);
  readBuffer.set(rq.subarray(0, 3));
  const f = framer();
  assertEquals(f.push(readBuffer.subarray(0, 3)), []);
  readBuffer.fill(0xee); // the caller broke the contract, yet the 3 bytes were already copied
  const [pdu] = f.push(rq.slice(3));
  assertEquals(pdu, rq);
});

Deno.test("framer: a chunk that is most of its buffer is kept as is (no needless copy)", async () => {
  const rq = await fixture("a_associate_rq_echoscu");
  const chunk = rq.slice(0, 100);
  const f = framer();
  assertEquals(f.push(chunk), []);
  chunk[50] = 0x58; // visible in the PDU: the framer kept this very array
  const [pdu] = f.push(rq.slice(100));
  assertEquals(pdu?.[50], 0x58);
});
