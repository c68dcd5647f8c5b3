/**
 * The status page's data: what the gateway reports ({@link StatusSnapshot}), the actions the
 * page can ask for ({@link StatusSource}), the JSON projection served at `/api/status` (never
 * secrets: fields are copied one by one, so an extra field on the snapshot cannot leak), and
 * the plain-words headline ({@link headline}). Pure functions only.
 * @module
 */
import { type AddressKind, kindOf } from "../net/interfaces.ts";
import { secretOfKind, type UploadSettings } from "../config/upload_settings.ts";

/** One non-loopback IPv4 address of this PC (what the modality must enter) and its adapter. */
export interface ModalityAddress {
  address: string;
  interfaceName: string;
  /** 169.254.x.x: no address from DHCP; a modality cannot rely on it. */
  linkLocal: boolean;
  /** `private` (RFC 1918), `shared` (100.64/10), `link-local` or `public`; absent: derived from the address. */
  kind?: AddressKind;
}

/** One recent study and how far its upload has come. */
export interface StudySummary {
  studyInstanceUid: string;
  /** Already redacted (or not) according to `logPatientDetails`. */
  patientName: string;
  modality: string;
  /** DICOM DA (YYYYMMDD) or "". */
  studyDate: string;
  description: string;
  callingAeTitle: string;
  received: number;
  delivered: number;
  failed: number;
  pending: number;
  /** ISO 8601 times. */
  firstReceivedAt: string;
  lastReceivedAt: string;
  lastError: string | null;
  /** Delivered and listed by the archive's QIDO-RS answer (a subset of `delivered`). */
  verified?: number;
  /** Found missing in the archive after delivery (being re-checked or sent again). */
  missingInArchive?: number;
  /**
   * Every received instance proven in the archive: verified (`upload.verify = "query"`), or
   * delivered when the STOW-RS answer is the only proof (`"response"`). Set by {@link toApiStatus}.
   */
  complete?: boolean;
}

/** Verification by query (PS3.18 §10.6 QIDO-RS) beside the uploads. */
export interface VerificationView {
  /** "query": the archive is asked; "response": the STOW-RS answer is the only proof. */
  mode: "query" | "response";
  /** ISO 8601. */
  lastVerifiedAt: string | null;
  /** Why verification proves nothing at the moment, in plain words; null when it works. */
  problem: string | null;
  problemAt: string | null;
}

/** An instance the central server refused, with its reason. */
export interface FailureSummary {
  sopInstanceUid: string;
  studyInstanceUid: string;
  reason: string;
  /** ISO 8601. */
  at: string;
}

/** A SOP Instance UID re-sent within another study than its earlier copy (the newest copy won). */
export interface StudyChangeSummary {
  sopInstanceUid: string;
  previousStudyInstanceUid: string;
  studyInstanceUid: string;
  callingAeTitle: string;
  /** ISO 8601. */
  at: string;
}

/**
 * Uploader state in one word:
 * `not-configured` (no destination), `idle` (nothing to send), `uploading`,
 * `retrying` (server unreachable or erroring; waiting for the next attempt),
 * `credentials-rejected` (401/403: queue paused until the sign-in is fixed).
 */
export type UploadState = "not-configured" | "idle" | "uploading" | "retrying" | "credentials-rejected";

/** Health of the connection to the central server. */
export interface UploadHealth {
  configured: boolean;
  /** DICOMweb root without credentials. */
  url: string;
  state: UploadState;
  lastSuccessAt: string | null;
  lastError: string | null;
  lastErrorAt: string | null;
  /** Start of the current run of errors (for "unreachable since 10:02"); null when the last attempt worked. */
  failingSince: string | null;
  nextRetryAt: string | null;
  /** STOW-RS requests in flight. */
  inFlight: number;
  /**
   * A problem with a file the upload settings name (the CA file: not found, not readable, not a
   * certificate, or the wrong certificate for the server), in plain words; null when none.
   */
  settingsProblem: { title: string; fix: string } | null;
  /** How delivery is proven and whether the archive's searches answer. */
  verification?: VerificationView;
  /** Lossless compression for the upload (issue 11); absent when the uploader does not report it. */
  compression?: UploadCompressionView;
}

/** What the page shows about compression: the setting, the counts, the syntaxes refused. */
export interface UploadCompressionView {
  /** `upload.compression`: "jpeg-ls", "htj2k" or "none". */
  setting: string;
  compressed: number;
  bytesIn: number;
  bytesOut: number;
  /** Instances sent as received, by cause ("pixel-format", "high-bits", "mismatch", "refused", …). */
  original: Record<string, number>;
  /** Syntaxes this destination refused (ISO 8601 `at`); cleared when the upload settings change. */
  refused: { syntax: string; transferSyntaxUid: string; at: string; reason: string }[];
}

/** The destination as the settings form shows it: no secrets, only whether one is stored. */
export interface UploadSettingsView {
  url: string;
  /** "none" | "basic" | "bearer" | "header" | "oauth2" */
  authKind: string;
  username: string;
  headerName: string;
  tokenUrl: string;
  clientId: string;
  scope: string;
  caFile: string;
  /** A password / token / key / client secret is stored (it is never shown). */
  secretStored: boolean;
  /**
   * The environment variable that sets this sign-in's secret (it wins over the file and the
   * form, which then never writes one), e.g. `DICOM_GATEWAY_UPLOAD_PASSWORD`; "" or absent when none.
   */
  secretFromEnvironment?: string;
}

/** One alert as the page lists it (most recent first). */
export interface AlertSummary {
  /** ISO 8601. */
  at: string;
  /** `upload-stalled`, `credentials-rejected`, `archive-unreachable`, `disk-low`, `instance-refused`, `unclean-stop`, `heartbeat`. */
  kind: string;
  /** `begins` (a problem started), `clears` (it ended) or `notice` (one-off: unclean stop, heartbeat). */
  phase: "begins" | "clears" | "notice";
  /** One line in plain words. */
  title: string;
  /** `sent`, `waiting` (queued, retried until the webhook answers) or `off` (no webhook set up). */
  delivery: "sent" | "waiting" | "off";
}

/** Everything the status page, `/api/status` and `/metrics` show, taken at one moment. */
export interface StatusSnapshot {
  version: string;
  /** ISO 8601. */
  startedAt: string;
  modality: { aeTitle: string; port: number; addresses: ModalityAddress[]; hostname: string };
  queue: {
    pending: number;
    sending: number;
    delivered: number;
    failed: number;
    bytesPending: number;
    /** Delivered and verified in the archive. */
    verified?: number;
    /** Found missing in the archive after delivery. */
    missingInArchive?: number;
  };
  /** Most recent first. */
  studies: StudySummary[];
  /** Most recent first. */
  failures: FailureSummary[];
  /** SOP Instance UIDs re-sent within another study, most recent first (absent: not tracked). */
  studyChanges?: StudyChangeSummary[];
  /** Free/total are null when the operating system cannot tell. */
  disk: { dataDir: string; freeBytes: number | null; totalBytes: number | null; minFreeBytes: number };
  upload: UploadHealth;
  associations: { active: number; total: number; rejected: number };
  settings: UploadSettingsView;
  /** The last alerts, most recent first (empty when none). */
  alerts: AlertSummary[];
}

/** The form's fields, as `saveUploadSettings` receives them (empty secrets mean "keep the stored one"). */
export type UploadSettingsInput = UploadSettings;

/** What the status server needs from the running gateway. */
export interface StatusSource {
  /** The current state; called for every page, poll and scrape, so keep it cheap. */
  snapshot(): StatusSnapshot;
  /** Puts failed instances (of one study, or all) back in the queue; returns how many. */
  retryFailed(studyInstanceUid?: string): Promise<number>;
  /** Tries the central server now (sign-in included). */
  testConnection(): Promise<{ ok: boolean; message: string }>;
  /** Writes the destination into the settings file and applies it; throws `ConfigError` for bad values. */
  saveUploadSettings(settings: UploadSettingsInput): Promise<void>;
}

/** Removes user name, password, query and fragment from a URL for display. */
export function displayUrl(url: string): string {
  if (url === "") return "";
  try {
    const u = new URL(url);
    u.username = "";
    u.password = "";
    u.search = "";
    u.hash = "";
    return u.toString().replace(/\/$/, "");
  } catch {
    return "(invalid address)";
  }
}

const str = (
  v: unknown,
): string => (typeof v === "string" ? v : v === null || v === undefined ? "" : String(v));
const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));
const num = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) ? v : 0);
const numOrNull = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

/**
 * The `/api/status` document: a field-by-field copy of the snapshot. Anything not declared in
 * {@link StatusSnapshot} (say, a config object with a password that a caller passed along) is
 * dropped, and the upload URL loses any credentials.
 */
export function toApiStatus(s: StatusSnapshot): StatusSnapshot {
  const verification = s.upload.verification;
  const mode = verification?.mode === "response" ? "response" : "query";
  return {
    version: str(s.version),
    startedAt: str(s.startedAt),
    modality: {
      aeTitle: str(s.modality.aeTitle),
      port: num(s.modality.port),
      addresses: s.modality.addresses.map((a) => ({
        address: str(a.address),
        interfaceName: str(a.interfaceName),
        linkLocal: a.linkLocal === true,
        kind: kindOf(a),
      })),
      hostname: str(s.modality.hostname),
    },
    queue: {
      pending: num(s.queue.pending),
      sending: num(s.queue.sending),
      delivered: num(s.queue.delivered),
      failed: num(s.queue.failed),
      bytesPending: num(s.queue.bytesPending),
      ...(s.queue.verified === undefined ? {} : {
        verified: num(s.queue.verified),
        missingInArchive: num(s.queue.missingInArchive),
      }),
    },
    studies: s.studies.map((t) => ({
      studyInstanceUid: str(t.studyInstanceUid),
      patientName: str(t.patientName),
      modality: str(t.modality),
      studyDate: str(t.studyDate),
      description: str(t.description),
      callingAeTitle: str(t.callingAeTitle),
      received: num(t.received),
      delivered: num(t.delivered),
      failed: num(t.failed),
      pending: num(t.pending),
      firstReceivedAt: str(t.firstReceivedAt),
      lastReceivedAt: str(t.lastReceivedAt),
      lastError: strOrNull(t.lastError),
      ...(t.verified === undefined ? {} : {
        verified: num(t.verified),
        missingInArchive: num(t.missingInArchive),
        complete: isStudyComplete(t, mode),
      }),
    })),
    failures: s.failures.map((f) => ({
      sopInstanceUid: str(f.sopInstanceUid),
      studyInstanceUid: str(f.studyInstanceUid),
      reason: str(f.reason),
      at: str(f.at),
    })),
    ...(s.studyChanges === undefined ? {} : {
      studyChanges: s.studyChanges.map((c) => ({
        sopInstanceUid: str(c.sopInstanceUid),
        previousStudyInstanceUid: str(c.previousStudyInstanceUid),
        studyInstanceUid: str(c.studyInstanceUid),
        callingAeTitle: str(c.callingAeTitle),
        at: str(c.at),
      })),
    }),
    disk: {
      dataDir: str(s.disk.dataDir),
      freeBytes: numOrNull(s.disk.freeBytes),
      totalBytes: numOrNull(s.disk.totalBytes),
      minFreeBytes: num(s.disk.minFreeBytes),
    },
    upload: {
      configured: s.upload.configured === true,
      url: displayUrl(str(s.upload.url)),
      state: s.upload.state,
      lastSuccessAt: strOrNull(s.upload.lastSuccessAt),
      lastError: strOrNull(s.upload.lastError),
      lastErrorAt: strOrNull(s.upload.lastErrorAt),
      failingSince: strOrNull(s.upload.failingSince),
      nextRetryAt: strOrNull(s.upload.nextRetryAt),
      inFlight: num(s.upload.inFlight),
      settingsProblem: s.upload.settingsProblem
        ? { title: str(s.upload.settingsProblem.title), fix: str(s.upload.settingsProblem.fix) }
        : null,
      ...(verification === undefined ? {} : {
        verification: {
          mode,
          lastVerifiedAt: strOrNull(verification.lastVerifiedAt),
          problem: strOrNull(verification.problem),
          problemAt: strOrNull(verification.problemAt),
        },
      }),
      ...(s.upload.compression === undefined ? {} : {
        compression: {
          setting: str(s.upload.compression.setting),
          compressed: num(s.upload.compression.compressed),
          bytesIn: num(s.upload.compression.bytesIn),
          bytesOut: num(s.upload.compression.bytesOut),
          original: Object.fromEntries(
            Object.entries(s.upload.compression.original).map(([k, v]) => [str(k), num(v)]),
          ),
          refused: s.upload.compression.refused.map((r) => ({
            syntax: str(r.syntax),
            transferSyntaxUid: str(r.transferSyntaxUid),
            at: str(r.at),
            reason: str(r.reason),
          })),
        },
      }),
    },
    associations: {
      active: num(s.associations.active),
      total: num(s.associations.total),
      rejected: num(s.associations.rejected),
    },
    alerts: (s.alerts ?? []).map((a) => ({
      at: str(a.at),
      kind: str(a.kind),
      phase: a.phase === "begins" || a.phase === "clears" ? a.phase : "notice",
      title: str(a.title),
      delivery: a.delivery === "sent" || a.delivery === "waiting" ? a.delivery : "off",
    })),
    settings: {
      url: displayUrl(str(s.settings.url)),
      authKind: str(s.settings.authKind),
      username: str(s.settings.username),
      headerName: str(s.settings.headerName),
      tokenUrl: displayUrl(str(s.settings.tokenUrl)),
      clientId: str(s.settings.clientId),
      scope: str(s.settings.scope),
      caFile: str(s.settings.caFile),
      secretStored: s.settings.secretStored === true,
      secretFromEnvironment: str(s.settings.secretFromEnvironment),
    },
  };
}

/**
 * A study is complete only when every received instance is proven in the archive: verified by
 * query, or — with `verify = "response"` — delivered (the STOW-RS answer is the only proof).
 */
export function isStudyComplete(
  t: Pick<StudySummary, "received" | "delivered" | "verified">,
  mode: VerificationView["mode"],
): boolean {
  const proven = mode === "response" ? num(t.delivered) : num(t.verified);
  return num(t.received) > 0 && proven === num(t.received);
}

/**
 * The verification part of a study's counts: "118 verified in the archive", or, with
 * `verify = "response"`, "the upload answer is the only proof".
 */
export function verificationText(
  t: Pick<StudySummary, "received" | "delivered" | "verified">,
  mode: VerificationView["mode"],
): string {
  if (mode === "response") return "the upload answer is the only proof";
  return `${num(t.verified)} verified in the archive`;
}

// ---------------------------------------------------------------------------------------------
// Plain words.

/** Colour of the headline: green all good, amber attention (nothing lost), red action needed. */
export type HeadlineLevel = "green" | "amber" | "red";

/** The one sentence at the top of the page, and a second one saying what it means or what to do. */
export interface Headline {
  level: HeadlineLevel;
  title: string;
  detail: string;
}

const pad = (n: number) => String(n).padStart(2, "0");
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** `10:02` today, `27 Nov 10:02` another day (this PC's time zone); `""` for null or bad input. */
export function shortTime(iso: string | null, now: Date = new Date()): string {
  if (iso === null || iso === "") return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  const sameDay = d.getFullYear() === now.getFullYear() && d.getMonth() === now.getMonth() &&
    d.getDate() === now.getDate();
  if (sameDay) return hm;
  const year = d.getFullYear() === now.getFullYear() ? "" : ` ${d.getFullYear()}`;
  return `${d.getDate()} ${MONTHS[d.getMonth()]}${year} ${hm}`;
}

/** `1.2 GB`, `830 MB`, `12 kB`, `512 bytes` (decimal units, as Windows Explorer's "free space" reads). */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} bytes`;
  const units = ["kB", "MB", "GB", "TB", "PB"];
  let v = bytes;
  let i = -1;
  do {
    v /= 1000;
    i++;
  } while (v >= 1000 && i < units.length - 1);
  return `${v >= 100 ? Math.round(v) : v.toFixed(1).replace(/\.0$/, "")} ${units[i]}`;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** The headline for a snapshot: the most urgent thing first, in words clinic staff use. */
export function headline(s: StatusSnapshot, now: Date = new Date()): Headline {
  const waiting = s.queue.pending + s.queue.sending;
  const kept = waiting > 0
    ? `${plural(waiting, "image")} (${formatBytes(s.queue.bytesPending)}) are kept safely on this PC`
    : "";
  if (s.disk.freeBytes !== null && s.disk.freeBytes < s.disk.minFreeBytes) {
    return {
      level: "red",
      title: `Disk almost full: only ${formatBytes(s.disk.freeBytes)} free`,
      detail:
        `Delivered studies are removed first. If the disk fills up, modalities will be told to try again ` +
        `later. Free some space on the disk holding ${s.disk.dataDir}.`,
    };
  }
  if (s.upload.configured && s.upload.settingsProblem) {
    return {
      level: "red",
      title: s.upload.settingsProblem.title,
      detail: `${kept ? `${kept} and will be sent once this is fixed. ` : "Nothing is lost. "}` +
        `To fix it: ${s.upload.settingsProblem.fix}`,
    };
  }
  switch (s.upload.state) {
    case "credentials-rejected":
      return {
        level: "red",
        title: "Credentials rejected: the central server refused our sign-in",
        detail: `${kept ? `${kept} and will be sent once this is fixed. ` : ""}` + signInAdvice(s.settings),
      };
    case "retrying": {
      const since = shortTime(s.upload.failingSince ?? s.upload.lastErrorAt, now);
      const next = shortTime(s.upload.nextRetryAt, now);
      return {
        level: "amber",
        title: `Waiting to retry: central server unreachable${since ? ` since ${since}` : ""}`,
        detail: `${kept ? `${kept} and will be sent automatically. ` : "Nothing is lost. "}` +
          `${next ? `Next attempt at ${next}. ` : ""}${
            s.upload.lastError ? `Last error: ${s.upload.lastError}` : ""
          }`
            .trim(),
      };
    }
    case "not-configured":
      return {
        level: "amber",
        title: "Receiving, but not uploading: no central server is set up",
        detail: `${
          kept ? `${kept}. ` : ""
        }Enter the central server's address under "Upload destination" below.`,
      };
    default:
      break;
  }
  if (s.modality.addresses.every((a) => a.linkLocal)) {
    return {
      level: "amber",
      title: "No network address: modalities cannot reach this PC",
      detail: `${kept ? `${kept}. ` : ""}` +
        "Connect this PC to the clinic network (cable or Wi-Fi) and check that it gets an address (ipconfig).",
    };
  }
  if (s.queue.failed > 0) {
    return {
      level: "amber",
      title: `Receiving and uploading, but ${plural(s.queue.failed, "image was", "images were")} refused`,
      detail:
        `The central server refused them (reasons under "Failures"). Fix the cause, then press "Retry failed".`,
    };
  }
  const last = shortTime(s.upload.lastSuccessAt, now);
  return {
    level: "green",
    title: "All good: receiving and uploading",
    detail: waiting > 0
      ? `Sending ${plural(waiting, "image")} (${formatBytes(s.queue.bytesPending)}) now.`
      : `Everything received has been delivered.${last ? ` Last delivery at ${last}.` : ""}`,
  };
}

/**
 * What to check after a rejected sign-in. A secret set in the environment wins over the form, so
 * the advice sends the reader there instead of to the form's secret field.
 */
function signInAdvice(settings: UploadSettingsView): string {
  const variable = settings.secretFromEnvironment ?? "";
  if (variable === "") {
    return `Check the user name and password (or token) under "Upload destination", then press "Test connection".`;
  }
  const secret = secretOfKind(settings.authKind);
  const words = secret?.words ?? "secret";
  return `The ${words} comes from the environment variable ${variable}, which wins over the "Upload destination" ` +
    `form: correct it there and start dicom-gateway again${
      settings.authKind === "none" || settings.authKind === "bearer" || settings.authKind === "header"
        ? ""
        : ` (check the other sign-in fields under "Upload destination" too)`
    }, then press "Test connection".`;
}

/** The upload state in a few words, for the "Central server" box. */
export function uploadStateText(state: UploadState): string {
  switch (state) {
    case "not-configured":
      return "Not set up";
    case "idle":
      return "Connected, nothing to send";
    case "uploading":
      return "Uploading";
    case "retrying":
      return "Unreachable, retrying";
    case "credentials-rejected":
      return "Credentials rejected";
  }
}
