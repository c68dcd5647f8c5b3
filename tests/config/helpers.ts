/** Shared helpers of the configuration tests: temporary folders, a settings file, the expected ConfigError. */
import { joinPath } from "../../src/platform/fs.ts";
import { ConfigError } from "../../src/config/error.ts";

/** A fresh temporary folder. */
export async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "dg-config-" });
}

/** A temporary folder holding `dicom-gateway.toml` with `text`. */
export async function withFile(text: string): Promise<string> {
  const dir = await tempDir();
  await Deno.writeTextFile(joinPath(dir, "dicom-gateway.toml"), text);
  return dir;
}

/** The ConfigError `promise` rejects with (any other outcome fails the test). */
export async function configError(promise: Promise<unknown>): Promise<ConfigError> {
  try {
    await promise;
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error("expected a ConfigError");
}
