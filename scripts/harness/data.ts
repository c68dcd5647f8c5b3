/**
 * Real DICOM test data made on the spot, never bytes invented by hand:
 * - {@linkcode makeCtSeries}: a synthetic CT series (CT Image Storage, explicit VR little
 *   endian Part 10 files written with dcmjs) with a chest-like phantom that changes from
 *   slice to slice; 500 slices of 512×512 take a few seconds.
 * - {@linkcode makeLargeInstance}: one multi-frame instance of any size (e.g. 1 GB), streamed
 *   to disk frame by frame.
 * - {@linkcode makeTransferSyntaxSet}: the same kind of small image in every transfer syntax
 *   we can produce here (DCMTK `dcmconv`, `dcmcjpeg`, `dcmcjpls`, `dcmcrle`; JPEG 2000 and
 *   HTJ2K through the OpenJPEG / OpenJPH WebAssembly builds from npm, because Debian's DCMTK
 *   has no JPEG 2000 codec).
 * - {@linkcode datasetFingerprint}: a SHA-256 over a Part 10 file's data set (everything after
 *   the group 0002 meta header), so a test can assert "stored data set = sent data set".
 * @module
 */
import { createHash } from "node:crypto";
import { inflateRawSync } from "node:zlib";
import dcmjs from "dcmjs";
import { concatBytes } from "../../src/bytes.ts";
import { runCommand } from "./process.ts";

const { DicomDict, DicomMetaDictionary } = dcmjs.data;

/** CT Image Storage (PS3.4 B.5). */
export const CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2";
/** Ultrasound Image Storage (PS3.4 B.5). */
export const US_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.6.1";
/** Multi-frame Grayscale Word Secondary Capture Image Storage (PS3.4 B.5). */
export const MULTIFRAME_GRAYSCALE_WORD_SC_STORAGE = "1.2.840.10008.5.1.4.1.1.7.3";

/** Transfer syntax UIDs (PS3.5 Annex A / PS3.6 Annex A) used by the sample set. */
export const TransferSyntax = {
  implicitLittleEndian: "1.2.840.10008.1.2",
  explicitLittleEndian: "1.2.840.10008.1.2.1",
  deflatedExplicitLittleEndian: "1.2.840.10008.1.2.1.99",
  explicitBigEndian: "1.2.840.10008.1.2.2",
  jpegBaseline: "1.2.840.10008.1.2.4.50",
  jpegExtended: "1.2.840.10008.1.2.4.51",
  jpegLossless: "1.2.840.10008.1.2.4.57",
  jpegLosslessSv1: "1.2.840.10008.1.2.4.70",
  jpegLsLossless: "1.2.840.10008.1.2.4.80",
  jpegLsNearLossless: "1.2.840.10008.1.2.4.81",
  jpeg2000Lossless: "1.2.840.10008.1.2.4.90",
  jpeg2000: "1.2.840.10008.1.2.4.91",
  htj2kLossless: "1.2.840.10008.1.2.4.201",
  rleLossless: "1.2.840.10008.1.2.5",
} as const;

/** Implementation Class UID written into the meta header of files this module makes. */
export const TEST_DATA_IMPLEMENTATION_CLASS_UID = "2.25.161713526381474101457930917335640931601";
const TEST_DATA_IMPLEMENTATION_VERSION = "DGW_TESTDATA";

/** A fresh UID under the 2.25 root (PS3.5 B.2: the decimal form of a random UUID). */
export function newUid(): string {
  const hex = crypto.randomUUID().replaceAll("-", "");
  return `2.25.${BigInt(`0x${hex}`).toString()}`;
}

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error("scripts/harness/data.ts assumes a little-endian host (pixel buffers are typed arrays)");
}

// ---------------------------------------------------------------------------------------------
// Part 10 writing: dcmjs writes the meta header and the data set without pixel data; the
// Pixel Data element (7FE0,0010), always the last top-level element here, is appended after it.
// ---------------------------------------------------------------------------------------------

/** Meta header + data set (no Pixel Data) as Part 10 bytes, data set encoded in `transferSyntaxUid`. */
function part10Head(dataset: Record<string, unknown>, transferSyntaxUid: string): Uint8Array {
  const meta = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: dataset.SOPClassUID,
    MediaStorageSOPInstanceUID: dataset.SOPInstanceUID,
    TransferSyntaxUID: transferSyntaxUid,
    ImplementationClassUID: TEST_DATA_IMPLEMENTATION_CLASS_UID,
    ImplementationVersionName: TEST_DATA_IMPLEMENTATION_VERSION,
  };
  const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta));
  dict.dict = DicomMetaDictionary.denaturalizeDataset(dataset);
  return new Uint8Array(dict.write());
}

/**
 * Header of a native (explicit VR little endian) Pixel Data element, PS3.5 7.1.2:
 * tag (7FE0,0010), VR "OW", two reserved bytes, 32-bit length.
 */
function nativePixelDataHeader(length: number): Uint8Array {
  const bytes = new Uint8Array(12);
  const view = new DataView(bytes.buffer);
  view.setUint16(0, 0x7fe0, true);
  view.setUint16(2, 0x0010, true);
  bytes[4] = 0x4f; // 'O'
  bytes[5] = 0x57; // 'W'
  view.setUint32(8, length, true);
  return bytes;
}

/**
 * Encapsulated Pixel Data (PS3.5 A.4) with one frame in one fragment: OB of undefined length,
 * an empty Basic Offset Table item, the fragment item (padded to even length), and the
 * Sequence Delimitation Item.
 */
function encapsulatedPixelData(frame: Uint8Array): Uint8Array {
  const padded = frame.length % 2 === 0 ? frame.length : frame.length + 1;
  const bytes = new Uint8Array(12 + 8 + 8 + padded + 8);
  const view = new DataView(bytes.buffer);
  let o = 0;
  view.setUint16(o, 0x7fe0, true);
  view.setUint16(o + 2, 0x0010, true);
  bytes[o + 4] = 0x4f; // 'O'
  bytes[o + 5] = 0x42; // 'B'
  view.setUint32(o + 8, 0xffffffff, true);
  o += 12;
  view.setUint16(o, 0xfffe, true); // Item: Basic Offset Table, empty
  view.setUint16(o + 2, 0xe000, true);
  view.setUint32(o + 4, 0, true);
  o += 8;
  view.setUint16(o, 0xfffe, true); // Item: the frame's only fragment
  view.setUint16(o + 2, 0xe000, true);
  view.setUint32(o + 4, padded, true);
  o += 8;
  bytes.set(frame, o);
  o += padded;
  view.setUint16(o, 0xfffe, true); // Sequence Delimitation Item
  view.setUint16(o + 2, 0xe0dd, true);
  view.setUint32(o + 4, 0, true);
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// The phantom: a chest-like cross-section whose organs change size along the series.
// ---------------------------------------------------------------------------------------------

const NOISE_SIZE = 1 << 16;
let noiseTable: Int16Array | undefined;

/** ±15 HU of deterministic noise (a fixed LCG), shared by all slices. */
function noise(): Int16Array {
  if (noiseTable !== undefined) return noiseTable;
  const table = new Int16Array(NOISE_SIZE);
  let state = 0x2545f491;
  for (let i = 0; i < NOISE_SIZE; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    table[i] = ((state >>> 16) % 31) - 15;
  }
  noiseTable = table;
  return table;
}

/** Fills `row` span [cx - half, cx + half] of an ellipse (cx, cy, rx, ry) at line y with `value`. */
function fillEllipseRow(
  pixels: Int16Array,
  columns: number,
  y: number,
  ellipse: { cx: number; cy: number; rx: number; ry: number },
  value: number,
): void {
  const dy = (y - ellipse.cy) / ellipse.ry;
  if (dy <= -1 || dy >= 1) return;
  const half = ellipse.rx * Math.sqrt(1 - dy * dy);
  const from = Math.max(0, Math.ceil(ellipse.cx - half));
  const to = Math.min(columns, Math.floor(ellipse.cx + half) + 1);
  if (to > from) pixels.fill(value, y * columns + from, y * columns + to);
}

/**
 * Hounsfield units of slice `z` (0 … 1 from feet to head) into `hu`: air, a body ellipse of
 * soft tissue, two lungs that grow and shrink along z, a heart in the middle slices, a
 * vertebra with a cortical ring, plus fixed noise.
 */
function phantomSlice(hu: Int16Array, rows: number, columns: number, z: number, seed: number): void {
  hu.fill(-1000);
  const w = columns;
  const h = rows;
  const lung = 0.6 + 0.4 * Math.sin(Math.PI * z);
  const body = { cx: w * 0.5, cy: h * 0.5, rx: w * (0.4 + 0.02 * Math.sin(6 * z)), ry: h * 0.3 };
  const lungs = [
    { cx: w * 0.33, cy: h * 0.46, rx: w * 0.11 * lung, ry: h * 0.17 * lung },
    { cx: w * 0.67, cy: h * 0.46, rx: w * 0.11 * lung, ry: h * 0.17 * lung },
  ];
  const heart = {
    cx: w * 0.55,
    cy: h * 0.5,
    rx: w * 0.09 * Math.sin(Math.PI * z),
    ry: h * 0.08 * Math.sin(Math.PI * z),
  };
  const spineOuter = { cx: w * 0.5, cy: h * 0.7, rx: w * 0.05, ry: h * 0.05 };
  const spineInner = { cx: w * 0.5, cy: h * 0.7, rx: w * 0.035, ry: h * 0.035 };
  for (let y = 0; y < rows; y++) {
    fillEllipseRow(hu, columns, y, body, 40);
    for (const l of lungs) fillEllipseRow(hu, columns, y, l, -850);
    if (heart.rx > 1) fillEllipseRow(hu, columns, y, heart, 60);
    fillEllipseRow(hu, columns, y, spineOuter, 1200);
    fillEllipseRow(hu, columns, y, spineInner, 350);
  }
  const table = noise();
  const offset = Math.imul(seed + 1, 7919);
  for (let i = 0; i < hu.length; i++) hu[i] = hu[i]! + table[(i + offset) & (NOISE_SIZE - 1)]!;
}

/** Options of {@linkcode makeCtSeries}. */
export interface CtSeriesOptions {
  /** Number of slices (instances). */
  count: number;
  /** Rows per slice (default 512). */
  rows?: number;
  /** Columns per slice (default 512). */
  columns?: number;
  /** Study Instance UID (default: a new one). */
  studyInstanceUid?: string;
  /** Series Instance UID (default: a new one). */
  seriesInstanceUid?: string;
  /** Patient's Name (default "Phantom^Chest"). */
  patientName?: string;
  /** Patient ID (default "DGW-TEST-001"). */
  patientId?: string;
  /** Series Number (default 1). */
  seriesNumber?: number;
  /** Pixel Representation 1 (signed, stored = HU) instead of 0 (unsigned, stored = HU + 1024). */
  signed?: boolean;
  /** Bits Stored, 12 or 16 (default 16; Bits Allocated is always 16). */
  bitsStored?: 12 | 16;
  /** File name prefix inside `dir` (default "ct-<series number>-<random>-"). */
  filePrefix?: string;
}

/** The data set of one CT slice, in dcmjs' naturalized form, without Pixel Data. */
function ctDataset(
  options: Required<Omit<CtSeriesOptions, "filePrefix">> & { frameOfReferenceUid: string },
  index: number,
  sopInstanceUid: string,
): Record<string, unknown> {
  const spacing = 0.7;
  const thickness = 1.0;
  const z = -250 + index * thickness;
  const highBit = options.bitsStored - 1;
  return {
    SpecificCharacterSet: "ISO_IR 100",
    ImageType: ["ORIGINAL", "PRIMARY", "AXIAL"],
    InstanceCreationDate: "20240301",
    InstanceCreationTime: "101500",
    SOPClassUID: CT_IMAGE_STORAGE,
    SOPInstanceUID: sopInstanceUid,
    StudyDate: "20240301",
    SeriesDate: "20240301",
    AcquisitionDate: "20240301",
    ContentDate: "20240301",
    StudyTime: "101000",
    SeriesTime: "101200",
    AcquisitionTime: "101210",
    ContentTime: "101500",
    AccessionNumber: "DGW0001",
    Modality: "CT",
    Manufacturer: "dicom-gateway test data",
    InstitutionName: "Test Clinic",
    ReferringPhysicianName: "Referrer^Rita",
    StudyDescription: "CT CHEST (synthetic)",
    SeriesDescription: `AXIAL ${thickness.toFixed(1)} mm`,
    ManufacturerModelName: "Phantom",
    AnatomicRegionSequence: [{ CodeValue: "51185008", CodingSchemeDesignator: "SCT", CodeMeaning: "Thorax" }],
    PatientName: options.patientName,
    PatientID: options.patientId,
    PatientBirthDate: "19700101",
    PatientSex: "O",
    PatientAge: "054Y",
    BodyPartExamined: "CHEST",
    SliceThickness: thickness.toFixed(1),
    KVP: "120",
    PatientPosition: "HFS",
    StudyInstanceUID: options.studyInstanceUid,
    SeriesInstanceUID: options.seriesInstanceUid,
    StudyID: "1",
    SeriesNumber: String(options.seriesNumber),
    AcquisitionNumber: "1",
    InstanceNumber: String(index + 1),
    ImagePositionPatient: [
      (-options.columns * spacing / 2).toFixed(2),
      (-options.rows * spacing / 2).toFixed(2),
      z.toFixed(2),
    ],
    ImageOrientationPatient: ["1", "0", "0", "0", "1", "0"],
    FrameOfReferenceUID: options.frameOfReferenceUid,
    PositionReferenceIndicator: "",
    SliceLocation: z.toFixed(2),
    SamplesPerPixel: 1,
    PhotometricInterpretation: "MONOCHROME2",
    Rows: options.rows,
    Columns: options.columns,
    PixelSpacing: [spacing.toFixed(2), spacing.toFixed(2)],
    BitsAllocated: 16,
    BitsStored: options.bitsStored,
    HighBit: highBit,
    PixelRepresentation: options.signed ? 1 : 0,
    WindowCenter: "40",
    WindowWidth: "400",
    RescaleIntercept: options.signed ? "0" : "-1024",
    RescaleSlope: "1",
    RescaleType: "HU",
  };
}

/** Stored pixel values of slice `index` of `count` for the given representation. */
function ctPixels(
  rows: number,
  columns: number,
  index: number,
  count: number,
  signed: boolean,
  bitsStored: number,
): Int16Array {
  const hu = new Int16Array(rows * columns);
  phantomSlice(hu, rows, columns, count <= 1 ? 0.5 : index / (count - 1), index);
  const offset = signed ? 0 : 1024;
  const min = signed ? -(1 << (bitsStored - 1)) : 0;
  const max = signed ? (1 << (bitsStored - 1)) - 1 : (1 << bitsStored) - 1;
  // Unsigned values above 32767 cannot occur: HU + 1024 ≤ 1024 + 1200 + 15.
  for (let i = 0; i < hu.length; i++) {
    const v = hu[i]! + offset;
    hu[i] = v < min ? min : v > max ? max : v;
  }
  return hu;
}

/**
 * Writes a synthetic CT series of `options.count` slices into `dir` (which must exist) and
 * returns the file paths in instance-number order. Each file is a Part 10 file in explicit VR
 * little endian with its own SOP Instance UID; study, series, patient, frame of reference,
 * position, rescale and window attributes are those of a real CT.
 */
export async function makeCtSeries(dir: string, options: CtSeriesOptions): Promise<string[]> {
  const full = {
    count: options.count,
    rows: options.rows ?? 512,
    columns: options.columns ?? 512,
    studyInstanceUid: options.studyInstanceUid ?? newUid(),
    seriesInstanceUid: options.seriesInstanceUid ?? newUid(),
    patientName: options.patientName ?? "Phantom^Chest",
    patientId: options.patientId ?? "DGW-TEST-001",
    seriesNumber: options.seriesNumber ?? 1,
    signed: options.signed ?? false,
    bitsStored: options.bitsStored ?? 16,
    frameOfReferenceUid: newUid(),
  };
  const prefix = options.filePrefix ?? `ct-${full.seriesNumber}-${crypto.randomUUID().slice(0, 8)}-`;
  const digits = Math.max(4, String(full.count).length);
  const pixelBytes = full.rows * full.columns * 2;
  const paths: string[] = [];
  for (let i = 0; i < full.count; i++) {
    const head = part10Head(ctDataset(full, i, newUid()), TransferSyntax.explicitLittleEndian);
    const pixels = ctPixels(full.rows, full.columns, i, full.count, full.signed, full.bitsStored);
    const file = concatBytes([
      head,
      nativePixelDataHeader(pixelBytes),
      new Uint8Array(pixels.buffer, pixels.byteOffset, pixelBytes),
    ]);
    const path = `${dir}/${prefix}${String(i + 1).padStart(digits, "0")}.dcm`;
    await Deno.writeFile(path, file);
    paths.push(path);
  }
  return paths;
}

/** Options of {@linkcode makeLargeInstance}. */
export interface LargeInstanceOptions {
  /** Approximate size of the pixel data in bytes (rounded up to whole 512×512×16-bit frames). */
  bytes: number;
  /** File name inside `dir` (default "large-<frames>f.dcm"). */
  fileName?: string;
}

/**
 * Writes one Multi-frame Grayscale Word Secondary Capture instance of 512×512 16-bit frames
 * whose pixel data is about `options.bytes` long (e.g. 1 GiB = 2048 frames), streaming frame
 * by frame so memory stays small. Returns its path.
 */
export async function makeLargeInstance(dir: string, options: LargeInstanceOptions): Promise<string> {
  const rows = 512;
  const columns = 512;
  const frameBytes = rows * columns * 2;
  const frames = Math.max(1, Math.ceil(options.bytes / frameBytes));
  const total = frames * frameBytes;
  if (total > 0xfffffffe) {
    throw new Error(`Cannot write ${total} bytes of pixel data: the 32-bit length limit is 4 GiB - 2`);
  }
  const sopInstanceUid = newUid();
  const dataset = {
    SpecificCharacterSet: "ISO_IR 100",
    ImageType: ["DERIVED", "SECONDARY"],
    SOPClassUID: MULTIFRAME_GRAYSCALE_WORD_SC_STORAGE,
    SOPInstanceUID: sopInstanceUid,
    StudyDate: "20240301",
    StudyTime: "110000",
    ContentDate: "20240301",
    ContentTime: "110000",
    AccessionNumber: "DGW0002",
    Modality: "OT",
    ConversionType: "WSD",
    ReferringPhysicianName: "",
    StudyDescription: "Large multi-frame (synthetic)",
    PatientName: "Phantom^Large",
    PatientID: "DGW-TEST-002",
    PatientBirthDate: "",
    PatientSex: "",
    StudyInstanceUID: newUid(),
    SeriesInstanceUID: newUid(),
    StudyID: "2",
    SeriesNumber: "1",
    InstanceNumber: "1",
    PatientOrientation: "",
    SamplesPerPixel: 1,
    PhotometricInterpretation: "MONOCHROME2",
    NumberOfFrames: String(frames),
    FrameIncrementPointer: "00181063",
    FrameTime: "33.3",
    Rows: rows,
    Columns: columns,
    BitsAllocated: 16,
    BitsStored: 16,
    HighBit: 15,
    PixelRepresentation: 0,
  };
  const path = `${dir}/${options.fileName ?? `large-${frames}f.dcm`}`;
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  try {
    await writeAll(
      file,
      concatBytes([part10Head(dataset, TransferSyntax.explicitLittleEndian), nativePixelDataHeader(total)]),
    );
    const base = ctPixels(rows, columns, 0, 1, false, 16);
    const frame = new Int16Array(base.length);
    for (let f = 0; f < frames; f++) {
      frame.set(base);
      frame.fill(f & 0x0fff, 0, columns); // first row = frame number: frames differ
      await writeAll(file, new Uint8Array(frame.buffer));
    }
  } finally {
    file.close();
  }
  return path;
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await file.write(bytes.subarray(written));
}

// ---------------------------------------------------------------------------------------------
// The transfer syntax set.
// ---------------------------------------------------------------------------------------------

/** One file of {@linkcode makeTransferSyntaxSet}. */
export interface TransferSyntaxSample {
  /** Short name, e.g. "explicit-le", "jpeg-baseline", "j2k-lossless". */
  name: string;
  /** Transfer syntax of the file (its meta header's (0002,0010)). */
  transferSyntaxUid: string;
  path: string;
  /** SOP Class UID of the instance. */
  sopClassUid: string;
  /** SOP Instance UID of the instance (each sample has its own). */
  sopInstanceUid: string;
  /** Whether the pixel data is lossy-compressed. */
  lossy: boolean;
  /**
   * Whether DCMTK on this machine knows the transfer syntax (dcmdump can parse the file,
   * so dcmsend/storescu can send it). DCMTK 3.6.7 does not know HTJ2K (added in 3.6.8).
   */
  dcmtkKnows: boolean;
}

/** How each sample is made from an explicit VR little endian source (a CT, or an RGB US for 8-bit JPEG). */
interface Recipe {
  name: string;
  transferSyntaxUid: string;
  source: "ct12" | "us8";
  lossy: boolean;
  make: (source: string, out: string) => Promise<void>;
}

async function dcmtk(tool: string, args: string[]): Promise<void> {
  const result = await runCommand(tool, args, { timeoutMs: 60_000 });
  if (!result.success) {
    throw new Error(
      `${tool} ${args.join(" ")} failed with exit code ${result.code}: ${result.stderr || result.stdout}`,
    );
  }
}

const RECIPES: Recipe[] = [
  {
    name: "implicit-le",
    transferSyntaxUid: TransferSyntax.implicitLittleEndian,
    source: "ct12",
    lossy: false,
    make: (src, out) => dcmtk("dcmconv", ["+ti", src, out]),
  },
  {
    name: "explicit-le",
    transferSyntaxUid: TransferSyntax.explicitLittleEndian,
    source: "ct12",
    lossy: false,
    make: (src, out) => dcmtk("dcmconv", ["+te", src, out]),
  },
  {
    name: "explicit-be",
    transferSyntaxUid: TransferSyntax.explicitBigEndian,
    source: "ct12",
    lossy: false,
    make: (src, out) => dcmtk("dcmconv", ["+tb", src, out]),
  },
  {
    name: "deflated",
    transferSyntaxUid: TransferSyntax.deflatedExplicitLittleEndian,
    source: "ct12",
    lossy: false,
    make: (src, out) => dcmtk("dcmconv", ["+td", src, out]),
  },
  {
    name: "jpeg-baseline",
    transferSyntaxUid: TransferSyntax.jpegBaseline,
    source: "us8",
    lossy: true,
    make: (src, out) => dcmtk("dcmcjpeg", ["+eb", src, out]),
  },
  {
    name: "jpeg-extended",
    transferSyntaxUid: TransferSyntax.jpegExtended,
    source: "ct12",
    lossy: true,
    make: (src, out) => dcmtk("dcmcjpeg", ["+ee", src, out]),
  },
  {
    name: "jpeg-lossless",
    transferSyntaxUid: TransferSyntax.jpegLossless,
    source: "ct12",
    lossy: false,
    make: (src, out) => dcmtk("dcmcjpeg", ["+el", src, out]),
  },
  {
    name: "jpeg-lossless-sv1",
    transferSyntaxUid: TransferSyntax.jpegLosslessSv1,
    source: "ct12",
    lossy: false,
    make: (src, out) => dcmtk("dcmcjpeg", ["+e1", src, out]),
  },
  {
    name: "jpeg-ls-lossless",
    transferSyntaxUid: TransferSyntax.jpegLsLossless,
    source: "ct12",
    lossy: false,
    make: (src, out) => dcmtk("dcmcjpls", ["+el", src, out]),
  },
  {
    name: "jpeg-ls-near-lossless",
    transferSyntaxUid: TransferSyntax.jpegLsNearLossless,
    source: "ct12",
    lossy: true,
    make: (src, out) => dcmtk("dcmcjpls", ["+en", src, out]),
  },
  {
    name: "j2k-lossless",
    transferSyntaxUid: TransferSyntax.jpeg2000Lossless,
    source: "ct12",
    lossy: false,
    make: (src, out) => encodeJ2k(src, out, "j2k-lossless"),
  },
  {
    name: "j2k",
    transferSyntaxUid: TransferSyntax.jpeg2000,
    source: "ct12",
    lossy: true,
    make: (src, out) => encodeJ2k(src, out, "j2k-lossy"),
  },
  {
    name: "htj2k-lossless",
    transferSyntaxUid: TransferSyntax.htj2kLossless,
    source: "ct12",
    lossy: false,
    make: (src, out) => encodeJ2k(src, out, "htj2k-lossless"),
  },
  {
    name: "rle",
    transferSyntaxUid: TransferSyntax.rleLossless,
    source: "ct12",
    lossy: false,
    make: (src, out) => dcmtk("dcmcrle", [src, out]),
  },
];

/** Names of the samples {@linkcode makeTransferSyntaxSet} makes, in order. */
export const TRANSFER_SYNTAX_SAMPLE_NAMES: readonly string[] = RECIPES.map((r) => r.name);

/** Source images for the set: a 64×64 12-bit CT and a 64×64 8-bit RGB ultrasound frame. */
const SAMPLE_SIZE = 64;

/** Writes a 64×64 8-bit RGB Ultrasound instance (explicit VR LE) for the 8-bit JPEG baseline sample. */
async function writeUs8(path: string): Promise<void> {
  const n = SAMPLE_SIZE;
  const dataset = {
    SpecificCharacterSet: "ISO_IR 100",
    ImageType: ["ORIGINAL", "PRIMARY"],
    SOPClassUID: US_IMAGE_STORAGE,
    SOPInstanceUID: newUid(),
    StudyDate: "20240301",
    StudyTime: "120000",
    AccessionNumber: "DGW0003",
    Modality: "US",
    Manufacturer: "dicom-gateway test data",
    ReferringPhysicianName: "",
    PatientName: "Phantom^Sound",
    PatientID: "DGW-TEST-003",
    PatientBirthDate: "",
    PatientSex: "",
    StudyInstanceUID: newUid(),
    SeriesInstanceUID: newUid(),
    StudyID: "3",
    SeriesNumber: "1",
    InstanceNumber: "1",
    PatientOrientation: "",
    SamplesPerPixel: 3,
    PhotometricInterpretation: "RGB",
    PlanarConfiguration: 0,
    Rows: n,
    Columns: n,
    BitsAllocated: 8,
    BitsStored: 8,
    HighBit: 7,
    PixelRepresentation: 0,
  };
  const rgb = new Uint8Array(n * n * 3);
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      const r = Math.hypot(x - n / 2, y) / n; // a fan from the top centre, as ultrasound looks
      const inFan = y > 2 && Math.abs(x - n / 2) < y * 0.8;
      const v = inFan ? Math.round(128 + 100 * Math.sin(r * 25) * Math.exp(-r)) : 0;
      const i = (y * n + x) * 3;
      rgb[i] = v;
      rgb[i + 1] = inFan && x > n / 2 && y > n / 3 && y < n / 2 ? 200 : v; // a colour Doppler patch
      rgb[i + 2] = v;
    }
  }
  const head = part10Head(dataset, TransferSyntax.explicitLittleEndian);
  // 8-bit Pixel Data is OB (PS3.5 8.1.2); same header layout as OW.
  const pixelHeader = nativePixelDataHeader(rgb.length);
  pixelHeader[5] = 0x42; // 'B'
  await Deno.writeFile(path, concatBytes([head, pixelHeader, rgb]));
}

/** The OpenJPEG and OpenJPH WebAssembly modules, loaded once per process. */
// deno-lint-ignore no-explicit-any
let codecs: Promise<{ openjpeg: any; openjph: any }> | undefined;

function loadCodecs() {
  codecs ??= (async () => {
    const [{ default: openjpegFactory }, { default: openjphFactory }] = await Promise.all([
      // Only tests load these codecs (mapped in deno.json).
      import("@cornerstonejs/codec-openjpeg"),
      import("@cornerstonejs/codec-openjph"),
    ]);
    // deno-lint-ignore no-explicit-any
    const [openjpeg, openjph] = await Promise.all([(openjpegFactory as any)(), (openjphFactory as any)()]);
    return { openjpeg, openjph };
  })();
  return codecs;
}

/**
 * Encodes the (single-frame, native, explicit VR LE) image of `src` as JPEG 2000 (OpenJPEG,
 * reversible or irreversible) or HTJ2K lossless (OpenJPH), and writes `out` with the same data
 * set and the encapsulated codestream. Lossy output gets the Lossy Image Compression attributes.
 */
export async function encodeJ2k(
  src: string,
  out: string,
  kind: "j2k-lossless" | "j2k-lossy" | "htj2k-lossless",
): Promise<void> {
  const bytes = await Deno.readFile(src);
  const dict = dcmjs.data.DicomMessage.readFile(
    bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
  );
  const dataset = DicomMetaDictionary.naturalizeDataset(dict.dict) as Record<string, unknown>;
  const rows = dataset.Rows as number;
  const columns = dataset.Columns as number;
  const bitsStored = dataset.BitsStored as number;
  const signed = dataset.PixelRepresentation === 1;
  const pixelData = (dataset.PixelData as ArrayBuffer[])[0]!;
  delete dataset.PixelData;
  delete dataset._vrMap;
  const frameInfo = {
    width: columns,
    height: rows,
    bitsPerSample: bitsStored,
    componentCount: 1,
    isSigned: signed,
  };
  const { openjpeg, openjph } = await loadCodecs();
  let encoded: Uint8Array;
  if (kind === "htj2k-lossless") {
    const encoder = new openjph.HTJ2KEncoder();
    encoder.getDecodedBuffer({ ...frameInfo, isUsingColorTransform: false }).set(new Uint8Array(pixelData));
    encoder.encode();
    encoded = encoder.getEncodedBuffer().slice();
    encoder.delete();
  } else {
    const encoder = new openjpeg.J2KEncoder();
    encoder.getDecodedBuffer({ ...frameInfo, isUsingColorSpaceTransform: false }).set(
      new Uint8Array(pixelData),
    );
    // OpenJPEG refuses more resolution levels than the image size allows (5 is its default).
    encoder.setDecompositions(Math.max(0, Math.min(5, Math.floor(Math.log2(Math.min(rows, columns))) - 2)));
    if (kind === "j2k-lossy") encoder.setCompressionRatio(0, 10);
    encoder.encode();
    encoded = encoder.getEncodedBuffer().slice();
    encoder.delete();
  }
  let transferSyntaxUid: string = TransferSyntax.htj2kLossless;
  if (kind === "j2k-lossless") transferSyntaxUid = TransferSyntax.jpeg2000Lossless;
  if (kind === "j2k-lossy") {
    transferSyntaxUid = TransferSyntax.jpeg2000;
    const ratio = pixelData.byteLength / encoded.length;
    dataset.SOPInstanceUID = newUid();
    dataset.LossyImageCompression = "01";
    dataset.LossyImageCompressionRatio = ratio.toFixed(2);
    dataset.LossyImageCompressionMethod = "ISO_15444_1";
  }
  await Deno.writeFile(
    out,
    concatBytes([part10Head(dataset, transferSyntaxUid), encapsulatedPixelData(encoded)]),
  );
}

/**
 * Reads (0002,0010), (0008,0016) and (0008,0018) with dcmdump, and whether DCMTK knows the
 * transfer syntax: dcmdump prints a known UID as "=Name" and an unknown one as "[uid]" (it then
 * falls back to parsing the data set as explicit VR little endian, which is not knowing it).
 */
async function dumpUids(
  path: string,
): Promise<
  { ok: boolean; known: boolean; transferSyntaxUid: string; sopClassUid: string; sopInstanceUid: string }
> {
  const numeric = await runCommand("dcmdump", [
    "-q",
    "-Un",
    "-M",
    "+P",
    "0002,0010",
    "+P",
    "0008,0016",
    "+P",
    "0008,0018",
    path,
  ]);
  const named = await runCommand("dcmdump", ["-q", "+Un", "-M", "+P", "0002,0010", path]);
  const value = (tag: string) =>
    numeric.stdout.match(new RegExp(`^\\(${tag}\\) UI \\[([0-9.]+)\\]`, "m"))?.[1] ?? "";
  return {
    ok: numeric.success,
    known: named.success && /^\(0002,0010\) UI =/m.test(named.stdout),
    transferSyntaxUid: value("0002,0010"),
    sopClassUid: value("0008,0016"),
    sopInstanceUid: value("0008,0018"),
  };
}

let sampleCache: Promise<{ dir: string; samples: TransferSyntaxSample[] }> | undefined;

async function generateSamples(): Promise<{ dir: string; samples: TransferSyntaxSample[] }> {
  const dir = await Deno.makeTempDir({ prefix: "dgw-ts-set-" });
  const sourceDir = `${dir}/sources`;
  await Deno.mkdir(sourceDir);
  // One source instance per recipe, so every sample has its own SOP Instance UID.
  const ctSources = await makeCtSeries(sourceDir, {
    count: RECIPES.length,
    rows: SAMPLE_SIZE,
    columns: SAMPLE_SIZE,
    bitsStored: 12,
    filePrefix: "ct12-",
    patientName: "Phantom^Syntax",
  });
  const samples = await Promise.all(RECIPES.map(async (recipe, i) => {
    let source = ctSources[i]!;
    if (recipe.source === "us8") {
      source = `${sourceDir}/us8-${i}.dcm`;
      await writeUs8(source);
    }
    const path = `${dir}/${String(i + 1).padStart(2, "0")}-${recipe.name}.dcm`;
    await recipe.make(source, path);
    const dump = await dumpUids(path);
    if (!dump.ok) throw new Error(`dcmdump cannot read sample ${recipe.name} (${path})`);
    if (dump.transferSyntaxUid !== recipe.transferSyntaxUid) {
      throw new Error(
        `Sample ${recipe.name} has transfer syntax ${dump.transferSyntaxUid}, expected ${recipe.transferSyntaxUid}`,
      );
    }
    const sample: TransferSyntaxSample = {
      name: recipe.name,
      transferSyntaxUid: recipe.transferSyntaxUid,
      path,
      sopClassUid: dump.sopClassUid,
      sopInstanceUid: dump.sopInstanceUid,
      lossy: recipe.lossy,
      dcmtkKnows: dump.known,
    };
    return sample;
  }));
  return { dir, samples };
}

/**
 * Copies the set of small sample files, one per transfer syntax (see
 * {@linkcode TRANSFER_SYNTAX_SAMPLE_NAMES}), into `dir` (which must exist) and describes them.
 * The set is generated once per process (about a second: DCMTK tools and the J2K encoders),
 * then copied, so tests may modify their copies. Each sample's transfer syntax is checked
 * against its meta header when generated.
 */
export async function makeTransferSyntaxSet(dir: string): Promise<TransferSyntaxSample[]> {
  sampleCache ??= generateSamples();
  let cached: { dir: string; samples: TransferSyntaxSample[] };
  try {
    cached = await sampleCache;
  } catch (error) {
    sampleCache = undefined; // let a later call try again
    throw error;
  }
  return await Promise.all(cached.samples.map(async (sample) => {
    const path = `${dir}/${sample.path.slice(cached.dir.length + 1)}`;
    await Deno.copyFile(sample.path, path);
    return { ...sample, path };
  }));
}

// ---------------------------------------------------------------------------------------------
// Fingerprints.
// ---------------------------------------------------------------------------------------------

/** The group 0002 meta header of a Part 10 file: its elements' text values and where the data set starts. */
export interface MetaHeader {
  /** Byte offset of the data set (just after the last group 0002 element). */
  datasetOffset: number;
  /** Text values of the meta elements by tag ("00020010" → transfer syntax UID), trailing NUL/space removed. */
  values: Map<string, string>;
}

/**
 * Parses the meta header of a Part 10 file (PS3.10 7.1): the 128-byte preamble, "DICM", then
 * group 0002 elements, always explicit VR little endian. Walks the elements rather than
 * trusting (0002,0000) alone. `bytes` may be just the start of the file (the first 64 KiB).
 */
export function parseMetaHeader(bytes: Uint8Array): MetaHeader {
  if (bytes.length < 132 || String.fromCharCode(...bytes.subarray(128, 132)) !== "DICM") {
    throw new Error("Cannot read the meta header: no DICM prefix at byte 128 (not a Part 10 file)");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const values = new Map<string, string>();
  let offset = 132;
  while (offset + 8 <= bytes.length && view.getUint16(offset, true) === 0x0002) {
    const element = view.getUint16(offset + 2, true);
    const vr = String.fromCharCode(bytes[offset + 4]!, bytes[offset + 5]!);
    const longForm = ["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT"].includes(vr);
    let valueOffset: number;
    let length: number;
    if (longForm) {
      if (offset + 12 > bytes.length) {
        throw new Error(`Cannot read meta element at byte ${offset}: truncated`);
      }
      valueOffset = offset + 12;
      length = view.getUint32(offset + 8, true);
    } else {
      valueOffset = offset + 8;
      length = view.getUint16(offset + 6, true);
    }
    if (valueOffset + length > bytes.length) {
      throw new Error(
        `Cannot read meta element (0002,${
          element.toString(16).padStart(4, "0")
        }): value runs past byte ${bytes.length}`,
      );
    }
    if (["UI", "AE", "SH", "CS", "LO"].includes(vr)) {
      const text = new TextDecoder().decode(bytes.subarray(valueOffset, valueOffset + length));
      values.set(`0002${element.toString(16).padStart(4, "0").toUpperCase()}`, text.replace(/[\0 ]+$/, ""));
    }
    offset = valueOffset + length;
  }
  return { datasetOffset: offset, values };
}

/** Byte offset where the data set of a Part 10 file starts (see {@linkcode parseMetaHeader}). */
export function datasetOffset(bytes: Uint8Array): number {
  return parseMetaHeader(bytes).datasetOffset;
}

/** How a transfer syntax encodes the data set (PS3.5 10): byte order, VR form, deflate. */
function datasetEncoding(
  transferSyntaxUid: string,
): { littleEndian: boolean; explicitVr: boolean; deflated: boolean } {
  switch (transferSyntaxUid) {
    case TransferSyntax.implicitLittleEndian:
      return { littleEndian: true, explicitVr: false, deflated: false };
    case TransferSyntax.explicitBigEndian:
      return { littleEndian: false, explicitVr: true, deflated: false };
    case TransferSyntax.deflatedExplicitLittleEndian:
    case "1.2.840.10008.1.2.1.98": // Encapsulated Uncompressed Explicit VR Little Endian is not deflated
      return {
        littleEndian: true,
        explicitVr: true,
        deflated: transferSyntaxUid === TransferSyntax.deflatedExplicitLittleEndian,
      };
    default: // explicit VR little endian and every encapsulated (compressed) syntax
      return { littleEndian: true, explicitVr: true, deflated: false };
  }
}

/** VRs with a 2-byte reserved field and a 32-bit length in explicit VR (PS3.5 7.1.2). */
const LONG_VRS = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]);
const UNDEFINED_LENGTH = 0xffffffff;

/** A bounds-checked reader over data set bytes that feeds a canonical record of what it reads to `emit`. */
class CanonicalWalker {
  readonly #view: DataView;
  #pos = 0;
  constructor(readonly bytes: Uint8Array, readonly emit: (chunk: Uint8Array | string) => void) {
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  #need(n: number, what: string): void {
    if (this.#pos + n > this.bytes.length) {
      throw new Error(
        `Cannot read ${what} at byte ${this.#pos}: needs ${n} bytes, ${this.bytes.length - this.#pos} remain`,
      );
    }
  }
  #u16(le: boolean, what: string): number {
    this.#need(2, what);
    const v = this.#view.getUint16(this.#pos, le);
    this.#pos += 2;
    return v;
  }
  #u32(le: boolean, what: string): number {
    this.#need(4, what);
    const v = this.#view.getUint32(this.#pos, le);
    this.#pos += 4;
    return v;
  }
  #take(n: number, what: string): Uint8Array {
    this.#need(n, what);
    const v = this.bytes.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return v;
  }
  #emitLength(n: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, n);
    this.emit(b);
  }

  /** Elements until `end` (a byte offset) or, when `end` is undefined, until an Item Delimitation Item. */
  dataset(le: boolean, explicitVr: boolean, end: number | undefined): void {
    while (end === undefined ? true : this.#pos < end) {
      if (end === undefined && this.#pos >= this.bytes.length) {
        throw new Error("Cannot find the Item Delimitation Item: data ends");
      }
      const group = this.#u16(le, "element tag");
      const element = this.#u16(le, "element tag");
      const tag = (group << 16 | element) >>> 0;
      if (tag === 0xfffee00d) { // Item Delimitation Item (PS3.5 7.5.2)
        this.#u32(le, "item delimitation length");
        if (end !== undefined) throw new Error(`Unexpected Item Delimitation Item at byte ${this.#pos - 8}`);
        return;
      }
      const tagText = tag.toString(16).padStart(8, "0").toUpperCase();
      let vr: string;
      let length: number;
      if (explicitVr) {
        const vrBytes = this.#take(2, `VR of (${tagText})`);
        vr = String.fromCharCode(vrBytes[0]!, vrBytes[1]!);
        if (LONG_VRS.has(vr)) {
          this.#take(2, `reserved bytes of (${tagText})`);
          length = this.#u32(le, `length of (${tagText})`);
        } else {
          length = this.#u16(le, `length of (${tagText})`);
        }
      } else {
        length = this.#u32(le, `length of (${tagText})`);
        const entry = DicomMetaDictionary.dictionary[`(${tagText.slice(0, 4)},${tagText.slice(4)})`] as {
          vr?: string;
        } | undefined;
        vr = length === UNDEFINED_LENGTH ? "SQ" : entry?.vr === "SQ" ? "SQ" : "--";
      }
      const skip = element === 0x0000; // group lengths are an encoding detail (retired in data sets)
      if (!skip) this.emit(`E${tagText}${explicitVr ? vr : "--"}`);
      if (vr === "UN" && length === UNDEFINED_LENGTH) {
        // PS3.5 6.2.2: a UN of undefined length holds a sequence in implicit VR little endian.
        this.#sequence(true, false, length);
      } else if (vr === "SQ") {
        this.#sequence(le, explicitVr, length);
      } else if (length === UNDEFINED_LENGTH) {
        this.#fragments(le);
      } else {
        const value = this.#take(length, `value of (${tagText})`);
        if (!skip) {
          this.emit("V");
          this.#emitLength(length);
          this.emit(value);
        }
      }
    }
  }

  /** Items of a sequence of defined or undefined length (PS3.5 7.5), each a nested data set. */
  #sequence(le: boolean, explicitVr: boolean, length: number): void {
    this.emit("S");
    const end = length === UNDEFINED_LENGTH ? undefined : this.#pos + length;
    for (;;) {
      if (end !== undefined && this.#pos >= end) break;
      const tag = ((this.#u16(le, "item tag") << 16) | this.#u16(le, "item tag")) >>> 0;
      const itemLength = this.#u32(le, "item length");
      if (tag === 0xfffee0dd) break; // Sequence Delimitation Item
      if (tag !== 0xfffee000) {
        throw new Error(`Expected an Item in a sequence at byte ${this.#pos - 8}, found ${tag.toString(16)}`);
      }
      this.emit("I");
      this.dataset(le, explicitVr, itemLength === UNDEFINED_LENGTH ? undefined : this.#pos + itemLength);
      this.emit("i");
    }
    this.emit("s");
  }

  /** Encapsulated Pixel Data (PS3.5 A.4): the offset table and fragments, each item's bytes. */
  #fragments(le: boolean): void {
    this.emit("F");
    for (;;) {
      const tag = ((this.#u16(le, "fragment tag") << 16) | this.#u16(le, "fragment tag")) >>> 0;
      const length = this.#u32(le, "fragment length");
      if (tag === 0xfffee0dd) break;
      if (tag !== 0xfffee000) {
        throw new Error(`Expected a fragment Item at byte ${this.#pos - 8}, found ${tag.toString(16)}`);
      }
      this.emit("f");
      this.#emitLength(length);
      this.emit(this.#take(length, "fragment"));
    }
    this.emit("e");
  }
}

/**
 * SHA-256 (hex) of a canonical form of the data set of the Part 10 file at `path` (everything
 * after the group 0002 meta header): every element's tag, VR and value bytes as stored, with the
 * encoding details that an SCU may legitimately change while sending removed — sequence and item
 * lengths (defined or undefined, DCMTK re-encodes dcmjs' undefined lengths as defined ones),
 * group length elements, and deflate compression (inflated first). Values are never converted:
 * the same data set in two transfer syntaxes has two fingerprints, so compare files of the same
 * transfer syntax. For a readable difference see {@linkcode datasetDump}; for byte identity see
 * {@linkcode datasetBytesFingerprint}. Reads the whole file (test-sized data).
 */
export async function datasetFingerprint(path: string): Promise<string> {
  const bytes = await Deno.readFile(path);
  const meta = parseMetaHeader(bytes);
  const encoding = datasetEncoding(meta.values.get("00020010") ?? "");
  let dataset = bytes.subarray(meta.datasetOffset);
  if (encoding.deflated) dataset = new Uint8Array(inflateRawSync(dataset));
  const hash = createHash("sha256");
  const walker = new CanonicalWalker(dataset, (chunk) => hash.update(chunk));
  try {
    walker.dataset(encoding.littleEndian, encoding.explicitVr, dataset.length);
  } catch (error) {
    throw new Error(`Cannot fingerprint ${path}: ${(error as Error).message}`);
  }
  return hash.digest("hex");
}

/**
 * SHA-256 (hex) of the data set bytes of the Part 10 file at `path` exactly as stored (everything
 * after the meta header): equal only when the data sets are byte-identical, e.g. a file received
 * by `storescp +B` from an SCU that sent the file unchanged.
 */
export async function datasetBytesFingerprint(path: string): Promise<string> {
  const bytes = await Deno.readFile(path);
  return createHash("sha256").update(bytes.subarray(datasetOffset(bytes))).digest("hex");
}

/**
 * dcmdump's listing of the data set only (no meta header), UIDs numeric, long values printed
 * in full: for failure messages and diffs when two fingerprints differ.
 */
export async function datasetDump(path: string): Promise<string> {
  const result = await runCommand("dcmdump", ["-q", "-Un", "+L", path]);
  const text = result.success ? result.stdout : `dcmdump failed (${result.code}): ${result.stderr}`;
  const start = text.indexOf("# Dicom-Data-Set");
  return start < 0 ? text : text.slice(start);
}

/** The transfer syntax UID in the meta header of the Part 10 file at `path` (no DCMTK needed; reads 64 KiB). */
export async function fileTransferSyntax(path: string): Promise<string> {
  const file = await Deno.open(path);
  try {
    const head = new Uint8Array(65536);
    let filled = 0;
    while (filled < head.length) {
      const n = await file.read(head.subarray(filled));
      if (n === null) break;
      filled += n;
    }
    return parseMetaHeader(head.subarray(0, filled)).values.get("00020010") ?? "";
  } finally {
    file.close();
  }
}
