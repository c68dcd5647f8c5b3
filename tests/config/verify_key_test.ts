/** The `upload.verify` setting: "query" by default, "response" from the file, environment or flag; nothing else. */
import { assertEquals, assertStringIncludes } from "../support/assert.ts";
import { loadConfig } from "../../src/config/load.ts";
import { initialConfigText } from "../../src/config/template.ts";
import { configError, tempDir, withFile } from "./helpers.ts";

Deno.test('upload.verify: "query" by default; file, environment and flag set "response"', async () => {
  const dir = await tempDir();
  assertEquals((await loadConfig([], { env: {}, baseDir: dir })).config.upload.verify, "query");
  const file = await withFile('[upload]\nverify = "response"\n');
  assertEquals((await loadConfig([], { env: {}, baseDir: file })).config.upload.verify, "response");
  const env = { DICOM_GATEWAY_UPLOAD_VERIFY: "Response" };
  assertEquals((await loadConfig([], { env, baseDir: dir })).config.upload.verify, "response");
  const flag = await loadConfig(["--upload-verify", "query"], { env, baseDir: dir });
  assertEquals(flag.config.upload.verify, "query");
});

Deno.test("upload.verify: any other value is refused, saying what is allowed", async () => {
  const file = await withFile('[upload]\nverify = "yes"\n');
  const err = await configError(loadConfig([], { env: {}, baseDir: file }));
  assertStringIncludes(err.message, "verify");
  assertStringIncludes(err.message, '"query" or "response"');
  const dir = await tempDir();
  const flag = await configError(loadConfig(["--upload-verify", "none"], { env: {}, baseDir: dir }));
  assertStringIncludes(flag.message, '"query" or "response"');
});

Deno.test("upload.verify: documented in the file init writes", () => {
  const text = initialConfigText();
  assertStringIncludes(text, 'verify = "query"');
  assertStringIncludes(text, "QIDO-RS");
  assertStringIncludes(text, "DICOM_GATEWAY_UPLOAD_VERIFY");
});
