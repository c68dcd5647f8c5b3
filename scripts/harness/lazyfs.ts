/**
 * LazyFS (dsrhaslab/lazyfs, a FUSE file system; built offline by ../shared/tools/lazyfs/build.sh,
 * put on PATH by .ci/run) for power-cut tests: every write not yet fsynced stays in LazyFS's own
 * cache, and `lazyfs::clear-cache` written to its fault FIFO drops that cache, which is what a
 * power cut does to a disk's unsynced writes. SIGKILL alone keeps the kernel's page cache and so
 * never tests an fsync.
 *
 * What LazyFS does and does not model (read from its source, a47a5ba): file data written and not
 * fsynced (or fdatasynced) is lost; metadata operations (create, mkdir, rename, unlink) go straight
 * to the file system underneath and are never lost; directory fsync is ignored. So a file renamed
 * into place before its data was synced comes back present but short (often empty). It has no
 * statfs either, so free space reads 0 bytes on it (the gateway warns that the disk is full).
 *
 * Linux only, needs `/dev/fuse` and root (or `fusermount3` set-uid) to mount.
 * @module
 */
import { findOnPath } from "./tools.ts";
import { delay, runCommand, spawnChild } from "./process.ts";
import type { ChildHandle } from "./process.ts";

/** The tools a LazyFS test needs on PATH (for `interopTest`). */
export const LAZYFS_TOOLS: readonly string[] = ["lazyfs", "fusermount3"];

/** Where and how LazyFS is mounted. */
export interface LazyFsOptions {
  /** The folder LazyFS stores into (the "disk"); must exist. */
  root: string;
  /** The empty folder LazyFS is mounted on; must exist. */
  mountPoint: string;
  /**
   * A folder for the config file and the two FIFOs. LazyFS reads its fault FIFO 100 bytes at a
   * time and takes a `--config-path` containing "-o" (any case) for a FUSE option: keep it short
   * and free of "-o".
   */
  controlDir: string;
  /** Size of LazyFS's cache (default "512mb"); unsynced data above it would be written out. */
  cacheSize?: string;
  /** How long to wait for the mount (default 20 000 ms). */
  timeoutMs?: number;
}

/** A mounted LazyFS. */
export interface LazyFsMount {
  readonly mountPoint: string;
  readonly root: string;
  /** LazyFS's output so far (its log). */
  output(): string;
  /**
   * The power cut: drops every write not yet fsynced, and resolves once LazyFS has reported
   * `finished::clear-cache` on its "completed" FIFO.
   */
  clearCache(): Promise<void>;
  /** Unmounts (LazyFS aborts at unmount: harmless) and waits for the process to end. Never throws. */
  unmount(): Promise<void>;
}

/** True when `path` is a mount point (Linux: listed in /proc/self/mountinfo). */
async function isMountPoint(path: string): Promise<boolean> {
  const text = await Deno.readTextFile("/proc/self/mountinfo");
  // mountinfo field 5 is the mount point, with spaces and the like escaped as octal (\040).
  return text.split("\n").some((line) => line.split(" ")[4] === path);
}

/**
 * Mounts LazyFS over `root` at `mountPoint` (`lazyfs MNT --config-path CFG -o modules=subdir
 * -o subdir=ROOT -f`), holds a reader on its "completed" FIFO for the mount's life (its fault
 * worker blocks until one is there), and resolves once the mount is live.
 */
export async function mountLazyFs(options: LazyFsOptions): Promise<LazyFsMount> {
  const binary = findOnPath("lazyfs");
  if (binary === undefined) {
    throw new Error("lazyfs is not on PATH (build it with ../shared/tools/lazyfs/build.sh; .ci/run does)");
  }
  if (!(await Deno.stat("/dev/fuse").then((s) => s.isCharDevice, () => false))) {
    throw new Error(
      "no /dev/fuse: FUSE is not available here (a container needs --device /dev/fuse --cap-add SYS_ADMIN)",
    );
  }
  const config = `${options.controlDir}/lazyfs.toml`;
  if (/-o/i.test(config)) {
    throw new Error(`LazyFS would take the config path ${config} for a FUSE option (it contains "-o")`);
  }
  const faultFifo = `${options.controlDir}/faults.fifo`;
  const completedFifo = `${options.controlDir}/completed.fifo`;
  await Deno.writeTextFile(
    config,
    [
      "[faults]",
      `fifo_path="${faultFifo}"`,
      `fifo_path_completed="${completedFifo}"`,
      "[cache]",
      "apply_eviction=false",
      "[cache.simple]",
      `custom_size="${options.cacheSize ?? "512mb"}"`,
      "blocks_per_page=1",
      "[filesystem]",
      "log_all_operations=false",
      'logfile=""',
      "",
    ].join("\n"),
  );
  const child: ChildHandle = spawnChild(binary, [
    options.mountPoint,
    "--config-path",
    config,
    "-o",
    "modules=subdir",
    "-o",
    `subdir=${options.root}`,
    "-f",
  ], { cwd: options.controlDir });
  const timeoutMs = options.timeoutMs ?? 20_000;
  const deadline = Date.now() + timeoutMs;
  // LazyFS makes the FIFO at start; its fault worker then opens the "completed" FIFO for writing,
  // which blocks until a reader is there. Open ours once the FIFO exists.
  while (!(await Deno.stat(completedFifo).then((s) => s.isFifo, () => false))) {
    if (child.exited() || Date.now() > deadline) {
      await child.stop("SIGKILL", 1000);
      throw new Error(`LazyFS did not make its FIFOs within ${timeoutMs} ms:\n${child.output()}`);
    }
    await delay(20);
  }
  // Opening a FIFO to read blocks until a writer opens it: if LazyFS dies first, we open the
  // writing end ourselves so that the open returns, and report LazyFS's output.
  const opening = Deno.open(completedFifo, { read: true });
  const first = await Promise.race([opening, child.status.then(() => null)]);
  if (first === null) {
    (await Deno.open(completedFifo, { write: true })).close();
    (await opening).close();
    throw new Error(`LazyFS exited at start:\n${child.output()}`);
  }
  const completed = first;
  while (!(await isMountPoint(options.mountPoint))) {
    if (child.exited() || Date.now() > deadline) {
      completed.close();
      await child.stop("SIGKILL", 1000);
      throw new Error(
        `LazyFS did not mount ${options.mountPoint} within ${timeoutMs} ms:\n${child.output()}`,
      );
    }
    await delay(20);
  }
  let unmounted = false;
  let pending = "";
  const decoder = new TextDecoder();
  return {
    mountPoint: options.mountPoint,
    root: options.root,
    output: () => child.output(),
    async clearCache(): Promise<void> {
      const fifo = await Deno.open(faultFifo, { write: true });
      try {
        await fifo.write(new TextEncoder().encode("lazyfs::clear-cache\n"));
      } finally {
        fifo.close();
      }
      const buffer = new Uint8Array(256);
      while (!pending.includes("finished::clear-cache\n")) {
        const n = await completed.read(buffer);
        if (n === null) throw new Error(`LazyFS closed its "completed" FIFO:\n${child.output()}`);
        pending += decoder.decode(buffer.subarray(0, n));
      }
      pending = pending.slice(pending.indexOf("finished::clear-cache\n") + "finished::clear-cache\n".length);
    },
    async unmount(): Promise<void> {
      if (unmounted) return;
      unmounted = true;
      await runCommand("fusermount3", ["-u", options.mountPoint], { timeoutMs: 10_000 });
      // LazyFS ends by itself once unmounted (with an abort); killed if it lingers.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([child.status, new Promise((resolve) => timer = setTimeout(resolve, 5000))]);
      clearTimeout(timer);
      await child.stop("SIGKILL", 5000);
      if (await isMountPoint(options.mountPoint)) {
        // The process is gone but the kernel still lists the mount ("transport endpoint not connected").
        await runCommand("fusermount3", ["-uz", options.mountPoint], { timeoutMs: 10_000 });
      }
      completed.close();
    },
  };
}
