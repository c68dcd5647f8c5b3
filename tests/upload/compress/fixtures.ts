/**
 * Test images for the compressor: the real images in ../shared/testdata/real-images, and pixel
 * formats made from them with DCMTK (dcmconv for other transfer syntaxes, dcmodify for the
 * Image Pixel attributes and pixel bytes) in a temporary folder. Pixel bytes are read back with
 * DCMTK (`dcmdump +W`), independently of the code under test.
 * @module
 */

/** The real images. */
export const REAL_IMAGES = "/work/shared/testdata/real-images";

/** Runs a DCMTK tool; throws with its output when it fails. */
export async function run(command: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${command} ${args.join(" ")} failed:\n${text}`);
  return text;
}

/** The Pixel Data value bytes of a file with native Pixel Data, as DCMTK writes them (`dcmdump +W`). */
export async function dcmtkPixels(path: string, dir: string): Promise<Uint8Array> {
  const folder = await Deno.makeTempDir({ dir, prefix: "raw-" });
  const le = `${folder}/le.dcm`;
  // Little endian explicit first, so that the raw value has a known byte order.
  await run("dcmconv", ["+te", path, le]);
  const dump = await run("dcmdump", ["-q", "+W", folder, le]);
  const file = dump.match(/^\(7fe0,0010\) O[BW] =(\S+)/m)?.[1];
  if (file === undefined) throw new Error(`no native Pixel Data in ${path}:\n${dump}`);
  return await Deno.readFile(file);
}

/** One `dcmodify` run on a copy of `source`. */
async function modified(source: string, out: string, args: string[]): Promise<string> {
  await Deno.copyFile(source, out);
  await run("dcmodify", ["-nb", "-q", ...args, out]);
  return out;
}

/** A test image with what it is and what is expected. */
export interface Fixture {
  name: string;
  path: string;
  /** True: the codecs must carry it. */
  eligible: boolean;
  /** Planar Configuration 1 (expected pixels are interleaved again). */
  planar?: boolean;
  /** Part of the reason expected for an ineligible one. */
  reason?: RegExp;
  /** The cause expected for an ineligible one. */
  cause?: string;
  /** Implicit VR: private elements come out as UN (PS3.5 §6.2.2), their bytes unchanged. */
  implicit?: boolean;
  /** HTJ2K refuses it up front (colour above 8 bits). */
  htj2kRefused?: boolean;
}

/** Builds every fixture into `dir`. */
export async function buildFixtures(dir: string): Promise<Fixture[]> {
  const real = (name: string) => `${REAL_IMAGES}/${name}`;
  const ct128 = real("CT_128_GE.dcm");
  const ct512 = real("CT_512_Hitachi_head.dcm");
  const mr384 = real("MR_384_Siemens_brain_MIP.dcm");
  const mr64 = real("MR_64_Toshiba.dcm");
  const us = real("US_320x240_GE_rgb.dcm");
  const fixtures: Fixture[] = [
    { name: "CT 512 16-bit signed (real)", path: ct512, eligible: true },
    { name: "CT 128 16-bit signed (real)", path: ct128, eligible: true },
    { name: "MR 384 12-bit unsigned (real)", path: mr384, eligible: true },
    { name: "MR 64 16-bit signed (real)", path: mr64, eligible: true },
    { name: "US RGB 8-bit (real)", path: us, eligible: true },
  ];
  const p = (name: string) => `${dir}/${name}.dcm`;
  const add = (f: Fixture) => fixtures.push(f);

  await run("dcmconv", ["+ti", ct128, p("implicit")]);
  add({ name: "implicit VR little endian", path: p("implicit"), eligible: true, implicit: true });
  await run("dcmconv", ["+tb", mr384, p("big16")]);
  add({ name: "explicit VR big endian 16-bit", path: p("big16"), eligible: true });
  await run("dcmconv", ["+tb", us, p("big_rgb")]);
  add({ name: "explicit VR big endian RGB 8-bit", path: p("big_rgb"), eligible: true });
  await run("dcmconv", ["+td", ct512, p("deflated")]);
  add({ name: "deflated explicit VR little endian", path: p("deflated"), eligible: true });
  add({
    name: "MONOCHROME1",
    path: await modified(mr64, p("mono1"), ["-m", "(0028,0004)=MONOCHROME1"]),
    eligible: true,
  });
  add({
    name: "YBR_FULL",
    path: await modified(us, p("ybr"), ["-m", "(0028,0004)=YBR_FULL"]),
    eligible: true,
  });
  add({
    name: "signed 12-bit in 16",
    path: await modified(mr384, p("signed12"), ["-m", "(0028,0103)=1"]),
    eligible: true,
  });

  const usPixels = await dcmtkPixels(us, dir);
  const mr64Pixels = await dcmtkPixels(mr64, dir);
  const mr384Pixels = await dcmtkPixels(mr384, dir);
  const ct128Pixels = await dcmtkPixels(ct128, dir);

  // RGB planar configuration 1: R plane, G plane, B plane.
  const pixels = 320 * 240;
  const planes = new Uint8Array(pixels * 3);
  for (let i = 0; i < pixels; i++) {
    for (let s = 0; s < 3; s++) planes[s * pixels + i] = usPixels[i * 3 + s]!;
  }
  await Deno.writeFile(`${dir}/planes.raw`, planes);
  add({
    name: "RGB planar configuration 1",
    path: await modified(us, p("planar"), ["-m", "(0028,0006)=1", "-mf", `(7fe0,0010)=${dir}/planes.raw`]),
    eligible: true,
    planar: true,
  });

  // PALETTE COLOR, 8-bit, odd rows and columns (and so an odd pixel count): the R samples.
  const rows = 239, columns = 319;
  // PS3.5 §8.1.1: an odd-length value is padded with one byte.
  const indices = new Uint8Array(rows * columns + ((rows * columns) % 2));
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < columns; c++) indices[r * columns + c] = usPixels[(r * 320 + c) * 3]!;
  }
  await Deno.writeFile(`${dir}/indices.raw`, indices);
  const lut = new Uint8Array(512);
  for (let i = 0; i < 256; i++) lut[2 * i + 1] = i;
  await Deno.writeFile(`${dir}/lut.raw`, lut);
  add({
    name: "PALETTE COLOR 8-bit, odd rows and columns",
    path: await modified(us, p("palette"), [
      "-m",
      "(0028,0002)=1",
      "-m",
      "(0028,0004)=PALETTE COLOR",
      "-e",
      "(0028,0006)",
      "-m",
      `(0028,0010)=${rows}`,
      "-m",
      `(0028,0011)=${columns}`,
      "-i",
      "(0028,1101)=256\\0\\16",
      "-i",
      "(0028,1102)=256\\0\\16",
      "-i",
      "(0028,1103)=256\\0\\16",
      "-if",
      `(0028,1201)=${dir}/lut.raw`,
      "-if",
      `(0028,1202)=${dir}/lut.raw`,
      "-if",
      `(0028,1203)=${dir}/lut.raw`,
      "-mf",
      `(7fe0,0010)=${dir}/indices.raw`,
    ]),
    eligible: true,
  });

  // 16-bit, odd rows and columns.
  await Deno.writeFile(`${dir}/odd16.raw`, mr64Pixels.subarray(0, 63 * 61 * 2));
  add({
    name: "16-bit, odd rows and columns",
    path: await modified(mr64, p("odd16"), [
      "-m",
      "(0028,0010)=63",
      "-m",
      "(0028,0011)=61",
      "-mf",
      `(7fe0,0010)=${dir}/odd16.raw`,
    ]),
    eligible: true,
  });

  // Multi-frame: three different frames of CT 128.
  const frame = ct128Pixels.subarray(0, 128 * 128 * 2);
  const three = new Uint8Array(frame.length * 3);
  three.set(frame, 0);
  three.set(frame.slice().reverse(), frame.length);
  three.set(frame.map((b, i) => (i % 2 === 0 ? b : b ^ 0x0F)), 2 * frame.length);
  await Deno.writeFile(`${dir}/three.raw`, three);
  add({
    name: "multi-frame, 3 frames",
    path: await modified(ct128, p("multiframe"), [
      "-i",
      "(0028,0008)=3",
      "-mf",
      `(7fe0,0010)=${dir}/three.raw`,
    ]),
    eligible: true,
  });

  // RGB, 16 bits allocated, 10 stored.
  const rgb16 = new Uint8Array(usPixels.length * 2);
  for (let i = 0; i < usPixels.length; i++) {
    const v = usPixels[i]! * 4 + (i % 4);
    rgb16[2 * i] = v & 0xFF;
    rgb16[2 * i + 1] = v >> 8;
  }
  await Deno.writeFile(`${dir}/rgb16.raw`, rgb16);
  add({
    name: "RGB 16-bit (10 stored)",
    path: await modified(us, p("rgb16"), [
      "-m",
      "(0028,0100)=16",
      "-m",
      "(0028,0101)=10",
      "-m",
      "(0028,0102)=9",
      "-mf",
      `(7fe0,0010)=${dir}/rgb16.raw`,
    ]),
    eligible: true,
    htj2kRefused: true,
  });

  // 16 bits allocated, 8 stored (the codecs get a 16-bit container: precision 9).
  const wide = new Uint8Array(indices.length * 2);
  indices.forEach((v, i) => (wide[2 * i] = v));
  await Deno.writeFile(`${dir}/wide.raw`, wide.subarray(0, 2 * rows * columns));
  add({
    name: "16 bits allocated, 8 stored, odd rows and columns",
    path: await modified(mr64, p("ba16bs8"), [
      "-m",
      `(0028,0010)=${rows}`,
      "-m",
      `(0028,0011)=${columns}`,
      "-m",
      "(0028,0101)=8",
      "-m",
      "(0028,0102)=7",
      "-m",
      "(0028,0103)=0",
      "-mf",
      `(7fe0,0010)=${dir}/wide.raw`,
    ]),
    eligible: true,
  });

  // Signed 12-bit stored sign-extended in 16 bits (negative values have the bits above set).
  const extended = mr384Pixels.slice();
  for (let i = 0; i < extended.length; i += 2 * 101) {
    extended[i] = 0x00;
    extended[i + 1] = 0xF8; // -2048 in 12 bits, sign-extended: 0xF800
  }
  await Deno.writeFile(`${dir}/extended.raw`, extended);
  add({
    name: "signed 12-bit with sign extension above Bits Stored",
    path: await modified(mr384, p("extended"), [
      "-m",
      "(0028,0103)=1",
      "-mf",
      `(7fe0,0010)=${dir}/extended.raw`,
    ]),
    eligible: false,
    reason: /bits above Bits Stored \(12\) are set/,
    cause: "high-bits",
  });

  // Garbage above Bits Stored: bit 15 set in a few pixels of the 12-bit MR (an overlay's bits).
  const garbage = mr384Pixels.slice();
  for (let i = 1; i < garbage.length; i += 2 * 997) garbage[i]! |= 0x80;
  await Deno.writeFile(`${dir}/garbage.raw`, garbage);
  add({
    name: "garbage above Bits Stored",
    path: await modified(mr384, p("garbage"), ["-mf", `(7fe0,0010)=${dir}/garbage.raw`]),
    eligible: false,
    reason: /bits above Bits Stored \(12\) are set/,
    cause: "high-bits",
  });

  // Ineligible formats.
  add({
    name: "no Pixel Data (like SR, ECG, RT)",
    path: await modified(ct128, p("nopixels"), ["-e", "(7fe0,0010)"]),
    eligible: false,
    reason: /no Pixel Data/,
    cause: "no-pixel-data",
  });
  add({
    name: "32-bit pixel data",
    path: await modified(mr64, p("bits32"), [
      "-m",
      "(0028,0010)=32",
      "-m",
      "(0028,0100)=32",
      "-m",
      "(0028,0101)=32",
      "-m",
      "(0028,0102)=31",
    ]),
    eligible: false,
    reason: /Bits Allocated 32/,
    cause: "pixel-format",
  });
  await Deno.writeFile(`${dir}/float.raw`, new Uint8Array(64 * 64 * 4));
  add({
    name: "Float Pixel Data",
    path: await modified(mr64, p("float"), [
      "-e",
      "(7fe0,0010)",
      "-m",
      "(0028,0100)=32",
      "-if",
      `(7fe0,0008)=${dir}/float.raw`,
    ]),
    eligible: false,
    reason: /Float Pixel Data/,
    cause: "pixel-format",
  });
  await run("dcmcjpls", [ct128, p("already")]);
  add({
    name: "already compressed",
    path: p("already"),
    eligible: false,
    reason: /not native/,
    cause: "not-native",
  });
  return fixtures;
}

/** Pixel-interleaves planar RGB (test-side, written independently of the code under test). */
export function interleave(planes: Uint8Array, bytesPerSample: number): Uint8Array {
  const n = planes.length / 3 / bytesPerSample;
  const out = new Uint8Array(planes.length);
  for (let i = 0; i < n; i++) {
    for (let s = 0; s < 3; s++) {
      for (let b = 0; b < bytesPerSample; b++) {
        out[(i * 3 + s) * bytesPerSample + b] = planes[(s * n + i) * bytesPerSample + b]!;
      }
    }
  }
  return out;
}
