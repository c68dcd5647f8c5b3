/**
 * Reading settings from `DICOM_GATEWAY_*` environment variables.
 * @module
 */
import { CONFIG_ENV, CONFIG_KEYS, ENV_PREFIX, envName, keyId } from "./schema.ts";
import { type Layer, type Origin, problem } from "./origin.ts";
import { checkValue } from "./validate.ts";

/** Reads the `DICOM_GATEWAY_*` variables into a layer; unknown ones become warnings. */
export function readEnv(env: Record<string, string>, problems: string[], warnings: string[]): Layer {
  const layer: Layer = { values: new Map() };
  const known = new Set<string>([CONFIG_ENV]);
  for (const key of CONFIG_KEYS) {
    const name = envName(key);
    known.add(name);
    const raw = env[name];
    if (raw === undefined) continue;
    const origin: Origin = { source: "env", name };
    const checked = checkValue(key, raw, true);
    if (!checked.ok) problems.push(problem(key, origin, checked.allowed, raw, checked.reason));
    else layer.values.set(keyId(key), { value: checked.value, origin });
  }
  for (const name of Object.keys(env)) {
    if (name.startsWith(ENV_PREFIX) && !known.has(name)) {
      warnings.push(`The environment variable ${name} is not a dicom-gateway setting and is ignored.`);
    }
  }
  return layer;
}
