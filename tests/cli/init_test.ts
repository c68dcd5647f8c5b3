import { assertEquals, assertStringIncludes } from "../status/helpers.ts";
import { joinPath } from "../../src/platform/fs.ts";
import { initialConfigText } from "../../src/config/template.ts";
import { writeInitialConfig } from "../../src/cli/init.ts";
import { configError, withFile } from "../config/helpers.ts";

Deno.test("init refuses to overwrite unless forced", async () => {
  const dir = await withFile("port = 5000\n# mine\n");
  const path = joinPath(dir, "dicom-gateway.toml");
  const err = await configError(writeInitialConfig(path));
  assertStringIncludes(err.message, "already exists");
  assertStringIncludes(err.message, "init --force");
  assertEquals(await Deno.readTextFile(path), "port = 5000\n# mine\n");
  await writeInitialConfig(path, { force: true });
  assertEquals(await Deno.readTextFile(path), initialConfigText());
});
