/** The platform file-system rules: paths, the Windows rename retry, directory fsync. */
import { assert, assertEquals, assertRejects } from "../support/assert.ts";
import {
  fsyncDirectory,
  isTransientRenameError,
  joinPath,
  renameWithRetry,
  toNativePath,
} from "../../src/platform/fs.ts";

Deno.test("isTransientRenameError recognises os errors 5 and 32 on Windows only", () => {
  assert(isTransientRenameError(new Deno.errors.PermissionDenied("x"), "windows"));
  assert(isTransientRenameError(new Error("being used by another process. (os error 32)"), "windows"));
  assert(isTransientRenameError(new Error("Access is denied. (os error 5)"), "windows"));
  assert(!isTransientRenameError(new Error("(os error 50)"), "windows"));
  assert(!isTransientRenameError(new Deno.errors.NotFound("x"), "windows"));
  assert(!isTransientRenameError(new Deno.errors.PermissionDenied("x"), "linux"));
});

Deno.test("isTransientRenameError: Busy (os error 32 in some Deno versions) is retried on Windows too", () => {
  assert(isTransientRenameError(new Deno.errors.Busy("x"), "windows"));
  assert(!isTransientRenameError(new Deno.errors.Busy("x"), "linux"));
});

Deno.test("renameWithRetry: Windows backoff 20, 50, 100, 200, 400, 800 ms, then the last error", async () => {
  const waits: number[] = [];
  let attempts = 0;
  await assertRejects(
    () =>
      renameWithRetry("a", "b", {
        os: "windows",
        wait: (ms) => Promise.resolve(void waits.push(ms)),
        rename: () =>
          Promise.reject(new Error(`being used by another process. (os error 32) #${++attempts}`)),
      }),
    Error,
    "#7",
  );
  assertEquals(waits, [20, 50, 100, 200, 400, 800]);
});

Deno.test("renameWithRetry: succeeds once the other program lets go; POSIX never waits", async () => {
  let attempts = 0;
  const waits: number[] = [];
  await renameWithRetry("a", "b", {
    os: "windows",
    wait: (ms) => Promise.resolve(void waits.push(ms)),
    rename: () =>
      ++attempts < 3 ? Promise.reject(new Deno.errors.PermissionDenied("(os error 5)")) : Promise.resolve(),
  });
  assertEquals([attempts, waits], [3, [20, 50]]);
  await assertRejects(
    () =>
      renameWithRetry("a", "b", {
        os: "linux",
        wait: () => Promise.reject(new Error("must not wait")),
        rename: () => Promise.reject(new Deno.errors.PermissionDenied("Permission denied")),
      }),
    Deno.errors.PermissionDenied,
  );
});

Deno.test("joinPath and toNativePath follow the platform separator", () => {
  const sep = Deno.build.os === "windows" ? "\\" : "/";
  assertEquals(joinPath("data/", "/instances/", "", "x.dcm"), ["data", "instances", "x.dcm"].join(sep));
  assertEquals(toNativePath("instances/a/b.dcm", "windows"), "instances\\a\\b.dcm");
  assertEquals(toNativePath("instances/a/b.dcm", "linux"), "instances/a/b.dcm");
});

Deno.test("fsyncDirectory: syncs a folder; a no-op on Windows", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await fsyncDirectory(dir);
    await fsyncDirectory(`${dir}/does-not-exist`, "windows");
    await assertRejects(() => fsyncDirectory(`${dir}/does-not-exist`, "linux"), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir);
  }
});
