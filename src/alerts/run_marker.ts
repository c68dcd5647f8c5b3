/**
 * Telling a clean stop from an unclean one (power cut, crash, killed process): a marker file in
 * the data folder, written and fsynced (file and folder) at start, removed (and the folder
 * fsynced) at a clean stop. Found at the next start, the marker means the last run did not stop
 * cleanly. The data folder's single-instance lock is taken before, so only one copy touches it.
 * @module
 */
import { fsyncDirectory, joinPath } from "../platform/fs.ts";

/** Name of the marker file in the data folder. */
export const RUN_MARKER_NAME = "gateway-running.json";

/** What a start learnt about the previous run, and how to mark this one as stopped cleanly. */
export interface RunMarker {
  /** True when the previous run left its marker: it did not stop cleanly. */
  uncleanStop: boolean;
  /** When that run started (ISO 8601), if its marker says so. */
  previousStart: string | null;
  /** Removes the marker (call at a clean stop only). */
  markCleanStop(): Promise<void>;
}

/** Reads the previous run's marker, then writes this run's (durably). */
export async function markRunStart(
  dataDir: string,
  info: { startedAt: string; pid: number; version: string },
): Promise<RunMarker> {
  const path = joinPath(dataDir, RUN_MARKER_NAME);
  let uncleanStop = false;
  let previousStart: string | null = null;
  try {
    const text = await Deno.readTextFile(path);
    uncleanStop = true;
    try {
      const parsed = JSON.parse(text) as { startedAt?: unknown };
      if (typeof parsed.startedAt === "string") previousStart = parsed.startedAt;
    } catch {
      // A marker cut short by the power cut itself still means an unclean stop.
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  try {
    await file.write(new TextEncoder().encode(JSON.stringify(info) + "\n"));
    await file.sync();
  } finally {
    file.close();
  }
  await fsyncDirectory(dataDir);
  return {
    uncleanStop,
    previousStart,
    async markCleanStop() {
      await Deno.remove(path).catch((e) => {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      });
      await fsyncDirectory(dataDir);
    },
  };
}
