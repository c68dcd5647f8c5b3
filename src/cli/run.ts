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
import { type LocalAddress, localPrivateAddresses } from "../net/interfaces.ts";
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
    console.error(
      `Cannot start: unknown option or argument ${loaded.rest.map((r) => `"${r}"`).join(", ")}. See --help.`,
    );
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

  let status: { url: string; close(): Promise<void> } | null = null;
  if (config.statusPort !== 0) {
    try {
      status = startStatusServer({
        hostname: config.statusBindAddress,
        port: config.statusPort,
        source: createStatusSource(statusInputs(gateway, { configPath, args })),
      });
    } catch (error) {
      log.error("The status page could not start on port {port}: {error}. Receiving continues.", {
        port: config.statusPort,
        error: messageOf(error),
      });
    }
  }

  // Listen before the banner says "Press Ctrl+C": a Ctrl+C right after it must stop cleanly too.
  const stopSignal = waitForStopSignal();
  console.log(banner({
    config,
    port: gateway.port,
    addresses: localPrivateAddresses(),
    statusUrl: status?.url ?? null,
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
    await gateway.close();
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
  configPath: string;
}): string {
  const { config } = o;
  const usable = o.addresses.filter((a) => !a.linkLocal);
  const ipLines = usable.length
    ? usable.map((a) => `      IP address: ${a.address}   (${a.interfaceName})`)
    : ["      IP address: none found: connect this PC to the clinic network"];
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
    `  Status page:  ${o.statusUrl ?? "off"}`,
    `  Data folder:  ${config.dataDir}`,
    `  Log folder:   ${config.logDir || "off"}`,
    `  Settings:     ${o.configPath}`,
    `  Uploading to: ${
      config.upload.url
        ? displayUrl(config.upload.url)
        : "NOT CONFIGURED: studies are received and kept here, but nothing is uploaded"
    }`,
    "",
    "  Press Ctrl+C to stop.",
    "",
  ];
  return lines.filter((l, i, all) => !(l === "" && all[i - 1] === "")).join("\n");
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
