import { assert, assertEquals, assertStringIncludes } from "../support/assert.ts";
import { tempDir } from "../status/helpers.ts";
import {
  buildCompileArgs,
  CompileError,
  defaultOutput,
  denortArchivePath,
  EMBEDDED_ENV,
  findRuntime,
  missingRuntimeMessage,
  PERMISSIONS,
  V8_FLAGS,
} from "../../scripts/compile.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const decode = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("compile arguments for the Windows exe: target, icon, exact permissions, no prompt, CA store env", () => {
  assertEquals(
    buildCompileArgs({
      target: "x86_64-pc-windows-msvc",
      output: "dist/dicom-gateway.exe",
      icon: "assets/dicom-gateway.ico",
      envFile: "/tmp/x.env",
    }),
    [
      "compile",
      "--target",
      "x86_64-pc-windows-msvc",
      "--output",
      "dist/dicom-gateway.exe",
      "--icon",
      "assets/dicom-gateway.ico",
      "--no-prompt",
      "--allow-net",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-sys",
      "--allow-run",
      "--v8-flags=--max-semi-space-size=2",
      "--env-file=/tmp/x.env",
      "main.ts",
    ],
  );
  const linux = buildCompileArgs({
    target: "x86_64-unknown-linux-gnu",
    output: defaultOutput("x86_64-unknown-linux-gnu"),
    icon: "assets/dicom-gateway.ico",
    envFile: "e.env",
  });
  assert(!linux.includes("--icon"), "icons are for Windows only");
  assertEquals(linux[4], "dist/dicom-gateway-x86_64-unknown-linux-gnu");
  assert(
    !linux.some((a) =>
      a.startsWith("--include") || a === "-A" || a === "--allow-all" || a.startsWith("--allow-ffi")
    ),
  );
  assertEquals(EMBEDDED_ENV, "DENO_TLS_CA_STORE=system,mozilla\n");
  assertEquals(defaultOutput("x86_64-pc-windows-msvc"), "dist/dicom-gateway.exe");
});

Deno.test("deno task start runs with the executable's permissions, V8 flags and CA store", async () => {
  const config = JSON.parse(decode(await Deno.readFile(`${ROOT}deno.json`)));
  const start: string = config.tasks.start;
  assertEquals(
    start,
    `${EMBEDDED_ENV.trim()} deno run ${[...PERMISSIONS, V8_FLAGS].join(" ")} main.ts`,
  );
});

Deno.test("the icon shipped in assets/ is a Windows .ico with 16, 32 and 48 pixel images", async () => {
  const ico = await Deno.readFile(`${ROOT}assets/dicom-gateway.ico`);
  const dv = new DataView(ico.buffer);
  assertEquals([dv.getUint16(0, true), dv.getUint16(2, true)], [0, 1]);
  const count = dv.getUint16(4, true);
  const sizes = Array.from({ length: count }, (_, i) => ico[6 + 16 * i]);
  assertEquals(sizes, [16, 32, 48]);
});

Deno.test("the runtime is found through DENORT_BIN or the archive in DENO_DIR, else a plain message", async () => {
  const dir = await tempDir("dg-denodir-");
  const target = "x86_64-pc-windows-msvc";
  assertEquals(await findRuntime({ env: {}, denoDir: dir, version: "2.9.6", target }), null);
  const archive = denortArchivePath(dir, "2.9.6", target);
  assertEquals(archive, `${dir}/dl/release/v2.9.6/denort-x86_64-pc-windows-msvc.zip`);
  await Deno.mkdir(archive.replace(/\/[^/]*$/, ""), { recursive: true });
  await Deno.writeFile(archive, new Uint8Array([0x50, 0x4b]));
  assertEquals(await findRuntime({ env: {}, denoDir: dir, version: "2.9.6", target }), {
    kind: "cache",
    path: archive,
  });
  const bin = `${dir}/denort.exe`;
  await Deno.writeFile(bin, new Uint8Array(1));
  assertEquals(await findRuntime({ env: { DENORT_BIN: bin }, denoDir: dir, version: "2.9.6", target }), {
    kind: "DENORT_BIN",
    path: bin,
  });
  let err: unknown = null;
  try {
    await findRuntime({ env: { DENORT_BIN: `${dir}/nope` }, denoDir: dir, version: "2.9.6", target });
  } catch (e) {
    err = e;
  }
  assert(err instanceof CompileError);
  assertStringIncludes(err.message, "there is no file there");
  const msg = missingRuntimeMessage({ denoDir: dir, version: "2.9.6", target });
  assertStringIncludes(msg, `${dir}/dl/release/v2.9.6/denort-x86_64-pc-windows-msvc.zip`);
  assertStringIncludes(msg, "DENORT_BIN");
  assertStringIncludes(msg, "--allow-download");
});

Deno.test("deno task compile without a runtime stops with the plain message, exit 1, no stack trace", async () => {
  const denoDir = await tempDir("dg-denodir-");
  const env: Record<string, string> = { DENO_DIR: denoDir, NO_COLOR: "1" };
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--no-lock", "scripts/compile.ts"],
    cwd: ROOT,
    env,
    clearEnv: false,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = decode(out.stderr);
  if (Deno.env.get("DENORT_BIN")) return; // a runtime is provided on this machine: nothing to assert here
  assertEquals(out.code, 1, stderr);
  assertStringIncludes(stderr, "Cannot build for x86_64-pc-windows-msvc");
  assertStringIncludes(
    stderr,
    `${denoDir}/dl/release/v${Deno.version.deno}/denort-x86_64-pc-windows-msvc.zip`,
  );
  assert(!/\n\s+at /.test(stderr), `stack trace printed:\n${stderr}`);
  assert(!stderr.includes("Uncaught"), stderr);
});

Deno.test({
  name: "the program type-checks for the Windows target: deno compile fails only at the runtime download",
  fn: async () => {
    const dir = await tempDir("dg-compile-");
    const envFile = `${dir}/embedded.env`;
    await Deno.writeTextFile(envFile, EMBEDDED_ENV);
    const output = `${dir}/dicom-gateway.exe`;
    const args = buildCompileArgs({
      target: "x86_64-pc-windows-msvc",
      output,
      icon: `${ROOT}assets/dicom-gateway.ico`,
      envFile,
    });
    // The download (if deno tries it) goes to a closed port on this machine, never outside.
    const proxy = "http://127.0.0.1:9";
    const out = await new Deno.Command(Deno.execPath(), {
      args,
      cwd: ROOT,
      env: {
        HTTPS_PROXY: proxy,
        https_proxy: proxy,
        HTTP_PROXY: proxy,
        NO_PROXY: "",
        no_proxy: "",
        NO_COLOR: "1",
      },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = decode(out.stderr);
    assert(!/error: Type checking failed|TS\d{4}/.test(stderr), `type errors:\n${stderr}`);
    if (out.success) {
      // A runtime archive was present in DENO_DIR: the exe was really built.
      assert((await Deno.stat(output)).size > 1_000_000);
      return;
    }
    assertStringIncludes(stderr, "denort-x86_64-pc-windows-msvc.zip");
    assert(/Setting up base binary|denort/.test(stderr), stderr);
    void PERMISSIONS;
  },
});

/**
 * A Worker's module URL is the one use of import.meta.url allowed: it names a module of the graph
 * (statically imported too, so deno compile embeds it), not a file beside the module.
 */
const WORKER_MODULE_URL = /new URL\("\.\/[\w.]+\.ts", import\.meta\.url\)/;

Deno.test("nothing in src/ or main.ts reads files relative to its module at run time", async () => {
  const offenders: string[] = [];
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(dir)) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory) await walk(path);
      else if (e.name.endsWith(".ts")) {
        const text = await Deno.readTextFile(path);
        text.split("\n").forEach((line, i) => {
          if (/import\.meta\.(url|dirname|filename|resolve)\b/.test(line) && !WORKER_MODULE_URL.test(line)) {
            offenders.push(`${path}:${i + 1}: ${line.trim()}`);
          }
        });
      }
    }
  };
  await walk(`${ROOT}src`);
  const main = await Deno.readTextFile(`${ROOT}main.ts`);
  if (/import\.meta\.(url|dirname|filename|resolve)\b/.test(main)) offenders.push("main.ts");
  assertEquals(
    offenders,
    [],
    "use installDir() for files beside the executable; compiled code has no module folder",
  );
});
