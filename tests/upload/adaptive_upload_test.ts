/**
 * Adaptive sending through the uploader (issue 11): while the compression pool is behind, the
 * instances it has not started go as received and are counted as "encoder-behind"; instances it
 * is encoding are waited for; a batch is claimed ahead while every request slot is busy, so the
 * pool compresses it before its request starts; an urgent study queued after that look-ahead was
 * claimed still goes first. No timing assertions: the pool is held shut by the test, or the
 * server answers late so that the order of events is fixed.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { defaultConfig, type UploadConfig } from "../../src/config/types.ts";
import { QueueIndex } from "../../src/store/queue_index.ts";
import { Uploader } from "../../src/upload/uploader.ts";
import { COMPRESSION_STATE_KEY, type CompressionRecord } from "../../src/upload/prepare.ts";
import { type Compressor, createCompressor } from "../../src/upload/compress/compressor.ts";
import { parseMetaHeader } from "../../scripts/harness/data.ts";
import { type FakeStowServer, queueStudy, startFakeStow, waitFor } from "./fake_stow.ts";

const JPEG_LS = "1.2.840.10008.1.2.4.80";
const EXPLICIT_LITTLE = "1.2.840.10008.1.2.1";

interface Harness {
  dataDir: string;
  index: QueueIndex;
  fake: FakeStowServer;
  uploader(config: Partial<UploadConfig>, createCompressor?: (workers: number) => Compressor): Uploader;
}

async function harness(body: (h: Harness) => Promise<void>): Promise<void> {
  const dataDir = await Deno.makeTempDir({ prefix: "adaptive_upload_test_" });
  const index = QueueIndex.open(`${dataDir}/queue.sqlite`);
  const fake = startFakeStow();
  const uploaders: Uploader[] = [];
  try {
    await body({
      dataDir,
      index,
      fake,
      uploader(overrides, create) {
        const uploader = new Uploader({
          index,
          dataDir,
          config: {
            ...defaultConfig("/unused").upload,
            url: fake.url,
            maxBackoffMs: 200,
            idleTimeoutMs: 10_000,
            compressionWorkers: 1,
            ...overrides,
          },
          retryBaseMs: 20,
          retentionIntervalMs: 0,
          stopGraceMs: 200,
          ...(create === undefined ? {} : { createCompressor: create }),
        });
        uploaders.push(uploader);
        return uploader;
      },
    });
  } finally {
    for (const uploader of uploaders) await uploader.stop();
    await fake.close();
    index.close();
    await Deno.remove(dataDir, { recursive: true });
  }
}

function record(index: QueueIndex): CompressionRecord {
  return JSON.parse(index.getState(COMPRESSION_STATE_KEY)!) as CompressionRecord;
}

function syntaxOf(bytes: Uint8Array): string {
  return parseMetaHeader(bytes).values.get("00020010") ?? "";
}

/** The real pool; instances whose path passes `held` wait until `open()`. */
function heldPool(held: (path: string) => boolean = () => true): {
  create: (workers: number) => Compressor;
  open: () => void;
  started: string[];
} {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => open = resolve);
  const started: string[] = [];
  return {
    started,
    open: () => open(),
    create: (workers) => {
      const real = createCompressor({ workers });
      return {
        workers,
        prepare: async (source, options) => {
          started.push(String(source));
          if (held(String(source))) await gate;
          return await real.prepare(source, options);
        },
        close: () => real.close(),
      };
    },
  };
}

Deno.test("adaptive: before the first answer every instance waits for the encoder (the bodies only fill buffers)", async () => {
  await harness(async (h) => {
    const study = await queueStudy(h.index, h.dataDir, { count: 4, rows: 64 });
    const pool = heldPool();
    setTimeout(() => pool.open(), 400); // well past the grace
    h.uploader({ concurrency: 1 }, pool.create).start();
    await waitFor(() => h.index.counts().delivered === 4, "4 delivered");
    for (const uid of study.uids) assertEquals(syntaxOf(h.fake.files.get(uid)!), JPEG_LS);
    assertEquals(record(h.index).original["encoder-behind"] ?? 0, 0);
  });
});

Deno.test("adaptive: once answered, instances the pool has not started go as received (encoder-behind); those being encoded are waited for", async () => {
  await harness(async (h) => {
    const study = await queueStudy(h.index, h.dataDir, { count: 6, rows: 64 });
    const second = study.uids.slice(3).map((uid) => study.paths.get(uid)!);
    // The second batch's instances are held in the pool until its request reaches the server.
    const pool = heldPool((path) => second.some((p) => path.endsWith(p)));
    h.fake.before = ({ count }) => {
      if (count === 2) pool.open();
      return undefined;
    };
    h.uploader({ concurrency: 1, batchMaxInstances: 3 }, pool.create).start();
    await waitFor(() => h.index.counts().delivered === 6, "6 delivered");
    assertEquals(h.fake.requests.length, 2);
    const syntaxes = study.uids.map((uid) => syntaxOf(h.fake.files.get(uid)!));
    assertEquals(syntaxes.slice(0, 3), [JPEG_LS, JPEG_LS, JPEG_LS], "the first request: all compressed");
    // Workers + 1 = 2 of the second batch were being encoded (claimed ahead): waited for.
    assertEquals(syntaxes.slice(3, 5), [JPEG_LS, JPEG_LS]);
    // Its last had not started when the body reached it, the first answer in: as received.
    assertEquals(syntaxes[5], EXPLICIT_LITTLE);
    assertEquals(pool.started.some((path) => path.endsWith(second[2]!)), false, "never encoded");
    const r = record(h.index);
    assertEquals([r.compressed, r.original["encoder-behind"] ?? 0], [5, 1], "counted under their own cause");
  });
});

Deno.test("adaptive off: with the pool behind, every instance still waits for its compression", async () => {
  await harness(async (h) => {
    const study = await queueStudy(h.index, h.dataDir, { count: 4, rows: 64 });
    const pool = heldPool();
    setTimeout(() => pool.open(), 200);
    h.uploader({ concurrency: 1, compressionAdaptive: false }, pool.create).start();
    await waitFor(() => h.index.counts().delivered === 4, "4 delivered");
    for (const uid of study.uids) assertEquals(syntaxOf(h.fake.files.get(uid)!), JPEG_LS);
    const r = record(h.index);
    assertEquals([r.compressed, r.original["encoder-behind"] ?? 0], [4, 0]);
  });
});

Deno.test("look-ahead: the next batch is claimed and compressed while every request slot is busy, and goes compressed", async () => {
  await harness(async (h) => {
    const study = await queueStudy(h.index, h.dataDir, { count: 6, rows: 64 });
    // The first request is read only when the look-ahead batch is compressed: the second request
    // then finds every instance ready (a thin link, where the pool is ahead of the sender).
    const finished = new Set<string>();
    const counting = (workers: number): Compressor => {
      const real = createCompressor({ workers });
      return {
        workers,
        prepare: async (source, options) => {
          const out = await real.prepare(source, options);
          finished.add(String(source));
          return out;
        },
        close: () => real.close(),
      };
    };
    let firstAnswered = false;
    h.fake.before = async ({ count }) => {
      if (count === 1) {
        await waitFor(() => h.index.counts().sending === 6, "the second batch claimed ahead", 10_000);
        const ahead = study.uids.slice(3).map((uid) => study.paths.get(uid)!);
        await waitFor(
          () => ahead.every((path) => [...finished].some((f) => f.endsWith(path))),
          "the look-ahead compressed",
          10_000,
        );
      }
      firstAnswered = true;
      return undefined;
    };
    h.uploader({ concurrency: 1, batchMaxInstances: 3 }, counting).start();
    await waitFor(() => h.index.counts().delivered === 6, "6 delivered");
    assert(firstAnswered);
    assertEquals(h.fake.requests.length, 2);
    const second = h.fake.requests[1]!.uids;
    assertEquals(
      [...second].sort(),
      study.uids.slice(3).sort(),
      "the look-ahead is the next batch in queue order",
    );
    for (const uid of second) assertEquals(syntaxOf(h.fake.files.get(uid)!), JPEG_LS);
  });
});

Deno.test("look-ahead and urgent first: an urgent study queued after the look-ahead was claimed goes before it", async () => {
  await harness(async (h) => {
    const a = await queueStudy(h.index, h.dataDir, { count: 2, rows: 16 });
    const b = await queueStudy(h.index, h.dataDir, { count: 2, rows: 16 });
    const urgent = await queueStudy(h.index, h.dataDir, { count: 1, rows: 16, record: false });
    const uid = urgent.uids[0]!;
    const size = (await Deno.stat(`${h.dataDir}/${urgent.paths.get(uid)}`)).size;
    h.fake.before = async ({ count }) => {
      if (count !== 1) return undefined;
      // Study B is claimed ahead by now (every slot busy); the urgent study arrives after it.
      await waitFor(() => h.index.counts().sending === 4, "study B claimed ahead", 10_000);
      h.index.recordReceived({
        sopInstanceUid: uid,
        sopClassUid: "1.2.840.10008.5.1.4.1.1.2",
        studyInstanceUid: urgent.studyInstanceUid,
        seriesInstanceUid: "1.2.3",
        transferSyntaxUid: EXPLICIT_LITTLE,
        path: urgent.paths.get(uid)!,
        size,
        callingAeTitle: "ER_CT",
        receivedAt: Date.now(),
        patientId: "",
        patientName: "",
        modality: "CT",
        studyDate: "",
        studyDescription: "",
        accessionNumber: "",
      });
      return undefined;
    };
    h.uploader({ concurrency: 1, batchMaxInstances: 2, urgentAeTitles: ["ER_CT"] }).start();
    await waitFor(() => h.index.counts().delivered === 5, "5 delivered");
    // Parts go in the order they are ready, so compare each request's instances as a set.
    const sorted = (uids: string[]) => [...uids].sort();
    assertEquals(h.fake.requests.map((r) => sorted(r.uids)), [sorted(a.uids), [uid], sorted(b.uids)]);
    assertEquals(h.index.counts().failed, 0);
  });
});
