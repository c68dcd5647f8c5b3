/**
 * Running the gateway: what a double-click does. Loads the configuration, sets up logging,
 * starts the receiver, uploader and status page, prints the banner the modality engineer needs,
 * and stops cleanly on Ctrl+C, window close or logoff (a kill at any moment loses nothing anyway).
 * @module
 */
import { messageOf } from "../errors.ts";
import { ConfigError } from "../config/error.ts";
import { loadConfig, type LoadedConfig } from "../config/load.ts";
import { setupLogging, shutdownLogging } from "../log_setup.ts";
import { type Gateway, startGateway } from "../gateway.ts";
import { startStatusServer } from "../status/server.ts";
import { displayUrl } from "../status/api.ts";
import { createStatusSource } from "../status/source.ts";
import { statusInputs } from "./status_inputs.ts";
import { acquireInstanceLock, type InstanceLock, type LockRefused } from "./install.ts";
import { CommandError } from "./failure.ts";
import {
  addressKindText,
  describeAddress,
  kindOf,
  type LocalAddress,
  localIpv4Addresses,
} from "../net/interfaces.ts";
import { checkCertificateFile } from "../net/tls_files.ts";
import { suggestFlag } from "../config/flags.ts";
import { type AlertService, startAlerts } from "../alerts/service.ts";
import { markRunStart, type RunMarker } from "../alerts/run_marker.ts";
import { createTransport } from "../upload/http.ts";
import type { Config } from "../config/types.ts";
import { logger } from "../log.ts";
import { VERSION } from "../version.ts";

const log = logger();

/** Runs until a stop signal; returns the exit code. */
export async function runGateway(args: string[]): Promise<number> {
  const doubleClicked = Deno.build.os === "windows" && args.length === 0;
  let loaded: LoadedConfig;
  try {
    loaded = await loadConfig(args);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`Cannot start: ${error.message}`);
    await waitForEnter(doubleClicked);
    return 2;
  }
  if (loaded.rest.length > 0) {
    console.error(`Cannot start: ${unknownArgumentsSentence(loaded.rest)}`);
    await waitForEnter(doubleClicked);
    return 2;
  }
  const { config } = loaded;
  await setupLogging({ logDir: config.logDir, retentionDays: config.logRetentionDays });
  let code: number;
  try {
    for (const warning of loaded.warnings) log.warn("{warning}", { warning });
    code = await startAndServe(loaded, args);
  } finally {
    // Every way out (stop signal, start-up failure, a thrown error) flushes the log file first:
    // a window closed while waiting for Enter below must not lose the reason it stopped.
    await shutdownLogging();
  }
  if (code !== 0) await waitForEnter(doubleClicked);
  return code;
}

/** With logging set up: starts everything, waits for a stop signal, stops; returns the exit code. */
async function startAndServe(loaded: LoadedConfig, args: string[]): Promise<number> {
  const { config, configPath, configFileFound } = loaded;
  let lock: InstanceLock | LockRefused;
  try {
    lock = await acquireInstanceLock(config.dataDir);
  } catch (error) {
    log.error("{message}", {
      message: error instanceof CommandError ? error.message : `Cannot start: ${messageOf(error)}`,
    });
    return 1;
  }
  if ("heldBy" in lock) {
    log.error("{message}", { message: lock.message });
    return 1;
  }

  let gateway: Gateway;
  try {
    gateway = await startGateway(config);
  } catch (error) {
    lock.release();
    log.error("Cannot start: {error}", { error: messageOf(error) });
    return 1;
  }

  // Files the settings name are checked now: a missing CA file is named at start, not found
  // later as "unreachable". Receiving goes on (images are kept); the page shows it in red.
  const caProblem = await checkCertificateFile(config.upload.caFile);
  if (caProblem !== null) {
    log.error("Upload settings: {problem}: {fix} Images are received and kept until it is fixed.", {
      problem: caProblem.message,
      fix: caProblem.fix,
    });
  }

  // The previous run's marker tells an unclean stop (power cut, crash); this run writes its own.
  let marker: RunMarker | null = null;
  try {
    marker = await markRunStart(config.dataDir, {
      startedAt: new Date(gateway.startedAt).toISOString(),
      pid: Deno.pid,
      version: VERSION,
    });
    if (marker.uncleanStop) {
      log.warn("The gateway was not stopped cleanly last time (power cut, crash or killed process).");
    }
  } catch (error) {
    log.warn("Cannot write the run marker in {dataDir} ({error}): an unclean stop will not be reported.", {
      dataDir: config.dataDir,
      error: error instanceof Error ? error.message : String(error),
    });
  }

  // One status source for the page and the alerts: both see the same snapshots.
  let alerts: AlertService | null = null;
  const source = createStatusSource(
    statusInputs(gateway, { configPath, args, recentAlerts: () => alerts?.recent() ?? [] }),
  );
  // Alerts go out through the uploader's proxy settings; they never wait on the webhook.
  const alertTransport = await createTransport({
    caFile: "",
    proxy: config.upload.proxy,
    proxyUsername: config.upload.proxyUsername,
    proxyPassword: config.upload.proxyPassword,
  }).catch((error) => {
    log.warn("Alerts go out without the proxy setting ({error}).", {
      error: error instanceof Error ? error.message : String(error),
    });
    return { fetch: (url: string, init: RequestInit) => fetch(url, init), close: () => {} };
  });
  alerts = startAlerts({
    config: config.alerts,
    snapshot: () => source.snapshot(),
    uncleanStop: marker?.uncleanStop ? { previousStart: marker.previousStart } : null,
    fetch: alertTransport.fetch,
  });

  // A status page that cannot open does not stop receiving (modalities must never be turned
  // away for it): the banner says so in place of the page's address.
  let status: { url: string; close(): Promise<void> } | null = null;
  let statusProblem: string | null = null;
  if (config.statusPort !== 0) {
    try {
      status = startStatusServer({
        hostname: config.statusBindAddress,
        port: config.statusPort,
        source,
      });
    } catch (error) {
      statusProblem = statusPortProblem(config.statusBindAddress, config.statusPort, error);
      log.error("The status page could not open: {problem}", { problem: statusProblem });
    }
  }

  // Listen before the banner says "Press Ctrl+C": a Ctrl+C right after it must stop cleanly too.
  const stopSignal = waitForStopSignal();
  console.log(banner({
    config,
    port: gateway.port,
    addresses: localIpv4Addresses(),
    statusUrl: status?.url ?? null,
    statusProblem,
    uploadProblem: caProblem === null ? null : `${caProblem.message}: ${caProblem.fix}`,
    configPath: configFileFound ? configPath : `${configPath} (not found: built-in defaults)`,
  }));
  log.info("dicom-gateway {version} started: AE title {aeTitle}, DICOM port {port}", {
    version: VERSION,
    aeTitle: config.aeTitle,
    port: gateway.port,
  });

  await stopSignal;
  log.info("Stopping: finishing open transfers…");
  try {
    await status?.close();
    await alerts.close();
    alertTransport.close();
    await gateway.close();
    // Only a stop that got this far is clean: the marker goes last.
    await marker?.markCleanStop();
  } finally {
    lock.release();
  }
  log.info("Stopped.");
  return 0;
}

/** The start-up banner: exactly what the modality engineer must type in, and where things are. */
export function banner(o: {
  config: Config;
  port: number;
  addresses: LocalAddress[];
  statusUrl: string | null;
  /** Why the status page could not open (then it is not "off", and no address is shown). */
  statusProblem?: string | null;
  /** A problem with a file the upload settings name (the CA file). */
  uploadProblem?: string | null;
  configPath: string;
}): string {
  const { config } = o;
  const usable = o.addresses.filter((a) => !a.linkLocal);
  const linkLocal = o.addresses.filter((a) => a.linkLocal);
  const ipLines = usable.length
    ? usable.map((a) =>
      `      IP address: ${a.address}   (${a.interfaceName})   ${addressKindText(kindOf(a))}`
    )
    : ["      IP address: NONE FOUND: connect this PC to the clinic network (cable or Wi-Fi)"];
  for (const a of linkLocal) ipLines.push(`      (not usable: ${describeAddress(a)})`);
  const statusLine = o.statusProblem ? `NOT OPEN: ${o.statusProblem}` : o.statusUrl ?? "off";
  const lines = [
    `dicom-gateway ${VERSION}`,
    "",
    '  Enter these on each modality / PACS (DICOM destination, "C-STORE SCP"):',
    `      AE title:   ${config.aeTitle}`,
    ...ipLines,
    `      Port:       ${o.port}`,
    '    then press "Verify" / "C-ECHO" on the modality to test.',
    usable.length
      ? "    Give this PC a fixed IP (static, or a DHCP reservation) so the address never changes."
      : "",
    "",
    `  Status page:  ${statusLine}`,
    `  Data folder:  ${config.dataDir}`,
    `  Log folder:   ${config.logDir || "off"}`,
    `  Settings:     ${o.configPath}`,
    `  Uploading to: ${
      config.upload.url
        ? displayUrl(config.upload.url)
        : "NOT CONFIGURED: studies are received and kept here, but nothing is uploaded"
    }`,
    ...(o.uploadProblem ? [`  UPLOAD PROBLEM: ${o.uploadProblem}`] : []),
    `  Alerts to:    ${
      config.alerts.webhookUrl ? `${webhookOrigin(config.alerts.webhookUrl)} (webhook)` : "off"
    }`,
    "",
    "  Press Ctrl+C to stop.",
    "",
  ];
  return lines.filter((l, i, all) => !(l === "" && all[i - 1] === "")).join("\n");
}

/** Only the scheme and host of a webhook: its path and query are its secret (Slack, Teams). */
function webhookOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return "(invalid address)";
  }
}

/** "unknown option "--prot". Did you mean --port? See --help." for what `run` does not accept. */
export function unknownArgumentsSentence(rest: string[]): string {
  const parts = rest.map((r) => {
    const suggestion = suggestFlag(r);
    return `"${r}"${suggestion ? ` (did you mean ${suggestion}?)` : ""}`;
  });
  return `unknown option or argument ${parts.join(", ")}. See --help.`;
}

/** Why the status page's port cannot be opened and what to do, after "The status page could not open: ". */
export function statusPortProblem(hostname: string, port: number, error: unknown): string {
  if (error instanceof Deno.errors.AddrInUse) {
    return `port ${port} is already used by another program. ` +
      `Receiving and uploading continue. Set port in [status] to a free port (or close that program) and restart.`;
  }
  if (error instanceof Deno.errors.AddrNotAvailable) {
    return `${hostname} is not an address of this PC. ` +
      `Receiving and uploading continue. Set bind in [status] to "127.0.0.1" and restart.`;
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return `this PC does not allow port ${port}. ` +
      `Receiving and uploading continue. Set port in [status] to a port above 1024 and restart.`;
  }
  return `port ${port} cannot be opened (${
    error instanceof Error ? error.message : String(error)
  }). Receiving and uploading continue.`;
}

/** Resolves on Ctrl+C, Ctrl+Break, console close (SIGHUP) or logoff/termination (SIGTERM). */
function waitForStopSignal(): Promise<void> {
  const signals: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT", "SIGBREAK", "SIGHUP", "SIGTERM"] as Deno.Signal[]
    : ["SIGINT", "SIGTERM", "SIGHUP"];
  return new Promise((resolve) => {
    const handler = () => {
      for (const s of signals) {
        try {
          Deno.removeSignalListener(s, handler);
        } catch { /* not registered */ }
      }
      resolve();
    };
    for (const s of signals) {
      try {
        Deno.addSignalListener(s, handler);
      } catch { /* signal not supported on this platform */ }
    }
  });
}

/** When started by double-click and stopping on an error, keep the window open until Enter. */
export async function waitForEnter(doubleClicked: boolean): Promise<void> {
  if (!doubleClicked || !Deno.stdin.isTerminal()) return;
  console.error("\nPress Enter to close this window.");
  const buffer = new Uint8Array(16);
  await Deno.stdin.read(buffer).catch(() => null);
}
