/**
 * Issue 11's memory target, "a 1 GiB multi-frame adds under 150 MB" with compression on: the
 * gateway (`main.ts`, its own process) uploads one large multi-frame instance
 * (`makeLargeInstance`, 512² 16-bit frames) from its queue to a STOW-RS sink in this process,
 * once with `upload.compression = "none"` and once with `"jpeg-ls"`; the gateway's peak resident
 * memory (VmHWM) of each run, and the difference.
 *
 *   deno run -A scripts/bench/compress_memory.ts [--mb 1024] [--out DIR]
 *
 * Prints Markdown; never asserts. The sink reads every body to the end (counting bytes) and answers
 * a Store Instances Response listing the instance.
 * @module
 */
import { parseArgs } from "node:util";
import { makeLargeInstance } from "../harness/data.ts";
import { queueFile } from "../harness/queue.ts";
import { QueueIndex } from "../../src/store/queue_index.ts";
import { startGatewayProcess } from "./gateway_process.ts";

interface MemoryRun {
  compression: string;
  peakMb: number | undefined;
  seconds: number;
  bodyBytes: number;
  partType: string;
  load: string;
}

async function loadAverage(): Promise<string> {
  return (await Deno.readTextFile("/proc/loadavg")).split(" ")[0]!;
}

/** A STOW-RS sink: reads the body, remembers its size and first part's Content-Type, lists `uid`. */
function startSink(sopClassUid: string, sopInstanceUid: string) {
  const seen: { bytes: number; partType: string }[] = [];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, async (request) => {
    let bytes = 0;
    let head = "";
    const reader = request.body!.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (head.length < 512) head += new TextDecoder("latin1").decode(value.subarray(0, 512));
      bytes += value.length;
    }
    const partType = /Content-Type: ([^\r\n]*)/i.exec(head)?.[1] ?? "";
    seen.push({ bytes, partType });
    return Response.json({
      "00081198": { vr: "SQ" },
      "00081199": {
        vr: "SQ",
        Value: [{
          "00081150": { vr: "UI", Value: [sopClassUid] },
          "00081155": { vr: "UI", Value: [sopInstanceUid] },
        }],
      },
    }, { headers: { "content-type": "application/dicom+json" } });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/dicom-web`,
    seen,
    close: () => server.shutdown(),
  };
}

/** One run: the gateway uploads the queued instance with `compression`; its peak memory. */
async function run(work: string, source: string, compression: string): Promise<MemoryRun> {
  const dataDir = `${work}/gateway-${compression}`;
  await Deno.mkdir(dataDir, { recursive: true });
  const index = QueueIndex.open(`${dataDir}/queue.sqlite`);
  const attributes = await queueFile(index, dataDir, source, { relativePath: "instances/large.dcm" });
  index.close();
  const sink = startSink(attributes.sopClassUid, attributes.sopInstanceUid);
  const gateway = await startGatewayProcess(dataDir, [
    "--upload-url",
    sink.url,
    "--upload-compression",
    compression,
    "--upload-verify",
    "response",
  ]);
  try {
    const started = performance.now();
    const deadline = Date.now() + 900_000;
    while (sink.seen.length === 0) {
      if (Date.now() > deadline) throw new Error(`no upload within 15 min (${compression})`);
      if (gateway.child.exited()) throw new Error(`the gateway exited: ${gateway.child.output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const seconds = (performance.now() - started) / 1000;
    const peak = await gateway.peakRssKb();
    const last = sink.seen.at(-1)!;
    return {
      compression,
      peakMb: peak === undefined ? undefined : peak * 1024 / 1e6,
      seconds,
      bodyBytes: last.bytes,
      partType: last.partType,
      load: await loadAverage(),
    };
  } finally {
    await gateway.stop();
    await sink.close();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
}

/** Runs the scenario; returns the Markdown report. */
export async function benchCompressionMemory(options: { work: string; mb: number }): Promise<string> {
  const source = await makeLargeInstance(options.work, { bytes: options.mb * 1024 * 1024 });
  const size = (await Deno.stat(source)).size;
  const runs: MemoryRun[] = [];
  for (const compression of ["none", "jpeg-ls"]) {
    console.error(`  ${(size / 2 ** 30).toFixed(2)} GiB multi-frame, compression ${compression}…`);
    runs.push(await run(options.work, source, compression));
  }
  const [off, on] = runs;
  const lines = [
    `### Compression memory (issue 11): one ${(size / 2 ** 30).toFixed(2)} GiB multi-frame instance (${
      Math.round(size / (512 * 512 * 2))
    } frames of 512² 16-bit) uploaded by the gateway`,
    "",
    "| compression | gateway peak RSS (VmHWM) MB | seconds to the end of the body | body MB | part Content-Type | load |",
    "|---|---|---|---|---|---|",
    ...runs.map((r) =>
      `| ${r.compression} | ${r.peakMb?.toFixed(0) ?? "?"} | ${r.seconds.toFixed(1)} | ${
        (r.bodyBytes / 1e6).toFixed(1)
      } | ${r.partType} | ${r.load} |`
    ),
  ];
  if (off?.peakMb !== undefined && on?.peakMb !== undefined) {
    lines.push(
      "",
      `Compression adds ${(on.peakMb - off.peakMb).toFixed(0)} MB of peak memory (target: under 150 MB).`,
    );
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      mb: { type: "string", default: "1024" },
      out: { type: "string", default: "bench-out" },
    },
  });
  const work = await Deno.makeTempDir({ prefix: "dgw-bench-compress-memory-" });
  try {
    const report = await benchCompressionMemory({ work, mb: Number(values.mb) });
    console.log(report);
    await Deno.mkdir(values.out, { recursive: true });
    await Deno.writeTextFile(`${values.out}/compression-memory.md`, report + "\n");
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}
