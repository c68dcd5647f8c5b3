/**
 * The benchmark's results: one row per measurement, the Markdown table, the ratios the README
 * quotes, and what every scenario is handed.
 * @module
 */
import { runCommand } from "../harness/process.ts";

/** One line of the results table. */
export interface Row {
  scenario: string;
  instances?: number;
  bytes?: number;
  seconds?: number;
  peakRssKb?: number | undefined;
  /** CPU seconds (user + system) the receiving process used during the transfer. */
  cpuSeconds?: number | undefined;
  note?: string;
}

/** What every scenario gets: the work folder, the CT series, and where its results go. */
export interface BenchContext {
  /** Temporary folder of this run; scenarios make and remove their own folders in it. */
  work: string;
  /** The synthetic CT series (Part 10 files). */
  series: string[];
  seriesBytes: number;
  /** Rows of the results table, in the order measured. */
  rows: Row[];
  /** Problems worth a line under the table. */
  notes: string[];
}

/** One timed transfer: wall seconds, receiver CPU seconds, receiver peak RSS, and a problem if any. */
export interface Run {
  seconds: number;
  cpu: number | undefined;
  peak: number | undefined;
  problem: string;
}

/** Median-time run of `runs` (they are sorted by time), with the spread and any problems in a note. */
export function summarize(scenario: string, runs: Run[], instances: number, bytes: number): Row {
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

function fmt(value: number | undefined, digits: number): string {
  return value === undefined || !Number.isFinite(value) ? "" : value.toFixed(digits);
}

/** The results as a Markdown table. */
export function table(rows: Row[]): string {
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

/** The ratios the README quotes: gateway against storescp, gateway against curl, concurrency. */
export function ratioLines(rows: Row[]): string[] {
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
  const scpSync = rate(find("storescp +B, then one sync"));
  const gwResent = rate(find("re-sent study"));
  if (scpSync && gwFsync) {
    lines.push(`- Throughput gateway (fsync on) / (storescp + one sync): **${ratio(gwFsync, scpSync)}×**`);
  }
  const floor = find("durability floor");
  const scpRow = find("storescu → DCMTK storescp");
  const scpSyncRow = find("storescp +B, then one sync");
  if (floor?.seconds && scpRow?.seconds && scpSyncRow?.seconds) {
    // A receiver answering each C-STORE after its instance is durable needs at least storescp's
    // transfer time plus the floor: the best ratio against storescp + one sync it can reach.
    lines.push(
      `- Best ratio any receiver can reach that makes each instance durable before answering it (storescp's time + the durability floor, against storescp + one sync): ${
        ratio(scpSyncRow.seconds, scpRow.seconds + floor.seconds)
      }×`,
    );
  }
  if (scpSync && gwResent) {
    lines.push(
      `- Throughput gateway (fsync on), re-sent study / (storescp + one sync): ${ratio(gwResent, scpSync)}×`,
    );
  }
  const large = find("GiB instance → gateway");
  const largeScp = find("GiB instance → storescp");
  if (large?.seconds && large.bytes && largeScp?.seconds) {
    lines.push(
      `- Large instance: gateway ${(large.bytes / 1e6 / large.seconds).toFixed(0)} MB/s, storescp ${
        (largeScp.bytes! / 1e6 / largeScp.seconds).toFixed(0)
      } MB/s`,
    );
  }
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

/** The versions and machine the run was on, for the table heading. */
export async function versions(): Promise<string> {
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
