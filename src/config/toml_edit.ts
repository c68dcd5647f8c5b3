/**
 * Editing TOML text in place, keeping every other line and comment (for the status page's
 * settings form, which writes into the file a person may also edit by hand).
 * @module
 */
import type { ConfigValue } from "./schema.ts";

/** A dotted TOML key or table name with its quotes taken off: `"upload" . auth` → `upload.auth`. */
export function unquoteTomlKey(text: string): string {
  return text.split(".").map((p) => p.trim().replace(/^["']|["']$/g, "")).join(".");
}

/** The table name of a `[table]` header line (TOML v1.0.0 "Table"), or null for any other line. */
export function tomlTableHeader(line: string): string | null {
  const header = /^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$/.exec(line);
  return header ? unquoteTomlKey(header[1] ?? "") : null;
}

/** Renders a value as TOML (strings as basic strings; JSON escapes are valid TOML escapes). */
export function tomlValue(value: ConfigValue): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((v) => JSON.stringify(v)).join(", ")}]`;
  return String(value);
}

/**
 * Sets `name = value` in `[section]` of TOML text, keeping every other line and comment:
 * an existing line keeps its indentation and trailing comment; a missing key is added after
 * the section's last setting; a missing section is appended.
 */
export function setTomlKey(text: string, section: string, name: string, value: ConfigValue): string {
  const nl = text.includes("\r\n") ? "\r\n" : "\n";
  const lines = text.split(/\r?\n/);
  let current = "";
  let sectionStart = section === "" ? 0 : -1;
  let lastKeyInSection = -1;
  let firstHeader = -1;
  const rendered = `${name} = ${tomlValue(value)}`;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const header = tomlTableHeader(line);
    if (header !== null) {
      current = header;
      if (firstHeader < 0) firstHeader = i;
      if (current === section) sectionStart = i;
      continue;
    }
    if (current !== section) continue;
    const kv = /^(\s*)([A-Za-z0-9_\-"']+)(\s*=\s*)(.*)$/.exec(line);
    if (!kv) continue;
    lastKeyInSection = i;
    if (unquoteTomlKey(kv[2] ?? "") !== name) continue;
    const after = kv[4] ?? "";
    const valueMatch = /^("(?:[^"\\]|\\.)*"|'[^']*'|[^\s#]+)(\s*#.*)?\s*$/.exec(after);
    const comment = valueMatch?.[2] ?? "";
    lines[i] = `${kv[1]}${name}${kv[3]}${tomlValue(value)}${comment}`;
    return lines.join(nl);
  }
  if (sectionStart < 0) {
    while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
    lines.push("", `[${section}]`, rendered, "");
    return lines.join(nl);
  }
  const at = lastKeyInSection >= 0
    ? lastKeyInSection + 1
    : section === ""
    ? (firstHeader >= 0 ? firstHeader : lines.length)
    : sectionStart + 1;
  lines.splice(at, 0, rendered);
  return lines.join(nl);
}
