/**
 * Scenario "compression while receiving" (issue 11): does a busy compression pool slow C-STORE?
 * An in-process gateway uploads a backlog of real CT slices (CT_512_Hitachi_head, repeated) to a
 * fake STOW-RS server while DCMTK `storescu` sends it a series of small slices; the storescu time
 * with `compression = "jpeg-ls"` (the pool busy encoding the backlog) against `"none"` (the same
 * backlog sent as received). Median of `--repeat` runs each; never asserts a timing.
 *
 *   deno run -A scripts/bench/compress_receive.ts [--backlog N] [--count N] [--repeat N]
 * @module
 */
import { parseArgs } from "node:util";
import { makeCtSeries } from "../harness/data.ts";
import { storescu } from "../harness/dcmtk.ts";
import { readDatasetAttributes } from "../../src/store/dataset_attributes.ts";
import { startTestGateway } from "../../tests/support/gateway.ts";
import { startFakeStow } from "../../tests/upload/fake_stow.ts";
import { defaultConfig, type UploadCompression } from "../../src/config/types.ts";

const SOURCE = "/work/shared/testdata/real-images/CT_512_Hitachi_head.dcm";

async function once(
  mode: UploadCompression,
  backlog: number,
  small: string[],
  work: string,
): Promise<number> {
  const fake = startFakeStow();
  const gateway = await startTestGateway({
    upload: { ...defaultConfig("/unused").upload, url: fake.url, compression: mode },
  });
  try {
    // The backlog, queued as the receiver would (copies of one real slice, distinct SOP UIDs not
    // needed: each row is its own file and upload).
    await Deno.mkdir(`${gateway.dataDir}/backlog`, { recursive: true });
    const a = await readDatasetAttributes(SOURCE);
    const size = (await Deno.stat(SOURCE)).size;
    for (let i = 0; i < backlog; i++) {
      const path = `backlog/${i}.dcm`;
      await Deno.copyFile(SOURCE, `${gateway.dataDir}/${path}`);
      gateway.index.recordReceived({
        sopInstanceUid: `${a.sopInstanceUid}.${i}`,
        sopClassUid: a.sopClassUid,
        studyInstanceUid: a.studyInstanceUid,
        seriesInstanceUid: a.seriesInstanceUid,
        transferSyntaxUid: "",
        path,
        size,
        callingAeTitle: "BACKLOG",
        receivedAt: Date.now(),
        patientId: "",
        patientName: "",
        modality: "CT",
        studyDate: "",
        studyDescription: "",
        accessionNumber: "",
      });
    }
    await new Promise((r) => setTimeout(r, 500)); // the uploader (and the pool) at work
    const pendingBefore = gateway.index.counts().pending;
    const result = await storescu("127.0.0.1", gateway.port, small, { calledAe: "DICOM_GATEWAY" });
    if (!result.success) throw new Error(`storescu failed: ${result.stderr}`);
    const pendingAfter = gateway.index.counts().pending;
    if (pendingAfter <= small.length) {
      console.error(
        `  warning: the backlog ran out during the run (${pendingBefore} → ${pendingAfter} pending)`,
      );
    }
    void work;
    return result.durationMs / 1000;
  } finally {
    await gateway.dispose();
    await fake.close();
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      backlog: { type: "string", default: "300" },
      count: { type: "string", default: "200" },
      repeat: { type: "string", default: "3" },
    },
  });
  const work = await Deno.makeTempDir({ prefix: "dgw-bench-cstore-" });
  try {
    await Deno.mkdir(`${work}/small`);
    const small = await makeCtSeries(`${work}/small`, { count: Number(values.count), rows: 64, columns: 64 });
    const times: Record<string, number[]> = { none: [], "jpeg-ls": [] };
    for (let r = 0; r < Number(values.repeat); r++) {
      for (const mode of ["none", "jpeg-ls"] as const) {
        times[mode]!.push(await once(mode, Number(values.backlog), small, work));
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const none = median(times["none"]!);
    const jls = median(times["jpeg-ls"]!);
    console.log(
      `| storescu: ${small.length} small CT slices → gateway, while it uploads a backlog of ${values.backlog} ` +
        `CT 512² slices | as received: ${none.toFixed(2)} s | JPEG-LS (pool busy): ${jls.toFixed(2)} s | ` +
        `ratio ${(jls / none).toFixed(2)} | runs: ${JSON.stringify(times)} |`,
    );
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}
