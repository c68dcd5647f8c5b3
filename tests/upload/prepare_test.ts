/**
 * The prepare stage with a scripted compressor: a batch is compressed a few instances at a time
 * (memory flat whatever the batch), and an instance whose compressed form is not smaller goes as
 * received.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { PrepareStage } from "../../src/upload/prepare.ts";
import type { Compressor } from "../../src/upload/compress/compressor.ts";
import { defaultConfig } from "../../src/config/types.ts";

function memoryState() {
  const state = new Map<string, string>();
  return {
    getState: (key: string): string | undefined => state.get(key),
    setState: (key: string, value: string): void => void state.set(key, value),
  };
}

Deno.test("prepare: a batch is compressed at most workers + 1 at a time; no gain goes as received", async () => {
  let running = 0;
  let most = 0;
  let closed = 0;
  const compressor: Compressor = {
    workers: 2,
    async prepare(source) {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, 5));
      running--;
      // "big" instances compress to more bytes than they have (noise): no gain.
      const size = String(source).includes("big") ? 2000 : 100;
      return {
        kind: "compressed",
        transferSyntaxUid: "1.2.840.10008.1.2.4.80",
        size,
        stream: () => new ReadableStream({ start: (c) => c.close() }),
        stats: { frames: 1, pixelBytes: 1000, encodedBytes: size, elapsedMs: 1 },
        close: () => {
          closed++;
          return Promise.resolve();
        },
      };
    },
    close() {},
  };
  const stage = new PrepareStage({
    index: memoryState(),
    dataDir: "/data",
    createCompressor: () => compressor,
  });
  const config = { ...defaultConfig("/base").upload, url: "https://pacs.example.org/dicom-web" };
  stage.configure({ ...config, compression: "jpeg-ls", compressionWorkers: 2 });
  const items = Array.from({ length: 20 }, (_, i) => ({
    sopInstanceUid: `1.2.3.${i}`,
    sopClassUid: "1.2.840.10008.5.1.4.1.1.2",
    path: `instances/${i % 5 === 0 ? "big" : "ct"}${i}.dcm`,
    size: 1000,
  }));
  const batch = await stage.prepare(items);
  assert(most <= 3, `at most workers + 1 = 3 at once, saw ${most}`);
  assert(most >= 2, `the pool is kept busy, saw ${most}`);
  assertEquals(batch.items.map((i) => i.sopInstanceUid), items.map((i) => i.sopInstanceUid), "order kept");
  const noGain = items.filter((i) => i.path.includes("big")).map((i) => i.sopInstanceUid);
  for (const uid of noGain) assertEquals(batch.how.get(uid), { cause: "no-gain" });
  assertEquals(closed, noGain.length, "the unused compressed forms are closed at once");
  const sentCompressed = batch.items.filter((i) => i.content !== undefined).length;
  assertEquals(sentCompressed, items.length - noGain.length);
  await batch.close();
});
