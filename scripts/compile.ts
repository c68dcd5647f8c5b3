/**
 * `deno task compile`: builds the single-file gateway, `dist/dicom-gateway.exe` for Windows
 * (x86_64-pc-windows-msvc) by default, or another target with `--target`.
 *
 *   deno task compile                                  # dist/dicom-gateway.exe
 *   deno task compile --target x86_64-unknown-linux-gnu
 *   deno task compile --icon assets/dicom-gateway.ico --output dist/gw.exe
 *   deno task compile --allow-download                 # on a machine that may fetch the runtime
 *
 * `deno compile` needs the runtime archive (denort) of the target, normally downloaded on first
 * use. Offline, it must be given: `DENORT_BIN=/path/to/denort[.exe]`, or the archive placed at
 * `$DENO_DIR/dl/release/v<deno version>/denort-<target>.zip`. Without either (and without
 * `--allow-download`) this script stops with a plain message and exit code 1.
 *
 * The executable gets exactly the permissions the gateway uses, `--no-prompt`, and
 * `DENO_TLS_CA_STORE=system,mozilla` baked in through `--env-file` (the Windows certificate
 * store plus Mozilla's; an environment variable of the same name still wins). Nothing is
 * `--include`d: the program reads no files relative to its modules at run time; everything it
 * writes (settings, data, logs) sits beside the executable.
 * @module
 */
import { parseArgs } from "node:util";

/** Targets `deno compile` supports. */
export const TARGETS = [
  "x86_64-pc-windows-msvc",
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
] as const;

/** A compile target. */
export type Target = typeof TARGETS[number];

/** The default target: the clinic PC. */
export const DEFAULT_TARGET: Target = "x86_64-pc-windows-msvc";

/**
 * What the gateway does, and the permission each needs:
 * net (DICOM listener, status page, uploads, doctor), read/write (data, logs, settings beside the
 * exe, CA file), env (DICOM_GATEWAY_*, APPDATA, proxies), sys (network interfaces for the banner,
 * host name, free disk space), run (install: powershell, net, netsh, reg; tasklist for the lock).
 */
export const PERMISSIONS = [
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-sys",
  "--allow-run",
] as const;

/**
 * V8 heap setting baked into the executable (and used by `deno task start` and the benchmark):
 * young-generation semi-spaces of 2 MB instead of V8's default of up to 16 MB. The gateway's
 * garbage is short-lived I/O buffers; measured with 500 CT slices received and uploaded, peak
 * RSS fell from 110 to 85 MB receiving and from 151 to 124 MB uploading, with no loss of speed.
 */
export const V8_FLAGS = "--v8-flags=--max-semi-space-size=2";

/** Environment baked into the executable. */
export const EMBEDDED_ENV = "DENO_TLS_CA_STORE=system,mozilla\n";

/** Options of {@link buildCompileArgs}. */
export interface CompileOptions {
  target: Target;
  /** Output file. */
  output: string;
  /** Windows icon (.ico); ignored for other targets. Null: none. */
  icon: string | null;
  /** The env file holding {@link EMBEDDED_ENV}. */
  envFile: string;
  /** Entry module. */
  entry?: string;
}

/** The `deno` arguments for one build (pure). */
export function buildCompileArgs(o: CompileOptions): string[] {
  const args = ["compile", "--target", o.target, "--output", o.output];
  if (o.icon !== null && o.target.includes("windows")) args.push("--icon", o.icon);
  args.push("--no-prompt", ...PERMISSIONS, V8_FLAGS, `--env-file=${o.envFile}`, o.entry ?? "main.ts");
  return args;
}

/** `dist/dicom-gateway.exe` for Windows, `dist/dicom-gateway-<target>` otherwise. */
export function defaultOutput(target: Target): string {
  return target.includes("windows") ? "dist/dicom-gateway.exe" : `dist/dicom-gateway-${target}`;
}

/** Where deno looks for the runtime archive of a target. */
export function denortArchivePath(denoDir: string, version: string, target: string): string {
  return `${denoDir.replace(/[\\/]+$/, "")}/dl/release/v${version}/denort-${target}.zip`;
}

/** How the runtime will be found, or null when it cannot be. */
export type RuntimeSource = { kind: "DENORT_BIN"; path: string } | { kind: "cache"; path: string } | null;

/** Finds the runtime: `DENORT_BIN` (must exist), else the archive in DENO_DIR. */
export async function findRuntime(
  o: { env: Record<string, string | undefined>; denoDir: string; version: string; target: string },
): Promise<RuntimeSource> {
  const bin = o.env.DENORT_BIN;
  if (bin) {
    await Deno.stat(bin).catch(() => {
      throw new CompileError(`DENORT_BIN is set to ${bin}, but there is no file there.`);
    });
    return { kind: "DENORT_BIN", path: bin };
  }
  const archive = denortArchivePath(o.denoDir, o.version, o.target);
  try {
    if ((await Deno.stat(archive)).isFile) return { kind: "cache", path: archive };
  } catch {
    // not there
  }
  return null;
}

/** A problem to report in one plain paragraph, without a stack trace. */
export class CompileError extends Error {}

/** The message when no runtime can be found offline. */
export function missingRuntimeMessage(o: { denoDir: string; version: string; target: string }): string {
  const archive = denortArchivePath(o.denoDir, o.version, o.target);
  return [
    `Cannot build for ${o.target}: the Deno runtime for that target (denort ${o.version}) is not on this machine,`,
    "and this build does not download it. Do one of these:",
    `  - place denort-${o.target}.zip (from the Deno ${o.version} release) at`,
    `      ${archive}`,
    "  - or set DENORT_BIN to an unpacked denort executable of that target and version",
    "  - or, on a machine with internet access, run: deno task compile --allow-download",
  ].join("\n");
}

async function denoDir(): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdout: "piped",
    stderr: "null",
  })
    .output();
  if (!out.success) throw new CompileError("`deno info --json` failed: cannot find DENO_DIR.");
  return JSON.parse(new TextDecoder().decode(out.stdout)).denoDir as string;
}

/** Runs the build; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      target: { type: "string", default: DEFAULT_TARGET },
      output: { type: "string" },
      icon: { type: "string", default: "assets/dicom-gateway.ico" },
      "no-icon": { type: "boolean", default: false },
      "allow-download": { type: "boolean", default: false },
    },
    strict: true,
  });
  const target = values.target as Target;
  if (!(TARGETS as readonly string[]).includes(target)) {
    throw new CompileError(`Unknown target "${values.target}". Choose one of: ${TARGETS.join(", ")}.`);
  }
  const version = Deno.version.deno;
  const dir = await denoDir();
  const runtime = await findRuntime({ env: Deno.env.toObject(), denoDir: dir, version, target });
  if (runtime === null && !values["allow-download"]) {
    throw new CompileError(missingRuntimeMessage({ denoDir: dir, version, target }));
  }
  const output = values.output ?? defaultOutput(target);
  await Deno.mkdir(output.replace(/[\\/][^\\/]*$/, "") || ".", { recursive: true });
  const envFile = await Deno.makeTempFile({ prefix: "dicom-gateway-", suffix: ".env" });
  try {
    await Deno.writeTextFile(envFile, EMBEDDED_ENV);
    const icon = values["no-icon"] ? null : values.icon ?? null;
    const args = buildCompileArgs({ target, output, icon, envFile });
    console.log(
      `Building ${output} for ${target}${runtime ? ` (runtime: ${runtime.path})` : " (runtime: download)"}`,
    );
    console.log(`  deno ${args.join(" ")}`);
    const status = await new Deno.Command(Deno.execPath(), { args, stdout: "inherit", stderr: "inherit" })
      .spawn()
      .status;
    if (!status.success) {
      console.error(`The build failed (deno compile exit code ${status.code}); see the lines above.`);
      return 1;
    }
    console.log(`Built ${output}.`);
    return 0;
  } finally {
    await Deno.remove(envFile).catch(() => {});
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    Deno.exit(1);
  }
}
