/**
 * The command line: no subcommand runs the gateway (what a double-click does); `echo`, `store`,
 * `init`, `doctor`, `retry-failed`, `install`, `uninstall`, `version` and `help` do one job and exit.
 * @module
 */
import { parseArgs } from "node:util";
import { ConfigError } from "../config/error.ts";
import { loadConfig } from "../config/load.ts";
import { runGateway, waitForEnter } from "./run.ts";
import { runEcho, runStore, type ScuFlags } from "./scu_commands.ts";
import { writeInitialConfig } from "./init.ts";
import { runDoctor } from "./doctor.ts";
import { runRetryFailed } from "./retry.ts";
import { readInstallArgs, runInstall, runUninstall } from "./install.ts";
import { VERSION } from "../version.ts";
import { CommandError } from "./failure.ts";
import { messageOf } from "../errors.ts";

const HELP = `dicom-gateway ${VERSION}: receives DICOM studies and uploads them over DICOMweb (STOW-RS).

Usage:
  dicom-gateway [options]                      run the gateway (what a double-click does)
  dicom-gateway echo HOST[:PORT] [options]     C-ECHO a DICOM node (exit 0 when it answers Success)
  dicom-gateway store HOST[:PORT] PATH...      send DICOM files and folders with C-STORE
  dicom-gateway init [--force]                 write dicom-gateway.toml with every setting explained
  dicom-gateway doctor                         check port, disk, network, certificates, credentials
  dicom-gateway retry-failed [STUDY_UID]       queue again what the central server rejected
  dicom-gateway install [--run-key]            (Windows) start at login and open the firewall port
                                               (--run-key: a registry Run value, not a Startup shortcut)
  dicom-gateway uninstall                      (Windows) undo install
  dicom-gateway version                        (or --version) print the version

Common options (each also settable in dicom-gateway.toml and as DICOM_GATEWAY_<NAME>):
  --port N            DICOM port (default 4104)
  --ae-title NAME     our AE title (default DICOM_GATEWAY)
  --data-dir DIR      where received studies are kept
  --status-port N     local status page port (default 4105, 0 = off)
  --config FILE       configuration file (default: dicom-gateway.toml beside the program)
  --upload-url URL    DICOMweb root of the central archive (STOW-RS goes to URL/studies)
echo/store options:
  --called-ae NAME    the peer's AE title (default ANY-SCP)
`;

/** Runs the command line; returns the process exit code. */
export async function runCli(argv: string[]): Promise<number> {
  // `deno task start -- doctor` hands the "--" on to the program: it only separates the task's
  // arguments from Deno's, so a leading one is dropped.
  const args = argv[0] === "--" ? argv.slice(1) : argv;
  const first = args[0];
  if (first === "--version" || first === "-V") return print(`dicom-gateway ${VERSION}`);
  const hasSubcommand = first !== undefined && !first.startsWith("-");
  const command = hasSubcommand ? first : "run";
  const rest = hasSubcommand ? args.slice(1) : args;
  if (rest.includes("--help") || rest.includes("-h")) return print(HELP);
  try {
    switch (command) {
      case "run":
        return await runGateway(rest);
      case "echo":
      case "store": {
        const { flags, remaining } = takeScuFlags(rest);
        const { config, rest: positionals } = await loadConfig(remaining);
        return command === "echo"
          ? await runEcho(config, positionals, flags)
          : await runStore(config, positionals, flags);
      }
      case "init": {
        const force = rest.includes("--force");
        const { configPath } = await loadConfig(rest.filter((a) => a !== "--force"), { skipFile: true });
        await writeInitialConfig(configPath, { force });
        console.log(`Wrote ${configPath}. Edit it, then start dicom-gateway.`);
        return 0;
      }
      case "doctor": {
        const { config } = await loadConfig(rest);
        return await runDoctor(config);
      }
      case "retry-failed": {
        const { config, rest: positionals } = await loadConfig(rest);
        return await runRetryFailed(config, positionals);
      }
      case "install":
      case "uninstall": {
        const { method, remaining } = command === "install"
          ? readInstallArgs(rest)
          : { method: undefined, remaining: rest };
        const { config, rest: unknown } = await loadConfig(remaining);
        if (unknown.length > 0) {
          // A mistyped --run-key must not silently make a shortcut instead.
          console.error(
            `Unknown option or argument for ${command}: ${unknown.map((a) => `"${a}"`).join(", ")}.`,
          );
          return 2;
        }
        return method === undefined ? await runUninstall(config) : await runInstall(config, { method });
      }
      case "version":
        return print(`dicom-gateway ${VERSION}`);
      case "help":
        return print(HELP);
      default:
        console.error(`Unknown command "${command}".\n\n${HELP}`);
        return 2;
    }
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      return 2;
    }
    if (error instanceof CommandError || (error instanceof Error && error.name === "FileExistsError")) {
      console.error(error.message);
    } else {
      // Whatever else stops a command: one line, no stack trace (a double-clicked window shows it
      // until Enter is pressed).
      console.error(`Cannot ${command === "run" ? "start" : `run ${command}`}: ${messageOf(error)}`);
    }
    if (command === "run") await waitForEnter(Deno.build.os === "windows" && args.length === 0);
    return 1;
  }
}

function print(text: string): number {
  console.log(text);
  return 0;
}

/** Pulls the echo/store-only flags out before the common configuration flags are parsed. */
function takeScuFlags(args: string[]): { flags: ScuFlags; remaining: string[] } {
  const { values, tokens } = parseArgs({
    args,
    options: { "called-ae": { type: "string" }, "timeout": { type: "string" } },
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const remaining: string[] = [];
  const taken = new Set<number>();
  for (const token of tokens ?? []) {
    if (token.kind === "option" && (token.name === "called-ae" || token.name === "timeout")) {
      taken.add(token.index);
      if (token.inlineValue === false) taken.add(token.index + 1);
    }
  }
  args.forEach((a, i) => {
    if (!taken.has(i)) remaining.push(a);
  });
  const flags: ScuFlags = {};
  if (typeof values["called-ae"] === "string") flags.calledAeTitle = values["called-ae"];
  if (typeof values.timeout === "string") flags.timeoutMs = Number(values.timeout) * 1000;
  return { flags, remaining };
}
