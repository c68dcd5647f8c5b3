/**
 * The streaming scanner: structure checked in every plain encoding and every chunking, kept
 * values, bounded memory (bytes buffered counted, never time), and each hostile case of issue 10
 * refused with a reason that fits an Error Comment.
 */
import { assert, assertEquals, assertThrows } from "../support/assert.ts";
import { DatasetError, DatasetScanner } from "../../src/dicom/dataset_scanner.ts";
import { DeflatedDatasetScanner, InflatedSizeError } from "../../src/dicom/deflated_scanner.ts";
import { attributesOf, KEPT_TAGS } from "../../src/store/dataset_attributes.ts";
import {
  bigElementBeforeStudy,
  concat,
  CT,
  deflate,
  deflateBomb,
  el,
  type Enc,
  encapsulated,
  EXPLICIT_BE,
  EXPLICIT_LE,
  header,
  identity,
  IMPLICIT_LE,
  nestedSequences,
  SERIES,
  SOP,
  sq,
  STUDY,
  studyElements,
  UNDEFINED,
} from "../support/hostile.ts";

const ENCODINGS: [string, Enc][] = [["implicit LE", IMPLICIT_LE], ["explicit LE", EXPLICIT_LE], [
  "explicit BE",
  EXPLICIT_BE,
]];

/** Scans `bytes` in pieces of `chunk` bytes; returns the scanner after `end`. */
function scan(bytes: Uint8Array, enc: Enc, chunk = bytes.length, maxSequenceDepth?: number): DatasetScanner {
  const scanner = new DatasetScanner({
    encoding: enc,
    keep: KEPT_TAGS,
    ...(maxSequenceDepth === undefined ? {} : { maxSequenceDepth }),
  });
  for (let o = 0; o < bytes.length; o += Math.max(1, chunk)) scanner.push(bytes.subarray(o, o + chunk));
  scanner.end();
  return scanner;
}

/** A data set with every structure: sequences and items of both lengths, nested, empty ones. */
function structured(enc: Enc): Uint8Array {
  const inner = el(0x00081150, "UI", CT, enc);
  return concat(
    identity(enc),
    sq(0x00081110, [inner, inner], enc),
    sq(0x00081111, [inner], enc, { undefinedLength: true }),
    sq(
      0x00081115,
      [concat(inner, sq(0x00081199, [inner], enc, { undefinedLength: true, undefinedItems: true }))],
      enc,
      {
        undefinedLength: true,
        undefinedItems: true,
      },
    ),
    sq(0x00081120, [], enc),
    sq(0x00081125, [new Uint8Array(0)], enc, { undefinedLength: true }),
    studyElements(enc),
    el(0x7FE00010, "OW", new Uint8Array(300).fill(1), enc),
    el(0xFFFCFFFC, "OB", new Uint8Array(8), enc),
  );
}

Deno.test("scanner: every plain encoding, every chunking: structure accepted, attributes read", () => {
  for (const [name, enc] of ENCODINGS) {
    const bytes = structured(enc);
    for (const chunk of [1, 2, 3, 7, 12, 13, 64, 1000, bytes.length]) {
      const scanner = scan(bytes, enc, chunk);
      const a = attributesOf(scanner.values, "");
      assertEquals([a.sopClassUid, a.sopInstanceUid, a.studyInstanceUid, a.seriesInstanceUid], [
        CT,
        SOP,
        STUDY,
        SERIES,
      ], `${name} in ${chunk}-byte pieces`);
      assertEquals([a.patientName, a.patientId, a.modality, a.instanceNumber], [
        "Doe^Jane",
        "PID-10",
        "CT",
        7,
      ]);
      assertEquals(scanner.offset, bytes.length);
    }
  }
});

Deno.test("scanner: encapsulated pixel data (PS3.5 A.4) in explicit LE, fragments of any size", () => {
  const bytes = concat(
    identity(EXPLICIT_LE),
    studyElements(EXPLICIT_LE),
    encapsulated([new Uint8Array(1000).fill(9), new Uint8Array(2).fill(8), new Uint8Array(0)]),
  );
  for (const chunk of [1, 5, 100, bytes.length]) scan(bytes, EXPLICIT_LE, chunk);
});

Deno.test("scanner: a 1 GiB element before the Study UID is skipped, never buffered", () => {
  const scanner = new DatasetScanner({ encoding: EXPLICIT_LE, keep: KEPT_TAGS });
  let pushed = 0;
  for (const chunk of bigElementBeforeStudy(1024 * 1024 * 1024)) {
    scanner.push(chunk);
    pushed += chunk.length;
  }
  scanner.end();
  assert(pushed > 1024 * 1024 * 1024);
  const a = attributesOf(scanner.values, "");
  assertEquals(a.studyInstanceUid, STUDY);
  assertEquals(a.seriesInstanceUid, SERIES);
  // A partial header, one frame and the kept values: far below one chunk.
  assert(scanner.maxBufferedBytes < 1024, `buffered at most ${scanner.maxBufferedBytes} bytes`);
});

Deno.test("scanner: 10,000 nested sequences are refused at the limit, holding only the frames", () => {
  const bytes = nestedSequences(10_000);
  const scanner = new DatasetScanner({ encoding: EXPLICIT_LE, keep: KEPT_TAGS });
  const error = assertThrows(() => scanner.push(bytes), DatasetError, "sequences nested deeper than 64");
  assertEquals((error as DatasetError).comment, "Sequences nested deeper than 64");
  assert(scanner.maxBufferedBytes < 64 * 2 * 48 + 1024, `buffered ${scanner.maxBufferedBytes}`);
  // 64 levels are fine; the limit is a setting.
  scan(nestedSequences(64), EXPLICIT_LE);
  assertThrows(() => scan(nestedSequences(9), EXPLICIT_LE, 7, 8), DatasetError, "deeper than 8");
  for (const [, enc] of ENCODINGS) scan(nestedSequences(30, enc), enc, 5);
});

/** Hostile and broken data sets: what each must be refused with. */
const BROKEN: [string, Enc, Uint8Array, string][] = [
  [
    "a 0xFFFFFFF0 length",
    EXPLICIT_LE,
    concat(identity(EXPLICIT_LE), header(0x00091010, "OB", 0xFFFFFFF0, EXPLICIT_LE), new Uint8Array(100)),
    "Data set ends inside (0009,1010)",
  ],
  [
    "truncated native pixel data",
    IMPLICIT_LE,
    concat(
      identity(IMPLICIT_LE),
      studyElements(IMPLICIT_LE),
      header(0x7FE00010, "", 4096, IMPLICIT_LE),
      new Uint8Array(100),
    ),
    "Data set ends inside (7FE0,0010)",
  ],
  [
    "truncated encapsulated pixel data",
    EXPLICIT_LE,
    encapsulated([new Uint8Array(500)]).subarray(0, 200),
    "Data set ends inside (FFFE,E000)",
  ],
  [
    "encapsulated pixel data without its sequence delimiter",
    EXPLICIT_LE,
    encapsulated([new Uint8Array(500)]).subarray(0, 12 + 8 + 8 + 500),
    "Pixel data at offset 0 not closed",
  ],
  [
    "a pixel data fragment of undefined length",
    EXPLICIT_LE,
    concat(header(0x7FE00010, "OB", UNDEFINED, EXPLICIT_LE), header(0xFFFEE000, "", UNDEFINED, EXPLICIT_LE)),
    "Pixel data fragment at offset 12 of undefined length",
  ],
  [
    "a sequence never closed",
    EXPLICIT_LE,
    concat(
      identity(EXPLICIT_LE),
      header(0x00081115, "SQ", UNDEFINED, EXPLICIT_LE),
      studyElements(EXPLICIT_LE),
    ),
    "No item at offset",
  ],
  [
    "a sequence never closed at the end",
    IMPLICIT_LE,
    concat(
      identity(IMPLICIT_LE),
      header(0x00081115, "", UNDEFINED, IMPLICIT_LE),
      header(0xFFFEE000, "", 34, IMPLICIT_LE),
      el(0x00081150, "UI", CT, IMPLICIT_LE),
    ),
    "Sequence (0008,1115) at offset",
  ],
  [
    "an item never closed",
    EXPLICIT_BE,
    concat(
      identity(EXPLICIT_BE),
      header(0x00081115, "SQ", UNDEFINED, EXPLICIT_BE),
      header(0xFFFEE000, "", UNDEFINED, EXPLICIT_BE),
      el(0x00081150, "UI", CT, EXPLICIT_BE),
    ),
    "Item at offset",
  ],
  [
    "an element longer than its item",
    EXPLICIT_LE,
    concat(
      header(0x00081115, "SQ", UNDEFINED, EXPLICIT_LE),
      header(0xFFFEE000, "", 10, EXPLICIT_LE),
      el(0x00081150, "UI", CT, EXPLICIT_LE),
    ),
    "Length of (0008,1150) at offset 20 exceeds its item",
  ],
  [
    "an item longer than its sequence",
    EXPLICIT_LE,
    concat(header(0x00081115, "SQ", 8, EXPLICIT_LE), header(0xFFFEE000, "", 100, EXPLICIT_LE)),
    "Length of (FFFE,E000) at offset 12 exceeds its item",
  ],
  [
    "a stray sequence delimiter",
    EXPLICIT_LE,
    concat(identity(EXPLICIT_LE), header(0xFFFEE0DD, "", 0, EXPLICIT_LE)),
    "Misplaced (FFFE,E0DD)",
  ],
  [
    "no explicit VR",
    EXPLICIT_LE,
    concat(identity(EXPLICIT_LE), new Uint8Array([0x10, 0, 0x10, 0, 1, 2, 0, 0])),
    "has no valid VR",
  ],
  [
    "a header cut short",
    EXPLICIT_LE,
    concat(identity(EXPLICIT_LE), new Uint8Array([0x10, 0, 0x10, 0, 0x50])),
    "Data set ends inside an element header",
  ],
];

Deno.test("scanner: broken data sets are refused with a short reason, in any chunking", () => {
  for (const [name, enc, bytes, comment] of BROKEN) {
    for (const chunk of [1, 9, bytes.length]) {
      const error = assertThrows(() => scan(bytes, enc, chunk), DatasetError);
      const reason = (error as DatasetError).comment ?? "";
      assert(reason.includes(comment), `${name} (${chunk}): ${reason} / ${(error as Error).message}`);
      assert(reason.length <= 64, `${name}: comment of ${reason.length} characters`);
    }
  }
});

Deno.test("scanner: after a failure every push and end throws the same error", () => {
  const scanner = new DatasetScanner({ encoding: EXPLICIT_LE });
  const first = assertThrows(
    () => scanner.push(concat(header(0xFFFEE0DD, "", 0, EXPLICIT_LE))),
    DatasetError,
  );
  assertEquals(assertThrows(() => scanner.push(new Uint8Array(4)), DatasetError), first);
  assertEquals(assertThrows(() => scanner.end(), DatasetError), first);
});

Deno.test("scanner: UN-encoded kept elements (PS3.5 6.2.2) are read by their dictionary VR", () => {
  for (const enc of [EXPLICIT_LE, EXPLICIT_BE]) {
    const bytes = concat(
      el(0x00080016, "UN", "1.2.840.10008.5.1.4.1.1.481.2", enc),
      el(0x00080018, "UN", SOP, enc),
      studyElements(enc),
      el(0x00100010, "UN", "Dose^Rt", enc),
      // PS3.5 6.2.2: UN of undefined length, its items in Implicit VR Little Endian.
      header(0x30051010, "UN", UNDEFINED, enc),
      header(0xFFFEE000, "", UNDEFINED, IMPLICIT_LE),
      el(0x00081150, "UI", CT, IMPLICIT_LE),
      header(0xFFFEE00D, "", 0, IMPLICIT_LE),
      header(0xFFFEE0DD, "", 0, IMPLICIT_LE),
    );
    const a = attributesOf(scan(bytes, enc, 3).values, "");
    assertEquals(a.sopClassUid, "1.2.840.10008.5.1.4.1.1.481.2");
    assertEquals(a.sopInstanceUid, SOP);
    assertEquals(a.patientName, "Dose^Rt");
  }
});

Deno.test("scanner: UIDs are the received bytes, only trailing NUL / space padding removed", () => {
  for (const uid of ["1.2.3.7A", "1.2.3.1</td><b>", "1.2..3", "1.2.3.100x", "1".repeat(80), " 1.2.3"]) {
    const bytes = concat(identity(EXPLICIT_LE, { sop: uid }), studyElements(EXPLICIT_LE, { study: uid }));
    const a = attributesOf(scan(bytes, EXPLICIT_LE).values, "");
    assertEquals(a.sopInstanceUid, uid);
    assertEquals(a.studyInstanceUid, uid);
  }
  const padded = concat(
    el(0x00080018, "UI", "1.2.3\0", EXPLICIT_LE),
    el(0x0020000D, "UI", "1.2.4 ", EXPLICIT_LE),
  );
  const values = scan(padded, EXPLICIT_LE).values;
  assertEquals(new TextDecoder().decode(values.get(0x00080018)!.bytes), "1.2.3\0");
  assertThrows(
    () => attributesOf(scan(el(0x00080018, "UI", "1".repeat(2000), EXPLICIT_LE), EXPLICIT_LE).values, ""),
    DatasetError,
    "SOP Instance UID (0008,0018) is 2000 bytes long",
  );
});

// ------------------------------------------------------------------------------------------
// Deflated data sets (PS3.5 A.5)
// ------------------------------------------------------------------------------------------

async function scanDeflated(
  compressed: Uint8Array,
  options: { chunk?: number; maxInflatedBytes?: number } = {},
): Promise<DeflatedDatasetScanner> {
  const scanner = new DeflatedDatasetScanner({
    keep: KEPT_TAGS,
    ...(options.maxInflatedBytes === undefined ? {} : { maxInflatedBytes: options.maxInflatedBytes }),
  });
  const chunk = options.chunk ?? 16 * 1024;
  try {
    for (let o = 0; o < compressed.length; o += chunk) await scanner.push(compressed.subarray(o, o + chunk));
    await scanner.end();
  } finally {
    scanner.close();
  }
  return scanner;
}

async function rejects(promise: Promise<unknown>, comment: string): Promise<DatasetError> {
  try {
    await promise;
  } catch (error) {
    assert(error instanceof DatasetError, String(error));
    assert((error.comment ?? "").includes(comment), `${error.comment} / ${error.message}`);
    return error;
  }
  throw new Error(`expected a refusal: ${comment}`);
}

Deno.test("deflated: inflated as a stream in bounded pieces, pad byte allowed, attributes read", async () => {
  const dataset = concat(
    identity(EXPLICIT_LE),
    studyElements(EXPLICIT_LE),
    el(0x7FE00010, "OB", new Uint8Array(3_000_000), EXPLICIT_LE),
  );
  let compressed = deflate(dataset);
  if (compressed.length % 2 === 1) compressed = concat(compressed, new Uint8Array(1));
  for (const chunk of [1000, 64 * 1024]) {
    const scanner = await scanDeflated(compressed, { chunk });
    assertEquals(attributesOf(scanner.values, "").studyInstanceUid, STUDY);
    assertEquals(scanner.inflatedBytes, dataset.length);
    // 3 MB of zeros inflate from about 3 kB: inflated into one reused 4 KiB piece.
    assert(scanner.maxBufferedBytes <= 8 * 1024, `buffered ${scanner.maxBufferedBytes}`);
  }
});

Deno.test("deflated: a deflate bomb stops at the inflated-size limit, in bounded memory", async () => {
  const bomb = deflateBomb(64 * 1024 * 1024);
  assert(bomb.length < 200 * 1024, `bomb is ${bomb.length} bytes`);
  const error = await rejects(
    scanDeflated(bomb, { maxInflatedBytes: 16 * 1024 * 1024 }),
    "inflates past the limit (16 MiB)",
  );
  assert(error instanceof InflatedSizeError);
  // Under the default limit it is a (big) valid data set.
  const scanner = await scanDeflated(bomb);
  assertEquals(attributesOf(scanner.values, "").seriesInstanceUid, SERIES);
  assert(scanner.maxBufferedBytes <= 8 * 1024, `buffered ${scanner.maxBufferedBytes}`);
});

Deno.test("deflated: garbage after a valid stream, a truncated stream and no stream are refused", async () => {
  const compressed = deflate(concat(identity(EXPLICIT_LE), studyElements(EXPLICIT_LE)));
  await rejects(
    scanDeflated(concat(compressed, new Uint8Array([1, 2, 3, 4]))),
    "Data after the end of the deflated",
  );
  await rejects(scanDeflated(concat(compressed, new Uint8Array(1000)), { chunk: 100 }), "Data after the end");
  await rejects(scanDeflated(concat(compressed, new Uint8Array([7]))), "Data after the end");
  await rejects(scanDeflated(compressed.subarray(0, compressed.length - 3)), "Cannot inflate");
  const random = new Uint8Array(5000);
  crypto.getRandomValues(random);
  await rejects(scanDeflated(random), "");
  // A valid stream of a broken data set: the inner structure is checked too.
  await rejects(
    scanDeflated(deflate(concat(identity(EXPLICIT_LE), header(0x00081115, "SQ", UNDEFINED, EXPLICIT_LE)))),
    "Sequence (0008,1115) at offset",
  );
});
