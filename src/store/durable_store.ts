/**
 * The one owner of the rule above all: a C-STORE is answered Success only after the instance is
 * durable (fsync, rename, folder fsync) and recorded in the queue index. Implements the DIMSE
 * port `InstanceStore` (dimse/instance_store.ts), doing for each instance, in this order:
 *
 * 1. the Part 10 File Meta Information written in front of the data set (PS3.10 §7.1), which is
 *    stored exactly as received in the negotiated transfer syntax (never transcoded);
 * 2. the data set streamed to a spool file in large writes (`DatasetBuffer`), every chunk going
 *    first through the streaming scanner (`DatasetReader`): the structure of the whole data set
 *    is checked and the indexed attributes kept as the bytes pass, in one pass and bounded
 *    memory, whatever the input; a broken data set is refused (0xC000 with the reason) at once
 *    and nothing of it is kept;
 * 3. the attributes compared with the C-STORE-RQ: the received UIDs, only their padding removed;
 * 4. the file name chosen from them (`names.ts`; a non-conformant UID gives a hashed name);
 * 5. the spool commit (fsync → rename → folder fsync, `spool.ts`);
 * 6. the queue index record; only then Success.
 *
 * Start-up reconciliation (`reconcile.ts`) indexes files with {@link receivedInstanceRow}, the same
 * mapping from attributes to index row.
 * @module
 */
import type { Logger } from "@logtape/logtape";
import { logger } from "../log.ts";
import { messageOf } from "../errors.ts";
import type {
  IncomingInstance,
  InstanceReception,
  InstanceStore,
  StoreOutcome,
} from "../dimse/instance_store.ts";
import { Status } from "../dimse/status.ts";
import { errorComment } from "../dimse/command.ts";
import { isValidUid } from "../dicom/uids.ts";
import { InflatedSizeError } from "../dicom/deflated_scanner.ts";
import {
  type DatasetAttributes,
  DatasetError,
  encodeFileMetaInformation,
  type FileMetaInformation,
} from "./part10.ts";
import { type DatasetLimits, DatasetReader } from "./dataset_attributes.ts";
import { DatasetBuffer } from "./dataset_buffer.ts";
import { instanceRelativePath } from "./names.ts";
import type { Spool, SpoolFile } from "./spool.ts";
import type { ReceivedInstance, RecordedInstance } from "./queue_index.ts";

/** Where the durable store writes and records instances. */
export interface DurableStoreOptions {
  spool: Spool;
  /**
   * Records each committed instance; must be durable on return (`QueueIndex.recordReceived`,
   * which also tells whether the SOP Instance UID was known within another study).
   */
  index: { recordReceived(instance: ReceivedInstance): RecordedInstance | void };
  /** Limits of the streaming check of each data set (nesting depth, inflated size). */
  limits?: DatasetLimits;
  /** (0002,0012) Implementation Class UID written into each file. */
  implementationClassUid: string;
  /** (0002,0013) Implementation Version Name written into each file. */
  implementationVersionName: string;
  /** Default: the ["gateway","store"] logger. */
  log?: Logger;
  /** Clock for `received_at` (test hook). */
  now?: () => number;
}

/** What a file adds to its attributes to make an index row. */
export interface StoredFile {
  transferSyntaxUid: string;
  /** Relative to the data folder, "/" separators. */
  path: string;
  size: number;
  callingAeTitle: string;
  /** Milliseconds since the epoch. */
  receivedAt: number;
}

/** The queue index row of a stored instance: the one mapping, used live and at start-up. */
export function receivedInstanceRow(attributes: DatasetAttributes, file: StoredFile): ReceivedInstance {
  return {
    sopInstanceUid: attributes.sopInstanceUid,
    sopClassUid: attributes.sopClassUid,
    studyInstanceUid: attributes.studyInstanceUid,
    seriesInstanceUid: attributes.seriesInstanceUid,
    transferSyntaxUid: file.transferSyntaxUid,
    path: file.path,
    size: file.size,
    callingAeTitle: file.callingAeTitle,
    receivedAt: file.receivedAt,
    patientId: attributes.patientId,
    patientName: attributes.patientName,
    modality: attributes.modality,
    studyDate: attributes.studyDate,
    studyDescription: attributes.studyDescription,
    accessionNumber: attributes.accessionNumber,
    priority: attributes.priority,
  };
}

/** The spool and the queue index behind the DIMSE `InstanceStore` port. */
export class DurableInstanceStore implements InstanceStore {
  readonly #options: DurableStoreOptions;
  readonly #log: Logger;
  /**
   * Buffers not in use. A buffer holds two 128 KiB chunks; reusing them keeps one set per
   * association receiving at a time instead of one per instance.
   */
  readonly #buffers: DatasetBuffer[] = [];
  /** Non-conformant UIDs already logged (each is logged once; bounded). */
  readonly #loggedUids = new Set<string>();

  #maxBufferedBytes = 0;

  constructor(options: DurableStoreOptions) {
    this.#options = options;
    this.#log = options.log ?? logger("store");
  }

  /**
   * The most bytes the streaming check of any one data set has held (partial header, kept
   * values, open sequences, an inflated piece), over every instance so far. Bounded by design:
   * the memory tests assert it whatever they send.
   */
  get maxBufferedBytes(): number {
    return this.#maxBufferedBytes;
  }

  async begin(instance: IncomingInstance): Promise<InstanceReception> {
    const buffer = this.#buffers.pop() ?? new DatasetBuffer();
    const reception = new Reception(instance, buffer, {
      options: this.#options,
      log: this.#log,
      release: (b) => this.#buffers.push(b),
      measured: (bytes) => {
        if (bytes > this.#maxBufferedBytes) this.#maxBufferedBytes = bytes;
      },
      firstTime: (uid) => {
        if (this.#loggedUids.has(uid)) return false;
        if (this.#loggedUids.size >= 10_000) this.#loggedUids.clear();
        this.#loggedUids.add(uid);
        return true;
      },
    });
    await reception.open();
    return reception;
  }
}

interface ReceptionContext {
  options: DurableStoreOptions;
  log: Logger;
  /** Hands the buffer back for the next instance. */
  release: (buffer: DatasetBuffer) => void;
  /** Reports the bytes the reception's streaming check held at most. */
  measured: (bytes: number) => void;
  /** True the first time a non-conformant UID is seen (it is logged once). */
  firstTime: (uid: string) => boolean;
}

type Failure = { status: number; comment: string };

class Reception implements InstanceReception {
  readonly #instance: IncomingInstance;
  readonly #ctx: ReceptionContext;
  readonly #meta: FileMetaInformation;
  #buffer: DatasetBuffer | null;
  readonly #reader: DatasetReader;
  #file: SpoolFile | null = null;
  /** The first failure; the rest of the data set is dropped and `commit` answers it. */
  #failure: Failure | null = null;

  constructor(instance: IncomingInstance, buffer: DatasetBuffer, ctx: ReceptionContext) {
    this.#instance = instance;
    this.#buffer = buffer;
    this.#ctx = ctx;
    this.#reader = new DatasetReader(instance.transferSyntaxUid, ctx.options.limits ?? {});
    // PS3.10 §7.1: the File Meta Information precedes the data set, which is written exactly as
    // received in the negotiated transfer syntax (never transcoded).
    this.#meta = {
      mediaStorageSopClassUid: instance.sopClassUid,
      mediaStorageSopInstanceUid: instance.sopInstanceUid,
      transferSyntaxUid: instance.transferSyntaxUid,
      implementationClassUid: ctx.options.implementationClassUid,
      implementationVersionName: ctx.options.implementationVersionName,
      sourceApplicationEntityTitle: instance.callingAeTitle,
    };
  }

  /** Encodes the meta header and opens the spool file. Failures are kept for `commit`. */
  async open(): Promise<void> {
    let header: Uint8Array;
    try {
      header = encodeFileMetaInformation(this.#meta);
    } catch (error) {
      // A UID in the C-STORE-RQ that cannot be written into the meta header: not a disk problem.
      this.#failure = { status: Status.CannotUnderstand, comment: errorComment(messageOf(error)) };
      this.#releaseBuffer();
      return;
    }
    try {
      this.#file = await this.#ctx.options.spool.begin();
      this.#buffer!.start(this.#file, header);
    } catch (error) {
      await this.#failWrite(error);
    }
  }

  async write(bytes: Uint8Array): Promise<void> {
    if (!this.#file || this.#failure) return;
    try {
      // The scanner sees each chunk before it is written: a broken data set stops at once.
      this.#reader.push(bytes);
    } catch (error) {
      await this.#refuse(error);
      return;
    }
    try {
      await this.#buffer!.append(bytes);
    } catch (error) {
      await this.#failWrite(error);
    }
  }

  async commit(): Promise<StoreOutcome> {
    try {
      return this.#failure ?? await this.#commit();
    } finally {
      this.#releaseBuffer();
    }
  }

  async discard(): Promise<void> {
    this.#reader.close();
    const file = this.#file;
    this.#file = null;
    if (file) {
      await this.#buffer?.reset();
      await file.discard();
    }
    this.#releaseBuffer();
  }

  /**
   * The data set cannot be read (its structure, its attributes) or is over a limit: nothing is
   * kept, the rest is dropped, and `commit` answers 0xC000 Cannot Understand with the reason
   * (0xA700 Out of Resources for the inflated-size limit).
   */
  async #refuse(error: unknown): Promise<void> {
    if (!(error instanceof DatasetError)) throw error;
    this.#reader.close();
    const reason = error.message;
    this.#failure = {
      status: error instanceof InflatedSizeError ? Status.OutOfResources : Status.CannotUnderstand,
      comment: errorComment(error.comment ?? reason),
    };
    this.#ctx.log.warn("Association {id} from {ae}: refused instance {uid}: {reason}", {
      id: this.#instance.associationId,
      ae: this.#instance.callingAeTitle,
      uid: this.#instance.sopInstanceUid || "?",
      reason,
    });
    const file = this.#file;
    this.#file = null;
    if (file) {
      await this.#buffer?.reset();
      await file.discard();
    }
  }

  #releaseBuffer(): void {
    if (!this.#buffer) return;
    this.#reader.close();
    this.#ctx.measured(this.#reader.maxBufferedBytes);
    this.#ctx.release(this.#buffer);
    this.#buffer = null;
  }

  async #failWrite(error: unknown): Promise<void> {
    this.#failure = {
      status: Status.OutOfResources,
      comment: "Cannot write the instance to disk (disk full or write error)",
    };
    this.#ctx.log.error("Association {id} from {ae}: cannot write instance {uid}: {error}", {
      id: this.#instance.associationId,
      ae: this.#instance.callingAeTitle,
      uid: this.#instance.sopInstanceUid || "?",
      error: messageOf(error),
    });
    const file = this.#file;
    this.#file = null;
    if (file) {
      await this.#buffer?.reset();
      await file.discard();
    }
  }

  /**
   * PS3.5 §9.1 UIDs are digits and dots, at most 64 characters, no empty component. One that is
   * not is accepted as received (command and data set agree) and logged once.
   */
  #logNonConformant(attributes: DatasetAttributes): void {
    const uids: [string, string][] = [
      ["SOP Instance UID", attributes.sopInstanceUid],
      ["Study Instance UID", attributes.studyInstanceUid],
      ["Series Instance UID", attributes.seriesInstanceUid],
      ["SOP Class UID", attributes.sopClassUid],
    ];
    for (const [name, uid] of uids) {
      if (isValidUid(uid) || !this.#ctx.firstTime(uid)) continue;
      this.#ctx.log.warn(
        "Association {id} from {ae}: non-conformant {name} {uid} (PS3.5 9.1) accepted as received; stored under a hashed file name",
        {
          id: this.#instance.associationId,
          ae: this.#instance.callingAeTitle,
          name,
          uid: JSON.stringify(uid),
        },
      );
    }
  }

  /** Verifies the data set, makes the file durable and indexes it. Returns the C-STORE status. */
  async #commit(): Promise<StoreOutcome> {
    const instance = this.#instance;
    const buffer = this.#buffer!;
    const log = this.#ctx.log;
    try {
      await buffer.finish();
    } catch (error) {
      await this.#failWrite(error);
      return this.#failure!;
    }
    let attributes: DatasetAttributes;
    try {
      // The scanner has seen every byte: the whole structure must be closed, the UIDs present.
      this.#reader.end();
      attributes = this.#reader.attributes(this.#meta);
    } catch (error) {
      await this.#refuse(error);
      return this.#failure!;
    }
    const file = this.#file!;
    this.#file = null;
    // PS3.4 B.2.3: A900 "Error: Data Set does not match SOP Class"; we also refuse a data set
    // whose SOP Instance UID disagrees with the command's Affected SOP Instance UID.
    if (
      attributes.sopInstanceUid !== instance.sopInstanceUid || attributes.sopClassUid !== instance.sopClassUid
    ) {
      await file.discard();
      const comment = attributes.sopInstanceUid !== instance.sopInstanceUid
        ? "SOP Instance UID in the data set differs from the C-STORE-RQ"
        : "SOP Class UID in the data set differs from the C-STORE-RQ";
      log.warn("Association {id} from {ae}: {comment} ({uid}); answered 0xA900", {
        id: instance.associationId,
        ae: instance.callingAeTitle,
        comment,
        uid: instance.sopInstanceUid || "?",
      });
      return { status: Status.DataSetDoesNotMatchSopClass, comment };
    }
    this.#logNonConformant(attributes);
    const relativePath = instanceRelativePath(attributes);
    const size = file.bytesWritten;
    // The index row is written once the file is in place, while its folder's fsync is under way
    // (the two waits overlap); Success still waits for both. A row recorded for a file whose
    // folder fsync then fails points at a complete file (it is uploaded; the modality's resend
    // replaces it), and a power cut before the fsync loses either the row (re-indexed from the
    // file at start-up) or both (the instance was never answered Success).
    const indexed: { recorded?: RecordedInstance | void; error?: unknown } = {};
    const record = () => {
      try {
        indexed.recorded = this.#ctx.options.index.recordReceived(receivedInstanceRow(attributes, {
          transferSyntaxUid: instance.transferSyntaxUid,
          path: relativePath,
          size,
          callingAeTitle: instance.callingAeTitle,
          receivedAt: (this.#ctx.options.now ?? Date.now)(),
        }));
      } catch (error) {
        indexed.error = error ?? new Error("unknown error");
      }
    };
    try {
      await file.commit(relativePath, record);
    } catch (error) {
      await file.discard();
      log.error("Association {id} from {ae}: cannot save instance {uid}: {error}", {
        id: instance.associationId,
        ae: instance.callingAeTitle,
        uid: attributes.sopInstanceUid,
        error: messageOf(error),
      });
      return { status: Status.OutOfResources, comment: "Cannot save the instance to disk" };
    }
    if (indexed.error !== undefined) {
      // The file is durable but not indexed: start-up reconciliation will index it. The modality
      // is told to retry, which is safe (a resend replaces the file).
      log.error("Association {id}: cannot record instance {uid} in the index: {error}", {
        id: instance.associationId,
        uid: attributes.sopInstanceUid,
        error: messageOf(indexed.error),
      });
      return { status: Status.OutOfResources, comment: "Cannot record the instance in the queue index" };
    }
    const previousStudy = indexed.recorded?.previousStudyInstanceUid;
    if (previousStudy !== undefined && previousStudy !== attributes.studyInstanceUid) {
      // The newest copy wins; the status page lists these (QueueIndex.studyChanges).
      log.warn(
        "Association {id} from {ae}: SOP Instance UID {uid} re-sent within another study: was in study {previous}, now in study {study}; the new copy replaces the earlier one",
        {
          id: instance.associationId,
          ae: instance.callingAeTitle,
          uid: attributes.sopInstanceUid,
          previous: previousStudy,
          study: attributes.studyInstanceUid,
        },
      );
    }
    return {
      status: Status.Success,
      stored: {
        studyInstanceUid: attributes.studyInstanceUid,
        modality: attributes.modality,
        studyDescription: attributes.studyDescription,
        patientName: attributes.patientName,
        size,
      },
    };
  }
}
