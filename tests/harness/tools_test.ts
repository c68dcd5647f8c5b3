/** Tests of PATH lookup and of how interop tests behave when tools are missing. */
import { assert, assertEquals } from "../support/assert.ts";
import { runCommand } from "../../scripts/harness/process.ts";
import { findOnPath, requireTools } from "../../scripts/harness/tools.ts";

Deno.test("findOnPath finds an executable by scanning PATH and ignores non-executables", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dgw-tools-test-" });
  try {
    await Deno.writeTextFile(`${dir}/dgw-fake-tool`, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    await Deno.writeTextFile(`${dir}/dgw-not-executable`, "data", { mode: 0o644 });
    await Deno.mkdir(`${dir}/dgw-a-directory`);
    const saved = Deno.env.get("PATH") ?? "";
    Deno.env.set("PATH", `/nonexistent-dir::${dir}:${saved}`);
    try {
      assertEquals(findOnPath("dgw-fake-tool"), `${dir}/dgw-fake-tool`);
      if (Deno.build.os !== "windows") assertEquals(findOnPath("dgw-not-executable"), undefined);
      assertEquals(findOnPath("dgw-a-directory"), undefined);
      assertEquals(findOnPath("dgw-no-such-tool-anywhere"), undefined);
      assertEquals(requireTools("dgw-fake-tool"), { ok: true });
      assertEquals(requireTools("dgw-fake-tool", "dgw-missing-1", "dgw-missing-2"), {
        ok: false,
        missing: ["dgw-missing-1", "dgw-missing-2"],
      });
    } finally {
      Deno.env.set("PATH", saved);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Runs a tiny test file that registers one interopTest needing a tool that does not exist. */
async function runMissingToolTest(ci: string): Promise<{ code: number; output: string }> {
  const dir = await Deno.makeTempDir({ prefix: "dgw-tools-test-" });
  try {
    const file = `${dir}/missing_test.ts`;
    const tools = new URL("../support/tools.ts", import.meta.url).href;
    await Deno.writeTextFile(
      file,
      `import { interopTest } from "${tools}";\n` +
        `interopTest("needs a tool", ["dgw-no-such-tool-anywhere"], async () => {});\n`,
    );
    const result = await runCommand(Deno.execPath(), ["test", "--allow-all", "--no-check", file], {
      env: { CI: ci, NO_COLOR: "1" },
      timeoutMs: 60_000,
    });
    return { code: result.code, output: result.stdout + result.stderr };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("interopTest with a missing tool: ignored with a message outside CI", async () => {
  const { code, output } = await runMissingToolTest("false");
  assertEquals(code, 0, output);
  assert(output.includes("missing tools dgw-no-such-tool-anywhere"), output);
  assert(/1 ignored/.test(output), output);
});

Deno.test("interopTest with a missing tool: fails in CI", async () => {
  const { code, output } = await runMissingToolTest("true");
  assert(code !== 0, output);
  assert(output.includes("missing tools in CI: dgw-no-such-tool-anywhere"), output);
});
