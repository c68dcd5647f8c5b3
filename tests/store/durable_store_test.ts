/**
 * The durable store behind the DIMSE port: the order meta header → data set → attributes → name →
 * spool commit → index record, and that Success comes only once the record is made. Start-up
 * reconciliation makes the same index row from the file as the live path did.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { CT_IMAGE_STORAGE, IMPLICIT_VR_LE, tinyDataset } from "../support/dataset.ts";
import { DurableInstanceStore } from "../../src/store/durable_store.ts";
import { reconcile } from "../../src/store/reconcile.ts";
import { Spool } from "../../src/store/spool.ts";
import { QueueIndex, type ReceivedInstance } from "../../src/store/queue_index.ts";
import { decodeFileMetaInformation } from "../../src/store/part10.ts";
import { Status } from "../../src/dimse/status.ts";
import type { IncomingInstance } from "../../src/dimse/instance_store.ts";
import { joinPath } from "../../src/platform/fs.ts";

const SOP = "1.2.826.0.1.3680043.9.7433.1.77";
const STUDY = "1.2.826.0.1.3680043.9.7433.2.77";
const SERIES = "1.2.826.0.1.3680043.9.7433.3.77";

const INCOMING: IncomingInstance = {
  sopClassUid: CT_IMAGE_STORAGE,
  sopInstanceUid: SOP,
  transferSyntaxUid: IMPLICIT_VR_LE,
  callingAeTitle: "MODALITY",
  associationId: "#1",
};

async function withStore(
  index: { recordReceived(instance: ReceivedInstance): void },
  body: (store: DurableInstanceStore, dataDir: string) => Promise<void>,
): Promise<void> {
  const dataDir = await Deno.makeTempDir({ prefix: "durable-store-" });
  try {
    const spool = new Spool({ dataDir, fsync: true });
    await spool.init();
    const store = new DurableInstanceStore({
      spool,
      index,
      implementationClassUid: "1.2.826.0.1.3680043.9.7433.99",
      implementationVersionName: "TEST",
      now: () => 1_700_000_000_000,
    });
    await body(store, dataDir);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
}

const dataset = tinyDataset({
  sopInstanceUid: SOP,
  studyInstanceUid: STUDY,
  seriesInstanceUid: SERIES,
  patientName: "DOE^JANE",
  pixelBytes: 4096,
});

Deno.test("durable store: Part 10 file under instances/<study>/<sop>.dcm, recorded, then Success", async () => {
  const rows: ReceivedInstance[] = [];
  let fileAtRecord = false;
  let dir = "";
  await withStore({
    recordReceived(row) {
      // The file is already in place (renamed, folder fsynced) when the row is written.
      fileAtRecord = Deno.statSync(joinPath(dir, ...row.path.split("/"))).isFile;
      rows.push(row);
    },
  }, async (store, dataDir) => {
    dir = dataDir;
    const reception = await store.begin(INCOMING);
    for (let o = 0; o < dataset.length; o += 1000) await reception.write(dataset.subarray(o, o + 1000));
    const outcome = await reception.commit();
    assertEquals(outcome.status, Status.Success);
    const path = `instances/${STUDY}/${SOP}.dcm`;
    const bytes = await Deno.readFile(joinPath(dataDir, ...path.split("/")));
    const { meta, datasetOffset } = decodeFileMetaInformation(bytes);
    assertEquals(meta.transferSyntaxUid, IMPLICIT_VR_LE);
    assertEquals(meta.sourceApplicationEntityTitle, "MODALITY");
    assertEquals(bytes.subarray(datasetOffset), dataset);
    assertEquals(outcome.stored?.size, bytes.length);
    assert(fileAtRecord, "the file was durable before the index record");
    assertEquals(rows.length, 1);
    assertEquals(rows[0]!.path, path);
    assertEquals(rows[0]!.patientName, "DOE^JANE");
    assertEquals(rows[0]!.receivedAt, 1_700_000_000_000);
  });
});

Deno.test("durable store: an index that fails is 0xA700; the file stays and reconciliation indexes the same row", async () => {
  await withStore({
    recordReceived() {
      throw new Error("database is locked");
    },
  }, async (store, dataDir) => {
    const reception = await store.begin(INCOMING);
    await reception.write(dataset);
    const outcome = await reception.commit();
    assertEquals(outcome.status, Status.OutOfResources);
    assertEquals(outcome.comment, "Cannot record the instance in the queue index");
    const index = QueueIndex.open(joinPath(dataDir, "queue.sqlite"));
    try {
      assertEquals(await reconcile(dataDir, index), { indexed: 1, dropped: 0 });
      assertEquals([...index.allPaths()], [`instances/${STUDY}/${SOP}.dcm`]);
      assertEquals(index.recentStudies(5)[0]?.studyInstanceUid, STUDY);
    } finally {
      index.close();
    }
  });
});

Deno.test("durable store: a data set for another SOP instance is 0xA900 and leaves nothing", async () => {
  const rows: ReceivedInstance[] = [];
  await withStore({ recordReceived: (row) => void rows.push(row) }, async (store, dataDir) => {
    const reception = await store.begin({ ...INCOMING, sopInstanceUid: "1.2.3.4" });
    await reception.write(dataset);
    const outcome = await reception.commit();
    assertEquals(outcome.status, Status.DataSetDoesNotMatchSopClass);
    assertEquals(rows.length, 0);
    assertEquals(await Array.fromAsync(Deno.readDir(joinPath(dataDir, "instances"))), []);
    assertEquals(await Array.fromAsync(Deno.readDir(joinPath(dataDir, "tmp"))), []);
  });
});

Deno.test("durable store: a UID the meta header cannot hold is 0xC000 at commit; discard leaves nothing", async () => {
  await withStore({ recordReceived: () => {} }, async (store, dataDir) => {
    const bad = await store.begin({ ...INCOMING, sopInstanceUid: "1.2 3" });
    await bad.write(dataset);
    const outcome = await bad.commit();
    assertEquals(outcome.status, Status.CannotUnderstand);
    const abandoned = await store.begin(INCOMING);
    await abandoned.write(dataset.subarray(0, 100));
    await abandoned.discard();
    assertEquals(await Array.fromAsync(Deno.readDir(joinPath(dataDir, "tmp"))), []);
  });
});
