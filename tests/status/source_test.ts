/** The status page's source, built from plain inputs: the snapshot it shows and the actions it passes on. */
import { assert, assertEquals } from "./helpers.ts";
import { createStatusSource, type StatusInputs } from "../../src/status/source.ts";
import type { UploadSettingsInput } from "../../src/status/api.ts";
import { defaultConfig } from "../../src/config/types.ts";
import { VERSION } from "../../src/version.ts";

function inputs(overrides: Partial<StatusInputs> = {}): StatusInputs {
  const upload = {
    ...defaultConfig("/gw").upload,
    url: "https://pacs.example.org/dicom-web",
    auth: { kind: "basic" as const, username: "clinic", password: "s3cret" },
  };
  return {
    aeTitle: "GW",
    dicomPort: 11112,
    dataDir: "/nonexistent-data-dir",
    logPatientDetails: false,
    startedAt: Date.UTC(2026, 0, 2, 3, 4, 5),
    addresses: () => [{ address: "192.168.1.20", interfaceName: "eth0", linkLocal: false }],
    uploadHealth: () => ({
      configured: true,
      state: "sending",
      lastSuccessAt: 1000,
      lastError: "HTTP 503",
      lastErrorAt: 2000,
      nextRetryAt: null,
      inFlight: 2,
    }),
    uploadConfig: () => upload,
    queueCounts: () => ({ pending: 3, sending: 1, delivered: 7, failed: 1, bytesPending: 1234 }),
    recentStudies: (limit) => {
      assertEquals(limit, 50);
      return [{
        studyInstanceUid: "1.2.3",
        patientName: "DOE^JANE",
        modality: "CT",
        studyDate: "20260102",
        studyDescription: "Head",
        callingAeTitle: "CT1",
        received: 4,
        delivered: 3,
        failed: 1,
        pending: 0,
        firstReceivedAt: 0,
        lastReceivedAt: 60_000,
        lastError: "refused",
      }];
    },
    failures: () => [{ sopInstanceUid: "1.2.3.4", studyInstanceUid: "1.2.3", reason: "refused", at: 0 }],
    associations: () => ({ active: 1, total: 9, rejected: 2 }),
    retryFailed: (uid) => uid === undefined ? 5 : 1,
    testConnection: () => Promise.resolve({ ok: true, message: "fine" }),
    saveUploadSettings: () => Promise.resolve(),
    ...overrides,
  };
}

Deno.test("snapshot: every field comes from the inputs; names redacted; times as ISO 8601", () => {
  const snapshot = createStatusSource(inputs()).snapshot();
  assertEquals(snapshot.version, VERSION);
  assertEquals(snapshot.startedAt, "2026-01-02T03:04:05.000Z");
  assertEquals(snapshot.modality.aeTitle, "GW");
  assertEquals(snapshot.modality.port, 11112);
  assertEquals(snapshot.modality.addresses, [{
    address: "192.168.1.20",
    interfaceName: "eth0",
    linkLocal: false,
  }]);
  assertEquals(snapshot.queue, { pending: 3, sending: 1, delivered: 7, failed: 1, bytesPending: 1234 });
  assertEquals(snapshot.studies.length, 1);
  assertEquals(snapshot.studies[0]!.patientName, "(hidden)");
  assertEquals(snapshot.studies[0]!.description, "Head");
  assertEquals(snapshot.studies[0]!.lastReceivedAt, "1970-01-01T00:01:00.000Z");
  assertEquals(snapshot.failures, [{
    sopInstanceUid: "1.2.3.4",
    studyInstanceUid: "1.2.3",
    reason: "refused",
    at: "1970-01-01T00:00:00.000Z",
  }]);
  assertEquals(snapshot.disk.dataDir, "/nonexistent-data-dir");
  assertEquals(snapshot.disk.minFreeBytes, defaultConfig("").upload.minFreeBytes);
  assertEquals(snapshot.associations, { active: 1, total: 9, rejected: 2 });
  // "sending" is shown as "uploading"; the error after the last success starts the failing run.
  assertEquals(snapshot.upload.state, "uploading");
  assertEquals(snapshot.upload.failingSince, "1970-01-01T00:00:02.000Z");
  assertEquals(snapshot.upload.inFlight, 2);
  // The settings view never carries the secret, only that one is stored.
  assertEquals(snapshot.settings.authKind, "basic");
  assertEquals(snapshot.settings.username, "clinic");
  assert(snapshot.settings.secretStored);
  assert(!JSON.stringify(snapshot).includes("s3cret"));
});

Deno.test("snapshot: patient names shown when logPatientDetails is on", () => {
  const snapshot = createStatusSource(inputs({ logPatientDetails: true })).snapshot();
  assertEquals(snapshot.studies[0]!.patientName, "DOE^JANE");
});

Deno.test("actions are passed on to the inputs", async () => {
  const saved: UploadSettingsInput[] = [];
  const source = createStatusSource(inputs({
    saveUploadSettings: (settings) => {
      saved.push(settings);
      return Promise.resolve();
    },
  }));
  assertEquals(await source.retryFailed(), 5);
  assertEquals(await source.retryFailed("1.2.3"), 1);
  assertEquals(await source.testConnection(), { ok: true, message: "fine" });
  await source.saveUploadSettings({ url: "https://x.example/dw", authKind: "none" });
  assertEquals(saved, [{ url: "https://x.example/dw", authKind: "none" }]);
});
