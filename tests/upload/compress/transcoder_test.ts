import { assert, assertEquals } from "../../support/assert.ts";
import { tempDir } from "../../status/helpers.ts";
import { encodeFrame, firstLoaded } from "../../../src/upload/compress/codec.ts";
import { createCompressor, defaultWorkerCount } from "../../../src/upload/compress/compressor.ts";
import { encapsulationFrame } from "../../../src/upload/compress/encapsulation.ts";
import { type Prepared, type SendCompressed, transcode } from "../../../src/upload/compress/transcoder.ts";
import { buildFixtures, dcmtkPixels, type Fixture, interleave, run } from "./fixtures.ts";

const JPEG_LS = "1.2.840.10008.1.2.4.80";
const HTJ2K = "1.2.840.10008.1.2.4.201";

let built: Promise<{ dir: string; fixtures: Fixture[] }> | undefined;
function fixtures() {
  built ??= (async () => {
    const dir = await tempDir("dg-compress-");
    return { dir, fixtures: await buildFixtures(dir) };
  })();
  return built;
}

function compressed(out: Prepared, name: string): SendCompressed {
  assert(
    out.kind === "compressed",
    `${name}: expected compressed, got original: ${out.kind === "original" ? out.reason : ""}`,
  );
  return out;
}

async function writeOut(out: SendCompressed, path: string): Promise<Uint8Array> {
  const bytes = new Uint8Array(await new Response(out.stream()).arrayBuffer());
  assertEquals(bytes.length, out.size, "size is the exact stream length");
  await Deno.writeFile(path, bytes);
  return bytes;
}

/** The data set as dcmdump shows it, minus the meta header, Pixel Data and length forms. */
async function datasetLines(path: string): Promise<string[]> {
  const dump = await run("dcmdump", ["-q", "+L", path]);
  const lines = dump.split("\n");
  const start = lines.findIndex((l) => l.startsWith("# Dicom-Data-Set"));
  return lines.slice(start + 2)
    .filter((l) => !/^\s*\((7fe0,|fffe,e0dd|fffe,e00d)/.test(l) && !/^\s*\(fffe,e000\) pi/.test(l))
    .map((l) =>
      l.replace(/\((Sequence|Item) with (explicit|undefined) length #=(\d+)\)/, "($1 #=$3)")
        .replace(/\s+#.*$/, "")
    )
    .filter((l) => l.trim() !== "");
}

/** The expected frames' bytes: DCMTK's reading of the original, interleaved if planar. */
async function expectedPixels(f: Fixture, dir: string, length: number): Promise<Uint8Array> {
  let pixels = (await dcmtkPixels(f.path, dir)).subarray(0, length);
  if (f.planar) pixels = interleave(pixels, 1);
  return pixels;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

Deno.test("JPEG-LS: every pixel format round-trips bit-exact; DCMTK's dcmdjpls decodes it to the original pixels", async () => {
  const { dir, fixtures: all } = await fixtures();
  for (const f of all.filter((f) => f.eligible)) {
    const out = compressed(await transcode(f.path, { syntax: "jpeg-ls", encoder: encodeFrame }), f.name);
    assertEquals(out.transferSyntaxUid, JPEG_LS);
    const file = `${dir}/${f.path.split("/").pop()}.jls.dcm`;
    await writeOut(out, file);
    const dump = await run("dcmdump", ["-q", "+P", "0002,0010", "+P", "0008,0018", "+P", "0028,2110", file]);
    const orig = await run("dcmdump", ["-q", "+P", "0008,0018", "+P", "0028,2110", f.path]);
    assert(dump.includes("=JPEGLSLossless"), `${f.name}: ${dump}`);
    assertEquals(
      dump.split("\n").filter((l) => !l.startsWith("(0002")).join("\n"),
      orig,
      `${f.name}: SOP Instance UID and Lossy Image Compression unchanged`,
    );
    // Same elements in the same order (Planar Configuration 0 where planar data were interleaved).
    let expectedLines = await datasetLines(f.path);
    if (f.planar) {
      expectedLines = expectedLines.map((l) => l.replace(/^\(0028,0006\) US 1/, "(0028,0006) US 0"));
    }
    let gotLines = await datasetLines(file);
    if (f.implicit) {
      // Private elements: DCMTK knows some private VRs, the gateway writes UN (PS3.5 §6.2.2).
      const tags = (lines: string[]) =>
        lines.filter((l) => /^\(\d{3}[13579bdf],/.test(l)).map((l) => l.slice(0, 11));
      assertEquals(tags(gotLines), tags(expectedLines), `${f.name}: private elements`);
      const isPublic = (l: string) => !/^\(\d{3}[13579bdf],/.test(l);
      gotLines = gotLines.filter(isPublic);
      expectedLines = expectedLines.filter(isPublic);
    }
    assertEquals(gotLines, expectedLines, f.name);
    // An independent decoder gives back exactly the original pixels.
    const decoded = `${file}.decoded.dcm`;
    await run("dcmdjpls", [file, decoded]);
    const want = await expectedPixels(f, dir, out.stats.pixelBytes);
    const got = (await dcmtkPixels(decoded, dir)).subarray(0, out.stats.pixelBytes);
    assert(equalBytes(got, want), `${f.name}: dcmdjpls pixels differ from the original`);
    assertEquals(out.stats.frames, f.name.startsWith("multi-frame") ? 3 : 1, f.name);
    await out.close();
  }
});

Deno.test("HTJ2K: every pixel format it takes round-trips bit-exact; colour above 8 bits is refused up front", async () => {
  const { dir, fixtures: all } = await fixtures();
  const { default: openjphFactory } = await import("@cornerstonejs/codec-openjph");
  // deno-lint-ignore no-explicit-any
  const openjph = await (openjphFactory as any)();
  for (const f of all.filter((f) => f.eligible)) {
    const out = await transcode(f.path, { syntax: "htj2k", encoder: encodeFrame });
    if (f.htj2kRefused) {
      assert(out.kind === "original" && /colour above 8 bits/.test(out.reason), f.name);
      continue;
    }
    const c = compressed(out, f.name);
    assertEquals(c.transferSyntaxUid, HTJ2K);
    const file = `${dir}/${f.path.split("/").pop()}.htj2k.dcm`;
    await writeOut(c, file);
    // Fragments as DCMTK splits them (item 0 is the Basic Offset Table).
    const folder = await Deno.makeTempDir({ dir });
    const dump = await run("dcmdump", ["-q", "+L", "+W", folder, file]);
    assert(dump.includes("(0002,0010) UI =HighThroughputJPEG2000LosslessOnly") || dump.includes(HTJ2K), dump);
    const items = [...dump.matchAll(/\(fffe,e000\) pi =(\S+)/g)].map((m) => m[1]!);
    assertEquals(items.length, c.stats.frames + 1, f.name);
    const frames: Uint8Array[] = [];
    for (const item of items.slice(1)) {
      const code = await Deno.readFile(item);
      const decoder = new openjph.HTJ2KDecoder();
      decoder.getEncodedBuffer(code.length).set(code);
      decoder.decode();
      const d = decoder.getDecodedBuffer();
      frames.push(new Uint8Array(d.buffer, d.byteOffset, d.byteLength).slice());
      decoder.delete();
    }
    const got = new Uint8Array(frames.reduce((n, b) => n + b.length, 0));
    frames.reduce((o, b) => (got.set(b, o), o + b.length), 0);
    const want = await expectedPixels(f, dir, c.stats.pixelBytes);
    assert(equalBytes(got, want), `${f.name}: HTJ2K frames differ from the original`);
    await c.close();
  }
});

Deno.test("the decode-and-compare check catches OpenJPH's colour bug above 8 bits", async () => {
  const { dir, fixtures: all } = await fixtures();
  const rgb16 = all.find((f) => f.htj2kRefused)!;
  const frame = (await dcmtkPixels(rgb16.path, dir)).subarray(0, 320 * 240 * 3 * 2);
  const format = {
    rows: 240,
    columns: 320,
    samplesPerPixel: 3,
    bitsAllocated: 16,
    bitsStored: 10,
    signed: false,
  };
  const unchecked = await encodeFrame("htj2k", frame, format, { refuseKnownFaults: false });
  assert(!unchecked.ok, "a corrupted frame must not be returned");
  assert(/decoded frame differs from the original/.test(unchecked.reason), unchecked.reason);
  const refused = await encodeFrame("htj2k", frame, format);
  assert(!refused.ok && /colour above 8 bits/.test(refused.reason));
  const jpegLs = await encodeFrame("jpeg-ls", frame, format);
  assert(jpegLs.ok, "CharLS carries the same frame");
});

Deno.test("ineligible instances and garbage above Bits Stored go as received, with the reason", async () => {
  const { fixtures: all } = await fixtures();
  for (const f of all.filter((f) => !f.eligible)) {
    for (const syntax of ["jpeg-ls", "htj2k"] as const) {
      const out = await transcode(f.path, { syntax, encoder: encodeFrame });
      assert(out.kind === "original", `${f.name} (${syntax}) must go as received`);
      assert(f.reason!.test(out.reason), `${f.name} (${syntax}): ${out.reason}`);
      assertEquals(out.cause, f.cause, f.name);
    }
  }
  const notDicom = `${(await fixtures()).dir}/not-dicom.bin`;
  await Deno.writeFile(notDicom, new Uint8Array(300));
  const out = await transcode(notDicom, { syntax: "jpeg-ls", encoder: encodeFrame });
  assert(out.kind === "original" && /not a Part 10 file/.test(out.reason), JSON.stringify(out));
  assertEquals(out.cause, "unreadable");
  // A frame the encoder could not carry exactly: the whole instance goes as received.
  const ct = all.find((f) => f.name.startsWith("multi-frame"))!;
  let calls = 0;
  const failing = await transcode(ct.path, {
    syntax: "jpeg-ls",
    encoder: (syntax, frame, format) =>
      ++calls === 2
        ? Promise.resolve({ ok: false, reason: "jpeg-ls: decoded frame differs from the original at byte 7" })
        : encodeFrame(syntax, frame, format),
  });
  assert(failing.kind === "original" && failing.cause === "mismatch", JSON.stringify(failing));
  assert(/^frame 2: jpeg-ls: decoded frame differs/.test(failing.reason), failing.reason);
});

Deno.test("the worker pool gives the same bytes as encoding in process; codestreams spill to a temporary file", async () => {
  const { dir, fixtures: all } = await fixtures();
  const compressor = createCompressor({ workers: 2, memoryLimit: 1000, tempDir: dir });
  try {
    assertEquals(compressor.workers, 2);
    for (const f of all.filter((f) => f.eligible && /multi-frame|CT 512|RGB planar/.test(f.name))) {
      const pooled = compressed(await compressor.prepare(f.path, { syntax: "jpeg-ls" }), f.name);
      const local = compressed(await transcode(f.path, { syntax: "jpeg-ls", encoder: encodeFrame }), f.name);
      const a = new Uint8Array(await new Response(pooled.stream()).arrayBuffer());
      const b = new Uint8Array(await new Response(local.stream()).arrayBuffer());
      assert(equalBytes(a, b), `${f.name}: pool and in-process output differ`);
      // From bytes in memory: the same output.
      const fromBytes = compressed(
        await compressor.prepare(await Deno.readFile(f.path), { syntax: "jpeg-ls" }),
        f.name,
      );
      assert(
        equalBytes(new Uint8Array(await new Response(fromBytes.stream()).arrayBuffer()), b),
        `${f.name}: from bytes`,
      );
      await fromBytes.close();
      // Streamed twice: the same bytes again (the uploader may retry).
      const again = new Uint8Array(await new Response(pooled.stream()).arrayBuffer());
      assert(equalBytes(a, again), `${f.name}: second stream differs`);
      const spilled = [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".fragments"));
      assert(spilled.length >= 1, "codestreams over memoryLimit are kept in a temporary file");
      await pooled.close();
      await local.close();
      assertEquals([...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".fragments")).length, 0);
    }
    const garbage = all.find((f) => f.name === "garbage above Bits Stored")!;
    const out = await compressor.prepare(garbage.path, { syntax: "jpeg-ls" });
    assert(out.kind === "original", "garbage above Bits Stored goes as received through the pool too");
  } finally {
    compressor.close();
  }
});

Deno.test("pool size defaults to cores − 1, at least 1", () => {
  assertEquals(defaultWorkerCount(8), 7);
  assertEquals(defaultWorkerCount(2), 1);
  assertEquals(defaultWorkerCount(1), 1);
});

Deno.test("offsets past 32 bits: empty Basic Offset Table and an Extended Offset Table (PS3.5 A.4)", () => {
  const small = encapsulationFrame([10, 11, 12]);
  assertEquals(small.extendedOffsetTable.length, 0);
  const bot = new DataView(small.pixelDataStart.buffer, small.pixelDataStart.byteOffset);
  assertEquals(bot.getUint32(16, true), 12, "BOT item length: 3 offsets");
  assertEquals([bot.getUint32(20, true), bot.getUint32(24, true), bot.getUint32(28, true)], [0, 18, 38]);
  const big = 0x7FFFFFF0;
  const large = encapsulationFrame([big, big, big, 5]);
  const eot = new DataView(large.extendedOffsetTable.buffer);
  assertEquals(large.extendedOffsetTable.length, 2 * (12 + 32));
  assertEquals([eot.getUint16(0, true), eot.getUint16(2, true)], [0x7FE0, 0x0001]);
  assertEquals(eot.getBigUint64(12 + 24, true), BigInt(3 * (big + 8)), "offset of frame 4 over 4 GiB");
  assertEquals(eot.getBigUint64(44 + 12 + 24, true), 6n, "frame 4 length, padded to even");
  assertEquals(large.pixelDataStart.length, 12 + 8, "Basic Offset Table item is empty");
});

Deno.test("codec loading falls back to the next build when one cannot load (CharLS: .wasm file, then inline)", async () => {
  const used = await firstLoaded([
    { name: "wasm file", load: () => Promise.reject(new Error("ENOENT charlswasm.wasm")) },
    { name: "inline", load: () => Promise.resolve(42) },
  ]);
  assertEquals(used, { name: "inline", module: 42 });
  let error: unknown;
  await firstLoaded([{ name: "only", load: () => Promise.reject(new Error("no wasm")) }]).catch((
    e,
  ) => (error = e));
  assert(error instanceof Error && error.message === "no wasm");
  // The real thing: CharLS loads here (from its .wasm file beside the module).
  const r = await encodeFrame("jpeg-ls", new Uint8Array(8), {
    rows: 2,
    columns: 2,
    samplesPerPixel: 1,
    bitsAllocated: 16,
    bitsStored: 12,
    signed: false,
  });
  assert(r.ok);
  const { charlsBuild } = await import("../../../src/upload/compress/codec.ts");
  assertEquals(charlsBuild, "wasm file");
});
