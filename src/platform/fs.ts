/**
 * File-system rules of the platforms the gateway runs on, in one place: path joining,
 * replacing a file by rename (retried on Windows, where antivirus or an editor may hold it for
 * a moment: os error 5 or 32) and making a rename durable by syncing its folder (POSIX).
 * @module
 */

/** Joins path segments with the platform separator (no dependency on @std/path). */
export function joinPath(...parts: string[]): string {
  const sep = Deno.build.os === "windows" ? "\\" : "/";
  return parts.filter((p) => p !== "").map((p, i) =>
    i === 0 ? p.replace(/[\\/]+$/, "") : p.replace(/^[\\/]+|[\\/]+$/g, "")
  )
    .join(sep);
}

/** Waits before each further rename attempt; after the last one the error is thrown. */
const RENAME_RETRY_DELAYS_MS = [20, 50, 100, 200, 400, 800];

/** Whether a failed rename is worth retrying: on Windows, access denied (5) or sharing violation (32). */
function isTransientRenameError(error: unknown, os: typeof Deno.build.os): boolean {
  if (os !== "windows") return false;
  if (error instanceof Deno.errors.PermissionDenied) return true;
  const message = error instanceof Error ? error.message : String(error);
  return /os error (5|32)\)/.test(message);
}

/**
 * `Deno.rename(from, to)` (which replaces `to`), retried a few times on Windows when the
 * file is briefly held by another program; any other error is thrown at once.
 * @param options `os`, `rename` and `wait` replace the platform's (tests)
 */
export async function renameWithRetry(
  from: string,
  to: string,
  options: {
    os?: typeof Deno.build.os;
    rename?: (from: string, to: string) => Promise<void>;
    wait?: (ms: number) => Promise<void>;
  } = {},
): Promise<void> {
  const os = options.os ?? Deno.build.os;
  const rename = options.rename ?? Deno.rename;
  const wait = options.wait ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (let attempt = 0;; attempt++) {
    try {
      await rename(from, to);
      return;
    } catch (error) {
      const delay = RENAME_RETRY_DELAYS_MS[attempt];
      if (delay === undefined || !isTransientRenameError(error, os)) throw error;
      await wait(delay);
    }
  }
}

/**
 * Makes the entries of a folder durable (POSIX: a rename is durable only once its folder is
 * fsynced). A no-op on Windows, which cannot open a folder as a file and journals the rename.
 */
export async function fsyncDirectory(path: string, os: typeof Deno.build.os = Deno.build.os): Promise<void> {
  if (os === "windows") return;
  const directory = await Deno.open(path, { read: true });
  try {
    await directory.sync();
  } finally {
    directory.close();
  }
}
