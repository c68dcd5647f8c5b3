import { assert, assertEquals, assertStringIncludes } from "../support/assert.ts";
import { tempDir } from "../status/helpers.ts";
import { makeTestPki, type TestPki } from "../status/tls_fixture.ts";
import { environmentProxy } from "../../src/upload/http.ts";
import { interopTest } from "../support/tools.ts";
import { FakeSource } from "../status/fake_source.ts";
import { startStatusServer } from "../../src/status/server.ts";
import { type Config, defaultConfig, type UploadAuth } from "../../src/config/types.ts";
import { joinPath } from "../../src/platform/fs.ts";
import {
  checkAddresses,
  checkClock,
  checkCredentials,
  checkDataDir,
  checkDicomPort,
  checkResolves,
  checkStatusPort,
  checkTls,
  checkUploadAddress,
  checkVerificationSearch,
  formatCheck,
  formatSummary,
  runDoctor,
} from "../../src/cli/doctor.ts";

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

const BASIC_OK = `Basic ${btoa("clinic:right")}`;

/** A DICOMweb-ish HTTPS server: QIDO answers 200 for the right sign-in, 401 otherwise; an OAuth2 token endpoint. */
function startArchive(
  pki: TestPki,
  options: { wrongName?: boolean; dateOffsetMs?: number } = {},
): { url: string; port: number; close(): Promise<void>; requests: string[] } {
  const requests: string[] = [];
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: options.wrongName ? pki.wrongNameCert : pki.cert,
    key: options.wrongName ? pki.wrongNameKey : pki.key,
    onListen: () => {},
  }, async (req) => {
    const u = new URL(req.url);
    requests.push(`${req.method} ${u.pathname}${u.search}`);
    const headers = new Headers();
    if (options.dateOffsetMs) headers.set("date", new Date(Date.now() + options.dateOffsetMs).toUTCString());
    if (u.pathname === "/token" && req.method === "POST") {
      const form = new URLSearchParams(await req.text());
      if (form.get("client_id") === "app" && form.get("client_secret") === "right") {
        headers.set("content-type", "application/json");
        return new Response(
          JSON.stringify({ access_token: "tok-123", expires_in: 3600, token_type: "Bearer" }),
          {
            headers,
          },
        );
      }
      return new Response(JSON.stringify({ error: "invalid_client" }), { status: 401, headers });
    }
    const search = /^\/dicom-web\/studies\/[^/]+\/series\/[^/]+\/instances$/.test(u.pathname);
    if (u.pathname !== "/dicom-web/studies" && !search) {
      return new Response("not found", { status: 404, headers });
    }
    const auth = req.headers.get("authorization");
    if (auth === BASIC_OK || auth === "Bearer tok-123" || req.headers.get("x-api-key") === "k3y") {
      headers.set("content-type", "application/dicom+json");
      return new Response("[]", { status: 200, headers });
    }
    return new Response("unauthorized", {
      status: 401,
      headers: { ...Object.fromEntries(headers), "www-authenticate": "Basic" },
    });
  });
  const port = server.addr.port;
  return { url: `https://127.0.0.1:${port}/dicom-web`, port, close: () => server.shutdown(), requests };
}

function uploadConfig(url: string, auth: UploadAuth, caFile: string): Config["upload"] {
  return { ...defaultConfig("/tmp").upload, url, auth, caFile };
}

Deno.test("formatting: tick or cross, indented detail and the fix", () => {
  assertEquals(formatCheck({ ok: true, title: "DICOM port 4104 is free for the gateway" }), [
    "✔ DICOM port 4104 is free for the gateway",
  ]);
  assertEquals(formatCheck({ ok: false, title: "Broken", detail: "a\nb", fix: "do this." }), [
    "✘ Broken",
    "    a",
    "    b",
    "    Fix: do this.",
  ]);
  assertEquals(formatSummary([{ ok: true, title: "x" }]), "All checks passed.");
  assertStringIncludes(
    formatSummary([{ ok: false, title: "x" }, { ok: false, title: "y" }]),
    "2 problems found",
  );
});

Deno.test("DICOM port: free, held by another program, or held by a running gateway", async () => {
  const port = freePort();
  assertEquals((await checkDicomPort("127.0.0.1", port, 0)).ok, true);
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  try {
    const busy = await checkDicomPort("127.0.0.1", port, freePort());
    assertEquals(busy.ok, false);
    assertStringIncludes(busy.title, `DICOM port ${port} is already in use by another program`);
    assertStringIncludes(busy.detail!, "another copy of dicom-gateway");
    // A running gateway's status page answers: that is the gateway doing its job.
    const status = startStatusServer({ hostname: "127.0.0.1", port: 0, source: new FakeSource() });
    try {
      const ours = await checkDicomPort("127.0.0.1", port, status.port);
      assertEquals(ours.ok, true);
      assertStringIncludes(ours.title, "in use by the running dicom-gateway (AE title DICOM_GATEWAY)");
      const statusCheck = await checkStatusPort("127.0.0.1", status.port);
      assertEquals(statusCheck.ok, true);
      assertStringIncludes(statusCheck.title, "Status page of the running dicom-gateway answers");
    } finally {
      await status.close();
    }
    const other = await checkStatusPort("127.0.0.1", port);
    assertEquals(other.ok, false);
    assertStringIncludes(other.fix!, "[status]");
  } finally {
    listener.close();
  }
  assertEquals((await checkStatusPort("127.0.0.1", 0)).title, "Status page is turned off (status port 0)");
});

Deno.test("data folder: created and written, free space compared with the minimum", async () => {
  const dir = joinPath(await tempDir(), "new", "data");
  const ok = await checkDataDir(dir, 0);
  assertEquals(ok.map((r) => r.ok), [true, true]);
  assertStringIncludes(ok[1]!.title, "free on the data disk");
  assertEquals([...Deno.readDirSync(dir)], [], "the probe file is removed");
  const full = await checkDataDir(dir, Number.MAX_SAFE_INTEGER);
  assertEquals(full[1]!.ok, false);
  assertStringIncludes(full[1]!.title, "below the");
  const file = joinPath(await tempDir(), "a-file");
  await Deno.writeTextFile(file, "");
  const bad = await checkDataDir(joinPath(file, "data"), 0);
  assertEquals(bad.length, 1);
  assertEquals(bad[0]!.ok, false);
  assertStringIncludes(bad[0]!.title, "Data folder cannot be written");
});

Deno.test("addresses: private IPv4 found, link-local and none explained", () => {
  const ok = checkAddresses([{ address: "192.168.1.20", interfaceName: "Ethernet", linkLocal: false }]);
  assertEquals(ok.ok, true);
  assertEquals(ok.title, "This PC's address for the modality: 192.168.1.20 (Ethernet)");
  assertStringIncludes(ok.detail!, "DHCP reservation");
  const none = checkAddresses([{ address: "169.254.3.4", interfaceName: "Wi-Fi", linkLocal: true }]);
  assertEquals(none.ok, false);
  assertStringIncludes(none.detail!, "169.254.3.4");
});

Deno.test("name resolution: IP literals and localhost need none; a failing lookup says what to check", async () => {
  assertEquals((await checkResolves("https://127.0.0.1:8443/dw")).ok, true);
  assertEquals((await checkResolves("http://localhost:8042/dw")).ok, true);
  const found = await checkResolves("https://pacs.example.org/dw", {
    resolve: () => Promise.resolve(["203.0.113.7"]),
  });
  assertEquals(found, {
    ok: true,
    title: "The central server's name pacs.example.org resolves to 203.0.113.7",
  });
  const missing = await checkResolves("https://pacs.example.org/dw", {
    resolve: () => Promise.reject(new Error("no record found for Query { name: pacs.example.org }")),
  });
  assertEquals(missing.ok, false);
  assertEquals(missing.title, "The central server's name pacs.example.org cannot be found");
  assertStringIncludes(missing.fix!, "proxy");
  const viaProxy = await checkResolves("https://pacs.example.org/dw", {
    proxy: "http://proxy.clinic.local:3128",
    resolve: (h) => Promise.resolve([h === "proxy.clinic.local" ? "10.0.0.3" : "?"]),
  });
  assertEquals(viaProxy.title, "The proxy's name proxy.clinic.local resolves to 10.0.0.3");
});

interopTest(
  "TLS: a private CA is refused until ca_file names it; a wrong name and a closed port are explained",
  ["openssl"],
  async () => {
    const pki = await makeTestPki();
    const archive = startArchive(pki);
    const wrong = startArchive(pki, { wrongName: true });
    try {
      const untrusted = await checkTls(archive.url);
      assertEquals(untrusted.ok, false);
      assertStringIncludes(untrusted.title, "is not trusted by this PC");
      assertStringIncludes(untrusted.fix!, "ca_file");
      const trusted = await checkTls(archive.url, { caFile: pki.caFile });
      assertEquals(trusted, { ok: true, title: `TLS certificate of 127.0.0.1:${archive.port} verifies` });
      const otherName = await checkTls(wrong.url, { caFile: pki.caFile });
      assertEquals(otherName.ok, false);
      assertStringIncludes(otherName.title, "is for another name");
      const missingCa = await checkTls(archive.url, { caFile: joinPath(pki.dir, "nope.pem") });
      assertStringIncludes(missingCa.title, "cannot be read");
      const closed = await checkTls(`https://127.0.0.1:${freePort()}/dw`, { caFile: pki.caFile });
      assertEquals(closed.ok, false);
      assertStringIncludes(closed.title, "Nothing answers at 127.0.0.1");
      assertEquals((await checkTls("http://127.0.0.1:1/dw")).ok, true);
    } finally {
      await archive.close();
      await wrong.close();
    }
  },
);

interopTest("credentials: a QIDO search is accepted with the right sign-in and refused with a wrong one", [
  "openssl",
], async () => {
  const pki = await makeTestPki();
  const archive = startArchive(pki);
  try {
    const good = await checkCredentials(
      uploadConfig(archive.url, { kind: "basic", username: "clinic", password: "right" }, pki.caFile),
    );
    assertEquals(good.result.ok, true);
    assertEquals(good.result.title, "The central server accepted our sign-in (HTTP 200 OK)");
    assert(good.serverDate !== null);
    assertEquals(archive.requests.at(-1), "GET /dicom-web/studies?limit=1");

    const bad = await checkCredentials(
      uploadConfig(archive.url, { kind: "basic", username: "clinic", password: "wrong" }, pki.caFile),
    );
    assertEquals(bad.result.ok, false);
    assertEquals(bad.result.title, "Credentials rejected by the central server (HTTP 401 Unauthorized)");
    assert(!JSON.stringify(bad).includes("wrong"), "the password must not appear in the report");

    const none = await checkCredentials(uploadConfig(archive.url, { kind: "none" }, pki.caFile));
    assertStringIncludes(none.result.fix!, "needs a sign-in");

    const header = await checkCredentials(
      uploadConfig(archive.url, { kind: "header", name: "X-API-Key", value: "k3y" }, pki.caFile),
    );
    assertEquals(header.result.ok, true);

    const tokenUrl = `https://127.0.0.1:${archive.port}/token`;
    const oauth = await checkCredentials(uploadConfig(archive.url, {
      kind: "oauth2",
      tokenUrl,
      clientId: "app",
      clientSecret: "right",
      scope: "",
    }, pki.caFile));
    assertEquals(oauth.result.ok, true, JSON.stringify(oauth));
    const oauthBad = await checkCredentials(uploadConfig(archive.url, {
      kind: "oauth2",
      tokenUrl,
      clientId: "app",
      clientSecret: "nope",
      scope: "",
    }, pki.caFile));
    assertEquals(oauthBad.result.ok, false);
    assertEquals(oauthBad.result.title, "The sign-in service refused the client id or secret");

    const notRoot = await checkCredentials(
      uploadConfig(`https://127.0.0.1:${archive.port}/wrong-path`, { kind: "none" }, pki.caFile),
    );
    assertStringIncludes(notRoot.result.title, "is not a DICOMweb root (HTTP 404");
  } finally {
    await archive.close();
  }
});

Deno.test("clock: implausible year, drift from the server's Date header, or fine", () => {
  const now = new Date("2026-11-28T10:00:00Z");
  assertEquals(checkClock(new Date("2001-01-01T00:00:00Z"), null).ok, false);
  assertEquals(checkClock(now, null).ok, true);
  assertEquals(checkClock(now, new Date("2026-11-28T10:01:00Z").toUTCString()).ok, true);
  const drift = checkClock(now, new Date("2026-11-28T10:40:00Z").toUTCString());
  assertEquals(drift.ok, false);
  assertEquals(drift.title, "This PC's clock is 40 minutes behind the central server's");
  assertStringIncludes(drift.fix!, "Set time automatically");
});

function doctorConfig(dir: string, upload: Config["upload"]): Config {
  return {
    ...defaultConfig(dir),
    port: freePort(),
    statusPort: freePort(),
    bindAddress: "127.0.0.1",
    upload,
  };
}

const LAN: Deno.NetworkInterfaceInfo[] = [{
  family: "IPv4",
  name: "Ethernet",
  address: "192.168.1.20",
  netmask: "255.255.255.0",
  scopeid: null,
  cidr: "192.168.1.20/24",
  mac: "00:11:22:33:44:55",
}];

interopTest(
  "runDoctor against a real HTTPS archive: all ticks and exit 0, then a wrong password and exit 1",
  ["openssl"],
  async () => {
    const pki = await makeTestPki();
    const archive = startArchive(pki);
    const skewed = startArchive(pki, { dateOffsetMs: 3 * 60 * 60 * 1000 });
    try {
      const dir = await tempDir();
      const lines: string[] = [];
      const good = doctorConfig(
        dir,
        uploadConfig(archive.url, { kind: "basic", username: "clinic", password: "right" }, pki.caFile),
      );
      good.upload.minFreeBytes = 0;
      const code = await runDoctor(good, { write: (l) => lines.push(l), interfaces: LAN });
      const checks = lines.filter((l) => /^[✔✘]/.test(l));
      assertEquals(code, 0, lines.join("\n"));
      assert(checks.every((l) => l.startsWith("✔")), lines.join("\n"));
      // 9 checks, plus the verification search (QIDO-RS) and the upload compression line.
      assertEquals(checks.length, 11, lines.join("\n"));
      assertEquals(lines.at(-1), "All checks passed.");
      assert(checks.some((l) => l.includes("Clock agrees with the central server's")));

      const badLines: string[] = [];
      const bad = doctorConfig(
        dir,
        uploadConfig(skewed.url, { kind: "basic", username: "clinic", password: "wrong" }, pki.caFile),
      );
      bad.upload.minFreeBytes = 0;
      assertEquals(await runDoctor(bad, { write: (l) => badLines.push(l), interfaces: [] }), 1);
      const crosses = badLines.filter((l) => l.startsWith("✘"));
      assertEquals(crosses, [
        "✘ No private network address found on this PC",
        "✘ Credentials rejected by the central server (HTTP 401 Unauthorized)",
        "✘ This PC's clock is 180 minutes behind the central server's",
      ]);
      assertStringIncludes(badLines.at(-1)!, "3 problems found");
    } finally {
      await archive.close();
      await skewed.close();
    }
  },
);

Deno.test("runDoctor without an upload destination says so and skips the network checks", async () => {
  const dir = await tempDir();
  const lines: string[] = [];
  const config = doctorConfig(dir, { ...defaultConfig(dir).upload, minFreeBytes: 0 });
  assertEquals(await runDoctor(config, { write: (l) => lines.push(l), interfaces: LAN }), 1);
  const crosses = lines.filter((l) => l.startsWith("✘"));
  assertEquals(crosses, [
    "✘ No central server is set up: images are received and kept here, but not uploaded",
  ]);
});

Deno.test("runDoctor follows HTTPS_PROXY from the environment, as the uploader's fetch does", async () => {
  const dir = await tempDir();
  const lines: string[] = [];
  const config = doctorConfig(dir, {
    ...defaultConfig(dir).upload,
    url: "https://archive.invalid/dicom-web",
    minFreeBytes: 0,
  });
  const env: Record<string, string> = { HTTPS_PROXY: "http://proxy.clinic.local:3128" };
  await runDoctor(config, {
    write: (l) => lines.push(l),
    interfaces: LAN,
    env: (name) => env[name],
    resolve: (h) => Promise.resolve([h === "proxy.clinic.local" ? "10.0.0.3" : "?"]),
    timeoutMs: 500,
  });
  assert(
    lines.includes("✔ The proxy's name proxy.clinic.local resolves to 10.0.0.3"),
    `no proxy line in:\n${lines.join("\n")}`,
  );
  assert(!lines.some((l) => l.includes("archive.invalid resolves")), lines.join("\n"));
});

Deno.test("environmentProxy: HTTPS_PROXY unless NO_PROXY names the host (suffix, *, port)", () => {
  const proxyFor = (url: string, env: Record<string, string>) => environmentProxy(url, (n) => env[n]);
  const P = "http://proxy:3128";
  assertEquals(proxyFor("https://pacs.example.com/dicom-web", {}), "");
  assertEquals(proxyFor("https://pacs.example.com/dicom-web", { HTTPS_PROXY: P }), P);
  assertEquals(proxyFor("https://pacs.example.com/dicom-web", { https_proxy: P }), P);
  assertEquals(proxyFor("http://pacs.example.com/dicom-web", { HTTPS_PROXY: P }), "");
  assertEquals(proxyFor("http://pacs.example.com/dicom-web", { HTTP_PROXY: P }), P);
  for (
    const noProxy of [
      "*",
      "example.com",
      ".example.com",
      "*.example.com",
      "pacs.example.com",
      "x, pacs.example.com:443",
    ]
  ) {
    assertEquals(proxyFor("https://pacs.example.com/x", { HTTPS_PROXY: P, NO_PROXY: noProxy }), "", noProxy);
  }
  for (const noProxy of ["other.com", "ample.com", "pacs.example.com:8443", "example.co"]) {
    assertEquals(proxyFor("https://pacs.example.com/x", { HTTPS_PROXY: P, NO_PROXY: noProxy }), P, noProxy);
  }
  assertEquals(proxyFor("https://10.1.2.3:8443/x", { HTTPS_PROXY: P, no_proxy: "10.1.2.3" }), "");
  assertEquals(proxyFor("https://[fd00::1]/x", { HTTPS_PROXY: P, NO_PROXY: "[fd00::1]" }), "");
});

/** A plain-http DICOMweb-ish server on loopback whose answer to the QIDO search is scripted. */
function scriptedArchive(answer: () => Response): { url: string; seen: string[]; close(): Promise<void> } {
  const seen: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const u = new URL(req.url);
    seen.push(`${req.method} ${u.pathname}${u.search}`);
    return answer();
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/dicom-web`,
    seen,
    close: () => server.shutdown(),
  };
}

Deno.test("credentials check: only a DICOM JSON answer is a ✔; 400, a web page or a redirect is a ✘ with why", async () => {
  const cases: { answer: () => Response; ok: boolean; title: string; says?: string }[] = [
    {
      answer: () => new Response("[]", { headers: { "content-type": "application/dicom+json" } }),
      ok: true,
      title: "The central server answered (no sign-in configured) (HTTP 200 OK)",
    },
    { answer: () => new Response(null, { status: 204 }), ok: true, title: "(HTTP 204 No Content)" },
    {
      answer: () => new Response("bad request", { status: 400 }),
      ok: false,
      title: "The central server's answer to a search is not DICOMweb (HTTP 400 Bad Request)",
      says: "not a DICOM JSON search result",
    },
    {
      answer: () =>
        new Response("<!doctype html><html>Portal</html>", { headers: { "content-type": "text/html" } }),
      ok: false,
      title: "The central server's answer to a search is not DICOMweb (HTTP 200 OK)",
      says: "with a web page",
    },
    {
      answer: () => new Response("{}", { headers: { "content-type": "application/dicom+json" } }),
      ok: false,
      title: "is not DICOMweb",
    },
    {
      answer: () => new Response(null, { status: 302, headers: { location: "https://sso.example/login" } }),
      ok: false,
      title: "The central server answered the search with a redirect (HTTP 302 Found)",
      says: "https://sso.example/login",
    },
  ];
  for (const c of cases) {
    const archive = scriptedArchive(c.answer);
    try {
      const check = await checkCredentials({ ...defaultConfig("/tmp").upload, url: archive.url });
      assertEquals(check.result.ok, c.ok, JSON.stringify(check));
      assertStringIncludes(check.result.title, c.title);
      if (c.says) assertStringIncludes(check.result.detail ?? "", c.says);
      if (!c.ok) assert(check.result.fix !== undefined, "a failure says what to do");
      assertEquals(archive.seen, ["GET /dicom-web/studies?limit=1"], "asked once, redirect not followed");
    } finally {
      await archive.close();
    }
  }
});

Deno.test("upload address ending in /studies: refused with one sentence; doctor asks no server", async () => {
  const bad = checkUploadAddress("https://pacs.example/dicom-web/studies");
  assertEquals(bad.ok, false);
  assertEquals(
    bad.title,
    "The upload address ends in /studies: give the DICOMweb root instead (https://pacs.example/dicom-web), " +
      "the gateway adds /studies itself.",
  );
  assertEquals(checkUploadAddress("https://pacs.example/dicom-web").ok, true);
  const archive = scriptedArchive(() =>
    new Response("[]", { headers: { "content-type": "application/dicom+json" } })
  );
  try {
    const dir = await tempDir();
    const lines: string[] = [];
    const config = doctorConfig(dir, {
      ...defaultConfig(dir).upload,
      url: `${archive.url}/studies`,
      minFreeBytes: 0,
    });
    assertEquals(await runDoctor(config, { write: (l) => lines.push(l), interfaces: LAN }), 1);
    assert(lines.some((l) => l.startsWith("✘ The upload address ends in /studies")), lines.join("\n"));
    assertEquals(archive.seen, []);
    const probe = await checkCredentials({ ...defaultConfig(dir).upload, url: `${archive.url}/studies/` });
    assertEquals(probe.result.ok, false);
    assertStringIncludes(probe.result.detail ?? "", "give the DICOMweb root");
  } finally {
    await archive.close();
  }
});

Deno.test("verification check: the archive must answer the instance search (QIDO-RS) the verifier sends", async () => {
  const json = { "content-type": "application/dicom+json" };
  const cases: { answer: () => Response; ok: boolean; says: string }[] = [
    { answer: () => new Response("[]", { headers: json }), ok: true, says: "answers the searches" },
    { answer: () => new Response(null, { status: 204 }), ok: true, says: "HTTP 204" },
    {
      answer: () =>
        new Response("<html><body>Portal</body></html>", { headers: { "content-type": "text/html" } }),
      ok: false,
      says: "web page",
    },
    { answer: () => new Response("bad request", { status: 400 }), ok: false, says: "HTTP 400" },
    {
      answer: () => new Response(null, { status: 302, headers: { location: "https://sso.example/login" } }),
      ok: false,
      says: "https://sso.example/login",
    },
    { answer: () => new Response("", { status: 401 }), ok: false, says: "credentials" },
    { answer: () => new Response("no such route", { status: 404 }), ok: false, says: "QIDO-RS" },
  ];
  for (const c of cases) {
    const archive = scriptedArchive(c.answer);
    try {
      const check = await checkVerificationSearch({ ...defaultConfig("/tmp").upload, url: archive.url });
      assertEquals(check.ok, c.ok, JSON.stringify(check));
      assertStringIncludes(`${check.title} ${check.detail ?? ""}`, c.says);
      if (!c.ok) assert(check.fix !== undefined, "a failure says what to do");
      assertEquals(archive.seen.length, 1, "asked once, never redirected");
      assert(
        /^GET \/dicom-web\/studies\/[\d.]+\/series\/[\d.]+\/instances\?includefield=00080018&limit=1&offset=0$/
          .test(archive.seen[0]!),
        archive.seen[0],
      );
    } finally {
      await archive.close();
    }
  }
  // verify = "response": the archive is not asked.
  const archive = scriptedArchive(() => new Response("[]", { headers: json }));
  try {
    const check = await checkVerificationSearch({
      ...defaultConfig("/tmp").upload,
      url: archive.url,
      verify: "response",
    });
    assertEquals(check.ok, true);
    assertStringIncludes(check.title, 'verify = "response"');
    assertEquals(archive.seen, []);
  } finally {
    await archive.close();
  }
});
