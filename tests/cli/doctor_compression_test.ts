/** doctor's upload compression line: the setting, the savings, a refusal learnt for this destination. */
import { assertEquals, assertStringIncludes } from "../support/assert.ts";
import { defaultConfig } from "../../src/config/types.ts";
import { compressionCheck } from "../../src/cli/doctor.ts";
import { type CompressionRecord, settingsFingerprint } from "../../src/upload/prepare.ts";

const up = { ...defaultConfig("/x").upload, url: "https://pacs.example.org/dicom-web" };

function recordOf(overrides: Partial<CompressionRecord>): CompressionRecord {
  return {
    setting: "jpeg-ls",
    compressed: 0,
    bytesIn: 0,
    bytesOut: 0,
    original: {},
    refused: [],
    plainPartType: [],
    namedPartOk: [],
    settings: settingsFingerprint(up),
    ...overrides,
  };
}

Deno.test("doctor: compression in force, with the savings and originals by cause", () => {
  const r = compressionCheck(
    up,
    recordOf({ compressed: 10, bytesIn: 4500, bytesOut: 1000, original: { mismatch: 1 } }),
  );
  assertEquals(r.title, "Upload compression: JPEG-LS lossless (so far 4.5× fewer bytes)");
  assertEquals(r.detail, "Sent as received: 1 (mismatch).");
  assertEquals(
    compressionCheck({ ...up, compression: "none" }, recordOf({})).title,
    "Upload compression is off: images go as received",
  );
});

Deno.test("doctor: a refusal by this destination is shown; one learnt under other settings is not", () => {
  const refused = [{
    url: up.url,
    syntax: "jpeg-ls",
    transferSyntaxUid: "1.2.840.10008.1.2.4.80",
    at: 0,
    reason: "C122",
  }];
  const r = compressionCheck(up, recordOf({ refused }));
  assertStringIncludes(r.title, "The central server refused JPEG-LS lossless");
  assertStringIncludes(r.detail!, "tries JPEG-LS lossless again");
  const stale = compressionCheck(up, recordOf({ refused, settings: "other" }));
  assertEquals(stale.title, "Upload compression: JPEG-LS lossless");
});
