/**
 * Every command through unwritable, missing and damaged inputs, run as a user runs it (under the
 * start task's permissions): each ends in a sentence naming the path, a non-zero exit code, and
 * no "Uncaught" and no stack trace.
 *
 * Tests run as root, whom permission bits do not stop, so "unwritable" is made three ways that
 * stop root too: a file as the parent folder (ENOTDIR), a path under /proc (outside what the
 * start task's permissions allow), and a read-only tmpfs mount when this machine lets us mount
 * one (the test says so in its name when it cannot).
 */
import { assert } from "../support/assert.ts";
import { freePort, runCommand } from "../../scripts/harness/process.ts";
import { tempDir } from "../status/helpers.ts";
import { joinPath } from "../../src/platform/fs.ts";
import { runWithStartPermissions, spawnWithStartPermissions } from "./start_permissions.ts";

interface Case {
  name: string;
  args: string[];
  /** Text the answer must contain: the path (and sometimes the setting). */
  names: string[];
}

async function makeReadOnlyMount(dir: string): Promise<string | null> {
  const path = joinPath(dir, "read-only");
  await Deno.mkdir(path);
  if (Deno.build.os !== "linux") return null;
  const r = await runCommand("mount", ["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", path]).catch(() => null);
  return r?.success ? path : null;
}

/** A free DICOM port and no status page, so only the input under test can stop a start. */
function quiet(): string[] {
  return ["--port", String(freePort()), "--status-port", "0"];
}

async function cases(dir: string, readOnly: string | null): Promise<Case[]> {
  const aFile = joinPath(dir, "a-file");
  await Deno.writeTextFile(aFile, "not a folder\n");
  const underFile = joinPath(aFile, "data");
  const underProc = "/proc/dicom-gateway-data";
  const missing = joinPath(dir, "missing-folder");
  const damagedToml = joinPath(dir, "damaged.toml");
  await Deno.writeTextFile(damagedToml, "port = [4104\n");
  const damagedQueue = joinPath(dir, "damaged-queue");
  await Deno.mkdir(damagedQueue);
  await Deno.writeFile(
    joinPath(damagedQueue, "queue.sqlite"),
    new TextEncoder().encode("SQLite format 3\0 but then garbage, not pages".repeat(50)),
  );
  const notDicom = joinPath(dir, "not-dicom.dcm");
  await Deno.writeTextFile(notDicom, "this is not a DICOM file\n");

  const list: Case[] = [];
  const unwritable: [string, string][] = [["a file as parent", underFile], ["under /proc", underProc]];
  if (readOnly !== null) unwritable.push(["on a read-only mount", joinPath(readOnly, "data")]);
  for (const [how, path] of unwritable) {
    list.push({ name: `run: --data-dir ${how}`, args: ["--data-dir", path, ...quiet()], names: [path] });
    list.push({
      name: `init: --config ${how}`,
      args: ["init", "--config", joinPath(path, "x.toml")],
      names: [path],
    });
    list.push({ name: `doctor: --data-dir ${how}`, args: ["doctor", "--data-dir", path], names: [path] });
    list.push({
      name: `retry-failed: --data-dir ${how}`,
      args: ["retry-failed", "--data-dir", path],
      names: [path],
    });
  }
  list.push({
    name: "init: --config in a missing folder",
    args: ["init", "--config", joinPath(missing, "dicom-gateway.toml")],
    names: [missing],
  });
  list.push({
    name: "run: a damaged queue.sqlite",
    args: ["--data-dir", damagedQueue, ...quiet()],
    names: [joinPath(damagedQueue, "queue.sqlite")],
  });
  list.push({
    name: "retry-failed: a damaged queue.sqlite",
    args: ["retry-failed", "--data-dir", damagedQueue],
    names: [joinPath(damagedQueue, "queue.sqlite")],
  });
  list.push({
    name: "store: a missing file",
    args: ["store", "127.0.0.1:1", joinPath(missing, "x.dcm")],
    names: [joinPath(missing, "x.dcm")],
  });
  list.push({
    name: "store: a file that is not DICOM",
    args: ["store", "127.0.0.1:1", notDicom],
    names: [notDicom],
  });
  list.push({ name: "echo: nobody listening", args: ["echo", "127.0.0.1:1"], names: ["127.0.0.1"] });
  for (const command of ["run", "echo", "store", "doctor", "retry-failed", "install", "uninstall"]) {
    const extra = command === "echo" || command === "store" ? ["127.0.0.1:1"] : [];
    const head = command === "run" ? [] : [command];
    list.push({
      name: `${command}: a missing --config file`,
      args: [...head, ...extra, "--config", joinPath(missing, "dicom-gateway.toml")],
      names: [joinPath(missing, "dicom-gateway.toml")],
    });
    list.push({
      name: `${command}: a damaged --config file`,
      args: [...head, ...extra, "--config", damagedToml],
      names: [damagedToml],
    });
  }
  return list;
}

Deno.test({
  name: "every command, given an unusable path, ends in one plain sentence naming it",
  async fn(t) {
    const dir = await tempDir();
    const readOnly = await makeReadOnlyMount(dir);
    if (readOnly === null) {
      console.warn("No read-only mount possible here: file-as-parent and /proc cases only.");
    }
    try {
      for (const c of await cases(dir, readOnly)) {
        await t.step(c.name, async () => {
          const r = await runWithStartPermissions(c.args, { cwd: dir, timeoutMs: 30_000 });
          const said = `${r.stdout}\n${r.stderr}`;
          assert(!r.timedOut, `${c.name}: still running after 30 s:\n${said}`);
          assert(r.code !== 0, `${c.name}: exit code 0:\n${said}`);
          for (const text of c.names) assert(said.includes(text), `${c.name}: "${text}" not named:\n${said}`);
          assert(!said.includes("Uncaught"), `${c.name}: uncaught error:\n${said}`);
          assert(!/^\s{4}at /m.test(said), `${c.name}: stack trace:\n${said}`);
        });
      }
    } finally {
      if (readOnly !== null) {
        const unmounted = await runCommand("umount", [readOnly]);
        assert(unmounted.success, `umount ${readOnly}: ${unmounted.stderr}`);
      }
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("an unusable --log-dir is named in a warning and the gateway keeps receiving (logs are not worth a stop)", async () => {
  const dir = await tempDir();
  try {
    const aFile = joinPath(dir, "a-file");
    await Deno.writeTextFile(aFile, "not a folder\n");
    const logDir = joinPath(aFile, "logs");
    const child = await spawnWithStartPermissions(
      ["--log-dir", logDir, "--data-dir", joinPath(dir, "data"), ...quiet()],
      { cwd: dir },
    );
    try {
      await child.waitForOutput(/Press Ctrl\+C/, 60_000);
      assert(child.output().includes(`Log files cannot be written in ${logDir}`), child.output());
    } finally {
      await child.stop("SIGTERM");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
