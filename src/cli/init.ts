/**
 * `init`: writes the commented `dicom-gateway.toml` holding every setting at its default
 * (the text comes from `config/template.ts`).
 * @module
 */
import { ConfigError } from "../config/error.ts";
import { initialConfigText } from "../config/template.ts";

/**
 * Writes the commented settings file with every default.
 * @param path where to write, normally `dicom-gateway.toml` in the installation folder
 * @param options `force` replaces an existing file
 * @throws {ConfigError} when the file exists and `force` is not set
 */
export async function writeInitialConfig(path: string, options: { force?: boolean } = {}): Promise<void> {
  const text = initialConfigText();
  if (options.force) {
    await Deno.writeTextFile(path, text);
    return;
  }
  try {
    await Deno.writeTextFile(path, text, { createNew: true });
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) {
      throw new ConfigError(
        `${path} already exists and was left unchanged. To replace it with the defaults, run: dicom-gateway init --force`,
      );
    }
    throw e;
  }
}
