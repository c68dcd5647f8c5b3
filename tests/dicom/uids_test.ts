/** The UID registry: transfer syntax flags, storage / non-storage SOP classes, UID syntax. */
import { assert, assertEquals } from "../support/assert.ts";
import {
  datasetEncoding,
  DeflatedExplicitVrLittleEndian,
  ExplicitVrBigEndian,
  ExplicitVrLittleEndian,
  ImplicitVrLittleEndian,
  isValidUid,
  knownTransferSyntaxes,
  NON_STORAGE_SOP_CLASSES,
  sopClassName,
  STORAGE_SOP_CLASSES,
  transferSyntaxInfo,
  transferSyntaxPreference,
  VERIFICATION_SOP_CLASS,
} from "../../src/dicom/uids.ts";

Deno.test("transfer syntaxes: the four uncompressed ones", () => {
  assertEquals(transferSyntaxInfo(ImplicitVrLittleEndian), {
    uid: "1.2.840.10008.1.2",
    name: "Implicit VR Little Endian",
    explicitVr: false,
    littleEndian: true,
    deflated: false,
    encapsulated: false,
    lossy: false,
  });
  assertEquals(transferSyntaxInfo(ExplicitVrLittleEndian)?.explicitVr, true);
  assertEquals(transferSyntaxInfo(ExplicitVrBigEndian)?.littleEndian, false);
  assertEquals(transferSyntaxInfo(DeflatedExplicitVrLittleEndian)?.deflated, true);
  assertEquals(ExplicitVrLittleEndian, "1.2.840.10008.1.2.1");
  assertEquals(ExplicitVrBigEndian, "1.2.840.10008.1.2.2");
  assertEquals(DeflatedExplicitVrLittleEndian, "1.2.840.10008.1.2.1.99");
});

Deno.test("transfer syntaxes: lossless and lossy compressed ones are encapsulated", () => {
  const lossless = [
    "1.2.840.10008.1.2.1.98", // encapsulated uncompressed
    "1.2.840.10008.1.2.4.57", // JPEG lossless process 14
    "1.2.840.10008.1.2.4.70", // JPEG lossless SV1
    "1.2.840.10008.1.2.4.80", // JPEG-LS lossless
    "1.2.840.10008.1.2.4.90", // JPEG 2000 lossless
    "1.2.840.10008.1.2.4.92", // JPEG 2000 part 2 MC lossless
    "1.2.840.10008.1.2.4.201", // HTJ2K lossless
    "1.2.840.10008.1.2.4.202", // HTJ2K lossless RPCL
    "1.2.840.10008.1.2.5", // RLE
    "1.2.840.10008.1.2.8.1", // deflated image frame compression
  ];
  const lossy = [
    "1.2.840.10008.1.2.4.50",
    "1.2.840.10008.1.2.4.51",
    "1.2.840.10008.1.2.4.81",
    "1.2.840.10008.1.2.4.91",
    "1.2.840.10008.1.2.4.93",
    "1.2.840.10008.1.2.4.203",
    "1.2.840.10008.1.2.4.100",
    "1.2.840.10008.1.2.4.101",
    "1.2.840.10008.1.2.4.102",
    "1.2.840.10008.1.2.4.103",
    "1.2.840.10008.1.2.4.104",
    "1.2.840.10008.1.2.4.105",
    "1.2.840.10008.1.2.4.106",
    "1.2.840.10008.1.2.4.107",
    "1.2.840.10008.1.2.4.108",
  ];
  for (const uid of lossless) {
    const info = transferSyntaxInfo(uid);
    assert(info, uid);
    assertEquals([info.encapsulated, info.lossy, info.explicitVr, info.littleEndian], [
      true,
      false,
      true,
      true,
    ], uid);
  }
  for (const uid of lossy) {
    const info = transferSyntaxInfo(uid);
    assert(info, uid);
    assertEquals([info.encapsulated, info.lossy], [true, true], uid);
  }
});

Deno.test("transfer syntaxes: JPIP referenced carries no pixel data", () => {
  assertEquals(transferSyntaxInfo("1.2.840.10008.1.2.4.94")?.encapsulated, false);
  assertEquals(transferSyntaxInfo("1.2.840.10008.1.2.4.95")?.deflated, true);
});

Deno.test("transfer syntaxes: unknown and retired-processes return undefined; registry is consistent", () => {
  assertEquals(transferSyntaxInfo("1.2.840.10008.1.2.4.58"), undefined);
  assertEquals(transferSyntaxInfo("1.2.3"), undefined);
  assertEquals(transferSyntaxInfo(""), undefined);
  const all = knownTransferSyntaxes();
  assertEquals(new Set(all.map((t) => t.uid)).size, all.length, "no duplicate UID");
  for (const t of all) {
    assert(isValidUid(t.uid), t.uid);
    assert(t.uid.startsWith("1.2.840.10008.1.2"), t.uid);
    assert(!(t.deflated && t.encapsulated), `${t.uid} is both deflated and encapsulated`);
    assert(!t.lossy || t.encapsulated, `${t.uid} lossy but not encapsulated`);
  }
  assert(all.length >= 40);
});

Deno.test("storage SOP classes: common, retired and non-patient classes are there with names", () => {
  assertEquals(STORAGE_SOP_CLASSES.get("1.2.840.10008.5.1.4.1.1.2"), "CT Image Storage");
  assertEquals(STORAGE_SOP_CLASSES.get("1.2.840.10008.5.1.4.1.1.4"), "MR Image Storage");
  assertEquals(STORAGE_SOP_CLASSES.get("1.2.840.10008.5.1.4.1.1.7"), "Secondary Capture Image Storage");
  assertEquals(STORAGE_SOP_CLASSES.get("1.2.840.10008.5.1.4.1.1.88.67"), "X-Ray Radiation Dose SR Storage");
  assertEquals(STORAGE_SOP_CLASSES.get("1.2.840.10008.5.1.4.1.1.104.1"), "Encapsulated PDF Storage");
  assertEquals(
    STORAGE_SOP_CLASSES.get("1.2.840.10008.5.1.4.1.1.77.1.6"),
    "VL Whole Slide Microscopy Image Storage",
  );
  assertEquals(STORAGE_SOP_CLASSES.get("1.2.840.10008.5.1.4.1.1.6"), "Ultrasound Image Storage (Retired)");
  assertEquals(
    STORAGE_SOP_CLASSES.get("1.2.840.10008.5.1.4.1.1.5"),
    "Nuclear Medicine Image Storage (Retired)",
  );
  assertEquals(STORAGE_SOP_CLASSES.get("1.2.840.10008.5.1.4.38.1"), "Hanging Protocol Storage");
  assertEquals(STORAGE_SOP_CLASSES.get("1.2.840.10008.5.1.4.34.7"), "RT Beams Delivery Instruction Storage");
  assert(STORAGE_SOP_CLASSES.size > 200, `${STORAGE_SOP_CLASSES.size} storage classes`);
  for (const [uid, name] of STORAGE_SOP_CLASSES) {
    assert(isValidUid(uid), uid);
    assert(name.includes("Storage"), `${uid} ${name}`);
  }
});

Deno.test("non-storage SOP classes: Q/R, worklist, MPPS, commitment, print, DICOMDIR; disjoint from storage", () => {
  for (
    const uid of [
      "1.2.840.10008.5.1.4.1.2.1.1", // patient root FIND
      "1.2.840.10008.5.1.4.1.2.2.2", // study root MOVE
      "1.2.840.10008.5.1.4.1.2.2.3", // study root GET
      "1.2.840.10008.5.1.4.1.2.4.3", // composite instance root GET
      "1.2.840.10008.5.1.4.31", // modality worklist
      "1.2.840.10008.3.1.2.3.3", // MPPS
      "1.2.840.10008.1.20.1", // storage commitment push
      "1.2.840.10008.5.1.1.1", // basic film session
      "1.2.840.10008.5.1.4.33", // instance availability notification
      "1.2.840.10008.1.3.10", // media storage directory
      "1.2.840.10008.5.1.4.34.6.1", // UPS push
    ]
  ) {
    assert(NON_STORAGE_SOP_CLASSES.has(uid), uid);
  }
  for (const uid of NON_STORAGE_SOP_CLASSES) {
    assert(!STORAGE_SOP_CLASSES.has(uid), `${uid} in both`);
    assert(isValidUid(uid), uid);
  }
  assert(!NON_STORAGE_SOP_CLASSES.has(VERIFICATION_SOP_CLASS));
});

Deno.test("sopClassName", () => {
  assertEquals(VERIFICATION_SOP_CLASS, "1.2.840.10008.1.1");
  assertEquals(sopClassName(VERIFICATION_SOP_CLASS), "Verification SOP Class");
  assertEquals(sopClassName("1.2.840.10008.5.1.4.1.1.2"), "CT Image Storage");
  assertEquals(
    sopClassName("1.2.840.10008.5.1.4.1.2.2.1"),
    "Study Root Query/Retrieve Information Model - FIND",
  );
  assertEquals(sopClassName("1.3.6.1.4.1.9590.100.1.2"), "Unknown/private SOP class");
});

Deno.test("isValidUid: PS3.5 §9.1", () => {
  for (
    const ok of [
      "0",
      "1",
      "1.2",
      "1.2.840.10008.1.2.1",
      "2.25.329800735698586629295641978511506172918",
      "1.0.3",
      "1." + "2".repeat(62),
    ]
  ) {
    assert(isValidUid(ok), ok);
  }
  for (
    const bad of [
      "",
      ".",
      "1.",
      ".1",
      "1..2",
      "01.2",
      "1.02",
      "1.2.a",
      "1.2 ",
      " 1.2",
      "1.2\0",
      "1-2",
      "1." + "2".repeat(63), // 65 characters
      "١.٢", // non-ASCII digits
    ]
  ) {
    assert(!isValidUid(bad), JSON.stringify(bad));
  }
  assert(isValidUid("1." + "2".repeat(62)), "64 characters is the maximum");
});

Deno.test("datasetEncoding: the registry's flags; deflated includes both JPIP Referenced Deflate syntaxes", () => {
  for (const info of knownTransferSyntaxes()) {
    assertEquals(datasetEncoding(info.uid), {
      explicitVr: info.explicitVr,
      littleEndian: info.littleEndian,
      deflated: info.deflated,
    }, info.uid);
  }
  const deflated = knownTransferSyntaxes().filter((t) => t.deflated).map((t) => t.uid);
  assertEquals(deflated, [
    DeflatedExplicitVrLittleEndian,
    "1.2.840.10008.1.2.4.95",
    "1.2.840.10008.1.2.4.205",
  ]);
  assertEquals(datasetEncoding(ImplicitVrLittleEndian), {
    explicitVr: false,
    littleEndian: true,
    deflated: false,
  });
  assertEquals(datasetEncoding(ExplicitVrBigEndian), {
    explicitVr: true,
    littleEndian: false,
    deflated: false,
  });
  // Unknown (private) syntaxes: Explicit VR Little Endian, as every encapsulated one is (PS3.5 §10).
  assertEquals(datasetEncoding("1.2.3.4.5"), { explicitVr: true, littleEndian: true, deflated: false });
});

Deno.test("transferSyntaxPreference: lossless compressed, then the native syntaxes, lossy last", () => {
  const order = (uids: string[], verification = false) =>
    [...uids].sort((a, b) =>
      transferSyntaxPreference(a, verification)! - transferSyntaxPreference(b, verification)!
    );
  const jpegLs = "1.2.840.10008.1.2.4.80";
  const jpegBaseline = "1.2.840.10008.1.2.4.50";
  assertEquals(
    order([
      jpegBaseline,
      ExplicitVrBigEndian,
      DeflatedExplicitVrLittleEndian,
      ImplicitVrLittleEndian,
      ExplicitVrLittleEndian,
      jpegLs,
    ]),
    [
      jpegLs,
      ExplicitVrLittleEndian,
      ImplicitVrLittleEndian,
      DeflatedExplicitVrLittleEndian,
      ExplicitVrBigEndian,
      jpegBaseline,
    ],
  );
  assertEquals(order([jpegLs, ImplicitVrLittleEndian, ExplicitVrLittleEndian], true), [
    ExplicitVrLittleEndian,
    ImplicitVrLittleEndian,
    jpegLs,
  ]);
  assertEquals(transferSyntaxPreference("1.2.3.4.5", false), undefined);
});
