/**
 * Writing the upload destination (`[upload]` and `[upload.auth]`) from the status page's
 * settings form into the settings file, checked like start-up and replaced atomically.
 * @module
 */
import { renameWithRetry } from "../platform/fs.ts";
import { AUTH_FIELDS, type ConfigValue, KEYS_BY_ID } from "./schema.ts";
import { ConfigError } from "./error.ts";
import { checkValue } from "./validate.ts";
import { readTomlText } from "./toml_read.ts";
import { setTomlKey } from "./toml_edit.ts";
import { assembleAuth, defaultsMerged, resolveAgainst } from "./assemble.ts";
import { initialConfigText } from "./template.ts";
import { installDir } from "./types.ts";
import { checkCertificateFile } from "../net/tls_files.ts";

/** Upload destination settings as the status page's form sends them. Empty secrets keep the stored ones. */
export interface UploadSettings {
  url: string;
  authKind: string;
  username?: string;
  password?: string;
  token?: string;
  headerName?: string;
  headerValue?: string;
  tokenUrl?: string;
  clientId?: string;
  clientSecret?: string;
  scope?: string;
  caFile?: string;
}

const SETTINGS_FIELDS: [keyof UploadSettings, string][] = [
  ["username", "username"],
  ["password", "password"],
  ["token", "token"],
  ["headerName", "header_name"],
  ["headerValue", "header_value"],
  ["tokenUrl", "token_url"],
  ["clientId", "client_id"],
  ["clientSecret", "client_secret"],
  ["scope", "scope"],
];

/**
 * Writes the upload destination into the `[upload]` and `[upload.auth]` sections of the
 * configuration file, keeping its comments and other settings (the file is created from the
 * `init` template when missing). Secrets left empty keep the value already in the file if the
 * sign-in kind is unchanged; fields of other kinds are cleared. The file is replaced atomically,
 * and only if the result is a valid configuration. A CA file that is not found, not readable or
 * not a PEM certificate is refused (a relative path is read from `options.baseDir`, the
 * installation folder by default, as start-up reads it).
 * @throws {ConfigError} when a value is not allowed (nothing is written then)
 */
export async function writeUploadSettings(
  configPath: string,
  settings: UploadSettings,
  options: { baseDir?: string } = {},
): Promise<void> {
  let text: string;
  try {
    text = await Deno.readTextFile(configPath);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    text = initialConfigText();
  }
  const label = configPath.replace(/^.*[\\/]/, "");
  const problems: string[] = [];
  const current = readTomlText(text, label, problems);
  if (problems.length > 0) {
    throw new ConfigError([`The settings file has to be fixed by hand first:`, ...problems]);
  }
  const formProblem = (field: string, allowed: string, got: unknown) =>
    `${field} must be ${allowed}, got ${typeof got === "string" ? JSON.stringify(got) : String(got)}`;

  const updates = new Map<string, ConfigValue>();
  const check = (id: string, raw: string, field: string) => {
    const key = KEYS_BY_ID.get(id)!;
    const c = checkValue(key, raw, true);
    if (!c.ok) problems.push(formProblem(field, c.allowed, key.secret ? "(hidden)" : raw));
    else updates.set(id, c.value);
  };
  check("upload.url", settings.url ?? "", "Server address");
  check("upload.ca_file", settings.caFile ?? "", "CA certificate file");
  check("upload.auth.kind", settings.authKind ?? "none", "Sign-in method");
  const newKind = (updates.get("upload.auth.kind") as string | undefined) ?? "none";
  const oldKind = (current.values.get("upload.auth.kind")?.value as string | undefined) ?? "auto";
  const fieldsOfKind = newKind in AUTH_FIELDS
    ? [
      ...AUTH_FIELDS[newKind as keyof typeof AUTH_FIELDS].required,
      ...AUTH_FIELDS[newKind as keyof typeof AUTH_FIELDS].optional,
    ]
    : [];
  for (const [prop, name] of SETTINGS_FIELDS) {
    const id = `upload.auth.${name}`;
    const key = KEYS_BY_ID.get(id)!;
    const given = (settings[prop] as string | undefined) ?? "";
    if (!fieldsOfKind.includes(name)) {
      if (current.values.has(id) && current.values.get(id)!.value !== "") updates.set(id, "");
      continue;
    }
    if (key.secret && given === "" && oldKind === newKind) continue; // keep the stored secret
    check(id, given, name.replaceAll("_", " "));
  }
  const caFile = updates.get("upload.ca_file");
  if (typeof caFile === "string" && caFile !== "") {
    const found = await checkCertificateFile(resolveAgainst(options.baseDir ?? installDir(), caFile));
    if (found !== null) problems.push(`${found.message}: ${found.fix}`);
  }
  if (problems.length > 0) throw new ConfigError(problems);

  for (const [id, value] of updates) {
    const key = KEYS_BY_ID.get(id)!;
    text = setTomlKey(text, key.section, key.name, value);
  }
  // The result must load: same checks as start-up, including the sign-in fields.
  const after = readTomlText(text, label, problems);
  const merged = defaultsMerged("");
  for (const [id, entry] of after.values) merged.set(id, entry);
  assembleAuth(merged, label, problems);
  if (problems.length > 0) throw new ConfigError(problems);

  const tmp = `${configPath}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.writeTextFile(tmp, text);
  try {
    await renameWithRetry(tmp, configPath);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}
