/** The status page, /api/status and /metrics show compression counts and a refused syntax (issue 11). */
import { assert, assertEquals, assertStringIncludes } from "../support/assert.ts";
import { renderLive } from "../../src/status/page.ts";
import { toApiStatus } from "../../src/status/api.ts";
import { renderMetrics } from "../../src/status/metrics.ts";
import { sampleSnapshot } from "./fake_source.ts";

function withCompression() {
  const snap = sampleSnapshot();
  snap.upload.compression = {
    setting: "jpeg-ls",
    compressed: 3,
    bytesIn: 4500,
    bytesOut: 1000,
    original: { "high-bits": 1, refused: 2 },
    refused: [{
      syntax: "jpeg-ls",
      transferSyntaxUid: "1.2.840.10008.1.2.4.80",
      at: "2026-01-01T10:00:00.000Z",
      reason: "HTTP 409, transfer syntax not supported (0xC122)",
    }],
  };
  return snap;
}

Deno.test("the Central server box shows compression, the refusal and the originals by cause", () => {
  const page = renderLive(withCompression()).value;
  assertStringIncludes(page, "JPEG-LS lossless (3 images compressed, 4.5× fewer bytes)");
  assertStringIncludes(page, "The server does not take JPEG-LS lossless: images go uncompressed");
  assertStringIncludes(page, "1 (high-bits), 2 (refused)");
  assert(!renderLive(sampleSnapshot()).value.includes("upload-compression"), "nothing when not reported");
});

Deno.test("/api/status keeps the compression view and /metrics counts it", () => {
  const snap = withCompression();
  assertEquals(toApiStatus(snap).upload.compression, snap.upload.compression);
  const metrics = renderMetrics(snap);
  assertStringIncludes(metrics, "dicom_gateway_upload_compressed_total 3");
  assertStringIncludes(metrics, 'dicom_gateway_upload_original_total{cause="high-bits"} 1');
  assertStringIncludes(metrics, "dicom_gateway_upload_compression_refused 1");
});
