/**
 * Runs `main.ts` exactly as `deno task start` does: the `--allow-*` flags are read from the start
 * task in deno.json (not `--allow-all`), so a test sees what a user's copy can and cannot do.
 * @module
 */
import { type ChildHandle, runCommand, type RunResult, spawnChild } from "../../scripts/harness/process.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
/** The gateway's entry point. */
export const MAIN = `${ROOT}main.ts`;
const CONFIG = `${ROOT}deno.json`;

/** The `--allow-*` flags of the start task, in its order. */
export async function startPermissions(): Promise<string[]> {
  const deno = JSON.parse(await Deno.readTextFile(CONFIG)) as { tasks: Record<string, string> };
  const start = deno.tasks["start"];
  if (start === undefined) throw new Error("deno.json has no start task");
  const flags = start.split(/\s+/).filter((word) => word.startsWith("--allow-"));
  if (flags.length === 0 || flags.includes("--allow-all") || flags.includes("-A")) {
    throw new Error(`the start task's permissions are not what these tests assume: ${start}`);
  }
  return flags;
}

async function runArgs(args: string[]): Promise<string[]> {
  return ["run", "--config", CONFIG, ...await startPermissions(), MAIN, ...args];
}

const ENV = { NO_COLOR: "1" };

/** Runs a command to completion under the start task's permissions, in `cwd`. */
export async function runWithStartPermissions(
  args: string[],
  o: { cwd: string; timeoutMs?: number },
): Promise<RunResult> {
  return runCommand(Deno.execPath(), await runArgs(args), {
    cwd: o.cwd,
    env: ENV,
    timeoutMs: o.timeoutMs ?? 60_000,
  });
}

/** Starts a long-running command under the start task's permissions, in `cwd`. */
export async function spawnWithStartPermissions(args: string[], o: { cwd: string }): Promise<ChildHandle> {
  return spawnChild(Deno.execPath(), await runArgs(args), { cwd: o.cwd, env: ENV, timeoutMs: 120_000 });
}
