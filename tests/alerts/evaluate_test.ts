/** The alert rules with a fake clock: each alert once when it begins and once when it clears. */
import { assert, assertEquals } from "../support/assert.ts";
import { assertStringIncludes } from "../support/assert.ts";
import {
  type AlertEvent,
  type AlertRules,
  type AlertState,
  evaluateAlerts,
  initialAlertState,
  uncleanStopEvent,
} from "../../src/alerts/evaluate.ts";
import { alertBody } from "../../src/alerts/message.ts";
import type { StatusSnapshot } from "../../src/status/api.ts";
import { sampleSnapshot } from "../status/fake_source.ts";

const MIN = 60_000;
const RULES: AlertRules = {
  stalledAfterMs: 30 * MIN,
  unreachableAfterMs: 15 * MIN,
  heartbeat: true,
  heartbeatHour: 8,
};

/** A quiet, healthy gateway at `now`: nothing waiting, nothing failed, plenty of disk. */
function healthy(now: Date): StatusSnapshot {
  const s = sampleSnapshot(now);
  s.queue = { pending: 0, sending: 0, delivered: 100, failed: 0, bytesPending: 0 };
  s.failures = [];
  s.studies = [];
  s.disk.freeBytes = 50e9;
  s.upload = { ...s.upload, state: "idle", lastError: null, lastErrorAt: null, failingSince: null };
  return s;
}

/** Runs the rules over a timeline of (minute, snapshot) and returns every event with its minute. */
function timeline(start: Date, steps: [number, (s: StatusSnapshot, at: Date) => void][]) {
  let state: AlertState = initialAlertState(start, RULES);
  const out: { minute: number; event: AlertEvent }[] = [];
  for (const [minute, change] of steps) {
    const at = new Date(start.getTime() + minute * MIN);
    const s = healthy(at);
    change(s, at);
    const r = evaluateAlerts(s, at, RULES, state);
    state = r.state;
    for (const event of r.events) out.push({ minute, event });
  }
  return out;
}

const start = new Date(2026, 10, 28, 9, 0); // 09:00 local: today's heartbeat hour has passed
const iso = (d: Date, minutes: number) => new Date(d.getTime() + minutes * MIN).toISOString();

Deno.test("upload stalled: begins after stalled_after with images waiting and no delivery, once; clears on delivery", () => {
  const waiting = (s: StatusSnapshot) => {
    s.queue = { ...s.queue, pending: 12, bytesPending: 6_000_000 };
    s.upload.lastSuccessAt = iso(start, -60);
  };
  const events = timeline(start, [
    [0, waiting],
    [10, waiting],
    [29, waiting],
    [30, waiting],
    [31, waiting],
    [45, waiting],
    [46, (s, at) => s.upload.lastSuccessAt = at.toISOString()], // delivered, queue empty
  ]);
  assertEquals(events.map((e) => [e.minute, e.event.kind, e.event.phase]), [
    [30, "upload-stalled", "begins"],
    [46, "upload-stalled", "clears"],
  ]);
  assertStringIncludes(
    events[0]!.event.title,
    "Upload stalled: 12 images (6 MB) waiting, nothing delivered for 30 min",
  );
  assertStringIncludes(events[1]!.event.title, "the problem lasted 16 min");
  // A delivery in between restarts the count.
  const moving = timeline(start, [
    [0, waiting],
    [20, (s, at) => {
      waiting(s);
      s.upload.lastSuccessAt = at.toISOString();
    }],
    [45, (s) => {
      s.queue = { ...s.queue, pending: 3 };
      s.upload.lastSuccessAt = iso(start, 20);
    }],
    [50, (s) => {
      s.queue = { ...s.queue, pending: 3 };
      s.upload.lastSuccessAt = iso(start, 20);
    }],
  ]);
  assertEquals(moving.map((e) => [e.minute, e.event.kind]), [[50, "upload-stalled"]]);
  // Not configured: keeping images is the design, not a stall.
  const off = timeline(start, [[0, waiting], [60, (s) => {
    waiting(s);
    s.upload.configured = false;
    s.upload.state = "not-configured";
  }]]);
  assertEquals(off, []);
});

Deno.test("credentials rejected at once; archive unreachable only after unreachable_after; each clears", () => {
  const events = timeline(start, [
    [0, (s) => s.upload.state = "credentials-rejected"],
    [1, (s) => s.upload.state = "credentials-rejected"],
    [2, () => {}],
    [3, (s) => {
      s.upload.state = "retrying";
      s.upload.failingSince = iso(start, 3);
      s.upload.lastError = "the server refused the connection (connection refused)";
    }],
    [17, (s) => {
      s.upload.state = "retrying";
      s.upload.failingSince = iso(start, 3);
    }],
    [18, (s) => {
      s.upload.state = "retrying";
      s.upload.failingSince = iso(start, 3);
      s.upload.lastError = "connection refused";
    }],
    [19, (s) => {
      s.upload.state = "retrying";
      s.upload.failingSince = iso(start, 3);
    }],
    [25, () => {}],
  ]);
  assertEquals(events.map((e) => [e.minute, e.event.kind, e.event.phase]), [
    [0, "credentials-rejected", "begins"],
    [2, "credentials-rejected", "clears"],
    [18, "archive-unreachable", "begins"],
    [25, "archive-unreachable", "clears"],
  ]);
  assertEquals(events[2]!.event.title, "Central archive unreachable for 15 min: connection refused");
});

Deno.test("disk below the minimum and refused instances begin and clear", () => {
  const events = timeline(start, [
    [0, (s) => s.disk.freeBytes = 1e9],
    [1, (s) => {
      s.disk.freeBytes = 1e9;
      s.queue.failed = 2;
      s.failures = [{
        sopInstanceUid: "1.2",
        studyInstanceUid: "1",
        reason: "0xA700: out of resources",
        at: iso(start, 1),
      }];
    }],
    [2, (s) => {
      s.disk.freeBytes = 1e9;
      s.queue.failed = 2;
    }],
    [3, () => {}],
  ]);
  assertEquals(events.map((e) => [e.minute, e.event.kind, e.event.phase]), [
    [0, "disk-low", "begins"],
    [1, "instance-refused", "begins"],
    [3, "disk-low", "clears"],
    [3, "instance-refused", "clears"],
  ]);
  assertStringIncludes(events[0]!.event.title, "Disk almost full: 1 GB free");
  assertEquals(events[1]!.event.title, "The central archive refused 2 images: 0xA700: out of resources");
});

Deno.test("heartbeat: once a day at heartbeat_hour, with queue depth, oldest undelivered study, free disk, version", () => {
  const early = new Date(2026, 10, 28, 6, 0);
  let state = initialAlertState(early, RULES);
  const kinds: string[] = [];
  let heartbeat: AlertEvent | undefined;
  for (let minute = 0; minute <= 26 * 60; minute += 30) {
    const at = new Date(early.getTime() + minute * MIN);
    const s = healthy(at);
    s.queue.pending = 4;
    s.upload.lastSuccessAt = at.toISOString(); // moving, so no stall
    s.studies = [{
      ...sampleSnapshot(at).studies[0]!,
      received: 4,
      delivered: 0,
      failed: 0,
      firstReceivedAt: iso(at, -90),
    }];
    const r = evaluateAlerts(s, at, RULES, state);
    state = r.state;
    for (const e of r.events) {
      kinds.push(`${at.getDate()} ${at.getHours()}:${String(at.getMinutes()).padStart(2, "0")} ${e.kind}`);
      heartbeat ??= e;
    }
  }
  assertEquals(kinds, ["28 8:00 heartbeat", "29 8:00 heartbeat"]);
  assertEquals(heartbeat!.facts.queueDepth, 4);
  assertEquals(heartbeat!.facts.oldestUndeliveredAgeSeconds, 90 * 60);
  assertEquals(heartbeat!.facts.freeBytes, 50e9);
  assertEquals(heartbeat!.facts.version, "0.1.0");
  assertStringIncludes(
    heartbeat!.title,
    "Daily heartbeat: 4 images waiting, oldest undelivered study received 1 h 30 min ago",
  );
  // Started after the hour: no heartbeat until the next day; heartbeat off: never.
  assertEquals(initialAlertState(new Date(2026, 10, 28, 9, 0), RULES).lastHeartbeatDay, "2026-11-28");
  const off = evaluateAlerts(
    healthy(early),
    new Date(2026, 10, 28, 8, 0),
    { ...RULES, heartbeat: false },
    initialAlertState(early, RULES),
  );
  assertEquals(off.events, []);
});

Deno.test("the JSON body has a readable text line, the event and the gateway's names", () => {
  const event = uncleanStopEvent(new Date(Date.UTC(2026, 10, 28, 9)), "2026-11-27T08:00:00.000Z");
  const body = alertBody(event, { aeTitle: "CLINIC_GW", hostname: "RECEPTION-PC", version: "0.1.0" });
  assertEquals(body.event, "unclean-stop");
  assertEquals(body.phase, "notice");
  assertEquals(body.at, "2026-11-28T09:00:00.000Z");
  assert(
    body.text.startsWith(
      "[dicom-gateway CLINIC_GW on RECEPTION-PC] INFO: The gateway was not stopped cleanly",
    ),
  );
  assertStringIncludes(body.text, "the previous run started 2026-11-27T08:00:00.000Z");
  const begins = alertBody(
    { kind: "disk-low", phase: "begins", at: 0, title: "Disk almost full", facts: {} },
    {
      aeTitle: "GW",
      hostname: "",
      version: "1",
    },
  );
  assertEquals(begins.text, "[dicom-gateway GW] PROBLEM: Disk almost full");
});
