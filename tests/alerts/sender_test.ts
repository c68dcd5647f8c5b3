/**
 * The webhook sender and the alert service against a local HTTP receiver: delivered with the
 * token header; a receiver that is down keeps the alerts queued (enqueue never waits) and they go
 * out in order once it is back; a redirect is not followed; the run marker tells an unclean stop.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { assertStringIncludes } from "../support/assert.ts";
import { createAlertSender } from "../../src/alerts/sender.ts";
import { captureLogs } from "../support/logs.ts";
import { startAlerts } from "../../src/alerts/service.ts";
import { markRunStart, RUN_MARKER_NAME } from "../../src/alerts/run_marker.ts";
import type { AlertBody } from "../../src/alerts/message.ts";
import { defaultConfig } from "../../src/config/types.ts";
import { joinPath } from "../../src/platform/fs.ts";
import { sampleSnapshot } from "../status/fake_source.ts";

interface Received {
  body: AlertBody;
  token: string | null;
}

/** A webhook receiver on `port` (0: any free one). */
function receiver(port = 0, status = 200) {
  const got: Received[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, async (req) => {
    got.push({ body: await req.json(), token: req.headers.get("x-alert-token") });
    return status === 302
      ? new Response(null, { status, headers: { location: "https://elsewhere.example/" } })
      : new Response("ok", { status });
  });
  return {
    got,
    port: server.addr.port,
    url: `http://127.0.0.1:${server.addr.port}/hook`,
    close: () => server.shutdown(),
  };
}

const body = (n: number): AlertBody => ({
  text: `alert ${n}`,
  event: "disk-low",
  phase: "begins",
  at: new Date(0).toISOString(),
  title: `alert ${n}`,
  gateway: { aeTitle: "GW", hostname: "PC", version: "0" },
  facts: {},
});

const until = async (check: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 10));
  }
};

Deno.test("sender: POSTs JSON with the token header; a receiver that is down gets the queue, in order, when back", async () => {
  const probe = receiver();
  const port = probe.port;
  await probe.close(); // the receiver is down: nothing listens on its port
  const delivered: number[] = [];
  const sender = createAlertSender({
    url: `http://127.0.0.1:${port}/hook`,
    headerName: "X-Alert-Token",
    headerValue: "t0ken-value",
    minBackoffMs: 20,
    maxBackoffMs: 80,
    onDelivered: (id) => delivered.push(id),
  });
  const t0 = performance.now();
  for (let i = 1; i <= 3; i++) sender.enqueue(i, body(i));
  assert(performance.now() - t0 < 50, "enqueue returns at once");
  await new Promise((r) => setTimeout(r, 200)); // several failed attempts
  assertEquals(sender.waiting, 3);
  assertEquals(delivered, []);

  const back = receiver(port);
  try {
    await sender.idle();
    assertEquals(back.got.map((g) => g.body.text), ["alert 1", "alert 2", "alert 3"]);
    assertEquals(back.got.map((g) => g.token), ["t0ken-value", "t0ken-value", "t0ken-value"]);
    assertEquals(delivered, [1, 2, 3]);
    assertEquals(sender.waiting, 0);
  } finally {
    await sender.close();
    await back.close();
  }
});

Deno.test("sender: a redirect is not followed and counts as not delivered; close() stops retrying", async () => {
  const redirecting = receiver(0, 302);
  const sender = createAlertSender({ url: redirecting.url, minBackoffMs: 20, maxBackoffMs: 20 });
  try {
    sender.enqueue(1, body(1));
    await until(() => redirecting.got.length >= 2);
    assertEquals(sender.waiting, 1);
  } finally {
    await sender.close();
    await redirecting.close();
  }
});

Deno.test("sender: what the webhook or the network says is redacted by the one redaction (token and address, every form)", async () => {
  const logs = await captureLogs();
  const token = "t0ken/va+lue";
  const url = "https://hooks.example.org/services/T000/B000/s3cretPath";
  const answers = [
    () =>
      Promise.resolve(
        new Response(null, { status: 401, statusText: `bad token ${encodeURIComponent(token)}` }),
      ),
    () =>
      Promise.reject(
        new TypeError(`error sending request for url (${encodeURIComponent(url)}): ${btoa(token)}`),
      ),
  ];
  let calls = 0;
  const sender = createAlertSender({
    url,
    headerName: "X-Alert-Token",
    headerValue: token,
    fetch: () => answers[Math.min(calls++, answers.length - 1)]!(),
    wait: () => new Promise((resolve) => setTimeout(resolve, 1)),
  });
  try {
    sender.enqueue(1, body(1));
    await until(() => calls >= 10);
  } finally {
    await sender.close();
    await logs.dispose();
  }
  const lines = logs.lines();
  assert(lines.some((l) => l.includes("[redacted]")), lines.join("\n"));
  for (const line of lines) {
    for (const form of [token, encodeURIComponent(token), btoa(token), "s3cretPath"]) {
      assert(!line.includes(form), `${form} in ${line}`);
    }
  }
});

Deno.test("service: alerts from status snapshots are listed for the page and delivered; a hanging webhook blocks nothing", async () => {
  // A receiver that never answers: the service and its caller must go on regardless.
  const hanging = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const hangPort = (hanging.addr as Deno.NetAddr).port;
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const c of hanging) held.push(c);
  })().catch(() => {});
  const snap = sampleSnapshot();
  snap.disk.freeBytes = 1e9;
  snap.queue.failed = 0;
  const config = { ...defaultConfig("/gw").alerts, webhookUrl: `http://127.0.0.1:${hangPort}/hook` };
  const slow = startAlerts({
    config,
    snapshot: () => snap,
    intervalMs: 3_600_000,
    sender: { timeoutMs: 200, minBackoffMs: 50 },
  });
  const t0 = performance.now();
  slow.tick();
  assert(performance.now() - t0 < 50, "tick never waits on the webhook");
  assertEquals(slow.recent().map((a) => [a.kind, a.phase, a.delivery]), [["disk-low", "begins", "waiting"]]);
  await slow.close();
  hanging.close();
  for (const c of held) c.close();
  await accepting;

  const hook = receiver();
  const service = startAlerts({
    config: { ...config, webhookUrl: hook.url },
    snapshot: () => snap,
    uncleanStop: { previousStart: "2026-11-27T08:00:00.000Z" },
    intervalMs: 3_600_000,
  });
  try {
    service.tick();
    service.tick(); // the same condition again: not sent twice
    await service.idle();
    assertEquals(hook.got.map((g) => g.body.event), ["unclean-stop", "disk-low"]);
    assertStringIncludes(
      hook.got[1]!.body.text,
      "[dicom-gateway DICOM_GATEWAY on RECEPTION-PC] PROBLEM: Disk almost full",
    );
    snap.disk.freeBytes = 50e9;
    service.tick();
    await service.idle();
    assertEquals(hook.got.map((g) => `${g.body.event} ${g.body.phase}`), [
      "unclean-stop notice",
      "disk-low begins",
      "disk-low clears",
    ]);
    assertEquals(service.recent().map((a) => [a.kind, a.phase, a.delivery]), [
      ["disk-low", "clears", "sent"],
      ["disk-low", "begins", "sent"],
      ["unclean-stop", "notice", "sent"],
    ]);
  } finally {
    await service.close();
    await hook.close();
  }

  // No webhook: alerts are still listed on the page, marked as not sent.
  const local = startAlerts({
    config: defaultConfig("/gw").alerts,
    snapshot: () => ({ ...snap, disk: { ...snap.disk, freeBytes: 1 } }),
    intervalMs: 3_600_000,
  });
  local.tick();
  assertEquals(local.recent()[0]!.delivery, "off");
  await local.close();
});

Deno.test("run marker: found at the next start after an unclean stop, gone after a clean one", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const first = await markRunStart(dir, { startedAt: "2026-11-28T08:00:00.000Z", pid: 1, version: "0" });
    assertEquals(first.uncleanStop, false);
    await Deno.stat(joinPath(dir, RUN_MARKER_NAME));
    // Killed: no markCleanStop. The next start sees it.
    const second = await markRunStart(dir, { startedAt: "2026-11-28T09:00:00.000Z", pid: 2, version: "0" });
    assertEquals([second.uncleanStop, second.previousStart], [true, "2026-11-28T08:00:00.000Z"]);
    await second.markCleanStop();
    const third = await markRunStart(dir, { startedAt: "2026-11-28T10:00:00.000Z", pid: 3, version: "0" });
    assertEquals(third.uncleanStop, false);
    // A marker cut short (power cut while writing it) still counts.
    await Deno.writeTextFile(joinPath(dir, RUN_MARKER_NAME), '{"startedAt":"2026');
    assertEquals((await markRunStart(dir, { startedAt: "x", pid: 4, version: "0" })).uncleanStop, true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
