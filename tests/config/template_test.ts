import { assert, assertEquals, assertStringIncludes } from "../status/helpers.ts";
import { defaultConfig } from "../../src/config/types.ts";
import { joinPath } from "../../src/platform/fs.ts";
import { CONFIG_KEYS, envName } from "../../src/config/schema.ts";
import { loadConfig } from "../../src/config/load.ts";
import { initialConfigText } from "../../src/config/template.ts";
import { writeInitialConfig } from "../../src/cli/init.ts";
import { tempDir } from "./helpers.ts";

Deno.test("init writes a file that loads back to exactly the defaults", async () => {
  const dir = await tempDir();
  const path = joinPath(dir, "dicom-gateway.toml");
  await writeInitialConfig(path);
  const loaded = await loadConfig([], { env: {}, baseDir: dir });
  assertEquals(loaded.configFileFound, true);
  assertEquals(loaded.configPath, path);
  assertEquals(loaded.config, defaultConfig(dir));
  assertEquals(loaded.warnings, []);
});

Deno.test("init documents every setting with its flag or environment variable", () => {
  const text = initialConfigText();
  for (const key of CONFIG_KEYS) {
    assert(new RegExp(`^${key.name} = `, "m").test(text), `${key.name} missing from the init file`);
    assertStringIncludes(text, envName(key));
    if (!key.secret) assertStringIncludes(text, `--${key.cliName}`);
  }
  for (const kind of ["none", "basic", "bearer", "header", "oauth2"]) {
    assertStringIncludes(text, `#     kind = "${kind}"`);
  }
});
