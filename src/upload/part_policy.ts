/**
 * Adaptive sending (issue 11): which instance a request body puts in its next part, and which
 * instance the compression pool starts next. Pure functions over where each instance of a request
 * stands with the encoder; the prepare stage (`prepare.ts`, `encode_ahead.ts`) does the waiting.
 *
 * The body of a sending request takes, each time it reaches a new part:
 * 1. the first instance whose preparation is finished (compressed, or going as received for a
 *    cause of its own: not native, no gain …);
 * 2. with adaptive sending (`upload.compression_adaptive`, the default), when none is finished,
 *    the *last* instance whose compression has not started: it goes as received ("encoder
 *    behind"), so the link never waits for the encoder. The last, because the pool works from the
 *    front: the sender and the encoder meet in the middle, and no finished work is thrown away;
 * 3. otherwise it waits — only for instances already being encoded (adaptive), or for any
 *    (`compression_adaptive = false`: fewest bytes). An instance being encoded is waited for, not
 *    sent as received: its CPU time is spent already, at most workers + 1 instances are being
 *    encoded at once, so the wait is at most one instance's encoding at the tail of a request while
 *    the other requests in flight keep the link busy; and for a large multi-frame instance the
 *    bytes saved outweigh the wait on any clinic uplink.
 *
 * The pool starts the first not-started instance of the first request, in this order: the requests
 * being sent (oldest first), then the batches claimed ahead of a free request slot (the look-ahead,
 * oldest first), so it never idles while a request sends instances as received.
 * @module
 */

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

/** The next part of a sending request (see the module documentation). */
export function choosePart(states: readonly TicketState[], options: { adaptive: boolean }): PartChoice {
  const ready = states.indexOf("ready");
  if (ready >= 0) return { kind: "ready", index: ready };
  const waiting = states.lastIndexOf("waiting");
  if (waiting < 0 && !states.includes("encoding")) return { kind: "done" };
  if (options.adaptive && waiting >= 0) return { kind: "as-received", index: waiting };
  return { kind: "wait" };
}

/**
 * The instance the pool starts next: the first not-started one of the first request that has one,
 * `requests` in priority order (sending ones oldest first, then the look-ahead). Null: nothing left.
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
