/**
 * Per-host shares of the acceptor's capacity, so that one address cannot take it all: a cap on the
 * connections from one host that are not associations (still negotiating: connected, no
 * A-ASSOCIATE-RQ answered yet; or rejected and not yet closed) and on its established associations. Also the throttle that keeps refusals to one log line per host
 * per minute, however many connections a host makes. Pure: counts and a clock, no I/O.
 *
 * A connection takes a {@linkcode HostSlot} when it is accepted (or is refused one: over the
 * negotiating cap), tells it the outcome of its negotiation, and frees it when it closes.
 * @module
 */

/** The caps; each is per remote IP address. */
export interface HostLimitsOptions {
  /** Established associations from one host at a time. */
  maxAssociationsPerHost: number;
  /**
   * Connections from one host that are not associations: no A-ASSOCIATE-RQ answered yet, or
   * rejected and not yet closed by the peer.
   */
  maxNegotiatingPerHost: number;
}

/** Counts for one host. */
interface HostCounts {
  negotiating: number;
  associated: number;
}

/** One connection's place in its host's counts. */
export interface HostSlot {
  /** The remote address the slot counts against. */
  readonly host: string;
  /**
   * The A-ASSOCIATE-RQ was answered: an accepted connection stops counting as negotiating and
   * counts as an association; a rejected one counts as negotiating until it closes. Later calls
   * do nothing.
   */
  negotiated(accepted: boolean): void;
  /** The connection closed. Later calls do nothing. */
  close(): void;
}

/** The per-host counts of one listener. */
export class HostLimits {
  readonly #options: HostLimitsOptions;
  readonly #hosts = new Map<string, HostCounts>();

  constructor(options: HostLimitsOptions) {
    this.#options = options;
  }

  /** The caps in force. */
  get options(): HostLimitsOptions {
    return this.#options;
  }

  /**
   * A slot for a new connection from `host`, or undefined when the host already has
   * `maxNegotiatingPerHost` connections negotiating.
   */
  open(host: string): HostSlot | undefined {
    const counts = this.#hosts.get(host) ?? { negotiating: 0, associated: 0 };
    if (counts.negotiating >= this.#options.maxNegotiatingPerHost) return undefined;
    counts.negotiating++;
    this.#hosts.set(host, counts);
    let state: "negotiating" | "associated" | "closed" = "negotiating";
    const hosts = this.#hosts;
    return {
      host,
      negotiated(accepted: boolean) {
        // A rejected connection keeps counting until it closes (PS3.8: after the A-ASSOCIATE-RJ
        // the acceptor waits, up to ARTIM, for the peer to close), so that a host cannot pile up
        // rejected connections that it never closes.
        if (state !== "negotiating" || !accepted) return;
        counts.negotiating--;
        counts.associated++;
        state = "associated";
      },
      close() {
        if (state === "closed") return;
        if (state === "negotiating") counts.negotiating--;
        if (state === "associated") counts.associated--;
        state = "closed";
        if (counts.negotiating === 0 && counts.associated === 0) hosts.delete(host);
      },
    };
  }

  /** Established associations from `host` now. */
  associations(host: string): number {
    return this.#hosts.get(host)?.associated ?? 0;
  }

  /** Connections from `host` negotiating now. */
  negotiating(host: string): number {
    return this.#hosts.get(host)?.negotiating ?? 0;
  }
}

/** What {@linkcode RefusalLog.note} decided for one refusal. */
export type RefusalNote =
  /** Log this one, and say how many refusals of this host went unlogged since its last line. */
  | { log: true; suppressed: number }
  /** Counted; not logged (the host's last line is less than the interval old). */
  | { log: false };

/**
 * One log line per host per interval (default a minute) for refusals: a host that retries in a
 * loop, or opens dozens of connections at once, does not flood the log; the next line says how
 * many were not logged.
 */
export class RefusalLog {
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #hosts = new Map<string, { loggedAt: number; suppressed: number }>();

  constructor(options: { intervalMs?: number; now?: () => number } = {}) {
    this.#intervalMs = options.intervalMs ?? 60_000;
    this.#now = options.now ?? Date.now;
  }

  /** Counts a refusal of `host` and says whether to log it. */
  note(host: string): RefusalNote {
    const now = this.#now();
    // Forget hosts whose last line is old, so the map does not grow with every address ever seen.
    if (this.#hosts.size > 1024) {
      for (const [key, entry] of this.#hosts) {
        if (now - entry.loggedAt >= this.#intervalMs) this.#hosts.delete(key);
      }
    }
    const entry = this.#hosts.get(host);
    if (entry && now - entry.loggedAt < this.#intervalMs) {
      entry.suppressed++;
      return { log: false };
    }
    const suppressed = entry?.suppressed ?? 0;
    this.#hosts.set(host, { loggedAt: now, suppressed: 0 });
    return { log: true, suppressed };
  }
}
