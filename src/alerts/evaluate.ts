/**
 * The alert rules: from one status snapshot, the clock and the previous state, which alerts begin,
 * which clear, and whether the daily heartbeat is due. Pure: no timers, no I/O, so every rule is
 * tested with a fake clock. Fed with the same snapshots the status page shows, so it needs no
 * hooks inside the uploader.
 * @module
 */
import { formatBytes, type StatusSnapshot } from "../status/api.ts";

/** The conditions that begin and clear. */
export type ConditionKind =
  | "upload-stalled"
  | "credentials-rejected"
  | "archive-unreachable"
  | "disk-low"
  | "instance-refused";

/** Every kind of alert: the conditions, plus one-off notices. */
export type AlertKind = ConditionKind | "unclean-stop" | "heartbeat";

/** One alert to send. */
export interface AlertEvent {
  kind: AlertKind;
  /** `begins` and `clears` for conditions, `notice` for one-off alerts. */
  phase: "begins" | "clears" | "notice";
  /** Milliseconds since the epoch. */
  at: number;
  /** One line in plain words, e.g. "Upload stalled: 65 images waiting, nothing delivered for 35 min". */
  title: string;
  /** The numbers behind it, for receivers that read JSON. */
  facts: Record<string, string | number | null>;
}

/** The thresholds (from `[alerts]`). */
export interface AlertRules {
  stalledAfterMs: number;
  unreachableAfterMs: number;
  heartbeat: boolean;
  /** Hour of the day (local time of `now`) the heartbeat is sent. */
  heartbeatHour: number;
}

/** What the evaluator remembers between snapshots. */
export interface AlertState {
  /** Active conditions and since when (milliseconds). */
  active: Partial<Record<ConditionKind, number>>;
  /** Since when images have been waiting without a delivery in between (null: nothing waiting). */
  waitingSince: number | null;
  /** Local date (YYYY-MM-DD) of the last heartbeat. */
  lastHeartbeatDay: string | null;
}

const localDay = (d: Date) =>
  `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;

/** The state at start: nothing active; today's heartbeat counts as sent when its hour has passed. */
export function initialAlertState(now: Date, rules: Pick<AlertRules, "heartbeatHour">): AlertState {
  return {
    active: {},
    waitingSince: null,
    lastHeartbeatDay: now.getHours() >= rules.heartbeatHour ? localDay(now) : null,
  };
}

/** `35 min`, `2 h 5 min`, `3 days`. */
export function formatDuration(ms: number): string {
  const minutes = Math.max(0, Math.floor(ms / 60_000));
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return minutes % 60 === 0 ? `${hours} h` : `${hours} h ${minutes % 60} min`;
  return `${Math.floor(hours / 24)} days`;
}

const parse = (iso: string | null): number | null => {
  if (iso === null || iso === "") return null;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : t;
};

const images = (n: number) => `${n} ${n === 1 ? "image" : "images"}`;

/** When the oldest study with undelivered images arrived (among the snapshot's recent studies). */
export function oldestUndeliveredAt(s: StatusSnapshot): number | null {
  let oldest: number | null = null;
  for (const study of s.studies) {
    if (study.delivered + study.failed >= study.received) continue;
    const t = parse(study.firstReceivedAt);
    if (t !== null && (oldest === null || t < oldest)) oldest = t;
  }
  return oldest;
}

/** Which conditions hold now, each with the words and numbers of its "begins" message. */
function conditions(
  s: StatusSnapshot,
  now: number,
  rules: AlertRules,
  waitingSince: number | null,
): Map<ConditionKind, { title: string; facts: AlertEvent["facts"] }> {
  const out = new Map<ConditionKind, { title: string; facts: AlertEvent["facts"] }>();
  const waiting = s.queue.pending + s.queue.sending;
  if (s.upload.configured && waiting > 0 && waitingSince !== null) {
    const lastDelivery = parse(s.upload.lastSuccessAt);
    const quietSince = Math.max(waitingSince, lastDelivery ?? 0);
    if (now - quietSince >= rules.stalledAfterMs) {
      out.set("upload-stalled", {
        title: `Upload stalled: ${images(waiting)} (${formatBytes(s.queue.bytesPending)}) waiting, ` +
          `nothing delivered for ${formatDuration(now - quietSince)}`,
        facts: { waiting, bytesPending: s.queue.bytesPending, lastDeliveryAt: s.upload.lastSuccessAt },
      });
    }
  }
  if (s.upload.state === "credentials-rejected") {
    out.set("credentials-rejected", {
      title: "Credentials rejected: the central archive refused the gateway's sign-in; uploads are paused",
      facts: { lastError: s.upload.lastError },
    });
  }
  const failingSince = parse(s.upload.failingSince ?? s.upload.lastErrorAt);
  if (
    s.upload.state === "retrying" && failingSince !== null && now - failingSince >= rules.unreachableAfterMs
  ) {
    out.set("archive-unreachable", {
      title: `Central archive unreachable for ${formatDuration(now - failingSince)}` +
        (s.upload.lastError ? `: ${s.upload.lastError}` : ""),
      facts: { since: s.upload.failingSince, lastError: s.upload.lastError },
    });
  }
  if (s.disk.freeBytes !== null && s.disk.freeBytes < s.disk.minFreeBytes) {
    out.set("disk-low", {
      title: `Disk almost full: ${formatBytes(s.disk.freeBytes)} free on the disk of ${s.disk.dataDir} ` +
        `(minimum ${formatBytes(s.disk.minFreeBytes)})`,
      facts: { freeBytes: s.disk.freeBytes, minFreeBytes: s.disk.minFreeBytes },
    });
  }
  if (s.queue.failed > 0) {
    const reason = s.failures[0]?.reason ?? "";
    out.set("instance-refused", {
      title: `The central archive refused ${images(s.queue.failed)}${reason ? `: ${reason}` : ""}`,
      facts: { failed: s.queue.failed, reason },
    });
  }
  return out;
}

const CLEARED: Record<ConditionKind, string> = {
  "upload-stalled": "Upload moving again: images are being delivered",
  "credentials-rejected": "Credentials accepted again: uploads resumed",
  "archive-unreachable": "Central archive reachable again",
  "disk-low": "Disk space back above the minimum",
  "instance-refused": "No refused images any more (retried or removed)",
};

/**
 * The alerts one snapshot gives: conditions that began or cleared since `previous`, and the
 * heartbeat when its hour of the day has come and it was not sent today.
 */
export function evaluateAlerts(
  snapshot: StatusSnapshot,
  now: Date,
  rules: AlertRules,
  previous: AlertState,
): { state: AlertState; events: AlertEvent[] } {
  const at = now.getTime();
  const waiting = snapshot.queue.pending + snapshot.queue.sending;
  const waitingSince = waiting === 0 ? null : previous.waitingSince ?? at;
  const holding = conditions(snapshot, at, rules, waitingSince);
  const events: AlertEvent[] = [];
  const active: AlertState["active"] = {};
  for (const [kind, c] of holding) {
    const since = previous.active[kind];
    active[kind] = since ?? at;
    if (since === undefined) events.push({ kind, phase: "begins", at, title: c.title, facts: c.facts });
  }
  for (const kind of Object.keys(previous.active) as ConditionKind[]) {
    if (holding.has(kind)) continue;
    events.push({
      kind,
      phase: "clears",
      at,
      title: `${CLEARED[kind]} (the problem lasted ${formatDuration(at - previous.active[kind]!)})`,
      facts: { beganAt: new Date(previous.active[kind]!).toISOString() },
    });
  }
  let lastHeartbeatDay = previous.lastHeartbeatDay;
  const today = localDay(now);
  if (rules.heartbeat && now.getHours() >= rules.heartbeatHour && lastHeartbeatDay !== today) {
    lastHeartbeatDay = today;
    const oldest = oldestUndeliveredAt(snapshot);
    const free = snapshot.disk.freeBytes;
    events.push({
      kind: "heartbeat",
      phase: "notice",
      at,
      title: `Daily heartbeat: ${images(waiting)} waiting` +
        (oldest === null ? "" : `, oldest undelivered study received ${formatDuration(at - oldest)} ago`) +
        `, ${free === null ? "free disk unknown" : `${formatBytes(free)} free`}, version ${snapshot.version}`,
      facts: {
        queueDepth: waiting,
        failed: snapshot.queue.failed,
        oldestUndeliveredAgeSeconds: oldest === null ? null : Math.round((at - oldest) / 1000),
        freeBytes: free,
        version: snapshot.version,
      },
    });
  }
  return { state: { active, waitingSince, lastHeartbeatDay }, events };
}

/** The one-off notice for a start after an unclean stop (power cut, crash, killed process). */
export function uncleanStopEvent(now: Date, previousStart: string | null): AlertEvent {
  return {
    kind: "unclean-stop",
    phase: "notice",
    at: now.getTime(),
    title:
      "The gateway was not stopped cleanly last time (power cut, crash or killed) and has started again" +
      (previousStart ? `; the previous run started ${previousStart}` : "") +
      ". Images already confirmed to modalities are safe; check the PC if this repeats.",
    facts: { previousStart },
  };
}
