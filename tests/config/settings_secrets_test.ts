/**
 * Secrets stay with their server (issue 9 item 6): the settings form's writer asks for the secret
 * again when the upload address's origin, the token address's origin or the sign-in kind changes;
 * an environment secret is never written into the file; a file holding a secret is mode 0600.
 */
import { assert, assertEquals, assertStringIncludes } from "../support/assert.ts";
import { joinPath } from "../../src/platform/fs.ts";
import { loadConfig } from "../../src/config/load.ts";
import { writeUploadSettings } from "../../src/config/upload_settings.ts";
import { holdsSecret, writeSettingsFile } from "../../src/config/settings_file.ts";
import { initialConfigText } from "../../src/config/template.ts";
import { writeInitialConfig } from "../../src/cli/init.ts";
import { configError, tempDir } from "./helpers.ts";

const BASIC = { url: "https://pacs.example.org/dicom-web", authKind: "basic", username: "clinic" };

async function fileWith(settings: Parameters<typeof writeUploadSettings>[1]): Promise<string> {
  const dir = await tempDir();
  const path = joinPath(dir, "dicom-gateway.toml");
  await writeInitialConfig(path);
  await writeUploadSettings(path, settings, { env: {} });
  return path;
}

/** The configuration the file gives, with no environment. */
async function loaded(path: string) {
  return (await loadConfig(["--config", path], { env: {} })).config.upload;
}

Deno.test("a new origin of the upload address needs the password again; nothing is written without it", async () => {
  const path = await fileWith({ ...BASIC, password: "old-secret-1" });
  const before = await Deno.readTextFile(path);
  for (
    const url of [
      "https://other.example.org/dicom-web", // host
      "https://pacs.example.org:8443/dicom-web", // port
      "http://127.0.0.1:8042/dicom-web", // scheme, host and port
    ]
  ) {
    const refused = await configError(writeUploadSettings(path, { ...BASIC, url }, { env: {} }));
    assertStringIncludes(refused.message, "The server address changes from https://pacs.example.org to ");
    assertStringIncludes(refused.message, "type the password again");
    assertStringIncludes(refused.message, "Nothing was saved.");
    assertEquals(await Deno.readTextFile(path), before, `file changed for ${url}`);
  }
  // The same origin (RFC 6454: default port normalised, host case-insensitive): the stored one stays.
  await writeUploadSettings(path, { ...BASIC, url: "https://PACS.example.org:443/other-root" }, { env: {} });
  assertEquals((await loaded(path)).auth, { kind: "basic", username: "clinic", password: "old-secret-1" });

  // With the password typed again, the new origin is saved with the new password only.
  await writeUploadSettings(
    path,
    { ...BASIC, url: "https://other.example.org/dw", password: "new-secret-2" },
    {
      env: {},
    },
  );
  const text = await Deno.readTextFile(path);
  assert(!text.includes("old-secret-1"), "the old password is still in the file");
  const upload = await loaded(path);
  assertEquals(upload.url, "https://other.example.org/dw");
  assertEquals(upload.auth, { kind: "basic", username: "clinic", password: "new-secret-2" });
});

Deno.test("a new sign-in kind needs its secret typed; the old secret leaves the file", async () => {
  const path = await fileWith({ ...BASIC, password: "old-secret-1" });
  const before = await Deno.readTextFile(path);
  const refused = await configError(
    writeUploadSettings(path, { url: BASIC.url, authKind: "bearer" }, { env: {} }),
  );
  assertStringIncludes(
    refused.message,
    'The sign-in method changes from "user name and password" to "access token": type the access token again.',
  );
  assertEquals(await Deno.readTextFile(path), before);
  // header → the API key; oauth2 → the client secret: each refused without its secret too.
  for (
    const [settings, words] of [
      [{ url: BASIC.url, authKind: "header", headerName: "X-Key" }, "API key"],
      [
        { url: BASIC.url, authKind: "oauth2", tokenUrl: "https://login.example.org/t", clientId: "c" },
        "client secret",
      ],
    ] as const
  ) {
    const e = await configError(writeUploadSettings(path, settings, { env: {} }));
    assertStringIncludes(e.message, `type the ${words} again`);
    assertEquals(await Deno.readTextFile(path), before);
  }
  await writeUploadSettings(path, { url: BASIC.url, authKind: "bearer", token: "new-token-3" }, { env: {} });
  assert(!(await Deno.readTextFile(path)).includes("old-secret-1"));
  assertEquals((await loaded(path)).auth, { kind: "bearer", token: "new-token-3" });
});

Deno.test("a new origin of the OAuth2 token address needs the client secret again", async () => {
  const oauth = {
    url: BASIC.url,
    authKind: "oauth2",
    tokenUrl: "https://login.example.org/tenant/oauth2/token",
    clientId: "gateway",
    scope: "dicom",
  };
  const path = await fileWith({ ...oauth, clientSecret: "client-secret-1" });
  const before = await Deno.readTextFile(path);
  const refused = await configError(
    writeUploadSettings(path, { ...oauth, tokenUrl: "https://evil.example.net/token" }, { env: {} }),
  );
  assertStringIncludes(
    refused.message,
    "The token address changes from https://login.example.org to https://evil.example.net: type the client secret again.",
  );
  assertEquals(await Deno.readTextFile(path), before);
  // Another path on the same origin keeps the stored secret.
  await writeUploadSettings(path, { ...oauth, tokenUrl: "https://login.example.org/v2/token" }, { env: {} });
  assertEquals((await loaded(path)).auth, {
    kind: "oauth2",
    tokenUrl: "https://login.example.org/v2/token",
    clientId: "gateway",
    clientSecret: "client-secret-1",
    scope: "dicom",
  });
  await writeUploadSettings(path, {
    ...oauth,
    tokenUrl: "https://login2.example.org/token",
    clientSecret: "client-secret-2",
  }, { env: {} });
  assert(!(await Deno.readTextFile(path)).includes("client-secret-1"));
});

Deno.test("a secret in the environment wins: the form says so and never writes one into the file", async () => {
  const env = { DICOM_GATEWAY_UPLOAD_PASSWORD: "env-secret-9" };
  const dir = await tempDir();
  const path = joinPath(dir, "dicom-gateway.toml");
  await writeInitialConfig(path);

  // Setting up a new server: the environment's password must be confirmed, and is not written.
  const unconfirmed = await configError(writeUploadSettings(path, BASIC, { env }));
  assertStringIncludes(unconfirmed.message, "type the password again to confirm it");
  assertStringIncludes(unconfirmed.message, "DICOM_GATEWAY_UPLOAD_PASSWORD");
  const written = await writeUploadSettings(path, { ...BASIC, password: "env-secret-9" }, { env });
  assertEquals(written.notes, [
    "The password comes from the environment variable DICOM_GATEWAY_UPLOAD_PASSWORD, which wins over this " +
    "form: it is not saved in the settings file.",
  ]);
  let text = await Deno.readTextFile(path);
  assert(!text.includes("env-secret-9"), "the environment's password was written into the file");
  assertEquals(holdsSecret(text), false);
  const { config } = await loadConfig(["--config", path], { env });
  assertEquals(config.upload.auth, { kind: "basic", username: "clinic", password: "env-secret-9" });

  // Same destination, empty field: saved, with the note. A different password typed: refused.
  assertEquals((await writeUploadSettings(path, { ...BASIC, username: "c2" }, { env })).notes.length, 1);
  const before = await Deno.readTextFile(path);
  const differs = await configError(
    writeUploadSettings(path, { ...BASIC, password: "typed-other" }, { env }),
  );
  assertStringIncludes(
    differs.message,
    "The password typed here differs from the one in the environment variable DICOM_GATEWAY_UPLOAD_PASSWORD, " +
      "which wins over this form. Nothing was saved",
  );
  assertEquals(await Deno.readTextFile(path), before);
  text = await Deno.readTextFile(path);
  assert(!text.includes("typed-other"));
});

Deno.test("a stored password shadowed by the environment is removed when the server changes", async () => {
  const path = await fileWith({ ...BASIC, password: "file-secret-1" });
  const env = { DICOM_GATEWAY_UPLOAD_PASSWORD: "env-secret-9" };
  await writeUploadSettings(path, { ...BASIC, url: "https://new.example.org/dw", password: "env-secret-9" }, {
    env,
  });
  const text = await Deno.readTextFile(path);
  assert(!text.includes("file-secret-1"), "the old stored password went along to the new server");
  assert(!text.includes("env-secret-9"));
});

Deno.test("the settings file holding a secret is mode 0600 on Linux; without one it keeps its mode", {
  ignore: Deno.build.os === "windows",
}, async () => {
  const dir = await tempDir();
  const path = joinPath(dir, "dicom-gateway.toml");
  await writeInitialConfig(path);
  await Deno.chmod(path, 0o644);
  await writeUploadSettings(path, { url: BASIC.url, authKind: "none" }, { env: {} });
  assertEquals((await Deno.stat(path)).mode! & 0o777, 0o644);
  await writeUploadSettings(path, { ...BASIC, password: "pw-secret-1" }, { env: {} });
  assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
  // Created fresh by the form (no file yet): 0600 from the start.
  const fresh = joinPath(dir, "fresh.toml");
  await writeUploadSettings(fresh, { url: BASIC.url, authKind: "bearer", token: "tk-secret-1" }, { env: {} });
  assertEquals((await Deno.stat(fresh)).mode! & 0o777, 0o600);
  // No temporary file left behind.
  const names = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  assertEquals(names.sort(), ["dicom-gateway.toml", "fresh.toml"]);
  // Windows has no mode bits: nothing is set (here the default mode of a new file results).
  const windows = joinPath(dir, "windows.toml");
  await writeSettingsFile(windows, 'ae_title = "X"\n[upload.auth]\npassword = "pw-secret-1"\n', {
    os: "windows",
  });
  const reference = joinPath(dir, "reference.txt");
  await Deno.writeTextFile(reference, "");
  assertEquals((await Deno.stat(windows)).mode! & 0o777, (await Deno.stat(reference)).mode! & 0o777);
});

Deno.test("holdsSecret: every secret setting and the webhook address count; init's template holds none", () => {
  assertEquals(holdsSecret(initialConfigText()), false); // so init never has to write mode 0600
  for (
    const line of [
      '[upload.auth]\npassword = "x"',
      '[upload.auth]\ntoken = "x"',
      '[upload.auth]\nheader_value = "x"',
      '[upload.auth]\nclient_secret = "x"',
      '[upload]\nproxy_password = "x"',
      '[alerts]\nheader_value = "x"',
      '[alerts]\nwebhook_url = "https://hooks.example.org/T000/B000/XXXX"',
    ]
  ) {
    assertEquals(holdsSecret(line), true, line);
  }
  assertEquals(holdsSecret('[upload.auth]\npassword = ""\nusername = "u"'), false);
});
