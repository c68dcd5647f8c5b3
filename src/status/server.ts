/**
 * The local status page server (`Deno.serve`, 127.0.0.1 by default).
 *
 * Routes: `GET /` the page, `GET /live` its refreshing part, `GET /api/status` JSON,
 * `GET /metrics` Prometheus text; `POST /api/retry`, `POST /api/test-connection`,
 * `POST /api/settings` (JSON bodies).
 *
 * Guards, because a web page open in the clinic PC's browser must not be able to read patient
 * names or change where images go:
 * - DNS rebinding: every request's `Host` must be `localhost`, `127.0.0.1` or `[::1]` (or an
 *   allowed name) with our port, else 421.
 * - CSRF: a POST must carry the page's token in `X-CSRF-Token`, be `application/json`, and, when
 *   the browser says where it comes from (`Origin`, `Sec-Fetch-Site`), come from this page's
 *   own origin; else 403 (415 for another content type).
 * @module
 */
import { ConfigError } from "../config/error.ts";
import { environmentSecretNote, secretOfKind } from "../config/upload_settings.ts";
import { redact } from "../upload/auth.ts";
import { logger } from "../log.ts";
import type { StatusSource, UploadSettingsInput } from "./api.ts";
import { toApiStatus } from "./api.ts";
import { METRICS_CONTENT_TYPE, renderMetrics } from "./metrics.ts";
import { renderLive, renderPage } from "./page.ts";

export type {
  FailureSummary,
  ModalityAddress,
  StatusSnapshot,
  StatusSource,
  StudySummary,
  UploadHealth,
  UploadSettingsInput,
  UploadSettingsView,
  UploadState,
} from "./api.ts";

const log = logger("status");

/** Largest POST body accepted (the settings form is a few hundred bytes). */
const MAX_BODY_BYTES = 64 * 1024;

/** Options of {@link startStatusServer}. */
export interface StatusServerOptions {
  /** Address to bind; `127.0.0.1` unless deliberately changed. */
  hostname: string;
  /** Port; 0 picks a free one (tests). */
  port: number;
  source: StatusSource;
  /** The anti-CSRF token rendered into the page; a random one by default. */
  csrfToken?: string;
  /**
   * Extra host names accepted in the Host header besides localhost/127.0.0.1/[::1]
   * (e.g. this PC's LAN address when a monitoring system scrapes /metrics).
   */
  allowedHosts?: string[];
  /** This PC's addresses, accepted in Host when bound to every interface (default: read at start). */
  interfaceAddresses?: string[];
}

/** A running status server. */
export interface StatusServer {
  /** The port actually bound. */
  port: number;
  /** `http://127.0.0.1:PORT/` (or the bound address). */
  url: string;
  /** Stops accepting requests and waits for open ones. */
  close(): Promise<void>;
}

function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Compares two strings in time independent of where they differ. */
function constantTimeEqual(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

/**
 * The host names (without port) a request may use in its Host header. Bound to every interface
 * (`0.0.0.0`, `::`), the page also answers to this PC's own addresses (`interfaceAddresses`, read
 * at start): IP literals, which a DNS-rebinding page cannot put in Host; names stay refused.
 */
export function acceptedHostNames(
  bindHostname: string,
  extra: string[] = [],
  interfaceAddresses: string[] = [],
): Set<string> {
  const names = new Set(["localhost", "127.0.0.1", "[::1]"]);
  const bracket = (address: string) =>
    address.includes(":") && !address.startsWith("[") ? `[${address.toLowerCase()}]` : address.toLowerCase();
  const wildcard = bindHostname === "0.0.0.0" || bindHostname === "::" || bindHostname === "[::]";
  if (!wildcard && bindHostname !== "") names.add(bracket(bindHostname));
  if (wildcard) {
    for (const address of interfaceAddresses) {
      // An IPv6 zone ("fe80::1%eth0") cannot appear in a Host header; skip such addresses.
      if (!address.includes("%")) names.add(bracket(address));
    }
  }
  for (const h of extra) names.add(h.toLowerCase());
  return names;
}

/** This PC's interface addresses, or none when they cannot be read. */
function interfaceAddresses(): string[] {
  try {
    return Deno.networkInterfaces().map((i) => i.address);
  } catch {
    return [];
  }
}

/**
 * Checks the Host header against the names we answer to and our port (DNS rebinding defence).
 * Returns null when acceptable, else the reason.
 */
export function checkHost(host: string | null, port: number, accepted: Set<string>): string | null {
  if (host === null || host === "") return "missing Host header";
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(host.trim().toLowerCase());
  if (!m) return "malformed Host header";
  const name = m[1]!;
  const hostPort = m[2] === undefined ? 80 : Number(m[2]);
  if (!accepted.has(name)) return `Host "${name}" is not this PC`;
  if (hostPort !== port) return `Host port ${hostPort} is not ${port}`;
  return null;
}

/**
 * Checks a POST: the CSRF token, JSON content type, and — when the browser tells — that it comes
 * from our own origin. Returns null when acceptable, else [status, reason].
 */
export function checkPost(
  headers: Headers,
  options: { csrfToken: string; port: number; accepted: Set<string> },
): [number, string] | null {
  const site = headers.get("sec-fetch-site");
  if (site !== null && site !== "same-origin" && site !== "none") {
    return [403, `cross-site request (${site})`];
  }
  const origin = headers.get("origin");
  if (origin !== null) {
    let ok = false;
    try {
      const u = new URL(origin);
      const port = u.port === "" ? (u.protocol === "https:" ? 443 : 80) : Number(u.port);
      ok = u.protocol === "http:" && options.accepted.has(u.hostname.toLowerCase()) && port === options.port;
    } catch {
      ok = false; // "null" (sandboxed frames, file: pages) and garbage
    }
    if (!ok) return [403, `foreign origin ${origin}`];
  }
  const token = headers.get("x-csrf-token");
  if (token === null || !constantTimeEqual(token, options.csrfToken)) {
    return [403, "missing or wrong CSRF token"];
  }
  const type = (headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/json") return [415, "the body must be application/json"];
  return null;
}

function securityHeaders(nonce: string | null): Headers {
  const h = new Headers({
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
  });
  const script = nonce ? `script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; ` : "";
  h.set(
    "Content-Security-Policy",
    `default-src 'none'; ${script}style-src-attr 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; ` +
      `form-action 'self'; base-uri 'none'; frame-ancestors 'none'`,
  );
  return h;
}

function respond(
  body: string,
  status: number,
  contentType: string,
  nonce: string | null = null,
): Response {
  const headers = securityHeaders(nonce);
  headers.set("Content-Type", contentType);
  return new Response(body, { status, headers });
}

const json = (value: unknown, status = 200) =>
  respond(JSON.stringify(value, null, 2), status, "application/json; charset=utf-8");
const text = (body: string, status: number) => respond(body + "\n", status, "text/plain; charset=utf-8");

async function readJsonBody(req: Request): Promise<Record<string, unknown>> {
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > MAX_BODY_BYTES) throw new BodyError(413, "request body too large");
  if (req.body === null) return {};
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel();
      throw new BodyError(413, "request body too large");
    }
    chunks.push(value);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  const textBody = new TextDecoder().decode(all).trim();
  if (textBody === "") return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(textBody);
  } catch {
    throw new BodyError(400, "the body is not valid JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new BodyError(400, "the body must be a JSON object");
  }
  return parsed as Record<string, unknown>;
}

class BodyError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

const SETTINGS_FIELDS = [
  "url",
  "authKind",
  "username",
  "password",
  "token",
  "headerName",
  "headerValue",
  "tokenUrl",
  "clientId",
  "clientSecret",
  "scope",
  "caFile",
] as const;

/** The form fields that carry a secret. */
const SECRET_FIELDS = ["password", "token", "headerValue", "clientSecret"] as const;

function toSettings(body: Record<string, unknown>): UploadSettingsInput {
  const out: Record<string, string> = { url: "", authKind: "none" };
  for (const f of SETTINGS_FIELDS) {
    const v = body[f];
    if (typeof v === "string") out[f] = v;
    else if (v !== undefined && v !== null) throw new BodyError(400, `"${f}" must be text`);
  }
  return out as unknown as UploadSettingsInput;
}

/** Builds the request handler (exported for tests that call it without a socket). */
export function createStatusHandler(options: {
  port: () => number;
  source: StatusSource;
  csrfToken: string;
  accepted: Set<string>;
}): (req: Request) => Promise<Response> {
  const { source, csrfToken, accepted } = options;
  return async (req: Request): Promise<Response> => {
    const port = options.port();
    const hostProblem = checkHost(req.headers.get("host"), port, accepted);
    if (hostProblem !== null) {
      log.warning("Status page refused a request: {reason}", { reason: hostProblem });
      return text(`Misdirected request: ${hostProblem}. Open http://127.0.0.1:${port}/ on this PC.`, 421);
    }
    const path = new URL(req.url).pathname;
    let typedSecrets: string[] = [];
    try {
      if (req.method === "GET" || req.method === "HEAD") {
        switch (path) {
          case "/": {
            const nonce = randomToken().slice(0, 24);
            return respond(
              renderPage(source.snapshot(), { csrfToken, nonce }),
              200,
              "text/html; charset=utf-8",
              nonce,
            );
          }
          case "/live":
            return respond(renderLive(source.snapshot()).value, 200, "text/html; charset=utf-8");
          case "/api/status":
            return json(toApiStatus(source.snapshot()));
          case "/metrics":
            return respond(renderMetrics(toApiStatus(source.snapshot())), 200, METRICS_CONTENT_TYPE);
          case "/favicon.ico":
            return new Response(null, { status: 204, headers: securityHeaders(null) });
        }
        if (["/api/retry", "/api/test-connection", "/api/settings"].includes(path)) {
          return text("Use POST.", 405);
        }
        return text("Not found.", 404);
      }
      if (req.method !== "POST") return text("Method not allowed.", 405);
      if (!["/api/retry", "/api/test-connection", "/api/settings"].includes(path)) {
        return text("Not found.", 404);
      }
      const refused = checkPost(req.headers, { csrfToken, port, accepted });
      if (refused !== null) {
        log.warning("Status page refused a {path} request: {reason}", { path, reason: refused[1] });
        return json({ ok: false, message: `Refused: ${refused[1]}.` }, refused[0]);
      }
      const body = await readJsonBody(req);
      switch (path) {
        case "/api/retry": {
          const uid = body.studyInstanceUid;
          if (uid !== undefined && typeof uid !== "string") {
            throw new BodyError(400, '"studyInstanceUid" must be text');
          }
          const n = await source.retryFailed(uid === undefined || uid === "" ? undefined : uid);
          log.info("Retry requested from the status page: {count} instances queued again", { count: n });
          return json({
            ok: true,
            retried: n,
            message: n === 0
              ? "Nothing to retry."
              : `${n} ${n === 1 ? "image is" : "images are"} queued to be sent again.`,
          });
        }
        case "/api/test-connection": {
          const r = await source.testConnection();
          return json({ ok: r.ok, message: r.message });
        }
        default: {
          const settings = toSettings(body);
          typedSecrets = SECRET_FIELDS.map((f) => settings[f] ?? "");
          await source.saveUploadSettings(settings);
          log.info("Upload destination changed from the status page: {url}", {
            url: redact(settings.url || "(none)", typedSecrets),
          });
          // A secret set in the environment wins over the form (which did not write it): say so.
          const view = source.snapshot().settings;
          const secret = secretOfKind(view.authKind);
          const note = secret !== null && (view.secretFromEnvironment ?? "") !== ""
            ? ` ${environmentSecretNote({ ...secret, variable: view.secretFromEnvironment! })}`
            : "";
          return json({ ok: true, message: `Saved. The gateway now uploads to the new destination.${note}` });
        }
      }
    } catch (e) {
      // What goes back to the page and into the log never holds a secret typed into the form.
      if (e instanceof BodyError) return json({ ok: false, message: e.message }, e.status);
      if (e instanceof ConfigError) return json({ ok: false, message: redact(e.message, typedSecrets) }, 400);
      const message = redact((e as Error)?.message ?? String(e), typedSecrets);
      log.error("Status page error on {path}: {error}", { path, error: message });
      return json({ ok: false, message: `Internal error: ${message}` }, 500);
    }
  };
}

/**
 * Starts the status server. Throws (synchronously) when the port cannot be bound, e.g.
 * `Deno.errors.AddrInUse`.
 */
export function startStatusServer(options: StatusServerOptions): StatusServer {
  const csrfToken = options.csrfToken ?? randomToken();
  const accepted = acceptedHostNames(
    options.hostname,
    options.allowedHosts,
    options.interfaceAddresses ?? interfaceAddresses(),
  );
  let boundPort = options.port;
  const handler = createStatusHandler({ port: () => boundPort, source: options.source, csrfToken, accepted });
  const server = Deno.serve({ hostname: options.hostname, port: options.port, onListen: () => {} }, handler);
  boundPort = server.addr.port;
  const wildcard = options.hostname === "0.0.0.0" || options.hostname === "::";
  const shownHost = wildcard
    ? "127.0.0.1"
    : options.hostname.includes(":")
    ? `[${options.hostname}]`
    : options.hostname;
  return {
    port: boundPort,
    url: `http://${shownHost}:${boundPort}/`,
    close: async () => {
      await server.shutdown();
    },
  };
}
