import { assert, assertEquals, assertRejects } from "../support/assert.ts";
import { Spool, type SpoolSink, SpoolWriteError } from "../../src/store/spool.ts";

async function withDataDir(fn: (dataDir: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "spool_test_" });
  try {
    await fn(`${root}/data`);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

async function list(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

function pattern(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + seed) & 0xFF);
}

/** A real file sink whose writes fail like a full disk once `limit` bytes were written. */
function diskFullAfter(limit: number, record?: Uint8Array[]): (path: string) => Promise<SpoolSink> {
  return async (path) => {
    const file = await Deno.open(path, { createNew: true, write: true });
    let written = 0;
    return {
      async write(bytes) {
        record?.push(bytes);
        if (written + bytes.length > limit) throw new Error("No space left on device (os error 28)");
        let offset = 0;
        while (offset < bytes.length) offset += await file.write(bytes.subarray(offset));
        written += bytes.length;
      },
      sync: () => file.sync(),
      close: () => file.close(),
    };
  };
}

Deno.test("init creates the folders and removes stale .part files only", async () => {
  await withDataDir(async (dataDir) => {
    const spool = new Spool({ dataDir, fsync: true });
    assertEquals(await spool.init(), 0);
    assertEquals(await list(dataDir), ["instances", "tmp"]);
    await Deno.writeTextFile(`${dataDir}/tmp/aaa.part`, "half an instance");
    await Deno.writeTextFile(`${dataDir}/tmp/bbb.part`, "");
    await Deno.writeTextFile(`${dataDir}/tmp/keep.txt`, "not ours");
    await Deno.mkdir(`${dataDir}/tmp/dir.part`);
    await Deno.writeTextFile(`${dataDir}/instances/kept.dcm`, "stored");
    // Both are removed; only the one holding bytes was an instance (an empty one was opened ahead).
    assertEquals(await spool.init(), 1);
    assertEquals(await list(`${dataDir}/tmp`), ["dir.part", "keep.txt"]);
    assertEquals(await list(`${dataDir}/instances`), ["kept.dcm"]);
  });
});

Deno.test("openAhead: the next file is opened while one is received, used next, deleted by close", async () => {
  await withDataDir(async (dataDir) => {
    const spool = new Spool({ dataDir, fsync: true, openAhead: true });
    await spool.init();
    const first = await spool.begin();
    await first.write(pattern(1000, 1));
    // The spare is opened off the event loop; give it its turn.
    for (let i = 0; i < 50 && (await list(`${dataDir}/tmp`)).length < 2; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const names = await list(`${dataDir}/tmp`);
    assertEquals(names.length, 2, "the instance's file and the one opened ahead");
    const spare = names.find((name) => !first.tempPath.endsWith(name))!;
    assertEquals((await Deno.stat(`${dataDir}/tmp/${spare}`)).size, 0);
    await first.commit("instances/a/1.dcm");
    const second = await spool.begin();
    assert(second.tempPath.endsWith(spare), `${second.tempPath} is the file opened ahead (${spare})`);
    await second.write(pattern(500, 2));
    await second.commit("instances/a/2.dcm");
    assertEquals(await Deno.readFile(`${dataDir}/instances/a/2.dcm`), pattern(500, 2));
    await spool.close();
    assertEquals(await list(`${dataDir}/tmp`), []);
    // A spare left by a crash is empty: removed at start, not counted as a half-received instance.
    await Deno.writeTextFile(`${dataDir}/tmp/left.part`, "");
    assertEquals(await new Spool({ dataDir, fsync: true }).init(), 0);
    assertEquals(await list(`${dataDir}/tmp`), []);
  });
});

Deno.test("openAhead: concurrent instances leave no spare behind but one, and close removes it", async () => {
  await withDataDir(async (dataDir) => {
    const spool = new Spool({ dataDir, fsync: false, openAhead: true });
    await spool.init();
    await Promise.all(Array.from({ length: 8 }, async (_, i) => {
      for (let round = 0; round < 3; round++) {
        const file = await spool.begin();
        await file.write(pattern(100, i));
        if (round === 1) await file.discard();
        else await file.commit(`instances/c/${i}-${round}.dcm`);
      }
    }));
    const left = await list(`${dataDir}/tmp`);
    assert(left.length <= 1, `at most the one spare is left: ${left.join(", ")}`);
    await spool.close();
    assertEquals(await list(`${dataDir}/tmp`), []);
    assertEquals((await list(`${dataDir}/instances/c`)).length, 16);
  });
});

Deno.test("openAhead: a spare that failed to open is opened again, and a second failure is the caller's", async () => {
  await withDataDir(async (dataDir) => {
    let opens = 0;
    let failFrom = Infinity;
    const spool = new Spool({
      dataDir,
      fsync: false,
      openAhead: true,
      openFile: (path) => {
        opens++;
        if (opens >= failFrom) return Promise.reject(new Error("No space left on device (os error 28)"));
        return diskFullAfter(Infinity)(path);
      },
    });
    await spool.init();
    failFrom = 2; // the spare opened by this begin fails
    const file = await spool.begin();
    await file.write(pattern(10, 1));
    await file.commit("instances/b/1.dcm");
    await assertRejects(() => spool.begin(), SpoolWriteError, "No space left on device");
    failFrom = Infinity;
    const again = await spool.begin();
    await again.write(pattern(10, 2));
    await again.commit("instances/b/2.dcm");
    await spool.close();
    assertEquals(await list(`${dataDir}/tmp`), []);
    assertEquals(await list(`${dataDir}/instances/b`), ["1.dcm", "2.dcm"]);
  });
});

Deno.test("commit's whilePlaced runs with the file in place, before the folder fsync is awaited", async () => {
  await withDataDir(async (dataDir) => {
    const spool = new Spool({ dataDir, fsync: true });
    await spool.init();
    const file = await spool.begin();
    await file.write(pattern(300, 7));
    let seen: { inPlace: boolean; tempGone: boolean } | undefined;
    let resolved = false;
    const committing = file.commit("instances/w/1.dcm", () => {
      seen = {
        inPlace: Deno.statSync(`${dataDir}/instances/w/1.dcm`).size === 300,
        tempGone: !existsSync(file.tempPath),
      };
    }).then((result) => {
      resolved = true;
      return result;
    });
    const result = await committing;
    assert(resolved);
    assertEquals(seen, { inPlace: true, tempGone: true });
    assertEquals(result.size, 300);
  });
});

function existsSync(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("write then commit: exact bytes at the destination, nothing left in tmp", async () => {
  await withDataDir(async (dataDir) => {
    const spool = new Spool({ dataDir, fsync: true });
    await spool.init();
    const file = await spool.begin();
    assert(/[\\/]tmp[\\/][0-9a-f-]{36}\.part$/.test(file.tempPath), file.tempPath);
    assert(await exists(file.tempPath));
    const chunks = [pattern(132, 1), pattern(16384, 2), pattern(0, 3), pattern(262144, 4), pattern(7, 5)];
    for (const chunk of chunks) await file.write(chunk);
    assertEquals(file.bytesWritten, 132 + 16384 + 262144 + 7);
    const result = await file.commit("instances/1.2.3/4.5.6.dcm");
    assertEquals(result, { path: `${dataDir}/instances/1.2.3/4.5.6.dcm`, size: file.bytesWritten });
    const expected = new Uint8Array(file.bytesWritten);
    let offset = 0;
    for (const chunk of chunks) {
      expected.set(chunk, offset);
      offset += chunk.length;
    }
    assertEquals(await Deno.readFile(result.path), expected);
    assertEquals(await list(`${dataDir}/tmp`), []);
    // After commit, discard is a no-op and never touches the committed file.
    await file.discard();
    assert(await exists(result.path));
  });
});

Deno.test("writes issued without waiting land in call order; the sink gets the caller's arrays", async () => {
  await withDataDir(async (dataDir) => {
    const seen: Uint8Array[] = [];
    const spool = new Spool({ dataDir, fsync: false, openFile: diskFullAfter(Infinity, seen) });
    await spool.init();
    const file = await spool.begin();
    const chunks = Array.from({ length: 50 }, (_, i) => pattern(1000 + i * 37, i));
    await Promise.all(chunks.map((chunk) => file.write(chunk)));
    assertEquals(seen.length, 50);
    seen.forEach((bytes, i) => assert(bytes === chunks[i], `chunk ${i} passed through uncopied`));
    const { path, size } = await file.commit("instances/a/b.dcm");
    const content = await Deno.readFile(path);
    assertEquals(size, content.length);
    let offset = 0;
    for (const chunk of chunks) {
      assertEquals(content.subarray(offset, offset + chunk.length), chunk);
      offset += chunk.length;
    }
  });
});

Deno.test("commit replaces an existing file", async () => {
  await withDataDir(async (dataDir) => {
    const spool = new Spool({ dataDir, fsync: true });
    await spool.init();
    const first = await spool.begin();
    await first.write(new TextEncoder().encode("first version, longer"));
    await first.commit("instances/1.2/3.4.dcm");
    const second = await spool.begin();
    await second.write(new TextEncoder().encode("second"));
    const { path } = await second.commit("instances/1.2/3.4.dcm");
    assertEquals(await Deno.readTextFile(path), "second");
    assertEquals(await list(`${dataDir}/instances/1.2`), ["3.4.dcm"]);
    assertEquals(await list(`${dataDir}/tmp`), []);
  });
});

Deno.test("discard deletes the temporary file, never throws, and refuses later writes", async () => {
  await withDataDir(async (dataDir) => {
    const spool = new Spool({ dataDir, fsync: true });
    await spool.init();
    const file = await spool.begin();
    await file.write(pattern(5000, 9));
    await file.discard();
    await file.discard();
    assertEquals(await list(`${dataDir}/tmp`), []);
    assertEquals(await list(`${dataDir}/instances`), []);
    await assertRejects(() => file.write(pattern(1, 1)), SpoolWriteError, "is discarded");
    await assertRejects(() => file.commit("instances/a.dcm"), SpoolWriteError, "is discarded");
  });
});

Deno.test("disk full on write → SpoolWriteError, temporary file gone, later calls refused", async () => {
  await withDataDir(async (dataDir) => {
    const spool = new Spool({ dataDir, fsync: true, openFile: diskFullAfter(10_000) });
    await spool.init();
    const file = await spool.begin();
    await file.write(pattern(8000, 1));
    const error = await assertRejects(
      () => file.write(pattern(8000, 2)),
      SpoolWriteError,
      "No space left on device",
    );
    assert(error.message.includes("at offset 8000"), error.message);
    assert(error.cause instanceof Error);
    assertEquals(await list(`${dataDir}/tmp`), []);
    await assertRejects(() => file.write(pattern(10, 3)), SpoolWriteError, "No space left on device");
    await assertRejects(() => file.commit("instances/x/y.dcm"), SpoolWriteError, "No space left on device");
    await file.discard(); // still never throws
    assertEquals(await list(`${dataDir}/instances`), []);
  });
});

Deno.test("writes queued behind a failed write fail too, in order", async () => {
  await withDataDir(async (dataDir) => {
    const spool = new Spool({ dataDir, fsync: false, openFile: diskFullAfter(100) });
    await spool.init();
    const file = await spool.begin();
    const results = await Promise.allSettled([
      file.write(pattern(60, 1)),
      file.write(pattern(60, 2)),
      file.write(pattern(60, 3)),
    ]);
    assertEquals(results.map((r) => r.status), ["fulfilled", "rejected", "rejected"]);
    for (const r of results.slice(1)) assert(r.status === "rejected" && r.reason instanceof SpoolWriteError);
    assertEquals(file.bytesWritten, 60);
    assertEquals(await list(`${dataDir}/tmp`), []);
  });
});

Deno.test("openFile failing → begin rejects with SpoolWriteError, nothing left", async () => {
  await withDataDir(async (dataDir) => {
    const spool = new Spool({
      dataDir,
      fsync: true,
      openFile: () => Promise.reject(new Error("No space left on device (os error 28)")),
    });
    await spool.init();
    await assertRejects(() => spool.begin(), SpoolWriteError, "Cannot create temporary file");
    assertEquals(await list(`${dataDir}/tmp`), []);
  });
});

Deno.test("fsync failing on commit → SpoolWriteError, no destination, no temporary file", async () => {
  await withDataDir(async (dataDir) => {
    const spool = new Spool({
      dataDir,
      fsync: true,
      openFile: async (path) => {
        const sink = await diskFullAfter(Infinity)(path);
        return { ...sink, sync: () => Promise.reject(new Error("Input/output error (os error 5)")) };
      },
    });
    await spool.init();
    const file = await spool.begin();
    await file.write(pattern(100, 1));
    await assertRejects(() => file.commit("instances/s/t.dcm"), SpoolWriteError, "Input/output error");
    assertEquals(await list(`${dataDir}/tmp`), []);
    assertEquals(await list(`${dataDir}/instances`), []);
  });
});

Deno.test("fsync off: sync is never called", async () => {
  await withDataDir(async (dataDir) => {
    let syncs = 0;
    const spool = new Spool({
      dataDir,
      fsync: false,
      openFile: async (path) => {
        const sink = await diskFullAfter(Infinity)(path);
        return { ...sink, sync: () => Promise.resolve(void syncs++) };
      },
    });
    await spool.init();
    const file = await spool.begin();
    await file.write(pattern(10, 1));
    await file.commit("instances/n/o.dcm");
    assertEquals(syncs, 0);
  });
});

Deno.test("commit refuses paths that leave the data folder", async () => {
  await withDataDir(async (dataDir) => {
    const spool = new Spool({ dataDir, fsync: true });
    await spool.init();
    const file = await spool.begin();
    await file.write(pattern(10, 1));
    for (
      const bad of [
        "../escape.dcm",
        "/etc/passwd",
        "instances//a.dcm",
        "instances/../../x",
        "a\\b.dcm",
        "",
        "C:x",
      ]
    ) {
      await assertRejects(() => file.commit(bad), SpoolWriteError, "not a plain relative path");
    }
    // The file is still usable after a refused path.
    const { path } = await file.commit("instances/ok.dcm");
    assertEquals((await Deno.readFile(path)).length, 10);
    assertEquals(await list(dataDir), ["instances", "tmp"]);
  });
});

Deno.test("Windows rules: rename retried with backoff on access/sharing errors", async () => {
  await withDataDir(async (dataDir) => {
    const sleeps: number[] = [];
    let attempts = 0;
    const spool = new Spool({
      dataDir,
      fsync: true,
      os: "windows",
      sleep: (ms) => Promise.resolve(void sleeps.push(ms)),
      rename: async (from, to) => {
        attempts++;
        if (attempts === 1) throw new Deno.errors.PermissionDenied("Access is denied. (os error 5)");
        if (attempts === 2) {
          throw new Error(
            "The process cannot access the file because it is being used by another process. (os error 32)",
          );
        }
        await Deno.rename(from, to);
      },
    });
    await spool.init();
    const file = await spool.begin();
    await file.write(pattern(10, 1));
    const { path } = await file.commit("instances/r/s.dcm");
    assertEquals(attempts, 3);
    assertEquals(sleeps, [20, 50]);
    assertEquals((await Deno.readFile(path)).length, 10);
  });
});

Deno.test("Windows rules: a rename that keeps failing gives up after the retries", async () => {
  await withDataDir(async (dataDir) => {
    const sleeps: number[] = [];
    const spool = new Spool({
      dataDir,
      fsync: true,
      os: "windows",
      sleep: (ms) => Promise.resolve(void sleeps.push(ms)),
      rename: () => Promise.reject(new Deno.errors.PermissionDenied("Access is denied. (os error 5)")),
    });
    await spool.init();
    const file = await spool.begin();
    await file.write(pattern(10, 1));
    await assertRejects(() => file.commit("instances/r/s.dcm"), SpoolWriteError, "Access is denied");
    assertEquals(sleeps, [20, 50, 100, 200, 400, 800]);
    assertEquals(await list(`${dataDir}/tmp`), []);
  });
});

Deno.test("POSIX rules: no retry on a failed rename", async () => {
  await withDataDir(async (dataDir) => {
    let attempts = 0;
    const spool = new Spool({
      dataDir,
      fsync: true,
      os: "linux",
      sleep: () => Promise.reject(new Error("must not sleep")),
      rename: () =>
        Promise.reject(new Deno.errors.PermissionDenied(`Permission denied (os error ${++attempts})`)),
    });
    await spool.init();
    const file = await spool.begin();
    await file.write(pattern(10, 1));
    await assertRejects(() => file.commit("instances/r/s.dcm"), SpoolWriteError, "Permission denied");
    assertEquals(attempts, 1);
  });
});

Deno.test("a folder removed between commits (by hand) is made again; so is tmp/", async () => {
  await withDataDir(async (dataDir) => {
    const spool = new Spool({ dataDir, fsync: true });
    await spool.init();
    const first = await spool.begin();
    await first.write(pattern(100, 1));
    await first.commit("instances/s1/a.dcm");
    await Deno.remove(`${dataDir}/instances/s1`, { recursive: true });
    await Deno.remove(`${dataDir}/tmp`, { recursive: true });
    const second = await spool.begin();
    await second.write(pattern(100, 2));
    const { path } = await second.commit("instances/s1/b.dcm");
    assertEquals(await Deno.readFile(path), pattern(100, 2));
    assertEquals(await list(`${dataDir}/instances/s1`), ["b.dcm"]);
  });
});
