/**
 * Free and total space of the disk holding a folder (`node:fs` statfs, which Deno implements
 * on Windows, Linux and macOS). Used by the status page and `doctor`.
 * @module
 */
import { statfs } from "node:fs/promises";

/** The folder, then each parent up to the root (`C:\`, `/`), then `.` for relative paths. */
function selfAndParents(path: string): string[] {
  const out = [path];
  let p = path;
  while (true) {
    const parent = p.replace(/[\\/]+[^\\/]+[\\/]*$/, "");
    if (parent === p) {
      if (!/^([\\/]|[A-Za-z]:)/.test(p)) out.push(".");
      break;
    }
    if (parent === "") {
      out.push(p.startsWith("/") || p.startsWith("\\") ? p[0]! : ".");
      break;
    }
    out.push(/^[A-Za-z]:$/.test(parent) ? `${parent}\\` : parent);
    p = parent;
  }
  return out;
}

/** Free space (available to this user) and total size in bytes; nulls when the system cannot tell. */
export async function diskSpace(
  path: string,
): Promise<{ freeBytes: number | null; totalBytes: number | null }> {
  // The folder may not exist yet (first start): ask about the nearest existing parent.
  for (const p of selfAndParents(path)) {
    try {
      const s = await statfs(p);
      return {
        freeBytes: Number(s.bavail) * Number(s.bsize),
        totalBytes: Number(s.blocks) * Number(s.bsize),
      };
    } catch {
      // try the parent
    }
  }
  return { freeBytes: null, totalBytes: null };
}
