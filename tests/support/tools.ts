/**
 * External tools for interop tests (DCMTK, Orthanc, nginx, curl): finding them on PATH
 * without `which`, and registering tests that need them. Outside CI a test whose tools
 * are missing is ignored with a visible message; in CI (`CI=true`) it fails, so a missing
 * install step can never turn the interop suite silently green.
 * @module
 */

/** True on Windows, where executables carry an extension from PATHEXT. */
const isWindows = Deno.build.os === "windows";

/**
 * Absolute path of the executable `name` found on PATH, or `undefined`. Scans the PATH
 * directories in order (like a shell): on POSIX the file must be a regular file with an
 * execute bit; on Windows the PATHEXT extensions (.EXE, .CMD, …) are tried too.
 */
export function findOnPath(name: string): string | undefined {
  const path = Deno.env.get(isWindows ? "Path" : "PATH") ?? Deno.env.get("PATH") ?? "";
  const separator = isWindows ? ";" : ":";
  const extensions = isWindows
    ? ["", ...(Deno.env.get("PATHEXT") ?? ".COM;.EXE;.BAT;.CMD").split(";").filter((e) => e !== "")]
    : [""];
  for (const dir of path.split(separator)) {
    if (dir === "") continue;
    for (const extension of extensions) {
      const candidate = `${dir}${isWindows ? "\\" : "/"}${name}${extension}`;
      try {
        const info = Deno.statSync(candidate);
        if (!info.isFile) continue;
        if (!isWindows && info.mode !== null && (info.mode & 0o111) === 0) continue;
        return candidate;
      } catch {
        // not here; keep looking
      }
    }
  }
  return undefined;
}

/** Whether every tool in `names` is on PATH; if not, which ones are missing. */
export function requireTools(...names: string[]): { ok: true } | { ok: false; missing: string[] } {
  const missing = names.filter((name) => findOnPath(name) === undefined);
  return missing.length === 0 ? { ok: true } : { ok: false, missing };
}

/** True when running in CI, where no interop test may be skipped. */
export function inCi(): boolean {
  return Deno.env.get("CI") === "true";
}

/** Options passed through to `Deno.test` by {@linkcode interopTest}. */
export interface InteropTestOptions {
  /** Check for leaked async ops (Deno's default: true). */
  sanitizeOps?: boolean;
  /** Check for leaked resources (Deno's default: true). */
  sanitizeResources?: boolean;
  /** Check for `Deno.exit` (Deno's default: true). */
  sanitizeExit?: boolean;
  /** Run only this test (focus while debugging). */
  only?: boolean;
  /** Ignore the test for a reason other than missing tools. */
  ignore?: boolean;
}

/**
 * Registers a `Deno.test` that needs the external `tools`:
 * - all present: the test runs;
 * - some missing and `CI=true`: the test fails with "missing tools in CI: …";
 * - some missing otherwise: the test is ignored and a line saying so goes to stderr.
 */
export function interopTest(
  name: string,
  tools: string[],
  fn: (t: Deno.TestContext) => Promise<void>,
  options: InteropTestOptions = {},
): void {
  const found = requireTools(...tools);
  const passThrough = {
    ...(options.sanitizeOps === undefined ? {} : { sanitizeOps: options.sanitizeOps }),
    ...(options.sanitizeResources === undefined ? {} : { sanitizeResources: options.sanitizeResources }),
    ...(options.sanitizeExit === undefined ? {} : { sanitizeExit: options.sanitizeExit }),
    ...(options.only === undefined ? {} : { only: options.only }),
  };
  if (found.ok) {
    Deno.test({
      name,
      fn,
      ...passThrough,
      ...(options.ignore === undefined ? {} : { ignore: options.ignore }),
    });
    return;
  }
  const list = found.missing.join(", ");
  if (inCi()) {
    Deno.test({
      name,
      ...passThrough,
      fn() {
        throw new Error(`missing tools in CI: ${list} (the CI setup must install them)`);
      },
    });
    return;
  }
  console.error(
    `interop test "${name}" ignored: missing tools ${list} (install them to run it; in CI it fails)`,
  );
  Deno.test({ name: `${name} (missing tools: ${list})`, ignore: true, fn() {} });
}
