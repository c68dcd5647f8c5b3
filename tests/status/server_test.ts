import { assert, assertEquals, assertStringIncludes } from "../support/assert.ts";
import { acceptedHostNames, startStatusServer, type StatusServer } from "../../src/status/server.ts";
import { headline, toApiStatus } from "../../src/status/api.ts";
import { escapeLabel, renderMetrics } from "../../src/status/metrics.ts";
import { escapeHtml, html, renderLive } from "../../src/status/page.ts";
import { FakeSource, sampleSnapshot } from "./fake_source.ts";

const TOKEN = "test-token-0123456789abcdef";

async function withServer(
  fn: (server: StatusServer, source: FakeSource) => Promise<void>,
  source = new FakeSource(),
): Promise<void> {
  const server = startStatusServer({ hostname: "127.0.0.1", port: 0, source, csrfToken: TOKEN });
  try {
    await fn(server, source);
  } finally {
    await server.close();
  }
}

/** Sends raw HTTP/1.1 bytes (to control the Host header exactly); returns status and body. */
async function raw(port: number, request: string): Promise<{ status: number; head: string; body: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(request));
  let text = "";
  const buf = new Uint8Array(65536);
  while (true) {
    const n = await conn.read(buf);
    if (n === null) break;
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  conn.close();
  const [head = "", body = ""] = text.split("\r\n\r\n", 2);
  return { status: Number(head.split(" ")[1]), head, body };
}

function post(server: StatusServer, path: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(new URL(path, server.url), {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": TOKEN, ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

Deno.test("status server binds 127.0.0.1 and serves the page, live part, JSON and metrics", async () => {
  await withServer(async (server, source) => {
    assert(server.url.startsWith("http://127.0.0.1:"), server.url);
    const page = await fetch(server.url);
    assertEquals(page.status, 200);
    assertEquals(page.headers.get("content-type"), "text/html; charset=utf-8");
    const body = await page.text();
    assertStringIncludes(body, `<meta name="csrf-token" content="${TOKEN}">`);
    assertStringIncludes(body, "DICOM_GATEWAY");
    assertStringIncludes(body, "192.168.1.20");
    assertStringIncludes(body, ">4104<");
    const csp = page.headers.get("content-security-policy")!;
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1];
    assert(nonce, csp);
    assertStringIncludes(body, `<script nonce="${nonce}">`);
    assertStringIncludes(csp, "frame-ancestors 'none'");
    assertEquals(page.headers.get("x-frame-options"), "DENY");

    const live = await fetch(new URL("/live", server.url));
    assertStringIncludes(await live.text(), 'id="headline"');
    const api = await fetch(new URL("/api/status", server.url));
    assertEquals(api.headers.get("content-type"), "application/json; charset=utf-8");
    assertEquals(await api.json(), JSON.parse(JSON.stringify(toApiStatus(source.snapshot()))));
  });
});

Deno.test("/api/status is the snapshot, field by field, and never carries secrets", async () => {
  const snap = sampleSnapshot();
  // A caller passing along more than the snapshot type declares must not leak it.
  const leaky = snap as unknown as Record<string, unknown>;
  leaky.config = { upload: { auth: { kind: "basic", username: "u", password: "hunter2" } } };
  (snap.settings as unknown as Record<string, unknown>).password = "hunter2";
  snap.upload.url = "https://user:hunter2@pacs.example.org/dicom-web?key=hunter2";
  await withServer(async (server) => {
    const res = await fetch(new URL("/api/status", server.url));
    const text = await res.text();
    assert(!text.includes("hunter2"), text);
    const body = JSON.parse(text);
    assertEquals(body.upload.url, "https://pacs.example.org/dicom-web");
    assertEquals(body.studies.length, 2);
    assertEquals(body.studies[0].studyInstanceUid, "1.2.826.0.1.3680043.8.498.1001");
    assertEquals(body.queue, {
      pending: 57,
      sending: 8,
      delivered: 1240,
      failed: 2,
      bytesPending: 34_500_000,
    });
    // "alerts" (issue 12): the last alerts, as the page lists them.
    assertEquals(Object.keys(body).sort(), [
      "alerts",
      "associations",
      "disk",
      "failures",
      "modality",
      "queue",
      "settings",
      "startedAt",
      "studies",
      "upload",
      "version",
    ]);
    const page = await (await fetch(server.url)).text();
    assert(!page.includes("hunter2"));
  }, new FakeSource(snap));
});

Deno.test("DNS rebinding: a foreign Host header gets 421, on every route", async () => {
  await withServer(async (server) => {
    const port = server.port;
    for (const path of ["/", "/api/status", "/metrics", "/live"]) {
      const r = await raw(
        port,
        `GET ${path} HTTP/1.1\r\nHost: evil.example:${port}\r\nConnection: close\r\n\r\n`,
      );
      assertEquals(r.status, 421, path);
      assert(!r.body.includes("DICOM_GATEWAY"), path);
    }
    const wrongPort = await raw(port, `GET / HTTP/1.1\r\nHost: 127.0.0.1:1\r\nConnection: close\r\n\r\n`);
    assertEquals(wrongPort.status, 421);
    const noPort = await raw(port, `GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
    assertEquals(noPort.status, 421);
    const rebound = await raw(
      port,
      `POST /api/retry HTTP/1.1\r\nHost: attacker.example:${port}\r\nContent-Type: application/json\r\n` +
        `X-CSRF-Token: ${TOKEN}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`,
    );
    assertEquals(rebound.status, 421);
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, `LOCALHOST:${port}`]) {
      const ok = await raw(port, `GET /api/status HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      assertEquals(ok.status, 200, host);
    }
  });
});

Deno.test("bound to 0.0.0.0: this PC's own addresses are accepted in Host, names still refused", async () => {
  assertEquals(
    [...acceptedHostNames("0.0.0.0", [], ["192.168.1.20", "fd00::5", "fe80::1%eth0"])].sort(),
    ["127.0.0.1", "192.168.1.20", "[::1]", "[fd00::5]", "localhost"],
  );
  assertEquals([...acceptedHostNames("127.0.0.1", [], ["192.168.1.20"])].sort(), [
    "127.0.0.1",
    "[::1]",
    "localhost",
  ]);
  const server = startStatusServer({
    hostname: "0.0.0.0",
    port: 0,
    source: new FakeSource(),
    csrfToken: TOKEN,
    interfaceAddresses: ["192.168.1.20"],
  });
  try {
    const byAddress = await raw(
      server.port,
      `GET /api/status HTTP/1.1\r\nHost: 192.168.1.20:${server.port}\r\nConnection: close\r\n\r\n`,
    );
    assertEquals(byAddress.status, 200);
    const byName = await raw(
      server.port,
      `GET /api/status HTTP/1.1\r\nHost: evil.example:${server.port}\r\nConnection: close\r\n\r\n`,
    );
    assertEquals(byName.status, 421);
  } finally {
    await server.close();
  }
});

Deno.test("CSRF: POSTs need the token, JSON, and our own origin", async () => {
  await withServer(async (server, source) => {
    const own = server.url.replace(/\/$/, "");
    const cases: [string, Record<string, string>, number][] = [
      ["no token", { "X-CSRF-Token": "" }, 403],
      ["wrong token", { "X-CSRF-Token": "guess" }, 403],
      ["foreign origin", { Origin: "http://evil.example" }, 403],
      ["other local port", { Origin: `http://127.0.0.1:${server.port + 1}` }, 403],
      ["null origin", { Origin: "null" }, 403],
      ["cross-site fetch", { "Sec-Fetch-Site": "cross-site" }, 403],
      ["same-site other port", { "Sec-Fetch-Site": "same-site" }, 403],
      ["form content type", { "Content-Type": "text/plain" }, 415],
    ];
    for (const [name, headers, status] of cases) {
      const res = await post(server, "/api/retry", {}, headers);
      assertEquals(res.status, status, name);
      const body = await res.json();
      assertEquals(body.ok, false, name);
      assertStringIncludes(body.message, "Refused", name);
    }
    assertEquals(source.retried, [], "no refused request reached the gateway");
    // A request without the token header at all.
    const bare = await fetch(new URL("/api/retry", server.url), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: "{}",
    });
    assertEquals(bare.status, 403);
    await bare.body?.cancel();
    assertEquals(source.retried, []);

    const ok = await post(server, "/api/retry", {}, { Origin: own, "Sec-Fetch-Site": "same-origin" });
    assertEquals(ok.status, 200);
    assertEquals(await ok.json(), { ok: true, retried: 2, message: "2 images are queued to be sent again." });
    const one = await post(server, "/api/retry", { studyInstanceUid: "1.2.3" }, {
      Origin: `http://localhost:${server.port}`,
    });
    assertEquals((await one.json()).retried, 0);
    assertEquals(source.retried, [undefined, "1.2.3"]);
  });
});

Deno.test("actions: test connection and settings, with plain errors", async () => {
  await withServer(async (server, source) => {
    const t = await post(server, "/api/test-connection", {});
    assertEquals(await t.json(), {
      ok: true,
      message: "Connected: the central server accepted our sign-in (HTTP 200).",
    });
    assertEquals(source.tests, 1);

    const settings = {
      url: "https://pacs.example.org/dicom-web",
      authKind: "basic",
      username: "clinic",
      password: "pw",
      caFile: "",
    };
    const s = await post(server, "/api/settings", settings);
    assertEquals(s.status, 200);
    assertEquals((await s.json()).ok, true);
    assertEquals(source.saved, [settings]);

    const bad = await post(server, "/api/settings", { url: "http://pacs.example.org", authKind: "none" });
    assertEquals(bad.status, 400);
    assertStringIncludes((await bad.json()).message, "https://");

    const notJson = await post(server, "/api/settings", "{nope");
    assertEquals(notJson.status, 400);
    assertEquals((await notJson.json()).message, "the body is not valid JSON");
    const wrongType = await post(server, "/api/settings", { url: 5 });
    assertEquals(wrongType.status, 400);
    await wrongType.body?.cancel();
    const huge = await post(server, "/api/settings", { url: "x".repeat(70_000) });
    assertEquals(huge.status, 413);
    await huge.body?.cancel();
    assertEquals(source.saved.length, 1);

    const get = await fetch(new URL("/api/retry", server.url));
    assertEquals(get.status, 405);
    await get.body?.cancel();
    const missing = await fetch(new URL("/nope", server.url));
    assertEquals(missing.status, 404);
    await missing.body?.cancel();
  });
});

Deno.test("everything from the wire is HTML-escaped", async () => {
  await withServer(async (server) => {
    const page = await (await fetch(server.url)).text();
    assert(!page.includes("<script>alert("), "patient name injected a script");
    assert(!page.includes("<img src=x"), "failure reason injected markup");
    assert(!page.includes("<b>US</b>"));
    assertStringIncludes(page, "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;");
    assertStringIncludes(page, "&lt;img src=x onerror=alert(1)&gt;");
  });
  const snap = sampleSnapshot();
  snap.modality.aeTitle = `"><svg onload=x>`;
  snap.settings.username = `"><b>`;
  const live = renderLive(snap).value;
  assert(!live.includes("<svg"));
  assertEquals(escapeHtml(`<a href="x">'&'</a>`), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  assertEquals(
    html`<p title="${'"x"'}">${"<i>"}${html`<i>ok</i>`}${["<", html`&amp;`]}</p>`.value,
    '<p title="&quot;x&quot;">&lt;i&gt;<i>ok</i>&lt;&amp;</p>',
  );
});

Deno.test("metrics are valid Prometheus text with the gateway's numbers", async () => {
  await withServer(async (server) => {
    const res = await fetch(new URL("/metrics", server.url));
    assertEquals(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    const text = await res.text();
    const sample =
      /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*",?)*\})? -?[0-9.e+]+$/;
    for (const line of text.trimEnd().split("\n")) {
      if (line.startsWith("# HELP ") || line.startsWith("# TYPE ")) continue;
      assert(sample.test(line), `bad sample line: ${line}`);
    }
    for (
      const expected of [
        "dicom_gateway_up 1",
        'dicom_gateway_instances{state="pending"} 57',
        'dicom_gateway_instances{state="sending"} 8',
        'dicom_gateway_instances{state="delivered"} 1240',
        'dicom_gateway_instances{state="failed"} 2',
        "dicom_gateway_bytes_pending 34500000",
        "dicom_gateway_associations_active 1",
        "dicom_gateway_associations_total 37",
        "dicom_gateway_associations_rejected_total 1",
        'dicom_gateway_upload_state{state="uploading"} 1',
        'dicom_gateway_upload_state{state="retrying"} 0',
        "dicom_gateway_disk_free_bytes 212000000000",
        "# TYPE dicom_gateway_associations_total counter",
      ]
    ) {
      assertStringIncludes(text, expected + "\n");
    }
    assert(/^dicom_gateway_upload_last_success_timestamp_seconds \d+(\.\d+)?$/m.test(text));
  });
  assertEquals(escapeLabel('CT "A"\\x\n'), 'CT \\"A\\"\\\\x\\n');
  const snap = sampleSnapshot();
  snap.upload.lastSuccessAt = null;
  snap.disk.freeBytes = null;
  const text = renderMetrics(snap);
  assert(!text.includes("last_success"));
  assert(!text.includes("disk_free"));
});

Deno.test("headline: the most urgent thing first, in plain words", () => {
  const now = new Date(2026, 10, 28, 10, 30);
  const base = sampleSnapshot(now);
  const at = (h: number, m: number) => new Date(2026, 10, 28, h, m).toISOString();
  base.queue.failed = 0;
  assertEquals(headline(base, now).level, "green");
  assertEquals(headline(base, now).title, "All good: receiving and uploading");
  assertStringIncludes(headline(base, now).detail, "Sending 65 images (34.5 MB) now.");

  const idle = structuredClone(base);
  idle.queue = { pending: 0, sending: 0, delivered: 10, failed: 0, bytesPending: 0 };
  idle.upload.lastSuccessAt = at(10, 2);
  assertEquals(headline(idle, now).detail, "Everything received has been delivered. Last delivery at 10:02.");

  const retrying = structuredClone(base);
  retrying.upload = {
    ...retrying.upload,
    state: "retrying",
    failingSince: at(10, 2),
    nextRetryAt: at(10, 35),
    lastError: "connection refused",
  };
  const r = headline(retrying, now);
  assertEquals(r.level, "amber");
  assertEquals(r.title, "Waiting to retry: central server unreachable since 10:02");
  assertStringIncludes(r.detail, "kept safely on this PC and will be sent automatically");
  assertStringIncludes(r.detail, "Next attempt at 10:35.");

  const creds = structuredClone(base);
  creds.upload.state = "credentials-rejected";
  assertEquals(headline(creds, now).level, "red");
  assertEquals(headline(creds, now).title, "Credentials rejected: the central server refused our sign-in");

  const none = structuredClone(base);
  none.upload.state = "not-configured";
  assertEquals(headline(none, now).title, "Receiving, but not uploading: no central server is set up");

  const failed = structuredClone(base);
  failed.queue.failed = 1;
  assertEquals(headline(failed, now).title, "Receiving and uploading, but 1 image was refused");

  const full = structuredClone(creds);
  full.disk.freeBytes = 500_000_000;
  assertEquals(headline(full, now).level, "red");
  assertEquals(headline(full, now).title, "Disk almost full: only 500 MB free");
});

Deno.test("close() frees the port", async () => {
  const server = startStatusServer({ hostname: "127.0.0.1", port: 0, source: new FakeSource() });
  const port = server.port;
  await server.close();
  const again = startStatusServer({ hostname: "127.0.0.1", port, source: new FakeSource() });
  assertEquals(again.port, port);
  await again.close();
});

Deno.test("a port in use throws AddrInUse", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    let threw: unknown = null;
    try {
      const s = startStatusServer({
        hostname: "127.0.0.1",
        port: (listener.addr as Deno.NetAddr).port,
        source: new FakeSource(),
      });
      await s.close();
    } catch (e) {
      threw = e;
    }
    assert(threw instanceof Deno.errors.AddrInUse, String(threw));
  } finally {
    listener.close();
  }
});

Deno.test("/api/status keeps the SOP Instance UIDs re-sent within another study, field by field", () => {
  const change = {
    sopInstanceUid: "1.2.3",
    previousStudyInstanceUid: "1.2.4",
    studyInstanceUid: "1.2.5",
    callingAeTitle: "CT1",
    at: "2026-12-01T00:00:00.000Z",
  };
  const snapshot = { ...sampleSnapshot(), studyChanges: [{ ...change, extra: "dropped" }] };
  assertEquals(toApiStatus(snapshot).studyChanges, [change]);
  assertEquals(toApiStatus(sampleSnapshot()).studyChanges, undefined);
});
