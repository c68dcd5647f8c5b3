/**
 * A compression worker (Deno Worker, module type): receives one native frame at a time,
 * encodes it losslessly, checks it by decoding it again and posts the codestream back.
 *
 * Message in: {@link FrameRequest}; message out: {@link FrameReply}. Buffers are transferred.
 * @module
 */
/// <reference lib="deno.worker" />
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

self.onmessage = async (event: MessageEvent<FrameRequest>) => {
  const { id, syntax, frame, format } = event.data;
  const result = await encodeFrame(syntax, frame, format);
  if (result.ok) {
    const reply: FrameReply = { id, ok: true, encoded: result.encoded };
    self.postMessage(reply, [result.encoded.buffer as ArrayBuffer]);
  } else {
    const reply: FrameReply = { id, ok: false, reason: result.reason };
    self.postMessage(reply);
  }
};
