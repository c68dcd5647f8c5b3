/**
 * `init`: writes the commented `dicom-gateway.toml` holding every setting at its default
 * (the text comes from `config/template.ts`).
 * @module
 */
import { ConfigError } from "../config/error.ts";
import { initialConfigText } from "../config/template.ts";
import { CommandError, fileProblem } from "./failure.ts";

/**
 * Writes the commented settings file with every default.
 * @param path where to write, normally `dicom-gateway.toml` in the installation folder
 * @param options `force` replaces an existing file
 * @throws {ConfigError} when the file exists and `force` is not set
 * @throws {CommandError} when the file cannot be written (missing or read-only folder)
 */
export async function writeInitialConfig(path: string, options: { force?: boolean } = {}): Promise<void> {
  const text = initialConfigText();
  try {
    await Deno.writeTextFile(path, text, options.force ? {} : { createNew: true });
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) {
      throw new ConfigError(
        `${path} already exists and was left unchanged. To replace it with the defaults, run: dicom-gateway init --force`,
      );
    }
    const folder = path.replace(/[\\/][^\\/]*$/, "");
    throw new CommandError(
      e instanceof Deno.errors.NotFound
        ? `Cannot write the settings file ${path}: the folder ${folder} does not exist. ` +
          "Create that folder first, or name another file with --config."
        : fileProblem(e, {
          verb: "write",
          path,
          what: "the settings file",
          fix:
            "Name a file in a folder this program may write to with --config, or move dicom-gateway to such a folder",
        }),
    );
  }
}
