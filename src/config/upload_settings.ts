/**
 * Writing the upload destination (`[upload]` and `[upload.auth]`) from the status page's
 * settings form into the settings file, checked like start-up and replaced atomically.
 *
 * Secrets stay with their server: when the upload address's origin, the OAuth2 token address's
 * origin (RFC 6454: scheme, host, port) or the sign-in kind changes, the secret has to be typed
 * again; a stored one is never carried over. A secret set in the environment wins over the file,
 * so the form never writes one into the file then.
 * @module
 */
import { AUTH_FIELDS, type ConfigValue, envName, KEYS_BY_ID } from "./schema.ts";
import { ConfigError } from "./error.ts";
import { checkValue } from "./validate.ts";
import { readTomlText } from "./toml_read.ts";
import { setTomlKey } from "./toml_edit.ts";
import { assembleAuth, decideAuthKind, defaultsMerged, resolveAgainst } from "./assemble.ts";
import type { Merged } from "./origin.ts";
import { readEnv } from "./env.ts";
import { initialConfigText } from "./template.ts";
import { installDir } from "./types.ts";
import { writeSettingsFile } from "./settings_file.ts";
import { checkCertificateFile } from "../net/tls_files.ts";
import { sameWebOrigin, webOrigin } from "../net/web_origin.ts";

/** Upload destination settings as the status page's form sends them. Empty secrets keep the stored ones while the destination stays the same. */
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

/** The one secret of each sign-in kind: its setting in [upload.auth] and its name in words. */
const KIND_SECRETS: Readonly<Record<string, { name: string; words: string }>> = {
  basic: { name: "password", words: "password" },
  bearer: { name: "token", words: "access token" },
  header: { name: "header_value", words: "API key" },
  oauth2: { name: "client_secret", words: "client secret" },
};

/** The sign-in kinds in words, as the form names them. */
const KIND_WORDS: Readonly<Record<string, string>> = {
  none: "no sign-in",
  basic: "user name and password",
  bearer: "access token",
  header: "API key in a header",
  oauth2: "OAuth2 client credentials",
};

/** The secret a sign-in kind needs: its setting name, words for it, and its environment variable. */
export interface KindSecret {
  /** The setting in [upload.auth], e.g. `password`. */
  name: string;
  /** In words, e.g. "password", "client secret". */
  words: string;
  /** The environment variable that sets it, e.g. `DICOM_GATEWAY_UPLOAD_PASSWORD`. */
  variable: string;
}

/** The secret of sign-in `kind` ("basic", "bearer", "header", "oauth2"), or null for "none". */
export function secretOfKind(kind: string): KindSecret | null {
  const secret = KIND_SECRETS[kind];
  if (secret === undefined) return null;
  return { ...secret, variable: envName(KEYS_BY_ID.get(`upload.auth.${secret.name}`)!) };
}

/**
 * The secret of `kind` when `env` sets it: the environment wins over the settings file (and the
 * form), so the form says so and never writes that secret into the file. Null otherwise.
 */
export function secretInEnvironment(kind: string, env: Readonly<Record<string, string>>): KindSecret | null {
  const secret = secretOfKind(kind);
  return secret !== null && env[secret.variable] !== undefined ? secret : null;
}

/** The sentence the form shows when the secret of `secret` comes from the environment. */
export function environmentSecretNote(secret: KindSecret): string {
  return `The ${secret.words} comes from the environment variable ${secret.variable}, which wins over this ` +
    `form: it is not saved in the settings file.`;
}

/** What {@link writeUploadSettings} wants the person at the form to know besides "saved". */
export interface UploadSettingsWritten {
  /** Plain sentences, e.g. that the secret comes from the environment. */
  notes: string[];
}

/** Where a secret goes under a set of merged values: the sign-in kind and the addresses. */
interface Destination {
  kind: string;
  url: string;
  tokenUrl: string;
}

function destinationOf(merged: Merged): Destination {
  const s = (id: string) => (merged.get(id)?.value as string | undefined) ?? "";
  return {
    kind: decideAuthKind(merged, "the settings file", []),
    url: s("upload.url"),
    tokenUrl: s("upload.auth.token_url"),
  };
}

function shownOrigin(url: string): string {
  if (url.trim() === "") return "(none)";
  return webOrigin(url) === null ? url.trim() : new URL(url.trim()).origin;
}

/**
 * What changes between two destinations that makes a stored secret unusable, in words ("the
 * server address changes from https://a to https://b"); empty when nothing does. The token
 * address counts only while the sign-in is OAuth2 both times.
 */
function destinationChanges(before: Destination, after: Destination): string[] {
  const out: string[] = [];
  if (!sameWebOrigin(before.url, after.url)) {
    out.push(`the server address changes from ${shownOrigin(before.url)} to ${shownOrigin(after.url)}`);
  }
  if (before.kind !== after.kind) {
    out.push(
      `the sign-in method changes from "${KIND_WORDS[before.kind] ?? before.kind}" to "${
        KIND_WORDS[after.kind] ?? after.kind
      }"`,
    );
  } else if (after.kind === "oauth2" && !sameWebOrigin(before.tokenUrl, after.tokenUrl)) {
    out.push(
      `the token address changes from ${shownOrigin(before.tokenUrl)} to ${shownOrigin(after.tokenUrl)}`,
    );
  }
  return out;
}

function merge(...layers: Merged[]): Merged {
  const out: Merged = new Map();
  for (const layer of layers) for (const [id, entry] of layer) out.set(id, entry);
  return out;
}

/**
 * Writes the upload destination into the `[upload]` and `[upload.auth]` sections of the
 * configuration file, keeping its comments and other settings (the file is created from the
 * `init` template when missing). Fields of other sign-in kinds are cleared. A secret left empty
 * keeps the stored one only while the upload address's origin, the token address's origin and
 * the sign-in kind stay the same (compared before and after, both as the file says and as the
 * environment makes them); after such a change the secret must be typed again, else the
 * change is refused. A secret set in the environment (`env`, default `Deno.env`) wins: it is never
 * written into the file (a stored one is removed after such a change), a different value typed in
 * the form is refused, and confirming a change means typing the environment's value. The file is
 * replaced atomically (mode 0600 on POSIX when it holds a secret), and only if the result is a
 * valid configuration. A CA file that is not found, not readable or not a PEM certificate is
 * refused (a relative path is read from `options.baseDir`, the installation folder by default,
 * as start-up reads it).
 * @returns notes for the person at the form (e.g. that the secret comes from the environment)
 * @throws {ConfigError} when a value is not allowed (nothing is written then)
 */
export async function writeUploadSettings(
  configPath: string,
  settings: UploadSettings,
  options: { baseDir?: string; env?: Record<string, string> } = {},
): Promise<UploadSettingsWritten> {
  const env = options.env ?? Deno.env.toObject();
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
    if (!c.ok) {
      const problem = formProblem(field, c.allowed, key.secret ? "(hidden)" : raw);
      problems.push(c.reason === undefined ? problem : `${problem}. ${c.reason}`);
    } else updates.set(id, c.value);
  };
  check("upload.url", settings.url ?? "", "Server address");
  check("upload.ca_file", settings.caFile ?? "", "CA certificate file");
  check("upload.auth.kind", settings.authKind ?? "none", "Sign-in method");
  const newKind = (updates.get("upload.auth.kind") as string | undefined) ?? "none";
  const fieldsOfKind = newKind in AUTH_FIELDS
    ? [
      ...AUTH_FIELDS[newKind as keyof typeof AUTH_FIELDS].required,
      ...AUTH_FIELDS[newKind as keyof typeof AUTH_FIELDS].optional,
    ]
    : [];
  /** Secrets typed in the form, by setting name (written only when not set in the environment). */
  const typed = new Map<string, string>();
  for (const [prop, name] of SETTINGS_FIELDS) {
    const id = `upload.auth.${name}`;
    const key = KEYS_BY_ID.get(id)!;
    const given = (settings[prop] as string | undefined) ?? "";
    if (!fieldsOfKind.includes(name)) {
      if (current.values.has(id) && current.values.get(id)!.value !== "") updates.set(id, "");
      continue;
    }
    if (key.secret) {
      typed.set(name, given);
      // Never into the file when the environment sets it; an empty field keeps the stored one
      // (unless the destination changes: checked below).
      if (given === "" || env[envName(key)] !== undefined) continue;
    }
    check(id, given, name.replaceAll("_", " "));
  }
  const caFile = updates.get("upload.ca_file");
  if (typeof caFile === "string" && caFile !== "") {
    const found = await checkCertificateFile(resolveAgainst(options.baseDir ?? installDir(), caFile));
    if (found !== null) problems.push(`${found.message}: ${found.fix}`);
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const apply = (from: string) => {
    let out = from;
    for (const [id, value] of updates) {
      const key = KEYS_BY_ID.get(id)!;
      out = setTomlKey(out, key.section, key.name, value);
    }
    return out;
  };
  // Where the secret went before and where it goes after: as the file says, and as the
  // environment makes it (the gateway runs with both).
  const envLayer = readEnv(env, [], []).values;
  const fileBefore = merge(defaultsMerged(""), current.values);
  const fileAfter = merge(defaultsMerged(""), readTomlText(apply(text), label, []).values);
  const running = destinationOf(merge(fileAfter, envLayer));
  const changes = [
    ...new Set([
      ...destinationChanges(destinationOf(fileBefore), destinationOf(fileAfter)),
      ...destinationChanges(destinationOf(merge(fileBefore, envLayer)), running),
    ]),
  ];
  const secret = secretOfKind(running.kind);
  const notes: string[] = [];
  if (secret !== null) {
    const given = typed.get(secret.name) ?? "";
    const fromEnv = env[secret.variable];
    const id = `upload.auth.${secret.name}`;
    if (fromEnv !== undefined) {
      if (given !== "" && given !== fromEnv) {
        throw new ConfigError(
          `The ${secret.words} typed here differs from the one in the environment variable ${secret.variable}, ` +
            `which wins over this form. Nothing was saved: leave the field empty, or change the environment ` +
            `variable and restart dicom-gateway.`,
        );
      }
      if (changes.length > 0 && given === "") {
        throw new ConfigError(
          `${
            capitalised(changes.join(" and "))
          }: type the ${secret.words} again to confirm it (it comes from ` +
            `the environment variable ${secret.variable}, which wins over this form, and is not saved in the ` +
            `file). Nothing was saved.`,
        );
      }
      // A stored secret shadowed by the environment is never left behind for a new destination.
      if (changes.length > 0 && (current.values.get(id)?.value ?? "") !== "") updates.set(id, "");
      notes.push(environmentSecretNote(secret));
    } else if (changes.length > 0 && given === "") {
      throw new ConfigError(
        `${capitalised(changes.join(" and "))}: type the ${secret.words} again. A stored ${secret.words} ` +
          `is never sent to another server or used for another sign-in method. Nothing was saved.`,
      );
    }
  }
  text = apply(text);
  // The result must load: same checks as start-up, including the sign-in fields.
  const after = readTomlText(text, label, problems);
  const merged = defaultsMerged("");
  for (const [id, entry] of after.values) merged.set(id, entry);
  for (const [id, entry] of envLayer) if (KEYS_BY_ID.get(id)?.secret) merged.set(id, entry);
  assembleAuth(merged, label, problems);
  if (problems.length > 0) throw new ConfigError(problems);

  await writeSettingsFile(configPath, text);
  return { notes };
}

function capitalised(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
