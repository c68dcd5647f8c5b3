/**
 * The benchmark (`deno task bench`): measures, in one run on this machine,
 * (a) a synthetic CT series (default 500 slices of 512×512, 16 bit, ~256 MB) sent by DCMTK
 *     `storescu` over loopback to DCMTK `storescp +B` and to the gateway (fsync on, and off);
 * (b) one large instance (default 1 GiB) sent to the gateway: its peak memory;
 * (c) 8 concurrent associations each sending 1/8 of the series: aggregate rate vs one;
 * (d) the upload: the series uploaded by the gateway through nginx (TLS) to Orthanc's DICOMweb
 *     STOW-RS, against `curl` posting one pre-built multipart body of the same instances, and
 *     the lag from the last C-STORE response to the last instance present in Orthanc.
 * It prints a Markdown table (also written to bench-out/results.md) and never asserts timings.
 *
 * Every DCMTK tool and Orthanc run with TCP_NODELAY=1 (they leave Nagle on otherwise and each
 * instance then costs ~40 ms). The gateway runs as a child process (`deno run -A main.ts …`);
 * if it cannot start, the reason is printed and the other parts still run.
 *
 * Flags: --count N (slices, default 500), --large-mb N (default 1024, 0 skips), --associations N
 * (default 8), --repeat N (runs of each single-association measurement, median shown; default 3),
 * --skip-upload, --skip-large, --keep (keep the temporary folder), --out DIR,
 * --gateway-entry FILE (default main.ts; scripts/bench_gateway.ts runs startGateway without the CLI),
 * --no-check (pass --no-check to `deno run` for the gateway).
 * @module
 */
import { parseArgs } from "node:util";
import { makeCtSeries, makeLargeInstance } from "./harness/data.ts";
import { startStorescp, storescu } from "./harness/dcmtk.ts";
import {
  type ChildHandle,
  cpuSeconds,
  delay,
  freePort,
  peakRssKb,
  runCommand,
  type RunResult,
  spawnChild,
  totalBytes,
} from "./harness/process.ts";
import { requireTools } from "./harness/tools.ts";
import { startCentralServer } from "./harness/orthanc.ts";
import { V8_FLAGS } from "./compile.ts";

const REPO_ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/** One line of the results table. */
interface Row {
  scenario: string;
  instances?: number;
  bytes?: number;
  seconds?: number;
  peakRssKb?: number | undefined;
  /** CPU seconds (user + system) the receiving process used during the transfer. */
  cpuSeconds?: number | undefined;
  note?: string;
}

interface Options {
  /** Script started as the gateway (`deno run -A <entry> …`): main.ts, or scripts/bench_gateway.ts. */
  gatewayEntry: string;
  /** Pass --no-check to `deno run` for the gateway. */
  noCheck: boolean;
  count: number;
  /** Runs of each single-association series measurement (median reported). */
  repeat: number;
  largeMb: number;
  associations: number;
  skipUpload: boolean;
  keep: boolean;
  out: string;
}

function parseOptions(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: {
      count: { type: "string", default: "500" },
      "large-mb": { type: "string", default: "1024" },
      associations: { type: "string", default: "8" },
      "skip-upload": { type: "boolean", default: false },
      "skip-large": { type: "boolean", default: false },
      keep: { type: "boolean", default: false },
      out: { type: "string", default: "bench-out" },
      "gateway-entry": { type: "string", default: "main.ts" },
      repeat: { type: "string", default: "3" },
      "no-check": { type: "boolean", default: false },
    },
  });
  const count = Number(values.count);
  const largeMb = values["skip-large"] ? 0 : Number(values["large-mb"]);
  const associations = Number(values.associations);
  const repeat = Number(values.repeat);
  if (!Number.isInteger(repeat) || repeat < 1) {
    throw new Error(`--repeat must be a positive integer, got ${values.repeat}`);
  }
  if (!Number.isInteger(count) || count < 1) {
    throw new Error(`--count must be a positive integer, got ${values.count}`);
  }
  if (!Number.isFinite(largeMb) || largeMb < 0) {
    throw new Error(`--large-mb must be ≥ 0, got ${values["large-mb"]}`);
  }
  if (!Number.isInteger(associations) || associations < 1) throw new Error(`--associations must be ≥ 1`);
  return {
    gatewayEntry: values["gateway-entry"],
    noCheck: values["no-check"],
    count,
    repeat,
    largeMb,
    associations,
    skipUpload: values["skip-upload"],
    keep: values.keep,
    out: values.out,
  };
}

// ---------------------------------------------------------------------------------------------
// The gateway as a child process.
// ---------------------------------------------------------------------------------------------

interface GatewayProcess {
  port: number;
  pid: number;
  child: ChildHandle;
  /** Peak RSS so far (VmHWM), read while it runs. */
  peakRssKb(): Promise<number | undefined>;
  stop(): Promise<void>;
}

/** How the gateway is started (set from the options in main()). */
const launch = { entry: "main.ts", noCheck: false };
/** Why the gateway could not start the first time: later parts skip it instead of failing again. */
let gatewayProblem: string | undefined;

/**
 * Starts `deno run -A --v8-flags=… main.ts --port P --bind 127.0.0.1 --data-dir D --status-port 0 --log-dir ""`
 * plus `extraArgs` and waits for the banner's "Port:" line. Throws with the gateway's output if
 * it exits or stays silent.
 */
async function startGatewayProcess(
  dataDir: string,
  extraArgs: string[] = [],
  env: Record<string, string> = {},
) {
  if (gatewayProblem !== undefined) {
    throw new Error(`skipped: the gateway did not start earlier (${gatewayProblem})`);
  }
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = freePort();
    const args = [
      "run",
      "-A",
      V8_FLAGS,
      ...(launch.noCheck ? ["--no-check"] : []),
      launch.entry,
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--data-dir",
      dataDir,
      "--status-port",
      "0",
      "--log-dir",
      "",
      ...extraArgs,
    ];
    const child = spawnChild(Deno.execPath(), args, { cwd: REPO_ROOT, env: { NO_COLOR: "1", ...env } });
    try {
      await child.waitForOutput(/^\s*Port:\s+(\d+)/m, 120_000);
      const gateway: GatewayProcess = {
        port,
        pid: child.pid,
        child,
        peakRssKb: () => peakRssKb(child.pid),
        async stop() {
          await child.stop("SIGTERM", 15_000);
        },
      };
      return gateway;
    } catch (error) {
      await child.stop("SIGKILL", 1000);
      lastError = new Error(`the gateway did not start: ${lastLines(child.output(), 15) || String(error)}`);
      if (!/in use|EADDRINUSE/i.test(child.output())) break;
    }
  }
  gatewayProblem = lastError?.message.replace(/^the gateway did not start: /, "").split("\n")[0];
  throw lastError;
}

/** CPU seconds `pid` used since the reading `before`. */
async function cpuUsed(pid: number, before: number | undefined): Promise<number | undefined> {
  const after = await cpuSeconds(pid);
  return before === undefined || after === undefined ? undefined : after - before;
}

function lastLines(text: string, n: number): string {
  return text.trim().split("\n").slice(-n).join("\n");
}

/** Number of `.dcm` files under `dir`, recursively. */
async function countDcm(dir: string): Promise<number> {
  let n = 0;
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isDirectory) n += await countDcm(`${dir}/${entry.name}`);
    else if (entry.isFile && entry.name.endsWith(".dcm")) n++;
  }
  return n;
}

/** Sends `files` with storescu over one association; returns seconds, or throws with storescu's complaint. */
async function timedStorescu(port: number, files: string[], calledAe: string): Promise<number> {
  const result = await storescu("127.0.0.1", port, files, {
    calledAe,
    callingAe: "BENCH",
    timeoutMs: 3_600_000,
  });
  if (!result.success) {
    throw new Error(`storescu failed (exit ${result.code}): ${lastLines(result.stderr, 5)}`);
  }
  return result.durationMs / 1000;
}

// ---------------------------------------------------------------------------------------------
// Parts.
// ---------------------------------------------------------------------------------------------

/** One timed transfer: wall seconds, receiver CPU seconds, receiver peak RSS, and a problem if any. */
interface Run {
  seconds: number;
  cpu: number | undefined;
  peak: number | undefined;
  problem: string;
}

/** Median-time run of `runs` (they are sorted by time), with the spread and any problems in a note. */
function summarize(scenario: string, runs: Run[], instances: number, bytes: number): Row {
  const sorted = [...runs].sort((a, b) => a.seconds - b.seconds);
  const median = sorted[Math.floor((sorted.length - 1) / 2)]!;
  const spread = sorted.length > 1
    ? `median of ${sorted.length} runs (${sorted.map((r) => r.seconds.toFixed(2)).join(", ")} s)`
    : "";
  const problems = [...new Set(runs.map((r) => r.problem).filter(Boolean))];
  const peaks = runs.map((r) => r.peak).filter((p): p is number => p !== undefined);
  return {
    scenario,
    instances,
    bytes,
    seconds: median.seconds,
    cpuSeconds: median.cpu,
    peakRssKb: peaks.length ? Math.max(...peaks) : undefined,
    note: [spread, ...problems].filter(Boolean).join("; "),
  };
}

/**
 * (a) storescp and the gateway receiving the series over one association, `repeat` times each,
 * each time into an empty folder and a fresh process; the median is reported. The last fsync-on
 * gateway folder is kept (everything queued, nothing delivered) for the upload part.
 */
async function partSeries(
  work: string,
  series: string[],
  seriesBytes: number,
  repeat: number,
  rows: Row[],
  notes: string[],
) {
  // DCMTK storescp, bit-preserving, its largest PDU (131072; the gateway's default is 262144).
  const scpRuns: Run[] = [];
  for (let i = 0; i < repeat; i++) {
    const scpDir = `${work}/storescp`;
    await Deno.mkdir(scpDir);
    const scp = await startStorescp({ outDir: scpDir, bitPreserving: true, maxPdu: 131072 });
    try {
      const cpu0 = await cpuSeconds(scp.pid);
      const seconds = await timedStorescu(scp.port, series, "STORESCP");
      const cpu = await cpuUsed(scp.pid, cpu0);
      const received = await countDcm(scpDir);
      const problem = received === series.length ? "" : `received ${received}`;
      scpRuns.push({ seconds, cpu, peak: await peakRssKb(scp.pid), problem });
    } catch (error) {
      notes.push(`storescp: ${(error as Error).message}`);
    } finally {
      await scp.stop();
      await Deno.remove(scpDir, { recursive: true });
    }
  }
  const scpScenario = "storescu → DCMTK storescp +B (no fsync)";
  rows.push(
    scpRuns.length
      ? summarize(scpScenario, scpRuns, series.length, seriesBytes)
      : { scenario: scpScenario, note: "failed" },
  );

  for (const fsync of [true, false]) {
    const scenario = `storescu → gateway (fsync ${fsync ? "on" : "off"})`;
    const runs: Run[] = [];
    for (let i = 0; i < repeat; i++) {
      const dataDir = `${work}/gateway-series-${fsync ? "fsync" : "nofsync"}`;
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
      let gateway: GatewayProcess | undefined;
      try {
        gateway = await startGatewayProcess(dataDir, fsync ? [] : ["--no-fsync"]);
        const cpu0 = await cpuSeconds(gateway.pid);
        const seconds = await timedStorescu(gateway.port, series, "DICOM_GATEWAY");
        const cpu = await cpuUsed(gateway.pid, cpu0);
        const peak = await gateway.peakRssKb();
        const received = await countDcm(dataDir);
        runs.push({
          seconds,
          cpu,
          peak,
          problem: received === series.length ? "" : `${received} files in the data folder`,
        });
      } catch (error) {
        notes.push(`${scenario}: ${(error as Error).message}`);
        break;
      } finally {
        await gateway?.stop();
      }
    }
    rows.push(
      runs.length
        ? summarize(scenario, runs, series.length, seriesBytes)
        : { scenario, note: "failed (see notes)" },
    );
    if (!fsync) await Deno.remove(`${work}/gateway-series-nofsync`, { recursive: true }).catch(() => {});
  }
}

/** (b) One large instance to the gateway (and to storescp for reference). */
async function partLarge(work: string, largeMb: number, rows: Row[], notes: string[]) {
  const dir = `${work}/large-source`;
  await Deno.mkdir(dir);
  const start = performance.now();
  const path = await makeLargeInstance(dir, { bytes: largeMb * 1024 * 1024 });
  const bytes = (await Deno.stat(path)).size;
  console.error(
    `  made a ${(bytes / 2 ** 20).toFixed(0)} MiB instance in ${
      ((performance.now() - start) / 1000).toFixed(1)
    } s`,
  );
  const label = `${(bytes / 2 ** 30).toFixed(2)} GiB instance`;
  try {
    const dataDir = `${work}/gateway-large`;
    let gateway: GatewayProcess | undefined;
    try {
      gateway = await startGatewayProcess(dataDir);
      const cpu0 = await cpuSeconds(gateway.pid);
      const seconds = await timedStorescu(gateway.port, [path], "DICOM_GATEWAY");
      const cpu = await cpuUsed(gateway.pid, cpu0);
      rows.push({
        scenario: `${label} → gateway`,
        instances: 1,
        bytes,
        seconds,
        cpuSeconds: cpu,
        peakRssKb: await gateway.peakRssKb(),
      });
    } catch (error) {
      rows.push({ scenario: `${label} → gateway`, note: `failed: ${(error as Error).message}` });
      notes.push(`large instance: ${(error as Error).message}`);
    } finally {
      await gateway?.stop();
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    }
    const scpDir = `${work}/storescp-large`;
    await Deno.mkdir(scpDir);
    const scp = await startStorescp({ outDir: scpDir, bitPreserving: true, maxPdu: 131072 });
    try {
      const cpu0 = await cpuSeconds(scp.pid);
      const seconds = await timedStorescu(scp.port, [path], "STORESCP");
      const cpu = await cpuUsed(scp.pid, cpu0);
      rows.push({
        scenario: `${label} → storescp +B`,
        instances: 1,
        bytes,
        seconds,
        cpuSeconds: cpu,
        peakRssKb: await peakRssKb(scp.pid),
      });
    } catch (error) {
      rows.push({ scenario: `${label} → storescp +B`, note: `failed: ${(error as Error).message}` });
    } finally {
      await scp.stop();
      await Deno.remove(scpDir, { recursive: true });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs one storescu per share at once against `port`; returns wall seconds and the failures. */
async function concurrentStorescu(port: number, shares: string[][], calledAe: string) {
  const start = performance.now();
  const results = await Promise.all(
    shares.filter((s) => s.length > 0).map((share, i) =>
      storescu("127.0.0.1", port, share, { calledAe, callingAe: `BENCH${i}`, timeoutMs: 3_600_000 })
    ),
  );
  return { seconds: (performance.now() - start) / 1000, failed: results.filter((r) => !r.success) };
}

/**
 * (c) `associations` concurrent storescu processes, each sending its share of the series, to the
 * gateway and, for reference, to `storescp --fork` (one storescp process per association).
 */
async function partConcurrent(
  work: string,
  series: string[],
  seriesBytes: number,
  associations: number,
  rows: Row[],
  notes: string[],
) {
  const shares: string[][] = Array.from({ length: associations }, () => []);
  series.forEach((path, i) => shares[i % associations]!.push(path));
  const describe = (failed: RunResult[], received: number) =>
    [
      failed.length ? `${failed.length} storescu failed: ${lastLines(failed[0]!.stderr, 2)}` : "",
      received === series.length ? "" : `${received} files received`,
    ].filter(Boolean).join("; ");

  const scpDir = `${work}/storescp-concurrent`;
  await Deno.mkdir(scpDir);
  const scp = await startStorescp({
    outDir: scpDir,
    bitPreserving: true,
    maxPdu: 131072,
    extraArgs: ["--fork"],
  });
  try {
    const { seconds, failed } = await concurrentStorescu(scp.port, shares, "STORESCP");
    rows.push({
      scenario: `${associations} concurrent storescu → storescp --fork +B`,
      instances: series.length,
      bytes: seriesBytes,
      seconds,
      note: describe(failed, await countDcm(scpDir)),
    });
  } catch (error) {
    rows.push({
      scenario: `${associations} concurrent storescu → storescp --fork`,
      note: `failed: ${(error as Error).message}`,
    });
  } finally {
    await scp.stop();
    await Deno.remove(scpDir, { recursive: true });
  }

  const scenario = `${associations} concurrent storescu → gateway (fsync on)`;
  const dataDir = `${work}/gateway-concurrent`;
  let gateway: GatewayProcess | undefined;
  try {
    gateway = await startGatewayProcess(dataDir);
    const cpu0 = await cpuSeconds(gateway.pid);
    const { seconds, failed } = await concurrentStorescu(gateway.port, shares, "DICOM_GATEWAY");
    rows.push({
      scenario,
      instances: series.length,
      bytes: seriesBytes,
      seconds,
      cpuSeconds: await cpuUsed(gateway.pid, cpu0),
      peakRssKb: await gateway.peakRssKb(),
      note: describe(failed, await countDcm(dataDir)),
    });
  } catch (error) {
    rows.push({ scenario, note: `failed: ${(error as Error).message}` });
    notes.push(`concurrent: ${(error as Error).message}`);
  } finally {
    await gateway?.stop();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
}

/** Writes one multipart/related STOW-RS body holding `files` (PS3.18 10.5) to `path`, streaming. */
async function writeMultipartBody(files: string[], path: string, boundary: string): Promise<void> {
  const out = await Deno.open(path, { write: true, create: true, truncate: true });
  const encoder = new TextEncoder();
  const write = async (bytes: Uint8Array) => {
    let n = 0;
    while (n < bytes.length) n += await out.write(bytes.subarray(n));
  };
  try {
    for (const file of files) {
      await write(encoder.encode(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`));
      await write(await Deno.readFile(file));
      await write(encoder.encode("\r\n"));
    }
    await write(encoder.encode(`--${boundary}--\r\n`));
  } finally {
    out.close();
  }
}

/** The central server for one upload measurement: Orthanc behind nginx (TLS, basic auth). */
interface UploadTarget {
  /** DICOMweb root through nginx; STOW-RS goes to `${dicomWebUrl}/studies`. */
  dicomWebUrl: string;
  caFile: string;
  username: string;
  password: string;
  countInstances(): Promise<number>;
  stop(): Promise<void>;
}

/** A fresh, empty central server (tests/support/orthanc.ts: the one the upload tests use). */
async function startUploadTarget(): Promise<UploadTarget> {
  const central = await startCentralServer();
  return {
    dicomWebUrl: central.nginx.url,
    caFile: central.ca.caCertPath,
    username: central.username,
    password: central.password,
    async countInstances() {
      const response = await fetch(`${central.orthanc.restUrl}/statistics`);
      return ((await response.json()) as { CountInstances: number }).CountInstances;
    },
    stop: () => central.stop(),
  };
}

/** Gateway flags and environment to upload to `target` with basic auth (the password only in the environment). */
function uploadSettings(target: UploadTarget): { args: string[]; env: Record<string, string> } {
  return {
    args: [
      "--upload-url",
      target.dicomWebUrl,
      "--upload-ca-file",
      target.caFile,
      "--upload-auth",
      "basic",
      "--upload-username",
      target.username,
    ],
    env: { DICOM_GATEWAY_UPLOAD_PASSWORD: target.password },
  };
}

/** Polls Orthanc until it holds `count` instances; returns the time it got there (performance.now()). */
async function waitForOrthancCount(
  orthanc: UploadTarget,
  count: number,
  timeoutMs: number,
): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  let last = -1;
  for (;;) {
    last = await orthanc.countInstances();
    if (last >= count) return performance.now();
    if (performance.now() > deadline) {
      throw new Error(`Orthanc holds ${last} of ${count} instances after ${timeoutMs} ms`);
    }
    await delay(50);
  }
}

/** (d) curl vs the gateway uploading the series to Orthanc through nginx (TLS). */
async function partUpload(
  work: string,
  series: string[],
  seriesBytes: number,
  queuedDataDir: string | undefined,
  rows: Row[],
  notes: string[],
) {
  const n = series.length;
  const uploadTimeoutMs = 1_800_000;

  // curl: one pre-built multipart body, one request.
  const boundary = `dgw-bench-${crypto.randomUUID()}`;
  const body = `${work}/stow-body.bin`;
  await writeMultipartBody(series, body, boundary);
  let curlSeconds: number | undefined;
  {
    const orthanc = await startUploadTarget();
    try {
      const result = await runCommand("curl", [
        "-sS",
        "--fail-with-body",
        "--cacert",
        orthanc.caFile,
        "-u",
        `${orthanc.username}:${orthanc.password}`,
        "-X",
        "POST",
        "-T",
        body,
        "-H",
        `Content-Type: multipart/related; type="application/dicom"; boundary=${boundary}`,
        "-H",
        "Accept: application/dicom+json",
        "-H",
        "Expect:",
        "-o",
        "/dev/null",
        `${orthanc.dicomWebUrl}/studies`,
      ], { timeoutMs: uploadTimeoutMs });
      const held = await orthanc.countInstances();
      if (!result.success) throw new Error(`curl failed (exit ${result.code}): ${result.stderr}`);
      curlSeconds = result.durationMs / 1000;
      rows.push({
        scenario: "curl: one multipart POST → nginx (TLS, basic auth) → Orthanc STOW-RS",
        instances: n,
        bytes: seriesBytes,
        seconds: curlSeconds,
        note: held === n ? "" : `Orthanc holds ${held}`,
      });
    } catch (error) {
      rows.push({ scenario: "curl → Orthanc STOW-RS", note: `failed: ${(error as Error).message}` });
    } finally {
      await orthanc.stop();
      await Deno.remove(body);
    }
  }

  // The gateway, upload only: restarted on the data folder of the series run (everything queued,
  // nothing delivered, since that run had no destination), timed from spawn to all in Orthanc.
  if (queuedDataDir !== undefined) {
    const orthanc = await startUploadTarget();
    let gateway: GatewayProcess | undefined;
    const scenario = "gateway: queued series → nginx (TLS, basic auth) → Orthanc STOW-RS";
    try {
      const start = performance.now();
      const upload = uploadSettings(orthanc);
      gateway = await startGatewayProcess(queuedDataDir, upload.args, upload.env);
      const done = await waitForOrthancCount(orthanc, n, uploadTimeoutMs);
      const seconds = (done - start) / 1000;
      rows.push({
        scenario,
        instances: n,
        bytes: seriesBytes,
        seconds,
        cpuSeconds: await cpuSeconds(gateway.pid),
        peakRssKb: await gateway.peakRssKb(),
        note: `from process start${
          curlSeconds ? `; ${(seconds / curlSeconds).toFixed(2)}× curl's time` : ""
        }`,
      });
    } catch (error) {
      rows.push({ scenario, note: `failed: ${(error as Error).message}` });
      notes.push(`upload: ${(error as Error).message}`);
    } finally {
      await gateway?.stop();
      await orthanc.stop();
    }
  } else {
    notes.push("upload only: skipped (the series run left no queued data folder)");
  }

  // The gateway pipelined: storescu sends while the gateway uploads; lag after the last C-STORE.
  {
    const orthanc = await startUploadTarget();
    const dataDir = `${work}/gateway-pipelined`;
    let gateway: GatewayProcess | undefined;
    const scenario = "storescu → gateway → Orthanc, pipelined (receive + upload)";
    try {
      const upload = uploadSettings(orthanc);
      gateway = await startGatewayProcess(dataDir, upload.args, upload.env);
      const start = performance.now();
      const cpu0 = await cpuSeconds(gateway.pid);
      const sendSeconds = await timedStorescu(gateway.port, series, "DICOM_GATEWAY");
      const lastStore = performance.now();
      const done = await waitForOrthancCount(orthanc, n, uploadTimeoutMs);
      rows.push({
        scenario,
        instances: n,
        bytes: seriesBytes,
        seconds: (done - start) / 1000,
        cpuSeconds: await cpuUsed(gateway.pid, cpu0),
        peakRssKb: await gateway.peakRssKb(),
        note:
          `C-STOREs took ${sendSeconds.toFixed(1)} s; last instance in Orthanc ${
            ((done - lastStore) / 1000).toFixed(2)
          } s ` +
          `after the last C-STORE response`,
      });
    } catch (error) {
      rows.push({ scenario, note: `failed: ${(error as Error).message}` });
      notes.push(`pipelined upload: ${(error as Error).message}`);
    } finally {
      await gateway?.stop();
      await orthanc.stop();
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Report.
// ---------------------------------------------------------------------------------------------

function fmt(value: number | undefined, digits: number): string {
  return value === undefined || !Number.isFinite(value) ? "" : value.toFixed(digits);
}

function table(rows: Row[]): string {
  const lines = [
    "| Scenario | Instances | MB | Seconds | Instances/s | MB/s | Receiver CPU s | Peak RSS (MB) | Note |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
  ];
  for (const r of rows) {
    const mb = r.bytes === undefined ? undefined : r.bytes / 1e6;
    const rate = r.instances !== undefined && r.seconds ? r.instances / r.seconds : undefined;
    const mbps = mb !== undefined && r.seconds ? mb / r.seconds : undefined;
    const rss = r.peakRssKb === undefined ? undefined : r.peakRssKb / 1024;
    const note = (r.note ?? "").replaceAll("|", "\\|").replaceAll("\n", " ");
    const cells = [
      r.scenario,
      String(r.instances ?? ""),
      fmt(mb, 0),
      fmt(r.seconds, 2),
      fmt(rate, 1),
      fmt(mbps, 1),
    ];
    cells.push(fmt(r.cpuSeconds, 2), fmt(rss, 0), note);
    lines.push(`| ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}

function ratioLines(rows: Row[]): string[] {
  const find = (text: string) => rows.find((r) => r.scenario.includes(text) && r.seconds !== undefined);
  const rate = (r: Row | undefined) => r?.seconds && r.instances ? r.instances / r.seconds : undefined;
  const lines: string[] = [];
  const scp = rate(find("storescu → DCMTK storescp"));
  const gwFsync = rate(find("storescu → gateway (fsync on)"));
  const gwNoFsync = rate(find("storescu → gateway (fsync off)"));
  const gwConcurrent = rate(find("concurrent storescu → gateway"));
  const scpConcurrent = rate(find("concurrent storescu → storescp"));
  const ratio = (a: number, b: number) => (a / b).toFixed(2);
  if (scp && gwFsync) lines.push(`- Throughput gateway (fsync on) / storescp: **${ratio(gwFsync, scp)}×**`);
  if (scp && gwNoFsync) lines.push(`- Throughput gateway (fsync off) / storescp: ${ratio(gwNoFsync, scp)}×`);
  if (gwFsync && gwConcurrent) {
    lines.push(
      `- Gateway: aggregate rate of concurrent associations / one association: ${
        ratio(gwConcurrent, gwFsync)
      }×`,
    );
  }
  if (scp && scpConcurrent) {
    lines.push(
      `- storescp: aggregate rate of concurrent associations / one association: ${
        ratio(scpConcurrent, scp)
      }×`,
    );
  }
  const curl = find("curl");
  const gwUpload = find("gateway: queued series");
  if (curl?.seconds && gwUpload?.seconds) {
    lines.push(`- Upload time gateway / curl: **${ratio(gwUpload.seconds, curl.seconds)}×**`);
  }
  return lines;
}

async function versions(): Promise<string> {
  const dcmtk = (await runCommand("storescu", ["--version"])).stdout.match(/v(\d+\.\d+\.\d+)/)?.[1] ?? "?";
  const orthanc = (await runCommand("Orthanc", ["--version"]).catch(() => undefined))?.stdout.match(
    /Orthanc ([\d.]+)/,
  )?.[1];
  const cpus =
    (await Deno.readTextFile("/proc/cpuinfo").catch(() => "")).split("\n").filter((l) =>
      l.startsWith("processor")
    ).length;
  const memGb = Deno.systemMemoryInfo().total / 2 ** 30;
  return `Deno ${Deno.version.deno}, DCMTK ${dcmtk}${orthanc ? `, Orthanc ${orthanc}` : ""}; ${
    cpus || "?"
  } CPUs, ` +
    `${memGb.toFixed(0)} GiB RAM, loopback; ${new Date().toISOString().slice(0, 10)}`;
}

async function main(): Promise<number> {
  const options = parseOptions(Deno.args);
  launch.entry = options.gatewayEntry;
  launch.noCheck = options.noCheck;
  const needed = [
    "storescu",
    "storescp",
    "echoscu",
    ...(options.skipUpload ? [] : ["Orthanc", "nginx", "curl", "openssl"]),
  ];
  const tools = requireTools(...needed);
  if (!tools.ok) {
    console.error(
      `Cannot run the benchmark: missing ${
        tools.missing.join(", ")
      } (install dcmtk, orthanc, orthanc-dicomweb, nginx-light, curl)`,
    );
    return 2;
  }
  const work = await Deno.makeTempDir({ prefix: "dgw-bench-" });
  const rows: Row[] = [];
  const notes: string[] = [];
  try {
    console.error(`Working in ${work}`);
    const sourceDir = `${work}/series`;
    await Deno.mkdir(sourceDir);
    let start = performance.now();
    const series = await makeCtSeries(sourceDir, { count: options.count });
    const seriesBytes = await totalBytes(series);
    console.error(
      `Made ${series.length} CT slices (${(seriesBytes / 1e6).toFixed(0)} MB) in ${
        ((performance.now() - start) / 1000).toFixed(1)
      } s`,
    );

    console.error("Series over one association: storescp, gateway…");
    start = performance.now();
    await partSeries(work, series, seriesBytes, options.repeat, rows, notes);
    console.error(`  done in ${((performance.now() - start) / 1000).toFixed(1)} s`);

    if (options.largeMb > 0) {
      console.error(`Large instance (${options.largeMb} MiB)…`);
      await partLarge(work, options.largeMb, rows, notes);
    }

    console.error(`${options.associations} concurrent associations…`);
    await partConcurrent(work, series, seriesBytes, options.associations, rows, notes);

    if (!options.skipUpload) {
      console.error("Upload: curl, gateway (queued), gateway (pipelined)…");
      const queued = `${work}/gateway-series-fsync`;
      const queuedExists = await Deno.stat(queued).then(() => true, () => false);
      await partUpload(work, series, seriesBytes, queuedExists ? queued : undefined, rows, notes);
    }
  } finally {
    if (options.keep) console.error(`Kept ${work}`);
    else await Deno.remove(work, { recursive: true }).catch(() => {});
  }

  const report = [
    `### Benchmark (${await versions()})`,
    "",
    `Synthetic CT: ${options.count} slices of 512×512, 16 bit. DCMTK tools and Orthanc with TCP_NODELAY=1; ` +
    `storescp with +B and -pdu 131072; the gateway (\`deno run -A ${options.noCheck ? "--no-check " : ""}` +
    `${options.gatewayEntry}\`) with its defaults (fsync on unless stated). ` +
    `Peak RSS is VmHWM of the receiving process; Receiver CPU s is its user + system CPU time during the ` +
    `transfer (the queued upload: since process start). MB = 10^6 bytes. 2 cores are shared by sender and receiver.`,
    "",
    table(rows),
    "",
    ...ratioLines(rows),
    ...(notes.length ? ["", "Notes:", ...notes.map((n) => `- ${n.replaceAll("\n", " ")}`)] : []),
    "",
  ].join("\n");
  console.log(report);
  await Deno.mkdir(options.out, { recursive: true });
  await Deno.writeTextFile(`${options.out}/results.md`, report);
  console.error(`Written to ${options.out}/results.md`);
  return 0;
}

if (import.meta.main) Deno.exit(await main());
