/**
 * The durable queue index: one row per received SOP instance, in `node:sqlite` with WAL.
 *
 * Durability: the instance files are the record of what was received (each is fsynced, renamed
 * into place and its folder fsynced before C-STORE Success); the index is rebuilt from them. It
 * runs with `synchronous=NORMAL` (SQLite's WAL mode): a commit survives a crash of the process,
 * and a power cut may lose the last commits, which start-up reconciliation repairs: a file the
 * index does not know is indexed again as pending, a row whose file is gone is dropped, a lost
 * "delivered" mark means one more (harmless) send. The one loss reconciliation could not see, a
 * re-received instance whose row update is lost while the old row says "delivered", is prevented
 * by committing re-received instances with `synchronous=FULL`. This saves an fsync per instance
 * on the receiver's path and per settle on the uploader's (both run on the one JS thread). The receiver records instances; the uploader claims batches, sends them and settles
 * each instance as delivered, failed (rejected by the server for its content) or pending again
 * (a retryable problem). The status page reads counts, studies and failures from the same file.
 *
 * Instance life cycle (column `status`):
 * ```
 * pending ──claim──▶ sending ──server confirmed──▶ delivered ──QIDO-RS lists it──▶ delivered + verified_at
 *    ▲                  │ ──server rejected──▶ failed ──retryFailed──▶ pending        │
 *    └──retryable / crash (requeueSending)──┘                                        retention
 *    └──────── not listed by the archive after the spaced re-queries ◀── delivered    ▼
 *                                                                       (file purged, row kept)
 * ```
 * Verification is a column, not a status: `verified_at` is set on a delivered row when the
 * archive's QIDO-RS answer lists it (PS3.18 §10.6), so every query that counts "delivered" stays
 * right (verified instances are delivered ones). `verify_due_at` / `verify_misses` schedule the
 * re-queries of an instance the archive did not list yet, and `missing_at` remembers that the
 * archive was found without it (cleared when it is verified or re-received).
 *
 * Verification marks and crashes: retention (with `verify = "query"`) deletes only rows whose
 * `verified_at` is set, and {@linkcode QueueIndex.markVerified} commits with `synchronous=FULL`,
 * so a mark retention acts on is on disk. A mark lost to a crash leaves the row delivered and
 * unverified: it is queried again, never deleted on a weaker signal. A row lost altogether is
 * re-indexed from its file as pending and sent again (the archive answers it as already stored).
 * A re-received instance (same SOP Instance UID) replaces its row, goes back to pending with
 * attempts 0 and a new `generation`; settling a claim whose generation is stale changes nothing,
 * so an in-flight send of the old file can never mark the new file delivered.
 * @module
 */
import { messageOf } from "../errors.ts";
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";

/** What the receiver knows about an instance it has just stored durably. */
export interface ReceivedInstance {
  sopInstanceUid: string;
  sopClassUid: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  transferSyntaxUid: string;
  /** Relative to the data directory, "/" separators. */
  path: string;
  /** File size in bytes. */
  size: number;
  callingAeTitle: string;
  /** Milliseconds since the epoch. */
  receivedAt: number;
  patientId: string;
  patientName: string;
  modality: string;
  studyDate: string;
  studyDescription: string;
  accessionNumber: string;
  /** Upload priority from the data set (`DatasetAttributes.priority`, e.g. "STAT"); "" when absent. */
  priority?: string;
}

/** What {@linkcode QueueIndex.recordReceived} found about the SOP Instance UID. */
export interface RecordedInstance {
  /** The SOP Instance UID was already indexed: its earlier copy is replaced. */
  replaced: boolean;
  /** The Study Instance UID of the earlier copy, when it was in another study. */
  previousStudyInstanceUid?: string;
}

/** A SOP Instance UID re-sent within a different study (the newest copy won). */
export interface StudyChange {
  sopInstanceUid: string;
  previousStudyInstanceUid: string;
  studyInstanceUid: string;
  callingAeTitle: string;
  /** Milliseconds since the epoch. */
  at: number;
}

/** Study changes kept for the status page (older ones are forgotten). */
const STUDY_CHANGES_KEPT = 1000;

/** Where an instance is in the upload queue. */
export type InstanceStatus = "pending" | "sending" | "delivered" | "failed";

/** Queue totals for the status page. `bytesPending` counts pending and sending files. */
export interface QueueCounts {
  pending: number;
  sending: number;
  /** Delivered instances, verified ones included. */
  delivered: number;
  failed: number;
  bytesPending: number;
}

/** Verification totals (see {@linkcode QueueIndex.verificationCounts}). */
export interface VerificationCounts {
  /** Delivered instances the archive's QIDO-RS answer listed (a subset of "delivered"). */
  verified: number;
  /** Instances the archive was found not to hold after their delivery (being re-checked or re-sent). */
  missingInArchive: number;
}

/** One study as the status page shows it. */
export interface StudySummary {
  studyInstanceUid: string;
  patientId: string;
  patientName: string;
  modality: string;
  studyDate: string;
  studyDescription: string;
  accessionNumber: string;
  callingAeTitle: string;
  firstReceivedAt: number;
  lastReceivedAt: number;
  /** Instances received (each SOP instance once, whatever its state). */
  received: number;
  /** Delivered, verified ones included. */
  delivered: number;
  /** Delivered and listed by the archive's QIDO-RS answer. */
  verified: number;
  /** Found missing in the archive after delivery (re-checked or re-sent). */
  missingInArchive: number;
  failed: number;
  /** Pending or being sent. */
  pending: number;
  /** The most recent failure reason of a failed instance of this study, if any. */
  lastError: string | null;
}

/** A failed instance for the status page. */
export interface FailureRecord {
  sopInstanceUid: string;
  studyInstanceUid: string;
  reason: string;
  at: number;
}

/** An instance handed to the uploader by {@linkcode QueueIndex.claimBatch}. */
export interface ClaimedInstance {
  sopInstanceUid: string;
  sopClassUid: string;
  studyInstanceUid: string;
  transferSyntaxUid: string;
  path: string;
  size: number;
  /** Bumped on every re-receive; settle calls only touch the row if it still matches. */
  generation: number;
  /** Failed attempts so far (retryable failures only). */
  attempts: number;
  /** Claimed as an urgent study (STAT/HIGH or an urgent calling AE title); absent: not urgent. */
  urgent?: boolean;
}

/** Identifies one claim of one instance when settling it. */
export interface ClaimRef {
  sopInstanceUid: string;
  generation: number;
}

/** A delivered file that retention may delete. */
export interface PurgeCandidate {
  sopInstanceUid: string;
  generation: number;
  path: string;
  size: number;
  deliveredAt: number;
}

/** A file replaced by a re-received copy stored under another name; retention deletes it. */
export interface SupersededFile {
  path: string;
  supersededAt: number;
}

/** Per-study progress, for the uploader's log lines. */
export interface StudyProgress {
  received: number;
  delivered: number;
  verified: number;
  failed: number;
  pending: number;
}

/** A series with delivered instances waiting for verification (see {@linkcode QueueIndex.seriesToVerify}). */
export interface SeriesToVerify {
  studyInstanceUid: string;
  seriesInstanceUid: string;
}

/** A delivered, not yet verified instance of a series, as the verifier compares it. */
export interface UnverifiedInstance {
  sopInstanceUid: string;
  generation: number;
  /** Queries since its delivery that did not list it. */
  verifyMisses: number;
  /** When it is next due for a query (ms since the epoch). */
  verifyDueAt: number;
}

/** An instance the archive did not list: re-query at `recheckAt`, or (null) send it again. */
export interface NotListed extends ClaimRef {
  recheckAt: number | null;
}

/** Which proof retention requires before deleting a file (`upload.verify`). */
export type DeletionProof = "query" | "response";

/** Limits for one batch (one STOW-RS request). */
export interface BatchLimits {
  maxInstances: number;
  maxBytes: number;
}

/**
 * Chooses the prefix of `candidates` (already ordered, all of one study) that fits the limits:
 * at most `maxInstances`, at most `maxBytes` in total — except that the first candidate is always
 * taken, so a single file bigger than `maxBytes` goes alone. Pure.
 */
export function planBatch<T extends { size: number }>(candidates: readonly T[], limits: BatchLimits): T[] {
  const chosen: T[] = [];
  let bytes = 0;
  for (const candidate of candidates) {
    if (chosen.length >= Math.max(1, limits.maxInstances)) break;
    if (chosen.length > 0 && bytes + candidate.size > limits.maxBytes) break;
    chosen.push(candidate);
    bytes += candidate.size;
  }
  return chosen;
}

const SCHEMA_VERSION = "2";

/**
 * Columns added since schema version 1, each added on open to an index that lacks it: verified
 * delivery (version 2) and the upload priority (issue 11; `priority` holds
 * `DatasetAttributes.priority`: "STAT", "HIGH", … or "").
 */
const ADDED_COLUMNS: readonly [name: string, definition: string][] = [
  ["verified_at", "INTEGER"],
  ["verify_due_at", "INTEGER NOT NULL DEFAULT 0"],
  ["verify_misses", "INTEGER NOT NULL DEFAULT 0"],
  ["missing_at", "INTEGER"],
  ["resends", "INTEGER NOT NULL DEFAULT 0"],
  ["priority", "TEXT NOT NULL DEFAULT ''"],
];

/** Longest wait before an instance the archive still does not list is sent again (6 h). */
export const MAX_RESEND_DELAY_MS = 6 * 60 * 60 * 1000;
/** The wait before the second re-send of an instance the archive does not list; doubled each time after. */
export const FIRST_RESEND_DELAY_MS = 60 * 1000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS instances (
  sop_instance_uid TEXT PRIMARY KEY,
  sop_class_uid TEXT NOT NULL,
  study_instance_uid TEXT NOT NULL,
  series_instance_uid TEXT NOT NULL,
  transfer_syntax_uid TEXT NOT NULL,
  path TEXT NOT NULL,
  size INTEGER NOT NULL,
  calling_ae_title TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'delivered', 'failed')),
  generation INTEGER NOT NULL DEFAULT 1,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  delivered_at INTEGER,
  failed_at INTEGER,
  failure_reason TEXT,
  purged_at INTEGER,
  verified_at INTEGER,
  verify_due_at INTEGER NOT NULL DEFAULT 0,
  verify_misses INTEGER NOT NULL DEFAULT 0,
  missing_at INTEGER,
  resends INTEGER NOT NULL DEFAULT 0,
  priority TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX IF NOT EXISTS instances_queue ON instances (status, next_attempt_at, received_at);
CREATE INDEX IF NOT EXISTS instances_study ON instances (study_instance_uid, status);
CREATE INDEX IF NOT EXISTS instances_path ON instances (path);
CREATE INDEX IF NOT EXISTS instances_delivered ON instances (status, purged_at, delivered_at);
CREATE TABLE IF NOT EXISTS studies (
  study_instance_uid TEXT PRIMARY KEY,
  patient_id TEXT NOT NULL,
  patient_name TEXT NOT NULL,
  modality TEXT NOT NULL,
  study_date TEXT NOT NULL,
  study_description TEXT NOT NULL,
  accession_number TEXT NOT NULL,
  calling_ae_title TEXT NOT NULL,
  first_received_at INTEGER NOT NULL,
  last_received_at INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS studies_recent ON studies (last_received_at);
CREATE TABLE IF NOT EXISTS superseded_files (
  path TEXT PRIMARY KEY,
  superseded_at INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS study_changes (
  id INTEGER PRIMARY KEY,
  sop_instance_uid TEXT NOT NULL,
  previous_study_instance_uid TEXT NOT NULL,
  study_instance_uid TEXT NOT NULL,
  calling_ae_title TEXT NOT NULL,
  at INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS state (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;
`;

type Row = Record<string, SQLInputValue>;

/** Priorities uploaded before the backlog: (0040,1003) STAT/HIGH, (0032,000C) HIGH. */
export const URGENT_PRIORITIES: readonly string[] = ["STAT", "HIGH"];

/** Options of {@linkcode QueueIndex.claimBatch}. */
export interface ClaimOptions {
  /** Instances received from these calling AE titles are urgent too (`upload.urgent_ae_titles`). */
  urgentAeTitles?: readonly string[];
}

function text(row: Row, column: string): string {
  const value = row[column];
  return value === null || value === undefined ? "" : String(value);
}

function num(row: Row, column: string): number {
  const value = row[column];
  return typeof value === "number" ? value : typeof value === "bigint" ? Number(value) : 0;
}

function nullableText(row: Row, column: string): string | null {
  const value = row[column];
  return value === null || value === undefined ? null : String(value);
}

/**
 * Brings an index written by an earlier version up to date: adds the verification columns it lacks
 * (`ALTER TABLE … ADD COLUMN`, one transaction) and the index the verifier reads. Existing rows keep
 * their state; delivered ones are unverified, so they are queried before retention may delete them.
 */
function migrate(db: DatabaseSync): void {
  const columns = new Set(
    (db.prepare("PRAGMA table_info(instances)").all() as Row[]).map((row) => text(row, "name")),
  );
  const missing = ADDED_COLUMNS.filter(([name]) => !columns.has(name));
  if (missing.length > 0) {
    db.exec("BEGIN IMMEDIATE");
    try {
      for (const [name, definition] of missing) {
        db.exec(`ALTER TABLE instances ADD COLUMN ${name} ${definition}`);
      }
      db.exec("COMMIT");
    } catch (error) {
      db.exec("ROLLBACK");
      throw error;
    }
  }
  db.exec(
    `CREATE INDEX IF NOT EXISTS instances_unverified ON instances (study_instance_uid, series_instance_uid)
     WHERE status = 'delivered' AND verified_at IS NULL AND purged_at IS NULL`,
  );
  db.exec("CREATE INDEX IF NOT EXISTS instances_series ON instances (series_instance_uid, status)");
}

/**
 * The queue index over one SQLite file. All methods are synchronous (node:sqlite) and each write is
 * one transaction, committed before the method returns (see the module note on durability).
 */
export class QueueIndex {
  readonly #db: DatabaseSync;
  readonly #listeners = new Set<() => void>();
  readonly #statements = new Map<string, StatementSync>();

  private constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /** Opens (creating if needed) the index at `path`: schema, WAL, `synchronous=NORMAL`, busy timeout. */
  static open(path: string): QueueIndex {
    const db = new DatabaseSync(path, { timeout: 10_000 });
    try {
      db.exec("PRAGMA journal_mode = WAL");
      db.exec("PRAGMA synchronous = NORMAL");
      db.exec("PRAGMA busy_timeout = 10000");
      db.exec("PRAGMA foreign_keys = ON");
      db.exec(SCHEMA);
      migrate(db);
      const index = new QueueIndex(db);
      index.setState("schema.version", SCHEMA_VERSION);
      return index;
    } catch (error) {
      db.close();
      throw new Error(
        `Cannot open the queue index ${path}: ${messageOf(error)}`,
      );
    }
  }

  /** The durability settings in force on this connection (for tests and `doctor`). */
  settings(): { journalMode: string; synchronous: number } {
    const journal = this.#db.prepare("PRAGMA journal_mode").get() as Row | undefined;
    const synchronous = this.#db.prepare("PRAGMA synchronous").get() as Row | undefined;
    return {
      journalMode: journal === undefined ? "" : text(journal, "journal_mode"),
      synchronous: synchronous === undefined ? -1 : num(synchronous, "synchronous"),
    };
  }

  /** Closes the database. Further calls throw. */
  close(): void {
    this.#statements.clear();
    this.#listeners.clear();
    this.#db.close();
  }

  #stmt(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  #all(sql: string, ...params: SQLInputValue[]): Row[] {
    return this.#stmt(sql).all(...params) as Row[];
  }

  #get(sql: string, ...params: SQLInputValue[]): Row | undefined {
    return this.#stmt(sql).get(...params) as Row | undefined;
  }

  #run(sql: string, ...params: SQLInputValue[]): number {
    return Number(this.#stmt(sql).run(...params).changes);
  }

  #transaction<T>(body: () => T): T {
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      const result = body();
      this.#db.exec("COMMIT");
      return result;
    } catch (error) {
      // SQLite rolls the transaction back by itself on some errors (SQLITE_FULL, SQLITE_IOERR,
      // SQLITE_NOMEM: "Response To Errors Within A Transaction"); a ROLLBACK then fails with
      // "cannot rollback - no transaction is active", which must not hide the real error.
      if (this.#db.isTransaction) {
        try {
          this.#db.exec("ROLLBACK");
        } catch {
          // The original error is the one to report.
        }
      }
      throw error;
    }
  }

  #notify(): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener();
      } catch {
        // A listener's failure is its own business; the write is already committed.
      }
    }
  }

  /**
   * Records an instance the receiver has stored durably. Upsert by SOP Instance UID: a re-received
   * instance replaces the earlier row and goes back to pending (attempts 0, new generation), because
   * the file changed and must be sent again. If the earlier copy was stored under another path, that
   * path is remembered as superseded (retention deletes it; reconciliation does not re-index it).
   * If the earlier copy was in another study, that is recorded ({@linkcode studyChanges}) and
   * returned; the new copy wins.
   */
  recordReceived(instance: ReceivedInstance): RecordedInstance {
    // A replacement must not be lost to a power cut (see the module note): commit it with an fsync.
    const replacing = this.#get(
      "SELECT 1 AS known FROM instances WHERE sop_instance_uid = ?",
      instance.sopInstanceUid,
    ) !== undefined;
    if (replacing) this.#db.exec("PRAGMA synchronous = FULL");
    try {
      return this.#recordReceived(instance);
    } finally {
      if (replacing) this.#db.exec("PRAGMA synchronous = NORMAL");
    }
  }

  #recordReceived(instance: ReceivedInstance): RecordedInstance {
    const recorded = this.#transaction((): RecordedInstance => {
      const previous = this.#get(
        "SELECT path, study_instance_uid, purged_at FROM instances WHERE sop_instance_uid = ?",
        instance.sopInstanceUid,
      );
      if (previous !== undefined) {
        const previousPath = text(previous, "path");
        if (previousPath !== instance.path && previous["purged_at"] === null) {
          this.#run(
            "INSERT INTO superseded_files (path, superseded_at) VALUES (?, ?) ON CONFLICT (path) DO NOTHING",
            previousPath,
            instance.receivedAt,
          );
        }
      }
      this.#run("DELETE FROM superseded_files WHERE path = ?", instance.path);
      this.#run(
        `INSERT INTO instances (sop_instance_uid, sop_class_uid, study_instance_uid, series_instance_uid,
           transfer_syntax_uid, path, size, calling_ae_title, received_at, status, generation, attempts,
           next_attempt_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 1, 0, 0)
         ON CONFLICT (sop_instance_uid) DO UPDATE SET
           sop_class_uid = excluded.sop_class_uid, study_instance_uid = excluded.study_instance_uid,
           series_instance_uid = excluded.series_instance_uid,
           transfer_syntax_uid = excluded.transfer_syntax_uid, path = excluded.path, size = excluded.size,
           calling_ae_title = excluded.calling_ae_title, received_at = excluded.received_at,
           status = 'pending', generation = instances.generation + 1, attempts = 0, next_attempt_at = 0,
           last_error = NULL, delivered_at = NULL, failed_at = NULL, failure_reason = NULL, purged_at = NULL,
           verified_at = NULL, verify_due_at = 0, verify_misses = 0, missing_at = NULL, resends = 0`,
        instance.sopInstanceUid,
        instance.sopClassUid,
        instance.studyInstanceUid,
        instance.seriesInstanceUid,
        instance.transferSyntaxUid,
        instance.path,
        instance.size,
        instance.callingAeTitle,
        instance.receivedAt,
      );
      this.#run(
        "UPDATE instances SET priority = ? WHERE sop_instance_uid = ?",
        instance.priority ?? "",
        instance.sopInstanceUid,
      );
      this.#run(
        `INSERT INTO studies (study_instance_uid, patient_id, patient_name, modality, study_date,
           study_description, accession_number, calling_ae_title, first_received_at, last_received_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (study_instance_uid) DO UPDATE SET
           patient_id = CASE WHEN excluded.patient_id <> '' THEN excluded.patient_id ELSE studies.patient_id END,
           patient_name = CASE WHEN excluded.patient_name <> '' THEN excluded.patient_name ELSE studies.patient_name END,
           modality = CASE
             WHEN excluded.modality = '' OR instr('\\' || studies.modality || '\\', '\\' || excluded.modality || '\\') > 0
               THEN studies.modality
             WHEN studies.modality = '' THEN excluded.modality
             ELSE studies.modality || '\\' || excluded.modality END,
           study_date = CASE WHEN excluded.study_date <> '' THEN excluded.study_date ELSE studies.study_date END,
           study_description = CASE WHEN excluded.study_description <> '' THEN excluded.study_description
             ELSE studies.study_description END,
           accession_number = CASE WHEN excluded.accession_number <> '' THEN excluded.accession_number
             ELSE studies.accession_number END,
           calling_ae_title = excluded.calling_ae_title,
           first_received_at = min(studies.first_received_at, excluded.first_received_at),
           last_received_at = max(studies.last_received_at, excluded.last_received_at)`,
        instance.studyInstanceUid,
        instance.patientId,
        instance.patientName,
        instance.modality,
        instance.studyDate,
        instance.studyDescription,
        instance.accessionNumber,
        instance.callingAeTitle,
        instance.receivedAt,
        instance.receivedAt,
      );
      if (previous === undefined) return { replaced: false };
      const previousStudy = text(previous, "study_instance_uid");
      if (previousStudy === instance.studyInstanceUid) return { replaced: true };
      this.#deleteEmptyStudies();
      this.#run(
        `INSERT INTO study_changes (sop_instance_uid, previous_study_instance_uid, study_instance_uid,
           calling_ae_title, at) VALUES (?, ?, ?, ?, ?)`,
        instance.sopInstanceUid,
        previousStudy,
        instance.studyInstanceUid,
        instance.callingAeTitle,
        instance.receivedAt,
      );
      this.#run(
        "DELETE FROM study_changes WHERE id <= (SELECT max(id) FROM study_changes) - ?",
        STUDY_CHANGES_KEPT,
      );
      return { replaced: true, previousStudyInstanceUid: previousStudy };
    });
    this.#notify();
    return recorded;
  }

  /**
   * SOP Instance UIDs re-sent within a different study than their earlier copy, newest first
   * (the last 1000 are kept), for the status page.
   */
  studyChanges(limit: number): StudyChange[] {
    return this.#all(
      `SELECT sop_instance_uid, previous_study_instance_uid, study_instance_uid, calling_ae_title, at
         FROM study_changes ORDER BY id DESC LIMIT ?`,
      limit,
    ).map((row) => ({
      sopInstanceUid: text(row, "sop_instance_uid"),
      previousStudyInstanceUid: text(row, "previous_study_instance_uid"),
      studyInstanceUid: text(row, "study_instance_uid"),
      callingAeTitle: text(row, "calling_ae_title"),
      at: num(row, "at"),
    }));
  }

  #deleteEmptyStudies(): number {
    return this.#run(
      `DELETE FROM studies WHERE NOT EXISTS
         (SELECT 1 FROM instances i WHERE i.study_instance_uid = studies.study_instance_uid)`,
    );
  }

  /**
   * Every path the index expects on disk (relative, "/" separators): files of rows not purged by
   * retention, and superseded copies not yet deleted. For start-up reconciliation.
   */
  allPaths(): Set<string> {
    const paths = new Set<string>();
    for (const row of this.#all("SELECT path FROM instances WHERE purged_at IS NULL")) {
      paths.add(text(row, "path"));
    }
    for (const row of this.#all("SELECT path FROM superseded_files")) paths.add(text(row, "path"));
    return paths;
  }

  /**
   * Deletes rows whose file is gone (their path is not in `existingPaths`), and forgets superseded
   * files that are gone. Purged rows (file deleted by retention on purpose) are kept. Returns the
   * number of instance rows deleted; the caller logs them.
   */
  removeMissing(existingPaths: Set<string>): number {
    let removed = 0;
    this.#transaction(() => {
      for (const row of this.#all("SELECT sop_instance_uid, path FROM instances WHERE purged_at IS NULL")) {
        if (!existingPaths.has(text(row, "path"))) {
          removed += this.#run(
            "DELETE FROM instances WHERE sop_instance_uid = ?",
            text(row, "sop_instance_uid"),
          );
        }
      }
      for (const row of this.#all("SELECT path FROM superseded_files")) {
        if (!existingPaths.has(text(row, "path"))) {
          this.#run("DELETE FROM superseded_files WHERE path = ?", text(row, "path"));
        }
      }
      if (removed > 0) this.#deleteEmptyStudies();
    });
    if (removed > 0) this.#notify();
    return removed;
  }

  /** Calls `listener` after every change that may give the uploader work. Returns the unsubscribe function. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Queue totals. */
  counts(): QueueCounts {
    const counts: QueueCounts = { pending: 0, sending: 0, delivered: 0, failed: 0, bytesPending: 0 };
    for (
      const row of this.#all(
        "SELECT status, count(*) AS n, sum(size) AS bytes FROM instances GROUP BY status",
      )
    ) {
      const status = text(row, "status") as InstanceStatus;
      counts[status] = num(row, "n");
      if (status === "pending" || status === "sending") counts.bytesPending += num(row, "bytes");
    }
    return counts;
  }

  /** Verified instances, and instances found missing in the archive (not failed ones). */
  verificationCounts(): VerificationCounts {
    const row = this.#get(
      `SELECT sum(status = 'delivered' AND verified_at IS NOT NULL) AS verified,
         sum(status <> 'failed' AND missing_at IS NOT NULL) AS missing FROM instances`,
    );
    return row === undefined
      ? { verified: 0, missingInArchive: 0 }
      : { verified: num(row, "verified"), missingInArchive: num(row, "missing") };
  }

  /** The `limit` studies most recently received into, newest first, with per-study counts. */
  recentStudies(limit: number): StudySummary[] {
    const rows = this.#all(
      `SELECT s.*,
         (SELECT count(*) FROM instances i WHERE i.study_instance_uid = s.study_instance_uid) AS received,
         (SELECT count(*) FROM instances i WHERE i.study_instance_uid = s.study_instance_uid
            AND i.status = 'delivered') AS delivered,
         (SELECT count(*) FROM instances i WHERE i.study_instance_uid = s.study_instance_uid
            AND i.status = 'delivered' AND i.verified_at IS NOT NULL) AS verified,
         (SELECT count(*) FROM instances i WHERE i.study_instance_uid = s.study_instance_uid
            AND i.status <> 'failed' AND i.missing_at IS NOT NULL) AS missing,
         (SELECT count(*) FROM instances i WHERE i.study_instance_uid = s.study_instance_uid
            AND i.status = 'failed') AS failed,
         (SELECT count(*) FROM instances i WHERE i.study_instance_uid = s.study_instance_uid
            AND i.status IN ('pending', 'sending')) AS pending,
         (SELECT i.failure_reason FROM instances i WHERE i.study_instance_uid = s.study_instance_uid
            AND i.status = 'failed' ORDER BY i.failed_at DESC LIMIT 1) AS last_error
       FROM studies s ORDER BY s.last_received_at DESC, s.study_instance_uid LIMIT ?`,
      Math.max(0, Math.floor(limit)),
    );
    return rows.map((row) => ({
      studyInstanceUid: text(row, "study_instance_uid"),
      patientId: text(row, "patient_id"),
      patientName: text(row, "patient_name"),
      modality: text(row, "modality"),
      studyDate: text(row, "study_date"),
      studyDescription: text(row, "study_description"),
      accessionNumber: text(row, "accession_number"),
      callingAeTitle: text(row, "calling_ae_title"),
      firstReceivedAt: num(row, "first_received_at"),
      lastReceivedAt: num(row, "last_received_at"),
      received: num(row, "received"),
      delivered: num(row, "delivered"),
      verified: num(row, "verified"),
      missingInArchive: num(row, "missing"),
      failed: num(row, "failed"),
      pending: num(row, "pending"),
      lastError: nullableText(row, "last_error"),
    }));
  }

  /** Progress of one study (for log lines). */
  studyProgress(studyInstanceUid: string): StudyProgress {
    const row = this.#get(
      `SELECT count(*) AS received,
         sum(status = 'delivered') AS delivered, sum(status = 'failed') AS failed,
         sum(status = 'delivered' AND verified_at IS NOT NULL) AS verified,
         sum(status IN ('pending', 'sending')) AS pending
       FROM instances WHERE study_instance_uid = ?`,
      studyInstanceUid,
    );
    return row === undefined ? { received: 0, delivered: 0, verified: 0, failed: 0, pending: 0 } : {
      received: num(row, "received"),
      delivered: num(row, "delivered"),
      verified: num(row, "verified"),
      failed: num(row, "failed"),
      pending: num(row, "pending"),
    };
  }

  /** The `limit` most recent failed instances, newest first. */
  failures(limit: number): FailureRecord[] {
    return this.#all(
      `SELECT sop_instance_uid, study_instance_uid, failure_reason, failed_at FROM instances
       WHERE status = 'failed' ORDER BY failed_at DESC, sop_instance_uid LIMIT ?`,
      Math.max(0, Math.floor(limit)),
    ).map((row) => ({
      sopInstanceUid: text(row, "sop_instance_uid"),
      studyInstanceUid: text(row, "study_instance_uid"),
      reason: text(row, "failure_reason"),
      at: num(row, "failed_at"),
    }));
  }

  /** Puts failed instances (of one study, or all) back in the queue. Returns how many. */
  retryFailed(studyInstanceUid?: string): number {
    const changed = studyInstanceUid === undefined
      ? this.#run(
        `UPDATE instances SET status = 'pending', attempts = 0, next_attempt_at = 0, failed_at = NULL,
           failure_reason = NULL WHERE status = 'failed'`,
      )
      : this.#run(
        `UPDATE instances SET status = 'pending', attempts = 0, next_attempt_at = 0, failed_at = NULL,
           failure_reason = NULL WHERE status = 'failed' AND study_instance_uid = ?`,
        studyInstanceUid,
      );
    if (changed > 0) this.#notify();
    return changed;
  }

  /** A value from the small key-value table (upload health, credentials state…). */
  getState(key: string): string | undefined {
    const row = this.#get("SELECT value FROM state WHERE key = ?", key);
    return row === undefined ? undefined : text(row, "value");
  }

  /** Stores a value in the key-value table. Never store secrets here. */
  setState(key: string, value: string): void {
    this.#run(
      "INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      key,
      value,
    );
  }

  // ---- the uploader's side ----

  /**
   * After a crash or restart: rows left "sending" were never confirmed, so they go back to pending
   * (attempt count unchanged). Call once when the uploader starts, before claiming. Returns how many.
   */
  requeueSending(): number {
    const changed = this.#run(
      "UPDATE instances SET status = 'pending', next_attempt_at = 0 WHERE status = 'sending'",
    );
    if (changed > 0) this.#notify();
    return changed;
  }

  /**
   * Claims the next batch: the oldest due pending urgent instance (priority STAT or HIGH, or from
   * one of `options.urgentAeTitles`), else the oldest due pending instance; then more due pending
   * instances of the same study in arrival order, within `limits` (see {@linkcode planBatch}). The
   * claimed rows become "sending"; an urgent study's instances say `urgent`. Returns an empty array when nothing is due at `now`.
   */
  claimBatch(limits: BatchLimits, now: number, options: ClaimOptions = {}): ClaimedInstance[] {
    return this.#transaction(() => {
      const first = this.#get(
        `SELECT study_instance_uid, (priority IN (SELECT value FROM json_each(?))
           OR trim(calling_ae_title) IN (SELECT value FROM json_each(?))) AS urgent
         FROM instances WHERE status = 'pending' AND next_attempt_at <= ?
         ORDER BY urgent DESC, received_at, rowid LIMIT 1`,
        JSON.stringify(URGENT_PRIORITIES),
        JSON.stringify((options.urgentAeTitles ?? []).map((t) => t.trim())),
        now,
      );
      if (first === undefined) return [];
      const urgent = num(first, "urgent") === 1;
      const candidates = this.#all(
        `SELECT sop_instance_uid, sop_class_uid, study_instance_uid, transfer_syntax_uid, path, size, generation,
           attempts FROM instances
         WHERE study_instance_uid = ? AND status = 'pending' AND next_attempt_at <= ?
         ORDER BY received_at, rowid LIMIT ?`,
        text(first, "study_instance_uid"),
        now,
        Math.max(1, limits.maxInstances),
      ).map((row): ClaimedInstance => ({
        sopInstanceUid: text(row, "sop_instance_uid"),
        sopClassUid: text(row, "sop_class_uid"),
        studyInstanceUid: text(row, "study_instance_uid"),
        transferSyntaxUid: text(row, "transfer_syntax_uid"),
        path: text(row, "path"),
        size: num(row, "size"),
        generation: num(row, "generation"),
        attempts: num(row, "attempts"),
        ...(urgent ? { urgent } : {}),
      }));
      const batch = planBatch(candidates, limits);
      for (const instance of batch) {
        this.#run(
          "UPDATE instances SET status = 'sending' WHERE sop_instance_uid = ?",
          instance.sopInstanceUid,
        );
      }
      return batch;
    });
  }

  /** The earliest time a pending instance becomes due, or null when nothing is pending. */
  nextDueAt(): number | null {
    const row = this.#get("SELECT min(next_attempt_at) AS due FROM instances WHERE status = 'pending'");
    const due = row?.["due"];
    return due === null || due === undefined ? null : Number(due);
  }

  /**
   * Marks claimed instances delivered — call only after the server confirmed them. Stale claims
   * (the instance was re-received meanwhile) are ignored. Returns how many rows changed.
   */
  markDelivered(claims: readonly ClaimRef[], at: number): number {
    let changed = 0;
    this.#transaction(() => {
      for (const claim of claims) {
        changed += this.#run(
          `UPDATE instances SET status = 'delivered', delivered_at = ?, last_error = NULL,
             verified_at = NULL, verify_due_at = ?, verify_misses = 0
           WHERE sop_instance_uid = ? AND generation = ? AND status = 'sending'`,
          at,
          at,
          claim.sopInstanceUid,
          claim.generation,
        );
      }
    });
    if (changed > 0) this.#notify();
    return changed;
  }

  /** Marks claimed instances failed with the server's reason (no automatic retry). Returns how many. */
  markFailed(claims: readonly (ClaimRef & { reason: string })[], at: number): number {
    let changed = 0;
    this.#transaction(() => {
      for (const claim of claims) {
        changed += this.#run(
          `UPDATE instances SET status = 'failed', failed_at = ?, failure_reason = ?, last_error = ?
           WHERE sop_instance_uid = ? AND generation = ? AND status = 'sending'`,
          at,
          claim.reason,
          claim.reason,
          claim.sopInstanceUid,
          claim.generation,
        );
      }
    });
    if (changed > 0) this.#notify();
    return changed;
  }

  /**
   * Puts claimed instances back to pending, due at `nextAttemptAt`. `countAttempt` adds one to their
   * attempt count (a retryable failure); false for "not tried" (credentials rejected, shutdown).
   */
  release(
    claims: readonly ClaimRef[],
    options: { nextAttemptAt: number; countAttempt: boolean; error?: string | null },
  ): number {
    let changed = 0;
    this.#transaction(() => {
      for (const claim of claims) {
        changed += this.#run(
          `UPDATE instances SET status = 'pending', next_attempt_at = ?, attempts = attempts + ?,
             last_error = coalesce(?, last_error)
           WHERE sop_instance_uid = ? AND generation = ? AND status = 'sending'`,
          options.nextAttemptAt,
          options.countAttempt ? 1 : 0,
          options.error ?? null,
          claim.sopInstanceUid,
          claim.generation,
        );
      }
    });
    if (changed > 0) this.#notify();
    return changed;
  }

  /** Makes every pending instance due now (e.g. after the configuration changed). */
  makeAllDue(): number {
    const changed = this.#run(
      "UPDATE instances SET next_attempt_at = 0 WHERE status = 'pending' AND next_attempt_at > 0",
    );
    if (changed > 0) this.#notify();
    return changed;
  }

  /**
   * Delivered instances whose file is still on disk, oldest delivery first; `deliveredBefore`
   * restricts to deliveries before that time. With `proof: "query"` (the default) only verified
   * instances are candidates: the archive's QIDO-RS answer listed them.
   */
  purgeCandidates(
    options: { deliveredBefore?: number; limit: number; proof?: DeletionProof },
  ): PurgeCandidate[] {
    const verifiedOnly = (options.proof ?? "query") === "query" ? 1 : 0;
    return this.#all(
      `SELECT sop_instance_uid, generation, path, size, delivered_at FROM instances
       WHERE status = 'delivered' AND purged_at IS NULL AND delivered_at < ?
         AND (? = 0 OR verified_at IS NOT NULL)
       ORDER BY delivered_at, rowid LIMIT ?`,
      options.deliveredBefore ?? Number.MAX_SAFE_INTEGER,
      verifiedOnly,
      Math.max(0, Math.floor(options.limit)),
    ).map((row) => ({
      sopInstanceUid: text(row, "sop_instance_uid"),
      generation: num(row, "generation"),
      path: text(row, "path"),
      size: num(row, "size"),
      deliveredAt: num(row, "delivered_at"),
    }));
  }

  /**
   * True if the instance is still delivered (and, with `proof: "query"`, the default, verified),
   * unpurged and of this generation, and no row that is not so uses the same path (checked right
   * before deleting its file).
   */
  isPurgeable(claim: ClaimRef, proof: DeletionProof = "query"): boolean {
    const verifiedOnly = proof === "query" ? 1 : 0;
    return this.#get(
      `SELECT 1 AS ok FROM instances WHERE sop_instance_uid = ? AND generation = ? AND status = 'delivered'
         AND purged_at IS NULL AND (? = 0 OR verified_at IS NOT NULL)
         AND NOT EXISTS (SELECT 1 FROM instances o WHERE o.path = instances.path
           AND (o.status <> 'delivered' OR (? = 1 AND o.verified_at IS NULL)))`,
      claim.sopInstanceUid,
      claim.generation,
      verifiedOnly,
      verifiedOnly,
    ) !== undefined;
  }

  // ---- the verifier's side ----

  /**
   * Series with delivered, unverified instances (file still here) that are due for a query at
   * `now`: at least one is due, and the series is quiet — nothing of it pending or being sent,
   * and its last delivery at least `settleMs` ago — unless its oldest unverified delivery waited
   * `maxWaitMs` already (a series that keeps trickling in is still verified). Oldest first.
   */
  seriesToVerify(
    now: number,
    options: { settleMs: number; maxWaitMs: number; limit: number },
  ): SeriesToVerify[] {
    return this.#all(
      `SELECT u.study_instance_uid, u.series_instance_uid, min(u.delivered_at) AS first_delivered
       FROM instances u
       WHERE u.status = 'delivered' AND u.verified_at IS NULL AND u.purged_at IS NULL
       GROUP BY u.study_instance_uid, u.series_instance_uid
       HAVING min(u.verify_due_at) <= ? AND (
         min(u.delivered_at) <= ? OR (
           max(u.delivered_at) <= ? AND NOT EXISTS (SELECT 1 FROM instances o
             WHERE o.series_instance_uid = u.series_instance_uid AND o.status IN ('pending', 'sending'))))
       ORDER BY first_delivered LIMIT ?`,
      now,
      now - options.maxWaitMs,
      now - options.settleMs,
      Math.max(1, Math.floor(options.limit)),
    ).map((row) => ({
      studyInstanceUid: text(row, "study_instance_uid"),
      seriesInstanceUid: text(row, "series_instance_uid"),
    }));
  }

  /** The earliest time an unverified delivered instance is due for a query, or null when none waits. */
  nextVerifyDueAt(): number | null {
    const row = this.#get(
      `SELECT min(verify_due_at) AS due FROM instances
       WHERE status = 'delivered' AND verified_at IS NULL AND purged_at IS NULL`,
    );
    const due = row?.["due"];
    return due === null || due === undefined ? null : Number(due);
  }

  /** The delivered, unverified instances of one series whose file is still here. */
  unverifiedInSeries(series: SeriesToVerify): UnverifiedInstance[] {
    return this.#all(
      `SELECT sop_instance_uid, generation, verify_misses, verify_due_at FROM instances
       WHERE study_instance_uid = ? AND series_instance_uid = ? AND status = 'delivered'
         AND verified_at IS NULL AND purged_at IS NULL
       ORDER BY received_at, rowid`,
      series.studyInstanceUid,
      series.seriesInstanceUid,
    ).map((row) => ({
      sopInstanceUid: text(row, "sop_instance_uid"),
      generation: num(row, "generation"),
      verifyMisses: num(row, "verify_misses"),
      verifyDueAt: num(row, "verify_due_at"),
    }));
  }

  /**
   * Marks delivered instances verified: the archive's QIDO-RS answer listed them. Stale claims (the
   * instance was re-received or sent again meanwhile) are ignored. Committed with `synchronous=FULL`
   * (one fsync per call): retention deletes files on this mark, so it is on disk before it can.
   * Returns how many rows changed.
   */
  markVerified(claims: readonly ClaimRef[], at: number): number {
    if (claims.length === 0) return 0;
    let changed = 0;
    this.#db.exec("PRAGMA synchronous = FULL");
    try {
      this.#transaction(() => {
        for (const claim of claims) {
          changed += this.#run(
            `UPDATE instances SET verified_at = ?, verify_misses = 0, missing_at = NULL, resends = 0
             WHERE sop_instance_uid = ? AND generation = ? AND status = 'delivered' AND verified_at IS NULL`,
            at,
            claim.sopInstanceUid,
            claim.generation,
          );
        }
      });
    } finally {
      this.#db.exec("PRAGMA synchronous = NORMAL");
    }
    if (changed > 0) this.#notify();
    return changed;
  }

  /**
   * Records that the archive did not list these delivered instances at `at`: each is queried again
   * at its `recheckAt`, or, when that is null, goes back to pending to be sent again (with `reason`
   * as its last error). `missing_at` keeps the first time it was found missing, until verified.
   * Returns how many were put back to pending and how many wait for another query.
   */
  markNotListed(
    claims: readonly NotListed[],
    at: number,
    reason: string,
  ): { resend: number; recheck: number } {
    let resend = 0;
    let recheck = 0;
    this.#transaction(() => {
      for (const claim of claims) {
        if (claim.recheckAt === null) {
          // The first re-send goes at once; each later one waits FIRST_RESEND_DELAY_MS doubled per
          // re-send, at most MAX_RESEND_DELAY_MS: an archive that accepts an instance but never
          // lists it gets it again a few times a day, not every minute (and it is never deleted).
          resend += this.#run(
            `UPDATE instances SET status = 'pending',
               next_attempt_at = CASE WHEN resends = 0 THEN 0
                 ELSE ? + min(? * (1 << min(resends - 1, 20)), ?) END,
               resends = resends + 1, delivered_at = NULL,
               verify_due_at = 0, verify_misses = 0, missing_at = coalesce(missing_at, ?), last_error = ?
             WHERE sop_instance_uid = ? AND generation = ? AND status = 'delivered' AND verified_at IS NULL`,
            at,
            FIRST_RESEND_DELAY_MS,
            MAX_RESEND_DELAY_MS,
            at,
            reason,
            claim.sopInstanceUid,
            claim.generation,
          );
        } else {
          recheck += this.#run(
            `UPDATE instances SET verify_due_at = ?, verify_misses = verify_misses + 1,
               missing_at = coalesce(missing_at, ?)
             WHERE sop_instance_uid = ? AND generation = ? AND status = 'delivered' AND verified_at IS NULL`,
            claim.recheckAt,
            at,
            claim.sopInstanceUid,
            claim.generation,
          );
        }
      }
    });
    if (resend + recheck > 0) this.#notify();
    return { resend, recheck };
  }

  /** Records that retention deleted a delivered file (the row stays, for the study history). */
  markPurged(claim: ClaimRef, at: number): boolean {
    return this.#run(
      `UPDATE instances SET purged_at = ? WHERE sop_instance_uid = ? AND generation = ? AND status = 'delivered'
         AND purged_at IS NULL`,
      at,
      claim.sopInstanceUid,
      claim.generation,
    ) > 0;
  }

  /** Superseded copies (older receipts of re-received instances) superseded before `before`. */
  supersededFiles(before: number, limit: number): SupersededFile[] {
    return this.#all(
      "SELECT path, superseded_at FROM superseded_files WHERE superseded_at < ? ORDER BY superseded_at LIMIT ?",
      before,
      Math.max(0, Math.floor(limit)),
    ).map((row) => ({ path: text(row, "path"), supersededAt: num(row, "superseded_at") }));
  }

  /** Forgets a superseded copy once its file is deleted — unless a current row uses that path again. */
  forgetSuperseded(path: string): void {
    this.#run("DELETE FROM superseded_files WHERE path = ?", path);
  }

  /** True if a current (unpurged) row uses `path`. */
  isPathInUse(path: string): boolean {
    return this.#get("SELECT 1 AS ok FROM instances WHERE path = ? AND purged_at IS NULL LIMIT 1", path) !==
      undefined;
  }

  /**
   * Deletes the history of instances purged before `before` and studies left with no instance, so
   * the index does not grow for ever. Returns the number of instance rows deleted.
   */
  pruneHistory(before: number): number {
    return this.#transaction(() => {
      const removed = this.#run(
        "DELETE FROM instances WHERE status = 'delivered' AND purged_at IS NOT NULL AND purged_at < ?",
        before,
      );
      if (removed > 0) this.#deleteEmptyStudies();
      return removed;
    });
  }

  /** The status of one instance (tests, diagnostics). */
  instanceStatus(
    sopInstanceUid: string,
  ):
    | { status: InstanceStatus; attempts: number; generation: number; failureReason: string | null }
    | undefined {
    const row = this.#get(
      "SELECT status, attempts, generation, failure_reason FROM instances WHERE sop_instance_uid = ?",
      sopInstanceUid,
    );
    return row === undefined ? undefined : {
      status: text(row, "status") as InstanceStatus,
      attempts: num(row, "attempts"),
      generation: num(row, "generation"),
      failureReason: nullableText(row, "failure_reason"),
    };
  }

  /** The verification state of one instance (tests, diagnostics). */
  verificationState(
    sopInstanceUid: string,
  ): { verifiedAt: number | null; missingAt: number | null; verifyMisses: number } | undefined {
    const row = this.#get(
      "SELECT verified_at, missing_at, verify_misses FROM instances WHERE sop_instance_uid = ?",
      sopInstanceUid,
    );
    const time = (column: string) =>
      row?.[column] === null || row?.[column] === undefined ? null : num(row, column);
    return row === undefined ? undefined : {
      verifiedAt: time("verified_at"),
      missingAt: time("missing_at"),
      verifyMisses: num(row, "verify_misses"),
    };
  }
}
