/**
 * The command line's own answers: `--version`, `--help` after any command, and the plain
 * sentences for unusable paths ({@link fileProblem}).
 */
import { assert, assertEquals } from "../support/assert.ts";
import { runCli } from "../../src/cli/main.ts";
import { fileProblem, fileReason } from "../../src/cli/failure.ts";
import { VERSION } from "../../src/version.ts";

async function captured(args: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (...a: unknown[]) => lines.push(a.join(" "));
  console.error = (...a: unknown[]) => lines.push(a.join(" "));
  try {
    return { code: await runCli(args), out: lines.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
  }
}

Deno.test("--version and version print the version and exit 0", async () => {
  for (const args of [["--version"], ["version"]]) {
    const r = await captured(args);
    assertEquals(r, { code: 0, out: `dicom-gateway ${VERSION}` }, args.join(" "));
  }
});

Deno.test("a leading -- (as `deno task start -- doctor` passes it) is dropped before the command", async () => {
  assertEquals(await captured(["--", "--version"]), { code: 0, out: `dicom-gateway ${VERSION}` });
  const help = await captured(["--", "doctor", "--help"]);
  assertEquals(help.code, 0);
  assert(help.out.includes("Usage:"), help.out);
});

Deno.test("--help after any command prints the usage and exits 0", async () => {
  for (const command of ["install", "uninstall", "doctor", "init", "retry-failed", "echo", "store"]) {
    const r = await captured([command, "--help"]);
    assertEquals(r.code, 0, command);
    assert(r.out.includes("Usage:"), `${command}: ${r.out}`);
  }
});

Deno.test("an unusable path is one sentence naming it, the reason in words and what to do", () => {
  const cases: [unknown, string][] = [
    [new Deno.errors.NotFound("No such file or directory (os error 2): open '/x'"), "it does not exist"],
    [
      new Deno.errors.NotADirectory("Not a directory (os error 20): mkdir '/x'"),
      "part of that path is a file",
    ],
    [new Deno.errors.PermissionDenied("Permission denied (os error 13)"), "this program may not write there"],
    [
      Object.assign(new Error("Read-only file system (os error 30): mkdir '/x'"), { code: "EROFS" }),
      "read-only",
    ],
    [
      Object.assign(new Error("No space left on device (os error 28)"), { code: "ENOSPC" }),
      "the disk is full",
    ],
    [new Error("Something odd (os error 99): open '/x'"), "Something odd"],
  ];
  for (const [error, reason] of cases) {
    assert(fileReason(error).includes(reason), `${error}: ${fileReason(error)}`);
  }
  assertEquals(
    fileProblem(new Deno.errors.NotADirectory("x"), {
      path: "D:\\gw\\data",
      what: "the data folder",
      fix: "Choose another",
    }),
    "Cannot use the data folder D:\\gw\\data: part of that path is a file, not a folder. Choose another.",
  );
});
