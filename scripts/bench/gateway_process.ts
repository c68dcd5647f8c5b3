/**
 * The gateway as a child process for the benchmark (`deno run -A --v8-flags=… main.ts …`), and the
 * small measurements every receive scenario takes of it.
 * @module
 */
import { storescu } from "../harness/dcmtk.ts";
import { cpuSeconds, freePort, peakRssKb, REPO_ROOT, spawnChild } from "../harness/process.ts";
import type { ChildHandle } from "../harness/process.ts";
import { V8_FLAGS } from "../compile.ts";

/** The gateway running as a child process. */
export interface GatewayProcess {
  port: number;
  pid: number;
  child: ChildHandle;
  /** Peak RSS so far (VmHWM), read while it runs. */
  peakRssKb(): Promise<number | undefined>;
  stop(): Promise<void>;
}

/** How the gateway is started (set by the runner from its options). */
const launch = { entry: "main.ts", noCheck: false };

/** Sets the script the gateway is started from (main.ts or scripts/bench_gateway.ts) and --no-check. */
export function setGatewayLaunch(entry: string, noCheck: boolean): void {
  launch.entry = entry;
  launch.noCheck = noCheck;
}
/** Why the gateway could not start the first time: later parts skip it instead of failing again. */
let gatewayProblem: string | undefined;

/**
 * Starts `deno run -A --v8-flags=… main.ts --port P --bind 127.0.0.1 --data-dir D --status-port 0 --log-dir ""`
 * plus `extraArgs` and waits for the banner's "Port:" line. Throws with the gateway's output if
 * it exits or stays silent.
 */
export async function startGatewayProcess(
  dataDir: string,
  extraArgs: string[] = [],
  env: Record<string, string> = {},
): Promise<GatewayProcess> {
  if (gatewayProblem !== undefined) {
    throw new Error(`skipped: the gateway did not start earlier (${gatewayProblem})`);
  }
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = freePort();
    const args = [
      "run",
      "-A",
      V8_FLAGS,
      ...(launch.noCheck ? ["--no-check"] : []),
      launch.entry,
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--data-dir",
      dataDir,
      "--status-port",
      "0",
      "--log-dir",
      "",
      ...extraArgs,
    ];
    const child = spawnChild(Deno.execPath(), args, { cwd: REPO_ROOT, env: { NO_COLOR: "1", ...env } });
    try {
      await child.waitForOutput(/^\s*Port:\s+(\d+)/m, 120_000);
      const gateway: GatewayProcess = {
        port,
        pid: child.pid,
        child,
        peakRssKb: () => peakRssKb(child.pid),
        async stop() {
          await child.stop("SIGTERM", 15_000);
        },
      };
      return gateway;
    } catch (error) {
      await child.stop("SIGKILL", 1000);
      lastError = new Error(`the gateway did not start: ${lastLines(child.output(), 15) || String(error)}`);
      if (!/in use|EADDRINUSE/i.test(child.output())) break;
    }
  }
  gatewayProblem = lastError?.message.replace(/^the gateway did not start: /, "").split("\n")[0];
  throw lastError;
}

/** CPU seconds `pid` used since the reading `before`. */
export async function cpuUsed(pid: number, before: number | undefined): Promise<number | undefined> {
  const after = await cpuSeconds(pid);
  return before === undefined || after === undefined ? undefined : after - before;
}

/** The last `n` lines of `text`. */
export function lastLines(text: string, n: number): string {
  return text.trim().split("\n").slice(-n).join("\n");
}

/** Number of `.dcm` files under `dir`, recursively. */
export async function countDcm(dir: string): Promise<number> {
  let n = 0;
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isDirectory) n += await countDcm(`${dir}/${entry.name}`);
    else if (entry.isFile && entry.name.endsWith(".dcm")) n++;
  }
  return n;
}

/** Sends `files` with storescu over one association; returns seconds, or throws with storescu's complaint. */
export async function timedStorescu(port: number, files: string[], calledAe: string): Promise<number> {
  const result = await storescu("127.0.0.1", port, files, {
    calledAe,
    callingAe: "BENCH",
    timeoutMs: 3_600_000,
  });
  if (!result.success) {
    throw new Error(`storescu failed (exit ${result.code}): ${lastLines(result.stderr, 5)}`);
  }
  return result.durationMs / 1000;
}
