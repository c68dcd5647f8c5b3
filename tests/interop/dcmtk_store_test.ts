/**
 * C-STORE interop with DCMTK, in both directions:
 * - `storescu` (each proposal: implicit, explicit, big endian, deflate, JPEG, JPEG-LS, J2K, RLE)
 *   and `dcmsend` (each file's own syntax) → the gateway: every stored data set equals what was
 *   sent (canonical fingerprint), in the transfer syntax that was negotiated — never transcoded;
 * - a three-series study over one association; the same instance sent twice (Success twice, one file);
 * - the gateway's `store` command → DCMTK `storescp +B`: files arrive byte-identical.
 */
import { assert, assertEquals } from "../support/assert.ts";
import {
  datasetBytesFingerprint,
  datasetFingerprint,
  fileTransferSyntax,
  makeCtSeries,
  makeTransferSyntaxSet,
  newUid,
  parseMetaHeader,
  type TransferSyntaxSample,
} from "../../scripts/harness/data.ts";
import { dcmsend, startStorescp, storescu, storescuProposalFor } from "../../scripts/harness/dcmtk.ts";
import { listFiles, startTestGateway, type TestGateway } from "../support/gateway.ts";
import { runCommand, runGatewayCommand } from "../../scripts/harness/process.ts";
import { interopTest } from "../support/tools.ts";

const MAKERS = ["dcmconv", "dcmcjpeg", "dcmcjpls", "dcmcrle", "dcmdump"];

const EXPLICIT_LE = "1.2.840.10008.1.2.1";

/** The gateway's stored Part 10 files by SOP Instance UID (from their meta headers). */
async function storedInstances(gateway: TestGateway): Promise<Map<string, string[]>> {
  const byUid = new Map<string, string[]>();
  for (const relative of await listFiles(gateway.dataDir)) {
    if (!relative.endsWith(".dcm")) continue;
    const path = `${gateway.dataDir}/${relative}`;
    const uid = parseMetaHeader(await Deno.readFile(path)).values.get("00020003") ?? "";
    byUid.set(uid, [...(byUid.get(uid) ?? []), path]);
  }
  return byUid;
}

/** The one stored file of `sopInstanceUid`; fails if there is none or more than one. */
async function storedFile(gateway: TestGateway, sopInstanceUid: string, context: string): Promise<string> {
  const files = (await storedInstances(gateway)).get(sopInstanceUid) ?? [];
  assertEquals(
    files.length,
    1,
    `${context}: stored files for ${sopInstanceUid}: ${files.join(", ") || "none"}`,
  );
  return files[0]!;
}

/**
 * A deflated file whose data set has an odd length, made from `deflated` by lengthening a
 * description until the deflate output comes out odd (about every other try). The store SCU must
 * send it with the PS3.5 A.5 pad byte and never an odd PDV fragment, which DCMTK refuses.
 */
async function oddDeflated(deflated: string, dir: string): Promise<string> {
  for (let i = 1; i <= 32; i++) {
    const path = `${dir}/odd-deflated-${i}.dcm`;
    await Deno.copyFile(deflated, path);
    await runCommand("dcmodify", [
      "-nb",
      "-i",
      `(0008,1030)=${"x".repeat(2 * i)}`,
      "-i",
      `(0008,0018)=${newUid()}`,
      path,
    ]);
    const bytes = await Deno.readFile(path);
    assertEquals(await fileTransferSyntax(path), "1.2.840.10008.1.2.1.99");
    if ((bytes.length - parseMetaHeader(bytes).datasetOffset) % 2 === 1) return path;
  }
  throw new Error("dcmodify + deflate never gave an odd-length data set in 32 tries");
}

async function withSamples<T>(fn: (samples: TransferSyntaxSample[], dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "dgw-interop-" });
  try {
    return await fn(await makeTransferSyntaxSet(dir), dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

interopTest(
  "storescu → gateway: each proposal (implicit, explicit, BE, deflate, JPEG, JPEG-LS, J2K, RLE) stored as sent",
  ["storescu", ...MAKERS],
  async (t) => {
    await withSamples(async (samples) => {
      const gateway = await startTestGateway();
      try {
        for (const sample of samples) {
          const proposal = storescuProposalFor(sample.transferSyntaxUid);
          if (proposal === undefined) continue; // JPEG lossless non-SV1, HTJ2K: dcmsend covers them
          await t.step({
            name: `${sample.name} (storescu proposal "${proposal}")`,
            fn: async () => {
              const result = await storescu("127.0.0.1", gateway.port, [sample.path], {
                proposeCompressed: true,
                callingAe: "STORESCU",
                calledAe: "DICOM_GATEWAY",
              });
              assertEquals(result.code, 0, `${sample.name}: ${result.stderr}`);
              const stored = await storedFile(gateway, sample.sopInstanceUid, sample.name);
              assertEquals(
                await fileTransferSyntax(stored),
                sample.transferSyntaxUid,
                `${sample.name}: transfer syntax`,
              );
              assertEquals(
                await datasetFingerprint(stored),
                await datasetFingerprint(sample.path),
                `${sample.name}: data set`,
              );
            },
          });
        }
      } finally {
        await gateway.dispose();
      }
    });
  },
);

interopTest(
  "storescu → gateway: a series in implicit VR LE, explicit VR LE and explicit VR BE, each with its proposal",
  ["storescu", "dcmconv"],
  async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "dgw-interop-" });
    const gateway = await startTestGateway();
    try {
      const cases = [
        { name: "implicit", uid: "1.2.840.10008.1.2", convert: "+ti", propose: "implicit" },
        { name: "explicit little endian", uid: "1.2.840.10008.1.2.1", convert: "+te", propose: "little" },
        { name: "explicit big endian", uid: "1.2.840.10008.1.2.2", convert: "+tb", propose: "big" },
      ] as const;
      for (const c of cases) {
        await t.step(c.name, async () => {
          const made = await makeCtSeries(dir, { count: 3, rows: 32, columns: 32 });
          const files: string[] = [];
          for (const file of made) {
            const converted = `${file}.${c.convert.slice(1)}.dcm`;
            assert((await runCommand("dcmconv", [c.convert, file, converted])).success);
            files.push(converted);
          }
          // -xi proposes implicit only; -xe/-xb propose every uncompressed syntax, each in its own
          // presentation context, and storescu uses the one matching the file.
          const result = await storescu("127.0.0.1", gateway.port, files, { propose: c.propose });
          assertEquals(result.code, 0, result.stderr);
          for (const file of files) {
            const uid = parseMetaHeader(await Deno.readFile(file)).values.get("00020003")!;
            const stored = await storedFile(gateway, uid, c.name);
            assertEquals(await fileTransferSyntax(stored), c.uid, `${c.name}: stored transfer syntax`);
            assertEquals(
              await datasetFingerprint(stored),
              await datasetFingerprint(file),
              `${c.name}: ${file}`,
            );
          }
        });
      }
    } finally {
      await gateway.dispose();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

interopTest(
  "dcmsend → gateway: every sample DCMTK can send arrives with the same data set, untranscoded",
  ["dcmsend", ...MAKERS],
  async (t) => {
    await withSamples(async (samples, dir) => {
      const gateway = await startTestGateway();
      try {
        for (const sample of samples.filter((s) => s.dcmtkKnows)) {
          await t.step({
            name: sample.name,
            fn: async () => {
              const result = await dcmsend("127.0.0.1", gateway.port, [sample.path], {
                callingAe: "DCMSEND",
                calledAe: "DICOM_GATEWAY",
                verbose: true,
              });
              assertEquals(result.code, 0, `${sample.name}: ${result.stderr}`);
              assert(!/No Acceptable Presentation Contexts|Failed/i.test(result.stderr), result.stderr);
              const stored = await storedFile(gateway, sample.sopInstanceUid, sample.name);
              const storedSyntax = await fileTransferSyntax(stored);
              if (storedSyntax === sample.transferSyntaxUid) {
                assertEquals(
                  await datasetFingerprint(stored),
                  await datasetFingerprint(sample.path),
                  sample.name,
                );
                return;
              }
              // dcmsend proposes the other uncompressed syntaxes beside an uncompressed file's own (one
              // presentation context); if the gateway picked explicit VR LE, dcmsend converted while sending.
              assert(
                !sample.transferSyntaxUid.startsWith("1.2.840.10008.1.2.4") &&
                  sample.transferSyntaxUid !== "1.2.840.10008.1.2.5",
                `${sample.name}: a compressed file must be stored in its own syntax, got ${storedSyntax}`,
              );
              assertEquals(storedSyntax, EXPLICIT_LE, `${sample.name}: stored syntax`);
              const converted = `${dir}/${sample.name}.as-explicit-le.dcm`;
              assert((await runCommand("dcmconv", ["+te", sample.path, converted])).success);
              assertEquals(
                await datasetFingerprint(stored),
                await datasetFingerprint(converted),
                sample.name,
              );
            },
          });
        }
      } finally {
        await gateway.dispose();
      }
    });
  },
);

interopTest("storescu → gateway: a three-series study over one association", ["storescu"], async () => {
  const dir = await Deno.makeTempDir({ prefix: "dgw-interop-" });
  const gateway = await startTestGateway();
  try {
    const study = newUid();
    const files: string[] = [];
    for (const seriesNumber of [1, 2, 3]) {
      files.push(
        ...await makeCtSeries(dir, {
          count: 4,
          rows: 32,
          columns: 32,
          studyInstanceUid: study,
          seriesNumber,
          patientName: "Three^Series",
        }),
      );
    }
    const result = await storescu("127.0.0.1", gateway.port, files, {
      callingAe: "CT_SCANNER",
      calledAe: "DICOM_GATEWAY",
    });
    assertEquals(result.code, 0, result.stderr);
    const stored = await storedInstances(gateway);
    assertEquals([...stored.values()].flat().length, 12);
    for (const file of files) {
      const uid = parseMetaHeader(await Deno.readFile(file)).values.get("00020003")!;
      const path = await storedFile(gateway, uid, "three series");
      assertEquals(await datasetFingerprint(path), await datasetFingerprint(file));
    }
    const progress = gateway.index.studyProgress(study);
    assertEquals(progress.received, 12);
    const summary = gateway.index.recentStudies(10).find((s) => s.studyInstanceUid === study);
    assert(summary !== undefined, "the study is in the index");
    assertEquals([summary.received, summary.callingAeTitle, summary.modality], [12, "CT_SCANNER", "CT"]);
  } finally {
    await gateway.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});

interopTest("storescu → gateway: the same instance sent twice is Success both times and kept once", [
  "storescu",
], async () => {
  const dir = await Deno.makeTempDir({ prefix: "dgw-interop-" });
  const gateway = await startTestGateway();
  try {
    const [file] = await makeCtSeries(dir, { count: 1, rows: 32, columns: 32 });
    const uid = parseMetaHeader(await Deno.readFile(file!)).values.get("00020003")!;
    for (const attempt of [1, 2]) {
      const result = await storescu("127.0.0.1", gateway.port, [file!], { verbose: true });
      assertEquals(result.code, 0, `attempt ${attempt}: ${result.stderr}`);
      assert(
        /Received Store Response \(Success\)/.test(result.stderr + result.stdout),
        `attempt ${attempt}: ${result.stderr}`,
      );
    }
    const path = await storedFile(gateway, uid, "sent twice");
    assertEquals(await datasetFingerprint(path), await datasetFingerprint(file!));
    assertEquals(gateway.index.counts().pending + gateway.index.counts().sending, 1);
  } finally {
    await gateway.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});

interopTest(
  "gateway `store` command → DCMTK storescp +B: every file arrives byte-identical in its own syntax",
  ["storescp", "echoscu", "dcmodify", ...MAKERS],
  async () => {
    await withSamples(async (samples, dir) => {
      const series = await makeCtSeries(dir, { count: 3, rows: 32, columns: 32 });
      // storescp (+xa) does not accept JPEG lossless process 14 (non-SV1) nor HTJ2K, which DCMTK 3.6.7 does not know.
      const sendable = samples.filter((s) => s.dcmtkKnows && s.name !== "jpeg-lossless");
      const deflated = samples.find((s) => s.name === "deflated")!.path;
      const files = [...series, ...sendable.map((s) => s.path), await oddDeflated(deflated, dir)];
      const out = await Deno.makeTempDir({ prefix: "dgw-interop-scp-" });
      const scp = await startStorescp({ outDir: out, bitPreserving: true, aeTitle: "STORESCP" });
      let result;
      try {
        result = await runGatewayCommand([
          "store",
          `127.0.0.1:${scp.port}`,
          ...files,
          "--called-ae",
          "STORESCP",
        ]);
      } finally {
        await scp.stop();
      }
      try {
        assertEquals(result.code, 0, `${result.stdout}\n${result.stderr}\nstorescp: ${scp.output()}`);
        const received = new Map<string, string>();
        for await (const entry of Deno.readDir(out)) {
          const path = `${out}/${entry.name}`;
          received.set(parseMetaHeader(await Deno.readFile(path)).values.get("00020003")!, path);
        }
        assertEquals(
          received.size,
          files.length,
          `received ${[...received.keys()].length} of ${files.length}`,
        );
        for (const file of files) {
          const uid = parseMetaHeader(await Deno.readFile(file)).values.get("00020003")!;
          const got = received.get(uid);
          assert(got !== undefined, `${file} did not arrive`);
          assertEquals(
            await fileTransferSyntax(got),
            await fileTransferSyntax(file),
            `${file}: transfer syntax`,
          );
          const sent = await Deno.readFile(file);
          const sentDataset = sent.subarray(parseMetaHeader(sent).datasetOffset);
          if (sentDataset.length % 2 === 0) {
            assertEquals(
              await datasetBytesFingerprint(got),
              await datasetBytesFingerprint(file),
              `${file}: bytes`,
            );
          } else {
            // An odd deflated data set travels with the PS3.5 A.5 pad byte, which storescp +B keeps.
            const stored = await Deno.readFile(got);
            const storedDataset = stored.subarray(parseMetaHeader(stored).datasetOffset);
            assertEquals(storedDataset, Uint8Array.of(...sentDataset, 0), `${file}: bytes and one pad byte`);
            assertEquals(await datasetFingerprint(got), await datasetFingerprint(file), `${file}: data set`);
          }
        }
      } finally {
        await Deno.remove(out, { recursive: true });
      }
    });
  },
);
