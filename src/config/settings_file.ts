/**
 * Replacing `dicom-gateway.toml` safely: a temporary file beside it, fsynced, then renamed over it
 * (`renameWithRetry`), and the folder fsynced. A file that holds a secret is created with mode
 * 0600 (owner read/write only) on POSIX systems, so other accounts on the PC cannot read the
 * password; Windows has no such mode bits (the file inherits its folder's ACL) and none are set.
 * @module
 */
import { fsyncDirectory, renameWithRetry } from "../platform/fs.ts";
import { CONFIG_KEYS, keyId } from "./schema.ts";
import { readTomlText } from "./toml_read.ts";

/** Owner read and write only (POSIX), for a settings file holding a secret. */
export const PRIVATE_FILE_MODE = 0o600;

/**
 * Settings whose value is a secret: every `secret` key (passwords, tokens, keys, client secrets),
 * and the alert webhook address, whose path and query are the webhook's secret (Slack, Teams).
 */
const SECRET_IDS: ReadonlySet<string> = new Set([
  ...CONFIG_KEYS.filter((k) => k.secret).map(keyId),
  "alerts.webhook_url",
]);

/** True when the settings text sets any secret to a non-empty value. */
export function holdsSecret(text: string): boolean {
  const layer = readTomlText(text, "the settings file", []);
  for (const [id, entry] of layer.values) {
    if (SECRET_IDS.has(id) && entry.value !== "") return true;
  }
  return false;
}

/**
 * Writes `text` as the settings file at `path`, replacing it atomically. On POSIX the new file is
 * created with {@link PRIVATE_FILE_MODE} when {@link holdsSecret}, else with the mode of the file
 * it replaces (the default for a new file). `os` is a test hook.
 */
export async function writeSettingsFile(
  path: string,
  text: string,
  options: { os?: typeof Deno.build.os } = {},
): Promise<void> {
  const os = options.os ?? Deno.build.os;
  let mode: number | undefined;
  if (os !== "windows") {
    if (holdsSecret(text)) {
      mode = PRIVATE_FILE_MODE;
    } else {
      try {
        const was = (await Deno.stat(path)).mode;
        if (was !== null) mode = was & 0o777;
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
    }
  }
  const tmp = `${path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  // Created with its mode, so the secret is never readable by others, not even for a moment.
  const file = await Deno.open(tmp, {
    write: true,
    createNew: true,
    ...(mode === undefined ? {} : { mode }),
  });
  try {
    try {
      const bytes = new TextEncoder().encode(text);
      for (let at = 0; at < bytes.length;) at += await file.write(bytes.subarray(at));
      await file.sync();
    } finally {
      file.close();
    }
    await renameWithRetry(tmp, path, { os });
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
  const folder = path.includes("/") || path.includes("\\") ? path.replace(/[\\/][^\\/]*$/, "") || "/" : ".";
  await fsyncDirectory(folder, os);
}
