import { assert, assertEquals, assertStringIncludes, tempDir } from "./helpers.ts";
import type { LogLevel, LogRecord } from "@logtape/logtape";
import {
  deleteOldLogs,
  formatConsoleLine,
  formatFileLine,
  LOG_FILE_NAME,
  redactPatient,
  setupLogging,
  shutdownLogging,
} from "../../src/log_setup.ts";
import { logger } from "../../src/log.ts";
import { joinPath } from "../../src/platform/fs.ts";

function record(level: LogLevel, message: unknown[]): LogRecord {
  const raw = message.filter((_, i) => i % 2 === 0).join("{}");
  return {
    category: ["gateway", "ul"],
    level,
    message,
    rawMessage: raw,
    timestamp: Date.now(),
    properties: {},
  };
}

Deno.test("console lines: local time, two spaces, the message in plain words", () => {
  const line = formatConsoleLine(
    record("info", ["Association from ", "CT_SCANNER", " (", "192.168.1.20", ") accepted"]),
  );
  assert(
    /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d {2}Association from CT_SCANNER \(192\.168\.1\.20\) accepted$/.test(line),
    line,
  );
  const warn = formatConsoleLine(
    record("warning", ["Central server unreachable: ", new Error("connection refused")]),
  );
  assert(/^\S+ \S+ {2}WARNING {2}Central server unreachable: connection refused$/.test(warn), warn);
  assert(formatConsoleLine(record("error", ["x"])).includes("  ERROR  x"));
});

Deno.test("values with line breaks cannot forge log lines", () => {
  const line = formatConsoleLine(record("info", ["Study from ", "EVIL\n2026-01-01 00:00:00  Fake line", ""]));
  assertEquals(line.split("\n").length, 1);
  assertStringIncludes(formatFileLine(record("info", ["x ", "a\r\nb", ""])), "x a??b");
});

Deno.test("file lines carry offset, level, part of the gateway and error stacks", () => {
  const err = new Error("boom");
  const line = formatFileLine(record("error", ["Upload failed: ", err, ""]));
  assert(
    /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d ERROR {3}ul: Upload failed: boom\n/.test(line),
    line,
  );
  assertStringIncludes(line, "    Error: boom");
  assert(line.endsWith("\n"));
});

Deno.test("redactPatient hides names unless enabled", () => {
  assertEquals(redactPatient("DOE^JOHN", false), "(hidden)");
  assertEquals(redactPatient("DOE^JOHN", true), "DOE^JOHN");
  assertEquals(redactPatient("DOE\nJOHN ", true), "DOE?JOHN");
  assertEquals(redactPatient("", false), "");
  assertEquals(redactPatient("  ", true), "");
});

Deno.test("setupLogging writes the console and a rotating log file", async () => {
  const dir = await tempDir("dg-logs-");
  const lines: [string, LogLevel][] = [];
  await setupLogging({
    logDir: dir,
    retentionDays: 30,
    maxFileBytes: 400,
    maxFiles: 5,
    writeConsole: (line, level) => lines.push([line, level]),
  });
  try {
    const log = logger("ul");
    log.debug("not shown at info level");
    log.info("Association from {ae} ({ip}) accepted", { ae: "CT_SCANNER", ip: "192.168.1.20" });
    log.warning("Central server unreachable");
    // The file sink flushes in the background about once a second; rotation happens at a flush.
    for (let batch = 0; batch < 3; batch++) {
      for (let i = 0; i < 7; i++) {
        log.info("Study {n} received: {count} instances", { n: batch * 7 + i, count: 120 });
      }
      await new Promise((r) => setTimeout(r, 1200));
    }
  } finally {
    await shutdownLogging();
  }
  assertEquals(lines.length, 23);
  assert(lines[0]![0].endsWith("  Association from CT_SCANNER (192.168.1.20) accepted"), lines[0]![0]);
  assertEquals(lines[1]![1], "warning");
  const names = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  names.sort();
  assert(names.length >= 3, `expected rotated files, got ${names.join(", ")}`);
  assertEquals(names.slice(0, 3), [LOG_FILE_NAME, `${LOG_FILE_NAME}.1`, `${LOG_FILE_NAME}.2`]);
  let all = "";
  for (const n of [...names].reverse()) all += await Deno.readTextFile(joinPath(dir, n));
  assert(!all.includes("not shown"));
  const studies = all.split("\n").filter((l) => l.includes("INFO    ul: Study"));
  assertEquals(studies.length, 21, "every line is in exactly one file, oldest file first");
  assertStringIncludes(studies[0]!, "Study 0 received");
  assertStringIncludes(studies[20]!, "Study 20 received");
});

Deno.test("quiet logging writes only the file; an unwritable folder falls back to the console", async () => {
  const dir = await tempDir("dg-logs-");
  const lines: string[] = [];
  await setupLogging({ logDir: dir, retentionDays: 0, quiet: true, writeConsole: (l) => lines.push(l) });
  logger("store").info("Stored {n}", { n: 1 });
  await shutdownLogging();
  assertEquals(lines, []);
  assertStringIncludes(await Deno.readTextFile(joinPath(dir, LOG_FILE_NAME)), "store: Stored 1");

  const file = joinPath(dir, "not-a-folder");
  await Deno.writeTextFile(file, "");
  await setupLogging({
    logDir: joinPath(file, "logs"),
    retentionDays: 30,
    writeConsole: (l) => lines.push(l),
  });
  logger("ul").info("still logging");
  await shutdownLogging();
  assertEquals(lines.length, 2);
  assertStringIncludes(lines[0]!, "WARNING  Log files cannot be written");
  assertStringIncludes(lines[1]!, "still logging");
});

Deno.test("deleteOldLogs deletes rotated files older than the retention period, never the current one", async () => {
  const dir = await tempDir("dg-logs-");
  const now = Date.now();
  const day = 24 * 60 * 60 * 1000;
  const files: [string, number][] = [
    [LOG_FILE_NAME, 90],
    [`${LOG_FILE_NAME}.1`, 1],
    [`${LOG_FILE_NAME}.2`, 29],
    [`${LOG_FILE_NAME}.3`, 31],
    [`${LOG_FILE_NAME}.4`, 400],
    ["notes.txt", 400],
  ];
  for (const [name, ageDays] of files) {
    const path = joinPath(dir, name);
    await Deno.writeTextFile(path, "x\n");
    const t = new Date(now - ageDays * day);
    await Deno.utime(path, t, t);
  }
  assertEquals(await deleteOldLogs(dir, 30, now), [`${LOG_FILE_NAME}.3`, `${LOG_FILE_NAME}.4`]);
  const left = [];
  for await (const e of Deno.readDir(dir)) left.push(e.name);
  assertEquals(left.sort(), [LOG_FILE_NAME, `${LOG_FILE_NAME}.1`, `${LOG_FILE_NAME}.2`, "notes.txt"]);
  assertEquals(await deleteOldLogs(dir, 0, now), []);
});
