/**
 * Authorization header providers for the DICOMweb server: none, HTTP basic (RFC 7617), bearer token
 * (RFC 6750), a custom header (API key), and OAuth 2.0 client credentials (RFC 6749 §4.4) with the
 * token cached until shortly before it expires and refreshed once after a 401. Secrets never leave
 * this module except inside the headers of the request itself: {@linkcode redact} scrubs them from
 * any text that goes to logs, errors, the index or the status page.
 * @module
 */
import type { UploadAuth, UploadConfig } from "../config/types.ts";
import {
  describeNetworkError,
  type HttpTransport,
  InsecureCredentialsError,
  sendRequest,
  startIdleTimer,
  stripUrlCredentials,
} from "./http.ts";

/** Supplies the headers that authorize a request. */
export interface AuthProvider {
  /** Headers to add to the next request (may fetch an OAuth2 token). */
  headers(stopSignal?: AbortSignal): Promise<Record<string, string>>;
  /**
   * Called after a 401: forgets cached credentials. True when asking again may help (a fresh OAuth2
   * token), so the caller retries the request once; false for static credentials.
   */
  invalidate(): boolean;
  /** Every secret this provider knows (configured and obtained), for redaction. */
  secrets(): string[];
}

/** The token endpoint or the configured credentials were refused: the queue pauses. */
export class CredentialsRejectedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CredentialsRejectedError";
  }
}

/** The token endpoint could not be reached or failed temporarily: retried like any network error. */
export class TokenUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TokenUnavailableError";
  }
}

/** Secrets shorter than this are not redacted (they would blank out ordinary words). */
const MIN_SECRET_LENGTH = 4;

/** Base64 runs shorter than this, cut from a longer encoding, are not redacted on their own. */
const MIN_BASE64_RUN = 6;

function base64Bytes(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function base64Utf8(text: string): string {
  return base64Bytes(new TextEncoder().encode(text));
}

/** RFC 4648 §5 "base64url": `-` and `_` for `+` and `/`. */
function base64Url(standard: string): string {
  return standard.replaceAll("+", "-").replaceAll("/", "_");
}

/**
 * The base64 characters that stand for `text` wherever it sits inside a longer base64 text: for
 * each of the three alignments (RFC 4648 §4: 3 bytes → 4 characters), the characters whose 6 bits
 * all come from `text`, so an echoed base64 body still hides it.
 */
function base64Runs(text: string): string[] {
  const bytes = new TextEncoder().encode(text);
  const out: string[] = [];
  for (let offset = 0; offset < 3; offset++) {
    const padded = new Uint8Array(offset + bytes.length);
    padded.set(bytes, offset);
    const encoded = base64Bytes(padded);
    const first = Math.ceil((offset * 8) / 6);
    const end = Math.floor(((offset + bytes.length) * 8) / 6);
    const run = encoded.slice(first, end);
    if (run.length >= MIN_BASE64_RUN) out.push(run, base64Url(run));
  }
  return out;
}

/** `%2F` → `%2f`: some servers echo percent-encodings in lower case (RFC 3986 §2.1 allows both). */
function lowerHex(encoded: string): string {
  return encoded.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase());
}

/**
 * Every form in which `secret` may come back in text: as is; URL-encoded (`encodeURIComponent`,
 * with `+` for spaces, and the `application/x-www-form-urlencoded` serializer of the WHATWG URL
 * standard, as an OAuth2 token request body carries `client_secret=…`; upper- and lower-case
 * hex); base64 (RFC 4648 standard and url-safe, with and without padding, and at any alignment
 * inside a longer base64 text); JSON-escaped (JSON.stringify's escapes, `\/` for `/`, and
 * `\uXXXX` for every non-ASCII character as Python's json module writes them); HTML-escaped.
 */
export function secretForms(secret: string): string[] {
  if (secret.length < MIN_SECRET_LENGTH) return [];
  const forms = new Set<string>([secret]);
  const uri = encodeURIComponent(secret);
  const form = new URLSearchParams({ s: secret }).toString().slice(2);
  for (const encoded of [uri, uri.replaceAll("%20", "+"), form]) forms.add(encoded).add(lowerHex(encoded));
  const standard = base64Utf8(secret);
  for (const b64 of [standard, base64Url(standard)]) forms.add(b64).add(b64.replace(/=+$/, ""));
  for (const run of base64Runs(secret)) forms.add(run);
  const json = JSON.stringify(secret).slice(1, -1);
  const asciiJson = (hex: (code: string) => string) =>
    json.replace(/[\u0080-\uffff]/g, (c) => `\\u${hex(c.charCodeAt(0).toString(16).padStart(4, "0"))}`);
  const jsonForms = [json, asciiJson((h) => h), asciiJson((h) => h.toUpperCase())];
  for (const escaped of jsonForms) forms.add(escaped).add(escaped.replaceAll("/", "\\/"));
  forms.add(
    secret.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;")
      .replaceAll("'", "&#39;"),
  );
  return [...forms];
}

/** The mark an excerpt ends with where it was cut (`bodyExcerpt`). */
const CUT_MARK = "…";

/**
 * The one redaction of the gateway (uploads, probes, `doctor`, the status page and the alert
 * sender all call it): replaces every secret of 4 characters or more, in each of its
 * {@link secretForms}, with "[redacted]", and removes URL user-info. An excerpt cut through a
 * secret ("…" right after its first 4 or more characters) loses that part too.
 */
export function redact(text: string, secrets: readonly string[]): string {
  let out = stripUrlCredentials(text);
  const forms = new Set<string>();
  for (const secret of secrets) for (const f of secretForms(secret)) forms.add(f);
  const longestFirst = [...forms].sort((a, b) => b.length - a.length);
  for (const f of longestFirst) {
    if (out.includes(f)) out = out.split(f).join("[redacted]");
  }
  if (out.includes(CUT_MARK)) {
    for (const f of longestFirst) {
      for (let n = f.length - 1; n >= MIN_SECRET_LENGTH; n--) {
        const cut = f.slice(0, n) + CUT_MARK;
        if (out.includes(cut)) out = out.split(cut).join(`[redacted]${CUT_MARK}`);
      }
    }
  }
  return out;
}

/**
 * The secrets written in an upload configuration (sign-in and proxy), for redaction, with the
 * base64 of `user:password` that HTTP Basic (RFC 7617 §2) sends for the sign-in and the proxy.
 */
export function configuredSecrets(
  config:
    & Pick<UploadConfig, "auth">
    & Partial<Pick<UploadConfig, "proxyPassword" | "proxyUsername">>,
): string[] {
  const auth = config.auth;
  const configured = auth.kind === "basic"
    ? [auth.password, base64Utf8(`${auth.username}:${auth.password}`)]
    : auth.kind === "bearer"
    ? [auth.token]
    : auth.kind === "header"
    ? [auth.value]
    : auth.kind === "oauth2"
    ? [auth.clientSecret]
    : [];
  const proxy = config.proxyPassword
    ? [config.proxyPassword, base64Utf8(`${config.proxyUsername ?? ""}:${config.proxyPassword}`)]
    : [];
  return [...configured, ...proxy];
}

/** Seconds before expiry at which a cached OAuth2 token is renewed (or half its life if shorter). */
export const TOKEN_RENEW_MARGIN_MS = 60_000;

/**
 * Creates the provider for `auth`. `transport` carries the OAuth2 token request (same CA/proxy as the
 * uploads); `now` is injected for tests of the cache.
 */
export function createAuthProvider(
  auth: UploadAuth,
  options: { transport: HttpTransport; now?: () => number; idleTimeoutMs?: number },
): AuthProvider {
  switch (auth.kind) {
    case "none":
      return { headers: () => Promise.resolve({}), invalidate: () => false, secrets: () => [] };
    case "basic": {
      // RFC 7617 §2: base64 of user-id ":" password, UTF-8 (charset="UTF-8").
      const encoded = base64Utf8(`${auth.username}:${auth.password}`);
      return {
        headers: () => Promise.resolve({ authorization: `Basic ${encoded}` }),
        invalidate: () => false,
        secrets: () => [auth.password, encoded],
      };
    }
    case "bearer":
      return {
        headers: () => Promise.resolve({ authorization: `Bearer ${auth.token}` }),
        invalidate: () => false,
        secrets: () => [auth.token],
      };
    case "header":
      return {
        headers: () => Promise.resolve({ [auth.name.toLowerCase()]: auth.value }),
        invalidate: () => false,
        secrets: () => [auth.value],
      };
    case "oauth2":
      return new OAuth2ClientCredentials(auth, options);
  }
}

interface CachedToken {
  accessToken: string;
  tokenType: string;
  renewAt: number;
}

/** OAuth 2.0 client credentials grant (RFC 6749 §4.4), client authentication in the body (§2.3.1). */
class OAuth2ClientCredentials implements AuthProvider {
  readonly #auth: Extract<UploadAuth, { kind: "oauth2" }>;
  readonly #transport: HttpTransport;
  readonly #now: () => number;
  readonly #idleTimeoutMs: number;
  #cached: CachedToken | null = null;
  #inFlight: Promise<CachedToken> | null = null;
  readonly #seenTokens: string[] = [];

  constructor(
    auth: Extract<UploadAuth, { kind: "oauth2" }>,
    options: { transport: HttpTransport; now?: () => number; idleTimeoutMs?: number },
  ) {
    this.#auth = auth;
    this.#transport = options.transport;
    this.#now = options.now ?? Date.now;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
  }

  async headers(stopSignal?: AbortSignal): Promise<Record<string, string>> {
    let token = this.#cached;
    if (token === null || this.#now() >= token.renewAt) {
      this.#inFlight ??= this.#fetchToken(stopSignal).finally(() => this.#inFlight = null);
      token = await this.#inFlight;
    }
    return { authorization: `${token.tokenType} ${token.accessToken}` };
  }

  invalidate(): boolean {
    const had = this.#cached !== null;
    this.#cached = null;
    return had;
  }

  secrets(): string[] {
    return [this.#auth.clientSecret, ...this.#seenTokens];
  }

  async #fetchToken(stopSignal?: AbortSignal): Promise<CachedToken> {
    const form = new URLSearchParams({ grant_type: "client_credentials", client_id: this.#auth.clientId });
    form.set("client_secret", this.#auth.clientSecret);
    if (this.#auth.scope.trim() !== "") form.set("scope", this.#auth.scope.trim());
    const where = stripUrlCredentials(this.#auth.tokenUrl);
    let result;
    try {
      result = await sendRequest(this.#transport, this.#auth.tokenUrl, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
        body: form.toString(),
        timer: startIdleTimer(this.#idleTimeoutMs),
        ...(stopSignal === undefined ? {} : { stopSignal }),
        maxBodyBytes: 1024 * 1024,
        // The body holds client_secret: https only, never redirected (RFC 6749 §3.2 "MUST use TLS").
        credentials: "the OAuth2 token address",
      });
    } catch (error) {
      if (error instanceof Error && error.name === "StoppedError") throw error;
      if (error instanceof InsecureCredentialsError) throw new TokenUnavailableError(error.message);
      throw new TokenUnavailableError(
        `cannot get an OAuth2 token from ${where}: ${describeNetworkError(error).message}`,
      );
    }
    let json: Record<string, unknown> = {};
    try {
      const parsed: unknown = JSON.parse(result.body);
      if (typeof parsed === "object" && parsed !== null) json = parsed as Record<string, unknown>;
    } catch {
      // handled below
    }
    if (
      result.status >= 200 && result.status < 300 && typeof json["access_token"] === "string" &&
      json["access_token"] !== ""
    ) {
      const accessToken = json["access_token"];
      this.#seenTokens.push(accessToken);
      if (this.#seenTokens.length > 8) this.#seenTokens.shift();
      const expiresIn = typeof json["expires_in"] === "number"
        ? json["expires_in"]
        : typeof json["expires_in"] === "string" && /^\d+$/.test(json["expires_in"])
        ? Number(json["expires_in"])
        : 3600;
      const lifeMs = Math.max(0, expiresIn * 1000);
      const margin = Math.min(TOKEN_RENEW_MARGIN_MS, lifeMs / 2);
      const tokenType =
        typeof json["token_type"] === "string" && json["token_type"].toLowerCase() !== "bearer"
          ? json["token_type"]
          : "Bearer";
      const token = { accessToken, tokenType, renewAt: this.#now() + lifeMs - margin };
      this.#cached = token;
      return token;
    }
    if (result.status >= 300 && result.status < 400) {
      const location = result.headers.get("location");
      throw new TokenUnavailableError(redact(
        `the token endpoint ${where} answered with a redirect (HTTP ${result.status})${
          location ? ` to ${stripUrlCredentials(location)}` : ""
        }: the client secret is not sent on to another address; set token_url to the final address`,
        this.secrets(),
      ));
    }
    // RFC 6749 §5.2: 400/401 with "error": invalid_client, invalid_grant, unauthorized_client, invalid_scope.
    // Redacted before it is shortened: a cut through an echoed secret would leave its first part.
    const code = typeof json["error"] === "string" ? redact(json["error"], this.secrets()).slice(0, 100) : "";
    const description = typeof json["error_description"] === "string"
      ? `: ${redact(json["error_description"], this.secrets()).slice(0, 200)}`
      : "";
    const said = code === "" ? "" : ` (${code}${description})`;
    const message = redact(
      `the token endpoint ${where} answered HTTP ${result.status}${said}`,
      this.secrets(),
    );
    if (result.status === 400 || result.status === 401 || result.status === 403) {
      throw new CredentialsRejectedError(message);
    }
    throw new TokenUnavailableError(message);
  }
}
