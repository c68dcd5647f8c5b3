/**
 * The uploader against an in-process fake STOW-RS server and a TCP fault proxy: batching,
 * concurrency, pipelining, every retry path, 413 splitting, credentials pause, per-instance
 * failures, crash safety, shutdown.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { defaultConfig, type UploadConfig } from "../../src/config/types.ts";
import { QueueIndex } from "../../src/store/queue_index.ts";
import { HEALTH_STATE_KEY, Uploader, type UploaderOptions } from "../../src/upload/uploader.ts";
import { freePort } from "../../scripts/harness/process.ts";
import {
  type FakeStowServer,
  queueStudy,
  startFakeStow,
  startFaultProxy,
  storeResponseJson,
  waitFor,
} from "./fake_stow.ts";

interface Harness {
  dataDir: string;
  index: QueueIndex;
  uploaders: Uploader[];
  servers: FakeStowServer[];
  cleanups: (() => Promise<void> | void)[];
  uploader(config: Partial<UploadConfig>, options?: Partial<UploaderOptions>): Uploader;
}

function uploadConfig(overrides: Partial<UploadConfig>): UploadConfig {
  return {
    ...defaultConfig("/unused").upload,
    maxBackoffMs: 200,
    idleTimeoutMs: 5_000,
    ...overrides,
  };
}

async function harness(body: (h: Harness) => Promise<void>): Promise<void> {
  const dataDir = await Deno.makeTempDir({ prefix: "uploader_test_" });
  const index = QueueIndex.open(`${dataDir}/queue.sqlite`);
  const h: Harness = {
    dataDir,
    index,
    uploaders: [],
    servers: [],
    cleanups: [],
    uploader(config, options = {}) {
      const uploader = new Uploader({
        index,
        dataDir,
        config: uploadConfig(config),
        retryBaseMs: 20,
        credentialsRetryMs: 300,
        retentionIntervalMs: 0,
        stopGraceMs: 200,
        ...options,
      });
      h.uploaders.push(uploader);
      return uploader;
    },
  };
  try {
    await body(h);
  } finally {
    for (const uploader of h.uploaders) await uploader.stop();
    for (const server of h.servers) await server.close();
    for (const cleanup of h.cleanups.reverse()) await cleanup();
    index.close();
    await Deno.remove(dataDir, { recursive: true });
  }
}

function server(h: Harness, options: Parameters<typeof startFakeStow>[0] = {}): FakeStowServer {
  const s = startFakeStow(options);
  h.servers.push(s);
  return s;
}

Deno.test("uploader: uploads every instance once, per-study batches within limits, bounded concurrency", async () => {
  await harness(async (h) => {
    const fake = server(h);
    fake.delayMs = 30;
    const a = await queueStudy(h.index, h.dataDir, { count: 10 });
    const b = await queueStudy(h.index, h.dataDir, { count: 7 });
    // As received (no compression), so the bytes on the wire can be compared with the files.
    const uploader = h.uploader({ url: fake.url, batchMaxInstances: 3, concurrency: 2, compression: "none" });
    assertEquals(uploader.health().state, "idle");
    uploader.start();
    await waitFor(() => h.index.counts().delivered === 17, "17 delivered");
    for (const uid of [...a.uids, ...b.uids]) assertEquals(fake.stored.get(uid), 1, uid);
    assert(fake.requests.every((r) => r.uids.length <= 3 && r.uids.length >= 1));
    for (const request of fake.requests) {
      const studies = new Set(request.uids.map((uid) => a.uids.includes(uid) ? "a" : "b"));
      assertEquals(studies.size, 1, "one study per request");
    }
    assertEquals(fake.maxConcurrent, 2);
    assertEquals(h.index.counts(), { pending: 0, sending: 0, delivered: 17, failed: 0, bytesPending: 0 });
    const health = uploader.health();
    assertEquals(health.state, "idle");
    assert(health.lastSuccessAt !== null);
    assertEquals(JSON.parse(h.index.getState(HEALTH_STATE_KEY)!).configured, true);
    // Each stored file is byte-identical to the one on disk.
    for (const uid of a.uids) {
      assertEquals(fake.files.get(uid), await Deno.readFile(`${h.dataDir}/${a.paths.get(uid)}`));
    }
  });
});

Deno.test("uploader: pipelined — instances recorded one by one go out within a second", async () => {
  await harness(async (h) => {
    const fake = server(h);
    const uploader = h.uploader({ url: fake.url });
    uploader.start();
    const study = await queueStudy(h.index, h.dataDir, { count: 6, record: false });
    const latencies: number[] = [];
    for (const uid of study.uids) {
      const recordedAt = Date.now();
      const info = await Deno.stat(`${h.dataDir}/${study.paths.get(uid)}`);
      h.index.recordReceived({
        sopInstanceUid: uid,
        sopClassUid: "1.2.840.10008.5.1.4.1.1.2",
        studyInstanceUid: study.studyInstanceUid,
        seriesInstanceUid: "1.2.3",
        transferSyntaxUid: "1.2.840.10008.1.2.1",
        path: study.paths.get(uid)!,
        size: info.size,
        callingAeTitle: "X",
        receivedAt: recordedAt,
        patientId: "",
        patientName: "",
        modality: "CT",
        studyDate: "",
        studyDescription: "",
        accessionNumber: "",
      });
      await waitFor(() => fake.stored.has(uid), `instance ${uid}`, 3000);
      latencies.push(Date.now() - recordedAt);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert(Math.max(...latencies) < 1000, `latencies ${latencies.join(", ")} ms`);
    await waitFor(() => h.index.counts().delivered === 6, "all delivered");
  });
});

Deno.test("uploader: server down, then back — retried with backoff, nothing lost or failed", async () => {
  await harness(async (h) => {
    const port = freePort();
    const study = await queueStudy(h.index, h.dataDir, { count: 5 });
    const uploader = h.uploader({ url: `http://127.0.0.1:${port}/dicom-web` });
    uploader.start();
    await waitFor(() => uploader.health().state === "retrying", "retrying state");
    await new Promise((r) => setTimeout(r, 400));
    const health = uploader.health();
    assert(health.lastError?.includes("refused the connection"), health.lastError ?? "");
    assertEquals(h.index.counts().failed, 0);
    assertEquals(h.index.counts().delivered, 0);
    const fake = server(h, { port });
    await waitFor(() => h.index.counts().delivered === 5, "delivered after the server came back");
    for (const uid of study.uids) assertEquals(fake.stored.get(uid), 1);
    assertEquals(uploader.health().state, "idle");
  });
});

Deno.test("uploader: 500 is retried; 503 with Retry-After is honoured", async () => {
  await harness(async (h) => {
    const fake = server(h);
    const answers = [
      () => new Response("boom", { status: 500 }),
      () => new Response("busy", { status: 503, headers: { "retry-after": "1" } }),
    ];
    fake.before = () => answers.shift()?.();
    await queueStudy(h.index, h.dataDir, { count: 3 });
    const uploader = h.uploader({ url: fake.url });
    uploader.start();
    await waitFor(() => h.index.counts().delivered === 3, "delivered", 10_000);
    // While failing, the uploader probes with one instance; after a success, the rest follows.
    assertEquals(fake.requests.slice(0, 3).map((r) => r.status), [500, 503, 200]);
    assertEquals(fake.requests[2]!.uids.length, 1);
    const gap = fake.requests[2]!.at - fake.requests[1]!.at;
    assert(gap >= 950, `retried ${gap} ms after a 503 with Retry-After: 1`);
    assertEquals(h.index.counts().failed, 0);
  });
});

Deno.test("uploader: connection reset mid-body is retried and nothing is lost", async () => {
  await harness(async (h) => {
    const fake = server(h);
    const proxy = startFaultProxy(fake.port);
    h.cleanups.push(() => proxy.close());
    proxy.modes.push({ kind: "reset-after", bytes: 3000 }, { kind: "reset-after", bytes: 100 });
    const study = await queueStudy(h.index, h.dataDir, { count: 4, rows: 64 });
    const uploader = h.uploader({ url: `http://127.0.0.1:${proxy.port}/dicom-web` });
    uploader.start();
    await waitFor(() => h.index.counts().delivered === 4, "delivered");
    assert(proxy.connections >= 3, `${proxy.connections} connections`);
    for (const uid of study.uids) assertEquals(fake.stored.get(uid), 1);
    assertEquals(h.index.counts().failed, 0);
  });
});

Deno.test("uploader: a stalled server trips the idle timeout and is retried; a slow one is not cut", async () => {
  await harness(async (h) => {
    const fake = server(h);
    const proxy = startFaultProxy(fake.port);
    h.cleanups.push(() => proxy.close());
    proxy.modes.push({ kind: "stall" });
    // The second answer trickles in over ~1.2 s, three times the idle timeout, but never stops moving.
    fake.after = ({ uids, store }) => {
      store(uids);
      const json = new TextEncoder().encode(storeResponseJson(uids));
      const pieces = 8;
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          await new Promise((r) => setTimeout(r, 150));
          const size = Math.ceil(json.length / pieces);
          controller.enqueue(json.subarray(sent, sent + size));
          sent += size;
          if (sent >= json.length) controller.close();
        },
      });
      return new Response(body, { headers: { "content-type": "application/dicom+json" } });
    };
    const study = await queueStudy(h.index, h.dataDir, { count: 4 });
    const uploader = h.uploader({ url: `http://127.0.0.1:${proxy.port}/dicom-web`, idleTimeoutMs: 400 });
    const started = Date.now();
    uploader.start();
    await waitFor(() => h.index.counts().delivered === 4, "delivered");
    const elapsed = Date.now() - started;
    assert(elapsed >= 400 + 1200, `delivered after ${elapsed} ms`);
    assert(proxy.connections >= 2, "one stalled connection, then slow successful ones");
    assert(
      fake.requests.every((r) => r.at >= started + 400),
      "nothing reached the server before the stall was detected",
    );
    assert(uploader.health().lastError?.includes("idle timeout"), uploader.health().lastError ?? "");
    for (const uid of study.uids) assertEquals(fake.stored.get(uid), 1);
  });
});

Deno.test("uploader: 413 splits the batch until it fits; a single oversize instance fails", async () => {
  await harness(async (h) => {
    const fake = server(h);
    fake.after = ({ uids }) => uids.length > 2 ? new Response("too big", { status: 413 }) : undefined;
    const study = await queueStudy(h.index, h.dataDir, { count: 8 });
    const uploader = h.uploader({ url: fake.url, batchMaxInstances: 8, concurrency: 1 });
    uploader.start();
    await waitFor(() => h.index.counts().delivered === 8, "delivered");
    assertEquals(fake.requests[0]!.uids.length, 8);
    assertEquals(fake.requests[0]!.status, 413);
    for (const uid of study.uids) assertEquals(fake.stored.get(uid), 1);
    assert(fake.requests.filter((r) => r.status === 200).every((r) => r.uids.length <= 2));
    // Now even one instance is too large.
    fake.after = () => new Response("too big", { status: 413 });
    const one = await queueStudy(h.index, h.dataDir, { count: 1 });
    await waitFor(() => h.index.counts().failed === 1, "oversize instance failed");
    const failure = h.index.failures(1)[0]!;
    assertEquals(failure.sopInstanceUid, one.uids[0]);
    assert(failure.reason.includes("413"), failure.reason);
  });
});

Deno.test("uploader: 401 pauses the queue (nothing failed), new credentials resume it", async () => {
  await harness(async (h) => {
    const fake = server(h);
    const good = `Basic ${btoa("gateway:right-password")}`;
    fake.before = ({ request }) =>
      request.headers.get("authorization") === good ? undefined : new Response("no", { status: 401 });
    const study = await queueStudy(h.index, h.dataDir, { count: 6 });
    const config = {
      url: fake.url,
      batchMaxInstances: 2,
      auth: { kind: "basic" as const, username: "gateway", password: "wrong-password" },
    };
    const uploader = h.uploader(config);
    uploader.start();
    await waitFor(() => uploader.health().state === "credentials-rejected", "credentials-rejected");
    const health = uploader.health();
    assert(health.nextRetryAt !== null && health.nextRetryAt > Date.now());
    assert(health.lastError?.includes("rejected the credentials"), health.lastError ?? "");
    await new Promise((r) => setTimeout(r, 700)); // two more probes at 300 ms
    const counts = h.index.counts();
    assertEquals([counts.failed, counts.delivered, counts.pending + counts.sending], [0, 0, 6]);
    const probes = fake.requests.length;
    assert(probes >= 2 && probes <= 5, `${probes} probes while paused`);
    assert(fake.requests.every((r) => r.uids.length === 0), "401 answered before any body was stored");
    await uploader.setConfig(
      uploadConfig({ ...config, auth: { ...config.auth, password: "right-password" } }),
    );
    await waitFor(() => h.index.counts().delivered === 6, "delivered after new credentials");
    for (const uid of study.uids) assertEquals(fake.stored.get(uid), 1);
    assertEquals(uploader.health().state, "idle");
  });
});

Deno.test("uploader: per-instance rejections fail only those; a silent 400 is narrowed down; retryFailed", async () => {
  await harness(async (h) => {
    const fake = server(h);
    const study = await queueStudy(h.index, h.dataDir, { count: 8 });
    const rejected = study.uids[2]!;
    const poison = study.uids[5]!;
    let accept = false;
    fake.after = ({ uids, store }) => {
      if (accept) return undefined;
      if (uids.includes(poison)) return new Response("", { status: 400 });
      const ok = uids.filter((uid) => uid !== rejected);
      store(ok);
      if (ok.length === uids.length) return undefined;
      return new Response(storeResponseJson(ok, [{ uid: rejected, reason: 0xA900 }]), {
        status: 202,
        headers: { "content-type": "application/dicom+json" },
      });
    };
    const uploader = h.uploader({ url: fake.url, batchMaxInstances: 8 });
    uploader.start();
    await waitFor(
      () => h.index.counts().delivered === 6 && h.index.counts().failed === 2,
      "6 delivered, 2 failed",
    );
    const failures = h.index.failures(10);
    assertEquals(failures.map((f) => f.sopInstanceUid).sort(), [poison, rejected].sort());
    assert(failures.find((f) => f.sopInstanceUid === rejected)!.reason.includes("0xA900"));
    assert(failures.find((f) => f.sopInstanceUid === poison)!.reason.includes("HTTP 400"));
    assertEquals(uploader.health().state, "idle", "content rejections do not stop the queue");
    const summary = h.index.recentStudies(1)[0]!;
    assertEquals([summary.delivered, summary.failed, summary.pending], [6, 2, 0]);
    accept = true;
    assertEquals(h.index.retryFailed(study.studyInstanceUid), 2);
    await waitFor(() => h.index.counts().delivered === 8, "all delivered after retry");
  });
});

Deno.test("uploader: an instance the server already holds (409, 0x0111) counts as delivered", async () => {
  await harness(async (h) => {
    const fake = server(h);
    const study = await queueStudy(h.index, h.dataDir, { count: 3 });
    fake.stored.set(study.uids[0]!, 1);
    fake.after = ({ uids, store }) => {
      const fresh = uids.filter((uid) => !fake.stored.has(uid));
      const dup = uids.filter((uid) => fake.stored.has(uid));
      store(fresh);
      return new Response(storeResponseJson(fresh, dup.map((uid) => ({ uid, reason: 0x0111 }))), {
        status: dup.length === uids.length ? 409 : 202,
        headers: { "content-type": "application/dicom+json" },
      });
    };
    h.uploader({ url: fake.url }).start();
    await waitFor(() => h.index.counts().delivered === 3, "delivered");
    assertEquals(h.index.counts().failed, 0);
  });
});

Deno.test("uploader: crash safety — 'sending' rows are resent after restart, delivered ones never", async () => {
  await harness(async (h) => {
    const fake = server(h);
    const study = await queueStudy(h.index, h.dataDir, { count: 5 });
    // A previous run claimed three and died before the answer.
    assertEquals(h.index.claimBatch({ maxInstances: 3, maxBytes: 1e9 }, Date.now()).length, 3);
    assertEquals(h.index.counts().sending, 3);
    const first = h.uploader({ url: fake.url });
    first.start();
    await waitFor(() => h.index.counts().delivered === 5, "delivered");
    await first.stop();
    const requestsBefore = fake.requests.length;
    const second = h.uploader({ url: fake.url });
    second.start();
    await new Promise((r) => setTimeout(r, 300));
    assertEquals(fake.requests.length, requestsBefore, "nothing resent after a clean restart");
    for (const uid of study.uids) assertEquals(fake.stored.get(uid), 1);
    // A re-received instance is sent again.
    const uid = study.uids[1]!;
    const info = await Deno.stat(`${h.dataDir}/${study.paths.get(uid)}`);
    h.index.recordReceived({
      sopInstanceUid: uid,
      sopClassUid: "1.2.840.10008.5.1.4.1.1.2",
      studyInstanceUid: study.studyInstanceUid,
      seriesInstanceUid: "1.2.3",
      transferSyntaxUid: "1.2.840.10008.1.2.1",
      path: study.paths.get(uid)!,
      size: info.size,
      callingAeTitle: "X",
      receivedAt: Date.now(),
      patientId: "",
      patientName: "",
      modality: "CT",
      studyDate: "",
      studyDescription: "",
      accessionNumber: "",
    });
    await waitFor(() => fake.stored.get(uid) === 2, "re-received instance sent again");
  });
});

Deno.test("uploader: stop() aborts requests in flight and leaves them pending, not failed", async () => {
  await harness(async (h) => {
    const fake = server(h);
    fake.delayMs = 3000;
    await queueStudy(h.index, h.dataDir, { count: 3 });
    const uploader = h.uploader({ url: fake.url });
    uploader.start();
    await waitFor(() => fake.requests.length === 1 && uploader.health().inFlight === 1, "request in flight");
    const started = Date.now();
    await uploader.stop();
    assert(Date.now() - started < 2000, "stop does not wait for the slow server");
    assertEquals(h.index.counts(), {
      pending: 3,
      sending: 0,
      delivered: 0,
      failed: 0,
      bytesPending: h.index.counts().bytesPending,
    });
    for (const uid of [...fake.stored.keys()]) assert(uid === "", "nothing stored yet");
    await new Promise((r) => setTimeout(r, 3100)); // let the fake server finish its delayed answer
  });
});

Deno.test("uploader: a file missing from the data folder fails with a plain reason; the rest goes", async () => {
  await harness(async (h) => {
    const fake = server(h);
    const study = await queueStudy(h.index, h.dataDir, { count: 3 });
    await Deno.remove(`${h.dataDir}/${study.paths.get(study.uids[0]!)}`);
    h.uploader({ url: fake.url }).start();
    await waitFor(
      () => h.index.counts().delivered === 2 && h.index.counts().failed === 1,
      "2 delivered, 1 failed",
    );
    assert(h.index.failures(1)[0]!.reason.includes("missing from the data folder"));
  });
});

Deno.test("uploader: not configured — says so, keeps everything, sends nothing", async () => {
  await harness(async (h) => {
    await queueStudy(h.index, h.dataDir, { count: 2 });
    const uploader = h.uploader({ url: "" });
    uploader.start();
    await new Promise((r) => setTimeout(r, 100));
    assertEquals(uploader.health().state, "not-configured");
    assertEquals(uploader.health().configured, false);
    assertEquals(h.index.counts().pending, 2);
    assertEquals((await uploader.testConnection()).ok, false);
  });
});

Deno.test("uploader: testConnection in plain words — ok, refused, 401, 404", async () => {
  await harness(async (h) => {
    const fake = server(h);
    const ok = await h.uploader({ url: fake.url }).testConnection();
    assert(ok.ok, ok.message);
    assert(ok.message.includes("HTTP 200"), ok.message);
    const refused = await h.uploader({ url: `http://127.0.0.1:${freePort()}/dicom-web` }).testConnection();
    assert(!refused.ok && refused.message.includes("refused the connection"), refused.message);
    const wrongRoot = await h.uploader({ url: `http://127.0.0.1:${fake.port}/wrong` }).testConnection();
    assert(!wrongRoot.ok && wrongRoot.message.includes("DICOMweb root"), wrongRoot.message);
    fake.before = () => new Response("no", { status: 401 });
    const denied = await h.uploader({ url: fake.url, auth: { kind: "bearer", token: "tok-secret-123" } })
      .testConnection();
    assert(!denied.ok && denied.message.includes("rejected the credentials"), denied.message);
    assert(!denied.message.includes("tok-secret-123"));
  });
});
