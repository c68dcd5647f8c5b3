/**
 * Tests of the test-data makers: the files are real DICOM (dcmdump and dcmftest read them),
 * each sample has the transfer syntax it claims, lossless encodings decode to the original
 * pixels, and the data set fingerprint sees what it should and ignores what it should.
 */
import { assert, assertEquals } from "../support/assert.ts";
import {
  CT_IMAGE_STORAGE,
  datasetBytesFingerprint,
  datasetFingerprint,
  datasetOffset,
  encodeJ2k,
  fileTransferSyntax,
  makeCtSeries,
  makeLargeInstance,
  makeTransferSyntaxSet,
  newUid,
  parseMetaHeader,
  TRANSFER_SYNTAX_SAMPLE_NAMES,
  TransferSyntax,
} from "../../scripts/harness/data.ts";
import { runCommand } from "../../scripts/harness/process.ts";
import { interopTest } from "../support/tools.ts";
import dcmjs from "dcmjs";

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "dgw-data-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Values of `tags` printed by dcmdump (numeric UIDs), or throws with dcmdump's complaint. */
async function dump(path: string, tags: string[]): Promise<Map<string, string>> {
  const args = ["-q", "-Un", "-M", ...tags.flatMap((t) => ["+P", t]), path];
  const result = await runCommand("dcmdump", args);
  assert(result.success, `dcmdump ${path}: ${result.stderr}`);
  const values = new Map<string, string>();
  for (const line of result.stdout.split("\n")) {
    const m = line.match(/^\((\w{4},\w{4})\) \w\w (?:\[([^\]]*)\]|(\S+))/);
    if (m) values.set(m[1]!.toUpperCase(), m[2] ?? m[3]!);
  }
  return values;
}

function readDataset(bytes: Uint8Array): Record<string, unknown> {
  const dict = dcmjs.data.DicomMessage.readFile(
    bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
  );
  return dcmjs.data.DicomMetaDictionary.naturalizeDataset(dict.dict) as Record<string, unknown>;
}

Deno.test("newUid makes distinct valid UIDs under 2.25", () => {
  const uids = new Set(Array.from({ length: 1000 }, newUid));
  assertEquals(uids.size, 1000);
  for (const uid of uids) {
    assert(/^2\.25\.(0|[1-9][0-9]*)$/.test(uid) && uid.length <= 64, `bad UID ${uid}`);
  }
});

Deno.test("makeCtSeries writes CT Part 10 files dcmjs reads back, with distinct instances", async () => {
  await withTempDir(async (dir) => {
    const study = newUid();
    const paths = await makeCtSeries(dir, {
      count: 5,
      rows: 32,
      columns: 48,
      studyInstanceUid: study,
      patientName: "Doe^Jane",
    });
    assertEquals(paths.length, 5);
    const instanceUids = new Set<string>();
    const pixelHashes = new Set<string>();
    let series: unknown;
    for (const [i, path] of paths.entries()) {
      const bytes = await Deno.readFile(path);
      const meta = parseMetaHeader(bytes);
      assertEquals(meta.values.get("00020010"), TransferSyntax.explicitLittleEndian);
      assertEquals(meta.values.get("00020002"), CT_IMAGE_STORAGE);
      const ds = readDataset(bytes);
      assertEquals(ds.SOPClassUID, CT_IMAGE_STORAGE);
      assertEquals(meta.values.get("00020003"), ds.SOPInstanceUID);
      assertEquals(ds.StudyInstanceUID, study);
      assertEquals(ds.PatientName, [{ Alphabetic: "Doe^Jane" }]);
      assertEquals(Number(ds.InstanceNumber), i + 1);
      assertEquals([ds.Rows, ds.Columns, ds.BitsAllocated, ds.PixelRepresentation], [32, 48, 16, 0]);
      assertEquals(ds.RescaleIntercept, -1024);
      series ??= ds.SeriesInstanceUID;
      assertEquals(ds.SeriesInstanceUID, series);
      instanceUids.add(ds.SOPInstanceUID as string);
      const pixels = new Uint8Array((ds.PixelData as ArrayBuffer[])[0]!);
      assertEquals(pixels.length, 32 * 48 * 2);
      const hu = new Int16Array(pixels.buffer, pixels.byteOffset, pixels.length / 2);
      const distinct = new Set(hu);
      assert(distinct.size > 20, `pixel pattern too flat: ${distinct.size} distinct values`);
      pixelHashes.add(Array.from(hu).join(","));
    }
    assertEquals(instanceUids.size, 5);
    assertEquals(pixelHashes.size, 5, "every slice has its own pixels");
  });
});

Deno.test("makeCtSeries signed variant stores HU directly", async () => {
  await withTempDir(async (dir) => {
    const [path] = await makeCtSeries(dir, { count: 1, rows: 16, columns: 16, signed: true, bitsStored: 12 });
    const ds = readDataset(await Deno.readFile(path!));
    assertEquals([ds.PixelRepresentation, ds.BitsStored, ds.HighBit, ds.RescaleIntercept], [1, 12, 11, 0]);
    const px = new Int16Array((ds.PixelData as ArrayBuffer[])[0]!);
    assert(px.some((v) => v < -900), "air is negative HU");
  });
});

interopTest("makeCtSeries files pass dcmftest and dcmdump", ["dcmdump", "dcmftest"], async () => {
  await withTempDir(async (dir) => {
    const paths = await makeCtSeries(dir, { count: 3, rows: 64, columns: 64 });
    const ftest = await runCommand("dcmftest", paths);
    assert(ftest.success, ftest.stdout);
    assertEquals(ftest.stdout.trim().split("\n").filter((l) => l.startsWith("yes:")).length, 3);
    const uids = new Set<string>();
    for (const path of paths) {
      const v = await dump(path, ["0008,0018", "0020,0013", "0028,0010", "7FE0,0010"]);
      uids.add(v.get("0008,0018")!);
      assertEquals(v.get("0028,0010"), "64");
    }
    assertEquals(uids.size, 3);
  });
});

Deno.test("makeCtSeries is fast enough for the benchmark (50 slices of 512×512 well under a second each)", async () => {
  await withTempDir(async (dir) => {
    const start = performance.now();
    const paths = await makeCtSeries(dir, { count: 50 });
    const ms = performance.now() - start;
    assertEquals(paths.length, 50);
    assertEquals((await Deno.stat(paths[0]!)).size > 512 * 512 * 2, true);
    // Generous: ~3 ms a slice measured; only catches an accidental slow path.
    assert(ms < 20_000, `50 slices took ${ms.toFixed(0)} ms`);
  });
});

Deno.test("makeLargeInstance streams a multi-frame instance of the requested size", async () => {
  await withTempDir(async (dir) => {
    const path = await makeLargeInstance(dir, { bytes: 3 * 512 * 512 * 2 - 100 });
    const bytes = await Deno.readFile(path);
    const ds = readDataset(bytes);
    assertEquals(ds.NumberOfFrames, 3);
    assertEquals((ds.PixelData as ArrayBuffer[])[0]!.byteLength, 3 * 512 * 512 * 2);
    assertEquals(bytes.length - datasetOffset(bytes) > 3 * 512 * 512 * 2, true);
  });
});

interopTest(
  "makeTransferSyntaxSet: every sample has the syntax it claims, readable by DCMTK",
  ["dcmdump", "dcmftest", "dcmconv", "dcmcjpeg", "dcmcjpls", "dcmcrle"],
  async () => {
    await withTempDir(async (dir) => {
      const samples = await makeTransferSyntaxSet(dir);
      assertEquals(samples.map((s) => s.name), [...TRANSFER_SYNTAX_SAMPLE_NAMES]);
      assertEquals(new Set(samples.map((s) => s.transferSyntaxUid)).size, samples.length);
      assertEquals(
        new Set(samples.map((s) => s.sopInstanceUid)).size,
        samples.length,
        "distinct SOP instances",
      );
      for (const sample of samples) {
        assert(sample.path.startsWith(dir), sample.path);
        const v = await dump(sample.path, ["0002,0010", "0008,0016", "0008,0018"]);
        assertEquals(v.get("0002,0010"), sample.transferSyntaxUid, sample.name);
        assertEquals(await fileTransferSyntax(sample.path), sample.transferSyntaxUid, sample.name);
        assertEquals(v.get("0008,0016"), sample.sopClassUid, sample.name);
        assertEquals(v.get("0008,0018"), sample.sopInstanceUid, sample.name);
        const ftest = await runCommand("dcmftest", [sample.path]);
        assert(ftest.stdout.startsWith("yes:"), `${sample.name}: ${ftest.stdout}`);
      }
      const byName = new Map(samples.map((s) => [s.name, s]));
      assertEquals(byName.get("htj2k-lossless")!.dcmtkKnows, false, "DCMTK 3.6.7 does not know HTJ2K");
      assertEquals(byName.get("j2k-lossless")!.dcmtkKnows, true);
      assertEquals(byName.get("jpeg-baseline")!.lossy, true);
      assertEquals(byName.get("rle")!.lossy, false);
      // A second call copies the cached set: same content, new paths.
      await withTempDir(async (other) => {
        const again = await makeTransferSyntaxSet(other);
        assertEquals(again.map((s) => s.sopInstanceUid), samples.map((s) => s.sopInstanceUid));
        assertEquals(
          await datasetBytesFingerprint(again[0]!.path),
          await datasetBytesFingerprint(samples[0]!.path),
        );
      });
    });
  },
);

interopTest(
  "makeTransferSyntaxSet: DCMTK decodes the DCMTK-made compressed samples",
  ["dcmdump", "dcmconv", "dcmcjpeg", "dcmcjpls", "dcmcrle", "dcmdjpeg", "dcmdjpls", "dcmdrle"],
  async () => {
    await withTempDir(async (dir) => {
      const samples = new Map((await makeTransferSyntaxSet(dir)).map((s) => [s.name, s]));
      const decoders: [string, string][] = [
        ["jpeg-baseline", "dcmdjpeg"],
        ["jpeg-extended", "dcmdjpeg"],
        ["jpeg-lossless", "dcmdjpeg"],
        ["jpeg-lossless-sv1", "dcmdjpeg"],
        ["jpeg-ls-lossless", "dcmdjpls"],
        ["jpeg-ls-near-lossless", "dcmdjpls"],
        ["rle", "dcmdrle"],
      ];
      for (const [name, tool] of decoders) {
        const out = `${dir}/${name}-decoded.dcm`;
        const result = await runCommand(tool, [samples.get(name)!.path, out]);
        assert(result.success, `${tool} ${name}: ${result.stderr}`);
        assertEquals(await fileTransferSyntax(out), TransferSyntax.explicitLittleEndian);
      }
    });
  },
);

Deno.test("encodeJ2k: J2K and HTJ2K lossless decode to the original pixels", async () => {
  await withTempDir(async (dir) => {
    const [src] = await makeCtSeries(dir, { count: 1, rows: 40, columns: 24, bitsStored: 12 });
    const original = new Uint8Array((readDataset(await Deno.readFile(src!)).PixelData as ArrayBuffer[])[0]!);
    const { default: openjpegFactory } = await import("@cornerstonejs/codec-openjpeg");
    const { default: openjphFactory } = await import("@cornerstonejs/codec-openjph");
    // deno-lint-ignore no-explicit-any
    const openjpeg = await (openjpegFactory as any)();
    // deno-lint-ignore no-explicit-any
    const openjph = await (openjphFactory as any)();
    for (const kind of ["j2k-lossless", "htj2k-lossless"] as const) {
      const out = `${dir}/${kind}.dcm`;
      await encodeJ2k(src!, out, kind);
      const bytes = await Deno.readFile(out);
      const ds = readDataset(bytes);
      assertEquals(
        parseMetaHeader(bytes).values.get("00020010"),
        kind === "j2k-lossless" ? TransferSyntax.jpeg2000Lossless : TransferSyntax.htj2kLossless,
      );
      const frames = ds.PixelData as ArrayBuffer[];
      assertEquals(frames.length, 1);
      const codestream = new Uint8Array(frames[0]!);
      assertEquals([codestream[0], codestream[1]], [0xff, 0x4f], "J2K codestream starts with SOC");
      const decoder = kind === "j2k-lossless" ? new openjpeg.J2KDecoder() : new openjph.HTJ2KDecoder();
      decoder.getEncodedBuffer(codestream.length).set(codestream);
      decoder.decode();
      const decoded: Uint8Array = decoder.getDecodedBuffer();
      assertEquals(decoder.getFrameInfo().width, 24);
      assertEquals(decoder.getFrameInfo().height, 40);
      assertEquals(Array.from(decoded.subarray(0, original.length)), Array.from(original), kind);
      decoder.delete();
    }
  });
});

Deno.test("datasetFingerprint ignores meta header, sequence length form and group lengths, but sees values", async () => {
  await withTempDir(async (dir) => {
    const [path] = await makeCtSeries(dir, { count: 1, rows: 8, columns: 8 });
    const bytes = await Deno.readFile(path!);
    const base = await datasetFingerprint(path!);

    // A different meta header (another implementation class UID, same length) keeps the fingerprint.
    const metaChanged = bytes.slice();
    const text = new TextDecoder("latin1").decode(metaChanged.subarray(0, datasetOffset(bytes)));
    const at = text.indexOf("DGW_TESTDATA");
    metaChanged.set(new TextEncoder().encode("DGW_OTHERONE"), at);
    await Deno.writeFile(`${dir}/meta.dcm`, metaChanged);
    assertEquals(await datasetFingerprint(`${dir}/meta.dcm`), base);
    assert((await datasetBytesFingerprint(`${dir}/meta.dcm`)) === (await datasetBytesFingerprint(path!)));

    // One changed pixel byte changes it.
    const pixelChanged = bytes.slice();
    pixelChanged[pixelChanged.length - 3] = pixelChanged[pixelChanged.length - 3]! ^ 0xff;
    await Deno.writeFile(`${dir}/pixel.dcm`, pixelChanged);
    assert(
      (await datasetFingerprint(`${dir}/pixel.dcm`)) !== base,
      "pixel change must change the fingerprint",
    );
  });
});

interopTest("datasetFingerprint is stable across DCMTK re-encoding of sequences", ["dcmconv"], async () => {
  await withTempDir(async (dir) => {
    const [path] = await makeCtSeries(dir, { count: 1, rows: 8, columns: 8 });
    // dcmconv writes sequences and items with explicit lengths (dcmjs writes undefined ones), and +g adds group lengths.
    const out = `${dir}/reencoded.dcm`;
    const result = await runCommand("dcmconv", ["+te", "+g", "+e", path!, out]);
    assert(result.success, result.stderr);
    assert((await datasetBytesFingerprint(out)) !== (await datasetBytesFingerprint(path!)), "bytes differ");
    assertEquals(await datasetFingerprint(out), await datasetFingerprint(path!));
    // Implicit VR is another encoding of the values: a different fingerprint, and stable itself.
    const implicit = `${dir}/implicit.dcm`;
    const implicitAgain = `${dir}/implicit-again.dcm`;
    assert((await runCommand("dcmconv", ["+ti", path!, implicit])).success);
    assert((await runCommand("dcmconv", ["+ti", "+g", out, implicitAgain])).success);
    assert((await datasetFingerprint(implicit)) !== (await datasetFingerprint(path!)));
    assertEquals(await datasetFingerprint(implicitAgain), await datasetFingerprint(implicit));
  });
});

interopTest("datasetFingerprint reads deflated and big endian data sets", ["dcmconv"], async () => {
  await withTempDir(async (dir) => {
    const [path] = await makeCtSeries(dir, { count: 1, rows: 8, columns: 8 });
    for (const [flag, name] of [["+td", "deflated"], ["+tb", "big"]]) {
      const a = `${dir}/${name}-a.dcm`;
      const b = `${dir}/${name}-b.dcm`;
      assert((await runCommand("dcmconv", [flag!, path!, a])).success);
      const extra = name === "deflated" ? ["+cl", "9"] : ["+g"];
      assert((await runCommand("dcmconv", [flag!, ...extra, path!, b])).success);
      assertEquals(await datasetFingerprint(a), await datasetFingerprint(b), name);
    }
  });
});
