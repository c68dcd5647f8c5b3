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
import { statusInputs } from "../../src/cli/status_inputs.ts";
import { createStatusSource } from "../../src/status/source.ts";
import { joinPath } from "../../src/platform/fs.ts";
import { startTestGateway } from "../support/gateway.ts";

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

Deno.test("the running gateway's index reaches /api/status: verified per study and in the queue totals", async () => {
  const gateway = await startTestGateway({ aeTitle: "WIRED" });
  try {
    const record = (uid: string) =>
      gateway.index.recordReceived({
        sopInstanceUid: uid,
        sopClassUid: "1.2.840.10008.5.1.4.1.1.2",
        studyInstanceUid: "1.2.3.9",
        seriesInstanceUid: "1.2.3.9.1",
        transferSyntaxUid: "1.2.840.10008.1.2.1",
        path: `x/${uid}.dcm`,
        size: 10,
        callingAeTitle: "CT1",
        receivedAt: Date.now(),
        patientId: "",
        patientName: "",
        modality: "CT",
        studyDate: "",
        studyDescription: "",
        accessionNumber: "",
      });
    record("1.2.3.9.1.1");
    record("1.2.3.9.1.2");
    const claims = gateway.index.claimBatch({ maxInstances: 10, maxBytes: 1e9 }, Date.now());
    gateway.index.markDelivered(claims, Date.now());
    gateway.index.markVerified(claims.slice(0, 1), Date.now());
    const inputs = statusInputs(gateway, { configPath: joinPath(gateway.dataDir, "settings.toml") });
    const api = toApiStatus(createStatusSource(inputs).snapshot());
    const study = api.studies.find((t) => t.studyInstanceUid === "1.2.3.9")!;
    assertEquals([study.received, study.delivered, study.verified, study.complete], [2, 2, 1, false]);
    assertEquals([api.queue.delivered, api.queue.verified], [2, 1]);
    assertEquals(api.upload.verification?.mode, "query");
  } finally {
    await gateway.dispose();
  }
});
