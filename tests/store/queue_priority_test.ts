/**
 * Urgent first (issue 11): Requested Procedure Priority (0040,1003) / Study Priority ID (0032,000C)
 * read at receive time, kept in the queue index, and a STAT/HIGH study or one from an urgent
 * calling AE title claimed before the backlog; otherwise oldest first.
 */
import { assertEquals } from "../support/assert.ts";
import { DatabaseSync } from "node:sqlite";
import { QueueIndex } from "../../src/store/queue_index.ts";
import { readDatasetAttributes } from "../../src/store/dataset_attributes.ts";
import { makeCtSeries } from "../../scripts/harness/data.ts";
import { instance } from "./queue_index_test.ts";

const LIMITS = { maxInstances: 50, maxBytes: 1e9 };

async function withIndex(body: (index: QueueIndex, path: string) => void | Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "priority_test_" });
  const index = QueueIndex.open(`${dir}/queue.sqlite`);
  try {
    await body(index, `${dir}/queue.sqlite`);
  } finally {
    try {
      index.close();
    } catch { /* closed by the test */ }
    await Deno.remove(dir, { recursive: true });
  }
}

function backlog(index: QueueIndex, studies: number): void {
  for (let s = 0; s < studies; s++) {
    for (let i = 0; i < 3; i++) {
      index.recordReceived(instance({ studyInstanceUid: `1.2.3.${s}`, receivedAt: 1000 + s }));
    }
  }
}

Deno.test("a STAT study received last overtakes a queued backlog; then oldest first again", async () => {
  await withIndex((index) => {
    backlog(index, 5);
    index.recordReceived(instance({ studyInstanceUid: "9.9.9", priority: "STAT", receivedAt: 5000 }));
    index.recordReceived(instance({ studyInstanceUid: "9.9.9", receivedAt: 5001 })); // same study, no priority
    const first = index.claimBatch(LIMITS, 10_000);
    assertEquals(first.map((c) => c.studyInstanceUid), ["9.9.9", "9.9.9"]);
    assertEquals(index.claimBatch(LIMITS, 10_000)[0]!.studyInstanceUid, "1.2.3.0");
  });
});

Deno.test("HIGH is urgent too; ROUTINE and LOW keep the arrival order", async () => {
  await withIndex((index) => {
    backlog(index, 2);
    index.recordReceived(instance({ studyInstanceUid: "8.8.8", priority: "ROUTINE", receivedAt: 4000 }));
    index.recordReceived(instance({ studyInstanceUid: "7.7.7", priority: "HIGH", receivedAt: 4001 }));
    const order = [0, 1, 2, 3].map(() => index.claimBatch(LIMITS, 10_000)[0]!.studyInstanceUid);
    assertEquals(order, ["7.7.7", "1.2.3.0", "1.2.3.1", "8.8.8"]);
  });
});

Deno.test("a study from an urgent calling AE title overtakes the backlog; others do not", async () => {
  await withIndex((index) => {
    backlog(index, 3);
    index.recordReceived(instance({ studyInstanceUid: "6.6.6", callingAeTitle: "ER_CT", receivedAt: 4000 }));
    assertEquals(index.claimBatch(LIMITS, 10_000)[0]!.studyInstanceUid, "1.2.3.0"); // no urgent list
    assertEquals(
      index.claimBatch(LIMITS, 10_000, { urgentAeTitles: ["ER_CT "] })[0]!.studyInstanceUid,
      "6.6.6",
    );
  });
});

Deno.test("an index made before the priority column gets it on open, existing rows not urgent", async () => {
  const dir = await Deno.makeTempDir({ prefix: "priority_migrate_" });
  const path = `${dir}/queue.sqlite`;
  try {
    const index = QueueIndex.open(path);
    index.recordReceived(instance({ studyInstanceUid: "1.1" }));
    index.close();
    const db = new DatabaseSync(path);
    db.exec("ALTER TABLE instances DROP COLUMN priority");
    db.close();
    const reopened = QueueIndex.open(path);
    reopened.recordReceived(instance({ studyInstanceUid: "2.2", priority: "STAT" }));
    assertEquals(reopened.claimBatch(LIMITS, Date.now() + 1e12)[0]!.studyInstanceUid, "2.2");
    assertEquals(reopened.claimBatch(LIMITS, Date.now() + 1e12)[0]!.studyInstanceUid, "1.1");
    reopened.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the priority is read from the data set at receive time: (0040,1003), else (0032,000C)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "priority_attr_" });
  try {
    const [a, b, c] = await makeCtSeries(dir, { count: 3, rows: 8, columns: 8 });
    const modify = async (file: string, tag: string, value: string) => {
      const out = await new Deno.Command("dcmodify", { args: ["-nb", "-i", `${tag}=${value}`, file] })
        .output();
      if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
    };
    await modify(a!, "(0040,1003)", "stat");
    await modify(b!, "(0032,000C)", "HIGH");
    assertEquals((await readDatasetAttributes(a!)).priority, "STAT");
    assertEquals((await readDatasetAttributes(b!)).priority, "HIGH");
    assertEquals((await readDatasetAttributes(c!)).priority, "");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
