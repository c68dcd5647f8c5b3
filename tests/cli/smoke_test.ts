/**
 * The Windows release workflow's smoke test (.github/smoke/smoke.ts), run here with `deno run`
 * under the start task's permissions standing in for the built exe: so its steps are known to
 * work before the workflow first runs on Windows.
 */
import { assert } from "../support/assert.ts";
import { runCommand } from "../../scripts/harness/process.ts";
import { MAIN, startPermissions } from "./start_permissions.ts";

const SMOKE = new URL("../../.github/smoke/smoke.ts", import.meta.url).pathname;
const CONFIG = new URL("../../deno.json", import.meta.url).pathname;

Deno.test("the release smoke test passes against the gateway under deno run", async () => {
  const r = await runCommand(Deno.execPath(), [
    "run",
    "--allow-all",
    SMOKE,
    "--port",
    "0",
    "--",
    Deno.execPath(),
    "run",
    "--config",
    CONFIG,
    ...await startPermissions(),
    MAIN,
  ], { timeoutMs: 180_000 });
  const said = r.stdout + r.stderr;
  assert(r.code === 0, said);
  for (
    const step of ["echo 127.0.0.1:", "store sends one instance", "the instance is under data", "doctor"]
  ) {
    assert(said.includes(`✔ ${step}`), `${step}:\n${said}`);
  }
  assert(said.includes("Smoke test passed."), said);
});
