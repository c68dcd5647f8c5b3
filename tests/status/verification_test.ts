/**
 * Verified delivery on the status page, `/api/status` and `/metrics`: received · delivered ·
 * verified per study, "complete" only when all are verified (or delivered, with verify =
 * "response"), the "missing in the archive" marker, and the verified counts as metrics.
 */
import { assert, assertEquals, assertStringIncludes } from "../support/assert.ts";
import { toApiStatus } from "../../src/status/api.ts";
import { renderMetrics } from "../../src/status/metrics.ts";
import { renderLive } from "../../src/status/page.ts";
import { sampleSnapshot } from "./fake_source.ts";

function snapshot(mode: "query" | "response") {
  const s = sampleSnapshot();
  s.queue = { ...s.queue, verified: 1200, missingInArchive: 3 };
  s.upload.verification = { mode, lastVerifiedAt: s.startedAt, problem: null, problemAt: null };
  const [a, b] = s.studies as [typeof s.studies[0], typeof s.studies[0]];
  s.studies = [
    { ...a, received: 120, delivered: 120, pending: 0, verified: 117, missingInArchive: 3 },
    { ...b, received: 40, delivered: 40, failed: 0, pending: 0, verified: 40, missingInArchive: 0 },
  ];
  return s;
}

Deno.test("api: per study received · delivered · verified; complete only when all are verified", () => {
  const api = toApiStatus(snapshot("query"));
  const [a, b] = api.studies;
  assertEquals([a!.received, a!.delivered, a!.verified, a!.missingInArchive, a!.complete], [
    120,
    120,
    117,
    3,
    false,
  ]);
  assertEquals([b!.verified, b!.complete], [40, true]);
  assertEquals(api.queue.verified, 1200);
  assertEquals(api.upload.verification?.mode, "query");
  // verify = "response": delivered is the proof, so both are complete.
  const response = toApiStatus(snapshot("response"));
  assertEquals(response.studies.map((t) => t.complete), [true, true]);
  assertEquals(response.upload.verification?.mode, "response");
});

Deno.test("page: the study cell says how many are verified, and marks instances missing in the archive", () => {
  const page = String(renderLive(snapshot("query")));
  assertStringIncludes(page, '120 received</span>, <span class="n-delivered">120 uploaded</span>');
  assertStringIncludes(page, '<span class="n-verified">117 verified in the archive</span>');
  assertStringIncludes(page, '<span class="n-missing error">3 missing in the archive</span>');
  assertStringIncludes(page, '<span class="n-verified">40 verified in the archive — complete</span>');
  const response = String(renderLive(snapshot("response")));
  assertStringIncludes(response, "the upload answer is the only proof — complete");
  assert(!response.includes("verified in the archive"));
});

Deno.test("metrics: delivered and verified counts, and the instances missing in the archive", () => {
  const text = renderMetrics(snapshot("query"));
  assertStringIncludes(text, 'dicom_gateway_instances{state="delivered"} 1240');
  assertStringIncludes(text, "dicom_gateway_instances_verified 1200");
  assertStringIncludes(text, "dicom_gateway_instances_missing_in_archive 3");
});
