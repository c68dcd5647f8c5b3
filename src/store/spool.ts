/**
 * Durable instance files: each incoming instance is streamed to `dataDir/tmp/<random>.part`,
 * then committed by fsync (fdatasync) → close → rename into place → fsync of the directory, so that after
 * `commit` resolves the file survives a power cut (the gateway answers C-STORE Success only
 * then). A crash mid-transfer leaves only a `.part` file, removed by {@link Spool.init}.
 *
 * Windows: the rename is retried while antivirus or an indexer holds the file open, and the
 * directory fsync is skipped (`platform/fs.ts` holds both rules).
 * @module
 */
import { logger } from "../log.ts";
import { messageOf } from "../errors.ts";
import { fsyncDirectory, joinPath, renameWithRetry, toNativePath } from "../platform/fs.ts";

const log = logger("store");

/** Where and how instances are spooled. */
export interface SpoolOptions {
  /** The data folder; `tmp/` and `instances/` are made inside it. */
  dataDir: string;
  /** fsync the file and directories on commit. Only benchmarks turn this off. */
  fsync: boolean;
  /** test hook to inject write failures (disk full) */
  openFile?: (path: string) => Promise<SpoolSink>;
  /** test hook: the rename used by commit (default `Deno.renameSync`, in place). */
  rename?: (from: string, to: string) => Promise<void>;
  /**
   * test hook: whose rules apply to rename retries and directory fsync (default
   * `Deno.build.os`); path separators always follow the real platform.
   */
  os?: typeof Deno.build.os;
  /** test hook: waits between rename retries (default `setTimeout`). */
  sleep?: (ms: number) => Promise<void>;
  /**
   * Open the next temporary file while the current instance is received (the gateway does).
   * Creating a file waits for the file system's journal when fsyncs keep it busy (measured on
   * ext4: median 49 µs, but one create in ten 0.7 ms, in line before every instance); opened
   * ahead, off the event loop, that wait overlaps the transfer. {@link Spool.close} deletes the
   * spare; one left by a crash is an empty `.part` file that {@link Spool.init} removes.
   */
  openAhead?: boolean;
}

/** The file a spool writes to: `write` writes every byte or throws. */
export interface SpoolSink {
  write(bytes: Uint8Array): Promise<void>;
  sync(): Promise<void>;
  close(): void;
}

/** One instance being received. */
export interface SpoolFile {
  /** Absolute or dataDir-relative path of the temporary `.part` file. */
  readonly tempPath: string;
  /** Bytes written so far. */
  readonly bytesWritten: number;
  /**
   * Appends bytes (writes are queued in call order). The caller must not change `bytes` until
   * the promise resolves. A failure throws {@link SpoolWriteError} and deletes the temporary file.
   */
  write(bytes: Uint8Array): Promise<void>;
  /**
   * Makes the file durable at `dataDir/<relativePath>` ("/"-separated, no `..`): fsync the file
   * (if `fsync`), close, create missing directories (fsyncing the parent of each created one),
   * rename over any existing file, fsync the destination directory (not on Windows). Throws
   * {@link SpoolWriteError} (and deletes the temporary file) if any step fails.
   *
   * `whilePlaced` runs once the file is in place (renamed), while the directory fsync is under way,
   * so that work which needs the file in place (recording it in the queue index) overlaps the
   * wait for the disk. It must not throw. The commit resolves only when the directory fsync has
   * finished; if that fails, the file stays in place (it is complete) and the commit throws.
   */
  commit(relativePath: string, whilePlaced?: () => void): Promise<{ path: string; size: number }>;
  /** Closes and deletes the temporary file. Never throws; a no-op after commit. */
  discard(): Promise<void>;
}

/** A write, sync or rename of a spooled instance failed (disk full, I/O error): answer 0xA700. */
export class SpoolWriteError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SpoolWriteError";
  }
}

/** Writes instances to temporary files and commits them durably. */
export class Spool {
  readonly #options: SpoolOptions;
  readonly #os: typeof Deno.build.os;
  /** Directories under dataDir known to exist (made or found by an earlier commit). */
  readonly #knownDirectories = new Set<string>();
  /** The next temporary file, being opened ahead (`openAhead`); null when it failed. */
  #ahead: Promise<{ tempPath: string; sink: SpoolSink } | null> | null = null;
  #closed = false;

  constructor(options: SpoolOptions) {
    this.#options = options;
    this.#os = options.os ?? Deno.build.os;
  }

  /** The folder holding temporary `.part` files. */
  get tmpDir(): string {
    return joinPath(this.#options.dataDir, "tmp");
  }

  /**
   * Creates `dataDir`, `dataDir/tmp` and `dataDir/instances` and deletes leftover `*.part`
   * files (instances half-received when the process died). Returns how many were deleted.
   */
  async init(): Promise<number> {
    await Deno.mkdir(this.#options.dataDir, { recursive: true });
    await Deno.mkdir(this.tmpDir, { recursive: true });
    await Deno.mkdir(joinPath(this.#options.dataDir, "instances"), { recursive: true });
    let removed = 0;
    for await (const entry of Deno.readDir(this.tmpDir)) {
      if (!entry.isFile || !entry.name.endsWith(".part")) continue;
      try {
        const path = joinPath(this.tmpDir, entry.name);
        // An empty one is a file opened ahead (see `openAhead`), not a half-received instance.
        const empty = (await Deno.stat(path)).size === 0;
        await Deno.remove(path);
        if (!empty) removed++;
      } catch (error) {
        log.warn("Cannot remove stale temporary file {name}: {error}", {
          name: entry.name,
          error: String(error),
        });
      }
    }
    if (removed > 0) {
      log.info("Removed {removed} incomplete temporary instance file(s) left by an earlier run", { removed });
    }
    return removed;
  }

  /** Creates a new temporary file `dataDir/tmp/<random>.part`. Throws {@link SpoolWriteError}. */
  async begin(): Promise<SpoolFile> {
    const ahead = this.#ahead;
    this.#ahead = null;
    let opened = ahead ? await ahead : null;
    if (opened === null) opened = await this.#open(this.#options.openFile ?? openFileSink);
    // Another begin may have started one while this one waited: one spare at a time.
    if (this.#options.openAhead && !this.#closed && this.#ahead === null) {
      this.#ahead = this.#open(this.#options.openFile ?? openFileSinkOffThread).catch(() => null);
    }
    const { tempPath, sink } = opened;
    return new SpoolFileImpl(tempPath, sink, {
      dataDir: this.#options.dataDir,
      fsync: this.#options.fsync,
      os: this.#os,
      rename: this.#options.rename ?? renameInPlace,
      sleep: this.#options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
      knownDirectories: this.#knownDirectories,
    });
  }

  /** Deletes the file opened ahead, if any; `begin` opens files one at a time from here on. */
  async close(): Promise<void> {
    this.#closed = true;
    const ahead = this.#ahead;
    this.#ahead = null;
    const opened = ahead ? await ahead : null;
    if (!opened) return;
    try {
      opened.sink.close();
    } catch {
      // Already closed: only the file is left to remove.
    }
    await removeQuietly(opened.tempPath);
  }

  /** Opens a new `tmp/<random>.part` with `open`. Throws {@link SpoolWriteError}. */
  async #open(open: (path: string) => Promise<SpoolSink>): Promise<{ tempPath: string; sink: SpoolSink }> {
    const tempPath = joinPath(this.tmpDir, `${crypto.randomUUID()}.part`);
    try {
      try {
        return { tempPath, sink: await open(tempPath) };
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
        // The tmp folder was removed while we ran (by hand, say): make it again.
        await Deno.mkdir(this.tmpDir, { recursive: true });
        return { tempPath, sink: await open(tempPath) };
      }
    } catch (error) {
      await removeQuietly(tempPath);
      throw new SpoolWriteError(`Cannot create temporary file ${tempPath}: ${messageOf(error)}`, {
        cause: error,
      });
    }
  }
}

/**
 * The default sink: a `Deno.FsFile` opened create-new, write-only, written with `writeSync`.
 * Opening is a quick metadata call (measured: 30 µs in place against 80 as a trip to the
 * file-system thread). Writes are synchronous too: an asynchronous `write` is a trip to a blocking
 * thread that also duplicates and closes the descriptor each time (strace of a 1 GiB instance:
 * 8,378 `close` and 8,919 `fcntl` calls beside 8,192 writes, and a thread wake-up each), which
 * cost more than the copy into the page cache itself. A write lands in the page cache (fsync is
 * what waits for the disk, and stays asynchronous), so the event loop is held for the copy only.
 */
function openFileSink(path: string): Promise<SpoolSink> {
  return Promise.resolve(fileSink(Deno.openSync(path, { createNew: true, write: true })));
}

/** {@link openFileSink}, opened on the file-system thread: for a file opened ahead of need. */
async function openFileSinkOffThread(path: string): Promise<SpoolSink> {
  return fileSink(await Deno.open(path, { createNew: true, write: true }));
}

function fileSink(file: Deno.FsFile): SpoolSink {
  return {
    write(bytes: Uint8Array): Promise<void> {
      try {
        // Deno.FsFile.writeSync may write fewer bytes than given: loop without copying.
        let offset = 0;
        while (offset < bytes.length) {
          offset += file.writeSync(offset === 0 ? bytes : bytes.subarray(offset));
        }
        return Promise.resolve();
      } catch (error) {
        return Promise.reject(error);
      }
    },
    // fdatasync: the data and the metadata needed to read it back (size, blocks; POSIX), not
    // the times. Measured on ext4 with a 512 KiB slice: 1.04 ms against fsync's 1.12 ms.
    sync: () => file.syncData(),
    close: () => file.close(),
  };
}

/**
 * The default rename: `Deno.renameSync`, a quick metadata call done in place rather than as a trip
 * to the file-system thread (one of three such trips per instance on the way to Success; the
 * fsyncs, which wait for the disk, stay asynchronous).
 */
function renameInPlace(from: string, to: string): Promise<void> {
  try {
    Deno.renameSync(from, to);
    return Promise.resolve();
  } catch (error) {
    return Promise.reject(error);
  }
}

interface FileContext {
  dataDir: string;
  fsync: boolean;
  os: typeof Deno.build.os;
  rename: (from: string, to: string) => Promise<void>;
  sleep: (ms: number) => Promise<void>;
  /** Shared by a spool's files: saves a mkdir per level per instance. */
  knownDirectories: Set<string>;
}

class SpoolFileImpl implements SpoolFile {
  readonly tempPath: string;
  #sink: SpoolSink;
  #ctx: FileContext;
  #bytesWritten = 0;
  #state: "open" | "committing" | "committed" | "failed" | "discarded" = "open";
  #closed = false;
  /** Tail of the write queue; never rejects (failures are recorded in #failure). */
  #queue: Promise<void> = Promise.resolve();
  #failure: SpoolWriteError | null = null;

  constructor(tempPath: string, sink: SpoolSink, ctx: FileContext) {
    this.tempPath = tempPath;
    this.#sink = sink;
    this.#ctx = ctx;
  }

  get bytesWritten(): number {
    return this.#bytesWritten;
  }

  write(bytes: Uint8Array): Promise<void> {
    if (this.#state !== "open") {
      return Promise.reject(
        this.#failure ?? new SpoolWriteError(`Cannot write to ${this.tempPath}: the file is ${this.#state}`),
      );
    }
    const result = this.#queue.then(async () => {
      if (this.#failure) throw this.#failure;
      try {
        await this.#sink.write(bytes);
        this.#bytesWritten += bytes.length;
      } catch (error) {
        await this.#fail(
          new SpoolWriteError(
            `Cannot write ${bytes.length} bytes to ${this.tempPath} at offset ${this.#bytesWritten}: ${
              messageOf(error)
            }`,
            { cause: error },
          ),
        );
        throw this.#failure;
      }
    });
    this.#queue = result.catch(() => {});
    return result;
  }

  async commit(relativePath: string, whilePlaced?: () => void): Promise<{ path: string; size: number }> {
    if (this.#state !== "open") {
      throw this.#failure ??
        new SpoolWriteError(`Cannot commit ${this.tempPath}: the file is ${this.#state}`);
    }
    const segments = checkRelativePath(relativePath);
    this.#state = "committing";
    await this.#queue;
    if (this.#failure) throw this.#failure;
    const destination = joinPath(this.#ctx.dataDir, toNativePath(relativePath));
    try {
      if (this.#ctx.fsync) await this.#sink.sync();
      this.#close();
      let directory = await this.#makeDirectories(segments.slice(0, -1));
      try {
        await this.#renameWithRetry(this.tempPath, destination);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
        // A folder we made earlier was removed meanwhile (by hand, say): make it again.
        this.#ctx.knownDirectories.clear();
        directory = await this.#makeDirectories(segments.slice(0, -1));
        await this.#renameWithRetry(this.tempPath, destination);
      }
      // POSIX: the rename is durable only once the directory holding the new entry is fsynced.
      const folderSynced = this.#ctx.fsync ? this.#syncDirectory(directory) : Promise.resolve();
      try {
        whilePlaced?.();
      } finally {
        await folderSynced;
      }
    } catch (error) {
      await this.#fail(
        new SpoolWriteError(`Cannot commit ${this.tempPath} to ${destination}: ${messageOf(error)}`, {
          cause: error,
        }),
      );
      throw this.#failure;
    }
    this.#state = "committed";
    return { path: destination, size: this.#bytesWritten };
  }

  async discard(): Promise<void> {
    // A commit under way cleans up after itself if it fails; a committed file is never touched.
    if (this.#state === "committed" || this.#state === "committing" || this.#state === "discarded") return;
    this.#state = "discarded"; // later writes and commits are refused from here on
    await this.#queue;
    this.#close();
    await removeQuietly(this.tempPath);
  }

  /** Records the failure, closes and deletes the temporary file. */
  async #fail(error: SpoolWriteError): Promise<void> {
    this.#failure ??= error;
    this.#state = "failed";
    this.#close();
    await removeQuietly(this.tempPath);
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#sink.close();
    } catch {
      // Already closed or never fully opened: nothing more to release.
    }
  }

  /**
   * `mkdir -p dataDir/<segments>` one level at a time, so that the parent of every directory
   * created here can be fsynced (its new entry is otherwise not durable). Returns the deepest.
   */
  async #makeDirectories(segments: string[]): Promise<string> {
    let current = joinPath(this.#ctx.dataDir);
    const known = this.#ctx.knownDirectories;
    for (const segment of segments) {
      const parent = current;
      current = joinPath(parent, segment);
      if (known.has(current)) continue;
      try {
        await Deno.mkdir(current);
        if (this.#ctx.fsync) await this.#syncDirectory(parent);
      } catch (error) {
        if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
      }
      known.add(current);
    }
    return current;
  }

  async #syncDirectory(path: string): Promise<void> {
    await fsyncDirectory(path, this.#ctx.os);
  }

  async #renameWithRetry(from: string, to: string): Promise<void> {
    await renameWithRetry(from, to, { os: this.#ctx.os, rename: this.#ctx.rename, wait: this.#ctx.sleep });
  }
}

/** Validates a "/"-separated relative path and returns its segments. */
function checkRelativePath(relativePath: string): string[] {
  const segments = relativePath.split("/");
  const bad = relativePath === "" || relativePath.startsWith("/") ||
    segments.some((s) => s === "" || s === "." || s === ".." || /[\\:\0]/.test(s));
  if (bad) {
    throw new SpoolWriteError(`Cannot commit to ${JSON.stringify(relativePath)}: not a plain relative path`);
  }
  return segments;
}

async function removeQuietly(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      log.warn("Cannot remove temporary file {path}: {error}", { path, error: messageOf(error) });
    }
  }
}
