/**
 * Reading the settings file (TOML, through smol-toml): line numbers for messages, unknown keys
 * with "did you mean" suggestions, a hint for the usual mistakes (unquoted text, Windows
 * backslashes in double quotes).
 * @module
 */
import { parse as parseToml, TomlError } from "smol-toml";
import { CONFIG_KEYS, KEYS_BY_ID, SECTIONS } from "./schema.ts";
import { type Layer, type Origin, problem } from "./origin.ts";
import { checkValue } from "./validate.ts";
import { tomlTableHeader, unquoteTomlKey } from "./toml_edit.ts";
import { closestName } from "./suggest.ts";

/** Maps `section.key` (as in {@link keyId}) and `[section]` headers to 1-based line numbers. */
function tomlLineIndex(text: string): Map<string, number> {
  const index = new Map<string, number>();
  let section = "";
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    const header = tomlTableHeader(line);
    if (header !== null) {
      section = header;
      if (!index.has(`[${section}]`)) index.set(`[${section}]`, i + 1);
      return;
    }
    const kv = /^\s*([A-Za-z0-9_\-."' ]+?)\s*=/.exec(line);
    if (kv) {
      const id = section === "" ? unquoteTomlKey(kv[1] ?? "") : `${section}.${unquoteTomlKey(kv[1] ?? "")}`;
      if (!index.has(id)) index.set(id, i + 1);
    }
  });
  return index;
}

function suggestion(section: string, name: string): string {
  const candidates = CONFIG_KEYS.filter((k) => k.section === section).map((k) => k.name);
  const best = closestName(name.toLowerCase(), candidates, { prefix: false });
  if (best !== null) return ` Did you mean "${best}"?`;
  return candidates.length > 0 ? ` Allowed here: ${candidates.join(", ")}.` : "";
}

function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/**
 * UTF-16 text read as UTF-8: its byte order mark (FF FE little-endian, FE FF big-endian, RFC 2781
 * §3.2) becomes two U+FFFD replacement characters, and the ASCII letters come with NUL bytes.
 */
function looksLikeUtf16(text: string): boolean {
  return text.startsWith("\uFFFD\uFFFD") || text.startsWith("\uFEFF\u0000") || text.includes("\u0000");
}

/** The likely mistake on a line TOML refused, in words. */
function tomlLineHint(line: string): string {
  const t = line.trim();
  if (t.startsWith("[") && !/\]\s*(#.*)?$/.test(t)) {
    const name = t.replace(/^\[+/, "").replace(/\s*#.*$/, "").trim();
    return `A section name needs a closing bracket, e.g. [${name || "upload"}].`;
  }
  if (line.includes("\\")) {
    return `For a Windows folder use single quotes, e.g. data_dir = 'D:\\dicom\\data', or double each backslash.`;
  }
  if (/=\s*\[/.test(line) && !line.includes("]")) {
    return `A list needs a closing bracket on the same line, e.g. allowed_addresses = ["192.168.1.0/24"].`;
  }
  return `Text values need double quotes, e.g. ae_title = "DICOM_GATEWAY".`;
}

/** Reads the settings file text into a layer, adding a problem sentence for every bad or unknown line. */
export function readTomlText(text: string, fileLabel: string, problems: string[]): Layer {
  const layer: Layer = { values: new Map() };
  if (looksLikeUtf16(text)) {
    problems.push(
      `${fileLabel} is saved as UTF-16 ("Unicode") text, which the gateway cannot read. Save it as UTF-8 ` +
        `(Notepad: File, Save as, Encoding: UTF-8).`,
    );
    return layer;
  }
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text, { integersAsBigInt: "asNeeded" }) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof TomlError) {
      const first = e.message.replace(/^Invalid TOML document:\s*/, "").split("\n")[0] ?? "";
      const badLine = text.split(/\r?\n/)[e.line - 1] ?? "";
      problems.push(
        `${fileLabel} line ${e.line}: this line is not valid TOML (${first}). ${tomlLineHint(badLine)}`,
      );
      return layer;
    }
    throw e;
  }
  const lines = tomlLineIndex(text);
  const walk = (table: Record<string, unknown>, section: string) => {
    for (const [name, value] of Object.entries(table)) {
      const id = section === "" ? name : `${section}.${name}`;
      const line = lines.get(id) ?? lines.get(`[${id}]`) ?? null;
      const at = line === null ? fileLabel : `${fileLabel} line ${line}`;
      if (isTable(value) && (SECTIONS as readonly string[]).includes(id)) {
        walk(value, id);
        continue;
      }
      const key = KEYS_BY_ID.get(id);
      if (!key) {
        const place = section === "" ? "at the top of the file" : `in [${section}]`;
        const what = isTable(value) ? `section [${id}]` : `setting "${name}" ${place}`;
        problems.push(`${at}: unknown ${what}.${isTable(value) ? "" : suggestion(section, name)}`);
        continue;
      }
      const origin: Origin = { source: "file", file: fileLabel, line };
      const checked = checkValue(key, value, false);
      if (!checked.ok) problems.push(problem(key, origin, checked.allowed, value, checked.reason));
      else layer.values.set(id, { value: checked.value, origin });
    }
  };
  walk(doc, "");
  return layer;
}
