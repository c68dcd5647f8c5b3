/** Captures the gateway's log records in memory for a test (LogTape, every level). */
import { configure, type LogRecord, reset } from "@logtape/logtape";

/** What {@linkcode captureLogs} gives: the records, each as one line of text, and the way back. */
export interface CapturedLogs {
  records: LogRecord[];
  /** Each record as its rendered message followed by its properties as JSON. */
  lines(): string[];
  /** Restores LogTape's unconfigured (silent) state. */
  dispose(): Promise<void>;
}

export async function captureLogs(): Promise<CapturedLogs> {
  const records: LogRecord[] = [];
  await configure({
    sinks: { memory: (record: LogRecord) => records.push(record) },
    loggers: [
      { category: ["gateway"], sinks: ["memory"], lowestLevel: "debug" },
      { category: ["logtape", "meta"], sinks: [], lowestLevel: "error" },
    ],
    reset: true,
  });
  return {
    records,
    lines: () => records.map((r) => `${r.message.map(String).join("")} ${JSON.stringify(r.properties)}`),
    dispose: () => reset(),
  };
}
