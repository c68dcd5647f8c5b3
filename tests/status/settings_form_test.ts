/**
 * The settings form end to end (status server → the settings file writer → the file read back as
 * start-up reads it): a POST that moves the destination to another origin or sign-in method
 * without the secret typed again is refused in words and writes nothing; an environment secret
 * is announced by the form and the page and never written; the red page's advice matches.
 */
import { assert, assertEquals, assertStringIncludes } from "../support/assert.ts";
import { startStatusServer, type StatusServer } from "../../src/status/server.ts";
import { createStatusSource, type StatusInputs } from "../../src/status/source.ts";
import { headline } from "../../src/status/api.ts";
import { loadConfig } from "../../src/config/load.ts";
import { writeUploadSettings } from "../../src/config/upload_settings.ts";
import type { UploadConfig } from "../../src/config/types.ts";
import { writeInitialConfig } from "../../src/cli/init.ts";
import { joinPath } from "../../src/platform/fs.ts";

const TOKEN = "form-test-token-0123456789";

/** A status server whose form writes a real settings file, with `env` as the process environment. */
async function formServer(env: Record<string, string>, state: "idle" | "credentials-rejected" = "idle") {
  const dir = await Deno.makeTempDir({ prefix: "dg-form-" });
  const path = joinPath(dir, "dicom-gateway.toml");
  await writeInitialConfig(path);
  const reload = async () => (await loadConfig(["--config", path], { env })).config.upload;
  let upload: UploadConfig = await reload();
  const inputs: StatusInputs = {
    aeTitle: "GW",
    dicomPort: 11112,
    dataDir: dir,
    logPatientDetails: false,
    startedAt: 0,
    addresses: () => [{ address: "192.168.1.20", interfaceName: "eth0", linkLocal: false }],
    uploadHealth: () => ({
      configured: upload.url !== "",
      state,
      lastSuccessAt: null,
      lastError: null,
      lastErrorAt: null,
      nextRetryAt: null,
      inFlight: 0,
    }),
    uploadConfig: () => upload,
    queueCounts: () => ({ pending: 0, sending: 0, delivered: 0, failed: 0, bytesPending: 0 }),
    recentStudies: () => [],
    failures: () => [],
    associations: () => ({ active: 0, total: 0, rejected: 0 }),
    retryFailed: () => 0,
    testConnection: () => Promise.resolve({ ok: true, message: "fine" }),
    saveUploadSettings: async (settings) => {
      await writeUploadSettings(path, settings, { env, baseDir: dir });
      upload = await reload();
    },
    environment: env,
  };
  const source = createStatusSource(inputs);
  const server = startStatusServer({ hostname: "127.0.0.1", port: 0, source, csrfToken: TOKEN });
  return { path, server, source, close: () => server.close() };
}

async function save(server: StatusServer, settings: Record<string, string>) {
  const r = await fetch(new URL("/api/settings", server.url), {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": TOKEN },
    body: JSON.stringify(settings),
  });
  return { status: r.status, ...(await r.json()) as { ok: boolean; message: string } };
}

const BASIC = { url: "https://pacs.example.org/dicom-web", authKind: "basic", username: "clinic" };

Deno.test("form: another origin, sign-in method or token origin without the secret is refused and writes nothing", async () => {
  const f = await formServer({});
  try {
    assertEquals((await save(f.server, { ...BASIC, password: "old-Secret-1" })).ok, true);
    const before = await Deno.readTextFile(f.path);
    const refusals: [Record<string, string>, string][] = [
      [{ ...BASIC, url: "https://elsewhere.example.net/dicom-web" }, "The server address changes from"],
      [{ ...BASIC, url: "https://pacs.example.org:8443/dicom-web" }, "The server address changes from"],
      [{ url: BASIC.url, authKind: "header", headerName: "X-Key" }, "The sign-in method changes from"],
    ];
    for (const [settings, words] of refusals) {
      const r = await save(f.server, settings);
      assertEquals([r.status, r.ok], [400, false], r.message);
      assertStringIncludes(r.message, words);
      assertStringIncludes(r.message, "Nothing was saved.");
      assertEquals(await Deno.readTextFile(f.path), before, settings.url);
    }
    // Typed again: accepted; the file holds only the new secret, under the new origin.
    const ok = await save(f.server, {
      ...BASIC,
      url: "https://elsewhere.example.net/dw",
      password: "new-Secret-2",
    });
    assertEquals(ok.ok, true, ok.message);
    const text = await Deno.readTextFile(f.path);
    assert(!text.includes("old-Secret-1"), "the old secret went along to the new origin");
    assertStringIncludes(text, 'url = "https://elsewhere.example.net/dw"');
    if (Deno.build.os !== "windows") assertEquals((await Deno.stat(f.path)).mode! & 0o777, 0o600);

    // OAuth2: a new token origin needs the client secret again.
    const oauth = {
      url: BASIC.url,
      authKind: "oauth2",
      tokenUrl: "https://login.example.org/t",
      clientId: "gw",
      clientSecret: "client-Secret-3",
    };
    assertEquals((await save(f.server, oauth)).ok, true);
    const stored = await Deno.readTextFile(f.path);
    const moved = await save(f.server, {
      ...oauth,
      tokenUrl: "https://login.example.net/t",
      clientSecret: "",
    });
    assertEquals(moved.status, 400);
    assertStringIncludes(
      moved.message,
      "The token address changes from https://login.example.org to https://login.example.net",
    );
    assertEquals(await Deno.readTextFile(f.path), stored);
  } finally {
    await f.close();
  }
});

Deno.test("form: a secret in the environment is announced, never written; the red page's advice points there", async () => {
  // Set up as a service might be: user name and password in the environment.
  const env = { DICOM_GATEWAY_UPLOAD_USERNAME: "clinic", DICOM_GATEWAY_UPLOAD_PASSWORD: "env-Secret-9" };
  const f = await formServer(env, "credentials-rejected");
  try {
    const r = await save(f.server, { ...BASIC, password: "env-Secret-9" });
    assertEquals(r.ok, true, r.message);
    assertStringIncludes(
      r.message,
      "The password comes from the environment variable DICOM_GATEWAY_UPLOAD_PASSWORD, which wins over this form: " +
        "it is not saved in the settings file.",
    );
    const text = await Deno.readTextFile(f.path);
    assert(!text.includes("env-Secret-9"), "the environment's password was written into the file");
    // A different password typed: refused, nothing written, the typed one not echoed.
    const differs = await save(f.server, { ...BASIC, password: "typed-Other-1" });
    assertEquals(differs.status, 400);
    assertStringIncludes(
      differs.message,
      "differs from the one in the environment variable DICOM_GATEWAY_UPLOAD_PASSWORD",
    );
    assert(!differs.message.includes("typed-Other-1"));
    assertEquals(await Deno.readTextFile(f.path), text);

    const page = await (await fetch(f.server.url)).text();
    assertStringIncludes(
      page,
      "comes from the environment variable DICOM_GATEWAY_UPLOAD_PASSWORD, which wins over this form",
    );
    assertStringIncludes(page, 'placeholder="set in DICOM_GATEWAY_UPLOAD_PASSWORD"');
    const head = headline(f.source.snapshot());
    assertEquals(head.level, "red");
    assertStringIncludes(
      head.detail,
      'The password comes from the environment variable DICOM_GATEWAY_UPLOAD_PASSWORD, which wins over the "Upload destination" form: correct it there',
    );
    assert(!head.detail.includes("password (or token) under"), head.detail);
  } finally {
    await f.close();
  }
  // Without the environment, the advice stays the form's.
  const g = await formServer({}, "credentials-rejected");
  try {
    await save(g.server, { ...BASIC, password: "pw-Secret-1" });
    assertStringIncludes(
      headline(g.source.snapshot()).detail,
      'Check the user name and password (or token) under "Upload destination"',
    );
  } finally {
    await g.close();
  }
});
