/**
 * The benchmark (`deno task bench`): measures, in one run on this machine,
 * (a) a synthetic CT series (default 500 slices of 512×512, 16 bit, ~256 MB) sent by DCMTK
 *     `storescu` over loopback to DCMTK `storescp +B` and to the gateway (fsync on, and off);
 * (b) one large instance (default 1 GiB) sent to the gateway: its peak memory;
 * (c) 8 concurrent associations each sending 1/8 of the series: aggregate rate vs one;
 * (c2) lock-out: the series from 127.0.0.1 while 127.0.0.2 keeps 80 connections dribbling their
 *      A-ASSOCIATE-RQ and 32 associations stalled mid-PDU (lockout.ts), against the same without;
 * (d) the upload: the series uploaded by the gateway through nginx (TLS) to Orthanc's DICOMweb
 *     STOW-RS, against `curl` posting one pre-built multipart body of the same instances, and
 *     the lag from the last C-STORE response to the last instance present in Orthanc;
 * (e) verification: the pipelined upload with verify = "response" and "query": seconds from the
 *     last C-STORE to delivered and to verified, and the STOW-RS / QIDO-RS requests.
 * (f) compression (issue 11): the real images repeated into series, compressed losslessly by the
 *     uploader's worker pool (bytes, encoder speed), and the CT series over an emulated uplink
 *     (../shared/tools/wan) against curl (scripts/bench/compress.ts; runs alone too); then the
 *     gateway's peak memory uploading the large multi-frame instance with compression off and on
 *     (scripts/bench/compress_memory.ts; runs alone too).
 * It prints a Markdown table (also written to bench-out/results.md) and never asserts timings.
 *
 * This file is the runner: each scenario lives in scripts/bench/ (receive.ts, large_instance.ts,
 * receive_concurrent.ts, upload.ts, pipeline.ts, verify.ts), on the harness the tests use (scripts/harness/).
 *
 * Every DCMTK tool and Orthanc run with TCP_NODELAY=1 (they leave Nagle on otherwise and each
 * instance then costs ~40 ms). The gateway runs as a child process (`deno run -A main.ts …`);
 * if it cannot start, the reason is printed and the other parts still run.
 *
 * Flags: --count N (slices, default 500), --large-mb N (default 1024, 0 skips), --associations N
 * (default 8), --repeat N (runs of each single-association measurement, median shown; default 3),
 * --skip-upload, --skip-large, --keep (keep the temporary folder), --out DIR,
 * --gateway-entry FILE (default main.ts; scripts/bench_gateway.ts runs startGateway without the CLI),
 * --no-check (pass --no-check to `deno run` for the gateway), --only LIST (comma-separated scenarios
 * to run: receive, large, concurrent, lockout, upload, pipeline, verify, compression; default all), --lockout-retry-ms N (how
 * soon the misbehaving host of "lockout" reopens a closed connection; default 1000).
 * @module
 */
import { parseArgs } from "node:util";
import { makeCtSeries } from "./harness/data.ts";
import { totalBytes } from "./harness/process.ts";
import { requireTools } from "./harness/tools.ts";
import { setGatewayLaunch } from "./bench/gateway_process.ts";
import { benchLargeInstance } from "./bench/large_instance.ts";
import { benchLockout } from "./bench/lockout.ts";
import { benchPipeline } from "./bench/pipeline.ts";
import { benchVerify } from "./bench/verify.ts";
import { benchReceive } from "./bench/receive.ts";
import { benchReceiveConcurrent } from "./bench/receive_concurrent.ts";
import { type BenchContext, ratioLines, type Row, table, versions } from "./bench/report.ts";
import { benchUpload } from "./bench/upload.ts";
import { benchCompression } from "./bench/compress.ts";
import { benchCompressionMemory } from "./bench/compress_memory.ts";

/** The scenarios, in the order they run (`--only` picks some). */
const SCENARIOS = [
  "receive",
  "large",
  "concurrent",
  "lockout",
  "upload",
  "pipeline",
  "verify",
  "compression",
] as const;
type Scenario = typeof SCENARIOS[number];

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
  /** Scenarios to run. */
  only: ReadonlySet<Scenario>;
  /** Lock-out: how soon the misbehaving host reopens a connection the gateway closed. */
  lockoutRetryMs: number;
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
      only: { type: "string", default: SCENARIOS.join(",") },
      "lockout-retry-ms": { type: "string", default: "1000" },
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
  if (!Number.isInteger(Number(values["lockout-retry-ms"])) || Number(values["lockout-retry-ms"]) < 0) {
    throw new Error(`--lockout-retry-ms must be an integer ≥ 0, got ${values["lockout-retry-ms"]}`);
  }
  const only = new Set<Scenario>();
  for (const name of values.only.split(",").map((s) => s.trim()).filter(Boolean)) {
    if (!(SCENARIOS as readonly string[]).includes(name)) {
      throw new Error(`--only: unknown scenario "${name}" (known: ${SCENARIOS.join(", ")})`);
    }
    only.add(name as Scenario);
  }
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
    only,
    lockoutRetryMs: Number(values["lockout-retry-ms"]),
  };
}

async function main(): Promise<number> {
  const options = parseOptions(Deno.args);
  setGatewayLaunch(options.gatewayEntry, options.noCheck);
  const uploading = !options.skipUpload && (options.only.has("upload") || options.only.has("pipeline"));
  const needed = [
    "storescu",
    "storescp",
    "echoscu",
    ...(uploading ? ["Orthanc", "nginx", "curl", "openssl"] : []),
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
  let compressionReport = "";
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

    const context: BenchContext = { work, series, seriesBytes, rows, notes };

    if (options.only.has("receive")) {
      console.error("Series over one association: storescp, gateway…");
      start = performance.now();
      await benchReceive(context, { repeat: options.repeat });
      console.error(`  done in ${((performance.now() - start) / 1000).toFixed(1)} s`);
    }

    if (options.largeMb > 0 && options.only.has("large")) {
      console.error(`Large instance (${options.largeMb} MiB)…`);
      await benchLargeInstance(context, { largeMb: options.largeMb, repeat: options.repeat });
    }

    if (options.only.has("concurrent")) {
      console.error(`${options.associations} concurrent associations…`);
      await benchReceiveConcurrent(context, { associations: options.associations });
    }

    if (options.only.has("lockout")) {
      console.error("Lock-out: a modality on 127.0.0.1 while 127.0.0.2 misbehaves…");
      await benchLockout(context, { retryMs: options.lockoutRetryMs });
    }

    if (uploading) {
      console.error("Upload: curl, gateway (queued), gateway (pipelined)…");
      if (options.only.has("upload")) {
        const queued = `${work}/gateway-series-fsync`;
        const queuedExists = await Deno.stat(queued).then(() => true, () => false);
        await benchUpload(context, { queuedDataDir: queuedExists ? queued : undefined });
      }
      if (options.only.has("pipeline")) await benchPipeline(context);
      if (options.only.has("verify")) {
        console.error('Verification: pipelined with verify = "response", then "query"…');
        await benchVerify(context);
      }
    }

    if (options.only.has("compression") && !options.skipUpload) {
      console.error("Compression: real images, bytes and encoder speed; the emulated uplink…");
      const dir = `${work}/compression`;
      await Deno.mkdir(dir);
      compressionReport = await benchCompression({
        work: dir,
        ct: options.count,
        mr: 100,
        us: 100,
        wan: true,
      });
      if (options.largeMb > 0) {
        // Issue 11's memory target: the large multi-frame instance uploaded with compression off and on.
        const memoryDir = `${work}/compression-memory`;
        await Deno.mkdir(memoryDir);
        compressionReport += "\n\n" + await benchCompressionMemory({ work: memoryDir, mb: options.largeMb });
      }
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
    ...(compressionReport === "" ? [] : ["", compressionReport]),
    "",
  ].join("\n");
  console.log(report);
  await Deno.mkdir(options.out, { recursive: true });
  await Deno.writeTextFile(`${options.out}/results.md`, report);
  console.error(`Written to ${options.out}/results.md`);
  return 0;
}

if (import.meta.main) Deno.exit(await main());
