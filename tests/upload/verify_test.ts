/**
 * Verification by query against the scripted server (`fake_stow.ts`): delivered, then verified by
 * one paged QIDO-RS search per series; answers that prove nothing (a web page, 401, a redirect)
 * verify nothing and say why; an instance the archive does not list is asked about again, then
 * sent again; a late instance reopens its study; `verify = "response"` asks nothing.
 */
import { assert, assertEquals, assertStringIncludes } from "../support/assert.ts";
import { defaultConfig, type UploadConfig } from "../../src/config/types.ts";
import { QueueIndex } from "../../src/store/queue_index.ts";
import { Uploader, type UploaderOptions } from "../../src/upload/uploader.ts";
import { type FakeStowServer, queueStudy, startFakeStow, waitFor } from "./fake_stow.ts";

interface Harness {
  dataDir: string;
  index: QueueIndex;
  server: FakeStowServer;
  uploader(config?: Partial<UploadConfig>, options?: Partial<UploaderOptions>): Uploader;
}

async function harness(body: (h: Harness) => Promise<void>): Promise<void> {
  const dataDir = await Deno.makeTempDir({ prefix: "verify_test_" });
  const index = QueueIndex.open(`${dataDir}/queue.sqlite`);
  const server = startFakeStow();
  const uploaders: Uploader[] = [];
  const h: Harness = {
    dataDir,
    index,
    server,
    uploader(config = {}, options = {}) {
      const uploader = new Uploader({
        index,
        dataDir,
        config: {
          ...defaultConfig("/unused").upload,
          url: server.url,
          maxBackoffMs: 200,
          idleTimeoutMs: 5_000,
          retentionDays: 0,
          ...config,
        },
        retryBaseMs: 20,
        retentionIntervalMs: 0,
        stopGraceMs: 200,
        verifier: { settleMs: 20, recheckDelaysMs: [40, 40] },
        ...options,
      });
      uploaders.push(uploader);
      return uploader;
    },
  };
  try {
    await body(h);
  } finally {
    for (const uploader of uploaders) await uploader.stop();
    await server.close();
    index.close();
    await Deno.remove(dataDir, { recursive: true });
  }
}

const verified = (h: Harness) => h.index.verificationCounts().verified;

Deno.test("verify: delivered, then verified by one QIDO-RS search per series; only then deletable", async () => {
  await harness(async (h) => {
    const study = await queueStudy(h.index, h.dataDir, { count: 6 });
    const uploader = h.uploader({ batchMaxInstances: 2, concurrency: 1 });
    uploader.start();
    await waitFor(() => verified(h) === 6, "all verified");
    assertEquals(h.index.counts().delivered, 6);
    assertEquals(h.server.queries.length, 1, `one query for the series: ${h.server.queries.join(" ")}`);
    assertStringIncludes(
      h.server.queries[0]!,
      `/dicom-web/studies/${study.studyInstanceUid}/series/1.2.3/instances?includefield=00080018`,
    );
    const summary = h.index.recentStudies(1)[0]!;
    assertEquals([summary.received, summary.delivered, summary.verified], [6, 6, 6]);
    assertEquals(uploader.health().verification.problem, null);
    assert(uploader.health().verification.lastVerifiedAt !== null);
  });
});

for (
  const [name, answer, words] of [
    [
      "a web page",
      () => new Response("<html><body>Sign in</body></html>", { headers: { "content-type": "text/html" } }),
      "web page",
    ],
    ["401", () => new Response("", { status: 401 }), "credentials"],
    [
      "a redirect",
      () => new Response(null, { status: 303, headers: { location: "https://sso.example.org/login" } }),
      "https://sso.example.org/login",
    ],
  ] as const
) {
  Deno.test(`verify: QIDO-RS answering ${name} verifies nothing and says why; fixed, all are verified`, async () => {
    await harness(async (h) => {
      await queueStudy(h.index, h.dataDir, { count: 3 });
      h.server.qido = answer;
      const uploader = h.uploader();
      uploader.start();
      await waitFor(() => h.index.counts().delivered === 3, "delivered");
      await waitFor(() => uploader.health().verification.problem !== null, "the problem reported");
      const problem = uploader.health().verification.problem!;
      assertStringIncludes(problem, words);
      assertStringIncludes(problem, h.server.url);
      assertEquals(verified(h), 0);
      assertEquals(h.index.verificationCounts().missingInArchive, 0, "a bad answer is not 'missing'");
      assertEquals([...h.server.stored.values()], [1, 1, 1], "nothing sent again");
      // Retention: nothing unverified goes, even when the disk is full.
      const report = new Uploader({
        index: h.index,
        dataDir: h.dataDir,
        config: { ...defaultConfig("/unused").upload, retentionDays: 1, minFreeBytes: 1e15 },
        retentionIntervalMs: 0,
        freeBytes: () => 0,
      }).runRetention();
      assertEquals([report?.deletedByAge, report?.deletedForSpace, report?.stillLow], [0, 0, true]);
      h.server.qido = null;
      await waitFor(() => verified(h) === 3, "verified once the archive answers");
      assertEquals(uploader.health().verification.problem, null);
    });
  });
}

Deno.test("verify: paging — limit and offset across several pages, and a server that caps its pages", async () => {
  await harness(async (h) => {
    await queueStudy(h.index, h.dataDir, { count: 5 });
    const uploader = h.uploader({}, { verifier: { settleMs: 20, pageSize: 2 } });
    uploader.start();
    await waitFor(() => verified(h) === 5, "all verified");
    const offsets = h.server.queries.map((q) => new URL(q, "http://x").searchParams);
    assertEquals(offsets.map((p) => [p.get("limit"), p.get("offset")]), [["2", "0"], ["2", "2"], ["2", "4"]]);
  });
  await harness(async (h) => {
    await queueStudy(h.index, h.dataDir, { count: 5 });
    h.server.maxPageSize = 2; // answers 2 of the 1000 asked, with the "additional results" Warning
    const uploader = h.uploader();
    uploader.start();
    await waitFor(() => verified(h) === 5, "all verified");
    assertEquals(h.server.queries.map((q) => new URL(q, "http://x").searchParams.get("offset")), [
      "0",
      "2",
      "4",
    ]);
  });
});

Deno.test("verify: an instance the archive does not list is asked about again, then sent again, then verified", async () => {
  await harness(async (h) => {
    const study = await queueStudy(h.index, h.dataDir, { count: 3 });
    const lost = study.uids[1]!;
    h.server.hidden.add(lost);
    let sawMissing = 0;
    h.server.after = ({ uids }) => {
      if (uids.includes(lost)) {
        sawMissing = Math.max(sawMissing, h.index.recentStudies(1)[0]!.missingInArchive);
        if (h.server.stored.has(lost)) h.server.hidden.delete(lost); // the second copy is kept
      }
      return undefined; // stored and answered as usual
    };
    const uploader = h.uploader();
    uploader.start();
    await waitFor(() => verified(h) === 3, "all verified in the end");
    assertEquals(h.server.stored.get(lost), 2, "the missing instance was sent again");
    assertEquals(h.server.stored.get(study.uids[0]!), 1, "the others were not");
    assertEquals(sawMissing, 1, "shown missing in the archive while it was");
    // 1 query, 2 re-queries (delays 40 ms, 40 ms), and 1 after the re-send
    assertEquals(h.server.queries.length, 4, h.server.queries.join("\n"));
    assertEquals(h.index.recentStudies(1)[0]!.missingInArchive, 0);
  });
});

Deno.test("verify: an instance arriving after the study was verified reopens it; it is verified again", async () => {
  await harness(async (h) => {
    const study = await queueStudy(h.index, h.dataDir, { count: 2 });
    const uploader = h.uploader();
    uploader.start();
    await waitFor(() => verified(h) === 2, "verified");
    await queueStudy(h.index, h.dataDir, { count: 1, studyInstanceUid: study.studyInstanceUid });
    const reopened = h.index.recentStudies(1)[0]!;
    assertEquals([reopened.received, reopened.verified], [3, 2], "delivering again");
    await waitFor(() => verified(h) === 3, "verified again");
    assertEquals(h.server.queries.length, 2);
  });
});

Deno.test('verify = "response": no query, the STOW-RS answer is the proof, retention may delete', async () => {
  await harness(async (h) => {
    await queueStudy(h.index, h.dataDir, { count: 3 });
    const uploader = h.uploader({ verify: "response", minFreeBytes: 1e15 }, { freeBytes: () => 0 });
    assertEquals(h.index.allPaths().size, 3);
    uploader.start();
    await waitFor(() => h.index.counts().delivered === 3, "delivered");
    await new Promise((r) => setTimeout(r, 200));
    assertEquals(h.server.queries, []);
    assertEquals(verified(h), 0);
    assertEquals(uploader.health().verification.mode, "response");
    // The disk is full: the pass after the deliveries deleted them (delivered is the proof here).
    uploader.runRetention();
    assertEquals(h.index.allPaths().size, 0, "every delivered file deleted");
  });
});
