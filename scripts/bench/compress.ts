/**
 * Scenario "compression" (issue 11): the real images (../shared/testdata/real-images: CT 512²,
 * MR 384², ultrasound RGB), each repeated into a series with new UIDs (500 CT slices), compressed
 * by the uploader's worker pool: bytes sent against the stored bytes, and the encoder's speed on
 * one worker (encode + decode-and-compare). Then the CT series over an emulated clinic uplink
 * (../shared/tools/wan: two network namespaces joined by a rate + delay emulator), Orthanc + nginx
 * (TLS) on the far side: the time to deliver compressed against `curl` POSTing the same study
 * uncompressed at 20 Mbit/s 40 ms, and at 100 Mbit/s 20 ms the link utilisation (bytes on the
 * link / rate × time) of the uploader compressed and uncompressed.
 *
 *   deno run -A scripts/bench/compress.ts [--ct N] [--mr N] [--us N] [--no-wan] [--out DIR]
 *
 * Also run by `deno task bench --only compression`. Prints Markdown; never asserts timings.
 * The namespaces get names of their own (cmpC, cmpS), so other users of the wan tool are left alone.
 * @module
 */
import { queueFile } from "../harness/queue.ts";
import { parseArgs } from "node:util";
import { runCommand, spawnChild } from "../harness/process.ts";
import { QueueIndex } from "../../src/store/queue_index.ts";
import { createCompressor } from "../../src/upload/compress/compressor.ts";

const REAL_IMAGES = "/work/shared/testdata/real-images";
const WAN_TOOL = "/work/shared/tools/wan/net.sh";
const PEER = new URL("./compress_peer.ts", import.meta.url).pathname;
const MB = 1e6;

/** Copies `source` into `count` instances of one new series (dcmodify: new study, series, SOP UIDs). */
export async function repeatedSeries(source: string, dir: string, count: number): Promise<string[]> {
  await Deno.mkdir(dir, { recursive: true });
  const base = `${dir}/base.dcm`;
  await Deno.copyFile(source, base);
  await run("dcmodify", ["-nb", "-q", "-gst", "-gse", "-gin", base]);
  const files: string[] = [];
  for (let i = 0; i < count; i++) {
    const file = `${dir}/${String(i).padStart(4, "0")}.dcm`;
    await Deno.copyFile(base, file);
    files.push(file);
  }
  // A new SOP Instance UID for each (also written to the meta header).
  for (let i = 0; i < files.length; i += 100) {
    await run("dcmodify", ["-nb", "-q", "-gin", ...files.slice(i, i + 100)]);
  }
  await Deno.remove(base);
  return files;
}

async function run(command: string, args: string[]): Promise<string> {
  const result = await runCommand(command, args);
  if (!result.success) throw new Error(`${command} ${args.slice(0, 4).join(" ")}… failed: ${result.stderr}`);
  return result.stdout;
}

interface RatioRow {
  name: string;
  instances: number;
  fileBytes: number;
  sentBytes: number;
  pixelBytes: number;
  seconds: number;
  originals: number;
}

/** Compresses every file with one worker; the bytes and the time. */
async function measureRatio(name: string, files: string[]): Promise<RatioRow> {
  const compressor = createCompressor({ workers: 1 });
  try {
    // Warm the worker (WASM instantiation) outside the measurement.
    const warm = await compressor.prepare(files[0]!, { syntax: "jpeg-ls" });
    if (warm.kind === "compressed") await warm.close();
    const row: RatioRow = {
      name,
      instances: files.length,
      fileBytes: 0,
      sentBytes: 0,
      pixelBytes: 0,
      seconds: 0,
      originals: 0,
    };
    const started = performance.now();
    let next = 0;
    const lane = async () => {
      while (next < files.length) {
        const file = files[next++]!;
        const size = (await Deno.stat(file)).size;
        const out = await compressor.prepare(file, { syntax: "jpeg-ls" });
        row.fileBytes += size;
        if (out.kind === "compressed") {
          row.sentBytes += out.size;
          row.pixelBytes += out.stats.pixelBytes;
          await out.close();
        } else {
          row.sentBytes += size;
          row.originals++;
        }
      }
    };
    await Promise.all([lane(), lane()]);
    row.seconds = (performance.now() - started) / 1000;
    return row;
  } finally {
    compressor.close();
  }
}

/** A data folder holding `files` queued as the receiver would, kept as a template index. */
export async function queuedDataDir(files: string[], dir: string): Promise<void> {
  await Deno.mkdir(`${dir}/instances`, { recursive: true });
  const index = QueueIndex.open(`${dir}/queue-template.sqlite`);
  const boundary = `dgw-bench-${crypto.randomUUID()}`;
  const body = await Deno.open(`${dir}/stow-body.bin`, { write: true, create: true, truncate: true });
  const encoder = new TextEncoder();
  const write = async (bytes: Uint8Array) => {
    let n = 0;
    while (n < bytes.length) n += await body.write(bytes.subarray(n));
  };
  try {
    for (const [i, file] of files.entries()) {
      await queueFile(index, dir, file, {
        relativePath: `instances/${i}.dcm`,
        callingAeTitle: "BENCH",
        receivedAt: Date.now() + i,
      });
      // curl's body: the same instances uncompressed, one request (PS3.18 §10.5).
      await write(encoder.encode(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`));
      await write(await Deno.readFile(file));
      await write(encoder.encode("\r\n"));
    }
    await write(encoder.encode(`--${boundary}--\r\n`));
  } finally {
    body.close();
    index.close();
  }
  await Deno.writeTextFile(`${dir}/stow-body.boundary`, boundary);
}

export interface WanRun {
  link: string;
  rateMbit: number;
  sender: string;
  seconds: number;
  sent: number;
  utilisation: number;
  /** Instances delivered compressed, and as received because the encoder was behind. */
  compressed: number | null;
  behind: number | null;
  /** 1-minute load average right after the run (the machine is shared). */
  load: string;
}

/** The wan tool with namespaces of our own (cmpC/cmpS) and its own state folder. */
async function wanScript(work: string): Promise<{ script: string; env: Record<string, string> }> {
  const text = await Deno.readTextFile(WAN_TOOL);
  const script = `${work}/net.sh`;
  await Deno.writeTextFile(
    script,
    text.replace("NC=wanC NS=wanS", "NC=cmpC NS=cmpS").replace(
      'W=$(cd "$(dirname "$0")" && pwd)',
      "W=/work/shared/tools/wan",
    ),
  );
  return { script, env: { ...Deno.env.toObject(), WAN_STATE: `${work}/wan-state` } };
}

export async function wanRuns(
  dataDir: string,
  work: string,
  plans: [number, number, string[]][] = [
    [20, 40, ["curl", "jpeg-ls", "jpeg-ls:2", "jpeg-ls:wait"]],
    [100, 20, ["curl", "none", "jpeg-ls", "jpeg-ls:2", "jpeg-ls:wait"]],
  ],
): Promise<WanRun[]> {
  const wan = await wanScript(work);
  const net = async (...args: string[]) => {
    const r = await runCommand("bash", [wan.script, ...args], { env: wan.env });
    if (!r.success) throw new Error(`net.sh ${args.join(" ")}: ${r.stderr}${r.stdout}`);
  };
  const runs: WanRun[] = [];
  await net("up");
  try {
    for (const [rate, rtt, senders] of plans) {
      await net("link", String(rate), String(rtt));
      for (const sender of senders) {
        const stateFile = `${work}/archive-${rate}-${sender}.json`;
        const archive = spawnChild("ip", [
          "netns",
          "exec",
          "cmpS",
          Deno.execPath(),
          "run",
          "-A",
          PEER,
          "archive",
          stateFile,
        ], {
          env: { ...Deno.env.toObject(), TCP_NODELAY: "1" },
        });
        try {
          const deadline = Date.now() + 60_000;
          while (!(await Deno.stat(stateFile).then(() => true, () => false))) {
            if (archive.exited() || Date.now() > deadline) {
              throw new Error(`archive did not start:\n${archive.output()}`);
            }
            await new Promise((r) => setTimeout(r, 100));
          }
          console.error(`  ${rate} Mbit/s ${rtt} ms: ${sender}…`);
          const result = await runCommand("ip", [
            "netns",
            "exec",
            "cmpC",
            Deno.execPath(),
            "run",
            "-A",
            PEER,
            "client",
            stateFile,
            sender,
            dataDir,
          ], { timeoutMs: 1_800_000 });
          if (!result.success) throw new Error(`client ${sender}: ${result.stderr}`);
          const line = result.stdout.trim().split("\n").at(-1)!;
          const { seconds, sent, record } = JSON.parse(line) as {
            seconds: number;
            sent: number;
            record: { compressed: number; original: Record<string, number> } | null;
          };
          const workers = sender.split(":").find((p) => /^\d+$/.test(p));
          runs.push({
            link: `${rate} Mbit/s, ${rtt} ms`,
            rateMbit: rate,
            sender: sender === "curl"
              ? "curl, uncompressed, 1 request"
              : sender === "none"
              ? "gateway, uncompressed"
              : `gateway, JPEG-LS, ${workers === undefined ? "default workers" : `${workers} workers`}${
                sender.endsWith(":wait") ? ", compression_adaptive = false" : ""
              }`,
            seconds,
            sent,
            utilisation: (sent * 8) / (rate * 1e6 * seconds),
            compressed: record?.compressed ?? null,
            behind: record?.original["encoder-behind"] ?? (record === null ? null : 0),
            load: (await Deno.readTextFile("/proc/loadavg")).split(" ")[0]!,
          });
        } finally {
          await archive.stop();
        }
      }
    }
  } finally {
    await net("down").catch(() => {});
  }
  return runs;
}

/** Runs the scenario; returns the Markdown report. */
export async function benchCompression(options: {
  work: string;
  ct: number;
  mr: number;
  us: number;
  wan: boolean;
}): Promise<string> {
  const { work } = options;
  const cores = navigator.hardwareConcurrency;
  const sets: [string, string, number][] = [
    ["CT 512² 16-bit (CT_512_Hitachi_head)", "CT_512_Hitachi_head.dcm", options.ct],
    ["MR 384² (MR_384_Siemens_brain_MIP)", "MR_384_Siemens_brain_MIP.dcm", options.mr],
    ["US 320×240 RGB (US_320x240_GE_rgb)", "US_320x240_GE_rgb.dcm", options.us],
  ];
  const ratios: RatioRow[] = [];
  let ctFiles: string[] = [];
  for (const [name, file, count] of sets) {
    if (count <= 0) continue;
    console.error(`Series ${name} × ${count}…`);
    const files = await repeatedSeries(`${REAL_IMAGES}/${file}`, `${work}/${file}.series`, count);
    if (file.startsWith("CT_512")) ctFiles = files;
    ratios.push(await measureRatio(name, files));
  }
  const lines = [
    `### Compression (issue 11; one run, ${cores} cores shared with other work, load ${
      (await Deno.readTextFile("/proc/loadavg")).split(" ")[0]
    } at the end)`,
    "",
    "| series | instances | stored MB | sent MB (JPEG-LS) | fewer bytes | encoder MB/s, 1 worker (encode + decode-and-compare) | sent as received |",
    "|---|---|---|---|---|---|---|",
    ...ratios.map((r) =>
      `| ${r.name} | ${r.instances} | ${(r.fileBytes / MB).toFixed(1)} | ${(r.sentBytes / MB).toFixed(1)} | ${
        (r.fileBytes / r.sentBytes).toFixed(2)
      }× | ${(r.pixelBytes / MB / r.seconds).toFixed(1)} | ${r.originals} |`
    ),
  ];
  if (options.wan && ctFiles.length > 0) {
    const dataDir = `${work}/wan-data`;
    await queuedDataDir(ctFiles, dataDir);
    try {
      const runs = await wanRuns(dataDir, work);
      const curl20 = runs.find((r) => r.rateMbit === 20 && r.sender.startsWith("curl"));
      const plain100 = runs.find((r) => r.rateMbit === 100 && r.sender === "gateway, uncompressed");
      lines.push(
        "",
        `CT series (${ctFiles.length} instances) over the emulated uplink (wan tool: userspace rate + delay emulator, CUBIC), ` +
          "nginx (TLS) → Orthanc DICOMweb on the far side; the gateway with its defaults (4 requests in flight, " +
          `compression workers = cores − 1 = ${
            Math.max(1, cores - 1)
          }). Bytes on the link: tunC transmit counter (TCP/IP and TLS included).`,
        "",
        "| link | sender | seconds | MB on the link | link utilisation | vs curl | compressed / encoder behind | load |",
        "|---|---|---|---|---|---|---|---|",
        ...runs.map((r) => {
          const curl = runs.find((c) => c.rateMbit === r.rateMbit && c.sender.startsWith("curl"));
          return `| ${r.link} | ${r.sender} | ${r.seconds.toFixed(1)} | ${(r.sent / MB).toFixed(1)} | ${
            (100 * r.utilisation).toFixed(1)
          } % | ${curl === undefined ? "" : `${(r.seconds / curl.seconds).toFixed(2)}×`} | ${
            r.compressed === null ? "" : `${r.compressed} / ${r.behind}`
          } | ${r.load} |`;
        }),
      );
      const jls20 = runs.find((r) => r.rateMbit === 20 && r.sender === "gateway, JPEG-LS, default workers");
      const jls100 = runs.find((r) => r.rateMbit === 100 && r.sender === "gateway, JPEG-LS, default workers");
      if (curl20 && jls20) {
        lines.push(
          "",
          `At 20 Mbit/s: JPEG-LS delivery takes ${
            (jls20.seconds / curl20.seconds).toFixed(2)
          }× curl's time (target ≤ 0.3×).`,
        );
      }
      if (plain100 && jls100) {
        lines.push(
          `At 100 Mbit/s: utilisation ${(100 * jls100.utilisation).toFixed(1)} % compressed against ${
            (100 * plain100.utilisation).toFixed(1)
          } % uncompressed (target: within 5 %).`,
        );
      }
    } catch (error) {
      lines.push("", `The emulated uplink could not run: ${(error as Error).message}`);
    }
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      ct: { type: "string", default: "500" },
      mr: { type: "string", default: "100" },
      us: { type: "string", default: "100" },
      "no-wan": { type: "boolean", default: false },
      out: { type: "string", default: "bench-out" },
      keep: { type: "boolean", default: false },
    },
  });
  const work = await Deno.makeTempDir({ prefix: "dgw-bench-compress-" });
  try {
    const report = await benchCompression({
      work,
      ct: Number(values.ct),
      mr: Number(values.mr),
      us: Number(values.us),
      wan: !values["no-wan"],
    });
    console.log(report);
    await Deno.mkdir(values.out, { recursive: true });
    await Deno.writeTextFile(`${values.out}/compression.md`, report + "\n");
  } finally {
    if (!values.keep) await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}
