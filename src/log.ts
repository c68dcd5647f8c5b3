/**
 * Logging through LogTape. Categories: ["gateway"], ["gateway","ul"], ["gateway","dimse"],
 * ["gateway","store"], ["gateway","upload"], ["gateway","status"], ["gateway","platform"] (file
 * rename retries). `setupLogging` is called once by the CLI; library code only calls
 * `logger(...)`, so tests stay quiet unless they configure LogTape.
 * @module
 */
import { getLogger, type Logger } from "@logtape/logtape";

/** The logger for one part of the gateway, e.g. `logger("ul")`. */
export function logger(...category: string[]): Logger {
  return getLogger(["gateway", ...category]);
}
