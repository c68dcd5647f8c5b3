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

/** Replaces every secret (4 characters or more) in `text` with "[redacted]", and URL user-info too. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = stripUrlCredentials(text);
  const sorted = [...new Set(secrets)].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length);
  for (const secret of sorted) out = out.split(secret).join("[redacted]");
  return out;
}

/** The secrets written in an upload configuration (sign-in and proxy), for redaction. */
export function configuredSecrets(
  config: Pick<UploadConfig, "auth"> & Partial<Pick<UploadConfig, "proxyPassword">>,
): string[] {
  const auth = config.auth;
  const configured = auth.kind === "basic"
    ? [auth.password]
    : auth.kind === "bearer"
    ? [auth.token]
    : auth.kind === "header"
    ? [auth.value]
    : auth.kind === "oauth2"
    ? [auth.clientSecret]
    : [];
  return [...configured, ...(config.proxyPassword ? [config.proxyPassword] : [])];
}

function base64Utf8(text: string): string {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
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
    const code = typeof json["error"] === "string" ? json["error"] : "";
    const description = typeof json["error_description"] === "string"
      ? `: ${json["error_description"].slice(0, 200)}`
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
