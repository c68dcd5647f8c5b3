/**
 * A scripted DICOM peer on a raw TCP connection, after pynetdicom's `parrot.py`: it writes exactly
 * the bytes a test gives it (split or merged as the test likes) and reads back whole PDUs, so tests
 * can produce faults no well-behaved peer would.
 */
import { PduFramer } from "../../src/ul/framer.ts";
import { decodePdu } from "../../src/ul/pdu_decode.ts";
import { encodePDataTf, encodePdu } from "../../src/ul/pdu_encode.ts";
import {
  type AssociateRq,
  DICOM_APPLICATION_CONTEXT,
  emptyUserInformation,
  type Pdu,
  type PresentationContextRq,
} from "../../src/ul/pdu.ts";
import { cStoreRq, encodeCommandSet } from "../../src/dimse/command.ts";

/** A raw connection to the gateway. */
export class ScriptedPeer {
  #conn: Deno.TcpConn;
  #framer = new PduFramer({ maxPDataLength: 1 << 24 });
  #queue: Pdu[] = [];
  #closed = false;

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  static async connect(port: number): Promise<ScriptedPeer> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.setNoDelay(true);
    return new ScriptedPeer(conn);
  }

  /** Waits for the next connection on `listener` and scripts the acceptor's side of it. */
  static async accept(listener: Deno.TcpListener): Promise<ScriptedPeer> {
    const conn = await listener.accept();
    conn.setNoDelay(true);
    return new ScriptedPeer(conn);
  }

  /** Writes bytes, optionally in pieces of `chunk` bytes with `delayMs` between them. */
  async send(bytes: Uint8Array, options: { chunk?: number; delayMs?: number } = {}): Promise<void> {
    const chunk = options.chunk ?? bytes.length;
    for (let o = 0; o < bytes.length; o += chunk) {
      const piece = bytes.subarray(o, Math.min(bytes.length, o + chunk));
      let written = 0;
      while (written < piece.length) written += await this.#conn.write(piece.subarray(written));
      if (options.delayMs) await new Promise((r) => setTimeout(r, options.delayMs));
    }
  }

  /** The next PDU, or "closed" when the gateway closed the connection, or "timeout". */
  async receive(timeoutMs = 5000): Promise<Pdu | "closed" | "timeout"> {
    const deadline = Date.now() + timeoutMs;
    while (this.#queue.length === 0) {
      if (this.#closed) return "closed";
      const buffer = new Uint8Array(65536);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const n = await Promise.race([
        this.#conn.read(buffer).catch(() => null),
        new Promise<"timeout">((r) =>
          timer = setTimeout(() => r("timeout"), Math.max(1, deadline - Date.now()))
        ),
      ]).finally(() => clearTimeout(timer));
      if (n === "timeout") return "timeout";
      if (n === null) {
        this.#closed = true;
        return "closed";
      }
      for (const frame of this.#framer.push(buffer.subarray(0, n))) {
        this.#queue.push(decodePdu(frame.slice()));
      }
    }
    return this.#queue.shift()!;
  }

  /** Waits until the gateway closes the connection (true) or the timeout passes (false). */
  async waitClosed(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await this.receive(Math.max(1, deadline - Date.now()));
      if (r === "closed") return true;
      if (r === "timeout") return false;
    }
  }

  close(): void {
    try {
      this.#conn.close();
    } catch { /* closed */ }
  }
}

/** An A-ASSOCIATE-RQ as a typical modality would send it. */
export function associateRq(
  contexts: PresentationContextRq[],
  options: { calling?: string; called?: string; maxPduLength?: number } = {},
): AssociateRq {
  const userInformation = emptyUserInformation();
  userInformation.maxPduLength = options.maxPduLength ?? 16384;
  userInformation.implementationClassUid = "1.2.826.0.1.3680043.8.498.99";
  return {
    type: "A-ASSOCIATE-RQ",
    protocolVersion: 1,
    calledAeTitle: options.called ?? "DICOM_GATEWAY",
    callingAeTitle: options.calling ?? "TEST_SCU",
    applicationContextName: DICOM_APPLICATION_CONTEXT,
    presentationContexts: contexts,
    userInformation,
  };
}

/** The bytes of a C-STORE-RQ command followed by the data set, as P-DATA-TF PDUs with `fragment`-byte PDVs. */
export function cStorePdus(
  options: {
    contextId: number;
    messageId: number;
    sopClassUid: string;
    sopInstanceUid: string;
    dataset: Uint8Array;
    fragment?: number;
  },
): Uint8Array[] {
  const command = encodeCommandSet(
    cStoreRq({
      messageId: options.messageId,
      sopClassUid: options.sopClassUid,
      sopInstanceUid: options.sopInstanceUid,
    }),
  );
  const pdus = [
    encodePDataTf([{
      presentationContextId: options.contextId,
      isCommand: true,
      isLast: true,
      data: command,
    }]),
  ];
  const fragment = options.fragment ?? 16000;
  for (let o = 0; o < options.dataset.length; o += fragment) {
    const end = Math.min(options.dataset.length, o + fragment);
    pdus.push(encodePDataTf([{
      presentationContextId: options.contextId,
      isCommand: false,
      isLast: end === options.dataset.length,
      data: options.dataset.subarray(o, end),
    }]));
  }
  return pdus;
}

/** Concatenates byte arrays. */
export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export { encodePdu };
