/**
 * A compression worker (Deno Worker, module type): receives one native frame at a time,
 * encodes it losslessly, checks it by decoding it again and posts the codestream back.
 *
 * Message in: {@link FrameRequest}; message out: {@link FrameReply}. Buffers are transferred.
 * The compressor imports this module statically, so that `deno compile` embeds it (and the
 * codecs) in the executable; it listens only when it runs as a worker.
 * @module
 */
import { type CompressionSyntax, encodeFrame, type FrameFormat } from "./codec.ts";

/** One frame to encode. */
export interface FrameRequest {
  id: number;
  syntax: CompressionSyntax;
  frame: Uint8Array;
  format: FrameFormat;
}

/** The checked codestream, or why the frame cannot be sent compressed. */
export type FrameReply =
  | { id: number; ok: true; encoded: Uint8Array }
  | { id: number; ok: false; reason: string };

/** The worker side of the message port (typed here, not through the deno.worker lib, which is global). */
interface WorkerScope {
  onmessage: ((event: MessageEvent<FrameRequest>) => void) | null;
  postMessage(message: FrameReply, transfer?: Transferable[]): void;
}

/** True inside a Worker: WorkerGlobalScope exists only there. */
export function isWorker(): boolean {
  return typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope === "function";
}

if (isWorker()) {
  const scope = globalThis as unknown as WorkerScope;
  scope.onmessage = async (event) => {
    const { id, syntax, frame, format } = event.data;
    const result = await encodeFrame(syntax, frame, format);
    if (result.ok) {
      scope.postMessage({ id, ok: true, encoded: result.encoded }, [result.encoded.buffer as ArrayBuffer]);
    } else {
      scope.postMessage({ id, ok: false, reason: result.reason });
    }
  };
}
