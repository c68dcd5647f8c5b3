/**
 * `deno run main.ts` as a user runs it: the banner, a plain sentence when the port is taken,
 * a clean stop on Ctrl+C (SIGINT) with the log file flushed, configuration warnings shown, and
 * refusal of unknown options.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { banner } from "../../src/cli/run.ts";
import { defaultConfig } from "../../src/config/types.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

function gatewayCommand(dir: string, args: string[], env: Record<string, string> = {}): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "--data-dir", `${dir}/data`, "--log-dir", `${dir}/logs`, ...args],
    cwd: dir,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  });
}

Deno.test("a DICOM port already in use gives one plain sentence and a non-zero exit, no stack trace", async () => {
  const dir = await Deno.makeTempDir();
  using blocker = Deno.listen({ hostname: "0.0.0.0", port: 0 });
  const port = (blocker.addr as Deno.NetAddr).port;
  try {
    const out = await gatewayCommand(dir, ["--port", String(port), "--status-port", "0"]).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assertEquals(out.code, 1, stderr);
    assert(stderr.includes(`Port ${port} is already in use`), stderr);
    assert(stderr.includes("another copy"), stderr);
    assert(!/\n\s+at /.test(stderr), `no stack trace expected:\n${stderr}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Starts the gateway on a free port, sends SIGINT once the banner is out; returns what it printed. */
async function runUntilSigint(
  dir: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ port: number; banner: string; stdout: string; stderr: string; code: number }> {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const child = gatewayCommand(dir, ["--port", String(port), "--status-port", "0", ...args], env).spawn();
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let stdout = "";
  while (!stdout.includes("Press Ctrl+C")) {
    const { value, done } = await reader.read();
    if (done) break;
    stdout += value;
  }
  const banner = stdout;
  child.kill("SIGINT");
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    stdout += value;
  }
  return { port, banner, stdout, stderr: await stderr, code: (await child.status).code };
}

Deno.test("the banner names AE title, port and status page; SIGINT stops cleanly with exit 0", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const run = await runUntilSigint(dir, ["--ae-title", "CLINIC_GW"]);
    assert(run.banner.includes("AE title:   CLINIC_GW"), run.banner);
    assert(run.banner.includes(`Port:       ${run.port}`), run.banner);
    assert(run.banner.includes("NOT CONFIGURED"), run.banner);
    assertEquals(run.code, 0, `${run.stdout}\n${run.stderr}`);
    assert(run.stdout.includes("Stopped."), run.stdout);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an unknown option stops the gateway with a clear message (exit 2)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = await gatewayCommand(dir, ["--port", "4999", "--status-port", "0", "--frobnicate"]).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assertEquals(out.code, 2, stderr);
    assert(stderr.includes("frobnicate"), stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a configuration warning is shown at start-up; after SIGINT the log file holds it and ends with Stopped.", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const run = await runUntilSigint(dir, [], { DICOM_GATEWAY_FROBNICATE: "yes" });
    assertEquals(run.code, 0, `${run.stdout}\n${run.stderr}`);
    const warning =
      "The environment variable DICOM_GATEWAY_FROBNICATE is not a dicom-gateway setting and is ignored.";
    assert(run.stderr.includes(`WARNING  ${warning}`), run.stderr);
    // The file sink buffers (non-blocking, flushed each second): only shutdownLogging() gets the
    // last lines written before the process exits.
    const log = await Deno.readTextFile(`${dir}/logs/dicom-gateway.log`);
    const lines = log.trimEnd().split("\n");
    assert(lines.some((l) => l.includes("WARN") && l.endsWith(warning)), log);
    assert(lines.some((l) => l.includes(`started: AE title DICOM_GATEWAY, DICOM port ${run.port}`)), log);
    assert(lines.at(-1)!.endsWith("Stopped."), log);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the banner never shows the upload URL's user name, password or query", () => {
  const config = defaultConfig("/gw");
  config.upload.url = "https://clinic:s3cret@archive.example/dicom-web/?token=abc";
  const text = banner({
    config,
    port: 4104,
    addresses: [{ address: "192.168.1.5", interfaceName: "eth0", linkLocal: false }],
    statusUrl: null,
    configPath: "/gw/dicom-gateway.toml",
  });
  assert(text.includes("Uploading to: https://archive.example/dicom-web"), text);
  assert(!/clinic|s3cret|token/.test(text), text);
  assert(text.includes("IP address: 192.168.1.5   (eth0)"), text);
});

Deno.test("a misspelt flag gets a 'did you mean'", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = await gatewayCommand(dir, ["--status-port", "0", "--prot", "4999"]).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assertEquals(out.code, 2, stderr);
    assert(stderr.includes('"--prot" (did you mean --port?)'), stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("status port in use: receiving continues, the banner says the page did not open and shows no address", async () => {
  const dir = await Deno.makeTempDir();
  using blocker = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const statusPort = (blocker.addr as Deno.NetAddr).port;
  try {
    const run = await runUntilSigint(dir, ["--status-port", String(statusPort)]);
    assert(
      run.banner.includes(
        `Status page:  NOT OPEN: port ${statusPort} is already used by another program.`,
      ),
      run.banner,
    );
    assert(!run.banner.includes(`http://127.0.0.1:${statusPort}`), run.banner);
    assert(run.banner.includes("Receiving and uploading continue."), run.banner);
    assertEquals(run.code, 0, `${run.stdout}\n${run.stderr}`);
    assert(!/\n\s+at /.test(run.stderr), run.stderr);
    assert(
      run.stderr.includes(`The status page could not open: port ${statusPort} is already used`),
      run.stderr,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a missing CA file is named at start in the banner and the log, and receiving continues", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const run = await runUntilSigint(dir, [
      "--upload-url",
      "https://127.0.0.1:9/dicom-web",
      "--upload-ca-file",
      "missing-ca.pem",
    ]);
    assert(run.banner.includes("UPLOAD PROBLEM: The CA certificate file"), run.banner);
    assert(run.banner.includes("missing-ca.pem was not found"), run.banner);
    assert(run.stderr.includes("missing-ca.pem was not found"), run.stderr);
    assertEquals(run.code, 0, `${run.stdout}\n${run.stderr}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the banner lists every address with its adapter and range; none at all says so", () => {
  const config = defaultConfig("/gw");
  const text = banner({
    config,
    port: 4104,
    addresses: [
      { address: "130.92.40.7", interfaceName: "Hospital LAN", linkLocal: false, kind: "public" },
      { address: "100.100.1.2", interfaceName: "VPN", linkLocal: false, kind: "shared" },
      { address: "169.254.3.4", interfaceName: "Wi-Fi", linkLocal: true, kind: "link-local" },
    ],
    statusUrl: "http://127.0.0.1:4105/",
    configPath: "/gw/dicom-gateway.toml",
  });
  assert(text.includes("IP address: 130.92.40.7   (Hospital LAN)   public"), text);
  assert(text.includes("IP address: 100.100.1.2   (VPN)   shared range 100.64/10"), text);
  assert(text.includes("(not usable: 169.254.3.4 (Wi-Fi, link-local"), text);
  const none = banner({ config, port: 4104, addresses: [], statusUrl: null, configPath: "/gw/x.toml" });
  assert(none.includes("IP address: NONE FOUND"), none);
});

Deno.test("each connection logs 'released' once, and the A-ABORT / OS error tails are words", async () => {
  const dir = await Deno.makeTempDir();
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const child = gatewayCommand(dir, ["--port", String(port), "--status-port", "0"]).spawn();
  const stdoutText = new Response(child.stdout).text();
  const stderrText = new Response(child.stderr).text();
  try {
    const real = "/work/shared/testdata/real-images/CT_128_GE.dcm";
    const haveReal = await Deno.stat(real).then(() => true, () => false);
    for (let i = 0; i < 50; i++) {
      const echo = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", MAIN, "echo", `127.0.0.1:${port}`],
        stdout: "null",
        stderr: "null",
      }).output();
      if (echo.success) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    if (haveReal) {
      const stored = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", MAIN, "store", `127.0.0.1:${port}`, real],
        stdout: "null",
        stderr: "null",
      }).output();
      assert(stored.success);
    }
  } finally {
    child.kill("SIGINT");
    await child.status;
  }
  const out = (await stdoutText) + (await stderrText);
  await Deno.remove(dir, { recursive: true });
  const released = out.split("\n").filter((l) => / released/.test(l));
  const perAssociation = new Map<string, number>();
  for (const l of released) {
    const id = /Association (#?\d+)/.exec(l)?.[1] ?? "?";
    perAssociation.set(id, (perAssociation.get(id) ?? 0) + 1);
  }
  for (const [id, n] of perAssociation) {
    assertEquals(n, 1, `association ${id} logged "released" ${n} times:\n${out}`);
  }
  assert(!/source \d+, reason \d+\)/.test(out.replace(/PS3\.8 source \d+, reason \d+/g, "")), out);
});
