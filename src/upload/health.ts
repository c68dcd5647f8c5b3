/**
 * The uploader's health as the status page shows it, and its record in the queue index's state
 * table (read by the status page, `doctor` and other processes). Contains no secret.
 * @module
 */
import type { QueueIndex } from "../store/queue_index.ts";
import type { UploadState } from "./gate.ts";
import type { VerificationHealth } from "./verifier.ts";

/** What the status page shows about uploading. Contains no secret. */
export interface UploadHealth {
  /** False when no destination URL is configured: everything is kept, nothing is uploaded. */
  configured: boolean;
  state: UploadState;
  lastSuccessAt: number | null;
  lastError: string | null;
  lastErrorAt: number | null;
  /** When the next attempt happens while retrying or paused. */
  nextRetryAt: number | null;
  /** STOW-RS requests in flight now. */
  inFlight: number;
  /** Verification by query (QIDO-RS) beside the uploads. */
  verification: VerificationHealth;
}

/** Key under which the uploader keeps its health (JSON) in the index's state table. */
export const HEALTH_STATE_KEY = "upload.health";

/**
 * Writes the health to the index when it changed (the in-flight count alone does not count as a
 * change), or always when forced.
 */
export class HealthRecord {
  readonly #index: Pick<QueueIndex, "getState" | "setState">;
  #lastPublished = "";

  constructor(index: Pick<QueueIndex, "getState" | "setState">) {
    this.#index = index;
  }

  /** The last success recorded by a previous run (kept across restarts), or null. */
  savedLastSuccessAt(): number | null {
    const saved = this.#index.getState(HEALTH_STATE_KEY);
    if (saved === undefined) return null;
    try {
      const previous = JSON.parse(saved) as Partial<UploadHealth>;
      return typeof previous.lastSuccessAt === "number" ? previous.lastSuccessAt : null;
    } catch {
      return null; // a damaged value
    }
  }

  /** Records `health` if it changed since the last call, or if `force`. */
  publish(health: UploadHealth, force: boolean): void {
    if (!force && this.#lastPublished === "") force = true;
    const { inFlight: _inFlight, verification, ...rest } = health;
    const stable = { ...rest, verificationProblem: verification.problem };
    const json = JSON.stringify(stable);
    if (!force && json === this.#lastPublished) return;
    this.#lastPublished = json;
    try {
      this.#index.setState(HEALTH_STATE_KEY, JSON.stringify(health));
    } catch {
      // index closed during shutdown
    }
  }
}
