import { assert, assertEquals } from "../support/assert.ts";
import { DatabaseSync } from "node:sqlite";
import {
  FIRST_RESEND_DELAY_MS,
  MAX_RESEND_DELAY_MS,
  planBatch,
  QueueIndex,
  type ReceivedInstance,
} from "../../src/store/queue_index.ts";

let counter = 0;

/** A received instance with sensible defaults. */
export function instance(overrides: Partial<ReceivedInstance> = {}): ReceivedInstance {
  counter++;
  const sop = overrides.sopInstanceUid ?? `1.2.826.0.1.3680043.10.1.${counter}`;
  return {
    sopInstanceUid: sop,
    sopClassUid: "1.2.840.10008.5.1.4.1.1.2",
    studyInstanceUid: "1.2.3.100",
    seriesInstanceUid: "1.2.3.100.1",
    transferSyntaxUid: "1.2.840.10008.1.2.1",
    path: `ab/${sop}.dcm`,
    size: 1000,
    callingAeTitle: "CT_SCANNER",
    receivedAt: 1_700_000_000_000 + counter,
    patientId: "PID1",
    patientName: "Doe^Jane",
    modality: "CT",
    studyDate: "20240102",
    studyDescription: "CT HEAD",
    accessionNumber: "ACC1",
    ...overrides,
  };
}

async function withIndex(body: (index: QueueIndex, path: string) => void | Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "index_test_" });
  const path = `${dir}/queue.sqlite`;
  const index = QueueIndex.open(path);
  try {
    await body(index, path);
  } finally {
    try {
      index.close();
    } catch {
      // closed by the test
    }
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("index: open sets WAL and synchronous=NORMAL and creates the schema", async () => {
  await withIndex((index, path) => {
    index.recordReceived(instance());
    const db = new DatabaseSync(path);
    try {
      assertEquals((db.prepare("PRAGMA journal_mode").get() as { journal_mode: string }).journal_mode, "wal");
      const tables =
        (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as {
          name: string;
        }[]).map((r) => r.name);
      assertEquals(tables, ["instances", "state", "studies", "study_changes", "superseded_files"]);
    } finally {
      db.close();
    }
    assertEquals(index.settings(), { journalMode: "wal", synchronous: 1 }); // 1 = NORMAL
    assertEquals(index.getState("schema.version"), "2"); // 2: verification columns
  });
});

Deno.test("index: recordReceived counts, summarises the study and wakes listeners", async () => {
  await withIndex((index) => {
    let woken = 0;
    const off = index.onChange(() => woken++);
    index.recordReceived(instance({ size: 100 }));
    index.recordReceived(instance({ size: 200, modality: "SR" }));
    index.recordReceived(
      instance({ size: 300, studyInstanceUid: "1.2.3.200", receivedAt: 1_800_000_000_000 }),
    );
    off();
    index.recordReceived(instance({ size: 1 }));
    assertEquals(woken, 3);
    assertEquals(index.counts(), { pending: 4, sending: 0, delivered: 0, failed: 0, bytesPending: 601 });
    const studies = index.recentStudies(10);
    assertEquals(studies.map((s) => s.studyInstanceUid), ["1.2.3.200", "1.2.3.100"]);
    const first = studies[1]!;
    assertEquals(first.received, 3);
    assertEquals(first.pending, 3);
    assertEquals(first.modality, "CT\\SR");
    assertEquals(first.patientName, "Doe^Jane");
    assertEquals(first.lastError, null);
    assert(first.firstReceivedAt <= first.lastReceivedAt);
    assertEquals(index.recentStudies(1).length, 1);
  });
});

Deno.test("index: claimBatch takes one study in arrival order within the limits", async () => {
  await withIndex((index) => {
    const a1 = instance({ studyInstanceUid: "A", size: 10 });
    const b1 = instance({ studyInstanceUid: "B", size: 10 });
    const a2 = instance({ studyInstanceUid: "A", size: 10 });
    const a3 = instance({ studyInstanceUid: "A", size: 10 });
    for (const i of [a1, b1, a2, a3]) index.recordReceived(i);
    const batch = index.claimBatch({ maxInstances: 2, maxBytes: 1000 }, Date.now());
    assertEquals(batch.map((c) => c.sopInstanceUid), [a1.sopInstanceUid, a2.sopInstanceUid]);
    assertEquals(index.counts().sending, 2);
    const next = index.claimBatch({ maxInstances: 10, maxBytes: 1000 }, Date.now());
    assertEquals(next.map((c) => c.sopInstanceUid), [b1.sopInstanceUid]);
    const last = index.claimBatch({ maxInstances: 10, maxBytes: 1000 }, Date.now());
    assertEquals(last.map((c) => c.sopInstanceUid), [a3.sopInstanceUid]);
    assertEquals(index.claimBatch({ maxInstances: 10, maxBytes: 1000 }, Date.now()), []);
  });
});

Deno.test("index: a file bigger than the byte limit goes alone; bytes limit cuts the batch", async () => {
  await withIndex((index) => {
    const big = instance({ studyInstanceUid: "S", size: 5000 });
    const s1 = instance({ studyInstanceUid: "S", size: 400 });
    const s2 = instance({ studyInstanceUid: "S", size: 400 });
    const s3 = instance({ studyInstanceUid: "S", size: 400 });
    for (const i of [big, s1, s2, s3]) index.recordReceived(i);
    const limits = { maxInstances: 50, maxBytes: 1000 };
    assertEquals(index.claimBatch(limits, Date.now()).map((c) => c.size), [5000]);
    assertEquals(index.claimBatch(limits, Date.now()).map((c) => c.size), [400, 400]);
    assertEquals(index.claimBatch(limits, Date.now()).map((c) => c.size), [400]);
  });
});

Deno.test("planBatch: limits, first always taken, empty input", () => {
  const sizes = (xs: number[]) => xs.map((size) => ({ size }));
  assertEquals(planBatch(sizes([]), { maxInstances: 5, maxBytes: 10 }), []);
  assertEquals(planBatch(sizes([50, 1]), { maxInstances: 5, maxBytes: 10 }).length, 1);
  assertEquals(planBatch(sizes([3, 3, 3, 3]), { maxInstances: 5, maxBytes: 10 }).length, 3);
  assertEquals(planBatch(sizes([1, 1, 1, 1]), { maxInstances: 2, maxBytes: 10 }).length, 2);
  assertEquals(planBatch(sizes([1, 1]), { maxInstances: 0, maxBytes: 10 }).length, 1);
});

Deno.test("index: settle delivered/failed/release; stale generation is ignored", async () => {
  await withIndex((index) => {
    const a = instance();
    const b = instance();
    const c = instance();
    for (const i of [a, b, c]) index.recordReceived(i);
    const batch = index.claimBatch({ maxInstances: 10, maxBytes: 1e9 }, Date.now());
    assertEquals(batch.length, 3);
    const [ca, cb, cc] = batch as [typeof batch[0], typeof batch[0], typeof batch[0]];
    // b is re-received while in flight: its claim becomes stale.
    index.recordReceived({ ...b, receivedAt: b.receivedAt + 1 });
    assertEquals(index.markDelivered([ca, cb], 5), 1);
    assertEquals(index.instanceStatus(b.sopInstanceUid)?.status, "pending");
    assertEquals(index.instanceStatus(b.sopInstanceUid)?.generation, 2);
    assertEquals(index.release([cc], { nextAttemptAt: 1000, countAttempt: true, error: "HTTP 503" }), 1);
    assertEquals(index.instanceStatus(c.sopInstanceUid)?.attempts, 1);
    assertEquals(index.nextDueAt(), 0); // b is due now
    assertEquals(index.claimBatch({ maxInstances: 10, maxBytes: 1e9 }, 999).map((x) => x.sopInstanceUid), [
      b.sopInstanceUid,
    ]);
    assertEquals(index.nextDueAt(), 1000);
    const again = index.claimBatch({ maxInstances: 10, maxBytes: 1e9 }, 1000);
    assertEquals(again.map((x) => x.sopInstanceUid), [c.sopInstanceUid]);
    assertEquals(index.markFailed([{ ...again[0]!, reason: "cannot understand (0xC000)" }], 77), 1);
    assertEquals(index.counts(), { pending: 0, sending: 1, delivered: 1, failed: 1, bytesPending: 1000 });
    assertEquals(index.failures(10), [{
      sopInstanceUid: c.sopInstanceUid,
      studyInstanceUid: c.studyInstanceUid,
      reason: "cannot understand (0xC000)",
      at: 77,
    }]);
    assertEquals(index.recentStudies(1)[0]?.lastError, "cannot understand (0xC000)");
  });
});

Deno.test("index: re-received delivered instance goes back to pending with attempts 0", async () => {
  await withIndex((index) => {
    const a = instance();
    index.recordReceived(a);
    const [claim] = index.claimBatch({ maxInstances: 1, maxBytes: 1e9 }, 0);
    index.release([claim!], { nextAttemptAt: 0, countAttempt: true });
    const [claim2] = index.claimBatch({ maxInstances: 1, maxBytes: 1e9 }, 0);
    index.markDelivered([claim2!], 10);
    assertEquals(index.instanceStatus(a.sopInstanceUid), {
      status: "delivered",
      attempts: 1,
      generation: 1,
      failureReason: null,
    });
    index.recordReceived({ ...a, size: 1234 });
    assertEquals(index.instanceStatus(a.sopInstanceUid), {
      status: "pending",
      attempts: 0,
      generation: 2,
      failureReason: null,
    });
    assertEquals(index.counts().bytesPending, 1234);
    assertEquals(index.recentStudies(5)[0]?.received, 1);
  });
});

Deno.test("index: re-received into another study keeps summaries consistent", async () => {
  await withIndex((index) => {
    const a = instance({ studyInstanceUid: "OLD" });
    index.recordReceived(a);
    index.recordReceived({ ...a, studyInstanceUid: "NEW" });
    assertEquals(index.recentStudies(10).map((s) => [s.studyInstanceUid, s.received]), [["NEW", 1]]);
  });
});

Deno.test("index: requeueSending after a crash, retryFailed per study and for all", async () => {
  await withIndex((index) => {
    const a = instance({ studyInstanceUid: "S1" });
    const b = instance({ studyInstanceUid: "S2" });
    const c = instance({ studyInstanceUid: "S2" });
    for (const i of [a, b, c]) index.recordReceived(i);
    const first = index.claimBatch({ maxInstances: 10, maxBytes: 1e9 }, 0);
    index.markFailed(first.map((x) => ({ ...x, reason: "bad" })), 1);
    const second = index.claimBatch({ maxInstances: 10, maxBytes: 1e9 }, 0);
    assertEquals(second.length, 2);
    assertEquals(index.requeueSending(), 2);
    assertEquals(index.counts().pending, 2);
    const third = index.claimBatch({ maxInstances: 10, maxBytes: 1e9 }, 0);
    index.markFailed(third.map((x) => ({ ...x, reason: "bad" })), 1);
    assertEquals(index.retryFailed("S2"), 2);
    assertEquals(index.counts().failed, 1);
    assertEquals(index.retryFailed(), 1);
    assertEquals(index.counts(), { pending: 3, sending: 0, delivered: 0, failed: 0, bytesPending: 3000 });
  });
});

Deno.test("index: allPaths/removeMissing; superseded copies are remembered", async () => {
  await withIndex((index) => {
    const a = instance({ path: "x/a.dcm" });
    const b = instance({ path: "x/b.dcm" });
    index.recordReceived(a);
    index.recordReceived(b);
    index.recordReceived({ ...a, path: "x/a2.dcm" });
    assertEquals([...index.allPaths()].sort(), ["x/a.dcm", "x/a2.dcm", "x/b.dcm"]);
    assertEquals(index.supersededFiles(Number.MAX_SAFE_INTEGER, 10).map((s) => s.path), ["x/a.dcm"]);
    assertEquals(index.removeMissing(new Set(["x/a2.dcm"])), 1);
    assertEquals([...index.allPaths()], ["x/a2.dcm"]);
    assertEquals(index.counts().pending, 1);
  });
});

Deno.test("index: purge bookkeeping keeps history and protects undelivered paths", async () => {
  await withIndex((index) => {
    const a = instance({ path: "p/a.dcm" });
    const b = instance({ path: "p/b.dcm" });
    index.recordReceived(a);
    index.recordReceived(b);
    const claims = index.claimBatch({ maxInstances: 10, maxBytes: 1e9 }, 0);
    index.markDelivered(claims, 100);
    index.markVerified(claims, 100); // retention's proof (upload.verify = "query")
    const candidates = index.purgeCandidates({ deliveredBefore: 101, limit: 10 });
    assertEquals(candidates.length, 2);
    assertEquals(index.purgeCandidates({ deliveredBefore: 100, limit: 10 }).length, 0);
    const ca = candidates.find((c) => c.sopInstanceUid === a.sopInstanceUid)!;
    assert(index.isPurgeable(ca));
    assert(index.markPurged(ca, 200));
    assert(!index.isPurgeable(ca));
    assertEquals([...index.allPaths()], ["p/b.dcm"]);
    // purged rows survive removeMissing (their file is gone on purpose) and still count for the study
    assertEquals(index.removeMissing(new Set(["p/b.dcm"])), 0);
    assertEquals(index.recentStudies(1)[0]?.delivered, 2);
    assertEquals(index.pruneHistory(150), 0);
    assertEquals(index.pruneHistory(201), 1);
    assertEquals(index.recentStudies(1)[0]?.received, 1);
  });
});

Deno.test("index: state table and persistence across reopen", async () => {
  await withIndex((index, path) => {
    index.setState("upload.health", "{}");
    index.setState("upload.health", '{"state":"idle"}');
    index.recordReceived(instance({ sopInstanceUid: "9.9.9" }));
    index.close();
    const reopened = QueueIndex.open(path);
    try {
      assertEquals(reopened.getState("upload.health"), '{"state":"idle"}');
      assertEquals(reopened.getState("missing"), undefined);
      assertEquals(reopened.instanceStatus("9.9.9")?.status, "pending");
    } finally {
      reopened.close();
    }
  });
});

Deno.test("index: open fails with a plain message on a non-database file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/bad.sqlite`, "this is not a database, just text ".repeat(200));
    let message = "";
    try {
      QueueIndex.open(`${dir}/bad.sqlite`).close();
    } catch (error) {
      message = String(error);
    }
    assert(message.includes("Cannot open the queue index"), message);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** The instances table exactly as version 1 of the index created it (before verification). */
const VERSION_1_SCHEMA = `
CREATE TABLE instances (
  sop_instance_uid TEXT PRIMARY KEY, sop_class_uid TEXT NOT NULL, study_instance_uid TEXT NOT NULL,
  series_instance_uid TEXT NOT NULL, transfer_syntax_uid TEXT NOT NULL, path TEXT NOT NULL,
  size INTEGER NOT NULL, calling_ae_title TEXT NOT NULL, received_at INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'delivered', 'failed')),
  generation INTEGER NOT NULL DEFAULT 1, attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL DEFAULT 0, last_error TEXT, delivered_at INTEGER, failed_at INTEGER,
  failure_reason TEXT, purged_at INTEGER
) STRICT;
CREATE TABLE studies (
  study_instance_uid TEXT PRIMARY KEY, patient_id TEXT NOT NULL, patient_name TEXT NOT NULL,
  modality TEXT NOT NULL, study_date TEXT NOT NULL, study_description TEXT NOT NULL,
  accession_number TEXT NOT NULL, calling_ae_title TEXT NOT NULL, first_received_at INTEGER NOT NULL,
  last_received_at INTEGER NOT NULL
) STRICT;
CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
INSERT INTO state VALUES ('schema.version', '1');
INSERT INTO studies VALUES ('1.2.3.100', 'PID1', 'Doe^Jane', 'CT', '20240102', 'CT', 'ACC1', 'CT', 1, 2);
INSERT INTO instances (sop_instance_uid, sop_class_uid, study_instance_uid, series_instance_uid,
  transfer_syntax_uid, path, size, calling_ae_title, received_at, status, delivered_at)
VALUES ('1.9.1', '1.2.840.10008.5.1.4.1.1.2', '1.2.3.100', '1.2.3.100.1', '1.2.840.10008.1.2.1', 'a/1.dcm', 10,
  'CT', 1, 'delivered', 5),
  ('1.9.2', '1.2.840.10008.5.1.4.1.1.2', '1.2.3.100', '1.2.3.100.1', '1.2.840.10008.1.2.1', 'a/2.dcm', 10,
  'CT', 2, 'pending', NULL);
`;

Deno.test("index: a version-1 index opens, keeps its rows, and its delivered rows await verification", async () => {
  const dir = await Deno.makeTempDir({ prefix: "index_test_" });
  try {
    const path = `${dir}/queue.sqlite`;
    const old = new DatabaseSync(path);
    old.exec(VERSION_1_SCHEMA);
    old.close();
    const index = QueueIndex.open(path);
    try {
      assertEquals(index.getState("schema.version"), "2");
      assertEquals([index.counts().delivered, index.counts().pending], [1, 1]);
      assertEquals(index.verificationCounts(), { verified: 0, missingInArchive: 0 });
      // Delivered by the old version: not deletable until the archive lists it.
      assertEquals(index.purgeCandidates({ limit: 10 }).length, 0);
      assertEquals(index.purgeCandidates({ limit: 10, proof: "response" }).length, 1);
      const series = index.seriesToVerify(100, { settleMs: 0, maxWaitMs: 0, limit: 10 });
      assertEquals(series, [{ studyInstanceUid: "1.2.3.100", seriesInstanceUid: "1.2.3.100.1" }]);
      assertEquals(index.markVerified([{ sopInstanceUid: "1.9.1", generation: 1 }], 100), 1);
      assertEquals(index.purgeCandidates({ limit: 10 }).map((c) => c.sopInstanceUid), ["1.9.1"]);
      // and it keeps working as usual
      const claims = index.claimBatch({ maxInstances: 10, maxBytes: 1e9 }, 0);
      assertEquals(claims.map((c) => c.sopInstanceUid), ["1.9.2"]);
    } finally {
      index.close();
    }
    // Opening again (already migrated) changes nothing.
    const again = QueueIndex.open(path);
    assertEquals(again.verificationCounts().verified, 1);
    again.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("index: verification marks, re-queries, re-send, and a late instance reopens the study", async () => {
  await withIndex((index) => {
    const series = { studyInstanceUid: "1.2.3.100", seriesInstanceUid: "1.2.3.100.1" };
    const [a, b, c] = [instance(), instance(), instance()];
    for (const i of [a, b, c]) index.recordReceived(i);
    const claims = index.claimBatch({ maxInstances: 2, maxBytes: 1e9 }, 0);
    index.markDelivered(claims, 1000);
    // c is still pending: the series is not quiet, unless the oldest delivery waited maxWait.
    assertEquals(index.seriesToVerify(2000, { settleMs: 0, maxWaitMs: 60_000, limit: 5 }), []);
    assertEquals(index.seriesToVerify(2000, { settleMs: 0, maxWaitMs: 500, limit: 5 }), [series]);
    const rest = index.claimBatch({ maxInstances: 2, maxBytes: 1e9 }, 0);
    index.markDelivered(rest, 1500);
    // quiet, but settleMs after the last delivery not yet over
    assertEquals(index.seriesToVerify(1600, { settleMs: 300, maxWaitMs: 60_000, limit: 5 }), []);
    assertEquals(index.seriesToVerify(1800, { settleMs: 300, maxWaitMs: 60_000, limit: 5 }), [series]);
    assertEquals(
      index.unverifiedInSeries(series).map((u) => u.sopInstanceUid),
      [a, b, c].map((i) => i.sopInstanceUid),
    );
    const gen = (uid: string) => index.instanceStatus(uid)!.generation;
    // The archive lists a and b; c is not listed: asked again at 4000.
    assertEquals(
      index.markVerified(
        [a, b].map((i) => ({ sopInstanceUid: i.sopInstanceUid, generation: gen(i.sopInstanceUid) })),
        2000,
      ),
      2,
    );
    const cRef = { sopInstanceUid: c.sopInstanceUid, generation: gen(c.sopInstanceUid) };
    assertEquals(index.markNotListed([{ ...cRef, recheckAt: 4000 }], 2000, "not listed"), {
      resend: 0,
      recheck: 1,
    });
    assertEquals(index.verificationCounts(), { verified: 2, missingInArchive: 1 });
    assertEquals(index.recentStudies(1)[0]!.missingInArchive, 1);
    assertEquals(index.seriesToVerify(3000, { settleMs: 0, maxWaitMs: 0, limit: 5 }), []);
    assertEquals(index.nextVerifyDueAt(), 4000);
    assertEquals(index.seriesToVerify(4000, { settleMs: 0, maxWaitMs: 0, limit: 5 }), [series]);
    // Still not listed after the last re-query: sent again.
    assertEquals(index.markNotListed([{ ...cRef, recheckAt: null }], 4000, "missing"), {
      resend: 1,
      recheck: 0,
    });
    assertEquals(index.instanceStatus(c.sopInstanceUid)!.status, "pending");
    assertEquals(index.recentStudies(1)[0]!.missingInArchive, 1, "still shown missing while re-sent");
    const [again] = index.claimBatch({ maxInstances: 2, maxBytes: 1e9 }, 5000);
    index.markDelivered([again!], 5000);
    assertEquals(index.verificationState(c.sopInstanceUid)!.verifyMisses, 0, "a new delivery starts afresh");
    index.markVerified([again!], 6000);
    let study = index.recentStudies(1)[0]!;
    assertEquals([study.received, study.delivered, study.verified, study.missingInArchive], [3, 3, 3, 0]);
    // A late instance of the verified study: the study is delivering again, then verified again.
    const late = instance();
    index.recordReceived(late);
    study = index.recentStudies(1)[0]!;
    assertEquals([study.received, study.verified, study.pending], [4, 3, 1]);
    const [lateClaim] = index.claimBatch({ maxInstances: 2, maxBytes: 1e9 }, 7000);
    index.markDelivered([lateClaim!], 7000);
    assertEquals(index.unverifiedInSeries(series).map((u) => u.sopInstanceUid), [late.sopInstanceUid]);
    index.markVerified([lateClaim!], 8000);
    assertEquals(index.studyProgress("1.2.3.100").verified, 4);
    // A re-received instance loses its verification: the new file has not been proven.
    index.recordReceived({ ...a, receivedAt: 9000 });
    assertEquals(index.verificationState(a.sopInstanceUid)!.verifiedAt, null);
    // Stale generations change nothing.
    assertEquals(index.markVerified([{ sopInstanceUid: a.sopInstanceUid, generation: 1 }], 9500), 0);
  });
});

Deno.test("index: an instance the archive keeps not listing is re-sent at once, then after doubling waits up to a cap", async () => {
  await withIndex((index) => {
    const uid = "1.2.3.999.1";
    index.recordReceived(instance({ sopInstanceUid: uid }));
    let t = 100_000;
    const waits: number[] = [];
    for (let round = 0; round < 12; round++) {
      const [sent] = index.claimBatch({ maxInstances: 1, maxBytes: 1e9 }, t);
      assertEquals(sent?.sopInstanceUid, uid, `round ${round}: due at ${t}`);
      index.markDelivered([sent!], t);
      const ref = { sopInstanceUid: uid, generation: sent!.generation, recheckAt: null };
      assertEquals(index.markNotListed([ref], t, "missing"), { resend: 1, recheck: 0 });
      const wait = Math.max(0, index.nextDueAt()! - t);
      // Not due a moment before its time (claiming would take it, so only look when it waits).
      if (wait > 0) assertEquals(index.claimBatch({ maxInstances: 1, maxBytes: 1e9 }, t + wait - 1), []);
      waits.push(wait);
      t += wait;
    }
    assertEquals(waits.slice(0, 4), [
      0,
      FIRST_RESEND_DELAY_MS,
      2 * FIRST_RESEND_DELAY_MS,
      4 * FIRST_RESEND_DELAY_MS,
    ]);
    assertEquals(waits.at(-1), MAX_RESEND_DELAY_MS);
    // Verified at last: the count starts afresh for a later re-receive.
    const [sent] = index.claimBatch({ maxInstances: 1, maxBytes: 1e9 }, t);
    index.markDelivered([sent!], t);
    assertEquals(index.markVerified([sent!], t), 1);
    assertEquals(index.verificationState(uid)!.verifiedAt, t);
  });
});
