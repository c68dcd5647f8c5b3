/**
 * Power cuts while receiving, for real: the gateway runs as its own process (`deno run -A main.ts`)
 * with its data folder on LazyFS (scripts/harness/lazyfs.ts), a FUSE file system that keeps every
 * write not yet fsynced in its own cache and drops that cache on command. DCMTK `storescu` sends
 * a CT series; once some instances have been answered Success the gateway is killed (SIGKILL) and,
 * the moment it is gone, LazyFS's cache is cleared: what the disk would hold after a power cut.
 * LazyFS is remounted, the gateway restarted on the same folder (its start-up check re-indexes the
 * files) and stopped, and then every instance storescu was answered Success for must be in
 * place, its data set byte-identical to the file sent, and queued (`pending`) in the index.
 * Five cuts at different moments (between instances, receiving one, making one durable) go to the
 * same data folder, so earlier survivors must survive the later cuts too. Each cut also loses the
 * queue index rows of its run (WAL with synchronous=NORMAL, not checkpointed yet): the restart's
 * start-up check re-indexes them from the files, which is what the `pending` check relies on.
 *
 * The negative control proves the cut is real: with `--no-fsync` the same cut loses acknowledged
 * instances (their files come back empty: LazyFS keeps renames, it drops unsynced data).
 *
 * LazyFS ignores directory fsync and keeps every rename, so this checks the file's own fsync
 * (fdatasync) before Success; the fsync → rename → folder fsync order is the spool tests' concern.
 */
import { DatabaseSync } from "node:sqlite";
import { assert, assertEquals } from "../support/assert.ts";
import { interopTest } from "../support/tools.ts";
import { LAZYFS_TOOLS, type LazyFsMount, mountLazyFs } from "../../scripts/harness/lazyfs.ts";
import {
  datasetBytesFingerprint,
  makeCtSeries,
  newUid,
  parseMetaHeader,
} from "../../scripts/harness/data.ts";
import { DCMTK_ENV } from "../../scripts/harness/dcmtk.ts";
import {
  type ChildHandle,
  delay,
  freePort,
  REPO_ROOT,
  runCommand,
  spawnChild,
} from "../../scripts/harness/process.ts";
import { instanceRelativePath } from "../../src/store/names.ts";
import { queueIndexPath } from "../../src/config/types.ts";

/** Slices per series (128 × 128, 16 bits: 33 KB each). */
const SLICES = 40;
/**
 * When each cut falls: a few milliseconds after storescu logs "Sending Store Request (MsgID n)",
 * just before it writes that instance. Unpaced, the instance arrives in one burst and a cut a
 * millisecond or three later finds the gateway receiving it or making it durable (fdatasync,
 * rename, index row); paced through a relay at 2 MB/s (17 ms an instance), it finds it receiving.
 * Which it was is reported (two `.part` files: receiving; the file in place: committed, not yet
 * answered; one `.part`: between instances).
 */
const CUTS: readonly Cut[] = [
  { request: 4, delayMs: 0 },
  { request: 12, delayMs: 8, bytesPerSecond: 2_000_000 },
  { request: 20, delayMs: 1 },
  { request: 28, delayMs: 2 },
  { request: 33, delayMs: 3 },
];

/** One power cut. */
interface Cut {
  /** The power goes after storescu starts sending this instance (1-based; the MsgID)… */
  request: number;
  /** …and this many milliseconds more. */
  delayMs: number;
  /** storescu's bytes pass a relay at this rate; absent: storescu talks to the gateway directly. */
  bytesPerSecond?: number;
}

/** One sent file and what it is. */
interface Sent {
  path: string;
  sopInstanceUid: string;
  studyInstanceUid: string;
}

/**
 * A series as DCMTK writes it: made with makeCtSeries, then rewritten by `dcmconv +te`, so that
 * storescu (which re-encodes what it reads) sends each data set byte for byte as the file has it.
 */
async function makeSeries(dir: string, tag: string): Promise<Sent[]> {
  const made = `${dir}/made-${tag}`;
  const sent = `${dir}/sent-${tag}`;
  await Deno.mkdir(made);
  await Deno.mkdir(sent);
  const studyInstanceUid = newUid();
  const files = await makeCtSeries(made, { count: SLICES, rows: 128, columns: 128, studyInstanceUid });
  const out: Sent[] = [];
  for (let i = 0; i < files.length; i += 4) {
    out.push(
      ...await Promise.all(
        files.slice(i, i + 4).map(async (file) => {
          const path = `${sent}/${file.slice(file.lastIndexOf("/") + 1)}`;
          const result = await runCommand("dcmconv", ["+te", file, path]);
          assert(result.success, `dcmconv +te ${file}: ${result.stderr}`);
          const sopInstanceUid = parseMetaHeader(await Deno.readFile(path)).values.get("00020003")!;
          return { path, sopInstanceUid, studyInstanceUid };
        }),
      ),
    );
  }
  return out;
}

/**
 * `deno run -A main.ts --port P --bind 127.0.0.1 --data-dir D --status-port 0 --log-dir ""`, up.
 * Run from `cwd` (the test's folder), so that no dicom-gateway.toml of the checkout applies.
 */
async function startGateway(dataDir: string, cwd: string, extraArgs: string[] = []): Promise<ChildHandle> {
  for (let attempt = 0;; attempt++) {
    const child = spawnChild(Deno.execPath(), [
      "run",
      "-A",
      "--config",
      `${REPO_ROOT}/deno.json`,
      `${REPO_ROOT}/main.ts`,
      "--port",
      String(freePort()),
      "--bind",
      "127.0.0.1",
      "--data-dir",
      dataDir,
      "--status-port",
      "0",
      "--log-dir",
      "",
      ...extraArgs,
    ], { cwd, env: { NO_COLOR: "1" } });
    try {
      await child.waitForOutput(/^\s*Port:\s+(\d+)/m, 60_000);
      return child;
    } catch (error) {
      await child.stop("SIGKILL", 1000);
      if (attempt < 2 && /in use|EADDRINUSE/i.test(child.output())) continue;
      throw error;
    }
  }
}

function portOf(gateway: ChildHandle): number {
  return Number(gateway.output().match(/^\s*Port:\s+(\d+)/m)![1]);
}

/** A TCP relay on loopback to `targetPort`, pacing the bytes towards it (the answers pass at once). */
interface Relay {
  readonly port: number;
  close(): Promise<void>;
}

function pacedRelay(targetPort: number, bytesPerSecond: number): Relay {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  const pumps: Promise<void>[] = [];
  const closeQuietly = (conn: Deno.Conn) => {
    open.delete(conn);
    try {
      conn.close();
    } catch { /* already closed */ }
  };
  const pump = async (from: Deno.Conn, to: Deno.Conn, paced: boolean) => {
    const buffer = new Uint8Array(8192);
    // When the link is free again: time not used while storescu was idle is not saved up, so
    // every instance takes its full time to pass (no burst after a pause).
    let free = performance.now();
    try {
      for (;;) {
        const n = await from.read(buffer);
        if (n === null) break;
        for (let at = 0; at < n;) at += await to.write(buffer.subarray(at, n));
        if (!paced) continue;
        free = Math.max(free, performance.now()) + n / bytesPerSecond * 1000;
        const wait = free - performance.now();
        if (wait > 0) await delay(wait);
      }
    } catch {
      // One side is gone (the gateway killed, storescu given up): the relay ends both.
    } finally {
      closeQuietly(from);
      closeQuietly(to);
    }
  };
  const accepting = (async () => {
    for await (const client of listener) {
      open.add(client);
      client.setNoDelay(true);
      try {
        const server = await Deno.connect({ hostname: "127.0.0.1", port: targetPort });
        server.setNoDelay(true);
        open.add(server);
        pumps.push(pump(client, server, true), pump(server, client, false));
      } catch {
        closeQuietly(client);
      }
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async close() {
      listener.close();
      await accepting;
      for (const conn of [...open]) closeQuietly(conn);
      await Promise.all(pumps);
    },
  };
}

const SUCCESS = "Received Store Response (Success)";

/**
 * Matches a log once it holds `n` occurrences of `text`. Each step takes the log up to the next
 * occurrence and no further (a (?!…) before every character), so a log with fewer fails in
 * linear time; `(?:TEXT[\s\S]*?){n}` backtracks through every way of choosing them and held the
 * test's event loop for seconds once some twenty lines had arrived.
 */
function nthOccurrence(text: string, n: number): RegExp {
  const escaped = text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`^(?:(?:(?!${escaped})[\\s\\S])*${escaped}){${n}}`);
}

/**
 * The files storescu was answered Success for, from its `-v` log: it sends one file at a time
 * ("Sending file: PATH", then the C-STORE-RSP), so each Success belongs to the last file named.
 */
function acknowledgedFiles(log: string): string[] {
  const out: string[] = [];
  let current: string | undefined;
  for (const line of log.split("\n")) {
    const sending = line.match(/^I: Sending file: (.+)$/);
    if (sending) current = sending[1]!.trim();
    else if (line.includes(SUCCESS)) {
      assert(current !== undefined, `a Success before any file in storescu's log:\n${log}`);
      out.push(current);
      current = undefined;
    }
  }
  return out;
}

/**
 * Sends `series` with storescu and cuts the power at `cut`: SIGKILL the gateway, wait until it is
 * gone, clear LazyFS's cache. Returns the acknowledged files (storescu's own record, read once it
 * has given up).
 */
async function sendAndCut(
  gateway: ChildHandle,
  lazyfs: LazyFsMount,
  series: Sent[],
  cut: Cut,
): Promise<Sent[]> {
  const relay = cut.bytesPerSecond === undefined
    ? undefined
    : pacedRelay(portOf(gateway), cut.bytesPerSecond);
  const storescu = spawnChild("storescu", [
    "-v",
    "-aet",
    "POWERCUT",
    "-aec",
    "DICOM_GATEWAY",
    "127.0.0.1",
    String(relay?.port ?? portOf(gateway)),
    ...series.map((s) => s.path),
  ], { env: { ...DCMTK_ENV }, timeoutMs: 60_000 });
  try {
    await storescu.waitForOutput(nthOccurrence("Sending Store Request", cut.request), 30_000);
  } catch (error) {
    await storescu.stop("SIGKILL", 1000);
    await gateway.stop("SIGKILL", 1000);
    await relay?.close();
    throw new Error(`storescu did not send instance ${cut.request}: ${error}\ngateway:\n${gateway.output()}`);
  }
  if (cut.delayMs > 0) await delay(cut.delayMs);
  // The power cut: the gateway dies, and only once it is gone (nothing of it runs any more) the
  // disk loses what was not synced.
  await gateway.stop("SIGKILL", 10_000);
  assert(gateway.exited(), "the gateway did not die of SIGKILL within 10 s");
  await lazyfs.clearCache();
  await storescu.status;
  await relay?.close();
  const bySent = new Map(series.map((s) => [s.path, s]));
  return acknowledgedFiles(storescu.output()).map((path) => {
    const sent = bySent.get(path);
    assert(sent !== undefined, `storescu acknowledged a file it was not given: ${path}`);
    return sent;
  });
}

/** An index row as the test reads it. */
interface Row {
  sop_instance_uid: string;
  path: string;
  status: string;
}

function readIndex(dataDir: string): Map<string, Row> {
  const db = new DatabaseSync(queueIndexPath(dataDir), { readOnly: true });
  try {
    const rows = db.prepare("SELECT sop_instance_uid, path, status FROM instances").all() as unknown as Row[];
    return new Map(rows.map((r) => [r.sop_instance_uid, r]));
  } finally {
    db.close();
  }
}

/** What is wrong with each acknowledged instance after the cut (an empty list: nothing). */
async function problems(dataDir: string, acknowledged: Sent[], index: Map<string, Row>): Promise<string[]> {
  const out: string[] = [];
  for (const sent of acknowledged) {
    const relative = instanceRelativePath(sent);
    const path = `${dataDir}/${relative}`;
    const size = await Deno.stat(path).then((s) => s.size, () => undefined);
    if (size === undefined) {
      out.push(`${sent.sopInstanceUid}: no file at ${relative}`);
      continue;
    }
    let stored: string;
    try {
      stored = await datasetBytesFingerprint(path);
    } catch (error) {
      out.push(`${sent.sopInstanceUid}: ${relative} is ${size} bytes and unreadable (${error})`);
      continue;
    }
    if (stored !== await datasetBytesFingerprint(sent.path)) {
      out.push(`${sent.sopInstanceUid}: ${relative} (${size} bytes) differs from the data set sent`);
    }
    const row = index.get(sent.sopInstanceUid);
    if (row === undefined) out.push(`${sent.sopInstanceUid}: not in the queue index`);
    else if (row.status !== "pending" || row.path !== relative) {
      out.push(`${sent.sopInstanceUid}: index row ${row.status} ${row.path}`);
    }
  }
  return out;
}

/**
 * What the cut left of the instance in flight (the one after the last acknowledged): its file in
 * place or not, and the temporary files (the one being received, the one opened ahead).
 */
async function inFlight(dataDir: string, next: Sent | undefined): Promise<string> {
  const parts: number[] = [];
  for await (const entry of Deno.readDir(`${dataDir}/tmp`)) {
    if (entry.name.endsWith(".part")) parts.push((await Deno.stat(`${dataDir}/tmp/${entry.name}`)).size);
  }
  const placed = next === undefined
    ? undefined
    : await Deno.stat(`${dataDir}/${instanceRelativePath(next)}`).then((s) => s.size, () => undefined);
  return `next instance ${
    placed === undefined ? "not in place" : `in place (${placed} bytes)`
  }, ${parts.length} .part file(s) of ${parts.join(", ") || "-"} bytes`;
}

/**
 * Remounts LazyFS (the reboot), starts the gateway on `dataDir` (its start-up check indexes the
 * files), stops it, and reads the index. Returns the new mount and the gateway's log.
 */
async function reboot(
  lazyfs: LazyFsMount,
  options: { controlDir: string; dataDir: string; cwd: string; extraArgs?: string[] },
): Promise<{ lazyfs: LazyFsMount; log: string; index: Map<string, Row> }> {
  const { controlDir, dataDir } = options;
  await lazyfs.unmount();
  const again = await mountLazyFs({ root: lazyfs.root, mountPoint: lazyfs.mountPoint, controlDir });
  const gateway = await startGateway(dataDir, options.cwd, options.extraArgs);
  const status = await gateway.stop("SIGTERM", 15_000);
  assertEquals(status.code, 0, gateway.output());
  return { lazyfs: again, log: gateway.output(), index: readIndex(dataDir) };
}

interopTest(
  "power cut while receiving: every instance answered Success survives byte for byte and stays queued; --no-fsync loses them",
  [...LAZYFS_TOOLS, "storescu", "dcmconv"],
  async () => {
    assertEquals(Deno.build.os, "linux", "LazyFS is a Linux FUSE file system");
    // No "-o" in the control paths (LazyFS would take its config path for a FUSE option).
    const work = await Deno.makeTempDir({ prefix: "dgwcut" });
    const controlDir = `${work}/ctl`;
    const root = `${work}/disk`;
    const mountPoint = `${work}/mnt`;
    await Promise.all([controlDir, root, mountPoint].map((d) => Deno.mkdir(d)));
    let lazyfs = await mountLazyFs({ root, mountPoint, controlDir });
    try {
      const dataDir = `${mountPoint}/data`;
      const acknowledged: Sent[] = [];
      const report: string[] = [];
      for (const [i, cut] of CUTS.entries()) {
        const series = await makeSeries(work, `cut${i}`);
        const gateway = await startGateway(dataDir, work);
        const acked = await sendAndCut(gateway, lazyfs, series, cut);
        assert(
          acked.length >= cut.request - 1 && acked.length < series.length,
          `storescu's log shows ${acked.length} of ${series.length} Success answers; the cut was meant during instance ${cut.request}`,
        );
        acknowledged.push(...acked);
        const left = await inFlight(dataDir, series[acked.length]);
        const rebooted = await reboot(lazyfs, { controlDir, dataDir, cwd: work });
        lazyfs = rebooted.lazyfs;
        const found = await problems(dataDir, acknowledged, rebooted.index);
        assertEquals(
          found,
          [],
          `after cut ${i + 1} (${acked.length} of ${series.length} acknowledged):\n${
            found.join("\n")
          }\ngateway after restart:\n${rebooted.log}`,
        );
        // Nothing half-written was ever put in place: the start-up check indexed every file.
        assert(!rebooted.log.includes("Cannot index"), rebooted.log);
        const check = rebooted.log.match(/Start-up check: (\d+) file\(s\) added/)?.[1] ?? "0";
        report.push(
          `cut ${i + 1} after ${acked.length}/${series.length}${
            cut.bytesPerSecond ? " (paced)" : ""
          }: ${left}; the restart re-indexed ${check} file(s)`,
        );
      }

      // Negative control: the same cut without fsync loses what was answered Success.
      const noFsyncDir = `${mountPoint}/nofsync`;
      const series = await makeSeries(work, "nofsync");
      const gateway = await startGateway(noFsyncDir, work, ["--no-fsync"]);
      const acked = await sendAndCut(gateway, lazyfs, series, { request: 18, delayMs: 0 });
      const rebooted = await reboot(lazyfs, {
        controlDir,
        dataDir: noFsyncDir,
        cwd: work,
        extraArgs: ["--no-fsync"],
      });
      lazyfs = rebooted.lazyfs;
      const lost = await problems(noFsyncDir, acked, rebooted.index);
      assert(
        lost.length > 0,
        `--no-fsync: all ${acked.length} acknowledged instances survived the cut; LazyFS did not drop unsynced data`,
      );
      console.log(
        `${acknowledged.length} acknowledged instances survived ${CUTS.length} power cuts:\n${
          report.join("\n")
        }\n--no-fsync: ${lost.length} of ${acked.length} acknowledged instances lost or damaged, e.g. ${
          lost[0]
        }`,
      );
    } finally {
      await lazyfs.unmount();
      // A failed unmount must not hide the test's own failure: say so and leave the folder.
      await Deno.remove(work, { recursive: true }).catch((error) =>
        console.error(`cannot remove ${work}: ${error}`)
      );
    }
  },
);
