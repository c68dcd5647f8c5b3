/**
 * The DIMSE service provider for one association: C-ECHO (Verification, PS3.4 Annex A) and
 * C-STORE (Storage, PS3.4 Annex B). Data set fragments stream straight into a spool file; the
 * C-STORE-RSP Success is sent only after the instance is fsynced, renamed into place and
 * recorded in the queue index (the one rule above all).
 * @module
 */
import type { Logger } from "@logtape/logtape";
import type { AssociationInfo, PDataHandler, PDataSender } from "../ul/association.ts";
import { ProtocolError } from "../ul/association.ts";
import type { Pdv } from "../ul/pdu.ts";
import { MessageAssembler } from "./assembler.ts";
import {
  cEchoRsp,
  CommandField,
  type CommandSet,
  cStoreRsp,
  DimseError,
  encodeCommandSet,
  failureRsp,
  hasDataSet,
} from "./command.ts";
import { Status } from "./status.ts";
import {
  datasetAttributesFromHead,
  encodeFileMetaInformation,
  type FileMetaInformation,
  readDatasetAttributes,
} from "../store/part10.ts";
import { DatasetBuffer } from "./dataset_buffer.ts";
import { DatasetError } from "../store/part10.ts";
import type { DatasetAttributes } from "../store/part10.ts";
import type { Spool, SpoolFile } from "../store/spool.ts";
import { instanceRelativePath } from "../store/names.ts";

/** Where a fully received, verified instance is recorded (the queue index, via the gateway). */
export interface InstanceSink {
  /** Called after the file is durable at `path` (relative to the data directory). Must be durable on return. */
  record(instance: {
    attributes: DatasetAttributes;
    transferSyntaxUid: string;
    path: string;
    size: number;
    callingAeTitle: string;
    receivedAt: number;
  }): void;
}

/** Counters the status page shows. */
export interface ServiceStatistics {
  instancesStored: number;
  instancesFailed: number;
  bytesStored: number;
}

/** Options shared by every association's provider. */
export interface StorageServiceOptions {
  spool: Spool;
  sink: InstanceSink;
  implementationClassUid: string;
  implementationVersionName: string;
  log: Logger;
  statistics?: ServiceStatistics;
  now?: () => number;
  /** Name the patient in the per-study log line (`[logs] patient_details`). Default: no names. */
  logPatientDetails?: boolean;
}

/** An instance being received: the C-STORE-RQ and where its data set is going. */
interface StoreInProgress {
  command: CommandSet;
  presentationContextId: number;
  file: SpoolFile | null;
  /** The File Meta Information written before the data set. */
  meta: FileMetaInformation;
  /** The first failure (write error); the rest of the data set is read and dropped. */
  failure: { status: number; comment: string } | null;
}

/** A non-storage request whose data set we read and drop before answering 0x0211. */
interface IgnoredRequest {
  command: CommandSet;
  presentationContextId: number;
}

/**
 * Creates the `PDataHandler` for one accepted association.
 */
export function createStorageProvider(
  info: AssociationInfo,
  sender: PDataSender,
  options: StorageServiceOptions,
): PDataHandler {
  return new StorageProvider(info, sender, options);
}

class StorageProvider implements PDataHandler {
  #info: AssociationInfo;
  #sender: PDataSender;
  #options: StorageServiceOptions;
  #assembler = new MessageAssembler();
  #store: StoreInProgress | null = null;
  #ignored: IgnoredRequest | null = null;
  /** Gathers each instance's data set fragments into large writes (one instance at a time). */
  #buffer = new DatasetBuffer();
  #instances = 0;
  /** Instances stored per study on this association, for the console's "study received" lines. */
  #studies = new Map<string, { count: number; modality: string; description: string; patient: string }>();

  constructor(info: AssociationInfo, sender: PDataSender, options: StorageServiceOptions) {
    this.#info = info;
    this.#sender = sender;
    this.#options = options;
  }

  async onPdv(pdv: Pdv): Promise<void> {
    let events;
    try {
      events = this.#assembler.push(pdv);
    } catch (error) {
      if (error instanceof DimseError) throw new ProtocolError(error.message);
      throw error;
    }
    for (const event of events) {
      if (event.kind === "command") {
        await this.#onCommand(event.presentationContextId, event.command);
      } else {
        await this.#onData(event.bytes, event.isLast);
      }
    }
  }

  async onClose(how: "released" | "aborted"): Promise<void> {
    const store = this.#store;
    this.#store = null;
    if (store?.file) {
      // PS3.8: an aborted association leaves nothing behind; the instance was never acknowledged.
      await this.#buffer.reset();
      await store.file.discard();
      this.#options.log.warn(
        "Association {id} from {ae}: instance {uid} incomplete when the association ended; discarded",
        {
          id: this.#info.id,
          ae: this.#info.callingAeTitle,
          uid: store.command.affectedSopInstanceUid ?? "?",
        },
      );
    }
    for (const [uid, study] of this.#studies) {
      // Patient names stay out of the logs unless the site turned patient_details on.
      const properties = {
        uid,
        modality: study.modality || "?",
        description: study.description,
        count: study.count,
        ae: this.#info.callingAeTitle,
      };
      if (this.#options.logPatientDetails) {
        this.#options.log.info(
          "Study {uid} ({modality} {description}, patient {patient}): {count} instance(s) received from {ae}",
          { ...properties, patient: study.patient || "?" },
        );
      } else {
        this.#options.log.info(
          "Study {uid} ({modality} {description}): {count} instance(s) received from {ae}",
          properties,
        );
      }
    }
    if (this.#instances > 0) {
      this.#options.log.info("Association {id} from {ae} {how}: {count} instance(s) stored", {
        id: this.#info.id,
        ae: this.#info.callingAeTitle,
        how,
        count: this.#instances,
      });
    }
  }

  async #onCommand(presentationContextId: number, command: CommandSet): Promise<void> {
    switch (command.commandField) {
      case CommandField.CEchoRq:
        // PS3.7 §9.3.5: C-ECHO-RSP with Status Success.
        await this.#reply(presentationContextId, cEchoRsp(command, Status.Success));
        return;
      case CommandField.CStoreRq:
        await this.#beginStore(presentationContextId, command);
        return;
      case CommandField.CCancelRq:
        // PS3.7 §9.3.2.3: C-CANCEL has no response; we have nothing pending to cancel.
        return;
      default: {
        this.#options.log.warn(
          "Association {id} from {ae}: unsupported DIMSE command 0x{field}, answered 0x0211",
          {
            id: this.#info.id,
            ae: this.#info.callingAeTitle,
            field: command.commandField.toString(16).padStart(4, "0"),
          },
        );
        if (hasDataSet(command)) {
          this.#ignored = { command, presentationContextId };
          return;
        }
        if (command.commandField & 0x8000) return; // a response: nothing to answer
        await this.#reply(presentationContextId, failureRsp(command, Status.UnrecognizedOperation));
      }
    }
  }

  async #beginStore(presentationContextId: number, command: CommandSet): Promise<void> {
    const context = this.#info.contexts.get(presentationContextId)!;
    const sopClassUid = command.affectedSopClassUid ?? "";
    const sopInstanceUid = command.affectedSopInstanceUid ?? "";
    // PS3.10 §7.1: the File Meta Information precedes the data set, which is written exactly as
    // received in the negotiated transfer syntax (never transcoded).
    const meta: FileMetaInformation = {
      mediaStorageSopClassUid: sopClassUid,
      mediaStorageSopInstanceUid: sopInstanceUid,
      transferSyntaxUid: context.transferSyntax,
      implementationClassUid: this.#options.implementationClassUid,
      implementationVersionName: this.#options.implementationVersionName,
      sourceApplicationEntityTitle: this.#info.callingAeTitle,
    };
    const store: StoreInProgress = { command, presentationContextId, file: null, meta, failure: null };
    this.#store = store;
    if (!sopClassUid || !sopInstanceUid) {
      store.failure = {
        status: Status.CannotUnderstand,
        comment: "C-STORE-RQ lacks Affected SOP Class/Instance UID",
      };
    }
    if (!hasDataSet(command)) {
      // A C-STORE-RQ must carry a data set (PS3.7 §9.3.1.1); answer at once.
      this.#store = null;
      await this.#reply(
        presentationContextId,
        cStoreRsp(command, Status.CannotUnderstand, "C-STORE-RQ without a data set"),
      );
      return;
    }
    if (store.failure) return;
    if (sopClassUid !== context.abstractSyntax) {
      this.#options.log.warn(
        "Association {id} from {ae}: C-STORE of {sopClass} on a context negotiated for {abstract}; storing as sent",
        {
          id: this.#info.id,
          ae: this.#info.callingAeTitle,
          sopClass: sopClassUid,
          abstract: context.abstractSyntax,
        },
      );
    }
    try {
      const header = encodeFileMetaInformation(meta);
      store.file = await this.#options.spool.begin();
      this.#buffer.start(store.file, header);
    } catch (error) {
      if (error instanceof DatasetError) {
        // A UID in the C-STORE-RQ that cannot be written into the meta header: not a disk problem.
        if (store.file) await store.file.discard();
        store.file = null;
        store.failure = { status: Status.CannotUnderstand, comment: truncate(error.message) };
        return;
      }
      await this.#failWrite(store, error);
    }
  }

  async #onData(bytes: Uint8Array, isLast: boolean): Promise<void> {
    if (this.#ignored) {
      if (isLast) {
        const { command, presentationContextId } = this.#ignored;
        this.#ignored = null;
        await this.#reply(presentationContextId, failureRsp(command, Status.UnrecognizedOperation));
      }
      return;
    }
    const store = this.#store;
    if (!store) throw new ProtocolError("data set PDV without a command");
    if (store.file && !store.failure) {
      try {
        await this.#buffer.append(bytes);
      } catch (error) {
        await this.#failWrite(store, error);
      }
    }
    if (isLast) {
      this.#store = null;
      await this.#finishStore(store);
    }
  }

  async #failWrite(store: StoreInProgress, error: unknown): Promise<void> {
    store.failure = {
      status: Status.OutOfResources,
      comment: "Cannot write the instance to disk (disk full or write error)",
    };
    this.#options.log.error("Association {id} from {ae}: cannot write instance {uid}: {error}", {
      id: this.#info.id,
      ae: this.#info.callingAeTitle,
      uid: store.command.affectedSopInstanceUid ?? "?",
      error: error instanceof Error ? error.message : String(error),
    });
    if (store.file) {
      const file = store.file;
      store.file = null;
      await this.#buffer.reset();
      await file.discard();
    }
  }

  async #finishStore(store: StoreInProgress): Promise<void> {
    const { command } = store;
    const result = store.failure ?? await this.#commit(store);
    const stats = this.#options.statistics;
    if (result.status === Status.Success) {
      this.#instances++;
      if (stats) stats.instancesStored++;
    } else if (stats) {
      stats.instancesFailed++;
    }
    await this.#reply(
      store.presentationContextId,
      cStoreRsp(command, result.status, result.status === Status.Success ? undefined : result.comment),
    );
  }

  /** Verifies the data set, makes the file durable and indexes it. Returns the C-STORE status. */
  async #commit(store: StoreInProgress): Promise<{ status: number; comment: string }> {
    const file = store.file!;
    const { command } = store;
    const context = this.#info.contexts.get(store.presentationContextId)!;
    try {
      await this.#buffer.finish();
    } catch (error) {
      await this.#failWrite(store, error);
      return store.failure!;
    }
    store.file = null;
    let attributes: DatasetAttributes;
    try {
      // The attributes come from the head kept in memory; the file is read back only when they
      // lie further in (or the data set is deflated).
      attributes = datasetAttributesFromHead(store.meta, this.#buffer.head, this.#buffer.datasetLength) ??
        await readDatasetAttributes(file.tempPath);
    } catch (error) {
      await file.discard();
      const reason = error instanceof Error ? error.message : String(error);
      this.#options.log.warn("Association {id} from {ae}: cannot parse data set of {uid}: {reason}", {
        id: this.#info.id,
        ae: this.#info.callingAeTitle,
        uid: command.affectedSopInstanceUid ?? "?",
        reason,
      });
      if (error instanceof DatasetError) {
        return { status: Status.CannotUnderstand, comment: truncate(reason) };
      }
      return { status: Status.OutOfResources, comment: truncate(reason) };
    }
    // PS3.4 B.2.3: A900 "Error: Data Set does not match SOP Class"; we also refuse a data set
    // whose SOP Instance UID disagrees with the command's Affected SOP Instance UID.
    if (
      attributes.sopInstanceUid !== command.affectedSopInstanceUid ||
      attributes.sopClassUid !== command.affectedSopClassUid
    ) {
      await file.discard();
      const comment = attributes.sopInstanceUid !== command.affectedSopInstanceUid
        ? "SOP Instance UID in the data set differs from the C-STORE-RQ"
        : "SOP Class UID in the data set differs from the C-STORE-RQ";
      this.#options.log.warn("Association {id} from {ae}: {comment} ({uid}); answered 0xA900", {
        id: this.#info.id,
        ae: this.#info.callingAeTitle,
        comment,
        uid: command.affectedSopInstanceUid ?? "?",
      });
      return { status: Status.DataSetDoesNotMatchSopClass, comment };
    }
    const relativePath = instanceRelativePath(attributes);
    let size: number;
    try {
      ({ size } = await file.commit(relativePath));
    } catch (error) {
      await file.discard();
      this.#options.log.error("Association {id} from {ae}: cannot save instance {uid}: {error}", {
        id: this.#info.id,
        ae: this.#info.callingAeTitle,
        uid: attributes.sopInstanceUid,
        error: error instanceof Error ? error.message : String(error),
      });
      return { status: Status.OutOfResources, comment: "Cannot save the instance to disk" };
    }
    try {
      this.#options.sink.record({
        attributes,
        transferSyntaxUid: context.transferSyntax,
        path: relativePath,
        size,
        callingAeTitle: this.#info.callingAeTitle,
        receivedAt: (this.#options.now ?? Date.now)(),
      });
    } catch (error) {
      // The file is durable but not indexed: start-up reconciliation will index it. The modality
      // is told to retry, which is safe (a resend replaces the file).
      this.#options.log.error("Association {id}: cannot record instance {uid} in the index: {error}", {
        id: this.#info.id,
        uid: attributes.sopInstanceUid,
        error: error instanceof Error ? error.message : String(error),
      });
      return { status: Status.OutOfResources, comment: "Cannot record the instance in the queue index" };
    }
    const stats = this.#options.statistics;
    if (stats) stats.bytesStored += size;
    const study = this.#studies.get(attributes.studyInstanceUid) ??
      {
        count: 0,
        modality: attributes.modality,
        description: attributes.studyDescription,
        patient: attributes.patientName,
      };
    study.count++;
    this.#studies.set(attributes.studyInstanceUid, study);
    return { status: Status.Success, comment: "" };
  }

  async #reply(presentationContextId: number, command: CommandSet): Promise<void> {
    await this.#sender.send(presentationContextId, true, encodeCommandSet(command));
  }
}

function truncate(text: string): string {
  // (0000,0902) Error Comment is LO: at most 64 characters.
  return text.length > 64 ? text.slice(0, 61) + "..." : text;
}
