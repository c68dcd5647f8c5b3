/**
 * The P-DATA writer both roles share: a DIMSE message (command set or data set) cut into PDV
 * fragments that fit the peer's Maximum Length Received, each sent in a P-DATA-TF PDU of its own.
 *
 * PS3.8 §9.3.5: a P-DATA-TF holds PDV items; each item costs 6 bytes of header (4 item length,
 * 1 presentation context ID, 1 message control header) inside the peer's maximum length. PS3.8
 * Annex E.2: the last fragment of a command or data set has bit 1 ("last") of the message control
 * header set. DCMTK refuses odd fragments ("Odd Fragment Length"), so fragments are always cut at
 * an even size, whatever the edges of the reads they come from.
 * @module
 */
import { encodePDataTf } from "./pdu_encode.ts";

/** PS3.8 §9.3.5: item length (4) + presentation context ID (1) + message control header (1). */
const PDV_HEADER_LENGTH = 6;
/** Fragment size when the peer sets no limit (Maximum Length Received 0, PS3.8 D.1.1). */
const UNLIMITED_FRAGMENT_BYTES = 1024 * 1024;

/**
 * The largest PDV data length for a peer's Maximum Length Received: that length less the 6-byte
 * PDV item header (PS3.8 §9.3.5), rounded down to even, at least 2; 1 MiB when the peer sets no
 * limit (0).
 */
export function maxPdvDataLength(peerMaxPduLength: number): number {
  if (peerMaxPduLength <= 0) return UNLIMITED_FRAGMENT_BYTES;
  const max = peerMaxPduLength - PDV_HEADER_LENGTH;
  return Math.max(2, max - (max % 2));
}

/**
 * Cuts a byte stream into PDV fragments of exactly `max` bytes (rounded down to even), the last
 * one holding the rest. PS3.8 Annex E.2 limits a fragment to the peer's maximum length, and
 * DCMTK refuses any odd fragment ("Odd Fragment Length"), so fragment edges must never follow
 * the edges of file reads, which can be odd. An even-length stream thus gives even fragments.
 *
 * A fragment may be a view of the caller's bytes or of a buffer reused for the next fragment:
 * write (or copy) it before asking for the next one.
 */
export async function* pdvFragments(
  parts: AsyncIterable<Uint8Array>,
  max: number,
): AsyncIterable<Uint8Array> {
  const size = Math.max(2, max - (max % 2));
  let carry = new Uint8Array(size);
  let filled = 0;
  for await (const part of parts) {
    let offset = 0;
    if (filled > 0) {
      const take = Math.min(size - filled, part.length);
      carry.set(part.subarray(0, take), filled);
      filled += take;
      offset = take;
      if (filled < size) continue;
      yield carry;
      carry = new Uint8Array(size);
      filled = 0;
    }
    for (; part.length - offset >= size; offset += size) yield part.subarray(offset, offset + size);
    if (offset < part.length) {
      carry.set(part.subarray(offset), 0);
      filled = part.length - offset;
    }
  }
  if (filled > 0) yield carry.subarray(0, filled);
}

/** What {@linkcode writePData} sends and where. */
export interface PDataMessage {
  /** The accepted presentation context the message travels on (PS3.8 §9.3.5). */
  presentationContextId: number;
  /** Bit 0 of the message control header: command set (true) or data set (false). */
  isCommand: boolean;
  /** The peer's Maximum Length Received (PS3.8 D.1.1); 0 means no limit. */
  peerMaxPduLength: number;
}

/**
 * Sends one command set or data set as P-DATA-TF PDUs (PS3.8 §9.3.5), one PDV each, cut by
 * {@linkcode pdvFragments} at {@linkcode maxPdvDataLength}. The last PDV has the "last" bit set
 * (PS3.8 Annex E.2), even for an empty message (one empty last fragment). `write` gets each
 * whole PDU and must finish with it before it resolves.
 */
export async function writePData(
  write: (pdu: Uint8Array) => Promise<void>,
  message: PDataMessage,
  data: Uint8Array | AsyncIterable<Uint8Array>,
): Promise<void> {
  const { presentationContextId, isCommand } = message;
  const parts = data instanceof Uint8Array ? single(data) : data;
  let held: Uint8Array | null = null;
  for await (const piece of pdvFragments(parts, maxPdvDataLength(message.peerMaxPduLength))) {
    if (held) await write(encodePDataTf([{ presentationContextId, isCommand, isLast: false, data: held }]));
    held = piece;
  }
  await write(encodePDataTf([{
    presentationContextId,
    isCommand,
    isLast: true,
    data: held ?? new Uint8Array(0),
  }]));
}

async function* single(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  if (bytes.length > 0) yield bytes;
}
