import { assert, assertEquals, assertRejects } from "../support/assert.ts";
import { PduFramer } from "../../src/ul/framer.ts";
import { type ByteSource, PduReader } from "../../src/ul/pdu_reader.ts";
import { encodePdu } from "../../src/ul/pdu_encode.ts";
import { PduError } from "../../src/ul/pdu.ts";
import { concatBytes } from "../../src/bytes.ts";

/** A byte source that hands out scripted chunks, each when the test releases it. */
class ScriptedSource implements ByteSource {
  #chunks: (Uint8Array | null)[] = [];
  #waiting: (() => void) | null = null;
  #carry: Uint8Array | null = null;

  give(chunk: Uint8Array | null): void {
    this.#chunks.push(chunk);
    this.#waiting?.();
  }

  async read(p: Uint8Array): Promise<number | null> {
    if (!this.#carry) {
      while (this.#chunks.length === 0) await new Promise<void>((r) => this.#waiting = r);
      const next = this.#chunks.shift()!;
      if (next === null) return null;
      this.#carry = next;
    }
    const n = Math.min(p.length, this.#carry.length);
    p.set(this.#carry.subarray(0, n));
    this.#carry = n === this.#carry.length ? null : this.#carry.subarray(n);
    return n;
  }
}

const releaseRq = encodePdu({ type: "A-RELEASE-RQ" });
const abort = encodePdu({ type: "A-ABORT", source: 2, reason: 1 });

Deno.test("PduReader: a PDU split over reads and two PDUs in one read come out whole, in order", async () => {
  const source = new ScriptedSource();
  const reader = new PduReader(source, new PduFramer({ maxPDataLength: 16384 }));
  source.give(releaseRq.subarray(0, 3));
  source.give(concatBytes([releaseRq.subarray(3), abort]));
  assertEquals(await reader.next(1000), { kind: "pdu", pdu: { type: "A-RELEASE-RQ" } });
  assertEquals(await reader.next(1000), { kind: "pdu", pdu: { type: "A-ABORT", source: 2, reason: 1 } });
  source.give(null);
  assertEquals(await reader.next(1000), { kind: "closed" });
  reader.close();
});

Deno.test("PduReader: a timeout keeps the read under way; its bytes are not lost", async () => {
  const source = new ScriptedSource();
  const reader = new PduReader(source, new PduFramer({ maxPDataLength: 16384 }));
  assertEquals(await reader.next(30), { kind: "timeout" });
  source.give(releaseRq);
  assertEquals(await reader.next(1000), { kind: "pdu", pdu: { type: "A-RELEASE-RQ" } });
  reader.close();
});

Deno.test("PduReader: an unrecognized PDU type is a PduError (Evt19)", async () => {
  const source = new ScriptedSource();
  const reader = new PduReader(source, new PduFramer({ maxPDataLength: 16384 }));
  source.give(Uint8Array.of(0x09, 0, 0, 0, 0, 0));
  const error = await assertRejects(() => reader.next(1000), PduError, "unrecognized PDU type 0x09");
  assert(error instanceof PduError);
  assertEquals(error.abortReason, 1);
  reader.close();
});
