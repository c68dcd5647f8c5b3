/**
 * HTTP plumbing of the uploader: the `Deno.HttpClient` for a private CA file and an explicit proxy
 * (HTTPS_PROXY / NO_PROXY from the environment are honoured by fetch when no proxy is configured),
 * an idle timer (no whole-request limit: only "no bytes moved for idleTimeoutMs" aborts), plain
 * words for network and TLS errors, and the rule that keeps credentials with their server: requests
 * are never redirected (`redirect: "manual"`: a 3xx is answered to the caller, so a credential never
 * follows a Location to another origin), and a request carrying credentials goes only over https
 * (or plain http to this PC's loopback, which never leaves the machine).
 * @module
 */
import { messageOf } from "../errors.ts";
import type { UploadConfig } from "../config/types.ts";
import { plainOsErrors } from "../net/os_errors.ts";

/**
 * The proxy fetch will use for `url` when none is configured: HTTPS_PROXY (or https_proxy, for an
 * https URL; HTTP_PROXY for plain http), unless NO_PROXY lists the host: `*`, a host name, a
 * domain suffix (`.clinic.local` or `clinic.local`), an IP address, each optionally with `:port`.
 * "" means a direct connection. The doctor uses it to check what the uploader will really do.
 */
export function environmentProxy(url: string, env: (name: string) => string | undefined): string {
  const target = new URL(url);
  const pick = (...names: string[]) => names.map((n) => env(n)?.trim() ?? "").find((v) => v !== "") ?? "";
  const proxy = target.protocol === "https:"
    ? pick("HTTPS_PROXY", "https_proxy")
    : pick("HTTP_PROXY", "http_proxy");
  if (proxy === "") return "";
  const host = target.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  const port = target.port || (target.protocol === "https:" ? "443" : "80");
  for (const raw of pick("NO_PROXY", "no_proxy").split(/[\s,]+/)) {
    let entry = raw.trim().toLowerCase();
    if (entry === "") continue;
    if (entry === "*") return "";
    const withPort = /^(.*[^:]):(\d+)$/.exec(entry);
    if (withPort && !entry.startsWith("[") && entry.split(":").length === 2) {
      if (withPort[2] !== port) continue;
      entry = withPort[1]!;
    }
    entry = entry.replace(/^\*?\./, ".").replace(/^\[|\]$/g, "");
    if (
      host === entry.replace(/^\./, "") ||
      (entry.startsWith(".") ? host.endsWith(entry) : host.endsWith(`.${entry}`))
    ) {
      return "";
    }
  }
  return proxy;
}

/**
 * True for hosts that are this PC: `localhost`, 127.0.0.0/8 and `[::1]` — the W3C Secure Contexts
 * "potentially trustworthy" loopback origins (§3.1), where plain http never leaves the machine.
 */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  return host === "localhost" || host.endsWith(".localhost") || host === "::1" ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * Why credentials must not be sent to `url`, in one sentence naming `what` ("the upload address",
 * "the OAuth2 token address"); null when they may (https, or http to this PC's loopback).
 */
export function credentialsRefusal(url: string, what: string): string | null {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return `${what} ${stripUrlCredentials(url)} is not a valid URL`;
  }
  if (target.protocol === "https:") return null;
  if (target.protocol === "http:" && isLoopbackHost(target.hostname)) return null;
  return `Credentials are never sent over plain http: ${what} ${
    stripUrlCredentials(url)
  } must start with https://`;
}

/** A request with credentials was refused before it left (see {@linkcode credentialsRefusal}). */
export class InsecureCredentialsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InsecureCredentialsError";
  }
}

/** The fetch the uploader uses, bound to the configured CA/proxy client. */
export interface HttpTransport {
  fetch(url: string, init: RequestInit): Promise<Response>;
  close(): void;
}

/**
 * Builds the transport: with a CA file or a proxy configured, a `Deno.createHttpClient({ caCerts,
 * proxy })` (with the proxy's Basic credentials, if any) used for every request (certificate verification always stays on; the CA file adds to
 * the trusted roots, it does not replace them). `fetchImpl` replaces the global fetch (tests).
 */
export async function createTransport(
  config:
    & Pick<UploadConfig, "caFile" | "proxy">
    & Partial<Pick<UploadConfig, "proxyUsername" | "proxyPassword">>,
  fetchImpl: typeof fetch = fetch,
): Promise<HttpTransport> {
  const options: Deno.CreateHttpClientOptions = {};
  if (config.caFile.trim() !== "") {
    let pem: string;
    try {
      pem = await Deno.readTextFile(config.caFile);
    } catch (error) {
      throw new Error(
        `Cannot read the CA file ${config.caFile}: ${messageOf(error)}`,
      );
    }
    if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
      throw new Error(
        `The CA file ${config.caFile} holds no PEM certificate ("-----BEGIN CERTIFICATE-----")`,
      );
    }
    options.caCerts = [pem];
  }
  if (config.proxy.trim() !== "") {
    options.proxy = { url: config.proxy.trim() };
    // RFC 7235 §4.4 Proxy-Authorization, Basic scheme, sent on the CONNECT for https URLs.
    if (config.proxyUsername) {
      options.proxy.basicAuth = { username: config.proxyUsername, password: config.proxyPassword ?? "" };
    }
  }
  if (options.caCerts === undefined && options.proxy === undefined) {
    return { fetch: (url, init) => fetchImpl(url, init), close: () => {} };
  }
  const client = Deno.createHttpClient(options);
  return {
    fetch: (url, init) => fetchImpl(url, { ...init, client } as RequestInit),
    close: () => client.close(),
  };
}

/** An idle timer: aborts its signal when `touch` has not been called for `ms`. */
export interface IdleTimer {
  readonly signal: AbortSignal;
  /** True once the timer fired. */
  readonly fired: boolean;
  /** Progress: restart the countdown. */
  touch(): void;
  /** Stop the countdown for good. */
  clear(): void;
}

/** Starts an idle timer of `ms` milliseconds. */
export function startIdleTimer(ms: number): IdleTimer {
  const controller = new AbortController();
  let fired = false;
  let handle: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    if (handle !== undefined) clearTimeout(handle);
    handle = setTimeout(() => {
      fired = true;
      controller.abort(new IdleTimeoutError(ms));
    }, ms);
  };
  arm();
  return {
    signal: controller.signal,
    get fired() {
      return fired;
    },
    touch: () => {
      if (!fired) arm();
    },
    clear: () => {
      if (handle !== undefined) clearTimeout(handle);
      handle = undefined;
    },
  };
}

/** No byte moved in either direction for the idle timeout. */
export class IdleTimeoutError extends Error {
  constructor(readonly ms: number) {
    super(`no progress for ${Math.round(ms / 1000)} s (idle timeout): the connection stalled`);
    this.name = "IdleTimeoutError";
  }
}

/** The request was abandoned because the uploader is stopping. */
export class StoppedError extends Error {
  constructor() {
    super("the uploader is stopping");
    this.name = "StoppedError";
  }
}

/** A request that did not produce an HTTP response (network, TLS, DNS, idle timeout). */
export class NetworkError extends Error {
  constructor(message: string, readonly kind: NetworkErrorKind) {
    super(message);
    this.name = "NetworkError";
  }
}

/** Broad kinds of transport failure, for the status page. */
export type NetworkErrorKind = "tls" | "dns" | "refused" | "reset" | "timeout" | "proxy" | "network";

/** An HTTP response read whole (bodies of STOW/QIDO answers are small; bounded by `maxBodyBytes`). */
export interface HttpResult {
  status: number;
  statusText: string;
  headers: Headers;
  body: string;
}

/** Removes `user:password@` from URLs inside a message. */
export function stripUrlCredentials(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/gi, "$1");
}

/**
 * Plain words for a fetch failure. Deno reports e.g. "error sending request for url (…): client
 * error (Connect): invalid peer certificate: UnknownIssuer" (rustls), "dns error: failed to lookup
 * address information", "Connection refused (os error 111)", "connection closed before message
 * completed", "Connection reset by peer".
 */
export function describeNetworkError(error: unknown): NetworkError {
  if (error instanceof NetworkError) return error;
  if (error instanceof IdleTimeoutError) return new NetworkError(error.message, "timeout");
  const raw = stripUrlCredentials(chainMessage(error));
  const detail = plainOsErrors(raw.replace(/error sending request (from \S+ )?for url \([^)]*\):\s*/i, ""))
    .slice(0, 300);
  const has = (pattern: RegExp) => pattern.test(raw);
  if (has(/UnknownIssuer|BadSignature|unknown ?ca|self[- ]signed|unable to get local issuer/i)) {
    return new NetworkError(
      `TLS: the server's certificate is not signed by an authority we trust — if the server uses a private CA, set the CA file (${detail})`,
      "tls",
    );
  }
  if (has(/NotValidForName|not valid for name|hostname mismatch|CertNotValidForName/i)) {
    return new NetworkError(
      `TLS: the server's certificate is for another name than the URL's (${detail})`,
      "tls",
    );
  }
  if (has(/Expired|NotValidYet|certificate has expired/i) && has(/certif/i)) {
    return new NetworkError(
      `TLS: the server's certificate has expired or is not yet valid (${detail})`,
      "tls",
    );
  }
  if (has(/certif|tls|ssl|handshake|alert/i)) {
    return new NetworkError(`TLS handshake failed (${detail})`, "tls");
  }
  if (has(/dns error|failed to lookup|Name or service not known|nodename nor servname|No such host/i)) {
    return new NetworkError(`cannot find the server: its name does not resolve (DNS) (${detail})`, "dns");
  }
  if (has(/unsuccessful tunnel/i)) {
    // The proxy answered the CONNECT with something other than 2xx (RFC 9110 §9.3.6): most often
    // 407 Proxy Authentication Required, or 403 when it does not allow this server or port.
    return new NetworkError(
      `the proxy refused to open a connection to the server — wrong or missing proxy credentials ` +
        `(proxy_username, DICOM_GATEWAY_UPLOAD_PROXY_PASSWORD), or the proxy does not allow this address (${detail})`,
      "proxy",
    );
  }
  if (has(/proxy/i)) return new NetworkError(`the proxy failed (${detail})`, "proxy");
  if (has(/refused/i)) {
    return new NetworkError(
      `the server refused the connection — is it running and is the port right? (${detail})`,
      "refused",
    );
  }
  if (has(/timed out|timeout/i)) return new NetworkError(`the connection timed out (${detail})`, "timeout");
  if (has(/reset|broken pipe|closed before|connection closed|unexpected eof|incomplete message|aborted/i)) {
    return new NetworkError(`the connection was reset or closed mid-request (${detail})`, "reset");
  }
  return new NetworkError(`network error (${detail})`, "network");
}

function chainMessage(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current !== undefined && current !== null; depth++) {
    if (current instanceof Error) {
      parts.push(current.message);
      current = (current as Error & { cause?: unknown }).cause;
    } else {
      parts.push(String(current));
      break;
    }
  }
  return parts.join(": ");
}

/**
 * Sends one request and reads the whole response body, with the idle timer touched by every
 * response chunk (the caller wires request-body progress to the same timer). Redirects are never
 * followed: a 3xx comes back as the result, with its Location header. With `credentials` set, the
 * request is refused (throws {@linkcode InsecureCredentialsError}) unless `url` is https or
 * loopback http. Throws {@linkcode StoppedError} when `stopSignal` aborts, {@linkcode NetworkError}
 * for anything that produced no complete HTTP response (including the idle timeout).
 */
export async function sendRequest(
  transport: HttpTransport,
  url: string,
  options: {
    method: string;
    headers: Record<string, string>;
    body?: ReadableStream<Uint8Array> | string | null;
    timer: IdleTimer;
    stopSignal?: AbortSignal;
    maxBodyBytes?: number;
    /** The headers or body carry a secret (sign-in, API key, client secret): names what `url` is. */
    credentials?: string;
  },
): Promise<HttpResult> {
  const { timer } = options;
  if (options.credentials !== undefined) {
    const refusal = credentialsRefusal(url, options.credentials);
    if (refusal !== null) {
      timer.clear();
      throw new InsecureCredentialsError(refusal);
    }
  }
  const signal = options.stopSignal === undefined
    ? timer.signal
    : AbortSignal.any([timer.signal, options.stopSignal]);
  const maxBodyBytes = options.maxBodyBytes ?? 16 * 1024 * 1024;
  try {
    const init: RequestInit = {
      method: options.method,
      headers: options.headers,
      signal,
      // Never follow: fetch would turn a POST into a GET on 301/302/303 and carry custom
      // credential headers to whatever origin the Location names.
      redirect: "manual",
    };
    if (options.body !== undefined && options.body !== null) init.body = options.body;
    const response = await transport.fetch(url, init);
    timer.touch();
    const chunks: Uint8Array[] = [];
    let length = 0;
    if (response.body !== null) {
      const reader = response.body.getReader();
      try {
        while (true) {
          const { done, value } = await reader.read();
          if (done) break;
          timer.touch();
          if (length < maxBodyBytes) {
            chunks.push(value);
            length += value.length;
          }
        }
      } finally {
        reader.releaseLock();
      }
    }
    const bytes = new Uint8Array(Math.min(length, maxBodyBytes));
    let offset = 0;
    for (const chunk of chunks) {
      const take = Math.min(chunk.length, bytes.length - offset);
      bytes.set(chunk.subarray(0, take), offset);
      offset += take;
    }
    return {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
      body: new TextDecoder().decode(bytes),
    };
  } catch (error) {
    if (options.stopSignal?.aborted) throw new StoppedError();
    if (timer.fired) throw describeNetworkError(new IdleTimeoutError(timerMs(timer.signal)));
    throw describeNetworkError(error);
  } finally {
    timer.clear();
  }
}

function timerMs(signal: AbortSignal): number {
  const reason = signal.reason;
  return reason instanceof IdleTimeoutError ? reason.ms : 0;
}
