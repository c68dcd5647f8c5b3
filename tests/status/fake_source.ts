/**
 * A StatusSource holding realistic data, recording the actions the page asks for. The page and
 * the server are what is under test here; the real source is the gateway's.
 */
import type { StatusSnapshot, StatusSource, UploadSettingsInput } from "../../src/status/api.ts";
import { ConfigError } from "../../src/config/error.ts";

/** A snapshot of a busy morning: one study uploading, one with refused images, the server flaky. */
export function sampleSnapshot(now = new Date()): StatusSnapshot {
  const at = (minutesAgo: number) => new Date(now.getTime() - minutesAgo * 60_000).toISOString();
  return {
    version: "0.1.0",
    startedAt: at(95),
    modality: {
      aeTitle: "DICOM_GATEWAY",
      port: 4104,
      addresses: [
        { address: "192.168.1.20", interfaceName: "Ethernet", linkLocal: false },
        { address: "169.254.10.2", interfaceName: "Wi-Fi", linkLocal: true },
      ],
      hostname: "RECEPTION-PC",
    },
    queue: { pending: 57, sending: 8, delivered: 1240, failed: 2, bytesPending: 34_500_000 },
    studies: [
      {
        studyInstanceUid: "1.2.826.0.1.3680043.8.498.1001",
        patientName: "(hidden)",
        modality: "CT",
        studyDate: "20261128",
        description: "CT THORAX W/O CONTRAST",
        callingAeTitle: "CT_SCANNER",
        received: 120,
        delivered: 55,
        failed: 0,
        pending: 65,
        firstReceivedAt: at(4),
        lastReceivedAt: at(1),
        lastError: null,
      },
      {
        studyInstanceUid: "1.2.826.0.1.3680043.8.498.1000",
        patientName: "<script>alert('pwned')</script>",
        modality: "US",
        studyDate: "20261128",
        description: "ABDOMEN <b>US</b>",
        callingAeTitle: "US_ROOM2",
        received: 24,
        delivered: 22,
        failed: 2,
        pending: 0,
        firstReceivedAt: at(40),
        lastReceivedAt: at(35),
        lastError: "Server refused 2 images: 0xC122 SOP Class not supported",
      },
    ],
    failures: [
      {
        sopInstanceUid: "1.2.826.0.1.3680043.8.498.1000.23",
        studyInstanceUid: "1.2.826.0.1.3680043.8.498.1000",
        reason: "0xC122: Referenced SOP Class not supported <img src=x onerror=alert(1)>",
        at: at(34),
      },
      {
        sopInstanceUid: "1.2.826.0.1.3680043.8.498.1000.24",
        studyInstanceUid: "1.2.826.0.1.3680043.8.498.1000",
        reason: "0xC122: Referenced SOP Class not supported",
        at: at(34),
      },
    ],
    disk: {
      dataDir: "C:\\dicom-gateway\\data",
      freeBytes: 212_000_000_000,
      totalBytes: 476_000_000_000,
      minFreeBytes: 2 * 1024 ** 3,
    },
    upload: {
      configured: true,
      url: "https://pacs.example.org/dicom-web",
      state: "uploading",
      lastSuccessAt: at(0.2),
      lastError: "503 Service Unavailable (retried)",
      lastErrorAt: at(12),
      failingSince: null,
      nextRetryAt: null,
      inFlight: 2,
      settingsProblem: null,
    },
    associations: { active: 1, total: 37, rejected: 1 },
    alerts: [],
    settings: {
      url: "https://pacs.example.org/dicom-web",
      authKind: "basic",
      username: "clinic-42",
      headerName: "",
      tokenUrl: "",
      clientId: "",
      scope: "",
      caFile: "",
      secretStored: true,
    },
  };
}

/** A fake source: returns `snapshot`, records calls. */
export class FakeSource implements StatusSource {
  snap: StatusSnapshot;
  retried: (string | undefined)[] = [];
  saved: UploadSettingsInput[] = [];
  tests = 0;
  constructor(snap: StatusSnapshot = sampleSnapshot()) {
    this.snap = snap;
  }
  snapshot(): StatusSnapshot {
    return this.snap;
  }
  retryFailed(studyInstanceUid?: string): Promise<number> {
    this.retried.push(studyInstanceUid);
    const n = this.snap.queue.failed;
    this.snap = {
      ...this.snap,
      queue: { ...this.snap.queue, failed: 0, pending: this.snap.queue.pending + n },
    };
    return Promise.resolve(n);
  }
  testConnection(): Promise<{ ok: boolean; message: string }> {
    this.tests++;
    return Promise.resolve({
      ok: true,
      message: "Connected: the central server accepted our sign-in (HTTP 200).",
    });
  }
  saveUploadSettings(settings: UploadSettingsInput): Promise<void> {
    if (settings.url.startsWith("http://") && !settings.url.startsWith("http://127.0.0.1")) {
      return Promise.reject(new ConfigError("Server address must be an address starting with https://"));
    }
    this.saved.push(settings);
    return Promise.resolve();
  }
}
