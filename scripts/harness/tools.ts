/**
 * External tools (DCMTK, Orthanc, nginx, curl) for the interop tests and the benchmark: finding
 * them on PATH without `which`, and whether we run in CI.
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
