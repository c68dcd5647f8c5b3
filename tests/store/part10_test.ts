/**
 * Part 10 meta header and head-only attribute reading, checked against files DCMTK makes
 * (img2dcm, dump2dcm, dcmconv, dcmcjpeg, dcmcrle, dcmcjpls) and read back with dcmdump.
 * Outside CI a test whose DCMTK tools are missing is ignored with a message; in CI it fails.
 */
import { assert, assertEquals, assertRejects } from "../support/assert.ts";
import { deflateRawSync } from "node:zlib";
import { findOnPath, inCi } from "../../scripts/harness/tools.ts";
import { interopTest } from "../support/tools.ts";
import {
  type DatasetAttributes,
  DatasetError,
  decodeFileMetaInformation,
  encodeFileMetaInformation,
  type FileMetaInformation,
} from "../../src/store/part10.ts";
import { DatasetReader, readDatasetAttributes } from "../../src/store/dataset_attributes.ts";
import * as TransferSyntax from "../../src/dicom/uids.ts";

// ------------------------------------------------------------------------------------------
// DCMTK helpers
// ------------------------------------------------------------------------------------------

const DCMTK_TOOLS = [
  "dcmdump",
  "dump2dcm",
  "img2dcm",
  "dcmconv",
  "dcmcjpeg",
  "dcmcrle",
  "dcmcjpls",
  "dcmodify",
];

/** A test that needs DCMTK: fails in CI (`CI=true`) when tools are missing, else is ignored visibly. */
function dcmtkTest(name: string, fn: () => Promise<void>): void {
  interopTest(name, DCMTK_TOOLS, fn);
}

async function run(command: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  const output = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  const stderr = new TextDecoder().decode(output.stderr);
  if (!output.success) {
    throw new Error(`${command} ${args.join(" ")} exited with ${output.code}: ${stderr}${stdout}`);
  }
  return { stdout, stderr };
}

/** A 24-bit BMP with a gradient, the input img2dcm turns into a Secondary Capture image. */
function bmp(width: number, height: number): Uint8Array {
  const rowBytes = (width * 3 + 3) & ~3;
  const out = new Uint8Array(54 + rowBytes * height);
  const view = new DataView(out.buffer);
  out.set([0x42, 0x4D]); // "BM"
  view.setUint32(2, out.length, true);
  view.setUint32(10, 54, true); // pixel data offset
  view.setUint32(14, 40, true); // BITMAPINFOHEADER size
  view.setInt32(18, width, true);
  view.setInt32(22, height, true);
  view.setUint16(26, 1, true); // planes
  view.setUint16(28, 24, true); // bits per pixel
  view.setUint32(34, rowBytes * height, true);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      out.set([(x * 4) & 255, (y * 5) & 255, ((x + y) * 3) & 255], 54 + y * rowBytes + x * 3);
    }
  }
  return out;
}

const SOP_INSTANCE = "1.2.826.0.1.3680043.9.7433.1.1";
const STUDY = "1.2.826.0.1.3680043.9.7433.2.1";
const SERIES = "1.2.826.0.1.3680043.9.7433.3.1";

/**
 * The data set given to img2dcm: UTF-8 patient name, nested sequences (which dcmconv -e writes
 * with undefined lengths) holding a (0020,000E) of their own, a private block, then the UIDs.
 */
const RICH_DUMP = `
(0008,0005) CS [ISO_IR 192]
(0008,0016) UI [1.2.840.10008.5.1.4.1.1.7]
(0008,0018) UI [${SOP_INSTANCE}]
(0008,0020) DA [20240102]
(0008,0030) TM [101112.5]
(0008,0050) SH [ACC-0001]
(0008,0060) CS [OT]
(0008,1030) LO [Head CT]
(0008,103e) LO [Axial 5mm]
(0008,1115) SQ (Sequence with undefined length #=1)
  (fffe,e000) na (Item with undefined length #=2)
    (0008,1140) SQ (Sequence with undefined length #=1)
      (fffe,e000) na (Item with undefined length #=2)
        (0008,1150) UI [1.2.840.10008.5.1.4.1.1.2]
        (0008,1155) UI [1.2.3.4.5.6.7]
      (fffe,e00d) na (ItemDelimitationItem)
    (fffe,e0dd) na (SequenceDelimitationItem)
    (0020,000e) UI [1.2.3.4.5.6]
  (fffe,e00d) na (ItemDelimitationItem)
(fffe,e0dd) na (SequenceDelimitationItem)
(0009,0010) LO [ACME 1.1]
(0009,1001) LO [private value]
(0010,0010) PN [Müller^Jürgen]
(0010,0020) LO [PID-42]
(0020,000d) UI [${STUDY}]
(0020,000e) UI [${SERIES}]
(0020,0011) IS [3]
(0020,0013) IS [17]
`;

const EXPECTED: DatasetAttributes = {
  sopClassUid: "1.2.840.10008.5.1.4.1.1.7",
  sopInstanceUid: SOP_INSTANCE,
  studyInstanceUid: STUDY,
  seriesInstanceUid: SERIES,
  patientId: "PID-42",
  patientName: "Müller^Jürgen",
  modality: "OT",
  studyDate: "20240102",
  studyTime: "101112.5",
  studyDescription: "Head CT",
  seriesDescription: "Axial 5mm",
  accessionNumber: "ACC-0001",
  seriesNumber: 3,
  instanceNumber: 17,
  priority: "",
};

interface Sample {
  name: string;
  path: string;
  transferSyntaxUid: string;
}

let samplesPromise: Promise<{ dir: string; samples: Sample[] }> | null = null;

/** Makes (once per run) the same instance in each transfer syntax with DCMTK, in a temp dir. */
function dcmtkSamples(): Promise<{ dir: string; samples: Sample[] }> {
  samplesPromise ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "part10_test_" });
    globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
    const p = (name: string) => `${dir}/${name}`;
    await Deno.writeFile(p("in.bmp"), bmp(64, 48));
    await Deno.writeTextFile(p("rich.dump"), RICH_DUMP);
    await run("dump2dcm", [p("rich.dump"), p("rich.dcm")]);
    // img2dcm takes the data set above as template and adds the image (explicit VR LE).
    await run("img2dcm", ["-q", "-i", "BMP", p("in.bmp"), p("explicit.dcm"), "-df", p("rich.dcm")]);
    // img2dcm invents a new SOP Instance UID; put ours back (data set and meta header).
    await run("dcmodify", ["-nb", "-m", `(0008,0018)=${SOP_INSTANCE}`, p("explicit.dcm")]);
    const recipes: [string, string, string[]][] = [
      ["implicit", TransferSyntax.ImplicitVrLittleEndian, ["dcmconv", "+ti", "-e"]],
      ["big-endian", TransferSyntax.ExplicitVrBigEndian, ["dcmconv", "+tb", "-e"]],
      ["deflated", TransferSyntax.DeflatedExplicitVrLittleEndian, ["dcmconv", "+td", "-e"]],
      ["explicit-group-lengths", TransferSyntax.ExplicitVrLittleEndian, ["dcmconv", "+te", "+g", "-e"]],
      ["jpeg-lossless", "1.2.840.10008.1.2.4.70", ["dcmcjpeg"]],
      ["jpeg-baseline", "1.2.840.10008.1.2.4.50", ["dcmcjpeg", "+eb", "+un"]], // lossy: keep the UID
      ["rle", "1.2.840.10008.1.2.5", ["dcmcrle"]],
      ["jpeg-ls", "1.2.840.10008.1.2.4.80", ["dcmcjpls"]],
    ];
    const samples: Sample[] = [
      { name: "explicit", path: p("explicit.dcm"), transferSyntaxUid: TransferSyntax.ExplicitVrLittleEndian },
    ];
    for (const [name, transferSyntaxUid, [tool, ...args]] of recipes) {
      await run(tool!, [...args, p("explicit.dcm"), p(`${name}.dcm`)]);
      samples.push({ name, path: p(`${name}.dcm`), transferSyntaxUid });
    }
    return { dir, samples };
  })();
  return samplesPromise;
}

// ------------------------------------------------------------------------------------------
// Hand-made data sets (explicit VR little endian) for the cases DCMTK will not write for us
// ------------------------------------------------------------------------------------------

function element(group: number, elem: number, vr: string, value: Uint8Array | string): Uint8Array {
  let bytes = typeof value === "string" ? new TextEncoder().encode(value) : value;
  if (bytes.length % 2 === 1) {
    const even = new Uint8Array(bytes.length + 1);
    even.set(bytes);
    even[bytes.length] = vr === "UI" || vr === "OB" ? 0 : 0x20;
    bytes = even;
  }
  const long = ["OB", "OW", "SQ", "UN", "UT"].includes(vr);
  const out = new Uint8Array((long ? 12 : 8) + bytes.length);
  const view = new DataView(out.buffer);
  view.setUint16(0, group, true);
  view.setUint16(2, elem, true);
  out.set([vr.charCodeAt(0), vr.charCodeAt(1)], 4);
  if (long) view.setUint32(8, bytes.length, true);
  else view.setUint16(6, bytes.length, true);
  out.set(bytes, long ? 12 : 8);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function u32le(...values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  values.forEach((v, i) => new DataView(out.buffer).setUint32(i * 4, v, true));
  return out;
}

/** A tag, as it is written in little endian: group then element, 2 bytes each. */
function tagLe(group: number, elem: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint16(0, group, true);
  new DataView(out.buffer).setUint16(2, elem, true);
  return out;
}

function meta(transferSyntaxUid: string = TransferSyntax.ExplicitVrLittleEndian): Uint8Array {
  return encodeFileMetaInformation({
    mediaStorageSopClassUid: "1.2.840.10008.5.1.4.1.1.7",
    mediaStorageSopInstanceUid: SOP_INSTANCE,
    transferSyntaxUid,
    implementationClassUid: "1.2.826.0.1.3680043.9.7433.99",
    implementationVersionName: "GATEWAY_TEST",
  });
}

function basicElements(
  extra: { charset?: string; patientName?: string; withStudy?: boolean } = {},
): Uint8Array {
  return concat(
    ...(extra.charset === undefined ? [] : [element(0x0008, 0x0005, "CS", extra.charset)]),
    element(0x0008, 0x0016, "UI", "1.2.840.10008.5.1.4.1.1.7"),
    element(0x0008, 0x0018, "UI", SOP_INSTANCE),
    element(0x0008, 0x0060, "CS", "OT"),
    element(0x0010, 0x0010, "PN", extra.patientName ?? "Doe^Jane"),
    ...(extra.withStudy === false ? [] : [element(0x0020, 0x000D, "UI", STUDY)]),
    element(0x0020, 0x000E, "UI", SERIES),
  );
}

async function writeTemp(bytes: Uint8Array): Promise<string> {
  const path = await Deno.makeTempFile({ suffix: ".dcm" });
  await Deno.writeFile(path, bytes);
  return path;
}

// ------------------------------------------------------------------------------------------
// File Meta Information
// ------------------------------------------------------------------------------------------

Deno.test("encodeFileMetaInformation: preamble, DICM, group length first, explicit VR LE, padding", () => {
  const bytes = encodeFileMetaInformation({
    mediaStorageSopClassUid: "1.2.840.10008.5.1.4.1.1.7", // 25 characters → NUL pad
    mediaStorageSopInstanceUid: "1.2.34", // even: no pad
    transferSyntaxUid: "1.2.840.10008.1.2",
    implementationClassUid: "1.2.3",
    implementationVersionName: "GW_1", // even: no pad
    sourceApplicationEntityTitle: "CT01 ", // trailing space insignificant → "CT01"
  });
  assert(bytes.subarray(0, 128).every((b) => b === 0), "128-byte zero preamble");
  assertEquals(new TextDecoder().decode(bytes.subarray(128, 132)), "DICM");
  const expectedElements = concat(
    element(0x0002, 0x0001, "OB", new Uint8Array([0, 1])),
    element(0x0002, 0x0002, "UI", "1.2.840.10008.5.1.4.1.1.7"),
    element(0x0002, 0x0003, "UI", "1.2.34"),
    element(0x0002, 0x0010, "UI", "1.2.840.10008.1.2"),
    element(0x0002, 0x0012, "UI", "1.2.3"),
    element(0x0002, 0x0013, "SH", "GW_1"),
    element(0x0002, 0x0016, "AE", "CT01"),
  );
  assertEquals(bytes.subarray(132, 144), element(0x0002, 0x0000, "UL", u32le(expectedElements.length)));
  assertEquals(bytes.subarray(144), expectedElements);
  // The OB version element: tag, "OB", 2 reserved zero bytes, 32-bit length 2, value 00 01.
  assertEquals(Array.from(bytes.subarray(144, 158)), [2, 0, 1, 0, 0x4F, 0x42, 0, 0, 2, 0, 0, 0, 0, 1]);
  // "1.2.840.10008.5.1.4.1.1.7" padded with NUL, not space.
  assertEquals(bytes[158 + 8 + 25], 0);
});

Deno.test("encode → decode round trip, with and without a source AE title", () => {
  const full: FileMetaInformation = {
    mediaStorageSopClassUid: "1.2.840.10008.5.1.4.1.1.2",
    mediaStorageSopInstanceUid: "1.2.3.4.5.6.7.8.9.10.11",
    transferSyntaxUid: TransferSyntax.ImplicitVrLittleEndian,
    implementationClassUid: "1.2.826.0.1.3680043.9.7433.99",
    implementationVersionName: "DICOM_GW_0.1",
    sourceApplicationEntityTitle: "MODALITY_AE_16CH",
  };
  const bytes = encodeFileMetaInformation(full);
  assertEquals(decodeFileMetaInformation(bytes), { meta: full, datasetOffset: bytes.length });
  const { sourceApplicationEntityTitle: _, ...withoutAe } = full;
  const shorter = encodeFileMetaInformation(withoutAe);
  assertEquals(decodeFileMetaInformation(shorter), { meta: withoutAe, datasetOffset: shorter.length });
});

Deno.test("encode makes the source AE title and version name safe, refuses bad UIDs", async () => {
  const bytes = encodeFileMetaInformation({
    mediaStorageSopClassUid: "1.2",
    mediaStorageSopInstanceUid: "1.3",
    transferSyntaxUid: "1.2.840.10008.1.2",
    implementationClassUid: "1.2.3",
    implementationVersionName: "A-VERY-LONG-VERSION-NAME",
    sourceApplicationEntityTitle: "BAD\\AE\u0000\u00e9",
  });
  const { meta: decoded } = decodeFileMetaInformation(bytes);
  assertEquals(decoded.implementationVersionName, "A-VERY-LONG-VERS");
  assertEquals(decoded.sourceApplicationEntityTitle, "BAD?AE??");
  const good = {
    mediaStorageSopClassUid: "1.2",
    mediaStorageSopInstanceUid: "1.3",
    transferSyntaxUid: "1.2.840.10008.1.2",
    implementationClassUid: "1.2.3",
    implementationVersionName: "X",
  };
  for (const uid of ["", "1".repeat(1025), "1.2 3", "1.2\\3", "1.2\u00003"]) {
    await assertRejects(
      () => encodeFileMetaInformation({ ...good, mediaStorageSopInstanceUid: uid }),
      DatasetError,
      "Media Storage SOP Instance UID is not a valid UID",
    );
  }
});

Deno.test("decodeFileMetaInformation: malformed headers are refused with the place named", async () => {
  const good = meta();
  const cases: [string, Uint8Array, string][] = [
    ["too short", good.subarray(0, 100), "file is truncated (100 bytes, at least 132 needed)"],
    [
      "no DICM",
      concat(new Uint8Array(128), new TextEncoder().encode("DICX"), good.subarray(132)),
      `no "DICM" prefix`,
    ],
    [
      "truncated in the group",
      good.subarray(0, 170),
      "element (0002,0002) at offset 158 declares length 26 but only 4 bytes remain",
    ],
    [
      "element past the group length",
      concat(good.subarray(0, 132), element(2, 0, "UL", u32le(10)), good.subarray(144)),
      "element (0002,0001) at offset 144 declares length 2 but only -2 bytes of the meta group remain",
    ],
    [
      "group length not UL",
      concat(good.subarray(0, 132), element(2, 0, "US", new Uint8Array(4)), good.subarray(144)),
      "(0002,0000) at offset 132 must be UL of length 4",
    ],
    [
      "no transfer syntax",
      concat(
        good.subarray(0, 132),
        element(2, 0, "UL", u32le(34 + 16)),
        element(2, 2, "UI", "1.2.840.10008.5.1.4.1.1.7"),
        element(2, 3, "UI", "1.2.3.4"),
      ),
      "Transfer Syntax UID (0002,0010) is missing",
    ],
    [
      "no explicit VR",
      concat(good.subarray(0, 132), tagLe(2, 0), u32le(4, 50)),
      "element (0002,0000) at offset 132 has no explicit VR",
    ],
    [
      "non-0002 element inside the group length",
      concat(good.subarray(0, 132), element(2, 0, "UL", u32le(10)), element(8, 0x16, "UI", "1.2")),
      "element (0008,0016) at offset 144 is inside the meta group length but not in group 0002",
    ],
  ];
  for (const [name, bytes, message] of cases) {
    const error = await assertRejects(() => decodeFileMetaInformation(bytes), DatasetError, message);
    assert(error.message.startsWith("Cannot decode file meta information: "), `${name}: ${error.message}`);
  }
});

Deno.test("decodeFileMetaInformation accepts a header without (0002,0000)", () => {
  const good = meta();
  const withoutLength = concat(good.subarray(0, 132), good.subarray(144), element(8, 0x16, "UI", "1.2"));
  const { meta: decoded, datasetOffset } = decodeFileMetaInformation(withoutLength);
  assertEquals(decoded.transferSyntaxUid, TransferSyntax.ExplicitVrLittleEndian);
  assertEquals(datasetOffset, good.length - 12);
});

dcmtkTest("decodeFileMetaInformation reads the headers DCMTK writes", async () => {
  const { samples } = await dcmtkSamples();
  for (const sample of samples) {
    const bytes = await Deno.readFile(sample.path);
    const { meta: decoded, datasetOffset } = decodeFileMetaInformation(bytes);
    const { stdout } = await run("dcmdump", ["-M", "+L", sample.path]);
    const groupLength = Number(/\(0002,0000\) UL (\d+)/.exec(stdout)?.[1]);
    assertEquals(datasetOffset, 132 + 12 + groupLength, sample.name);
    assertEquals(decoded.transferSyntaxUid, sample.transferSyntaxUid, sample.name);
    assertEquals(decoded.mediaStorageSopClassUid, "1.2.840.10008.5.1.4.1.1.7");
    assertEquals(decoded.mediaStorageSopInstanceUid, SOP_INSTANCE);
    assert(decoded.implementationClassUid.startsWith("1.2.276.0.7230010.3"), decoded.implementationClassUid);
    assert(decoded.implementationVersionName.startsWith("OFFIS_DCMTK"), decoded.implementationVersionName);
  }
});

dcmtkTest("dcmdump reads a file made of our meta header and a received data set", async () => {
  const { samples } = await dcmtkSamples();
  for (const name of ["explicit", "implicit", "big-endian", "jpeg-ls"]) {
    const sample = samples.find((s) => s.name === name)!;
    const original = await Deno.readFile(sample.path);
    const { datasetOffset } = decodeFileMetaInformation(original);
    const header = encodeFileMetaInformation({
      mediaStorageSopClassUid: "1.2.840.10008.5.1.4.1.1.7",
      mediaStorageSopInstanceUid: SOP_INSTANCE,
      transferSyntaxUid: sample.transferSyntaxUid,
      implementationClassUid: "1.2.826.0.1.3680043.9.7433.99",
      implementationVersionName: "DICOM_GW_0.1.0",
      sourceApplicationEntityTitle: "MODALITY_1",
    });
    const path = await writeTemp(concat(header, original.subarray(datasetOffset)));
    try {
      const { stdout, stderr } = await run("dcmdump", ["+L", path]);
      assertEquals(stderr, "", `${name}: dcmdump complained`);
      assert(stdout.includes("(0002,0001) OB 00\\01"), stdout);
      assert(stdout.includes(`(0002,0003) UI [${SOP_INSTANCE}]`), stdout);
      assert(stdout.includes("(0002,0013) SH [DICOM_GW_0.1.0]"), stdout);
      assert(stdout.includes("(0002,0016) AE [MODALITY_1]"), stdout);
      assert(stdout.includes(`(0020,000d) UI [${STUDY}]`), `${name}: data set read after our header`);
      assert(stdout.includes("(7fe0,0010)"), `${name}: read to the pixel data`);
      // dcmdump's group length must agree with the bytes we wrote.
      const groupLength = Number(/\(0002,0000\) UL (\d+)/.exec(stdout)?.[1]);
      assertEquals(132 + 12 + groupLength, header.length);
      // And the original data set is byte for byte what follows our header.
      assertEquals((await Deno.readFile(path)).subarray(header.length), original.subarray(datasetOffset));
    } finally {
      await Deno.remove(path);
    }
  }
});

// ------------------------------------------------------------------------------------------
// readDatasetAttributes
// ------------------------------------------------------------------------------------------

dcmtkTest(
  "readDatasetAttributes: every transfer syntax DCMTK writes, default and tiny first reads",
  async () => {
    const { samples } = await dcmtkSamples();
    assertEquals(samples.length, 9);
    for (const sample of samples) {
      for (const initialReadBytes of [undefined, 256, 1000]) {
        const options = initialReadBytes === undefined ? {} : { initialReadBytes };
        let read = 0;
        const attributes = await readDatasetAttributes(sample.path, { ...options, onRead: (n) => read += n });
        assertEquals(attributes, EXPECTED, `${sample.name} (first read ${initialReadBytes ?? "default"})`);
        const bytes = await Deno.readFile(sample.path);
        assert(read <= bytes.length, `${sample.name}: read ${read} of ${bytes.length} bytes`);
        if (initialReadBytes === 256 && sample.name !== "deflated") {
          // The pixel data value is never needed: reading (doubling from 256) stops within twice
          // the offset of the (7FE0,0010) header.
          const pixelData = sample.name === "big-endian"
            ? [0x7F, 0xE0, 0x00, 0x10]
            : [0xE0, 0x7F, 0x10, 0x00];
          const at = bytes.findIndex((_, i) => pixelData.every((b, j) => bytes[i + j] === b));
          assert(at > 0 && read <= 2 * at, `${sample.name}: read ${read} bytes, pixel data at ${at}`);
        }
      }
    }
  },
);

Deno.test("readDatasetAttributes reads only the head of a 1 GiB instance", async () => {
  const pixelLength = 1024 * 1024 * 1024;
  const head = concat(
    meta(),
    basicElements(),
    element(0x0028, 0x0010, "US", new Uint8Array([0, 2])),
    // (7FE0,0010) OW, 32-bit length 1 GiB; the value itself is a hole in a sparse file.
    tagLe(0x7FE0, 0x0010),
    new TextEncoder().encode("OW"),
    new Uint8Array(2),
    u32le(pixelLength),
  );
  const path = await writeTemp(head);
  try {
    await Deno.truncate(path, head.length + pixelLength);
    let read = 0;
    let reads = 0;
    const started = performance.now();
    const attributes = await readDatasetAttributes(path, {
      onRead: (n) => {
        read += n;
        reads++;
      },
    });
    assertEquals(attributes.sopInstanceUid, SOP_INSTANCE);
    assertEquals(attributes.studyInstanceUid, STUDY);
    assertEquals(attributes.patientName, "Doe^Jane");
    assertEquals(read, 256 * 1024, "one read of the default 256 KiB head");
    assertEquals(reads, 1);
    assert(performance.now() - started < 5000);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("readDatasetAttributes reads a deflated data set padded to even length (PS3.5 A.5)", async () => {
  // Try data sets until one deflates to an odd length; then append the single zero pad byte
  // DCMTK adds on the wire (storescu -xd), which a strict inflater calls trailing garbage.
  let compressed = new Uint8Array();
  for (let extra = 0; compressed.length % 2 === 0; extra++) {
    const dataset = concat(basicElements(), element(0x0020, 0x0013, "IS", String(1000 + extra)));
    compressed = new Uint8Array(deflateRawSync(dataset));
  }
  const path = await writeTemp(
    concat(meta(TransferSyntax.DeflatedExplicitVrLittleEndian), compressed, new Uint8Array(1)),
  );
  try {
    const attributes = await readDatasetAttributes(path);
    assertEquals(attributes.sopInstanceUid, SOP_INSTANCE);
    assertEquals(attributes.seriesInstanceUid, SERIES);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("JPIP HTJ2K Referenced Deflate (1.2.840.10008.1.2.4.205) is read as deflated, like 1.2.840.10008.1.2.4.95", async () => {
  // Regression: negotiation accepted 1.2.840.10008.1.2.4.205 while the Part 10 reader kept its own
  // list of deflated syntaxes without it, and scanned the compressed bytes as if they were plain.
  const dataset = concat(basicElements(), element(0x0020, 0x0013, "IS", "7"));
  for (const uid of ["1.2.840.10008.1.2.4.205", "1.2.840.10008.1.2.4.95"]) {
    const compressed = new Uint8Array(deflateRawSync(dataset));
    const header = meta(uid);
    // The receiver's path: the streaming reader inflates the data set as it arrives.
    const reader = new DatasetReader(uid);
    await reader.push(compressed);
    await reader.end();
    assertEquals(reader.attributes(decodeFileMetaInformation(header).meta).instanceNumber, 7, uid);
    const path = await writeTemp(concat(header, compressed));
    try {
      const attributes = await readDatasetAttributes(path);
      assertEquals(attributes.sopInstanceUid, SOP_INSTANCE, uid);
      assertEquals(attributes.studyInstanceUid, STUDY, uid);
      assertEquals(attributes.instanceNumber, 7, uid);
    } finally {
      await Deno.remove(path);
    }
  }
});

dcmtkTest("readDatasetAttributes inflates only the head of a large deflated instance", async () => {
  // 4 MiB of random pixel data does not compress: the deflated file stays about 4 MiB.
  const pixels = new Uint8Array(4 * 1024 * 1024);
  for (let i = 0; i < pixels.length; i += 65536) crypto.getRandomValues(pixels.subarray(i, i + 65536));
  const explicit = await writeTemp(concat(meta(), basicElements(), element(0x7FE0, 0x0010, "OB", pixels)));
  const deflated = `${explicit}.deflated.dcm`;
  try {
    await run("dcmconv", ["+td", explicit, deflated]);
    const size = (await Deno.stat(deflated)).size;
    assert(size > 4 * 1024 * 1024, `deflated file is ${size} bytes`);
    let read = 0;
    const attributes = await readDatasetAttributes(deflated, { onRead: (n) => read += n });
    assertEquals(attributes.seriesInstanceUid, SERIES);
    // The first 256 KiB hold the meta header and plenty of deflated data; the stream pipe into
    // the inflater buffers a few 64 KiB chunks ahead, never the rest of the 4 MiB.
    assert(read <= 512 * 1024, `read ${read} of ${size} bytes`);
  } finally {
    await Deno.remove(explicit);
    await Deno.remove(deflated).catch(() => {});
  }
});

Deno.test("readDatasetAttributes reads on (doubling) when the attributes lie past the first read", async () => {
  // A 600 KiB private OB value in group 0009 pushes patient and study attributes past 512 KiB.
  const bulk = new Uint8Array(600 * 1024).fill(0xAB);
  const head = concat(
    meta(),
    element(0x0008, 0x0016, "UI", "1.2.840.10008.5.1.4.1.1.7"),
    element(0x0008, 0x0018, "UI", SOP_INSTANCE),
    element(0x0009, 0x0010, "LO", "ACME 1.1"),
    element(0x0009, 0x1010, "OB", bulk),
    element(0x0010, 0x0020, "LO", "PID-7"),
    element(0x0020, 0x000D, "UI", STUDY),
    element(0x0020, 0x000E, "UI", SERIES),
    element(0x0020, 0x0013, "IS", "12"),
    element(0x7FE0, 0x0010, "OW", new Uint8Array(16)),
  );
  const path = await writeTemp(head);
  try {
    await Deno.truncate(path, head.length + 64 * 1024 * 1024); // 64 MiB of trailing padding
    const reads: number[] = [];
    const attributes = await readDatasetAttributes(path, { onRead: (n) => reads.push(n) });
    assertEquals(attributes.patientId, "PID-7");
    assertEquals(attributes.instanceNumber, 12);
    assertEquals(attributes.seriesNumber, null);
    // 256 KiB first, then on to the end of the 600 KiB element, then doubled: each read only
    // adds bytes not read yet, and the 64 MiB after the attributes are never read.
    assertEquals(reads[0], 256 * 1024);
    const total = reads.reduce((a, b) => a + b, 0);
    assert(total > 600 * 1024 && total <= 2 * head.length, `read ${total} bytes in ${reads.length} reads`);
    assert(reads.length <= 4, `read ${total} bytes in ${reads.length} reads`);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("readDatasetAttributes skips UN of undefined length (implicit VR inside) and keeps going", async () => {
  // PS3.5 §6.2.2: a UN element of undefined length holds Implicit VR Little Endian items.
  const implicitItem = concat(
    tagLe(0xFFFE, 0xE000),
    u32le(0xFFFFFFFF),
    tagLe(0x0008, 0x1150),
    u32le(4),
    new TextEncoder().encode("1.2\0"),
    tagLe(0xFFFE, 0xE00D),
    u32le(0),
  );
  const unknownSequence = concat(
    tagLe(0x0009, 0x1020),
    new TextEncoder().encode("UN"),
    new Uint8Array(2),
    u32le(0xFFFFFFFF),
    implicitItem,
    tagLe(0xFFFE, 0xE0DD),
    u32le(0),
  );
  const bytes = concat(
    meta(),
    element(0x0008, 0x0016, "UI", "1.2.840.10008.5.1.4.1.1.7"),
    element(0x0008, 0x0018, "UI", SOP_INSTANCE),
    element(0x0009, 0x0010, "LO", "ACME 1.1"),
    unknownSequence,
    element(0x0010, 0x0020, "LO", "PID-UN"),
    element(0x0020, 0x000D, "UI", STUDY),
    element(0x0020, 0x000E, "UI", SERIES),
  );
  const path = await writeTemp(bytes);
  try {
    const attributes = await readDatasetAttributes(path, { initialReadBytes: 256 });
    assertEquals(attributes.patientId, "PID-UN");
    assertEquals(attributes.seriesInstanceUid, SERIES);
    if (findOnPath("dcmdump") !== undefined || inCi()) {
      // DCMTK reads it too (warning "W: Found element (0009,1020) with VR UN and undefined
      // length, reading a sequence with transfer syntax LittleEndianImplicit (CP-246)").
      const { stdout, stderr } = await run("dcmdump", [path]);
      assert(!/^E:/m.test(stderr), stderr);
      assert(stdout.includes("(0008,1150) UI [1.2]"), stdout);
      assert(stdout.includes("(0010,0020) LO [PID-UN]"), stdout);
    }
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("readDatasetAttributes: ISO 2022 code extensions (several character sets) are decoded", async () => {
  // PS3.5 H.3.1: "Yamada^Tarou=山田^太郎" with JIS X 0208 between ESC $ B and ESC ( B.
  const patientName = "Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B";
  for (
    const charset of ["\\ISO 2022 IR 87", "ISO 2022 IR 6\\ISO 2022 IR 87", "ISO 2022 IR 13\\ISO 2022 IR 87"]
  ) {
    const path = await writeTemp(concat(meta(), basicElements({ charset, patientName })));
    try {
      const attributes = await readDatasetAttributes(path);
      assertEquals(attributes.sopInstanceUid, SOP_INSTANCE);
      assertEquals(attributes.patientName, "Yamada^Tarou=山田^太郎", charset);
    } finally {
      await Deno.remove(path);
    }
  }
});

Deno.test("readDatasetAttributes: an unknown character set still indexes (dcmjs read leniently)", async () => {
  const path = await writeTemp(
    concat(meta(), basicElements({ charset: "ISO_IR 999", patientName: "Doe^John" })),
  );
  try {
    const attributes = await readDatasetAttributes(path);
    assertEquals(attributes.studyInstanceUid, STUDY);
    assertEquals(attributes.patientName, "Doe^John");
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("readDatasetAttributes: SOP Class UID falls back to the meta header when the data set has none", async () => {
  const path = await writeTemp(
    concat(
      meta(),
      element(0x0008, 0x0018, "UI", SOP_INSTANCE),
      element(0x0020, 0x000D, "UI", STUDY),
      element(0x0020, 0x000E, "UI", SERIES),
    ),
  );
  try {
    const attributes = await readDatasetAttributes(path);
    assertEquals(attributes.sopClassUid, "1.2.840.10008.5.1.4.1.1.7");
    assertEquals(attributes.patientName, "");
    assertEquals(attributes.instanceNumber, null);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("readDatasetAttributes: DatasetError for garbage, non-DICOM, missing UIDs and truncation", async () => {
  const random = new Uint8Array(4096);
  crypto.getRandomValues(random);
  const cases: [string, Uint8Array, string][] = [
    ["random bytes", random, `no "DICM" prefix at offset 128`],
    ["empty file", new Uint8Array(0), "is truncated (0 bytes)"],
    [
      "meta then random bytes",
      concat(meta(), new Uint8Array([0x08, 0, 0x16, 0, 0x01, 0x02, 3, 4, 5, 6])),
      "no valid explicit VR",
    ],
    [
      "no study UID",
      concat(meta(), basicElements({ withStudy: false })),
      "Cannot index data set: no Study Instance UID (0020,000D)",
    ],
    [
      "no UIDs at all",
      concat(meta(), element(0x0010, 0x0020, "LO", "P")),
      "Cannot index data set: no SOP Instance UID (0008,0018), Study Instance UID (0020,000D), Series Instance UID (0020,000E)",
    ],
    [
      "element longer than the file",
      concat(
        meta(),
        element(0x0008, 0x0016, "UI", "1.2"),
        tagLe(0x0008, 0x0018),
        new TextEncoder().encode("UI"),
        new Uint8Array([0x40, 0]),
      ),
      "element (0008,0018) at offset ",
    ],
    [
      "truncated in a sequence",
      concat(
        meta(),
        tagLe(0x0008, 0x1115),
        new TextEncoder().encode("SQ"),
        new Uint8Array(2),
        u32le(0xFFFFFFFF),
        tagLe(0xFFFE, 0xE000),
      ),
      "truncated file?",
    ],
    [
      "not an item inside a sequence",
      concat(
        meta(),
        tagLe(0x0008, 0x1115),
        new TextEncoder().encode("SQ"),
        new Uint8Array(2),
        u32le(0xFFFFFFFF),
        element(0x0008, 0x0018, "UI", "1.2"),
      ),
      "expected an item (FFFE,E000) or sequence delimiter (FFFE,E0DD)",
    ],
    [
      "deflated garbage",
      concat(meta(TransferSyntax.DeflatedExplicitVrLittleEndian), random),
      "Cannot inflate",
    ],
  ];
  for (const [name, bytes, message] of cases) {
    const path = await writeTemp(bytes);
    try {
      for (const initialReadBytes of [256, 256 * 1024]) {
        const error = await assertRejects(
          () => readDatasetAttributes(path, { initialReadBytes }),
          DatasetError,
          message,
        );
        assert(error.message.length > 20, `${name}: ${error.message}`);
      }
    } finally {
      await Deno.remove(path);
    }
  }
});

dcmtkTest(
  "readDatasetAttributes: a DCMTK file cut short in the wanted attributes is a DatasetError",
  async () => {
    const { samples } = await dcmtkSamples();
    for (const sample of samples.filter((s) => s.name !== "deflated")) {
      const bytes = await Deno.readFile(sample.path);
      const { datasetOffset } = decodeFileMetaInformation(bytes);
      const path = await writeTemp(bytes.subarray(0, datasetOffset + 300));
      try {
        await assertRejects(
          () => readDatasetAttributes(path, { initialReadBytes: 256 }),
          DatasetError,
          "Cannot read data set",
        );
      } finally {
        await Deno.remove(path);
      }
    }
  },
);

dcmtkTest("fuzz: corrupted DCMTK files give DatasetError or attributes, never another error", async () => {
  const { samples } = await dcmtkSamples();
  let seed = 4242;
  const random = () => (seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF) / 0x80000000;
  const originals = await Promise.all(samples.map((s) => Deno.readFile(s.path)));
  const path = await Deno.makeTempFile({ suffix: ".dcm" });
  let parsed = 0;
  let refused = 0;
  try {
    for (let i = 0; i < 600; i++) {
      const original = originals[i % originals.length]!;
      const { datasetOffset } = decodeFileMetaInformation(original);
      // Corrupt the meta header now and then, the data set head mostly.
      const bytes = original.slice(
        0,
        datasetOffset + Math.floor(random() * (original.length - datasetOffset + 1)),
      );
      const flips = 1 + Math.floor(random() * 4);
      for (let f = 0; f < flips; f++) {
        const at = random() < 0.1
          ? 128 + Math.floor(random() * (datasetOffset - 128))
          : datasetOffset + Math.floor(random() * Math.min(600, bytes.length - datasetOffset));
        if (at < bytes.length) bytes[at] = Math.floor(random() * 256);
      }
      await Deno.writeFile(path, bytes);
      try {
        await readDatasetAttributes(path, { initialReadBytes: 256 });
        parsed++;
      } catch (error) {
        if (!(error instanceof DatasetError)) {
          throw new Error(`sample ${i}: ${(error as Error)?.constructor?.name}: ${error}`);
        }
        refused++;
      }
    }
  } finally {
    await Deno.remove(path);
  }
  assert(parsed > 0 && refused > 0, `parsed ${parsed}, refused ${refused}`);
});
