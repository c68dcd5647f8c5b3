/**
 * A scripted DICOM peer on a raw TCP connection, after pynetdicom's `parrot.py`: it writes exactly
 * the bytes a test gives it (split or merged as the test likes) and reads back whole PDUs, so tests
 * can produce faults no well-behaved peer would.
 */
import { PduFramer } from "../../src/ul/framer.ts";
import { PduReader } from "../../src/ul/pdu_reader.ts";
import { encodePDataTf, encodePdu } from "../../src/ul/pdu_encode.ts";
import {
  type AssociateRq,
  DICOM_APPLICATION_CONTEXT,
  emptyUserInformation,
  type Pdu,
  type PresentationContextRq,
} from "../../src/ul/pdu.ts";
import { cStoreRq, encodeCommandSet } from "../../src/dimse/command.ts";
import * as net from "node:net";

/** What the peer needs of a connection. */
interface PeerConn {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  close(): void;
}

/** A raw connection to the gateway. */
export class ScriptedPeer {
  #conn: PeerConn;
  #reader: PduReader;
  #closed = false;

  private constructor(conn: PeerConn) {
    this.#conn = conn;
    this.#reader = new PduReader(conn, new PduFramer({ maxPDataLength: 1 << 24 }));
  }

  /**
   * Connects to 127.0.0.1:`port`, from `localAddress` when given (any of 127/8 on Linux: a second
   * "host" for per-host limits; `Deno.connect` cannot choose the source address, node:net can).
   */
  static async connect(port: number, options: { localAddress?: string } = {}): Promise<ScriptedPeer> {
    if (options.localAddress) return new ScriptedPeer(await nodeConnect(port, options.localAddress));
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
    if (this.#closed) return "closed";
    const result = await this.#reader.next(timeoutMs);
    if (result.kind === "closed") this.#closed = true;
    return result.kind === "pdu" ? result.pdu : result.kind;
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
    this.#reader.close();
    try {
      this.#conn.close();
    } catch { /* closed */ }
  }
}

/** A node:net socket from `localAddress` as a {@linkcode PeerConn}. */
function nodeConnect(port: number, localAddress: string): Promise<PeerConn> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port, localAddress, noDelay: true });
    const chunks: Uint8Array[] = [];
    let ended = false;
    let waiting: (() => void) | null = null;
    const wake = () => {
      const w = waiting;
      waiting = null;
      w?.();
    };
    socket.on("data", (data: Uint8Array) => {
      chunks.push(new Uint8Array(data));
      wake();
    });
    socket.on("end", () => {
      ended = true;
      wake();
    });
    socket.on("close", () => {
      ended = true;
      wake();
    });
    socket.on("error", (error) => {
      ended = true;
      wake();
      reject(error);
    });
    socket.on("connect", () =>
      resolve({
        async read(p: Uint8Array): Promise<number | null> {
          while (chunks.length === 0 && !ended) await new Promise<void>((r) => waiting = r);
          const first = chunks[0];
          if (!first) return null;
          const n = Math.min(p.length, first.length);
          p.set(first.subarray(0, n));
          if (n === first.length) chunks.shift();
          else chunks[0] = first.subarray(n);
          return n;
        },
        write(p: Uint8Array): Promise<number> {
          return new Promise((done, fail) =>
            socket.write(p, (error) => error ? fail(error) : done(p.length))
          );
        },
        close() {
          socket.destroy();
        },
      }));
  });
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

export { encodePdu };
