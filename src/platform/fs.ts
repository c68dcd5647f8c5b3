/**
 * Platform file-system rules (a bottom module). Only what the SCU needs is here in this branch:
 * the full module (rename-with-retry, directory fsync) comes with the storage branch.
 * @module
 */

/** Joins path parts with the platform's separator, dropping empty parts and doubled separators. */
export function joinPath(...parts: string[]): string {
  const sep = Deno.build.os === "windows" ? "\\" : "/";
  return parts.filter((p) => p !== "").map((p, i) =>
    i === 0 ? p.replace(/[\\/]+$/, "") : p.replace(/^[\\/]+|[\\/]+$/g, "")
  )
    .join(sep);
}
