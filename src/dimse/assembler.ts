/**
 * Reassembles DIMSE messages from presentation data values (PS3.7 §6.3.1, PS3.8 Annex E.2).
 *
 * A message is a command set, in one or more command PDVs (message control header bit 0 = 1)
 * the last of which has bit 1 set, optionally followed by a data set in one or more data PDVs
 * (bit 0 = 0), again ending with bit 1 set. PS3.8 E.2: "A Message Control Header ... shall
 * ... contain the same Presentation Context ID" for all fragments of one message, and
 * PS3.7 §6.3.1: command and data set fragments of different messages shall not be
 * interleaved on one association (without asynchronous operations, which we never accept).
 *
 * Command fragments are concatenated (a command set is small; capped at
 * {@link MAX_COMMAND_BYTES}). Data fragments are handed on as they arrive, never accumulated,
 * so an instance of any size streams straight to disk. Pure: no I/O, no timers.
 *
 * No view of a PDV's bytes is kept once `push` returns (fragments of an unfinished command are
 * copied): the caller may reuse the buffer of a PDV once it has handled the events it produced.
 * @module
 */
import { concatBytes, hex } from "../bytes.ts";
import type { Pdv } from "../ul/pdu.ts";
import { type CommandSet, decodeCommandSet, DimseError, hasDataSet } from "./command.ts";

/** Largest command set we accept, summed over its fragments. Real ones are under 300 bytes. */
export const MAX_COMMAND_BYTES = 64 * 1024;

/** What one PDV produced: a complete command, or one fragment of the data set that follows it. */
export type AssemblerEvent =
  | { kind: "command"; presentationContextId: number; command: CommandSet }
  | { kind: "data"; presentationContextId: number; bytes: Uint8Array; isLast: boolean };

type State =
  | { kind: "idle"; previous: CommandSet | null }
  | { kind: "command"; presentationContextId: number; fragments: Uint8Array[]; length: number }
  | { kind: "data"; presentationContextId: number; command: CommandSet; fragments: number }
  | { kind: "failed"; reason: string };

/**
 * Turns the PDVs of one association, in order, into commands and data fragments. After a
 * {@link DimseError} the assembler stays failed (every later push throws): the caller is
 * expected to abort the association (A-ABORT), as no message boundary can be trusted.
 */
export class MessageAssembler {
  #state: State = { kind: "idle", previous: null };

  /** True between messages: no command fragment pending and no data set expected. */
  get isIdle(): boolean {
    return this.#state.kind === "idle";
  }

  /** True while the data set of the last command is still arriving. */
  get isReceivingDataSet(): boolean {
    return this.#state.kind === "data";
  }

  /**
   * Feeds one PDV. Returns zero or one event: nothing for a non-last command fragment, a
   * `command` event for the last command fragment, a `data` event (with `pdv.data` itself,
   * not a copy) for each data fragment. Throws {@link DimseError} on a protocol error.
   */
  push(pdv: Pdv): AssemblerEvent[] {
    try {
      return pdv.isCommand ? this.#pushCommand(pdv) : this.#pushData(pdv);
    } catch (error) {
      if (error instanceof DimseError && this.#state.kind !== "failed") {
        this.#state = { kind: "failed", reason: error.message };
      }
      throw error;
    }
  }

  #pushCommand(pdv: Pdv): AssemblerEvent[] {
    const state = this.#state;
    const pcId = pdv.presentationContextId;
    let fragments: Uint8Array[];
    let length: number;
    switch (state.kind) {
      case "failed":
        throw new DimseError(`DIMSE message assembler already failed: ${state.reason}`);
      case "data":
        if (state.fragments > 0) {
          throw new DimseError(
            `Command PDV on presentation context ${pcId} after ${state.fragments} data PDV(s) of the same message: ` +
              `its data set (presentation context ${state.presentationContextId}) is incomplete (no last fragment yet)`,
          );
        }
        throw new DimseError(
          `New command PDV on presentation context ${pcId} while the data set of the previous command ` +
            `(presentation context ${state.presentationContextId}) is still expected`,
        );
      case "command":
        // PS3.8 E.2: every fragment of one command carries the same presentation context ID.
        if (state.presentationContextId !== pcId) {
          throw new DimseError(
            `Command fragment on presentation context ${pcId} while a command on presentation context ` +
              `${state.presentationContextId} is incomplete`,
          );
        }
        fragments = state.fragments;
        length = state.length;
        break;
      case "idle":
        fragments = [];
        length = 0;
        break;
    }
    length += pdv.data.length;
    if (length > MAX_COMMAND_BYTES) {
      throw new DimseError(
        `Command set on presentation context ${pcId} exceeds ${MAX_COMMAND_BYTES} bytes (${length} received)`,
      );
    }
    // A fragment waiting for the rest of its command is copied: `pdv.data` is a view of the PDU's
    // buffer, which the Upper Layer reuses once this PDV is handled.
    fragments.push(pdv.isLast ? pdv.data : pdv.data.slice());
    if (!pdv.isLast) {
      this.#state = { kind: "command", presentationContextId: pcId, fragments, length };
      return [];
    }
    const command = decodeCommandSet(fragments.length === 1 ? pdv.data : concatBytes(fragments));
    this.#state = hasDataSet(command)
      ? { kind: "data", presentationContextId: pcId, command, fragments: 0 }
      : { kind: "idle", previous: command };
    return [{ kind: "command", presentationContextId: pcId, command }];
  }

  #pushData(pdv: Pdv): AssemblerEvent[] {
    const state = this.#state;
    const pcId = pdv.presentationContextId;
    switch (state.kind) {
      case "failed":
        throw new DimseError(`DIMSE message assembler already failed: ${state.reason}`);
      case "idle":
        if (state.previous !== null) {
          throw new DimseError(
            `Data PDV on presentation context ${pcId} for a command that said no data set follows ` +
              `(Command Data Set Type 0x0101, command field 0x${hex(state.previous.commandField, 4)})`,
          );
        }
        throw new DimseError(
          `Data PDV on presentation context ${pcId} before any command expecting a data set`,
        );
      case "command":
        throw new DimseError(
          `Data PDV on presentation context ${pcId} while the command on presentation context ` +
            `${state.presentationContextId} is incomplete (its last fragment has not arrived)`,
        );
      case "data":
        // PS3.7 §6.3.1 / PS3.8 E.2: the data set travels on the command's presentation context.
        if (state.presentationContextId !== pcId) {
          throw new DimseError(
            `Data PDV on presentation context ${pcId} but the command expecting it came on presentation context ` +
              `${state.presentationContextId}`,
          );
        }
        if (pdv.isLast) this.#state = { kind: "idle", previous: null };
        else state.fragments++;
        return [{ kind: "data", presentationContextId: pcId, bytes: pdv.data, isLast: pdv.isLast }];
    }
  }
}
