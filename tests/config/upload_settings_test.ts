import { assert, assertEquals, assertRejects, assertStringIncludes } from "../support/assert.ts";
import { joinPath } from "../../src/platform/fs.ts";
import { ConfigError } from "../../src/config/error.ts";
import { loadConfig } from "../../src/config/load.ts";
import { writeUploadSettings } from "../../src/config/upload_settings.ts";
import { writeInitialConfig } from "../../src/cli/init.ts";
import { configError, tempDir } from "./helpers.ts";

Deno.test("writeUploadSettings writes the [upload] section, keeps comments, never loses secrets by accident", async () => {
  const dir = await tempDir();
  const path = joinPath(dir, "dicom-gateway.toml");
  await writeInitialConfig(path);
  await writeUploadSettings(path, {
    url: "https://pacs.example.org/dicom-web",
    authKind: "basic",
    username: "clinic",
    password: "pw1",
  });
  let text = await Deno.readTextFile(path);
  assertStringIncludes(text, "# dicom-gateway settings.");
  assertStringIncludes(text, 'url = "https://pacs.example.org/dicom-web"');
  let { config } = await loadConfig([], { env: {}, baseDir: dir });
  assertEquals(config.upload.url, "https://pacs.example.org/dicom-web");
  assertEquals(config.upload.auth, { kind: "basic", username: "clinic", password: "pw1" });
  assertEquals(config.port, 4104);

  // Empty password with the same kind keeps the stored one.
  await writeUploadSettings(path, {
    url: "https://pacs.example.org/dicom-web",
    authKind: "basic",
    username: "c2",
  });
  ({ config } = await loadConfig([], { env: {}, baseDir: dir }));
  assertEquals(config.upload.auth, { kind: "basic", username: "c2", password: "pw1" });

  // Switching kind clears the other kind's fields.
  await writeUploadSettings(path, {
    url: "https://pacs.example.org/dicom-web",
    authKind: "bearer",
    token: "tk",
  });
  ({ config } = await loadConfig([], { env: {}, baseDir: dir }));
  assertEquals(config.upload.auth, { kind: "bearer", token: "tk" });
  text = await Deno.readTextFile(path);
  assert(!text.includes("pw1"), "old password left in the file");

  // A bad value writes nothing.
  const before = await Deno.readTextFile(path);
  const err = await configError(
    writeUploadSettings(path, { url: "http://pacs.example.org", authKind: "none" }),
  );
  assertStringIncludes(err.message, "Server address must be an address starting with https://");
  assertEquals(await Deno.readTextFile(path), before);
  // A kind without its secret is refused.
  await assertRejects(
    () => writeUploadSettings(path, { url: "", authKind: "header", headerName: "X-Key" }),
    ConfigError,
  );
  assertEquals(await Deno.readTextFile(path), before);
});

Deno.test("writeUploadSettings creates the file from the init template when missing", async () => {
  const dir = await tempDir();
  const path = joinPath(dir, "dicom-gateway.toml");
  await writeUploadSettings(path, { url: "http://127.0.0.1:8042/dicom-web", authKind: "none" });
  const text = await Deno.readTextFile(path);
  assertStringIncludes(text, "# dicom-gateway settings.");
  const { config } = await loadConfig([], { env: {}, baseDir: dir });
  assertEquals(config.upload.url, "http://127.0.0.1:8042/dicom-web");
  assertEquals(config.upload.auth, { kind: "none" });
});

Deno.test("the settings form refuses a CA file that does not exist or is not a certificate; a good one is saved", async () => {
  const dir = await tempDir();
  const path = joinPath(dir, "dicom-gateway.toml");
  await writeInitialConfig(path);
  const before = await Deno.readTextFile(path);
  const missing = await configError(writeUploadSettings(path, {
    url: "https://pacs.example.org/dicom-web",
    authKind: "none",
    caFile: "ca.pem",
  }, { baseDir: dir }));
  assertStringIncludes(missing.message, `${joinPath(dir, "ca.pem")} was not found`);
  assertEquals(await Deno.readTextFile(path), before, "nothing is written");

  await Deno.writeTextFile(joinPath(dir, "ca.pem"), "not a certificate\n");
  const notCert = await configError(writeUploadSettings(path, {
    url: "https://pacs.example.org/dicom-web",
    authKind: "none",
    caFile: "ca.pem",
  }, { baseDir: dir }));
  assertStringIncludes(notCert.message, "is not a certificate");

  // A real certificate (openssl) is accepted and the relative path saved as typed.
  const made = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      "ca.key",
      "-out",
      "ca.pem",
      "-days",
      "1",
      "-subj",
      "/CN=test",
    ],
    cwd: dir,
    stdout: "null",
    stderr: "null",
  }).output().catch(() => null);
  if (made?.success) {
    await writeUploadSettings(path, {
      url: "https://pacs.example.org/dicom-web",
      authKind: "none",
      caFile: "ca.pem",
    }, {
      baseDir: dir,
    });
    const { config } = await loadConfig([], { env: {}, baseDir: dir });
    assertEquals(config.upload.caFile, joinPath(dir, "ca.pem"));
  } else {
    assert(Deno.env.get("CI") !== "true", "openssl is needed in CI");
  }
});

Deno.test("the form refuses an upload address ending in /studies and says which root to give", async () => {
  const dir = await tempDir();
  const path = `${dir}/dicom-gateway.toml`;
  const error = await assertRejects(() =>
    writeUploadSettings(path, { url: "https://pacs.example.org/dicom-web/studies", authKind: "none" }, {
      baseDir: dir,
      env: {},
    })
  );
  assertStringIncludes(String(error), "give the DICOMweb root instead (https://pacs.example.org/dicom-web)");
  assertEquals(await Deno.stat(path).then(() => true, () => false), false, "nothing written");
});
