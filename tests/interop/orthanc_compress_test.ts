/**
 * Issue 11 against a real peer: Orthanc + DICOMweb plugin behind nginx TLS receives the instances
 * compressed as JPEG-LS lossless by the uploader and stores them. Checked through Orthanc's REST
 * API: the stored instance's transfer syntax (Orthanc's own metadata and the stored file's meta
 * header) is JPEG-LS, and DCMTK's dcmdjpls decodes the stored file to exactly the original pixels
 * and data set. The real images (CT, MR, ultrasound RGB) and a dcmjs CT series.
 */
import { queueFile } from "../../scripts/harness/queue.ts";
import { assert, assertEquals } from "../support/assert.ts";
import { defaultConfig } from "../../src/config/types.ts";
import { QueueIndex } from "../../src/store/queue_index.ts";
import { Uploader } from "../../src/upload/uploader.ts";
import { datasetFingerprint, makeCtSeries, parseMetaHeader } from "../../scripts/harness/data.ts";
import {
  fetchInstanceFile,
  listInstances,
  ORTHANC_TOOLS,
  startCentralServer,
} from "../../scripts/harness/orthanc.ts";
import { interopTest } from "../support/tools.ts";
import { dcmtkPixels, REAL_IMAGES, run } from "../upload/compress/fixtures.ts";

const JPEG_LS = "1.2.840.10008.1.2.4.80";
const TOOLS = [...ORTHANC_TOOLS, "dcmdjpls", "dcmconv", "dcmdump"];

interopTest(
  "Orthanc behind nginx TLS stores the JPEG-LS instances; dcmdjpls decodes them to the original pixels",
  TOOLS,
  async () => {
    const work = await Deno.makeTempDir({ prefix: "dgw-orthanc-compress-" });
    const central = await startCentralServer();
    const dataDir = `${work}/data`;
    await Deno.mkdir(`${dataDir}/instances`, { recursive: true });
    const index = QueueIndex.open(`${dataDir}/queue.sqlite`);
    let uploader: Uploader | null = null;
    try {
      const files = [
        ...[...Deno.readDirSync(REAL_IMAGES)].map((e) => `${REAL_IMAGES}/${e.name}`).sort(),
        ...await Deno.mkdir(`${work}/ct`).then(() =>
          makeCtSeries(`${work}/ct`, { count: 5, rows: 128, columns: 128 })
        ),
      ];
      const originals = new Map<string, string>();
      for (const [i, file] of files.entries()) {
        const a = await queueFile(index, dataDir, file, { relativePath: `instances/${i}.dcm` });
        originals.set(a.sopInstanceUid, file);
      }
      uploader = new Uploader({
        index,
        dataDir,
        config: {
          ...defaultConfig("/unused").upload,
          url: central.nginx.url,
          auth: { kind: "basic", username: central.username, password: central.password },
          caFile: central.ca.caCertPath,
          compression: "jpeg-ls",
          compressionWorkers: 1,
          // On loopback the link outruns any encoder: every instance waits for its compression.
          compressionAdaptive: false,
          maxBackoffMs: 500,
        },
        retryBaseMs: 50,
        retentionIntervalMs: 0,
      });
      uploader.start();
      const deadline = Date.now() + 20_000;
      while (index.counts().delivered < files.length) {
        if (Date.now() > deadline) {
          throw new Error(
            `delivered ${index.counts().delivered} of ${files.length}: ${JSON.stringify(uploader.health())} ${
              JSON.stringify(index.counts())
            }`,
          );
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      assertEquals(index.counts().failed, 0);
      const record = uploader.compression();
      assertEquals(record.compressed, files.length, "every image went compressed");
      // Orthanc's DICOMweb plugin 1.7 skips parts whose Content-Type names the transfer syntax:
      // the uploader learnt to send them as plain application/dicom (the meta header names it).
      assertEquals(record.plainPartType, [central.nginx.url]);
      assertEquals(record.refused, []);

      const stored = await listInstances(central.orthanc);
      assertEquals(stored.length, files.length);
      for (const instance of stored) {
        const original = originals.get(instance.sopInstanceUid);
        assert(original !== undefined, instance.sopInstanceUid);
        const meta = await fetch(
          `${central.orthanc.restUrl}/instances/${instance.id}/metadata/TransferSyntax`,
        );
        assertEquals(await meta.text(), JPEG_LS, "Orthanc's record of the stored transfer syntax");
        const file = `${work}/${instance.id}.dcm`;
        await fetchInstanceFile(central.orthanc, instance.id, file);
        assertEquals(parseMetaHeader(await Deno.readFile(file)).values.get("00020010"), JPEG_LS);
        const decoded = `${work}/${instance.id}.decoded.dcm`;
        await run("dcmdjpls", ["+te", file, decoded]);
        // A short folder: dcmdump abbreviates long names of the raw files it writes.
        const px = await Deno.makeTempDir({ prefix: "px" });
        try {
          assertEquals(await dcmtkPixels(decoded, px), await dcmtkPixels(original, px), original);
        } finally {
          await Deno.remove(px, { recursive: true });
        }
        // The whole data set too (dcmjs series: same encoding after decoding).
        if (original.startsWith(`${work}/ct`)) {
          const le = `${work}/${instance.id}.le.dcm`;
          await run("dcmconv", ["+te", original, le]);
          assertEquals(await datasetFingerprint(decoded), await datasetFingerprint(le), original);
        }
      }
    } finally {
      await uploader?.stop();
      index.close();
      await central.stop();
      await Deno.remove(work, { recursive: true });
    }
  },
);
