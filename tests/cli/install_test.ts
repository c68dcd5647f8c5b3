import { assert, assertEquals, assertStringIncludes } from "../support/assert.ts";
import { tempDir } from "../status/helpers.ts";
import { defaultConfig } from "../../src/config/types.ts";
import { joinPath } from "../../src/platform/fs.ts";
import {
  acquireInstanceLock,
  buildFirewallAdd,
  buildFirewallDelete,
  buildRunKeyAdd,
  buildRunKeyDelete,
  buildShortcutCommand,
  type Executor,
  LOCK_FILE_NAME,
  readInstallArgs,
  runInstall,
  runUninstall,
  shortcutScript,
  startupShortcutPath,
  type WinCommand,
} from "../../src/cli/install.ts";
import { runCli } from "../../src/cli/main.ts";

const EXE = "C:\\Program Files\\dicom-gateway\\dicom-gateway.exe";
const APPDATA = "C:\\Users\\reception\\AppData\\Roaming";

function decodePowerShell(b64: string): string {
  const bin = atob(b64);
  let out = "";
  for (let i = 0; i < bin.length; i += 2) {
    out += String.fromCharCode(bin.charCodeAt(i) | (bin.charCodeAt(i + 1) << 8));
  }
  return out;
}

/** Records commands; `net session` answers as configured. */
function recorder(elevated: boolean): { exec: Executor; ran: WinCommand[] } {
  const ran: WinCommand[] = [];
  const exec: Executor = (cmd) => {
    ran.push(cmd);
    const code = cmd.program === "net" ? (elevated ? 0 : 2) : 0;
    return Promise.resolve({
      code,
      stdout: "",
      stderr: code ? "System error 5 has occurred. Access is denied." : "",
    });
  };
  return { exec, ran };
}

Deno.test("the Startup shortcut path and the PowerShell that makes it", () => {
  assertEquals(
    startupShortcutPath(APPDATA + "\\"),
    "C:\\Users\\reception\\AppData\\Roaming\\Microsoft\\Windows\\Start Menu\\Programs\\Startup\\dicom-gateway.lnk",
  );
  const o = {
    exePath: "C:\\O'Brien\\gw\\dicom-gateway.exe",
    workingDir: "C:\\O'Brien\\gw",
    shortcutPath: "C:\\s.lnk",
  };
  const cmd = buildShortcutCommand(o);
  assertEquals(cmd.program, "powershell.exe");
  assertEquals(cmd.args.slice(0, 5), [
    "-NoProfile",
    "-NonInteractive",
    "-ExecutionPolicy",
    "Bypass",
    "-EncodedCommand",
  ]);
  const script = decodePowerShell(cmd.args[5]!);
  assertEquals(script, shortcutScript(o));
  assertStringIncludes(script, "(New-Object -ComObject WScript.Shell).CreateShortcut('C:\\s.lnk')");
  assertStringIncludes(script, "$s.TargetPath = 'C:\\O''Brien\\gw\\dicom-gateway.exe'");
  assertStringIncludes(script, "$s.WorkingDirectory = 'C:\\O''Brien\\gw'");
  assert(script.endsWith("$s.Save()"));
});

Deno.test("firewall and registry commands are exactly what an administrator would type", () => {
  assertEquals(
    buildFirewallAdd(EXE, 4104).display,
    'netsh advfirewall firewall add rule name="dicom-gateway DICOM" dir=in action=allow protocol=TCP ' +
      'localport=4104 program="C:\\Program Files\\dicom-gateway\\dicom-gateway.exe" profile=private,domain',
  );
  assertEquals(
    buildFirewallDelete().display,
    'netsh advfirewall firewall delete rule name="dicom-gateway DICOM"',
  );
  assertEquals(
    buildRunKeyAdd(EXE).display,
    'reg.exe add "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run" /v dicom-gateway /t REG_SZ ' +
      '/d "\\"C:\\Program Files\\dicom-gateway\\dicom-gateway.exe\\"" /f',
  );
  assertEquals(
    buildRunKeyDelete().display,
    'reg.exe delete "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run" /v dicom-gateway /f',
  );
});

Deno.test("install on a system other than Windows explains and changes nothing", async () => {
  const appData = await tempDir();
  const lines: string[] = [];
  let ran = 0;
  const exec: Executor = () => {
    ran++;
    return Promise.resolve({ code: 0, stdout: "", stderr: "" });
  };
  for (const run of [runInstall, runUninstall]) {
    const code = await run(defaultConfig(appData), {
      os: "linux",
      write: (l) => lines.push(l),
      exec,
      appData,
    });
    assertEquals(code, 0);
  }
  assertEquals(ran, 0);
  assertEquals([...Deno.readDirSync(appData)], []);
  assertEquals(lines.length, 2);
  assertStringIncludes(lines[0]!, "install only applies to Windows");
  assertStringIncludes(lines[0]!, "nothing was changed");
  // And with the real defaults on this (non-Windows) machine.
  if (Deno.build.os !== "windows") {
    const real: string[] = [];
    assertEquals(await runInstall(defaultConfig(appData), { write: (l) => real.push(l) }), 0);
    assertStringIncludes(real[0]!, "only applies to Windows");
  }
});

Deno.test("install on Windows, elevated: shortcut, then the firewall rule replaced (no duplicates)", async () => {
  const { exec, ran } = recorder(true);
  const lines: string[] = [];
  const config = { ...defaultConfig("C:\\gw"), port: 11112 };
  const code = await runInstall(config, {
    os: "windows",
    exePath: EXE,
    appData: APPDATA,
    exec,
    write: (l) => lines.push(l),
  });
  assertEquals(code, 0, lines.join("\n"));
  assertEquals(ran.map((c) => c.program), ["powershell.exe", "net", "netsh", "netsh"]);
  const script = decodePowerShell(ran[0]!.args[5]!);
  assertStringIncludes(script, `CreateShortcut('${startupShortcutPath(APPDATA)}')`);
  assertStringIncludes(script, "$s.WorkingDirectory = 'C:\\Program Files\\dicom-gateway'");
  assertEquals(ran[2], buildFirewallDelete());
  assertEquals(ran[3], buildFirewallAdd(EXE, 11112));
  assertStringIncludes(lines.join("\n"), "✔ Windows Firewall lets modalities reach DICOM port 11112");
});

Deno.test("install on Windows, not elevated: prints the exact firewall command for an administrator", async () => {
  const { exec, ran } = recorder(false);
  const lines: string[] = [];
  const code = await runInstall(defaultConfig("C:\\gw"), {
    os: "windows",
    exePath: EXE,
    appData: APPDATA,
    exec,
    method: "run-key",
    write: (l) => lines.push(l),
  });
  assertEquals(code, 0);
  assertEquals(ran.map((c) => c.program), ["reg.exe", "net"]);
  assertEquals(ran[0], buildRunKeyAdd(EXE));
  const text = lines.join("\n");
  assertStringIncludes(text, "Run as administrator");
  assertStringIncludes(text, `      ${buildFirewallAdd(EXE, 4104).display}`);
});

Deno.test("install --run-key chooses the Run value; other options stay configuration flags", async () => {
  assertEquals(readInstallArgs(["--port", "11112"]), { method: "shortcut", remaining: ["--port", "11112"] });
  const parsed = readInstallArgs(["--port", "11112", "--run-key"]);
  assertEquals(parsed, { method: "run-key", remaining: ["--port", "11112"] });
  // What the parsed option makes install do on Windows: the registry value, no shortcut.
  const { exec, ran } = recorder(true);
  const code = await runInstall({ ...defaultConfig("C:\\gw"), port: 11112 }, {
    os: "windows",
    exePath: EXE,
    appData: APPDATA,
    exec,
    method: parsed.method,
    write: () => {},
  });
  assertEquals(code, 0);
  assertEquals(ran.map((c) => c.program), ["reg.exe", "net", "netsh", "netsh"]);
  assertEquals(ran[0], buildRunKeyAdd(EXE));
  assertEquals(ran[3], buildFirewallAdd(EXE, 11112));
});

Deno.test("the command line accepts install --run-key and refuses a mistyped install option", async () => {
  const dir = await tempDir();
  const printed: string[] = [];
  const { log, error } = console;
  console.log = (...a: unknown[]) => printed.push(a.join(" "));
  console.error = (...a: unknown[]) => printed.push(a.join(" "));
  try {
    const expected = Deno.build.os === "windows" ? 1 : 0; // under deno run, Windows refuses (not the exe)
    assertEquals(await runCli(["install", "--run-key", "--data-dir", dir]), expected, printed.join("\n"));
    assertEquals(await runCli(["install", "--runkey", "--data-dir", dir]), 2, printed.join("\n"));
    assertStringIncludes(printed.join("\n"), 'Unknown option or argument for install: "--runkey"');
    assertEquals(await runCli(["uninstall", "--run-key", "--data-dir", dir]), 2, printed.join("\n"));
  } finally {
    console.log = log;
    console.error = error;
  }
});

Deno.test("install refuses under deno run; uninstall removes shortcut, registry value and rule", async () => {
  const { exec } = recorder(true);
  const lines: string[] = [];
  assertEquals(
    await runInstall(defaultConfig("/x"), {
      os: "windows",
      exePath: "C:\\deno\\deno.exe",
      exec,
      write: (l) => lines.push(l),
    }),
    1,
  );
  assertStringIncludes(lines[0]!, "built dicom-gateway.exe");

  // Uninstall deletes the real shortcut file under a fake %APPDATA%.
  const appData = await tempDir();
  const un = recorder(true);
  const out: string[] = [];
  // On Linux the Windows separators make this one file name inside appData; that is fine here.
  await Deno.writeTextFile(startupShortcutPath(appData), "shortcut");
  assertEquals(
    await runUninstall(defaultConfig("/x"), {
      os: "windows",
      appData,
      exec: un.exec,
      write: (l) => out.push(l),
    }),
    0,
  );
  assertEquals(un.ran.map((c) => c.display), [
    buildRunKeyDelete().display,
    "net session",
    buildFirewallDelete().display,
  ]);
  const text = out.join("\n");
  assertStringIncludes(text, "✔ Removed the Startup shortcut");
  assertStringIncludes(text, "Its folder (data, logs, settings) was left as it is.");
  let gone = false;
  try {
    await Deno.stat(startupShortcutPath(appData));
  } catch {
    gone = true;
  }
  assert(gone);
});

Deno.test("single instance: the lock is taken, refused to a second taker, released", async () => {
  const dir = joinPath(await tempDir(), "data");
  const first = await acquireInstanceLock(dir);
  assert("release" in first);
  const content = JSON.parse(await Deno.readTextFile(joinPath(dir, LOCK_FILE_NAME)));
  assertEquals(content.pid, Deno.pid);
  const second = await acquireInstanceLock(dir);
  assert("heldBy" in second);
  assertEquals(second.heldBy.pid, Deno.pid);
  assertStringIncludes(second.message, `already using ${dir}`);
  first.release();
  // The file stays after release; a lock file nobody holds never blocks.
  await Deno.stat(joinPath(dir, LOCK_FILE_NAME));
  const third = await acquireInstanceLock(dir);
  assert("release" in third);
  third.release();
});

Deno.test("single instance: garbage in a lock file nobody holds does not block", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(joinPath(dir, LOCK_FILE_NAME), "{half-writ");
  const taken = await acquireInstanceLock(dir);
  assert("release" in taken);
  assertEquals(JSON.parse(await Deno.readTextFile(joinPath(dir, LOCK_FILE_NAME))).pid, Deno.pid);
  taken.release();
});
