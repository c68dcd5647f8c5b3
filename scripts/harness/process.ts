/**
 * Process helpers for interop tests and the benchmark: free TCP ports, peak resident
 * memory of a child (Linux `/proc`), running a command to completion, and running a
 * long-lived child whose output is kept in a buffer that a test can wait on.
 * @module
 */

/**
 * A TCP port that was free a moment ago on `hostname`: binds port 0, reads the port
 * the kernel chose, closes the listener. Another process may take it before the caller
 * does; callers that start servers retry on a bind failure.
 */
export function freePort(hostname = "127.0.0.1"): number {
  const listener = Deno.listen({ hostname, port: 0, transport: "tcp" });
  try {
    return (listener.addr as Deno.NetAddr).port;
  } finally {
    listener.close();
  }
}

/** A field of `/proc/<pid>/status` in kB (Linux only), or `undefined` (no such process, not Linux). */
async function procStatusKb(pid: number, field: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(`/proc/${pid}/status`);
  } catch {
    return undefined;
  }
  const match = text.match(new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, "m"));
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/**
 * Peak resident set size ("high water mark", `VmHWM` in `/proc/<pid>/status`) of a
 * running process in kB. Read it before the process exits: afterwards `/proc/<pid>` is gone
 * and the result is `undefined` (also on systems without `/proc`).
 */
export function peakRssKb(pid: number): Promise<number | undefined> {
  return procStatusKb(pid, "VmHWM");
}

/** Current resident set size (`VmRSS`) of a running process in kB, or `undefined`. */
export function currentRssKb(pid: number): Promise<number | undefined> {
  return procStatusKb(pid, "VmRSS");
}

/**
 * CPU time (user + system) a running process has used so far, in seconds, from fields 14 and 15
 * of `/proc/<pid>/stat` (clock ticks, 100 per second on Linux); `undefined` if unavailable.
 */
export async function cpuSeconds(pid: number): Promise<number | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(`/proc/${pid}/stat`);
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may contain spaces: split after the last ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return Number.isFinite(utime) && Number.isFinite(stime) ? (utime + stime) / 100 : undefined;
}

/** Options for {@linkcode runCommand} and {@linkcode spawnChild}. */
export interface RunOptions {
  /** Extra environment variables (added to the inherited environment). */
  env?: Record<string, string>;
  cwd?: string;
  /** Kill the process (SIGKILL) after this many milliseconds; the result then has `timedOut: true`. */
  timeoutMs?: number;
}

/** Outcome of {@linkcode runCommand}. */
export interface RunResult {
  /** Exit code (`-1` when the process was killed by a signal). */
  code: number;
  success: boolean;
  stdout: string;
  stderr: string;
  /** Wall-clock duration in milliseconds. */
  durationMs: number;
  timedOut: boolean;
}

/** Runs `command args…` to completion and collects its output as text. Never throws on a non-zero exit. */
export async function runCommand(
  command: string,
  args: string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const start = performance.now();
  const child = new Deno.Command(command, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    ...(options.env === undefined ? {} : { env: options.env }),
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  }).spawn();
  let timedOut = false;
  const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, options.timeoutMs);
  try {
    const out = await child.output();
    const decoder = new TextDecoder();
    return {
      code: out.signal === null ? out.code : -1,
      success: out.success,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
      durationMs: performance.now() - start,
      timedOut,
    };
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

/** A long-lived child process whose stdout and stderr are collected into one text buffer. */
export interface ChildHandle {
  readonly pid: number;
  /** Everything the child wrote so far (stdout and stderr interleaved in arrival order). */
  output(): string;
  /** Resolves when the output matches `pattern`; rejects on timeout or if the child exits first. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit status once the child has exited and its output is drained. */
  readonly status: Promise<Deno.CommandStatus>;
  /** True once the child has exited. */
  exited(): boolean;
  /** Sends `signal` (default SIGTERM), waits up to `graceMs` (default 5000), then SIGKILL. */
  stop(signal?: Deno.Signal, graceMs?: number): Promise<Deno.CommandStatus>;
}

/** Starts `command args…` with its output streamed into a buffer (see {@linkcode ChildHandle}). */
export function spawnChild(command: string, args: string[], options: RunOptions = {}): ChildHandle {
  const child = new Deno.Command(command, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    ...(options.env === undefined ? {} : { env: options.env }),
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  }).spawn();
  let text = "";
  let hasExited = false;
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const listener of listeners) listener();
  };
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      text += decoder.decode(chunk, { stream: true });
      notify();
    }
    text += decoder.decode();
  };
  const drained = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const status = (async () => {
    const s = await child.status;
    // A grandchild may keep the pipes open after the child exits: wait a little, not for ever.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      drained.catch(() => {}),
      new Promise((resolve) => timer = setTimeout(resolve, 1000)),
    ]);
    clearTimeout(timer);
    hasExited = true;
    notify();
    return s;
  })();
  const killTimer = options.timeoutMs === undefined ? undefined : setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, options.timeoutMs);
  if (killTimer !== undefined) status.finally(() => clearTimeout(killTimer));

  return {
    pid: child.pid,
    output: () => text,
    status,
    exited: () => hasExited,
    waitForOutput(pattern: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = text.match(pattern);
          if (match !== null) {
            done();
            resolve(match);
          } else if (hasExited) {
            done();
            reject(new Error(`Process ${command} exited before printing ${pattern}; output:\n${text}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(
            new Error(
              `Timed out after ${timeoutMs} ms waiting for ${pattern} from ${command}; output:\n${text}`,
            ),
          );
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
    async stop(signal: Deno.Signal = "SIGTERM", graceMs = 5000): Promise<Deno.CommandStatus> {
      if (hasExited) return status;
      try {
        child.kill(signal);
      } catch { /* already gone */ }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const forced = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          try {
            child.kill("SIGKILL");
          } catch { /* already gone */ }
          resolve();
        }, graceMs);
      });
      await Promise.race([status, forced]);
      clearTimeout(timer);
      return status;
    },
  };
}

/** The repository root (where main.ts and deno.json are). */
export const REPO_ROOT: string = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");

/**
 * Runs the gateway's command line, `deno run -A main.ts ARGS…`, from the repository root to
 * completion (e.g. `["store", "127.0.0.1:11112", "a.dcm"]`).
 */
export function runGatewayCommand(args: string[], options: RunOptions = {}): Promise<RunResult> {
  return runCommand(Deno.execPath(), ["run", "-A", "main.ts", ...args], {
    cwd: REPO_ROOT,
    env: { NO_COLOR: "1", ...options.env },
    timeoutMs: options.timeoutMs ?? 120_000,
  });
}

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Sum of the sizes of `paths` in bytes. */
export async function totalBytes(paths: readonly string[]): Promise<number> {
  let sum = 0;
  for (const path of paths) sum += (await Deno.stat(path)).size;
  return sum;
}
