/**
 * What the page says in the cases clinic staff met: no network address (amber, not "All good"),
 * every address marked with its range, a CA file problem named in red instead of "unreachable".
 */
import { assert, assertEquals, assertStringIncludes } from "../support/assert.ts";
import { headline, toApiStatus } from "../../src/status/api.ts";
import { renderLive } from "../../src/status/page.ts";
import { createStatusSource, type StatusInputs } from "../../src/status/source.ts";
import { defaultConfig } from "../../src/config/types.ts";
import { sampleSnapshot } from "./fake_source.ts";

Deno.test("headline: no usable address at all is amber, not All good", () => {
  const now = new Date(2026, 10, 28, 10, 30);
  const s = sampleSnapshot(now);
  s.queue.failed = 0;
  assertEquals(headline(s, now).level, "green");
  s.modality.addresses = [{ address: "169.254.10.2", interfaceName: "Wi-Fi", linkLocal: true }];
  assertEquals(headline(s, now).level, "amber");
  assertEquals(headline(s, now).title, "No network address: modalities cannot reach this PC");
  s.modality.addresses = [];
  assertEquals(headline(s, now).level, "amber");
  const html = renderLive(s, now).value;
  assertStringIncludes(html, "None found: connect this PC to the clinic network.");
});

Deno.test("page: every address with its adapter and range", () => {
  const s = sampleSnapshot();
  s.modality.addresses = [
    { address: "192.168.1.20", interfaceName: "Ethernet", linkLocal: false },
    { address: "130.92.40.7", interfaceName: "Hospital LAN", linkLocal: false, kind: "public" },
    { address: "100.64.0.9", interfaceName: "VPN", linkLocal: false },
    { address: "169.254.10.2", interfaceName: "Wi-Fi", linkLocal: true },
  ];
  const html = renderLive(s).value;
  assertStringIncludes(html, '192.168.1.20 <span class="iface">(Ethernet, private)</span>');
  assertStringIncludes(html, '130.92.40.7 <span class="iface">(Hospital LAN, public)</span>');
  assertStringIncludes(html, "(VPN, shared range 100.64/10 (carrier-grade NAT or VPN))");
  assertStringIncludes(html, "169.254.10.2 (Wi-Fi): link-local");
});

Deno.test("headline: a CA file problem is red and named, before 'unreachable'", () => {
  const now = new Date(2026, 10, 28, 10, 30);
  const s = sampleSnapshot(now);
  s.upload.state = "retrying";
  s.upload.settingsProblem = {
    title: "The CA certificate file C:\\gw\\ca.pem was not found",
    fix: "put it there.",
  };
  const h = headline(s, now);
  assertEquals(h.level, "red");
  assertEquals(h.title, "The CA certificate file C:\\gw\\ca.pem was not found");
  assertStringIncludes(h.detail, "will be sent once this is fixed. To fix it: put it there.");
  assert(!h.title.includes("unreachable"));
});

function inputs(caFile: string, lastError: string | null): StatusInputs {
  const upload = { ...defaultConfig("/gw").upload, url: "https://pacs.example.org/dicom-web", caFile };
  return {
    aeTitle: "GW",
    dicomPort: 11112,
    dataDir: "/nonexistent-data-dir",
    logPatientDetails: false,
    startedAt: 0,
    addresses: () => [{ address: "192.168.1.20", interfaceName: "eth0", linkLocal: false }],
    uploadHealth: () => ({
      configured: true,
      state: "retrying",
      lastSuccessAt: null,
      lastError,
      lastErrorAt: lastError === null ? null : 1000,
      nextRetryAt: null,
      inFlight: 0,
    }),
    uploadConfig: () => upload,
    queueCounts: () => ({ pending: 3, sending: 0, delivered: 0, failed: 0, bytesPending: 1234 }),
    recentStudies: () => [],
    failures: () => [],
    associations: () => ({ active: 0, total: 0, rejected: 0 }),
    retryFailed: () => 0,
    testConnection: () => Promise.resolve({ ok: true, message: "fine" }),
    saveUploadSettings: () => Promise.resolve(),
  };
}

Deno.test("source: a missing CA file and a wrong CA certificate show as such on the page", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const missing = createStatusSource(inputs(`${dir}/ca.pem`, "TLS handshake failed (cannot read)"));
    // The file check runs in the background: give it a moment.
    for (let i = 0; i < 50 && missing.snapshot().upload.settingsProblem === null; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const snap = missing.snapshot();
    assertStringIncludes(snap.upload.settingsProblem!.title, `${dir}/ca.pem was not found`);
    assertStringIncludes(headline(snap).title, "was not found");

    await Deno.writeTextFile(`${dir}/ca.pem`, "x");
    const wrong = createStatusSource(
      inputs(
        "",
        "TLS: the server's certificate is not signed by an authority we trust (invalid peer certificate: UnknownIssuer)",
      ),
    );
    assertEquals(
      wrong.snapshot().upload.settingsProblem,
      null,
      "no CA file configured: not a CA file problem",
    );
    const pem = await new Deno.Command("openssl", {
      args: ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"].concat([
        "-keyout",
        `${dir}/ca.key`,
        "-out",
        `${dir}/ca.pem`,
        "-days",
        "1",
        "-subj",
        "/CN=t",
      ]),
      stdout: "null",
      stderr: "null",
    }).output().catch(() => null);
    if (pem?.success) {
      const withCa = createStatusSource(
        inputs(`${dir}/ca.pem`, "TLS: not trusted (invalid peer certificate: UnknownIssuer)"),
      );
      await new Promise((r) => setTimeout(r, 100));
      assertStringIncludes(withCa.snapshot().upload.settingsProblem!.title, "is the wrong certificate");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("page: the last alerts are listed with whether they were sent; /api/status carries them", () => {
  const s = sampleSnapshot();
  s.alerts = [
    {
      at: new Date().toISOString(),
      kind: "disk-low",
      phase: "clears",
      title: "Disk space back above the minimum",
      delivery: "sent",
    },
    {
      at: new Date().toISOString(),
      kind: "disk-low",
      phase: "begins",
      title: "Disk almost full: <b>1 GB</b> free",
      delivery: "waiting",
    },
  ];
  const html = renderLive(s).value;
  assertStringIncludes(html, "Resolved: Disk space back above the minimum");
  assertStringIncludes(html, "Disk almost full: &lt;b&gt;1 GB&lt;/b&gt; free");
  assertStringIncludes(html, "waiting (retried until the webhook answers)");
  assertEquals(toApiStatus(s).alerts.length, 2);
  const none = sampleSnapshot();
  assertStringIncludes(renderLive(none).value, '<section class="wide" id="alerts">');
});
