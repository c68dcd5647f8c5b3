/**
 * The port the C-STORE provider needs from storage (types only; `store/durable_store.ts`
 * implements it). DIMSE knows the C-STORE-RQ and the association; storage knows files, names,
 * attributes and the queue index, and alone decides the status to answer. It answers Success
 * only once the instance is durable and recorded (PS3.4 B.2.3: "Success" means the SCP has
 * stored the instance).
 *
 * One instance at a time per association:
 * ```
 * begin(instance) ──▶ write(bytes) … write(bytes) ──▶ commit() → status to answer
 *                                  └──────────────▶ discard()   (association ended first)
 * ```
 * @module
 */

/** What the C-STORE-RQ and the association say about an instance about to arrive. */
export interface IncomingInstance {
  /** (0000,0002) Affected SOP Class UID of the C-STORE-RQ. */
  sopClassUid: string;
  /** (0000,1000) Affected SOP Instance UID of the C-STORE-RQ. */
  sopInstanceUid: string;
  /** The transfer syntax negotiated for the presentation context: the data set's encoding. */
  transferSyntaxUid: string;
  /** The peer's AE title (it becomes (0002,0016) Source Application Entity Title). */
  callingAeTitle: string;
  /** The association's id, for log lines ("#12"). */
  associationId: string;
}

/** A stored instance, as the provider reports it (per-study log lines, statistics). */
export interface StoredInstance {
  studyInstanceUid: string;
  modality: string;
  studyDescription: string;
  patientName: string;
  /** Bytes of the Part 10 file. */
  size: number;
}

/** The C-STORE-RSP status storage decided, and why (PS3.7 §9.1.1.1.9, PS3.4 B.2.3). */
export interface StoreOutcome {
  /** (0000,0900) Status: 0x0000 Success only when the instance is durable and recorded. */
  status: number;
  /** (0000,0902) Error Comment for a failure, at most 64 characters. */
  comment?: string;
  /** Present exactly when `status` is Success. */
  stored?: StoredInstance;
}

/** One instance being received. */
export interface InstanceReception {
  /**
   * Appends data set bytes, in arrival order. The bytes are copied: the caller may reuse them
   * once the promise settles. Never rejects: a failure (disk full) is kept and answered by
   * {@link commit}; the rest of the data set is then dropped.
   */
  write(bytes: Uint8Array): Promise<void>;
  /** The last fragment has arrived: makes the instance durable and recorded, or refuses it. */
  commit(): Promise<StoreOutcome>;
  /** The association ended before the last fragment: nothing is kept. Never rejects. */
  discard(): Promise<void>;
}

/** Where the C-STORE provider puts instances. */
export interface InstanceStore {
  /**
   * Starts receiving an instance. Refusals known at once (a UID that cannot be written into the
   * File Meta Information, a temporary file that cannot be created) are answered by `commit`.
   */
  begin(instance: IncomingInstance): Promise<InstanceReception>;
}
