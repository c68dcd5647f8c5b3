/**
 * Retention of proven files: deleted `retentionDays` after delivery; when free disk space falls
 * below `minFreeBytes`, the oldest proven go first, whatever their age. The proof is the
 * `upload.verify` setting: with "query" (the default) a file goes only once the archive's QIDO-RS
 * answer listed its instance (`verified_at` committed in the index); with "response" the STOW-RS
 * answer listing it is enough. No weaker signal deletes anything, free-space pressure included: a
 * file that is not proven is never deleted. Every deletion is preceded by a check, in the index,
 * that the row is still proven (same generation) and that no unproven row uses the same path, and
 * by a check that the file on disk is not newer than the delivery (a re-received copy renamed
 * into place).
 * @module
 */
import { statfsSync } from "node:fs";
import { joinPath } from "../platform/fs.ts";
import { logger } from "../log.ts";
import type { DeletionProof, PurgeCandidate, QueueIndex } from "./queue_index.ts";

const DAY_MS = 24 * 60 * 60 * 1000;

/** Rows of purged instances are kept this long for the status page's history, then pruned. */
export const HISTORY_KEEP_MS = 90 * DAY_MS;

/** A superseded copy (older receipt of a re-received instance) is deleted after this delay. */
export const SUPERSEDED_GRACE_MS = 60 * 60 * 1000;

/**
 * Free bytes available to us on the file system holding `path` (node:fs `statfsSync`, which Deno
 * implements: `bavail × bsize`). Null when it cannot be measured (then low-disk clean-up is off).
 */
export function freeDiskBytes(path: string): number | null {
  try {
    const stats = statfsSync(path);
    const free = Number(stats.bavail) * Number(stats.bsize);
    return Number.isFinite(free) ? free : null;
  } catch {
    return null;
  }
}

/** What one retention pass did. */
export interface RetentionReport {
  deletedByAge: number;
  deletedForSpace: number;
  bytesFreed: number;
  supersededDeleted: number;
  historyPruned: number;
  /** Free bytes after the pass (null: unknown). */
  freeBytes: number | null;
  /** True when space is still below the minimum and nothing proven is left to delete. */
  stillLow: boolean;
}

/** Converts the index's "/"-separated relative path to a path under `dataDir`. */
export function absolutePath(dataDir: string, relative: string): string {
  return joinPath(dataDir, ...relative.split("/"));
}

function deleteDelivered(
  index: QueueIndex,
  dataDir: string,
  candidate: PurgeCandidate,
  now: number,
  proof: DeletionProof,
): number | null {
  if (!index.isPurgeable(candidate, proof)) return null;
  const file = absolutePath(dataDir, candidate.path);
  try {
    const info = Deno.statSync(file);
    // A copy written after the delivery is a re-received instance not yet in the index: keep it.
    if (info.mtime !== null && info.mtime.getTime() > candidate.deliveredAt) return null;
    Deno.removeSync(file);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  index.markPurged(candidate, now);
  return candidate.size;
}

/**
 * One retention pass. Synchronous file operations keep the check-then-delete window as short as
 * possible. `freeBytes` is injected for tests (default: {@linkcode freeDiskBytes} of `dataDir`).
 */
export function runRetention(
  index: QueueIndex,
  options: {
    dataDir: string;
    retentionDays: number;
    minFreeBytes: number;
    /** What proves an instance is in the archive (`upload.verify`). */
    proof: DeletionProof;
    now: number;
    freeBytes?: () => number | null;
    onError?: (path: string, error: unknown) => void;
  },
): RetentionReport {
  const proof = options.proof;
  const freeBytes = options.freeBytes ?? (() => freeDiskBytes(options.dataDir));
  const report: RetentionReport = {
    deletedByAge: 0,
    deletedForSpace: 0,
    bytesFreed: 0,
    supersededDeleted: 0,
    historyPruned: 0,
    freeBytes: null,
    stillLow: false,
  };
  const tryDelete = (candidate: PurgeCandidate): number | null => {
    try {
      return deleteDelivered(index, options.dataDir, candidate, options.now, proof);
    } catch (error) {
      options.onError?.(candidate.path, error);
      return null;
    }
  };

  if (options.retentionDays > 0) {
    const before = options.now - options.retentionDays * DAY_MS;
    const skipped = new Set<string>();
    while (true) {
      const batch = index.purgeCandidates({ deliveredBefore: before, limit: 500 + skipped.size, proof })
        .filter((c) => !skipped.has(c.sopInstanceUid));
      if (batch.length === 0) break;
      for (const candidate of batch) {
        const freed = tryDelete(candidate);
        if (freed === null) skipped.add(candidate.sopInstanceUid);
        else {
          report.deletedByAge++;
          report.bytesFreed += freed;
        }
      }
    }
  }

  let free = freeBytes();
  if (free !== null && free < options.minFreeBytes) {
    const skipped = new Set<string>();
    while (free !== null && free < options.minFreeBytes) {
      const batch = index.purgeCandidates({ limit: 50 + skipped.size, proof }).filter((c) =>
        !skipped.has(c.sopInstanceUid)
      );
      if (batch.length === 0) {
        report.stillLow = true;
        break;
      }
      for (const candidate of batch) {
        const freed = tryDelete(candidate);
        if (freed === null) skipped.add(candidate.sopInstanceUid);
        else {
          report.deletedForSpace++;
          report.bytesFreed += freed;
        }
      }
      free = freeBytes();
    }
  }
  report.freeBytes = free;

  for (const superseded of index.supersededFiles(options.now - SUPERSEDED_GRACE_MS, 500)) {
    if (index.isPathInUse(superseded.path)) {
      index.forgetSuperseded(superseded.path);
      continue;
    }
    try {
      Deno.removeSync(absolutePath(options.dataDir, superseded.path));
      report.supersededDeleted++;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        options.onError?.(superseded.path, error);
        continue;
      }
    }
    index.forgetSuperseded(superseded.path);
  }

  report.historyPruned = index.pruneHistory(
    options.now - Math.max(HISTORY_KEEP_MS, options.retentionDays * DAY_MS),
  );
  return report;
}

/** The low-disk check after deliveries runs at most this often. */
export const LOW_DISK_CHECK_INTERVAL_MS = 60_000;

/**
 * Runs retention passes for the uploader (periodically, and after deliveries when space is low)
 * and logs what they did in plain words, under the `upload` category where operators look for it.
 */
export class RetentionRunner {
  readonly #index: QueueIndex;
  readonly #dataDir: string;
  readonly #settings: () => { retentionDays: number; minFreeBytes: number; verify: DeletionProof };
  readonly #now: () => number;
  readonly #freeBytes: (() => number | null) | undefined;
  readonly #log = logger("upload");
  #lastLowDiskCheck = 0;

  /** `settings` is read at every pass (the configuration may change). */
  constructor(options: {
    index: QueueIndex;
    dataDir: string;
    settings: () => { retentionDays: number; minFreeBytes: number; verify: DeletionProof };
    now: () => number;
    freeBytes?: () => number | null;
  }) {
    this.#index = options.index;
    this.#dataDir = options.dataDir;
    this.#settings = options.settings;
    this.#now = options.now;
    this.#freeBytes = options.freeBytes;
  }

  /** One pass now. Returns what it did, or null if it failed (logged). */
  run(): RetentionReport | null {
    const { retentionDays, minFreeBytes, verify } = this.#settings();
    const log = this.#log;
    try {
      const report = runRetention(this.#index, {
        dataDir: this.#dataDir,
        retentionDays,
        minFreeBytes,
        proof: verify,
        now: this.#now(),
        ...(this.#freeBytes === undefined ? {} : { freeBytes: this.#freeBytes }),
        onError: (path, error) =>
          log.warn("Retention could not delete {path}: {error}", { path, error: String(error) }),
      });
      if (report.deletedByAge > 0) {
        log.info("Retention: deleted {count} {proven} files older than {days} days", {
          proven: verify === "query" ? "verified" : "delivered",
          count: report.deletedByAge,
          days: retentionDays,
        });
      }
      if (report.deletedForSpace > 0) {
        log.warn("Disk space low: deleted the {count} oldest {proven} files ({mb} MB)", {
          proven: verify === "query" ? "verified" : "delivered",
          count: report.deletedForSpace,
          mb: Math.round(report.bytesFreed / 1e6),
        });
      }
      if (report.stillLow) {
        log.error(
          verify === "query"
            ? "Disk space is below the minimum and no verified file is left to delete; instances the archive has not confirmed are kept"
            : "Disk space is below the minimum and no delivered file is left to delete; undelivered instances are kept",
        );
      }
      return report;
    } catch (error) {
      log.error("Retention pass failed: {error}", { error: String(error) });
      return null;
    }
  }

  /**
   * After a delivery or a verification: a pass when free space is below the minimum (checked at
   * most once a minute).
   */
  afterDelivery(): void {
    const now = this.#now();
    if (now - this.#lastLowDiskCheck < LOW_DISK_CHECK_INTERVAL_MS) return;
    this.#lastLowDiskCheck = now;
    const free = this.#freeBytes?.() ?? null;
    if (this.#freeBytes !== undefined && free !== null && free >= this.#settings().minFreeBytes) return;
    this.run();
  }
}
