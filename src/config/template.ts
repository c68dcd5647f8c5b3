/**
 * The settings file `init` writes: every setting at its default with a comment above it,
 * generated from the one table of settings ({@link CONFIG_KEYS}) so it cannot drift from
 * what `loadConfig` reads. Loading the text gives exactly the built-in defaults.
 * @module
 */
import { defaultConfig } from "./types.ts";
import {
  CONFIG_ENV,
  CONFIG_KEYS,
  type ConfigKey,
  type ConfigSection,
  type ConfigValue,
  envName,
} from "./schema.ts";
import { tomlValue } from "./toml_edit.ts";
import { formatRate } from "./rate.ts";

const SECTION_INTRO: Record<ConfigSection, string[]> = {
  "": [
    "DICOM receiving: what the modality (CT, ultrasound, X-ray ...) or local PACS must be told.",
  ],
  status: ["The status page, opened in a browser on this PC."],
  logs: ["Log files. Patient names are left out unless patient_details = true."],
  alerts: [
    "Alerts to a person: a message to a webhook (Slack, Microsoft Teams, Mattermost incoming webhook, or any",
    "receiver of JSON) when uploads stall, the sign-in is rejected, the archive is unreachable, the disk is",
    "nearly full, the archive refuses an image, or the gateway was not stopped cleanly; again when it clears.",
    "Alerts that cannot be sent are kept and retried; they never hold up receiving or uploading.",
  ],
  upload: [
    "Where images are uploaded: the central archive's DICOMweb address (STOW-RS goes to {url}/studies).",
    "Nothing is ever deleted before the central archive has confirmed it.",
  ],
  "upload.auth": [
    "How the gateway signs in to the central archive. Passwords, tokens and keys are best kept in",
    "environment variables (named below) rather than in this file.",
  ],
};

const AUTH_EXAMPLES = [
  "Examples, one per sign-in method: put the values into the lines above (each name only once).",
  "",
  "  No sign-in (a server on a private network):",
  '    kind = "none"',
  "",
  "  User name and password (HTTP basic; Orthanc, dcm4chee):",
  '    kind = "basic"',
  '    username = "clinic-gateway"',
  "    and the password in the environment variable DICOM_GATEWAY_UPLOAD_PASSWORD",
  "",
  "  Access token (bearer):",
  '    kind = "bearer"',
  "    and the token in DICOM_GATEWAY_UPLOAD_TOKEN",
  "",
  "  API key in a header:",
  '    kind = "header"',
  '    header_name = "X-API-Key"',
  "    and the key in DICOM_GATEWAY_UPLOAD_HEADER_VALUE",
  "",
  "  OAuth2 client credentials (e.g. Azure Health Data Services DICOM service):",
  '    kind = "oauth2"',
  '    token_url = "https://login.microsoftonline.com/<tenant-id>/oauth2/v2.0/token"',
  '    client_id = "<application id>"',
  '    scope = "https://dicom.healthcareapis.azure.com/.default"',
  "    and the client secret in DICOM_GATEWAY_UPLOAD_CLIENT_SECRET",
];

function renderDefault(key: ConfigKey, value: ConfigValue): string {
  if (key.kind === "minutes" && typeof value === "number") return tomlValue(`${value} min`);
  if (key.kind === "rate" && typeof value === "number") return tomlValue(formatRate(value));
  if (key.kind === "bytes" && typeof value === "number" && value > 0) {
    for (const [unit, size] of [["GiB", 1024 ** 3], ["MiB", 1024 ** 2], ["KiB", 1024]] as const) {
      if (value % size === 0) return tomlValue(`${value / size} ${unit}`);
    }
  }
  return tomlValue(value);
}

/** The text `init` writes: every setting with its default, a comment above each. */
export function initialConfigText(): string {
  const defaults = defaultConfig("");
  const out: string[] = [
    "# dicom-gateway settings.",
    "#",
    "# Lines starting with # are comments. Text goes in double quotes; Windows folders in single",
    "# quotes (data_dir = 'D:\\dicom\\data'). After a change, close the",
    "# gateway window and start it again (the status page's upload form applies its own changes).",
    "# Each setting can also be given as an option (e.g. --port 4104) or an environment variable",
    "# (e.g. DICOM_GATEWAY_PORT=4104); an option wins over the variable, which wins over this file.",
    `# Another settings file can be chosen with --config FILE or ${CONFIG_ENV}.`,
  ];
  let section: ConfigSection | null = null;
  for (const key of CONFIG_KEYS) {
    if (key.section !== section) {
      section = key.section;
      out.push("");
      if (section !== "") out.push(`[${section}]`);
      for (const line of SECTION_INTRO[section]) out.push(`# ${line}`);
    }
    out.push("");
    out.push(`# ${key.doc}`);
    const via = key.secret
      ? `environment ${envName(key)}`
      : key.kind === "bool"
      ? `option --${key.cliName} / --no-${key.cliName}, environment ${envName(key)}`
      : `option --${key.cliName}, environment ${envName(key)}`;
    out.push(`# (${via})`);
    out.push(`${key.name} = ${renderDefault(key, key.read(defaults))}`);
  }
  out.push("");
  for (const line of AUTH_EXAMPLES) out.push(line === "" ? "#" : `# ${line}`);
  out.push("");
  return out.join("\n");
}
