/**
 * The uploader's per-study progress lines ("Study …: 12/30 instances uploaded"): at most one line
 * per study every few seconds while it uploads, and always the final one.
 * @module
 */
import { logger } from "../log.ts";
import type { StudyProgress } from "../store/queue_index.ts";

const log = logger("upload");

/** A study's progress is logged at most this often while it uploads (plus a final line). */
export const PROGRESS_LOG_INTERVAL_MS = 5_000;

/** Remembers when each study's progress was last logged. */
export class StudyProgressLog {
  readonly #progress: (study: string) => StudyProgress;
  readonly #now: () => number;
  readonly #loggedAt = new Map<string, number>();

  /** `progress` reads a study's counts from the queue index. */
  constructor(progress: (study: string) => StudyProgress, now: () => number) {
    this.#progress = progress;
    this.#now = now;
  }

  /** Logs the progress of the studies just settled, where due. */
  note(studies: Iterable<string>): void {
    const now = this.#now();
    for (const study of new Set(studies)) {
      const p = this.#progress(study);
      const failed = p.failed > 0 ? `, ${p.failed} failed` : "";
      const last = this.#loggedAt.get(study);
      if (p.pending > 0 && last !== undefined && now - last < PROGRESS_LOG_INTERVAL_MS) continue;
      if (p.pending === 0) this.#loggedAt.delete(study);
      else this.#loggedAt.set(study, now);
      if (this.#loggedAt.size > 1000) this.#loggedAt.clear();
      const values = { study, delivered: p.delivered, received: p.received, failed };
      if (p.pending === 0) {
        log.info(
          "Study {study}: {delivered}/{received} instances uploaded{failed} — nothing left to send",
          values,
        );
      } else {
        log.info("Study {study}: {delivered}/{received} instances uploaded{failed}", values);
      }
    }
  }
}
