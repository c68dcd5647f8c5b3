/**
 * `doctor`: checks, one by one, what makes a site work, and prints each with ✔ or ✘ and the fix
 * in plain words. Probes (ports, disk, DNS, TLS, HTTP) return {@link CheckResult} values;
 * {@link formatCheck} turns one into lines. Nothing here changes the installation.
 * @module
 */
import type { Config } from "../config/types.ts";
import {
  describeAddress,
  type LocalAddress,
  localPrivateAddresses,
  privateIpv4Addresses,
} from "../net/interfaces.ts";
import { parsePeerAddress } from "../net/ip.ts";
import { checkCertificateFile, wrongCertificateProblem } from "../net/tls_files.ts";
import { diskSpace } from "../status/disk.ts";
import { formatBytes } from "../status/api.ts";
import { studiesSuffixProblem } from "../dicomweb_url.ts";
import { describeNetworkError, environmentProxy } from "../upload/http.ts";
import { probeConnection, probeInstanceSearch } from "../upload/probe.ts";
import { type CompressionRecord, readCompressionRecord, settingsFingerprint } from "../upload/prepare.ts";
import { queueIndexPath } from "../config/types.ts";
import { QueueIndex } from "../store/queue_index.ts";

/** The outcome of one check. */
export interface CheckResult {
  ok: boolean;
  /** What was checked and found, e.g. "DICOM port 4104 is free". */
  title: string;
  /** More facts (optional). */
  detail?: string;
  /** What to do, when not ok. */
  fix?: string;
}

/** Lines for one result: `✔ title`, then indented detail and `Fix:`. */
export function formatCheck(r: CheckResult): string[] {
  const lines = [`${r.ok ? "✔" : "✘"} ${r.title}`];
  if (r.detail) lines.push(...r.detail.split("\n").map((l) => `    ${l}`));
  if (!r.ok && r.fix) lines.push(`    Fix: ${r.fix}`);
  return lines;
}

/** The closing line. */
export function formatSummary(results: CheckResult[]): string {
  const bad = results.filter((r) => !r.ok).length;
  if (bad === 0) return "All checks passed.";
  return `${bad} ${
    bad === 1 ? "problem" : "problems"
  } found. Fix them from the top: the first one often causes the others.`;
}

const DEFAULT_TIMEOUT_MS = 10_000;

async function withTimeout<T>(ms: number, work: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Deno.errors.TimedOut(`${what}: no answer within ${ms / 1000} s`)),
      ms,
    );
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Asks a local status page who it is (to tell "another copy of dicom-gateway" from "another program"). */
async function askStatusPage(port: number): Promise<{ aeTitle: string; url: string } | null> {
  if (port === 0) return null;
  const url = `http://127.0.0.1:${port}/`;
  try {
    const res = await fetch(`${url}api/status`, { signal: AbortSignal.timeout(2000) });
    if (!res.ok) {
      await res.body?.cancel();
      return null;
    }
    const body = await res.json();
    const aeTitle = body?.modality?.aeTitle;
    return typeof aeTitle === "string" ? { aeTitle, url } : null;
  } catch {
    return null;
  }
}

/**
 * Can the DICOM port be bound? When it is taken, asks the local status page whether the holder is
 * a running dicom-gateway (fine: it is the gateway doing its job) or another program.
 */
export async function checkDicomPort(
  hostname: string,
  port: number,
  statusPort: number,
): Promise<CheckResult> {
  try {
    const listener = Deno.listen({ hostname, port, transport: "tcp" });
    listener.close();
    return { ok: true, title: `DICOM port ${port} is free for the gateway` };
  } catch (e) {
    if (e instanceof Deno.errors.AddrInUse) {
      const running = await askStatusPage(statusPort);
      if (running) {
        return {
          ok: true,
          title: `DICOM port ${port} is in use by the running dicom-gateway (AE title ${running.aeTitle})`,
          detail: `Its status page is ${running.url}`,
        };
      }
      return {
        ok: false,
        title: `DICOM port ${port} is already in use by another program`,
        detail:
          "Probably another copy of dicom-gateway, or another DICOM receiver (a PACS or viewer) on this PC.",
        fix: `close the other program (look for another dicom-gateway window), or choose another port with ` +
          `port = ... in dicom-gateway.toml and tell the modality.`,
      };
    }
    if (e instanceof Deno.errors.PermissionDenied) {
      return {
        ok: false,
        title: `DICOM port ${port} cannot be opened: permission denied`,
        fix: "ports below 1024 need administrator rights; use 4104 (the default) or another port above 1024.",
      };
    }
    if (e instanceof Deno.errors.AddrNotAvailable) {
      return {
        ok: false,
        title: `The DICOM address ${hostname} is not an address of this PC`,
        fix: 'set bind = "0.0.0.0" in dicom-gateway.toml (all network cards) or one of this PC\'s addresses.',
      };
    }
    return { ok: false, title: `DICOM port ${port} cannot be opened: ${(e as Error).message}` };
  }
}

/** Can the status page's port be bound (or is the running gateway's page there)? */
export async function checkStatusPort(hostname: string, port: number): Promise<CheckResult> {
  if (port === 0) return { ok: true, title: "Status page is turned off (status port 0)" };
  try {
    const listener = Deno.listen({ hostname, port, transport: "tcp" });
    listener.close();
    return { ok: true, title: `Status page port ${port} is free` };
  } catch (e) {
    if (e instanceof Deno.errors.AddrInUse) {
      const running = await askStatusPage(port);
      if (running) {
        return { ok: true, title: `Status page of the running dicom-gateway answers at ${running.url}` };
      }
      return {
        ok: false,
        title: `Status page port ${port} is in use by another program`,
        fix: "set another port in [status] of dicom-gateway.toml (e.g. port = 4106).",
      };
    }
    return { ok: false, title: `Status page port ${port} cannot be opened: ${(e as Error).message}` };
  }
}

/** Is the data folder there (or creatable), writable to disk, with enough free space? */
export async function checkDataDir(dataDir: string, minFreeBytes: number): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  try {
    await Deno.mkdir(dataDir, { recursive: true });
    const probe = `${dataDir}${dataDir.includes("\\") ? "\\" : "/"}.doctor-${
      crypto.randomUUID().slice(0, 8)
    }.tmp`;
    const file = await Deno.open(probe, { write: true, createNew: true });
    try {
      await file.write(new TextEncoder().encode("dicom-gateway doctor write test\n"));
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.remove(probe);
    results.push({ ok: true, title: `Data folder can be written: ${dataDir}` });
  } catch (e) {
    results.push({
      ok: false,
      title: `Data folder cannot be written: ${dataDir}`,
      detail: (e as Error).message,
      fix:
        "give this Windows user write permission on the folder, or set data_dir in dicom-gateway.toml to a " +
        "folder it can write (not inside Program Files).",
    });
    return results;
  }
  const { freeBytes, totalBytes } = await diskSpace(dataDir);
  if (freeBytes === null) {
    results.push({ ok: true, title: "Free disk space could not be measured on this system" });
  } else if (freeBytes < minFreeBytes) {
    results.push({
      ok: false,
      title: `Only ${formatBytes(freeBytes)} free on the data disk (below the ${
        formatBytes(minFreeBytes)
      } minimum)`,
      fix: "free some space on that disk, or move data_dir to a bigger disk. Delivered studies are deleted " +
        "first; undelivered ones never.",
    });
  } else {
    results.push({
      ok: true,
      title: `${formatBytes(freeBytes)} free on the data disk${
        totalBytes ? ` (of ${formatBytes(totalBytes)})` : ""
      }`,
    });
  }
  return results;
}

/** Are there IPv4 addresses (other than loopback and link-local) for the modality to use? */
export function checkAddresses(addresses: LocalAddress[]): CheckResult {
  const usable = addresses.filter((a) => !a.linkLocal);
  const linkLocal = addresses.filter((a) => a.linkLocal);
  if (usable.length === 0) {
    return {
      ok: false,
      title: "No private network address found on this PC",
      detail: linkLocal.length > 0
        ? `Only ${linkLocal.map((a) => a.address).join(", ")}: the network gave this PC no address (DHCP).`
        : "",
      fix: "connect this PC to the clinic network (cable or Wi-Fi) and check it gets an address (ipconfig).",
    };
  }
  return {
    ok: true,
    title: `This PC's address${usable.length > 1 ? "es" : ""} for the modality: ${
      usable.map((a) => `${a.address} (${a.interfaceName})`).join(", ")
    }`,
    detail: [
      ...addresses.map(describeAddress),
      "Give this PC a fixed address (static IP, or a DHCP reservation on the router) so it never changes.",
    ]
      .join("\n"),
  };
}

const isIpLiteral = (h: string) => parsePeerAddress(h) !== undefined;

/** Resolves a host name to addresses (default: DNS A and AAAA records). */
export type Resolver = (hostname: string) => Promise<string[]>;

async function dnsResolver(hostname: string): Promise<string[]> {
  const [a, aaaa] = await Promise.allSettled([
    Deno.resolveDns(hostname, "A"),
    Deno.resolveDns(hostname, "AAAA"),
  ]);
  const out = [
    ...(a.status === "fulfilled" ? a.value : []),
    ...(aaaa.status === "fulfilled" ? aaaa.value : []),
  ];
  if (out.length === 0) {
    const reason = a.status === "rejected" ? a.reason : aaaa.status === "rejected" ? aaaa.reason : null;
    throw reason instanceof Error ? reason : new Error("no addresses");
  }
  return out;
}

/**
 * Does the central server's name resolve? (With a proxy, the proxy's name is checked: the proxy
 * resolves the server.) DNS is asked first; the hosts file is tried through a connection.
 */
export async function checkResolves(
  url: string,
  options: { proxy?: string; resolve?: Resolver; timeoutMs?: number } = {},
): Promise<CheckResult> {
  const target = new URL(options.proxy || url);
  const host = target.hostname;
  const what = options.proxy ? `The proxy's name ${host}` : `The central server's name ${host}`;
  if (host === "localhost" || isIpLiteral(host)) return { ok: true, title: `${what} needs no lookup` };
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  try {
    const addresses = await withTimeout(timeoutMs, (options.resolve ?? dnsResolver)(host), "DNS");
    return { ok: true, title: `${what} resolves to ${addresses.slice(0, 4).join(", ")}` };
  } catch (dnsError) {
    if (!options.resolve) {
      // The hosts file and the system resolver (getaddrinfo) are used by connect.
      try {
        const port = Number(target.port) || (target.protocol === "https:" ? 443 : 80);
        const conn = await withTimeout(timeoutMs, Deno.connect({ hostname: host, port }), "connect");
        conn.close();
        return { ok: true, title: `${what} resolves (through the system's resolver)` };
      } catch {
        // fall through
      }
    }
    return {
      ok: false,
      title: `${what} cannot be found`,
      detail: (dnsError as Error).message,
      fix: "check the address for typing errors and that this PC reaches the internet (open any web site); " +
        "a clinic network may need the proxy setting (proxy in [upload]).",
    };
  }
}

/**
 * Is the central server reachable and does its TLS certificate verify (against the system/Mozilla
 * roots plus the configured CA file)? Skipped for plain http to this PC and when a proxy is used
 * (the credentials check goes through the proxy and reports TLS problems too).
 */
export async function checkTls(
  url: string,
  options: { caFile?: string; timeoutMs?: number } = {},
): Promise<CheckResult> {
  const u = new URL(url);
  const port = Number(u.port) || (u.protocol === "https:" ? 443 : 80);
  if (u.protocol !== "https:") return { ok: true, title: "Plain HTTP to this PC: no certificate to check" };
  const hostname = u.hostname.replace(/^\[|\]$/g, "");
  let caCerts: string[] | undefined;
  if (options.caFile) {
    try {
      caCerts = [await Deno.readTextFile(options.caFile)];
    } catch (e) {
      return {
        ok: false,
        title: `The CA file ${options.caFile} cannot be read`,
        detail: (e as Error).message,
        fix:
          "put the private CA's certificate (PEM) at that path, or set ca_file in [upload] to where it is.",
      };
    }
  }
  let conn: Deno.TlsConn | null = null;
  try {
    const tlsOptions: Deno.ConnectTlsOptions = { hostname, port };
    if (caCerts) tlsOptions.caCerts = caCerts;
    conn = await withTimeout(
      options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      Deno.connectTls(tlsOptions),
      "connection",
    );
    const c = conn;
    await withTimeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS, c.handshake(), "TLS handshake");
    return { ok: true, title: `TLS certificate of ${u.host} verifies` };
  } catch (e) {
    return tlsProblem(e, u.host, port);
  } finally {
    try {
      conn?.close();
    } catch {
      // already closed
    }
  }
}

function tlsProblem(e: unknown, host: string, port: number): CheckResult {
  const message = (e as Error)?.message ?? String(e);
  if (e instanceof Deno.errors.ConnectionRefused) {
    return {
      ok: false,
      title: `Nothing answers at ${host} (port ${port})`,
      fix:
        "check the port in the address; if it is right, the central server is down: ask its administrator.",
    };
  }
  if (e instanceof Deno.errors.TimedOut) {
    return {
      ok: false,
      title: `No answer from ${host} (port ${port})`,
      detail: message,
      fix:
        `a firewall probably blocks outgoing connections to port ${port}: ask the clinic's IT to allow it, ` +
        "or set the proxy in [upload].",
    };
  }
  const described = describeNetworkError(e);
  if (described.kind !== "tls") {
    return { ok: false, title: `Cannot reach ${host}: ${described.message}` };
  }
  if (/UnknownIssuer|unknown ?ca|self[- ]signed/i.test(message)) {
    return {
      ok: false,
      title: `TLS certificate of ${host} is not trusted by this PC`,
      detail: message,
      fix:
        "if the central server uses a private certificate authority, save its certificate (PEM) beside the " +
        "gateway and set ca_file in [upload] to it.",
    };
  }
  if (/NotValidForName|not valid for name/i.test(message)) {
    return {
      ok: false,
      title: `TLS certificate of ${host} is for another name`,
      detail: message,
      fix: "use the exact server name the certificate was issued for in the upload address.",
    };
  }
  if (/Expired|NotValidYet/i.test(message)) {
    return {
      ok: false,
      title: `TLS certificate of ${host} has expired or is not valid yet`,
      detail: message,
      fix: "check this PC's date and time; if they are right, the server's certificate must be renewed.",
    };
  }
  return { ok: false, title: `TLS with ${host} failed`, detail: message };
}

/** What the credentials check found, plus the server's clock for {@link checkClock}. */
export interface CredentialsCheck {
  result: CheckResult;
  /** The server's `Date` header, when it answered. */
  serverDate: string | null;
}

/**
 * Is the upload address a DICOMweb root? One ending in `/studies` is refused with one sentence
 * (the gateway adds `/studies` itself, PS3.18 §10.5.1).
 */
export function checkUploadAddress(url: string): CheckResult {
  const problem = studiesSuffixProblem(url);
  if (problem === null) return { ok: true, title: `Upload address: ${displayTarget(url)}` };
  return {
    ok: false,
    title: problem,
    fix: "set url in [upload] (or on the status page) to the DICOMweb root.",
  };
}

/**
 * Are the credentials accepted, and is it a DICOMweb server? The one connection probe (the
 * uploader's "Test connection", `upload/probe.ts`): a QIDO-RS search `GET {url}/studies?limit=1`
 * (PS3.18 §10.6) through the same CA/proxy/sign-in as the uploader, never redirected. ✔ only for
 * a DICOM JSON answer (200) or 204; 401/403 ✘ credentials; a 400, a web page or a redirect ✘ with
 * an explanation.
 */
export async function checkCredentials(
  upload: Config["upload"],
  options: { timeoutMs?: number } = {},
): Promise<CredentialsCheck> {
  const probe = await probeConnection(upload, { timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS });
  const status = probe.statusLine ?? "";
  const serverDate = probe.serverDate;
  const check = (result: CheckResult): CredentialsCheck => ({ result, serverDate });
  switch (probe.kind) {
    case "connected": {
      const how = upload.auth.kind === "none" ? "answered (no sign-in configured)" : "accepted our sign-in";
      return check({ ok: true, title: `The central server ${how} (${status})` });
    }
    case "not-configured":
    case "setup":
      return check({ ok: false, title: "Upload settings cannot be used", detail: probe.message });
    case "sign-in-rejected":
      return check({
        ok: false,
        title: "The sign-in service refused the client id or secret",
        detail: probe.message,
        fix: "check client_id, token_url, scope and the secret (DICOM_GATEWAY_UPLOAD_CLIENT_SECRET).",
      });
    case "sign-in-failed":
      return check({
        ok: false,
        title: "The sign-in service failed",
        detail: probe.message,
        fix: "check token_url and that this PC reaches it.",
      });
    case "network":
      return check({ ok: false, title: "The central server did not answer", detail: probe.message });
    case "credentials":
      return check({
        ok: false,
        title: `Credentials rejected by the central server (${status})`,
        fix: upload.auth.kind === "none"
          ? "the server needs a sign-in: fill in [upload.auth] in dicom-gateway.toml (or on the status page)."
          : "check the user name and the password / token / key; secrets come from DICOM_GATEWAY_UPLOAD_* " +
            "environment variables when set, which win over the file.",
      });
    case "not-found":
      return check({
        ok: false,
        title: `The address is not a DICOMweb root (${status} for ${probe.target})`,
        fix: "use the DICOMweb root, e.g. https://server/dicom-web (without /studies at the end).",
      });
    case "redirect":
      return check({
        ok: false,
        title: `The central server answered the search with a redirect (${status})`,
        detail: probe.message,
        fix: "set url in [upload] to the address the archive's DICOMweb service really has; ask its " +
          "administrator if a sign-in page or portal sits in front of it.",
      });
    case "not-dicomweb":
      return check({
        ok: false,
        title: `The central server's answer to a search is not DICOMweb (${status})`,
        detail: probe.message,
        fix:
          "use the DICOMweb root, e.g. https://server/dicom-web: a web page or an HTTP 400 here means the " +
          "address points at something else than the archive's DICOMweb service.",
      });
    case "server-error":
      return check({
        ok: false,
        title: `The central server answered ${status} to a search`,
        detail: "The server has a problem of its own; uploads are retried automatically.",
        fix: "ask the central server's administrator.",
      });
  }
}

/**
 * Does the archive answer the verifier's search (QIDO-RS at the instance level of a series,
 * PS3.18 §10.6) with the configured credentials? Asked only with `upload.verify = "query"`; the
 * answer is read by the verifier's own parser, so a ✔ here means verification will work. A web
 * page, a 400, a redirect, 401/403 or 404 is a ✘ with why and what to do.
 */
export async function checkVerificationSearch(
  upload: Config["upload"],
  options: { timeoutMs?: number } = {},
): Promise<CheckResult> {
  if (upload.verify === "response") {
    return {
      ok: true,
      title:
        'Delivery proof: the upload answer only (verify = "response"); the archive is not asked to confirm',
    };
  }
  const probe = await probeInstanceSearch(upload, { timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS });
  if (probe.ok) {
    return {
      ok: true,
      title: `The archive answers the searches that verify each delivery (QIDO-RS, ${probe.statusLine})`,
    };
  }
  const fix = probe.kind === "credentials"
    ? "the archive must let this sign-in search (QIDO-RS) as well as store (STOW-RS); ask its administrator."
    : probe.kind === "not-found"
    ? 'if the archive offers no DICOMweb search (QIDO-RS), set verify = "response" in [upload]: the upload ' +
      "answer is then the only proof, and local copies are deleted on it."
    : "use the archive's DICOMweb root, e.g. https://server/dicom-web; until its searches answer, nothing is " +
      "verified and no local copy is deleted.";
  return {
    ok: false,
    title: `The archive does not answer the searches that verify each delivery${
      probe.statusLine ? ` (${probe.statusLine})` : ""
    }`,
    detail: probe.message,
    fix,
  };
}

function displayTarget(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return url;
  }
}

/** Is the clock sane: a plausible year, and within 5 minutes of the server's clock when known? */
export function checkClock(now: Date, serverDate: string | null): CheckResult {
  const local = now.toISOString().replace("T", " ").slice(0, 19) + " UTC";
  if (now.getUTCFullYear() < 2024) {
    return {
      ok: false,
      title: `This PC's clock is wrong: ${local}`,
      fix: 'turn on "Set time automatically" in Windows Settings > Time & language.',
    };
  }
  if (serverDate !== null) {
    const server = Date.parse(serverDate);
    if (!Number.isNaN(server)) {
      const skew = Math.round((now.getTime() - server) / 1000);
      if (Math.abs(skew) > 300) {
        const minutes = Math.round(Math.abs(skew) / 60);
        return {
          ok: false,
          title: `This PC's clock is ${minutes} minutes ${
            skew > 0 ? "ahead of" : "behind"
          } the central server's`,
          detail: `This PC: ${local}; server: ${
            new Date(server).toISOString().replace("T", " ").slice(0, 19)
          } UTC.`,
          fix: 'turn on "Set time automatically" in Windows Settings > Time & language: certificates and ' +
            "sign-in tokens fail when clocks drift.",
        };
      }
      return { ok: true, title: `Clock agrees with the central server's (within ${Math.abs(skew)} s)` };
    }
  }
  return { ok: true, title: `Clock looks plausible: ${local}` };
}

/** Options of {@link runDoctor}. */
export interface DoctorOptions {
  /** Where lines go (default `console.log`). */
  write?: (line: string) => void;
  /** This PC's interfaces (default `Deno.networkInterfaces()`). */
  interfaces?: Deno.NetworkInterfaceInfo[];
  /** Name resolver (default DNS). */
  resolve?: Resolver;
  /** Time limit of each network probe (default 10 s). */
  timeoutMs?: number;
  /** The current time (tests). */
  now?: () => Date;
  /** Environment variables (default `Deno.env.get`): HTTPS_PROXY / NO_PROXY, as fetch reads them. */
  env?: (name: string) => string | undefined;
}

const SYNTAX_NAMES: Record<string, string> = { "jpeg-ls": "JPEG-LS lossless", htj2k: "HTJ2K lossless" };

/**
 * The upload compression (`upload.compression`) and what the uploader learnt (the record in the
 * queue index): the syntax in force, the bytes saved, and whether this archive refused the syntax
 * (then instances go as received until the upload settings change). Informational: always ok.
 */
export function compressionCheck(up: Config["upload"], record: CompressionRecord): CheckResult {
  if (up.compression === "none") {
    return { ok: true, title: "Upload compression is off: images go as received" };
  }
  const name = SYNTAX_NAMES[up.compression] ?? up.compression;
  const current = record.settings === settingsFingerprint(up);
  const refusal = current
    ? record.refused.find((r) => r.url === up.url && r.syntax === up.compression)
    : undefined;
  const saved = record.bytesOut > 0
    ? ` (so far ${(record.bytesIn / record.bytesOut).toFixed(1)}× fewer bytes)`
    : "";
  const originals = Object.entries(record.original).filter(([cause]) => cause !== "off");
  const detail = originals.length === 0
    ? undefined
    : `Sent as received: ${originals.map(([cause, n]) => `${n} (${cause})`).join(", ")}.`;
  if (refusal !== undefined) {
    return {
      ok: true,
      title: `The central server refused ${name} on ${
        new Date(refusal.at).toISOString()
      }: images go uncompressed to it`,
      detail:
        `${refusal.reason}\nSaving the upload settings (or changing compression in [upload]) tries ${name} again.`,
    };
  }
  return {
    ok: true,
    title: `Upload compression: ${name}${saved}`,
    ...(detail === undefined ? {} : { detail }),
  };
}

async function checkCompression(config: Config): Promise<CheckResult> {
  const path = queueIndexPath(config.dataDir);
  try {
    await Deno.stat(path);
  } catch {
    return compressionCheck(config.upload, readCompressionRecord({ getState: () => undefined }));
  }
  let index: QueueIndex | null = null;
  try {
    index = QueueIndex.open(path);
    return compressionCheck(config.upload, readCompressionRecord(index));
  } catch {
    return compressionCheck(config.upload, readCompressionRecord({ getState: () => undefined }));
  } finally {
    index?.close();
  }
}

/**
 * Runs every check in order, printing each as it completes.
 * @returns 0 when all passed, 1 otherwise
 */
export async function runDoctor(config: Config, options: DoctorOptions = {}): Promise<number> {
  const write = options.write ?? ((line: string) => console.log(line));
  const results: CheckResult[] = [];
  const report = (r: CheckResult) => {
    results.push(r);
    for (const line of formatCheck(r)) write(line);
  };
  write("dicom-gateway doctor: checking this PC");
  write("");
  report(await checkDicomPort(config.bindAddress, config.port, config.statusPort));
  report(await checkStatusPort(config.statusBindAddress, config.statusPort));
  for (const r of await checkDataDir(config.dataDir, config.upload.minFreeBytes)) report(r);
  // Unreadable interfaces (no permission or no support) are reported as no address.
  report(checkAddresses(
    options.interfaces ? privateIpv4Addresses(options.interfaces) : localPrivateAddresses(),
  ));

  let serverDate: string | null = null;
  const up = config.upload;
  if (up.url === "") {
    report({
      ok: false,
      title: "No central server is set up: images are received and kept here, but not uploaded",
      fix: "enter the DICOMweb address on the status page (Upload destination), or set url in [upload] of " +
        "dicom-gateway.toml.",
    });
  } else if (studiesSuffixProblem(up.url) !== null) {
    report(checkUploadAddress(up.url));
  } else {
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    // The proxy the uploader will really use: the configured one, else HTTPS_PROXY unless NO_PROXY.
    const proxy = up.proxy || environmentProxy(up.url, options.env ?? ((name) => Deno.env.get(name)));
    const resolveOptions: { proxy?: string; resolve?: Resolver; timeoutMs: number } = { timeoutMs };
    if (proxy) resolveOptions.proxy = proxy;
    if (options.resolve) resolveOptions.resolve = options.resolve;
    // The CA file's own problem (not found, not readable, not a certificate), named before any network check.
    const caProblem = await checkCertificateFile(up.caFile);
    if (caProblem) report({ ok: false, title: caProblem.message, fix: caProblem.fix });
    const resolved = await checkResolves(up.url, resolveOptions);
    report(resolved);
    if (resolved.ok && !caProblem) {
      let tlsOk = true;
      if (!proxy) {
        const tlsOptions: { caFile?: string; timeoutMs: number } = { timeoutMs };
        if (up.caFile) tlsOptions.caFile = up.caFile;
        const tls = await checkTls(up.url, tlsOptions);
        const wrongCa = tls.ok
          ? null
          : wrongCertificateProblem(up.caFile, new URL(up.url).host, tls.detail ?? "");
        report(
          wrongCa ? { ok: false, title: wrongCa.message, detail: tls.detail ?? "", fix: wrongCa.fix } : tls,
        );
        tlsOk = tls.ok;
      }
      if (tlsOk) {
        const creds = await checkCredentials(up, { timeoutMs });
        report(creds.result);
        serverDate = creds.serverDate;
        if (creds.result.ok) report(await checkVerificationSearch(up, { timeoutMs }));
      }
    }
  }
  report(await checkCompression(config));
  report(checkClock((options.now ?? (() => new Date()))(), serverDate));
  write("");
  write(formatSummary(results));
  return results.every((r) => r.ok) ? 0 : 1;
}
