/**
 * The file-system rules that differ between platforms, in one place: path separators, renaming
 * over a file that another program briefly holds open (Windows), and making a rename durable by
 * fsyncing its directory (POSIX).
 *
 * Windows: `Deno.rename` replaces an existing file, but antivirus and indexers hold files open
 * briefly, failing the rename with os error 5 (access denied) or 32 (sharing violation): retried
 * with backoff. Directories cannot be fsynced there (opening one needs FILE_FLAG_BACKUP_SEMANTICS,
 * and NTFS journals metadata), so the directory fsync is skipped.
 * @module
 */
import { logger } from "../log.ts";
import { messageOf } from "../errors.ts";

const log = logger("platform");

/** The path separator of `os`. */
export function pathSeparator(os: typeof Deno.build.os = Deno.build.os): string {
  return os === "windows" ? "\\" : "/";
}

/** Joins path segments with the platform separator (no dependency on @std/path). */
export function joinPath(...parts: string[]): string {
  const sep = pathSeparator();
  return parts.filter((p) => p !== "").map((p, i) =>
    i === 0 ? p.replace(/[\\/]+$/, "") : p.replace(/^[\\/]+|[\\/]+$/g, "")
  )
    .join(sep);
}

/** Converts a "/"-separated relative path to the platform's separators ("\\" on Windows). */
export function toNativePath(relativePath: string, os: typeof Deno.build.os = Deno.build.os): string {
  return os === "windows" ? relativePath.replaceAll("/", "\\") : relativePath;
}

/** Delays between rename attempts on Windows sharing/access errors (about 1.5 s in all). */
export const RENAME_RETRY_DELAYS_MS: readonly number[] = [20, 50, 100, 200, 400, 800];

/**
 * True for the errors Windows reports while another process (antivirus, indexer, a viewer)
 * briefly holds the source or destination open: ERROR_ACCESS_DENIED (os error 5, also surfaced
 * as `PermissionDenied`) and ERROR_SHARING_VIOLATION (os error 32, surfaced as `Busy` by some
 * Deno versions). Never retried elsewhere: on POSIX they are final.
 */
export function isTransientRenameError(error: unknown, os: typeof Deno.build.os = Deno.build.os): boolean {
  if (os !== "windows") return false;
  if (error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.Busy) return true;
  return /os error (5|32)\)/.test(messageOf(error));
}

/**
 * `Deno.rename(from, to)`, replacing `to`; on Windows retried after {@link RENAME_RETRY_DELAYS_MS}
 * while {@link isTransientRenameError}. The last error is thrown. `os`, `rename` and `wait` are
 * test hooks (defaults: `Deno.build.os`, `Deno.rename`, `setTimeout`).
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
  const wait = options.wait ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  for (let attempt = 0;; attempt++) {
    try {
      await rename(from, to);
      return;
    } catch (error) {
      const delay = RENAME_RETRY_DELAYS_MS[attempt];
      if (delay === undefined || !isTransientRenameError(error, os)) throw error;
      log.debug("Rename {from} → {to} failed ({error}); retrying in {delay} ms", {
        from,
        to,
        error: messageOf(error),
        delay,
      });
      await wait(delay);
    }
  }
}

/**
 * fsyncs a directory, so that entries created or renamed in it survive a power cut (POSIX: a
 * rename is durable only once the directory holding the new entry is fsynced). A no-op on Windows.
 */
export async function fsyncDirectory(path: string, os: typeof Deno.build.os = Deno.build.os): Promise<void> {
  if (os === "windows") return;
  // Opening is a quick metadata call: done in place, saving a trip to the file-system thread.
  const directory = Deno.openSync(path, { read: true });
  try {
    await directory.sync();
  } finally {
    directory.close();
  }
}
