/**
 * PduFramer: any way of cutting a byte stream into chunks or reads yields the same PDUs; the
 * declared length is refused from the header alone; each PDU gets one buffer of its own size,
 * which reads fill directly, never taking bytes of the next PDU.
 */
import { assert, assertEquals, assertPduError, assertThrows } from "../support/assert.ts";
import { PduFramer } from "../../src/ul/framer.ts";
import { encodePDataTf, encodePdu } from "../../src/ul/pdu_encode.ts";
import { AbortReason } from "../../src/ul/pdu.ts";
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

Deno.test("framer: the whole stream in one chunk gives every PDU, each in a buffer of its own size", async () => {
  const { pdus, bytes } = await stream();
  const f = framer();
  const out = f.push(bytes);
  assertEquals(out, pdus);
  for (const pdu of out) {
    assertEquals(pdu.byteOffset, 0);
    assertEquals(pdu.buffer.byteLength, pdu.length, "exactly one PDU-sized buffer");
  }
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
  assertThrows(() => f.setMaxPDataLength(-1), RangeError);
  assertThrows(() => new PduFramer({ maxPDataLength: 1.5 }), RangeError);
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

Deno.test("framer: push copies, so the caller may reuse its chunk at once", async () => {
  const rq = await fixture("a_associate_rq_echoscu");
  const chunk = rq.slice(0, 100);
  const f = framer();
  assertEquals(f.push(chunk), []);
  chunk.fill(0x58);
  const [pdu] = f.push(rq.slice(100));
  assertEquals(pdu, rq);
});

// --- Reading straight into the framer's buffers (readBuffer / commit), as the acceptor does. ---

/**
 * Plays a TCP peer: the stream arrives in `segments` (sizes); each read takes what has arrived of
 * the current segment, at most the length of the buffer the framer names (as `conn.read` does).
 * Returns the PDUs and every buffer a read was given.
 */
function readAll(
  f: PduFramer,
  bytes: Uint8Array,
  segments: number[],
): { out: Uint8Array[]; targets: Uint8Array[] } {
  const out: Uint8Array[] = [];
  const targets: Uint8Array[] = [];
  let at = 0;
  for (const size of segments) {
    let end = Math.min(bytes.length, at + size);
    while (at < end) {
      const target = f.readBuffer();
      targets.push(target);
      const n = Math.min(target.length, end - at);
      target.set(bytes.subarray(at, at + n));
      at += n;
      out.push(...f.commit(n));
    }
    end = at;
  }
  assertEquals(at, bytes.length, "the segments cover the stream");
  return { out, targets };
}

function pData(length: number, fill = 0): Uint8Array {
  const data = new Uint8Array(length).map((_, i) => (i + fill) & 0xff);
  return encodePDataTf([{ presentationContextId: 1, isCommand: false, isLast: true, data }]);
}

function concatAll(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

Deno.test("framer reads: every split point of the stream into two segments", async () => {
  const { pdus, bytes } = await stream();
  for (let i = 0; i <= bytes.length; i++) {
    const f = new PduFramer({ maxPDataLength: 16384, scratchBytes: 64 });
    assertEquals(readAll(f, bytes, [i, bytes.length - i]).out, pdus, `split at ${i}`);
    assertEquals(f.bufferedBytes, 0);
  }
});

Deno.test("framer reads: random segment and scratch sizes, seeded", async () => {
  const { pdus } = await stream();
  const big = pData(40_000, 7);
  const all = [...pdus, big, ...pdus];
  const bytes = concatAll(all);
  const r = new Random(7);
  for (let round = 0; round < 200; round++) {
    const segments: number[] = [];
    for (let at = 0; at < bytes.length;) {
      const size = r.pick([1, 2, 5, 6, 7, r.int(1, 64), r.int(1, 400), r.int(1, 70_000)]);
      segments.push(size);
      at += size;
    }
    const f = new PduFramer({ maxPDataLength: 65536, scratchBytes: r.pick([6, 7, 100, 4096, 65536]) });
    assertEquals(readAll(f, bytes, segments).out, all, `round ${round}`);
    assertEquals(f.bufferedBytes, 0);
  }
});

Deno.test("framer reads: a P-DATA-TF in many reads lands in its own buffer, no read takes the next PDU", () => {
  const first = pData(100_000, 1);
  const second = pData(100_000, 2);
  const f = new PduFramer({ maxPDataLength: 262144, scratchBytes: 1024 });
  // The header and the first 1018 bytes after it come through the scratch buffer, the rest straight
  // into the PDU's buffer: each read is offered exactly the unfilled rest of the PDU.
  const { out, targets } = readAll(f, concatAll([first, second]), [200_024]);
  assertEquals(out, [first, second]);
  const [a, b] = out;
  assertEquals(a!.buffer.byteLength, first.length, "one buffer of exactly 6 + PDU-length bytes");
  assertEquals(targets.map((t) => t.length), [1024, first.length - 1024, 1024, second.length - 1024]);
  assert(targets[1]!.buffer === a!.buffer && targets[1]!.byteOffset === 1024, "read straight into the PDU");
  assert(targets[3]!.buffer === b!.buffer, "read straight into the PDU");
  assert(targets[0]!.buffer === targets[2]!.buffer, "the scratch buffer is reused between PDUs");
});

Deno.test("framer reads: a PDU arriving in many small reads (the peer sends 1000-byte segments)", () => {
  const pdu = pData(50_000, 3);
  const f = new PduFramer({ maxPDataLength: 65536 });
  const segments = Array.from({ length: Math.ceil(pdu.length / 1000) }, () => 1000);
  const { out, targets } = readAll(f, pdu, segments);
  assertEquals(out, [pdu]);
  assertEquals(targets.length, segments.length);
  for (const target of targets.slice(1)) assert(target.buffer === out[0]!.buffer);
});

Deno.test("framer reads: several PDUs and the start of the next in one read", async () => {
  const release = encodePdu({ type: "A-RELEASE-RQ" });
  const command = await fixture("p_data_tf_c_echo_rq_echoscu");
  const big = pData(30_000, 4);
  const bytes = concatAll([release, command, release, big]);
  const f = new PduFramer({ maxPDataLength: 65536 });
  const target = f.readBuffer();
  target.set(bytes.subarray(0, 5000));
  assertEquals(f.commit(5000), [release, command, release]);
  assertEquals(f.bufferedBytes, 5000 - release.length * 2 - command.length);
  const rest = f.readBuffer();
  assertEquals(rest.length, bytes.length - 5000, "the rest of the big PDU, not more");
  rest.set(bytes.subarray(5000));
  assertEquals(f.commit(rest.length), [big]);
});

Deno.test("framer reads: one byte per read for a 1 MiB P-DATA-TF is linear and keeps one buffer", () => {
  const pdu = pData(1 << 20, 5);
  const f = new PduFramer({ maxPDataLength: 0 });
  const out: Uint8Array[] = [];
  for (let i = 0; i < pdu.length; i++) {
    f.readBuffer()[0] = pdu[i]!;
    out.push(...f.commit(1));
  }
  assertEquals(out, [pdu]);
  assertEquals(out[0]!.buffer.byteLength, pdu.length);
});

Deno.test("framer reads: an oversize P-DATA-TF is refused from its header, before any body is buffered", () => {
  const f = new PduFramer({ maxPDataLength: 16384 });
  const target = f.readBuffer();
  target.set([4, 0, 0, 0, 0x40, 0x01, 0xaa, 0xbb]); // PDU-length 16385, then two body bytes
  assertPduError(
    () => f.commit(8),
    "Cannot frame P-DATA-TF: declared PDU length 16385 exceeds the allowed 16384 bytes",
    AbortReason.InvalidPduParameterValue,
  );
  assertEquals(f.bufferedBytes, 6, "no body was buffered");
  // What the peer still sends is read into the scratch buffer and refused with the same error.
  assert(f.readBuffer() === target);
  assertPduError(
    () => f.commit(1),
    "Cannot frame P-DATA-TF: declared PDU length 16385 exceeds the allowed 16384 bytes",
    AbortReason.InvalidPduParameterValue,
  );
});

Deno.test("framer reads: a large declared length allowed by the limits does not allocate it up front", () => {
  // No P-DATA-TF limit (0): 4 GiB declared; the buffer starts at 4 MiB and grows with the bytes.
  const f = new PduFramer({ maxPDataLength: 0 });
  f.readBuffer().set([4, 0, 0xff, 0xff, 0xff, 0xf9]);
  assertEquals(f.commit(6), []);
  assertEquals(f.readBuffer().length, 4 * 1024 * 1024 - 6);
  // An A-ASSOCIATE-RQ declaring 1 MiB starts at 64 KiB, and still comes out whole.
  const rq = new Uint8Array(6 + 200_000).map((_, i) => i & 0xff);
  rq.set([1, 0, 0, 0x03, 0x0d, 0x40]);
  const g = new PduFramer({ maxPDataLength: 0 });
  g.readBuffer().set(rq.subarray(0, 6));
  assertEquals(g.commit(6), []);
  assertEquals(g.readBuffer().length, 64 * 1024 - 6);
  assertEquals(readAll(g, rq.subarray(6), [rq.length - 6]).out, [rq]);
});

Deno.test("framer reads: commit checks its argument against the named buffer", () => {
  const f = framer();
  assertThrows(() => f.commit(1), Error, "without readBuffer");
  f.readBuffer().set([4, 0, 0, 0, 0, 10]);
  f.commit(6);
  assertEquals(f.readBuffer().length, 10);
  assertThrows(() => f.commit(11), RangeError);
});

Deno.test("framer pool: a released P-DATA-TF buffer is reused, a kept one never", () => {
  const f = new PduFramer({ maxPDataLength: 65536 });
  const [a] = f.push(pData(20_000, 1));
  const [b] = f.push(pData(20_000, 2));
  assert(a!.buffer !== b!.buffer, "a buffer not released is not reused");
  f.release(a!);
  f.release(a!); // a second release is ignored
  const [c] = f.push(pData(10_000, 3));
  assert(c!.buffer === a!.buffer, "the released buffer serves a smaller PDU");
  assertEquals(c, pData(10_000, 3));
  assertEquals(c!.length, 10_012, "a view of exactly the PDU's length");
  const [d] = f.push(pData(10_000, 4));
  assert(d!.buffer !== a!.buffer && d!.buffer !== b!.buffer, "lent buffers are not handed out twice");
  assertEquals(b, pData(20_000, 2), "a kept PDU is never overwritten");
  // Other PDU types are not pooled.
  const [release] = f.push(encodePdu({ type: "A-RELEASE-RQ" }));
  f.release(release!);
  const [e] = f.push(pData(4));
  assert(e!.buffer !== release!.buffer);
});

Deno.test("framer pool: keeps at most two buffers, the larger ones", () => {
  const f = new PduFramer({ maxPDataLength: 65536 });
  const pdus = [100, 50_000, 200, 60_000].map((n) => f.push(pData(n))[0]!);
  for (const pdu of pdus) f.release(pdu);
  const [x] = f.push(pData(55_000));
  assert(x!.buffer === pdus[3]!.buffer);
  const [y] = f.push(pData(100));
  assert(y!.buffer === pdus[1]!.buffer, "the small buffers were dropped");
});
