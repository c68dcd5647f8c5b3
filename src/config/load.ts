/**
 * Loading the configuration: built-in defaults → `dicom-gateway.toml` → `DICOM_GATEWAY_*`
 * environment variables → command-line flags (later wins), validated into one {@link Config}.
 * Error messages name the setting, where it was set (file and line, environment variable or
 * flag) and what is allowed.
 * @module
 */
import { joinPath } from "../platform/fs.ts";
import { type Config, installDir } from "./types.ts";
import { CONFIG_ENV, CONFIG_FILE_NAME } from "./schema.ts";
import { ConfigError } from "./error.ts";
import type { Layer } from "./origin.ts";
import { readTomlText } from "./toml_read.ts";
import { readEnv } from "./env.ts";
import { readFlags } from "./flags.ts";
import { assemble, defaultsMerged } from "./assemble.ts";

/** What {@link loadConfig} returns. */
export interface LoadedConfig {
  config: Config;
  /** The configuration file that was (or would have been) read. */
  configPath: string;
  /** False when the file does not exist and the defaults were used. */
  configFileFound: boolean;
  /** Arguments that are not configuration flags, in order: the subcommand, its arguments and its own options. */
  rest: string[];
  /** Things worth logging that do not stop the program (e.g. an unknown DICOM_GATEWAY_ variable). */
  warnings: string[];
}

/**
 * Builds the configuration from defaults, the TOML file, the environment and the flags.
 *
 * `rest` keeps everything that is not a configuration flag (positionals and unknown
 * `--options`, in their original order), so subcommands can parse their own options;
 * `run` should refuse a non-empty `rest`.
 *
 * @param args command-line arguments (e.g. `Deno.args`)
 * @param options `env` replaces `Deno.env` (tests), `baseDir` replaces {@link installDir};
 *   `skipFile` works out `configPath` without reading the file (for `init`, which may replace a broken one)
 * @throws {ConfigError} naming every wrong value with its file line, variable or flag
 */
export async function loadConfig(
  args: string[],
  options: { env?: Record<string, string>; baseDir?: string; skipFile?: boolean } = {},
): Promise<LoadedConfig> {
  const env = options.env ?? Deno.env.toObject();
  const baseDir = options.baseDir ?? installDir();
  const problems: string[] = [];
  const warnings: string[] = [];

  const flags = readFlags(args, problems);
  const explicitPath = flags.configFlag ?? (env[CONFIG_ENV] || null);
  const configPath = explicitPath ?? joinPath(baseDir, CONFIG_FILE_NAME);
  const fileLabel = explicitPath === null ? CONFIG_FILE_NAME : configPath;

  let fileLayer: Layer = { values: new Map() };
  let configFileFound = false;
  let text: string | null = null;
  try {
    if (!options.skipFile) {
      text = await Deno.readTextFile(configPath);
      configFileFound = true;
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      problems.push(`Cannot read the settings file ${configPath}: ${(e as Error).message}`);
    } else if (explicitPath !== null) {
      problems.push(`The settings file ${configPath} does not exist. Create one with: dicom-gateway init`);
    }
  }
  if (text !== null) fileLayer = readTomlText(text.replace(/^\uFEFF/, ""), fileLabel, problems);
  const envLayer = readEnv(env, problems, warnings);

  const merged = defaultsMerged(baseDir);
  for (const layer of [fileLayer, envLayer, flags.layer]) {
    for (const [id, entry] of layer.values) merged.set(id, entry);
  }
  const config = assemble(merged, baseDir, fileLabel, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return { config, configPath, configFileFound, rest: flags.rest, warnings };
}
