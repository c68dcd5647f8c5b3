import { assert, assertEquals, assertStringIncludes } from "../status/helpers.ts";
import { defaultConfig } from "../../src/config/types.ts";
import { joinPath } from "../../src/platform/fs.ts";
import { CONFIG_KEYS, envName } from "../../src/config/schema.ts";
import { loadConfig } from "../../src/config/load.ts";
import { configError, tempDir, withFile } from "./helpers.ts";

Deno.test("a missing file means defaults; a missing --config file is an error", async () => {
  const dir = await tempDir();
  const loaded = await loadConfig([], { env: {}, baseDir: dir });
  assertEquals(loaded.configFileFound, false);
  assertEquals(loaded.config, defaultConfig(dir));
  const err = await configError(
    loadConfig(["--config", joinPath(dir, "nope.toml")], { env: {}, baseDir: dir }),
  );
  assertStringIncludes(err.message, "does not exist");
});

Deno.test("precedence: defaults < file < environment < flags", async () => {
  const dir = await withFile('port = 5000\nae_title = "FROM_FILE"\n[status]\nport = 5001\n');
  const env = { DICOM_GATEWAY_PORT: "6000", DICOM_GATEWAY_STATUS_PORT: "6001" };
  const all = await loadConfig(["--port", "7000"], { env, baseDir: dir });
  assertEquals(all.config.port, 7000);
  assertEquals(all.config.statusPort, 6001);
  assertEquals(all.config.aeTitle, "FROM_FILE");
  assertEquals(all.config.maxAssociations, 32);
  const noFlag = await loadConfig([], { env, baseDir: dir });
  assertEquals(noFlag.config.port, 6000);
  const fileOnly = await loadConfig([], { env: {}, baseDir: dir });
  assertEquals(fileOnly.config.port, 5000);
  assertEquals(fileOnly.config.statusPort, 5001);
  const inline = await loadConfig(["--port=7001"], { env, baseDir: dir });
  assertEquals(inline.config.port, 7001);
});

Deno.test("every setting has a working flag (or, for secrets, only an environment variable)", async () => {
  const dir = await tempDir();
  const d = defaultConfig(dir);
  for (const key of CONFIG_KEYS) {
    const value = key.read(d);
    const text = Array.isArray(value) ? value.join(",") : String(value);
    // The environment variable always works.
    await loadConfig([], { env: { [envName(key)]: text }, baseDir: dir });
    if (key.secret) {
      const err = await configError(loadConfig([`--${key.cliName}`, "x"], { env: {}, baseDir: dir }));
      assertStringIncludes(err.message, envName(key));
    } else if (key.kind === "bool") {
      await loadConfig([`--${key.cliName}`], { env: {}, baseDir: dir });
      await loadConfig([`--no-${key.cliName}`], { env: {}, baseDir: dir });
    } else {
      const loaded = await loadConfig([`--${key.cliName}`, text], { env: {}, baseDir: dir });
      assertEquals(loaded.rest, [], `--${key.cliName} was not recognised`);
    }
  }
});

Deno.test("flags named in the brief map to the right settings", async () => {
  const dir = await tempDir();
  const { config, rest } = await loadConfig([
    "--port",
    "11112",
    "--ae-title",
    "MY_GW",
    "--data-dir",
    "/srv/dg",
    "--status-port",
    "0",
    "--log-dir",
    "",
    "--bind",
    "127.0.0.1",
    "--max-associations",
    "4",
    "--upload-url",
    "http://127.0.0.1:8042/dicom-web/",
    "--upload-username",
    "orthanc",
    "--upload-ca-file",
    "ca.pem",
    "--upload-proxy",
    "http://proxy.local:3128",
    "--no-fsync",
  ], { env: { DICOM_GATEWAY_UPLOAD_PASSWORD: "s3cret" }, baseDir: dir });
  assertEquals(rest, []);
  assertEquals(config.port, 11112);
  assertEquals(config.aeTitle, "MY_GW");
  assertEquals(config.dataDir, "/srv/dg");
  assertEquals(config.statusPort, 0);
  assertEquals(config.logDir, "");
  assertEquals(config.bindAddress, "127.0.0.1");
  assertEquals(config.maxAssociations, 4);
  assertEquals(config.upload.url, "http://127.0.0.1:8042/dicom-web");
  assertEquals(config.upload.auth, { kind: "basic", username: "orthanc", password: "s3cret" });
  assertEquals(config.upload.caFile, joinPath(dir, "ca.pem"));
  assertEquals(config.upload.proxy, "http://proxy.local:3128");
  assertEquals(config.fsync, false);
});

Deno.test("rest keeps the subcommand, its arguments and unknown options in order", async () => {
  const dir = await tempDir();
  const { config, rest } = await loadConfig(
    ["--port", "4200", "store", "pacs:104", "--called-ae=X", "a.dcm"],
    {
      env: {},
      baseDir: dir,
    },
  );
  assertEquals(config.port, 4200);
  assertEquals(rest, ["store", "pacs:104", "--called-ae=X", "a.dcm"]);
});

Deno.test("a wrong value in the file names the key, the line and what is allowed", async () => {
  const file = [
    "# settings",
    'ae_title = "GW"',
    "",
    "",
    "",
    "",
    'port = "41o4"',
    "[upload]",
    "concurrency = 0",
  ].join("\n");
  const dir = await withFile(file);
  const err = await configError(loadConfig([], { env: {}, baseDir: dir }));
  assertEquals(err.problems, [
    'dicom-gateway.toml line 7: "port" must be a whole number from 1 to 65535, got "41o4"',
    'dicom-gateway.toml line 9: "concurrency" in [upload] must be a whole number from 1 to 64, got 0',
  ]);
});

Deno.test("environment and flag errors name the variable or option", async () => {
  const dir = await tempDir();
  let err = await configError(loadConfig([], { env: { DICOM_GATEWAY_PORT: "99999" }, baseDir: dir }));
  assertEquals(
    err.message,
    'environment variable DICOM_GATEWAY_PORT must be a whole number from 1 to 65535, got "99999"',
  );
  err = await configError(loadConfig(["--max-associations", "-3"], { env: {}, baseDir: dir }));
  assertStringIncludes(err.message, "option --max-associations must be a whole number from 1 to 1000");
  err = await configError(loadConfig(["--port"], { env: {}, baseDir: dir }));
  assertStringIncludes(err.message, "option --port needs a value");
});

Deno.test("unknown keys and sections are errors naming them, with a suggestion", async () => {
  const dir = await withFile('prot = 4104\n[upload]\nurll = ""\n[uplod]\nx = 1\n');
  const err = await configError(loadConfig([], { env: {}, baseDir: dir }));
  assertEquals(err.problems, [
    'dicom-gateway.toml line 1: unknown setting "prot" at the top of the file. Did you mean "port"?',
    'dicom-gateway.toml line 3: unknown setting "urll" in [upload]. Did you mean "url"?',
    "dicom-gateway.toml line 4: unknown section [uplod].",
  ]);
});

Deno.test("a TOML syntax error names the line", async () => {
  const dir = await withFile("port = 4104\nae_title = GATEWAY\n");
  const err = await configError(loadConfig([], { env: {}, baseDir: dir }));
  assertStringIncludes(err.message, "dicom-gateway.toml line 2: this line is not valid TOML");
  assertStringIncludes(err.message, "double quotes");
});

Deno.test("AE titles: 1 to 16 characters, no backslash or control characters, not all spaces", async () => {
  const dir = await tempDir();
  for (const bad of ["", "    ", "A_VERY_LONG_AE_TITLE", "BACK\\SLASH", "TAB\tX", "ÉCHO"]) {
    const err = await configError(loadConfig(["--ae-title", bad], { env: {}, baseDir: dir }));
    assertStringIncludes(err.message, "option --ae-title must be");
  }
  const ok = await loadConfig(["--ae-title", " CT SCANNER 2 "], { env: {}, baseDir: dir });
  assertEquals(ok.config.aeTitle, "CT SCANNER 2");
  const list = await loadConfig([], {
    env: { DICOM_GATEWAY_ALLOWED_CALLING_AE_TITLES: "CT1, US_ROOM2" },
    baseDir: dir,
  });
  assertEquals(list.config.allowedCallingAeTitles, ["CT1", "US_ROOM2"]);
});

Deno.test("upload URL must be https, http only for this PC, without credentials", async () => {
  const dir = await tempDir();
  for (
    const bad of ["http://pacs.example.org/dicom-web", "ftp://x", "https://user:pw@pacs.example.org", "pacs"]
  ) {
    const err = await configError(loadConfig(["--upload-url", bad], { env: {}, baseDir: dir }));
    assertStringIncludes(err.message, "option --upload-url must be an address starting with https://");
  }
  for (
    const good of ["http://localhost:8042/dicom-web", "http://127.0.0.1:1/x", "https://pacs.example.org/dw"]
  ) {
    const { config } = await loadConfig(["--upload-url", good], { env: {}, baseDir: dir });
    assertEquals(config.upload.url, good);
  }
});

Deno.test("numbers, sizes, booleans and address lists from text", async () => {
  const dir = await tempDir();
  const { config } = await loadConfig(["--fsync=false", "--require-called-ae-title"], {
    env: {
      DICOM_GATEWAY_UPLOAD_BATCH_MAX_BYTES: "16 MiB",
      DICOM_GATEWAY_UPLOAD_MIN_FREE_BYTES: "1GB",
      DICOM_GATEWAY_LOG_PATIENT_DETAILS: "yes",
      DICOM_GATEWAY_ALLOWED_ADDRESSES: "192.168.1.0/24, 10.1.2.3, fd00::/8",
    },
    baseDir: dir,
  });
  assertEquals(config.upload.batchMaxBytes, 16 * 1024 * 1024);
  assertEquals(config.upload.minFreeBytes, 1_000_000_000);
  assertEquals(config.logPatientDetails, true);
  assertEquals(config.fsync, false);
  assertEquals(config.requireCalledAeTitle, true);
  assertEquals(config.allowedAddresses, ["192.168.1.0/24", "10.1.2.3", "fd00::/8"]);
  const err = await configError(
    loadConfig([], { env: { DICOM_GATEWAY_ALLOWED_ADDRESSES: "192.168.1.300" }, baseDir: dir }),
  );
  assertStringIncludes(err.message, "DICOM_GATEWAY_ALLOWED_ADDRESSES must be a list of IP addresses");
  const err2 = await configError(loadConfig([], { env: { DICOM_GATEWAY_FSYNC: "maybe" }, baseDir: dir }));
  assertStringIncludes(err2.message, "true or false");
});

Deno.test("relative folders resolve against the installation folder; absolute ones are kept", async () => {
  const dir = await withFile('data_dir = "images"\n[logs]\ndir = "./journal"\n');
  const { config } = await loadConfig([], { env: {}, baseDir: dir });
  assertEquals(config.dataDir, joinPath(dir, "images"));
  assertEquals(config.logDir, joinPath(dir, "journal"));
  const abs = await loadConfig(["--data-dir", "/var/lib/dg", "--log-dir", "C:\\dg\\logs"], {
    env: {},
    baseDir: dir,
  });
  assertEquals(abs.config.dataDir, "/var/lib/dg");
  assertEquals(abs.config.logDir, "C:\\dg\\logs");
});

Deno.test("auth: auto picks the kind from what is filled in; explicit kinds need their fields", async () => {
  const dir = await tempDir();
  const load = (env: Record<string, string>, args: string[] = []) => loadConfig(args, { env, baseDir: dir });
  assertEquals((await load({ DICOM_GATEWAY_UPLOAD_TOKEN: "t0k" })).config.upload.auth, {
    kind: "bearer",
    token: "t0k",
  });
  assertEquals(
    (await load({ DICOM_GATEWAY_UPLOAD_HEADER_VALUE: "k3y" }, ["--upload-header-name", "X-API-Key"])).config
      .upload
      .auth,
    { kind: "header", name: "X-API-Key", value: "k3y" },
  );
  assertEquals(
    (await load({
      DICOM_GATEWAY_UPLOAD_TOKEN_URL: "https://login.example.org/token",
      DICOM_GATEWAY_UPLOAD_CLIENT_ID: "app",
      DICOM_GATEWAY_UPLOAD_CLIENT_SECRET: "cs",
    })).config.upload.auth,
    {
      kind: "oauth2",
      tokenUrl: "https://login.example.org/token",
      clientId: "app",
      clientSecret: "cs",
      scope: "",
    },
  );
  let err = await configError(load({}, ["--upload-username", "u"]));
  assertStringIncludes(err.message, 'Upload sign-in "basic" needs password');
  assertStringIncludes(err.message, "DICOM_GATEWAY_UPLOAD_PASSWORD");
  err = await configError(load({ DICOM_GATEWAY_UPLOAD_TOKEN: "t", DICOM_GATEWAY_UPLOAD_PASSWORD: "p" }));
  assertStringIncludes(err.message, "several kinds");
  err = await configError(load({ DICOM_GATEWAY_UPLOAD_AUTH: "kerberos" }));
  assertStringIncludes(err.message, '"auto", "none", "basic", "bearer", "header", "oauth2"');
  // An explicit kind ignores the other kinds' fields.
  const explicit = await load({
    DICOM_GATEWAY_UPLOAD_AUTH: "bearer",
    DICOM_GATEWAY_UPLOAD_TOKEN: "t",
    DICOM_GATEWAY_UPLOAD_PASSWORD: "p",
  });
  assertEquals(explicit.config.upload.auth, { kind: "bearer", token: "t" });
  // Secrets never appear in the message.
  err = await configError(load({ DICOM_GATEWAY_UPLOAD_PASSWORD: "pa\nss" }));
  assert(!err.message.includes("pa\nss"));
  assertStringIncludes(err.message, "(hidden)");
});

Deno.test("unknown DICOM_GATEWAY_ variables are reported as warnings, not ignored silently", async () => {
  const dir = await tempDir();
  const { warnings } = await loadConfig([], { env: { DICOM_GATEWAY_PROT: "1", OTHER: "x" }, baseDir: dir });
  assertEquals(warnings, [
    "The environment variable DICOM_GATEWAY_PROT is not a dicom-gateway setting and is ignored.",
  ]);
});

Deno.test("Windows folders: single quotes work; backslashes in double quotes get a plain hint", async () => {
  const ok = await withFile("data_dir = 'D:\\dicom\\data'\n");
  const { config } = await loadConfig([], { env: {}, baseDir: ok });
  assertEquals(config.dataDir, "D:\\dicom\\data");
  const bad = await withFile('port = 4104\ndata_dir = "D:\\dicom\\data"\n');
  const err = await configError(loadConfig([], { env: {}, baseDir: bad }));
  assertStringIncludes(err.message, "dicom-gateway.toml line 2: this line is not valid TOML");
  assertStringIncludes(
    err.message,
    "For a Windows folder use single quotes, e.g. data_dir = 'D:\\dicom\\data'",
  );
});

Deno.test("proxy credentials: user name by flag or file, password from the environment, only with a proxy", async () => {
  const dir = await tempDir();
  const load = (env: Record<string, string>, args: string[] = []) => loadConfig(args, { env, baseDir: dir });
  const ok = await load({ DICOM_GATEWAY_UPLOAD_PROXY_PASSWORD: "pr0xy-pw" }, [
    "--upload-proxy",
    "http://proxy.clinic.local:3128",
    "--upload-proxy-username",
    "gw",
  ]);
  assertEquals(
    [ok.config.upload.proxy, ok.config.upload.proxyUsername, ok.config.upload.proxyPassword],
    ["http://proxy.clinic.local:3128", "gw", "pr0xy-pw"],
  );
  let err = await configError(
    load({ DICOM_GATEWAY_UPLOAD_PROXY_PASSWORD: "p" }, ["--upload-proxy-username", "gw"]),
  );
  assertStringIncludes(err.message, "proxy is empty");
  err = await configError(load({}, ["--upload-proxy", "http://proxy:3128", "--upload-proxy-username", "gw"]));
  assertStringIncludes(err.message, "DICOM_GATEWAY_UPLOAD_PROXY_PASSWORD");
  // A secret has no flag: command lines are visible to every program on the PC.
  err = await configError(load({}, ["--upload-proxy", "http://proxy:3128", "--upload-proxy-password", "x"]));
  assertStringIncludes(err.message, "DICOM_GATEWAY_UPLOAD_PROXY_PASSWORD");
});
