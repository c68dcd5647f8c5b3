/**
 * The single-instance lock across processes, under exactly the start task's permissions: a second
 * copy on the same data folder is refused with one sentence; a copy killed with SIGKILL leaves
 * its lock file behind, and that file does not block the next start.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { freePort } from "../../scripts/harness/process.ts";
import { tempDir } from "../status/helpers.ts";
import { LOCK_FILE_NAME } from "../../src/cli/install.ts";
import { joinPath } from "../../src/platform/fs.ts";
import { runWithStartPermissions, spawnWithStartPermissions } from "./start_permissions.ts";

function gatewayArgs(dir: string): string[] {
  return [
    "--data-dir",
    joinPath(dir, "data"),
    "--log-dir",
    joinPath(dir, "logs"),
    "--port",
    String(freePort()),
    "--status-port",
    "0",
  ];
}

Deno.test("a second copy on the same data folder is refused; a SIGKILLed copy's lock file does not block", async () => {
  const dir = await tempDir();
  const dataDir = joinPath(dir, "data");
  const first = await spawnWithStartPermissions(gatewayArgs(dir), { cwd: dir });
  try {
    await first.waitForOutput(/Press Ctrl\+C/, 60_000);

    // Another port, so only the lock can stop it.
    const second = await runWithStartPermissions(gatewayArgs(dir), { cwd: dir });
    const said = second.stdout + second.stderr;
    assertEquals(second.code, 1, said);
    // Windows forbids reading a file another process has locked, so the PID is named elsewhere only.
    const who = Deno.build.os === "windows"
      ? "another copy of dicom-gateway"
      : `another copy of dicom-gateway (process ${first.pid}`;
    assert(said.includes(who), said);
    assert(said.includes(`is already using ${dataDir}`), said);
    assert(!said.includes("Press Ctrl+C"), `the second copy must not start:\n${said}`);
    assert(!said.includes("Uncaught") && !/\n\s+at /.test(said), said);
  } finally {
    first.stop("SIGKILL", 0);
    await first.status;
  }
  // The killed copy could not clean up: its lock file, with its PID, is still there.
  const left = JSON.parse(await Deno.readTextFile(joinPath(dataDir, LOCK_FILE_NAME)));
  assertEquals(left.pid, first.pid);

  const third = await spawnWithStartPermissions(gatewayArgs(dir), { cwd: dir });
  try {
    await third.waitForOutput(/Press Ctrl\+C/, 60_000);
  } finally {
    const status = await third.stop("SIGTERM");
    // Windows ends another process without a signal it could handle: no clean exit code there.
    if (Deno.build.os !== "windows") assertEquals(status.code, 0, third.output());
  }
});
