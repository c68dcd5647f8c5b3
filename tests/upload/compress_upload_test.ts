/**
 * Issue 11 through the uploader against the fake STOW-RS server: instances go compressed
 * (JPEG-LS) with the part's transfer-syntax parameter while the local copy stays byte for byte;
 * DCMTK's dcmdjpls decodes what arrived to the original data set; the fallback when the archive
 * refuses the syntax (Failure Reason C122, HTTP 415), remembered per destination and reset by a
 * settings change; originals counted by cause; urgent studies first.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { defaultConfig, type UploadConfig } from "../../src/config/types.ts";
import { QueueIndex } from "../../src/store/queue_index.ts";
import { Uploader } from "../../src/upload/uploader.ts";
import { COMPRESSION_STATE_KEY, type CompressionRecord } from "../../src/upload/prepare.ts";
import { datasetFingerprint, parseMetaHeader } from "../../scripts/harness/data.ts";
import { type FakeStowServer, queueStudy, startFakeStow, storeResponseJson, waitFor } from "./fake_stow.ts";

const JPEG_LS = "1.2.840.10008.1.2.4.80";
const HTJ2K = "1.2.840.10008.1.2.4.201";

interface Harness {
  dataDir: string;
  index: QueueIndex;
  fake: FakeStowServer;
  uploader(config?: Partial<UploadConfig>): Uploader;
}

function config(fake: FakeStowServer, overrides: Partial<UploadConfig>): UploadConfig {
  return {
    ...defaultConfig("/unused").upload,
    url: fake.url,
    maxBackoffMs: 200,
    idleTimeoutMs: 10_000,
    compressionWorkers: 1,
    // Every instance waits for its compression: on loopback the link is faster than any encoder,
    // so adaptive sending (tested on its own below) would send most of them as received.
    compressionAdaptive: false,
    concurrency: 1,
    ...overrides,
  };
}

async function harness(body: (h: Harness) => Promise<void>): Promise<void> {
  const dataDir = await Deno.makeTempDir({ prefix: "compress_upload_test_" });
  const index = QueueIndex.open(`${dataDir}/queue.sqlite`);
  const fake = startFakeStow();
  const uploaders: Uploader[] = [];
  try {
    await body({
      dataDir,
      index,
      fake,
      uploader(overrides = {}) {
        const uploader = new Uploader({
          index,
          dataDir,
          config: config(fake, overrides),
          retryBaseMs: 20,
          retentionIntervalMs: 0,
          stopGraceMs: 200,
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

async function run(command: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(command, { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) throw new Error(`${command} failed: ${new TextDecoder().decode(out.stderr)}`);
}

Deno.test("compressed upload: JPEG-LS parts named in Content-Type, local copy untouched, dcmdjpls gives the original", async () => {
  await harness(async (h) => {
    const study = await queueStudy(h.index, h.dataDir, { count: 4, rows: 64 });
    const before = new Map<string, Uint8Array>();
    for (const uid of study.uids) {
      before.set(uid, await Deno.readFile(`${h.dataDir}/${study.paths.get(uid)}`));
    }
    h.uploader().start();
    await waitFor(() => h.index.counts().delivered === 4, "4 delivered");
    // The first request names the syntax in its parts (the probe); it was stored, so all do.
    const named = `application/dicom; transfer-syntax=${JPEG_LS}`;
    for (const request of h.fake.requests) {
      for (const type of request.partTypes) assertEquals(type, named);
    }
    const work = await Deno.makeTempDir({ prefix: "dcmdjpls_" });
    try {
      for (const uid of study.uids) {
        const local = `${h.dataDir}/${study.paths.get(uid)}`;
        assertEquals(
          await Deno.readFile(local),
          before.get(uid),
          "the local copy is byte for byte as received",
        );
        const sent = h.fake.files.get(uid)!;
        assertEquals(syntaxOf(sent), JPEG_LS);
        assert(sent.length < before.get(uid)!.length, "fewer bytes on the wire");
        // The independent decoder: DCMTK decodes what arrived to the original data set.
        await Deno.writeFile(`${work}/sent.dcm`, sent);
        await run("dcmdjpls", ["+te", `${work}/sent.dcm`, `${work}/decoded.dcm`]);
        await run("dcmconv", ["+te", local, `${work}/original.dcm`]);
        assertEquals(
          await datasetFingerprint(`${work}/decoded.dcm`),
          await datasetFingerprint(`${work}/original.dcm`),
        );
      }
    } finally {
      await Deno.remove(work, { recursive: true });
    }
    const r = record(h.index);
    assertEquals([r.setting, r.compressed, r.refused], ["jpeg-ls", 4, []]);
    assert(r.bytesOut < r.bytesIn);
  });
});

Deno.test("fallback: a Failed SOP with reason C122 goes again as received, later instances go uncompressed, a settings change resets it", async () => {
  await harness(async (h) => {
    // The scripted archive refuses every JPEG-LS instance with C122 and stores the rest.
    h.fake.after = ({ uids, store }) => {
      store(uids);
      const refused = uids.filter((uid) => syntaxOf(h.fake.files.get(uid)!) === JPEG_LS);
      for (const uid of refused) {
        h.fake.stored.delete(uid);
        h.fake.files.delete(uid);
      }
      const accepted = uids.filter((uid) => !refused.includes(uid));
      return new Response(
        storeResponseJson(accepted, refused.map((uid) => ({ uid, reason: 0xC122 }))),
        {
          status: refused.length > 0 ? (accepted.length > 0 ? 202 : 409) : 200,
          headers: { "content-type": "application/dicom+json" },
        },
      );
    };
    const first = await queueStudy(h.index, h.dataDir, { count: 2, rows: 32 });
    const uploader = h.uploader();
    uploader.start();
    await waitFor(() => h.index.counts().delivered === 2, "first study delivered");
    assertEquals(h.index.counts().failed, 0);
    for (const uid of first.uids) {
      assertEquals(
        h.fake.files.get(uid),
        await Deno.readFile(`${h.dataDir}/${first.paths.get(uid)}`),
        "as received",
      );
    }
    assertEquals(h.fake.requests.length, 2, "one refused request, one resend as received");
    const r = record(h.index);
    assertEquals(r.refused.map((x) => [x.url, x.syntax, x.transferSyntaxUid]), [[
      h.fake.url,
      "jpeg-ls",
      JPEG_LS,
    ]]);
    assertEquals(r.original["refused"], 2);

    // The next study goes uncompressed at once.
    await queueStudy(h.index, h.dataDir, { count: 2, rows: 32 });
    await waitFor(() => h.index.counts().delivered === 4, "second study delivered");
    const later = h.fake.requests.slice(2);
    assert(later.length >= 1);
    for (const request of later) {
      for (const type of request.partTypes) assertEquals(type, "application/dicom");
    }

    // A settings change (here: HTJ2K, which this archive takes) clears the memory.
    await uploader.setConfig(config(h.fake, { compression: "htj2k" }));
    assertEquals(record(h.index).refused, []);
    const third = await queueStudy(h.index, h.dataDir, { count: 1, rows: 32 });
    await waitFor(() => h.index.counts().delivered === 5, "third study delivered");
    assertEquals(syntaxOf(h.fake.files.get(third.uids[0]!)!), HTJ2K);
  });
});

Deno.test("fallback: HTTP 415 to a compressed request sends the batch again as received and remembers it", async () => {
  await harness(async (h) => {
    h.fake.before = ({ request }) => {
      void request;
      return undefined;
    };
    h.fake.after = ({ store, uids }) => {
      const last = h.fake.requests.at(-1)!;
      if (last.partTypes.some((t) => t.includes("transfer-syntax"))) {
        return new Response("no", { status: 415 });
      }
      store(uids);
      return undefined;
    };
    const study = await queueStudy(h.index, h.dataDir, { count: 3, rows: 32 });
    h.uploader().start();
    await waitFor(() => h.index.counts().delivered === 3, "delivered");
    for (const uid of study.uids) {
      assertEquals(h.fake.files.get(uid), await Deno.readFile(`${h.dataDir}/${study.paths.get(uid)}`));
    }
    assertEquals(record(h.index).refused.length, 1);
    assertEquals(h.index.counts().failed, 0);
  });
});

Deno.test("compression none sends as received; originals are counted by cause", async () => {
  await harness(async (h) => {
    const study = await queueStudy(h.index, h.dataDir, { count: 2, rows: 16 });
    h.uploader({ compression: "none" }).start();
    await waitFor(() => h.index.counts().delivered === 2, "delivered");
    assertEquals(h.fake.requests[0]!.partTypes, ["application/dicom", "application/dicom"]);
    for (const uid of study.uids) {
      assertEquals(h.fake.files.get(uid), await Deno.readFile(`${h.dataDir}/${study.paths.get(uid)}`));
    }
    assertEquals(record(h.index).original["off"], 2);
  });
});

Deno.test("urgent first through the uploader: a study from an urgent AE title goes before the backlog", async () => {
  await harness(async (h) => {
    await queueStudy(h.index, h.dataDir, { count: 2, rows: 16 });
    await queueStudy(h.index, h.dataDir, { count: 2, rows: 16 });
    const urgent = await queueStudy(h.index, h.dataDir, { count: 1, rows: 16, record: false });
    const uid = urgent.uids[0]!;
    const info = await Deno.stat(`${h.dataDir}/${urgent.paths.get(uid)}`);
    h.index.recordReceived({
      sopInstanceUid: uid,
      sopClassUid: "1.2.840.10008.5.1.4.1.1.2",
      studyInstanceUid: urgent.studyInstanceUid,
      seriesInstanceUid: "1.2.3",
      transferSyntaxUid: "1.2.840.10008.1.2.1",
      path: urgent.paths.get(uid)!,
      size: info.size,
      callingAeTitle: "ER_CT",
      receivedAt: Date.now() + 1000,
      patientId: "",
      patientName: "",
      modality: "CT",
      studyDate: "",
      studyDescription: "",
      accessionNumber: "",
    });
    h.uploader({ urgentAeTitles: ["ER_CT"], compression: "none" }).start();
    await waitFor(() => h.index.counts().delivered === 5, "delivered");
    assertEquals(h.fake.requests[0]!.uids, [uid]);
  });
});

Deno.test("an archive that skips parts naming their syntax (like Orthanc's plugin 1.7) gets them as plain application/dicom", async () => {
  await harness(async (h) => {
    // Like Orthanc's plugin 1.7: a request in which any part names its transfer syntax is answered
    // 200 with empty lists and nothing is stored.
    h.fake.after = ({ uids, store }) => {
      const last = h.fake.requests.at(-1)!;
      const taken = last.partTypes.some((t) => t.includes("transfer-syntax")) ? [] : uids;
      store(taken);
      return new Response(storeResponseJson(taken), {
        headers: { "content-type": "application/dicom+json" },
      });
    };
    const a = await queueStudy(h.index, h.dataDir, { count: 2, rows: 32 });
    const b = await queueStudy(h.index, h.dataDir, { count: 2, rows: 32 });
    h.uploader({ concurrency: 4 }).start();
    await waitFor(() => h.index.counts().delivered === 4, "delivered");
    for (const uid of [...a.uids, ...b.uids]) {
      assertEquals(syntaxOf(h.fake.files.get(uid)!), JPEG_LS, "still compressed");
    }
    for (const request of h.fake.requests) {
      assertEquals(new Set(request.partTypes).size, 1, "a request never mixes named and plain parts");
    }
    const probes = h.fake.requests.filter((r) => r.partTypes.some((t) => t.includes("transfer-syntax")));
    assertEquals(probes.length, 1, "one probe request names the syntax");
    const r = record(h.index);
    assertEquals([r.plainPartType, r.refused, r.compressed], [[h.fake.url], [], 4]);
  });
});

Deno.test("an archive that silently drops every compressed instance gets them as received, and the syntax counts as refused", async () => {
  await harness(async (h) => {
    // Accounts only for instances that are not JPEG-LS (stores nothing else).
    h.fake.after = ({ uids, store, request }) => {
      void request;
      store(uids);
      const kept = uids.filter((uid) => syntaxOf(h.fake.files.get(uid)!) !== JPEG_LS);
      for (const uid of uids) if (!kept.includes(uid)) h.fake.stored.delete(uid);
      return new Response(storeResponseJson(kept), { headers: { "content-type": "application/dicom+json" } });
    };
    const study = await queueStudy(h.index, h.dataDir, { count: 1, rows: 32 });
    h.uploader().start();
    await waitFor(() => h.index.counts().delivered === 1, "delivered");
    const uid = study.uids[0]!;
    assertEquals(
      h.fake.files.get(uid),
      await Deno.readFile(`${h.dataDir}/${study.paths.get(uid)}`),
      "as received",
    );
    assertEquals(h.fake.requests.length, 3, "named part, plain part, as received");
    assertEquals(record(h.index).refused.length, 1);
  });
});

Deno.test("max_rate: every request body passes the one shared bucket (fake sleep, no timing)", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "rate_upload_test_" });
  const index = QueueIndex.open(`${dataDir}/queue.sqlite`);
  const fake = startFakeStow();
  const asked: number[] = [];
  let now = 0;
  const uploader = new Uploader({
    index,
    dataDir,
    config: config(fake, { compression: "none", maxRateBitsPerSecond: 100_000, concurrency: 4 }),
    retentionIntervalMs: 0,
    rateLimiter: {
      now: () => now,
      sleep: (ms) => {
        asked.push(ms);
        now += ms; // the fake clock moves on instead of waiting
        return Promise.resolve();
      },
    },
  });
  try {
    await queueStudy(index, dataDir, { count: 3, rows: 64 });
    await queueStudy(index, dataDir, { count: 3, rows: 64 });
    uploader.start();
    await waitFor(() => index.counts().delivered === 6, "delivered");
    const bodyBytes = fake.requests.reduce((sum, r) => sum + r.bytes, 0);
    // The fake clock advanced by the bucket's waits: at 12.5 kB/s, all the bytes took about their time.
    const expectedMs = bodyBytes / 12_500 * 1000;
    assert(asked.length > 0, "the limiter made the senders wait");
    // The bucket lets a sender run at most one burst (50 ms) ahead, at the start and at the end.
    assert(
      now >= expectedMs - 2 * 50 - 5 && now <= expectedMs + 5,
      `fake clock ${now} ms for ${bodyBytes} bytes`,
    );
  } finally {
    await uploader.stop();
    await fake.close();
    index.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
