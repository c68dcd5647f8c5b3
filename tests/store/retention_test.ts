import { assert, assertEquals } from "../support/assert.ts";
import { QueueIndex } from "../../src/store/queue_index.ts";
import { freeDiskBytes, runRetention } from "../../src/store/retention.ts";
import { queueStudy } from "../upload/fake_stow.ts";

const DAY = 24 * 60 * 60 * 1000;

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function withData(body: (index: QueueIndex, dataDir: string) => Promise<void>): Promise<void> {
  const dataDir = await Deno.makeTempDir({ prefix: "retention_test_" });
  const index = QueueIndex.open(`${dataDir}/q.sqlite`);
  try {
    await body(index, dataDir);
  } finally {
    index.close();
    await Deno.remove(dataDir, { recursive: true });
  }
}

Deno.test("freeDiskBytes: node:fs statfsSync works here and gives a plausible number", () => {
  const free = freeDiskBytes(Deno.cwd());
  assert(free !== null && free > 0, String(free));
  assertEquals(freeDiskBytes("/definitely/not/here"), null);
});

Deno.test("retention: delivered files older than retentionDays go; undelivered and recent stay", async () => {
  await withData(async (index, dataDir) => {
    const study = await queueStudy(index, dataDir, { count: 4 });
    const [oldUid, recentUid, pendingUid, failedUid] = study.uids as [string, string, string, string];
    const claims = index.claimBatch({ maxInstances: 10, maxBytes: 1e9 }, Date.now());
    const claim = (uid: string) => claims.find((c) => c.sopInstanceUid === uid)!;
    const now = Date.now() + 10 * DAY;
    index.markDelivered([claim(oldUid)], now - 8 * DAY);
    index.markDelivered([claim(recentUid)], now - 6 * DAY);
    index.release([claim(pendingUid)], { nextAttemptAt: 0, countAttempt: true });
    index.markFailed([{ ...claim(failedUid), reason: "rejected" }], now - 30 * DAY);
    const report = runRetention(index, {
      dataDir,
      retentionDays: 7,
      minFreeBytes: 0,
      proof: "response",
      now,
      freeBytes: () => 1e12,
    });
    assertEquals(report.deletedByAge, 1);
    const path = (uid: string) => `${dataDir}/${study.paths.get(uid)}`;
    assertEquals(await exists(path(oldUid)), false);
    for (const uid of [recentUid, pendingUid, failedUid]) assert(await exists(path(uid)), uid);
    assert(!index.allPaths().has(study.paths.get(oldUid)!));
    assertEquals(index.recentStudies(1)[0]!.delivered, 2, "history kept");
    // retentionDays 0 keeps delivered files for ever
    const none = runRetention(index, {
      dataDir,
      retentionDays: 0,
      minFreeBytes: 0,
      proof: "response",
      now: now + 100 * DAY,
      freeBytes: () => 1e12,
    });
    assertEquals(none.deletedByAge, 0);
    assert(await exists(path(recentUid)));
  });
});

Deno.test("retention: low disk deletes the oldest delivered first and never an undelivered file", async () => {
  await withData(async (index, dataDir) => {
    const study = await queueStudy(index, dataDir, { count: 5 });
    const claims = index.claimBatch({ maxInstances: 10, maxBytes: 1e9 }, Date.now());
    const now = Date.now() + DAY;
    // three delivered at increasing times, two still pending
    claims.slice(0, 3).forEach((c, i) => index.markDelivered([c], now - 1000 + i));
    index.release(claims.slice(3), { nextAttemptAt: 0, countAttempt: false });
    let free = 0;
    const report = runRetention(index, {
      dataDir,
      retentionDays: 7,
      minFreeBytes: 2,
      proof: "response",
      now,
      freeBytes: () => free++, // each call: one byte more
    });
    assertEquals(report.deletedForSpace >= 2, true);
    const path = (uid: string) => `${dataDir}/${study.paths.get(uid)}`;
    assertEquals(await exists(path(claims[0]!.sopInstanceUid)), false, "oldest delivered deleted first");
    for (const c of claims.slice(3)) assert(await exists(path(c.sopInstanceUid)), "pending file kept");
    // Nothing delivered left and still low: says so, deletes nothing undelivered.
    const low = runRetention(index, {
      dataDir,
      retentionDays: 7,
      minFreeBytes: 1e15,
      proof: "response",
      now,
      freeBytes: () => 0,
    });
    assertEquals(low.stillLow, true);
    for (const c of claims.slice(3)) {
      assert(await exists(path(c.sopInstanceUid)), "pending file kept when disk is full");
    }
  });
});

Deno.test("retention: a re-received copy renamed over a delivered file is not deleted", async () => {
  await withData(async (index, dataDir) => {
    const study = await queueStudy(index, dataDir, { count: 1 });
    const [claim] = index.claimBatch({ maxInstances: 1, maxBytes: 1e9 }, Date.now());
    const deliveredAt = Date.now() - 30 * DAY;
    index.markDelivered([claim!], deliveredAt);
    // The receiver has just renamed a new copy into place but not yet recorded it.
    const path = `${dataDir}/${study.paths.get(claim!.sopInstanceUid)}`;
    await Deno.writeFile(path, await Deno.readFile(path));
    const report = runRetention(index, {
      dataDir,
      retentionDays: 7,
      minFreeBytes: 0,
      proof: "response",
      now: Date.now(),
      freeBytes: () => 1e12,
    });
    assertEquals(report.deletedByAge, 0);
    assert(await exists(path));
  });
});

Deno.test("retention: superseded copies are deleted after a grace period; purged history is pruned", async () => {
  await withData(async (index, dataDir) => {
    const study = await queueStudy(index, dataDir, { count: 1 });
    const uid = study.uids[0]!;
    const oldPath = study.paths.get(uid)!;
    const newPath = oldPath.replace(/\.dcm$/, "-2.dcm");
    await Deno.copyFile(`${dataDir}/${oldPath}`, `${dataDir}/${newPath}`);
    const t0 = Date.now();
    index.recordReceived({
      sopInstanceUid: uid,
      sopClassUid: "1.2.840.10008.5.1.4.1.1.2",
      studyInstanceUid: study.studyInstanceUid,
      seriesInstanceUid: "1.2.3",
      transferSyntaxUid: "1.2.840.10008.1.2.1",
      path: newPath,
      size: 1,
      callingAeTitle: "X",
      receivedAt: t0,
      patientId: "",
      patientName: "",
      modality: "CT",
      studyDate: "",
      studyDescription: "",
      accessionNumber: "",
    });
    const soon = runRetention(index, {
      dataDir,
      retentionDays: 7,
      minFreeBytes: 0,
      proof: "response",
      now: t0 + 1000,
      freeBytes: () => 1e12,
    });
    assertEquals(soon.supersededDeleted, 0);
    const later = runRetention(index, {
      dataDir,
      retentionDays: 7,
      minFreeBytes: 0,
      proof: "response",
      now: t0 + 2 * 3600_000,
      freeBytes: () => 1e12,
    });
    assertEquals(later.supersededDeleted, 1);
    assertEquals(await exists(`${dataDir}/${oldPath}`), false);
    assert(await exists(`${dataDir}/${newPath}`));
    // deliver, purge after 7 days, prune the row after 90 days
    const [claim] = index.claimBatch({ maxInstances: 1, maxBytes: 1e9 }, t0);
    index.markDelivered([claim!], t0);
    runRetention(index, {
      dataDir,
      retentionDays: 7,
      minFreeBytes: 0,
      proof: "response",
      now: t0 + 8 * DAY,
      freeBytes: () => 1e12,
    });
    assertEquals(index.recentStudies(1)[0]!.received, 1);
    const pruned = runRetention(index, {
      dataDir,
      retentionDays: 7,
      minFreeBytes: 0,
      proof: "response",
      now: t0 + 100 * DAY,
      freeBytes: () => 1e12,
    });
    assertEquals(pruned.historyPruned, 1);
    assertEquals(index.recentStudies(1).length, 0);
  });
});

Deno.test('retention (verify = "query"): only verified files go, by age and under free-space pressure', async () => {
  await withData(async (index, dataDir) => {
    const study = await queueStudy(index, dataDir, { count: 4 });
    const claims = index.claimBatch({ maxInstances: 10, maxBytes: 1e9 }, Date.now());
    const now = Date.now() + 30 * DAY;
    // all four delivered long ago; only the first is verified by the archive's QIDO-RS answer
    claims.forEach((c, i) => index.markDelivered([c], now - 20 * DAY + i));
    assertEquals(index.markVerified([claims[0]!], now - 20 * DAY + 10), 1);
    const path = (uid: string) => `${dataDir}/${study.paths.get(uid)}`;
    const byAge = runRetention(index, {
      dataDir,
      retentionDays: 7,
      minFreeBytes: 0,
      proof: "query",
      now,
      freeBytes: () => 1e12,
    });
    assertEquals(byAge.deletedByAge, 1);
    assertEquals(await exists(path(claims[0]!.sopInstanceUid)), false, "the verified file is deleted");
    // The disk is full: still nothing unverified goes, and the pass says so.
    const full = runRetention(index, {
      dataDir,
      retentionDays: 0,
      minFreeBytes: 1e15,
      proof: "query",
      now,
      freeBytes: () => 0,
    });
    assertEquals([full.deletedForSpace, full.stillLow], [0, true]);
    for (const c of claims.slice(1)) assert(await exists(path(c.sopInstanceUid)), "unverified file kept");
    // The same files with verify = "response": the STOW-RS answer is the proof, they may go.
    const response = runRetention(index, {
      dataDir,
      retentionDays: 0,
      minFreeBytes: 1e15,
      proof: "response",
      now,
      freeBytes: () => 0,
    });
    assertEquals(response.deletedForSpace, 3);
  });
});

Deno.test("retention: an instance sent again after it was missing in the archive is not deleted", async () => {
  await withData(async (index, dataDir) => {
    const study = await queueStudy(index, dataDir, { count: 1 });
    const [claim] = index.claimBatch({ maxInstances: 1, maxBytes: 1e9 }, Date.now());
    const now = Date.now() + 30 * DAY;
    index.markDelivered([claim!], now - 20 * DAY);
    // The archive never listed it: back to pending, then delivered again but not verified yet.
    index.markNotListed([{ ...claim!, recheckAt: null }], now - 19 * DAY, "missing");
    const [again] = index.claimBatch({ maxInstances: 1, maxBytes: 1e9 }, now);
    index.markDelivered([again!], now - 18 * DAY);
    const report = runRetention(index, {
      dataDir,
      retentionDays: 7,
      minFreeBytes: 1e15,
      proof: "query",
      now,
      freeBytes: () => 0,
    });
    assertEquals(report.deletedByAge + report.deletedForSpace, 0);
    assert(await exists(`${dataDir}/${study.paths.get(claim!.sopInstanceUid)}`));
  });
});
