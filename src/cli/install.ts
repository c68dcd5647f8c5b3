/**
 * Windows integration for `install` / `uninstall`, and the single-instance lock.
 *
 * A deno-compiled exe cannot be a Windows service, so the gateway starts at login: a shortcut in
 * the user's Startup folder (made by PowerShell through WScript.Shell), or, with
 * `method: "run-key"`, a value under HKCU\...\Run. Modalities reach it through an inbound
 * firewall rule bound to the program and the DICOM port (`netsh advfirewall`), which needs an
 * administrator: when not elevated (`net session` fails) the exact command is printed instead.
 *
 * Everything Windows-specific is a pure command builder ({@link WinCommand}) plus one thin
 * executor, so the commands are tested here and only the executor runs on Windows.
 * @module
 */
import type { Config } from "../config/types.ts";
import { joinPath } from "../platform/fs.ts";
import { CommandError, DATA_DIR_FIX, fileProblem } from "./failure.ts";

/** Name of the Startup shortcut, the Run value and the firewall rule's prefix. */
export const APP_NAME = "dicom-gateway";
/** Name of the inbound firewall rule. */
export const FIREWALL_RULE_NAME = "dicom-gateway DICOM";
const RUN_KEY = "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run";

/**
 * A Windows command. `args` are passed verbatim (Windows raw arguments: quotes are part of the
 * tokens, exactly as typed at a prompt); `display` is what an administrator would type.
 */
export interface WinCommand {
  program: string;
  args: string[];
  display: string;
}

function command(program: string, args: string[]): WinCommand {
  return { program, args, display: [program, ...args].join(" ") };
}

/** `%APPDATA%\Microsoft\Windows\Start Menu\Programs\Startup\dicom-gateway.lnk` */
export function startupShortcutPath(appData: string): string {
  return `${
    appData.replace(/[\\/]+$/, "")
  }\\Microsoft\\Windows\\Start Menu\\Programs\\Startup\\${APP_NAME}.lnk`;
}

/** Quotes text for a PowerShell single-quoted string. */
function psQuote(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** PowerShell's -EncodedCommand: base64 of the UTF-16LE script (no quoting problems on the command line). */
export function encodePowerShell(script: string): string {
  const bytes = new Uint8Array(script.length * 2);
  for (let i = 0; i < script.length; i++) {
    const c = script.charCodeAt(i);
    bytes[2 * i] = c & 0xff;
    bytes[2 * i + 1] = c >> 8;
  }
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

/** The PowerShell script that creates the Startup shortcut (minimised window, working folder = install folder). */
export function shortcutScript(o: { exePath: string; workingDir: string; shortcutPath: string }): string {
  return [
    `$s = (New-Object -ComObject WScript.Shell).CreateShortcut(${psQuote(o.shortcutPath)})`,
    `$s.TargetPath = ${psQuote(o.exePath)}`,
    `$s.WorkingDirectory = ${psQuote(o.workingDir)}`,
    `$s.Description = ${psQuote("dicom-gateway: receives DICOM studies and uploads them")}`,
    `$s.IconLocation = ${psQuote(`${o.exePath},0`)}`,
    "$s.WindowStyle = 7",
    "$s.Save()",
  ].join("; ");
}

/** powershell.exe creating the Startup shortcut. */
export function buildShortcutCommand(
  o: { exePath: string; workingDir: string; shortcutPath: string },
): WinCommand {
  const cmd = command("powershell.exe", [
    "-NoProfile",
    "-NonInteractive",
    "-ExecutionPolicy",
    "Bypass",
    "-EncodedCommand",
    encodePowerShell(shortcutScript(o)),
  ]);
  return { ...cmd, display: `powershell.exe -NoProfile -Command "${shortcutScript(o)}"` };
}

/** `reg add` of the HKCU Run value starting the gateway at login. */
export function buildRunKeyAdd(exePath: string): WinCommand {
  return command("reg.exe", [
    "add",
    `"${RUN_KEY}"`,
    "/v",
    APP_NAME,
    "/t",
    "REG_SZ",
    "/d",
    `"\\"${exePath}\\""`,
    "/f",
  ]);
}

/** `reg delete` of the HKCU Run value. */
export function buildRunKeyDelete(): WinCommand {
  return command("reg.exe", ["delete", `"${RUN_KEY}"`, "/v", APP_NAME, "/f"]);
}

/** `netsh advfirewall` adding the inbound rule for the DICOM port, bound to the program. */
export function buildFirewallAdd(exePath: string, port: number): WinCommand {
  return command("netsh", [
    "advfirewall",
    "firewall",
    "add",
    "rule",
    `name="${FIREWALL_RULE_NAME}"`,
    "dir=in",
    "action=allow",
    "protocol=TCP",
    `localport=${port}`,
    `program="${exePath}"`,
    "profile=private,domain",
  ]);
}

/** `netsh advfirewall` deleting the rule (every rule of that name). */
export function buildFirewallDelete(): WinCommand {
  return command("netsh", ["advfirewall", "firewall", "delete", "rule", `name="${FIREWALL_RULE_NAME}"`]);
}

/** `net session` succeeds only in an elevated (administrator) prompt. */
export const ELEVATION_CHECK: WinCommand = command("net", ["session"]);

/** Runs a command; returns its exit code and output. */
export type Executor = (cmd: WinCommand) => Promise<{ code: number; stdout: string; stderr: string }>;

/** The real executor: Deno.Command with Windows raw arguments (Windows only). */
export const runWindowsCommand: Executor = async (cmd) => {
  const out = await new Deno.Command(cmd.program, {
    args: cmd.args,
    windowsRawArguments: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b).trim();
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
};

/** Options of {@link runInstall} and {@link runUninstall} (all default to the real system). */
export interface InstallOptions {
  write?: (line: string) => void;
  /** `Deno.build.os` */
  os?: typeof Deno.build.os;
  /** `Deno.execPath()` */
  exePath?: string;
  /** `%APPDATA%` */
  appData?: string;
  exec?: Executor;
  /** Startup-folder shortcut (default) or HKCU Run value. */
  method?: InstallMethod;
}

/** How `install` makes the gateway start at login. */
export type InstallMethod = "shortcut" | "run-key";

/**
 * Takes `install`'s own option out of its arguments: `--run-key` chooses the HKCU Run value
 * instead of the Startup shortcut. `remaining` are left for the configuration flags.
 */
export function readInstallArgs(args: string[]): { method: InstallMethod; remaining: string[] } {
  const remaining = args.filter((a) => a !== "--run-key");
  return { method: remaining.length < args.length ? "run-key" : "shortcut", remaining };
}

function context(options: InstallOptions) {
  const write = options.write ?? ((line: string) => console.log(line));
  const os = options.os ?? Deno.build.os;
  return { write, os, exec: options.exec ?? runWindowsCommand };
}

function notWindows(write: (line: string) => void, what: string): number {
  write(
    `${what} only applies to Windows (Startup shortcut and Windows Firewall); nothing was changed. ` +
      "On this system, start dicom-gateway with the system's own service manager (systemd, launchd) " +
      "and open the DICOM port in its firewall if it has one.",
  );
  return 0;
}

function isDenoItself(exePath: string): boolean {
  const name = exePath.replace(/^.*[\\/]/, "").toLowerCase();
  return name === "deno" || name === "deno.exe";
}

async function isElevated(exec: Executor): Promise<boolean> {
  try {
    return (await exec(ELEVATION_CHECK)).code === 0;
  } catch {
    return false;
  }
}

function adminAdvice(write: (line: string) => void, commands: WinCommand[], what: string): void {
  write(`  ${what} needs administrator rights. Open "Command Prompt" with "Run as administrator" and type:`);
  for (const c of commands) write(`      ${c.display}`);
  write("  (Run install itself as the user who works on this PC, so the gateway starts at their login.)");
}

/**
 * `install`: start at login (Startup shortcut or Run value) and open the DICOM port in Windows
 * Firewall (when elevated; otherwise prints the command). On other systems explains and changes nothing.
 * @returns exit code (0 done)
 */
export async function runInstall(config: Config, options: InstallOptions = {}): Promise<number> {
  const { write, os, exec } = context(options);
  if (os !== "windows") return notWindows(write, "install");
  const exePath = options.exePath ?? Deno.execPath();
  if (isDenoItself(exePath)) {
    write(
      "install works with the built dicom-gateway.exe (deno task compile), not under `deno run`. Nothing was changed.",
    );
    return 1;
  }
  const workingDir = exePath.replace(/[\\/][^\\/]*$/, "");
  let failed = false;
  if ((options.method ?? "shortcut") === "shortcut") {
    const appData = options.appData ?? Deno.env.get("APPDATA") ?? "";
    if (appData === "") {
      write("✘ Cannot find the Startup folder (%APPDATA% is not set). Use install --run-key instead.");
      return 1;
    }
    const shortcutPath = startupShortcutPath(appData);
    const r = await exec(buildShortcutCommand({ exePath, workingDir, shortcutPath }));
    if (r.code === 0) write(`✔ dicom-gateway starts when this user logs in (shortcut: ${shortcutPath})`);
    else {
      failed = true;
      write(`✘ The Startup shortcut could not be made: ${r.stderr || r.stdout || `exit code ${r.code}`}`);
    }
  } else {
    const r = await exec(buildRunKeyAdd(exePath));
    if (r.code === 0) {
      write(`✔ dicom-gateway starts when this user logs in (registry: ${RUN_KEY}\\${APP_NAME})`);
    } else {
      failed = true;
      write(`✘ The registry entry could not be written: ${r.stderr || r.stdout || `exit code ${r.code}`}`);
    }
  }
  const add = buildFirewallAdd(exePath, config.port);
  if (await isElevated(exec)) {
    await exec(buildFirewallDelete()); // no duplicates when install runs twice
    const r = await exec(add);
    if (r.code === 0) {
      write(
        `✔ Windows Firewall lets modalities reach DICOM port ${config.port} (rule "${FIREWALL_RULE_NAME}")`,
      );
    } else {
      failed = true;
      write(`✘ The firewall rule could not be added: ${r.stderr || r.stdout || `exit code ${r.code}`}`);
    }
  } else {
    write(`✘ Windows Firewall: modalities cannot reach DICOM port ${config.port} until this rule is added.`);
    adminAdvice(write, [add], "The firewall rule");
  }
  return failed ? 1 : 0;
}

/**
 * `uninstall`: removes the Startup shortcut, the Run value and (when elevated) the firewall rule;
 * prints the firewall command otherwise. Data, logs and settings are left in place.
 */
export async function runUninstall(_config: Config, options: InstallOptions = {}): Promise<number> {
  const { write, os, exec } = context(options);
  if (os !== "windows") return notWindows(write, "uninstall");
  const appData = options.appData ?? Deno.env.get("APPDATA") ?? "";
  if (appData !== "") {
    const path = startupShortcutPath(appData);
    try {
      await Deno.remove(path);
      write(`✔ Removed the Startup shortcut (${path})`);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) write(`✘ Cannot remove ${path}: ${(e as Error).message}`);
    }
  }
  const reg = await exec(buildRunKeyDelete());
  if (reg.code === 0) write(`✔ Removed the registry entry ${RUN_KEY}\\${APP_NAME}`);
  const del = buildFirewallDelete();
  if (await isElevated(exec)) {
    const r = await exec(del);
    write(
      r.code === 0 ? `✔ Removed the firewall rule "${FIREWALL_RULE_NAME}"` : "✔ No firewall rule to remove",
    );
  } else {
    adminAdvice(write, [del], "Removing the firewall rule");
  }
  write("dicom-gateway no longer starts at login. Its folder (data, logs, settings) was left as it is.");
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Single instance.

/** Name of the lock file in the data folder. */
export const LOCK_FILE_NAME = "dicom-gateway.lock";

/** Who holds the lock, as far as the lock file tells (Windows forbids reading a locked file: null). */
export interface LockHolder {
  pid: number | null;
  startedAt: string | null;
}

/** A held single-instance lock. */
export interface InstanceLock {
  release(): void;
}

/** Another copy holds the lock: who, and the one sentence to show. */
export interface LockRefused {
  heldBy: LockHolder;
  message: string;
}

/**
 * Takes the single-instance lock: an exclusive OS file lock (`Deno.FsFile.tryLock`: flock on
 * Linux and macOS, LockFileEx on Windows) on `dicom-gateway.lock` in the data folder, kept for
 * the life of the process. The OS releases it when the process ends, however it ends, so a lock
 * file left by a killed copy never blocks a start; and it needs only read/write permission on the
 * data folder (no process table). The file holds our PID and start time, for the refusal message.
 * The DICOM port is the second guard (a second copy cannot bind it either).
 * @throws {CommandError} when the data folder cannot be made or the lock file cannot be opened
 */
export async function acquireInstanceLock(dataDir: string): Promise<InstanceLock | LockRefused> {
  const path = joinPath(dataDir, LOCK_FILE_NAME);
  let file: Deno.FsFile;
  try {
    await Deno.mkdir(dataDir, { recursive: true });
    file = await Deno.open(path, { read: true, write: true, create: true });
  } catch (error) {
    throw new CommandError(fileProblem(error, { path: dataDir, what: "the data folder", fix: DATA_DIR_FIX }));
  }
  let locked: boolean;
  try {
    locked = await file.tryLock(true);
  } catch (error) {
    file.close();
    throw new CommandError(fileProblem(error, { path, what: "the lock file", fix: DATA_DIR_FIX }));
  }
  if (!locked) {
    file.close();
    const heldBy = await readLockHolder(path);
    const who = heldBy.pid === null
      ? "another copy of dicom-gateway"
      : `another copy of dicom-gateway (process ${heldBy.pid}, started ${heldBy.startedAt ?? "?"})`;
    return {
      heldBy,
      message: `Cannot start: ${who} is already using ${dataDir}. Close it first, or look for its window.`,
    };
  }
  const mine = JSON.stringify({ pid: Deno.pid, startedAt: new Date().toISOString() }) + "\n";
  try {
    await file.truncate(0);
    const bytes = new TextEncoder().encode(mine);
    let written = 0;
    while (written < bytes.length) written += await file.write(bytes.subarray(written));
  } catch {
    // The PID is only for the message a second copy shows; the lock itself is held.
  }
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      // The file stays: removing it while another copy waits to lock it would let a third copy
      // lock a new file of the same name beside it.
      try {
        file.unlockSync();
      } finally {
        file.close();
      }
    },
  };
}

/** The PID and start time in a lock file, when it can be read and parsed. */
async function readLockHolder(path: string): Promise<LockHolder> {
  try {
    const held = JSON.parse(await Deno.readTextFile(path)) as { pid?: unknown; startedAt?: unknown };
    return {
      pid: typeof held.pid === "number" ? held.pid : null,
      startedAt: typeof held.startedAt === "string" ? held.startedAt : null,
    };
  } catch {
    return { pid: null, startedAt: null };
  }
}
