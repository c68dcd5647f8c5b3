/**
 * Test doubles for the uploader: an in-process STOW-RS server (Deno.serve on a free port, plain
 * HTTP or TLS) that parses each multipart request, remembers the instances by SOP Instance UID and
 * answers like Orthanc — with hooks to inject any answer — and answers QIDO-RS instance searches of
 * a series (PS3.18 §10.6) from what it stored, paged with `limit`/`offset`; a TCP fault proxy (reset mid-body, stall,
 * throttle); helpers to make small real DICOM files and queue them in an index.
 * @module
 */
import { parseMetaHeader } from "../../scripts/harness/data.ts";
import { makeCtSeries, newUid } from "../../scripts/harness/data.ts";
import type { QueueIndex } from "../../src/store/queue_index.ts";
import { boundaryOf, parseMultipart } from "./multipart.ts";

/** What the fake server saw of one request. */
export interface SeenRequest {
  at: number;
  authorization: string | null;
  uids: string[];
  bytes: number;
  status: number;
  /** The Content-Type of each part, in order. */
  partTypes: string[];
}

/** Context given to the hooks. */
export interface HookContext {
  request: Request;
  /** Requests that reached the server so far, including this one (1-based). */
  count: number;
}

/** The fake STOW-RS server. */
export interface FakeStowServer {
  /** DICOMweb root, e.g. http://127.0.0.1:PORT/dicom-web */
  url: string;
  port: number;
  /** SOP Instance UID → times stored. */
  stored: Map<string, number>;
  /** Bytes of each stored instance (last copy). */
  files: Map<string, Uint8Array>;
  requests: SeenRequest[];
  /** Highest number of requests in progress at once. */
  maxConcurrent: number;
  /** Called before the body is read; a Response short-circuits. */
  before: ((ctx: HookContext) => Response | undefined | Promise<Response | undefined>) | null;
  /** Called after parsing; may return a custom Response (then nothing is stored unless `store` is called). */
  after:
    | ((ctx: HookContext & { uids: string[]; store: (uids: string[]) => void }) => Response | undefined)
    | null;
  /** Delay before answering (ms). */
  delayMs: number;
  /** Answers requests to any other path or method (default 404): a sign-in page, a token endpoint. */
  other: ((ctx: HookContext) => Response | undefined | Promise<Response | undefined>) | null;
  /** QIDO-RS: stored instances it does not list (as if the archive lost or has not indexed them). */
  hidden: Set<string>;
  /** QIDO-RS: answers a search before the default answer (a web page, 401, a redirect…). */
  qido: ((ctx: HookContext & { url: URL }) => Response | undefined) | null;
  /** QIDO-RS: at most this many results per page, with the "additional results" Warning (null: no cap). */
  maxPageSize: number | null;
  /** QIDO-RS: path and query of every instance search received. */
  queries: string[];
  /** Every request as `METHOD /path` with the credential headers it carried (any path). */
  log: { line: string; authorization: string | null; apiKey: string | null; body: string }[];
  close(): Promise<void>;
}

/** A Store Instances Response (PS3.18 Annex I) as DICOM JSON. */
export function storeResponseJson(
  referenced: string[],
  failed: { uid: string; reason: number; detail?: string }[] = [],
): string {
  const ref = (uid: string) => ({
    "00081150": { vr: "UI", Value: ["1.2.840.10008.5.1.4.1.1.2"] },
    "00081155": { vr: "UI", Value: [uid] },
  });
  return JSON.stringify({
    "00081198": failed.length === 0 ? { vr: "SQ" } : {
      vr: "SQ",
      Value: failed.map((f) => ({
        ...ref(f.uid),
        "00081197": { vr: "US", Value: [f.reason] },
        ...(f.detail === undefined ? {} : { "00090097": { vr: "LT", Value: [f.detail] } }),
      })),
    },
    ...(referenced.length === 0 ? {} : { "00081199": { vr: "SQ", Value: referenced.map(ref) } }),
  });
}

/** Starts the fake server on `port` (0: any free one), with TLS when `tls` is given. */
export function startFakeStow(
  options: { port?: number; tls?: { cert: string; key: string } } = {},
): FakeStowServer {
  let inProgress = 0;
  const state: FakeStowServer = {
    url: "",
    port: 0,
    stored: new Map(),
    files: new Map(),
    requests: [],
    maxConcurrent: 0,
    before: null,
    after: null,
    delayMs: 0,
    other: null,
    hidden: new Set(),
    qido: null,
    maxPageSize: null,
    queries: [],
    log: [],
    close: async () => {},
  };
  const handler = async (request: Request): Promise<Response> => {
    inProgress++;
    state.maxConcurrent = Math.max(state.maxConcurrent, inProgress);
    const seen: SeenRequest = {
      at: Date.now(),
      authorization: request.headers.get("authorization"),
      uids: [],
      bytes: 0,
      status: 0,
      partTypes: [],
    };
    state.requests.push(seen);
    const ctx: HookContext = { request, count: state.requests.length };
    try {
      const url = new URL(request.url);
      const entry = {
        line: `${request.method} ${url.pathname}`,
        authorization: request.headers.get("authorization"),
        apiKey: request.headers.get("x-api-key"),
        body: "",
      };
      state.log.push(entry);
      if (!url.pathname.startsWith("/dicom-web/studies")) {
        const clone = request.clone();
        entry.body = await clone.text().catch(() => "");
        const answer = await state.other?.(ctx);
        if (answer) return answer;
      }
      if (request.method === "GET" && url.pathname === "/dicom-web/studies") {
        const early = await state.before?.(ctx);
        if (early) return early;
        return Response.json([], { headers: { "content-type": "application/dicom+json" } });
      }
      const search = /^\/dicom-web\/studies\/[^/]+\/series\/[^/]+\/instances$/.exec(url.pathname);
      if (request.method === "GET" && search !== null) {
        state.queries.push(`${url.pathname}${url.search}`);
        const custom = state.qido?.({ ...ctx, url });
        if (custom) return custom;
        // Every stored instance is taken to be of the series asked about (the tests queue one series).
        const all = [...state.stored.keys()].filter((uid) => !state.hidden.has(uid));
        const offset = Number(url.searchParams.get("offset") ?? "0");
        const asked = Number(url.searchParams.get("limit") ?? String(all.length));
        const limit = state.maxPageSize === null ? asked : Math.min(asked, state.maxPageSize);
        const page = all.slice(offset, offset + limit);
        const headers: Record<string, string> = { "content-type": "application/dicom+json" };
        if (offset + page.length < all.length && limit < asked) {
          headers["warning"] = '299 fake-stow: "There are additional results that can be requested"';
        }
        if (page.length === 0) return new Response(null, { status: 204 });
        return new Response(
          JSON.stringify(page.map((uid) => ({ "00080018": { vr: "UI", Value: [uid] } }))),
          { headers },
        );
      }
      if (request.method !== "POST" || url.pathname !== "/dicom-web/studies") {
        return new Response("not found", { status: 404 });
      }
      const early = await state.before?.(ctx);
      if (early) {
        // Like nginx: read and discard the body, then answer.
        await request.arrayBuffer().catch(() => {});
        return early;
      }
      const body = new Uint8Array(await request.arrayBuffer());
      seen.bytes = body.length;
      const boundary = boundaryOf(request.headers.get("content-type"));
      if (boundary === null || !/multipart\/related/i.test(request.headers.get("content-type") ?? "")) {
        return new Response("bad content type", { status: 415 });
      }
      const parts = parseMultipart(body, boundary);
      const byUid = new Map<string, Uint8Array>();
      for (const part of parts) {
        seen.partTypes.push(part.headers.get("content-type") ?? "");
        const uid = parseMetaHeader(part.body).values.get("00020003") ?? "";
        byUid.set(uid, part.body);
      }
      seen.uids = [...byUid.keys()];
      const store = (uids: string[]) => {
        for (const uid of uids) {
          state.stored.set(uid, (state.stored.get(uid) ?? 0) + 1);
          state.files.set(uid, byUid.get(uid)!);
        }
      };
      if (state.delayMs > 0) await new Promise((r) => setTimeout(r, state.delayMs));
      const custom = state.after?.({ ...ctx, uids: seen.uids, store });
      if (custom) return custom;
      store(seen.uids);
      return new Response(storeResponseJson(seen.uids), {
        headers: { "content-type": "application/dicom+json" },
      });
    } finally {
      inProgress--;
    }
  };
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: options.port ?? 0,
    onListen: () => {},
    ...(options.tls === undefined ? {} : { cert: options.tls.cert, key: options.tls.key }),
  }, async (request) => {
    const response = await handler(request);
    const last = state.requests.at(-1);
    if (last !== undefined && last.status === 0) last.status = response.status;
    return response;
  });
  state.port = server.addr.port;
  state.url = `${options.tls === undefined ? "http" : "https"}://127.0.0.1:${state.port}/dicom-web`;
  state.close = () => server.shutdown();
  return state;
}

/** Modes of the fault proxy, consumed one per accepted connection (then "pass"). */
export type FaultMode =
  | { kind: "pass" }
  | { kind: "reset-after"; bytes: number }
  | { kind: "stall" }
  | { kind: "throttle"; bytesPerTick: number; tickMs: number };

/** A TCP proxy in front of `upstreamPort` that injects faults. */
export interface FaultProxy {
  port: number;
  modes: FaultMode[];
  connections: number;
  close(): Promise<void>;
}

/** Starts a fault proxy on a free loopback port. */
export function startFaultProxy(upstreamPort: number): FaultProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  const tasks = new Set<Promise<void>>();
  const proxy: FaultProxy = {
    port: (listener.addr as Deno.NetAddr).port,
    modes: [],
    connections: 0,
    close: async () => {
      listener.close();
      for (const conn of open) {
        try {
          conn.close();
        } catch { /* closed */ }
      }
      await Promise.allSettled([...tasks]);
    },
  };
  const closeQuietly = (conn: Deno.Conn) => {
    if (!open.delete(conn)) return;
    try {
      conn.close();
    } catch { /* closed */ }
  };
  const pipe = async (
    from: Deno.Conn,
    to: Deno.Conn,
    throttle?: { bytesPerTick: number; tickMs: number },
  ) => {
    const buffer = new Uint8Array(throttle?.bytesPerTick ?? 65536);
    try {
      while (true) {
        const n = await from.read(buffer);
        if (n === null) break;
        let written = 0;
        while (written < n) written += await to.write(buffer.subarray(written, n));
        if (throttle) await new Promise((r) => setTimeout(r, throttle.tickMs));
      }
    } catch { /* peer gone */ }
    closeQuietly(from);
    closeQuietly(to);
  };
  const handle = async (client: Deno.Conn) => {
    open.add(client);
    proxy.connections++;
    const mode = proxy.modes.shift() ?? { kind: "pass" };
    const buffer = new Uint8Array(65536);
    if (mode.kind === "reset-after") {
      let seen = 0;
      try {
        while (seen < mode.bytes) {
          const n = await client.read(buffer);
          if (n === null) break;
          seen += n;
        }
      } catch { /* gone */ }
      closeQuietly(client);
      return;
    }
    if (mode.kind === "stall") {
      try {
        while ((await client.read(buffer)) !== null) { /* swallow, never answer */ }
      } catch { /* gone */ }
      closeQuietly(client);
      return;
    }
    let upstream: Deno.Conn;
    try {
      upstream = await Deno.connect({ hostname: "127.0.0.1", port: upstreamPort });
    } catch {
      closeQuietly(client);
      return;
    }
    open.add(upstream);
    await Promise.all([
      pipe(client, upstream, mode.kind === "throttle" ? mode : undefined),
      pipe(upstream, client),
    ]);
  };
  (async () => {
    try {
      for await (const conn of listener) {
        const task = handle(conn).finally(() => tasks.delete(task));
        tasks.add(task);
      }
    } catch { /* listener closed */ }
  })();
  return proxy;
}

/** A temp data folder with small real CT files queued in a fresh index. */
export interface QueuedStudy {
  studyInstanceUid: string;
  uids: string[];
  /** Relative paths in the data folder, by SOP Instance UID. */
  paths: Map<string, string>;
}

/**
 * Writes `count` small CT instances (dcmjs, 16×16) of one new study under `dataDir/instances/` and
 * records them in `index` as the receiver would.
 */
export async function queueStudy(
  index: QueueIndex,
  dataDir: string,
  options: { count: number; rows?: number; studyInstanceUid?: string; record?: boolean },
): Promise<QueuedStudy> {
  const studyInstanceUid = options.studyInstanceUid ?? newUid();
  const dir = `${dataDir}/instances/${studyInstanceUid}`;
  await Deno.mkdir(dir, { recursive: true });
  const files = await makeCtSeries(dir, {
    count: options.count,
    rows: options.rows ?? 16,
    columns: options.rows ?? 16,
    studyInstanceUid,
  });
  const uids: string[] = [];
  const paths = new Map<string, string>();
  for (const file of files) {
    const bytes = await Deno.readFile(file);
    const meta = parseMetaHeader(bytes.subarray(0, 4096));
    const uid = meta.values.get("00020003")!;
    const relative = file.slice(dataDir.length + 1);
    uids.push(uid);
    paths.set(uid, relative);
    if (options.record !== false) {
      index.recordReceived({
        sopInstanceUid: uid,
        sopClassUid: meta.values.get("00020002")!,
        studyInstanceUid,
        seriesInstanceUid: "1.2.3",
        transferSyntaxUid: meta.values.get("00020010")!,
        path: relative,
        size: bytes.length,
        callingAeTitle: "TEST_SCU",
        receivedAt: Date.now(),
        patientId: "DGW-TEST-001",
        patientName: "Phantom^Chest",
        modality: "CT",
        studyDate: "20240101",
        studyDescription: "TEST",
        accessionNumber: "",
      });
    }
  }
  return { studyInstanceUid, uids, paths };
}

/** Polls `condition` every 20 ms until it holds; throws with `what` after `timeoutMs`. */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
