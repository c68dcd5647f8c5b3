/**
 * The alert service of a running gateway: every `intervalMs` it takes a snapshot from the status
 * source (the same one the page reads), runs the pure rules ({@link evaluateAlerts}), logs each
 * alert, keeps the last ones for the page, and hands them to the webhook sender. Nothing here
 * waits on the webhook.
 * @module
 */
import type { AlertsConfig } from "../config/types.ts";
import type { AlertSummary, StatusSnapshot } from "../status/api.ts";
import {
  type AlertEvent,
  type AlertRules,
  type AlertState,
  evaluateAlerts,
  initialAlertState,
  uncleanStopEvent,
} from "./evaluate.ts";
import { alertBody, type AlertSender as AlertSenderInfo } from "./message.ts";
import { type AlertSenderHandle, type AlertSenderOptions, createAlertSender } from "./sender.ts";
import { logger } from "../log.ts";

const log = logger("alerts");

/** How many alerts the page lists. */
const KEPT = 20;

/** Options of {@link startAlerts}. */
export interface AlertServiceOptions {
  config: AlertsConfig;
  /** The status source's snapshot. */
  snapshot: () => StatusSnapshot;
  /** Set when the previous run did not stop cleanly. */
  uncleanStop?: { previousStart: string | null } | null;
  /** The HTTP call (the uploader's transport, for its proxy); default fetch. */
  fetch?: AlertSenderOptions["fetch"];
  /** Evaluation period (default 30 s). */
  intervalMs?: number;
  /** The clock (tests). */
  now?: () => Date;
  /** Sender tuning (tests). */
  sender?: Partial<Pick<AlertSenderOptions, "wait" | "minBackoffMs" | "maxBackoffMs" | "timeoutMs">>;
}

/** A running alert service. */
export interface AlertService {
  /** The last alerts, most recent first. */
  recent(): AlertSummary[];
  /** Evaluates once now (also run by the timer). */
  tick(): void;
  /** Resolves when every queued alert has been delivered (tests). */
  idle(): Promise<void>;
  close(): Promise<void>;
}

/** Starts evaluating; with a webhook configured, sends. */
export function startAlerts(options: AlertServiceOptions): AlertService {
  const now = options.now ?? (() => new Date());
  const { config } = options;
  const rules: AlertRules = {
    stalledAfterMs: config.stalledAfterMs,
    unreachableAfterMs: config.unreachableAfterMs,
    heartbeat: config.heartbeat,
    heartbeatHour: config.heartbeatHour,
  };
  let state: AlertState = initialAlertState(now(), rules);
  const recent: (AlertSummary & { id: number })[] = [];
  let nextId = 1;
  let sender: AlertSenderHandle | null = null;
  if (config.webhookUrl !== "") {
    const senderOptions: AlertSenderOptions = {
      url: config.webhookUrl,
      headerName: config.headerName,
      headerValue: config.headerValue,
      onDelivered: (id) => {
        const r = recent.find((a) => a.id === id);
        if (r) r.delivery = "sent";
      },
      ...options.sender,
    };
    if (options.fetch) senderOptions.fetch = options.fetch;
    sender = createAlertSender(senderOptions);
  }

  const emit = (event: AlertEvent, from: AlertSenderInfo) => {
    const id = nextId++;
    const level = event.phase === "begins" ? "warning" : "info";
    log[level]("Alert ({phase}): {title}", { phase: event.phase, title: event.title, kind: event.kind });
    recent.unshift({
      id,
      at: new Date(event.at).toISOString(),
      kind: event.kind,
      phase: event.phase,
      title: event.title,
      delivery: sender ? "waiting" : "off",
    });
    recent.length = Math.min(recent.length, KEPT);
    sender?.enqueue(id, alertBody(event, from));
  };
  const senderInfo = (s: StatusSnapshot): AlertSenderInfo => ({
    aeTitle: s.modality.aeTitle,
    hostname: s.modality.hostname,
    version: s.version,
  });

  const tick = () => {
    let snapshot: StatusSnapshot;
    try {
      snapshot = options.snapshot();
    } catch (e) {
      log.debug("Alerts: no snapshot ({error})", { error: e instanceof Error ? e.message : String(e) });
      return;
    }
    const result = evaluateAlerts(snapshot, now(), rules, state);
    state = result.state;
    for (const event of result.events) emit(event, senderInfo(snapshot));
  };

  if (options.uncleanStop) {
    let from: AlertSenderInfo = { aeTitle: "", hostname: "", version: "" };
    try {
      from = senderInfo(options.snapshot());
    } catch {
      // no snapshot: the notice is sent without the gateway's names
    }
    emit(uncleanStopEvent(now(), options.uncleanStop.previousStart), from);
  }
  const timer = setInterval(tick, options.intervalMs ?? 30_000);
  return {
    recent: () => recent.map(({ id: _id, ...a }) => ({ ...a })),
    tick,
    idle: () => sender?.idle() ?? Promise.resolve(),
    async close() {
      clearInterval(timer);
      await sender?.close();
    },
  };
}
