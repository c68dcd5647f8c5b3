/**
 * Logging set-up for the running gateway (called once by the CLI): a console sink with one
 * readable line per event for the window clinic staff look at, and a size-rotating file sink
 * (`@logtape/file`) in the log folder, with files older than the retention period deleted at
 * start-up and once a day. Library code only calls `logger(...)` from `src/log.ts`.
 *
 * Patient names stay out of the logs by default: log UIDs, AE titles and counts, and pass any
 * name through {@link redactPatient}.
 * @module
 */
import { configure, dispose, type LogLevel, type LogRecord, type Sink, withFilter } from "@logtape/logtape";
import { getRotatingFileSink } from "@logtape/file";
import { joinPath } from "./platform/fs.ts";

/** Name of the current log file; rotated files get `.1`, `.2` … (`.1` is the newest). */
export const LOG_FILE_NAME = "dicom-gateway.log";
/** A log file is rotated when it would grow beyond this. */
export const DEFAULT_MAX_FILE_BYTES = 10 * 1024 * 1024;
/** At most this many rotated files are kept, whatever their age (caps the disk used). */
export const DEFAULT_MAX_FILES = 30;

const DAY_MS = 24 * 60 * 60 * 1000;

/** Options of {@link setupLogging}. */
export interface LoggingOptions {
  /** Folder for log files; `""` writes no files. Created when missing. */
  logDir: string;
  /** Rotated log files older than this many days are deleted (0 keeps them). */
  retentionDays: number;
  /** Lowest level shown in the console window. Default `"info"`. */
  consoleLevel?: "debug" | "info" | "warning" | "error";
  /** No console output at all (the log file still gets everything from `info` up). */
  quiet?: boolean;
  /** Lowest level written to the file. Default `"info"`. */
  fileLevel?: "debug" | "info" | "warning" | "error";
  /** Rotation size of one file, bytes. Default {@link DEFAULT_MAX_FILE_BYTES}. */
  maxFileBytes?: number;
  /** Most rotated files kept. Default {@link DEFAULT_MAX_FILES}. */
  maxFiles?: number;
  /** Where console lines go; default `console.log` (`console.error` for warnings and errors). */
  writeConsole?: (line: string, level: LogLevel) => void;
}

let retentionTimer: ReturnType<typeof setInterval> | undefined;

/**
 * Configures LogTape for the gateway (replacing any earlier configuration).
 * A log folder that cannot be written is reported on the console and the gateway goes on
 * without log files: receiving images matters more than the log.
 */
export async function setupLogging(options: LoggingOptions): Promise<void> {
  stopRetentionTimer();
  const sinks: Record<string, Sink> = {};
  const gatewaySinks: string[] = [];
  const write = options.writeConsole ?? ((line: string, level: LogLevel) => {
    if (level === "warning" || level === "error" || level === "fatal") console.error(line);
    else console.log(line);
  });
  if (!options.quiet) {
    sinks.console = (record: LogRecord) => write(formatConsoleLine(record), record.level);
  }
  let fileProblem: string | null = null;
  if (options.logDir !== "") {
    try {
      await Deno.mkdir(options.logDir, { recursive: true });
      await deleteOldLogs(options.logDir, options.retentionDays);
      sinks.file = getRotatingFileSink(joinPath(options.logDir, LOG_FILE_NAME), {
        maxSize: options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES,
        maxFiles: options.maxFiles ?? DEFAULT_MAX_FILES,
        formatter: formatFileLine,
        nonBlocking: true,
        flushInterval: 1000,
      });
    } catch (e) {
      fileProblem = `Log files cannot be written in ${options.logDir} (${(e as Error).message}). ` +
        `The gateway keeps running without log files.`;
    }
  }
  const consoleLevel = options.consoleLevel ?? "info";
  const fileLevel = options.fileLevel ?? "info";
  // Each sink has its own level; the logger lets through the lowest of them.
  const lowest = [consoleLevel, fileLevel].sort((a, b) => LEVELS.indexOf(a) - LEVELS.indexOf(b))[0]!;
  if (sinks.console) {
    sinks.console = withFilter(sinks.console, consoleLevel);
    gatewaySinks.push("console");
  }
  if (sinks.file) {
    sinks.file = withFilter(sinks.file, fileLevel);
    gatewaySinks.push("file");
  }
  await configure({
    reset: true,
    sinks,
    loggers: [
      { category: ["gateway"], lowestLevel: lowest, sinks: gatewaySinks },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: gatewaySinks },
    ],
  });
  if (fileProblem !== null) write(formatConsoleLine(syntheticRecord("warning", fileProblem)), "warning");
  if (options.logDir !== "" && fileProblem === null && options.retentionDays > 0) {
    const timer = setInterval(() => {
      deleteOldLogs(options.logDir, options.retentionDays).catch(() => {});
    }, DAY_MS);
    Deno.unrefTimer(timer);
    retentionTimer = timer;
  }
}

/** Flushes and closes the log file and stops the daily clean-up (call before exiting). */
export async function shutdownLogging(): Promise<void> {
  stopRetentionTimer();
  await dispose();
}

function stopRetentionTimer(): void {
  if (retentionTimer !== undefined) clearInterval(retentionTimer);
  retentionTimer = undefined;
}

const LEVELS: readonly LogLevel[] = ["trace", "debug", "info", "warning", "error", "fatal"];

function syntheticRecord(level: LogLevel, text: string): LogRecord {
  return {
    category: ["gateway"],
    level,
    message: [text],
    rawMessage: text,
    timestamp: Date.now(),
    properties: {},
  };
}

/**
 * Deletes rotated log files (`dicom-gateway.log.N`) last written more than `retentionDays`
 * ago; the current file is never deleted. Returns the names deleted.
 */
export async function deleteOldLogs(
  logDir: string,
  retentionDays: number,
  now = Date.now(),
): Promise<string[]> {
  if (retentionDays <= 0) return [];
  const cutoff = now - retentionDays * DAY_MS;
  const deleted: string[] = [];
  const pattern = new RegExp(`^${LOG_FILE_NAME.replaceAll(".", "\\.")}\\.\\d+$`);
  for await (const entry of Deno.readDir(logDir)) {
    if (!entry.isFile || !pattern.test(entry.name)) continue;
    const path = joinPath(logDir, entry.name);
    try {
      const info = await Deno.stat(path);
      if (info.mtime !== null && info.mtime.getTime() < cutoff) {
        await Deno.remove(path);
        deleted.push(entry.name);
      }
    } catch {
      // Gone already, or held open by a viewer on Windows: try again tomorrow.
    }
  }
  return deleted.sort();
}

/**
 * Returns the patient name to log: the name itself (control characters removed) when patient
 * details are enabled, otherwise `"(hidden)"` (or `""` for an empty name).
 */
export function redactPatient(name: string, enabled: boolean): string {
  const clean = sanitize(name).trim();
  if (clean === "") return "";
  return enabled ? clean : "(hidden)";
}

// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x1f\x7f-\x9f]/g;

/** Replaces control characters (a line break in a patient name must not forge a log line). */
function sanitize(text: string): string {
  return text.replace(CONTROL, "?");
}

function renderValue(value: unknown): string {
  if (typeof value === "string") return sanitize(value);
  if (value instanceof Error) return sanitize(value.message);
  if (value instanceof Date) return localTimestamp(value.getTime());
  if (value === null || value === undefined || typeof value !== "object") return String(value);
  try {
    return sanitize(JSON.stringify(value));
  } catch {
    return String(value);
  }
}

function renderMessage(record: LogRecord): string {
  let out = "";
  record.message.forEach((part, i) => {
    out += i % 2 === 0 ? sanitize(String(part)) : renderValue(part);
  });
  return out;
}

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** `2026-11-28 10:02:03` in this PC's time zone. */
export function localTimestamp(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/**
 * One console line: `2026-11-28 10:02:03  Association from CT_SCANNER (192.168.1.20) accepted`,
 * with `WARNING` or `ERROR` after the time when it is one.
 */
export function formatConsoleLine(record: LogRecord): string {
  const level = record.level === "warning"
    ? "WARNING  "
    : record.level === "error" || record.level === "fatal"
    ? "ERROR  "
    : "";
  return `${localTimestamp(record.timestamp)}  ${level}${renderMessage(record)}`;
}

/**
 * One file line, with the UTC offset, level and part of the gateway, and an error's stack:
 * `2026-11-28T10:02:03.123+01:00 INFO  ul: Association from CT_SCANNER (192.168.1.20) accepted`.
 */
export function formatFileLine(record: LogRecord): string {
  const d = new Date(record.timestamp);
  const offset = -d.getTimezoneOffset();
  const sign = offset >= 0 ? "+" : "-";
  const stamp = `${localTimestamp(record.timestamp).replace(" ", "T")}.${pad(d.getMilliseconds(), 3)}` +
    `${sign}${pad(Math.floor(Math.abs(offset) / 60))}:${pad(Math.abs(offset) % 60)}`;
  const category = record.category.slice(1).join(".") || record.category.join(".") || "gateway";
  let line = `${stamp} ${record.level.toUpperCase().padEnd(7)} ${category}: ${renderMessage(record)}`;
  for (const value of record.message.filter((_, i) => i % 2 === 1)) {
    if (value instanceof Error && value.stack) line += `\n    ${value.stack.replaceAll("\n", "\n    ")}`;
  }
  return line + "\n";
}
