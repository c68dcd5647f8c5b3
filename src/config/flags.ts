/**
 * Reading settings from command-line flags (`node:util` parseArgs tokens). Secrets have no
 * flag: a command line is visible to other programs.
 * @module
 */
import { parseArgs } from "node:util";
import { defaultConfig } from "./types.ts";
import { CONFIG_KEYS, type ConfigKey, envName, keyId } from "./schema.ts";
import { type Layer, type Origin, problem } from "./origin.ts";
import { checkValue, parseBool } from "./validate.ts";
import { closestName } from "./suggest.ts";

/**
 * Reads the configuration flags into a layer. Everything else (positionals and unknown
 * `--options`) is kept in `rest`, in order, for the subcommand.
 */
export function readFlags(
  args: string[],
  problems: string[],
): { layer: Layer; configFlag: string | null; rest: string[] } {
  const layer: Layer = { values: new Map() };
  type Opt = { type: "string" | "boolean" };
  const options: Record<string, Opt> = { config: { type: "string" } };
  const byFlag = new Map<string, { key: ConfigKey; negated: boolean }>();
  for (const key of CONFIG_KEYS) {
    if (key.secret) continue;
    if (key.kind === "bool") {
      options[key.cliName] = { type: "boolean" };
      options[`no-${key.cliName}`] = { type: "boolean" };
      byFlag.set(key.cliName, { key, negated: false });
      byFlag.set(`no-${key.cliName}`, { key, negated: true });
    } else {
      options[key.cliName] = { type: "string" };
      byFlag.set(key.cliName, { key, negated: false });
    }
  }
  const secretFlags = new Map(CONFIG_KEYS.filter((k) => k.secret).map((k) => [k.cliName, k]));
  const { tokens } = parseArgs({ args, options, strict: false, allowPositionals: true, tokens: true });
  const rest: string[] = [];
  let configFlag: string | null = null;
  for (const token of tokens ?? []) {
    if (token.kind === "positional") {
      rest.push(token.value);
      continue;
    }
    if (token.kind === "option-terminator") {
      rest.push("--");
      continue;
    }
    const flag = `--${token.name}`;
    if (token.name === "config") {
      if (token.value === undefined || token.value === "") problems.push(`option --config needs a file name`);
      else configFlag = token.value;
      continue;
    }
    const secret = secretFlags.get(token.name);
    if (secret) {
      problems.push(
        `option ${flag} is not accepted: a secret on the command line is visible to other programs. ` +
          `Set the environment variable ${
            envName(secret)
          } instead (or ${secret.name} in [${secret.section}]).`,
      );
      continue;
    }
    const entry = byFlag.get(token.name);
    if (!entry) {
      rest.push(args[token.index] ?? flag);
      continue;
    }
    const origin: Origin = { source: "flag", name: flag };
    const { key, negated } = entry;
    if (key.kind === "bool") {
      let b = true;
      if (token.value !== undefined) {
        const parsed = parseBool(token.value);
        if (parsed === null) {
          problems.push(problem(key, origin, "given without a value, or =true / =false", token.value));
          continue;
        }
        b = parsed;
      }
      layer.values.set(keyId(key), { value: negated ? !b : b, origin });
      continue;
    }
    if (token.value === undefined) {
      problems.push(`option ${flag} needs a value, e.g. ${flag} ${exampleValue(key)}`);
      continue;
    }
    const checked = checkValue(key, token.value, true);
    if (!checked.ok) problems.push(problem(key, origin, checked.allowed, token.value, checked.reason));
    else layer.values.set(keyId(key), { value: checked.value, origin });
  }
  return { layer, configFlag, rest };
}

function exampleValue(key: ConfigKey): string {
  const v = key.read(defaultConfig(""));
  if (Array.isArray(v)) return "A,B";
  if (v === "" || v === "auto") {
    return key.kind === "uploadUrl" ? "https://pacs.example.org/dicom-web" : "VALUE";
  }
  return String(v);
}

/**
 * "Did you mean" for an unknown `--option`: the closest configuration flag (at most two edits
 * away, or the only flag it is the start of), e.g. `--prot` → `--port`; null when none is close.
 */
export function suggestFlag(arg: string): string | null {
  const m = /^--([^=]+)/.exec(arg);
  if (m === null) return null;
  const names = ["config"];
  for (const key of CONFIG_KEYS) {
    if (key.secret) continue;
    names.push(key.cliName);
    if (key.kind === "bool") names.push(`no-${key.cliName}`);
  }
  const best = closestName(m[1]!, names);
  return best === null ? null : `--${best}`;
}
