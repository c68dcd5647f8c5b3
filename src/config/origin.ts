/**
 * Where a value came from (built-in default, file line, environment variable or flag), and the
 * problem sentences that name it: error messages are for clinic staff, so they say the setting,
 * where it was set and what is allowed.
 * @module
 */
import type { ConfigKey, ConfigValue } from "./schema.ts";

/** Where a value came from, for messages. */
export type Origin =
  | { source: "default" }
  | { source: "file"; file: string; line: number | null }
  | { source: "env"; name: string }
  | { source: "flag"; name: string };

function where(origin: Origin): string {
  switch (origin.source) {
    case "default":
      return "built-in default";
    case "file":
      return origin.line === null ? origin.file : `${origin.file} line ${origin.line}`;
    case "env":
      return `environment variable ${origin.name}`;
    case "flag":
      return `option ${origin.name}`;
  }
}

/** `"port"` or `"url" in [upload]`. */
function tomlLabel(key: ConfigKey): string {
  return key.section === "" ? `"${key.name}"` : `"${key.name}" in [${key.section}]`;
}

/**
 * One problem sentence: where the value was set, what is allowed and what was given (secrets
 * hidden), then `reason` when the check can say more precisely what is wrong.
 */
export function problem(
  key: ConfigKey,
  origin: Origin,
  allowed: string,
  got: unknown,
  reason?: string,
): string {
  const shown = key.kind === "secret"
    ? "(hidden)"
    : typeof got === "string"
    ? JSON.stringify(got)
    : String(got);
  const subject = origin.source === "file" ? `${where(origin)}: ${tomlLabel(key)}` : where(origin);
  return `${subject} must be ${allowed}, got ${shown}${reason === undefined ? "" : `. ${reason}`}`;
}

/** Values read from one source (the file, the environment or the flags), by {@link keyId}. */
export interface Layer {
  values: Map<string, { value: ConfigValue; origin: Origin }>;
}

/** Every setting's winning value and where it came from, by {@link keyId}. */
export type Merged = Map<string, { value: ConfigValue; origin: Origin }>;
