/**
 * The DIMSE service provider for one association: C-ECHO (Verification, PS3.4 Annex A) and
 * C-STORE (Storage, PS3.4 Annex B). Data set fragments go straight to the `InstanceStore` port
 * (instance_store.ts) as they arrive; the status storage decides is the C-STORE-RSP's. Storage
 * alone owns the rule "Success only once durable and recorded".
 *
 * Errors: DIMSE fragments out of order are the peer's fault (`ProtocolError`: the UL aborts).
 * Any other error while handling a message (a storage bug, say) is answered on that message:
 * C-STORE 0xA700 (Refused: Out of Resources; nothing was stored, a resend is safe), other
 * requests 0x0110 (Processing Failure); the association lives on.
 * @module
 */
import type { Logger } from "@logtape/logtape";
import { logger } from "../log.ts";
import { messageOf } from "../errors.ts";
import {
  type AssociationInfo,
  type PDataHandler,
  type PDataSender,
  ProtocolError,
} from "../ul/service_user.ts";
import type { Pdv } from "../ul/pdu.ts";
import { type AssemblerEvent, MessageAssembler } from "./assembler.ts";
import {
  cEchoRsp,
  CommandField,
  type CommandSet,
  cStoreRsp,
  DimseError,
  encodeCommandSet,
  errorComment,
  failureRsp,
  hasDataSet,
  isResponse,
} from "./command.ts";
import { Status } from "./status.ts";
import type { InstanceReception, InstanceStore, StoreOutcome } from "./instance_store.ts";

/** Counters the status page shows. */
export interface ServiceStatistics {
  instancesStored: number;
  instancesFailed: number;
  bytesStored: number;
}

/** Options shared by every association's provider. */
export interface StorageServiceOptions {
  /** Where instances go; it decides each C-STORE status. */
  store: InstanceStore;
  /** Default: the ["gateway","dimse"] logger. */
  log?: Logger;
  statistics?: ServiceStatistics;
  /** Name the patient in the per-study log line (`[logs] patient_details`). Default: no names. */
  logPatientDetails?: boolean;
}

/** A C-STORE being received: the request and where its data set is going. */
interface StoreInProgress {
  command: CommandSet;
  presentationContextId: number;
  reception: InstanceReception | null;
  /** A failure decided here (bad request, internal error); the rest of the data set is dropped. */
  failure: { status: number; comment: string } | null;
}

/**
 * A message whose data set we read and drop: a request answered with `reply` once its data set
 * has arrived, or a message the conformance statement says is ignored (a response, a C-CANCEL-RQ:
 * `reply` null, nothing is sent).
 */
/** What one association has stored of one study, for its log lines. */
interface StudyOnAssociation {
  count: number;
  modality: string;
  description: string;
  patient: string;
}

/**
 * "MR Brain" from a modality and a study description; either may be empty ("MR", "Brain"), and
 * "?" when both are.
 */
export function studyLabel(modality: string, description: string): string {
  return [modality.trim(), description.trim()].filter((p) => p !== "").join(" ") || "?";
}

interface IgnoredMessage {
  command: CommandSet;
  presentationContextId: number;
  reply: { status: number; comment?: string } | null;
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
  #log: Logger;
  #assembler = new MessageAssembler();
  #store: StoreInProgress | null = null;
  #ignored: IgnoredMessage | null = null;
  #instances = 0;
  /** Instances stored per study on this association, for the console's "study received" lines. */
  #studies = new Map<string, StudyOnAssociation>();

  constructor(info: AssociationInfo, sender: PDataSender, options: StorageServiceOptions) {
    this.#info = info;
    this.#sender = sender;
    this.#options = options;
    this.#log = options.log ?? logger("dimse");
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
      try {
        if (event.kind === "command") {
          await this.#onCommand(event.presentationContextId, event.command);
        } else {
          await this.#onData(event.bytes, event.isLast);
        }
      } catch (error) {
        if (error instanceof ProtocolError) throw error;
        await this.#recover(event, error);
      }
    }
  }

  async onClose(how: "released" | "aborted"): Promise<void> {
    const store = this.#store;
    this.#store = null;
    if (store?.reception) {
      // PS3.8: an aborted association leaves nothing behind; the instance was never acknowledged.
      await store.reception.discard();
      this.#log.warn(
        "Association {id} from {ae}: instance {uid} incomplete when the association ended; discarded",
        {
          id: this.#info.id,
          ae: this.#info.callingAeTitle,
          uid: store.command.affectedSopInstanceUid ?? "?",
        },
      );
    }
    for (const [uid, study] of this.#studies) {
      this.#logStudy("Study {uid} ({label}{patient}): {count} instance(s) received from {ae}", uid, study);
    }
    this.#log.info("Association {id} from {ae} {how}: {count} instance(s) stored", {
      id: this.#info.id,
      ae: this.#info.callingAeTitle,
      how,
      count: this.#instances,
    });
  }

  /**
   * A line about one study of this association. Patient names stay out of the logs unless the
   * site turned patient_details on.
   */
  #logStudy(template: string, uid: string, study: StudyOnAssociation): void {
    this.#log.info(template, {
      uid,
      label: studyLabel(study.modality, study.description),
      patient: this.#options.logPatientDetails ? `, patient ${study.patient || "?"}` : "",
      count: study.count,
      ae: this.#info.callingAeTitle,
    });
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
      default:
        await this.#onUnexpectedCommand(presentationContextId, command);
    }
  }

  /**
   * Messages we do not provide. A C-CANCEL-RQ (PS3.7 §9.3.2.3: it has no response, and we have
   * nothing pending to cancel) and any response (we send no requests) are ignored, as the
   * conformance statement says: nothing is answered, and a data set they announce is read and
   * dropped (never an A-ABORT). Any other request is answered 0x0211 Unrecognized Operation,
   * after its data set if it has one.
   */
  async #onUnexpectedCommand(presentationContextId: number, command: CommandSet): Promise<void> {
    const field = command.commandField.toString(16).padStart(4, "0").toUpperCase();
    const withDataSet = hasDataSet(command);
    const properties = {
      id: this.#info.id,
      ae: this.#info.callingAeTitle,
      field,
      name: commandName(command.commandField),
      dataSet: withDataSet ? " (its data set read and dropped)" : "",
    };
    if (command.commandField === CommandField.CCancelRq || isResponse(command.commandField)) {
      const line =
        "Association {id} from {ae}: ignored a {name} (command 0x{field}){dataSet}; nothing answered";
      // A C-CANCEL-RQ alone is routine (a modality cancelling what already finished); the rest is odd.
      if (command.commandField === CommandField.CCancelRq && !withDataSet) this.#log.debug(line, properties);
      else this.#log.warn(line, properties);
      if (withDataSet) this.#ignored = { command, presentationContextId, reply: null };
      return;
    }
    this.#log.warn(
      withDataSet
        ? "Association {id} from {ae}: unsupported DIMSE command 0x{field}; answering 0x0211 after its data set"
        : "Association {id} from {ae}: unsupported DIMSE command 0x{field}, answered 0x0211",
      properties,
    );
    if (withDataSet) {
      this.#ignored = { command, presentationContextId, reply: { status: Status.UnrecognizedOperation } };
      return;
    }
    await this.#reply(presentationContextId, failureRsp(command, Status.UnrecognizedOperation));
  }

  async #beginStore(presentationContextId: number, command: CommandSet): Promise<void> {
    const context = this.#info.contexts.get(presentationContextId)!;
    const sopClassUid = command.affectedSopClassUid ?? "";
    const sopInstanceUid = command.affectedSopInstanceUid ?? "";
    if (!hasDataSet(command)) {
      // A C-STORE-RQ must carry a data set (PS3.7 §9.3.1.1); answer at once.
      await this.#reply(
        presentationContextId,
        cStoreRsp(command, Status.CannotUnderstand, "C-STORE-RQ without a data set"),
      );
      return;
    }
    const store: StoreInProgress = { command, presentationContextId, reception: null, failure: null };
    this.#store = store;
    if (!sopClassUid || !sopInstanceUid) {
      store.failure = {
        status: Status.CannotUnderstand,
        comment: "C-STORE-RQ lacks Affected SOP Class/Instance UID",
      };
      return;
    }
    if (sopClassUid !== context.abstractSyntax) {
      this.#log.warn(
        "Association {id} from {ae}: C-STORE of {sopClass} on a context negotiated for {abstract}; storing as sent",
        {
          id: this.#info.id,
          ae: this.#info.callingAeTitle,
          sopClass: sopClassUid,
          abstract: context.abstractSyntax,
        },
      );
    }
    store.reception = await this.#options.store.begin({
      sopClassUid,
      sopInstanceUid,
      transferSyntaxUid: context.transferSyntax,
      callingAeTitle: this.#info.callingAeTitle,
      associationId: this.#info.id,
    });
  }

  async #onData(bytes: Uint8Array, isLast: boolean): Promise<void> {
    if (this.#ignored) {
      if (isLast) {
        const { command, presentationContextId, reply } = this.#ignored;
        this.#ignored = null;
        if (reply) await this.#reply(presentationContextId, failureRsp(command, reply.status, reply.comment));
      }
      return;
    }
    const store = this.#store;
    if (!store) throw new ProtocolError("data set PDV without a command");
    if (store.reception && !store.failure) await store.reception.write(bytes);
    if (isLast) {
      this.#store = null;
      await this.#finishStore(store);
    }
  }

  async #finishStore(store: StoreInProgress): Promise<void> {
    let outcome: StoreOutcome;
    if (store.failure) {
      outcome = store.failure;
    } else {
      const reception = store.reception!;
      try {
        outcome = await reception.commit();
      } catch (error) {
        this.#log.error("Association {id} from {ae}: cannot commit instance {uid}: {error}", {
          id: this.#info.id,
          ae: this.#info.callingAeTitle,
          uid: store.command.affectedSopInstanceUid ?? "?",
          error: messageOf(error),
        });
        await discardQuietly(reception);
        outcome = {
          status: Status.OutOfResources,
          comment: errorComment(`Internal error: ${messageOf(error)}`),
        };
      }
    }
    store.reception = null;
    this.#count(outcome);
    await this.#reply(
      store.presentationContextId,
      cStoreRsp(
        store.command,
        outcome.status,
        outcome.status === Status.Success ? undefined : outcome.comment,
      ),
    );
  }

  /** Counts the outcome (statistics, per-study lines). */
  #count(outcome: StoreOutcome): void {
    const stats = this.#options.statistics;
    if (outcome.status !== Status.Success || !outcome.stored) {
      if (stats) stats.instancesFailed++;
      return;
    }
    const stored = outcome.stored;
    this.#instances++;
    if (stats) {
      stats.instancesStored++;
      stats.bytesStored += stored.size;
    }
    let study = this.#studies.get(stored.studyInstanceUid);
    if (study === undefined) {
      study = {
        count: 0,
        modality: stored.modality,
        description: stored.studyDescription,
        patient: stored.patientName,
      };
      this.#studies.set(stored.studyInstanceUid, study);
      // Logged as the study's first image is stored, so it comes before any line of its upload.
      this.#logStudy("Study {uid} ({label}{patient}): receiving from {ae}", stored.studyInstanceUid, study);
    }
    study.count++;
  }

  /**
   * A local error while handling `event`: answer the message it belongs to with a failure status
   * (at its last fragment, if more are to come) and carry on with the association.
   */
  async #recover(event: AssemblerEvent, error: unknown): Promise<void> {
    const store = this.#store;
    const command = event.kind === "command" ? event.command : store?.command ?? this.#ignored?.command;
    this.#log.error("Association {id} from {ae}: cannot process {what}: {error}", {
      id: this.#info.id,
      ae: this.#info.callingAeTitle,
      what: command?.affectedSopInstanceUid ?? "a DIMSE message",
      error: messageOf(error),
    });
    const comment = errorComment(`Internal error: ${messageOf(error)}`);
    if (store && (event.kind === "data" || event.command === store.command)) {
      // A C-STORE under way: nothing of it is kept; answered 0xA700 at its last fragment.
      const reception = store.reception;
      store.reception = null;
      store.failure ??= { status: Status.OutOfResources, comment };
      if (reception) await discardQuietly(reception);
      if (event.kind === "data" && event.isLast) {
        this.#store = null;
        await this.#finishStore(store);
      }
      return;
    }
    if (event.kind !== "command" || isResponse(event.command.commandField)) return;
    if (event.command.commandField === CommandField.CCancelRq) return;
    const status = event.command.commandField === CommandField.CStoreRq
      ? Status.OutOfResources
      : Status.ProcessingFailure;
    if (hasDataSet(event.command)) {
      this.#ignored = {
        command: event.command,
        presentationContextId: event.presentationContextId,
        reply: { status, comment },
      };
      return;
    }
    await this.#reply(event.presentationContextId, failureRsp(event.command, status, comment));
  }

  async #reply(presentationContextId: number, command: CommandSet): Promise<void> {
    await this.#sender.send(presentationContextId, true, encodeCommandSet(command));
  }
}

/** "C-STORE-RSP" for 0x8001 (PS3.7 Annex E names), or "response" / "request" for a field we do not name. */
function commandName(field: number): string {
  for (const [key, value] of Object.entries(CommandField)) {
    if (value !== field) continue;
    // "CStoreRsp" → "C-STORE-RSP", "NEventReportRq" → "N-EVENT-REPORT-RQ"
    return key.replace(/^([CN])/, "$1-").replace(/(?<=[a-z])(?=[A-Z])/g, "-").toUpperCase();
  }
  return isResponse(field) ? "response" : "request";
}

async function discardQuietly(reception: InstanceReception): Promise<void> {
  try {
    await reception.discard();
  } catch {
    // discard never rejects by contract; a broken store is already being reported.
  }
}
