/**
 * The compression pool's schedule across requests: every claimed instance gets a ticket in a
 * {@link Lot} (one per request, or per batch claimed ahead), at most `limit` instances are being
 * prepared at once (workers + 1: each one in progress holds its frames, so memory stays flat), and
 * the next one started is chosen by {@link chooseEncode}. A sending request's body takes its parts
 * with {@link Lot.next} ({@link choosePart}): finished ones first, not-started ones as received when
 * the encoder is behind. Generic over the preparation's result, so tests drive it with fake timing.
 * @module
 */
import { chooseEncode, choosePart, encodeOrder, ENCODER_GRACE_MS, type TicketState } from "./part_policy.ts";

/** What {@link Lot.next} gives: an instance as prepared, or as received because the encoder is behind. */
export type LotPart<T, R> =
  | { item: T; index: number; result: R }
  | { item: T; index: number; behind: true };

/** Options of {@link EncodeAhead}. */
export interface EncodeAheadOptions<T, R> {
  /** Instances prepared at once (read on every start, so a new pool size applies at once). */
  limit: () => number;
  /** Prepares one instance; should not reject (a rejection is passed to `failed`). */
  prepare: (item: T) => Promise<R>;
  /** The result of a rejected `prepare`. */
  failed: (item: T, error: unknown) => R;
  /** Frees a result nobody will send (its request ended or was given up). */
  discard: (result: R) => void;
  /** Grace before a not-started instance goes as received, ms (see `part_policy.ts`). */
  graceMs?: number;
  /** Clock and sleep of the grace (tests); `sleep` gives a way to cancel it. */
  now?: () => number;
  sleep?: (ms: number) => { done: Promise<void>; cancel(): void };
}

interface Ticket<T, R> {
  item: T;
  state: TicketState;
  result?: R;
}

/** The tickets of one request (or of a batch claimed ahead of a free request slot). */
export class Lot<T, R> {
  readonly #owner: EncodeAhead<T, R>;
  readonly tickets: Ticket<T, R>[];
  /** Order of opening, then of starting to send (lower first). */
  readonly openedAt: number;
  startedAt: number | null = null;
  /** Since when the body has been waiting for a part (clock time), or null. */
  waitingSince: number | null = null;
  #closed = false;
  #waiters: (() => void)[] = [];

  /** @internal Made by {@link EncodeAhead.open}. */
  constructor(owner: EncodeAhead<T, R>, items: readonly T[], openedAt: number) {
    this.#owner = owner;
    this.tickets = items.map((item) => ({ item, state: "waiting" }));
    this.openedAt = openedAt;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Where each instance stands. */
  states(): TicketState[] {
    return this.tickets.map((t) => t.state);
  }

  /** The request is being sent: its instances go before those claimed ahead. */
  start(): void {
    if (this.startedAt === null) this.startedAt = this.#owner.startOrder();
    this.#owner.pump();
  }

  /**
   * The next part of the body ({@link choosePart}); waits only as the policy says. Null when every
   * instance is in the body, or the lot was closed.
   */
  async next(options: { adaptive: boolean }): Promise<LotPart<T, R> | null> {
    const since = this.#owner.now();
    try {
      for (;;) {
        if (this.#closed) return null;
        const waitedMs = this.#owner.now() - since;
        const choice = choosePart(this.states(), {
          ...options,
          waitedMs,
          graceMs: this.#owner.graceMs,
          sinceAsReceivedMs: this.#owner.now() - this.#owner.lastAsReceivedAt,
        });
        if (choice.kind === "done") return null;
        if (choice.kind === "wait") {
          if (this.waitingSince === null) {
            // Waiting: this body's instances go first in the pool.
            this.waitingSince = since;
            this.#owner.pump();
          }
          const changed = new Promise<void>((resolve) => this.#waiters.push(resolve));
          if (!("retryInMs" in choice)) {
            await changed;
            continue;
          }
          const timer = this.#owner.sleep(choice.retryInMs);
          await Promise.race([changed, timer.done]);
          timer.cancel();
          continue;
        }
        return this.#take(choice.index, choice.kind === "as-received");
      }
    } finally {
      this.waitingSince = null;
    }
  }

  #take(index: number, asReceived: boolean): LotPart<T, R> {
    const ticket = this.tickets[index]!;
    ticket.state = "taken";
    if (asReceived) this.#owner.lastAsReceivedAt = this.#owner.now();
    if (asReceived) return { item: ticket.item, index, behind: true };
    const result = ticket.result as R;
    delete ticket.result;
    return { item: ticket.item, index, result };
  }

  /** Gives the lot up: results not taken are discarded (now, or when their preparation ends). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const ticket of this.tickets) {
      if (ticket.state === "ready" && ticket.result !== undefined) {
        const result = ticket.result;
        delete ticket.result;
        this.#owner.discard(result);
      }
    }
    this.#wake();
    this.#owner.remove(this);
  }

  /** @internal A preparation ended. */
  finished(ticket: Ticket<T, R>, result: R): void {
    if (this.#closed) {
      this.#owner.discard(result);
      return;
    }
    ticket.state = "ready";
    ticket.result = result;
    this.#wake();
  }

  #wake(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }
}

/** The schedule (see the module documentation). */
export class EncodeAhead<T, R> {
  readonly #options: EncodeAheadOptions<T, R>;
  readonly #lots: Lot<T, R>[] = [];
  #running = 0;
  #order = 0;
  /** @internal */
  readonly graceMs: number;
  /** @internal When the last instance went as received (clock time). */
  lastAsReceivedAt = -Infinity;
  /** @internal */
  readonly now: () => number;
  /** @internal */
  readonly sleep: (ms: number) => { done: Promise<void>; cancel(): void };

  constructor(options: EncodeAheadOptions<T, R>) {
    this.#options = options;
    this.graceMs = options.graceMs ?? ENCODER_GRACE_MS;
    this.now = options.now ?? (() => performance.now());
    this.sleep = options.sleep ?? ((ms) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = new Promise<void>((resolve) => timer = setTimeout(resolve, ms));
      return { done, cancel: () => clearTimeout(timer) };
    });
  }

  /** Instances being prepared now. */
  get running(): number {
    return this.#running;
  }

  /** Registers the instances of a request or of a batch claimed ahead; the pool starts on them when free. */
  open(items: readonly T[]): Lot<T, R> {
    const lot = new Lot(this, items, this.#order++);
    this.#lots.push(lot);
    this.pump();
    return lot;
  }

  /** @internal */
  startOrder(): number {
    return this.#order++;
  }

  /** @internal */
  discard(result: R): void {
    try {
      this.#options.discard(result);
    } catch {
      // freeing is best effort
    }
  }

  /** @internal */
  remove(lot: Lot<T, R>): void {
    const at = this.#lots.indexOf(lot);
    if (at >= 0) this.#lots.splice(at, 1);
    this.pump();
  }

  /** Starts preparations while fewer than `limit` run. */
  pump(): void {
    while (this.#running < Math.max(1, this.#options.limit())) {
      // Waiting bodies first, then the other requests being sent, then the look-ahead.
      const lots = encodeOrder(this.#lots).map((i) => this.#lots[i]!);
      const pick = chooseEncode(lots.map((l) => l.states()));
      if (pick === null) return;
      const lot = lots[pick.request]!;
      const ticket = lot.tickets[pick.index]!;
      ticket.state = "encoding";
      this.#running++;
      let prepared: Promise<R>;
      try {
        prepared = this.#options.prepare(ticket.item);
      } catch (error) {
        prepared = Promise.reject(error);
      }
      prepared
        .catch((error) => this.#options.failed(ticket.item, error))
        .then((result) => {
          this.#running--;
          lot.finished(ticket, result);
          this.pump();
        });
    }
  }
}
