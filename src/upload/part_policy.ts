/**
 * Adaptive sending (issue 11): which instance a request body puts in its next part, and which
 * instance the compression pool starts next. Pure functions over where each instance of a request
 * stands with the encoder; the prepare stage (`prepare.ts`, `encode_ahead.ts`) does the waiting.
 *
 * The body of a sending request takes, each time it reaches a new part:
 * 1. the first instance whose preparation is finished (compressed, or going as received for a
 *    cause of its own: not native, no gain …);
 * 2. with adaptive sending (`upload.compression_adaptive`, the default), when none has been
 *    finished for a grace period ({@link ENCODER_GRACE_MS}), the *last* instance whose
 *    compression has not started: it goes as received ("encoder behind"), so the link does not
 *    wait for the encoder. The last, because the pool works from the front: the sender and the
 *    encoder meet in the middle, and no finished work is thrown away. The grace, because a body
 *    is read far ahead of the link (socket and TLS buffers hold megabytes): a body asking for its
 *    next part does not yet mean the link is idle, and an encoder that answers within the grace
 *    keeps up; only one that does not is behind. At most one instance goes as received per grace
 *    across all requests: the bodies waiting at once share one encoder, and a burst of instances
 *    as received would only fill those buffers;
 * 3. otherwise it waits — only for instances already being encoded (adaptive), or for any
 *    (`compression_adaptive = false`: fewest bytes). An instance being encoded is waited for, not
 *    sent as received: its CPU time is spent already, at most workers + 1 instances are being
 *    encoded at once, so the wait is at most one instance's encoding at the tail of a request while
 *    the other requests in flight keep the link busy; and for a large multi-frame instance the
 *    bytes saved outweigh the wait on any clinic uplink.
 *
 * The pool starts the first not-started instance of the first request in {@link encodeOrder}:
 * requests whose body is waiting for a part (longest waiting first), then the other requests being
 * sent (oldest first), then the batches claimed ahead of a free request slot (the look-ahead,
 * oldest first), so it is never idle while a request sends instances as received.
 * @module
 */

/**
 * How long a request body waits for the encoder before it sends a not-started instance as
 * received, and the least time between two such instances. Of the order of one or two instances'
 * encoding time on one core (a 512² CT slice: 20–40 ms). Measured over the emulated 100 Mbit/s
 * uplink (500 CT slices, one worker): 100 ms kept the link 46–54 % busy, 50 ms 70–81 %, with the
 * study delivered no later; at 20 Mbit/s the encoder is ahead and the grace does not come into it.
 */
export const ENCODER_GRACE_MS = 50;

/** Where one instance of a request stands: not started, being encoded, finished, or put in the body. */
export type TicketState = "waiting" | "encoding" | "ready" | "taken";

/** What the body puts in its next part. */
export type PartChoice =
  /** The instance at `index`, as prepared (compressed, or as received for its own cause). */
  | { kind: "ready"; index: number }
  /** The instance at `index`, as received: the encoder is behind. It is never encoded. */
  | { kind: "as-received"; index: number }
  /** Nothing to send yet: wait until an instance being encoded is finished. */
  | { kind: "wait" }
  /** Every instance is in the body. */
  | { kind: "done" };

/** Options of {@link choosePart}. */
export interface PartPolicyOptions {
  /** Adaptive sending (`upload.compression_adaptive`). */
  adaptive: boolean;
  /** How long the body has been waiting for this part, ms (0 on the first look). */
  waitedMs: number;
  /** The grace before a not-started instance goes as received (default {@link ENCODER_GRACE_MS}). */
  graceMs?: number;
  /** Since the last instance any request sent as received because the encoder was behind, ms. */
  sinceAsReceivedMs?: number;
}

/**
 * The next part of a sending request (see the module documentation). A `wait` with `retryInMs`
 * asks to be called again after that long even if nothing is finished by then.
 */
export function choosePart(
  states: readonly TicketState[],
  options: PartPolicyOptions,
): PartChoice | { kind: "wait"; retryInMs: number } {
  const ready = states.indexOf("ready");
  if (ready >= 0) return { kind: "ready", index: ready };
  const waiting = states.lastIndexOf("waiting");
  if (waiting < 0 && !states.includes("encoding")) return { kind: "done" };
  if (!options.adaptive || waiting < 0) return { kind: "wait" };
  const grace = options.graceMs ?? ENCODER_GRACE_MS;
  // At most one instance as received per grace, across all requests: several bodies waiting at
  // once share one encoder, and their buffers absorb a burst far faster than the link drains it.
  const retryInMs = Math.max(grace - options.waitedMs, grace - (options.sinceAsReceivedMs ?? Infinity));
  if (retryInMs <= 0) return { kind: "as-received", index: waiting };
  return { kind: "wait", retryInMs };
}

/** What {@link encodeOrder} needs to know of a request (or of a batch claimed ahead). */
export interface RequestStanding {
  /** When it began to be sent (an order, lower first); null: claimed ahead, not sent yet. */
  startedAt: number | null;
  /** Since when its body has been waiting for a part; null: not waiting. */
  waitingSince: number | null;
  /** Order of claiming. */
  openedAt: number;
}

/**
 * The order in which the pool serves requests: bodies waiting for a part (longest waiting first),
 * then the other requests being sent (oldest first), then the look-ahead (oldest first). Indices
 * into `requests`.
 */
export function encodeOrder(requests: readonly RequestStanding[]): number[] {
  const rank = (r: RequestStanding) => r.waitingSince !== null ? 0 : r.startedAt !== null ? 1 : 2;
  const key = (r: RequestStanding) => r.waitingSince ?? r.startedAt ?? r.openedAt;
  return requests.map((_, i) => i).sort((a, b) => {
    const ra = requests[a]!;
    const rb = requests[b]!;
    return rank(ra) - rank(rb) || key(ra) - key(rb) || ra.openedAt - rb.openedAt;
  });
}

/**
 * The instance the pool starts next: the first not-started one of the first request that has one,
 * `requests` in the pool's order ({@link encodeOrder}). Null: nothing left.
 */
export function chooseEncode(
  requests: readonly (readonly TicketState[])[],
): { request: number; index: number } | null {
  for (const [request, states] of requests.entries()) {
    const index = states.indexOf("waiting");
    if (index >= 0) return { request, index };
  }
  return null;
}
