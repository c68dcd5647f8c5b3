/**
 * Smoke test of a built gateway, run by .github/workflows/windows-release.yml on the fresh
 * `dicom-gateway.exe`, and by tests/cli/smoke_test.ts here with `deno run` standing in for it:
 *
 *   deno run --allow-all .github/smoke/smoke.ts dist\dicom-gateway.exe
 *   deno run --allow-all .github/smoke/smoke.ts --port 0 -- deno run --allow-net … main.ts
 *
 * In a new temporary folder (the exe copied there, so its data\ folder is beside it): start it,
 * refuse a second copy on the same data folder, `echo` it, `store` one instance into it, find
 * the file under data\, check that `install --help` and `doctor` answer without a stack trace,
 * and stop it. Prints one line per step; exit code 0 only when every step passed.
 * @module
 */
import { parseArgs } from "node:util";
import { makeCtSeries } from "../../scripts/harness/data.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  options: { port: { type: "string", default: "4104" } },
  allowPositionals: true,
});
const [given, ...prefix] = positionals;
if (given === undefined) {
  console.error("usage: smoke.ts [--port N] PROGRAM [ARGS...]");
  Deno.exit(2);
}

const dir = await Deno.makeTempDir({ prefix: "dg-smoke-" });
const sep = Deno.build.os === "windows" ? "\\" : "/";
const baseName = given.replace(/^.*[\\/]/, "");
const underDeno = /^deno(\.exe)?$/i.test(baseName);
// The exe keeps its data beside itself, so it runs from a copy in the temporary folder; under
// `deno run` the data folder is beside the working directory instead.
const program = underDeno ? given : `${dir}${sep}${baseName}`;
if (!underDeno) await Deno.copyFile(given, program);

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}
const port = values.port === "0" ? freePort() : Number(values.port);
const statusPort = freePort();

let failures = 0;
function check(ok: boolean, what: string, output = ""): void {
  console.log(`${ok ? "✔" : "✘"} ${what}`);
  if (!ok) {
    failures++;
    if (output !== "") console.log(output.replace(/^/gm, "    | "));
  }
}

const decoder = new TextDecoder();
async function run(args: string[]): Promise<{ code: number; text: string }> {
  const out = await new Deno.Command(program, {
    args: [...prefix, ...args],
    cwd: dir,
    stdin: "null",
    env: { NO_COLOR: "1" },
  }).output();
  return { code: out.code, text: decoder.decode(out.stdout) + decoder.decode(out.stderr) };
}

function plain(text: string): boolean {
  return !text.includes("Uncaught") && !/^\s{4}at /m.test(text);
}

async function* walk(path: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(path)) {
    const full = `${path}${sep}${entry.name}`;
    if (entry.isDirectory) yield* walk(full);
    else yield full;
  }
}

const gateway = new Deno.Command(program, {
  args: [...prefix, "--port", String(port), "--status-port", String(statusPort)],
  cwd: dir,
  stdin: "null",
  stdout: "piped",
  stderr: "piped",
  env: { NO_COLOR: "1" },
}).spawn();
let gatewayText = "";
const pump = async (stream: ReadableStream<Uint8Array>) => {
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) gatewayText += chunk;
};
const drained = Promise.all([pump(gateway.stdout), pump(gateway.stderr)]);
let exited = false;
const gatewayStatus = gateway.status.then((s) => {
  exited = true;
  return s;
});

try {
  const deadline = Date.now() + 60_000;
  while (!gatewayText.includes("Press Ctrl+C") && !exited && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const started = gatewayText.includes("Press Ctrl+C");
  check(started, `the gateway starts in ${dir} on DICOM port ${port}`, gatewayText);
  if (started) {
    const second = await run(["--port", String(freePort()), "--status-port", "0"]);
    check(
      second.code !== 0 && second.text.includes("already using") && plain(second.text),
      "a second copy on the same data folder is refused with one sentence",
      second.text,
    );

    const echo = await run(["echo", `127.0.0.1:${port}`]);
    check(echo.code === 0, `echo 127.0.0.1:${port} answers Success`, echo.text);

    const input = `${dir}${sep}input`;
    await Deno.mkdir(input);
    const [file] = await makeCtSeries(input, { count: 1, rows: 32, columns: 32 });
    const store = await run(["store", `127.0.0.1:${port}`, file ?? input]);
    check(store.code === 0, "store sends one instance", store.text);

    const stored: string[] = [];
    try {
      for await (const path of walk(`${dir}${sep}data`)) if (path.endsWith(".dcm")) stored.push(path);
    } catch (error) {
      check(false, `data folder readable: ${error instanceof Error ? error.message : error}`);
    }
    check(stored.length === 1, `the instance is under data${sep}: ${stored.join(", ") || "none"}`);

    const help = await run(["install", "--help"]);
    check(help.code === 0 && help.text.includes("install") && plain(help.text), "install --help", help.text);

    const doctor = await run(["doctor"]);
    check(
      (doctor.code === 0 || doctor.code === 1) && plain(doctor.text) && doctor.text.trim() !== "",
      `doctor answers plainly (exit code ${doctor.code})`,
      doctor.text,
    );
  }
} finally {
  // Windows has no SIGINT/SIGTERM for another process: the OS ends it (and frees its lock).
  try {
    gateway.kill(Deno.build.os === "windows" ? "SIGKILL" : "SIGTERM");
  } catch { /* already gone */ }
  await gatewayStatus;
  await drained.catch(() => {});
}
check(plain(gatewayText), "the gateway printed no stack trace", gatewayText);
await Deno.remove(dir, { recursive: true }).catch(() => {});
console.log(failures === 0 ? "Smoke test passed." : `Smoke test FAILED: ${failures} step(s).`);
Deno.exit(failures === 0 ? 0 : 1);
