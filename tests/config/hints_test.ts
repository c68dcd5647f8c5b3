/** Plain hints for the usual mistakes: misspelt flags, UTF-16 files, a section without its closing bracket. */
import { assert, assertEquals, assertStringIncludes } from "../support/assert.ts";
import { joinPath } from "../../src/platform/fs.ts";
import { loadConfig } from "../../src/config/load.ts";
import { suggestFlag } from "../../src/config/flags.ts";
import { closestName } from "../../src/config/suggest.ts";
import { configError, tempDir, withFile } from "./helpers.ts";

Deno.test("suggestFlag: did you mean, like keys in the file", () => {
  assertEquals(suggestFlag("--prot"), "--port");
  assertEquals(suggestFlag("--prot=4104"), "--port");
  assertEquals(suggestFlag("--ae-titel"), "--ae-title");
  assertEquals(suggestFlag("--status-prot"), "--status-port");
  assertEquals(suggestFlag("--no-fsyn"), "--no-fsync");
  assertEquals(suggestFlag("--upload-ur"), "--upload-url");
  assertEquals(suggestFlag("--confg"), "--config");
  assertEquals(suggestFlag("--completely-unrelated"), null);
  assertEquals(suggestFlag("doctor"), null);
  assertEquals(
    closestName("upload-proxy-user", ["upload-proxy-username", "upload-proxy"]),
    "upload-proxy-username",
  );
});

async function fileWith(bytes: Uint8Array): Promise<string> {
  const dir = await tempDir();
  await Deno.writeFile(joinPath(dir, "dicom-gateway.toml"), bytes);
  return dir;
}

function utf16(text: string, bigEndian: boolean): Uint8Array {
  const out = new Uint8Array(2 + text.length * 2);
  out.set(bigEndian ? [0xfe, 0xff] : [0xff, 0xfe]);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    out[2 + 2 * i] = bigEndian ? c >> 8 : c & 0xff;
    out[3 + 2 * i] = bigEndian ? c & 0xff : c >> 8;
  }
  return out;
}

Deno.test("a UTF-16 settings file (BOM FF FE or FE FF) is named as such, not 'needs double quotes'", async () => {
  for (const bigEndian of [false, true]) {
    const dir = await fileWith(utf16('ae_title = "CLINIC"\nport = 4104\n', bigEndian));
    const err = await configError(loadConfig([], { env: {}, baseDir: dir }));
    assertStringIncludes(err.message, "is saved as UTF-16");
    assertStringIncludes(err.message, "Encoding: UTF-8");
    assert(!err.message.includes("double quotes"), err.message);
  }
  // UTF-8 with a BOM stays fine.
  const dir = await fileWith(new TextEncoder().encode('\uFEFFae_title = "CLINIC"\n'));
  assertEquals((await loadConfig([], { env: {}, baseDir: dir })).config.aeTitle, "CLINIC");
});

Deno.test("a section header without its closing ] gets the bracket hint", async () => {
  const dir = await withFile('port = 4104\n[upload\nurl = "https://pacs.example.org/dicom-web"\n');
  const err = await configError(loadConfig([], { env: {}, baseDir: dir }));
  assertStringIncludes(err.message, "line 2");
  assertStringIncludes(err.message, "A section name needs a closing bracket, e.g. [upload].");
  assert(!err.message.includes("double quotes"), err.message);
  // The usual hints stay: unquoted text, Windows backslashes.
  const unquoted = await configError(
    loadConfig([], { env: {}, baseDir: await withFile("ae_title = CLINIC\n") }),
  );
  assertStringIncludes(unquoted.message, "Text values need double quotes");
  const backslash = await configError(
    loadConfig([], { env: {}, baseDir: await withFile('data_dir = "D:\\dicom"\n') }),
  );
  assertStringIncludes(backslash.message, "single quotes");
});
