import { assert, assertEquals, assertRejects } from "../support/assert.ts";
import { DatasetBuffer } from "../../src/store/dataset_buffer.ts";
import type { SpoolFile } from "../../src/store/spool.ts";

/** A SpoolFile that records (copies of) what is written, optionally failing after `limit` bytes. */
function recordingFile(limit = Infinity): SpoolFile & { writes: Uint8Array[]; inFlightMax: number } {
  let written = 0;
  let inFlight = 0;
  const file = {
    tempPath: "/nowhere.part",
    get bytesWritten() {
      return written;
    },
    writes: [] as Uint8Array[],
    inFlightMax: 0,
    async write(bytes: Uint8Array) {
      inFlight++;
      file.inFlightMax = Math.max(file.inFlightMax, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 1));
      inFlight--;
      if (written + bytes.length > limit) throw new Error("No space left on device (os error 28)");
      file.writes.push(bytes.slice());
      written += bytes.length;
    },
    commit: () => Promise.reject(new Error("not used")),
    discard: () => Promise.resolve(),
  };
  return file;
}

function pattern(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 7 + seed) & 0xFF);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

Deno.test("DatasetBuffer: prefix and fragments land in order, in chunk-sized writes, one in flight", async () => {
  const buffer = new DatasetBuffer({ chunkBytes: 1000 });
  const file = recordingFile();
  const prefix = pattern(132, 9);
  const fragments = [pattern(250, 1), pattern(0, 2), pattern(1700, 3), pattern(999, 4), pattern(1, 5)];
  buffer.start(file, prefix);
  for (const fragment of fragments) {
    // The caller may reuse its array once append resolves.
    const copy = fragment.slice();
    await buffer.append(copy);
    copy.fill(0xEE);
  }
  await buffer.finish();
  assertEquals(concat(file.writes), concat([prefix, ...fragments]));
  assertEquals(file.writes.map((w) => w.length), [1000, 1000, 1000, 82]);
  assertEquals(file.inFlightMax, 1);
  assertEquals(buffer.datasetLength, 250 + 1700 + 999 + 1);
});

Deno.test("DatasetBuffer: reused for the next instance", async () => {
  const buffer = new DatasetBuffer({ chunkBytes: 64 });
  buffer.start(recordingFile(), pattern(10, 1));
  await buffer.append(pattern(500, 2));
  await buffer.finish();
  const file = recordingFile();
  buffer.start(file, pattern(10, 3));
  await buffer.append(pattern(40, 4));
  await buffer.finish();
  assertEquals(concat(file.writes), concat([pattern(10, 3), pattern(40, 4)]));
  assertEquals(buffer.datasetLength, 40);
});

Deno.test("DatasetBuffer: a failed write is thrown by a later append or by finish", async () => {
  const buffer = new DatasetBuffer({ chunkBytes: 100 });
  const file = recordingFile(150);
  buffer.start(file, new Uint8Array(0));
  await buffer.append(pattern(100, 1)); // full chunk: its write starts on the next append
  await buffer.append(pattern(100, 2)); // filled while the first is written
  await buffer.append(pattern(100, 3)); // waits for the first write; the second (failing) starts
  const error = await assertRejects(() => buffer.append(pattern(100, 4)), Error, "No space left");
  assert(error instanceof Error);
  await assertRejects(() => buffer.finish(), Error, "No space left");
  await buffer.reset();
  assertEquals(file.bytesWritten, 100);
});
