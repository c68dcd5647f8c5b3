/**
 * The two ends of the compression benchmark's emulated uplink, each run inside its own network
 * namespace by `compress.ts` (`ip netns exec …`):
 *
 *   archive STATE_FILE            Orthanc + nginx (TLS) on the namespace's loopback, reachable on
 *                                 10.77.0.2:8443 through a TCP relay; writes the address, CA and
 *                                 credentials to STATE_FILE; runs until killed.
 *   client STATE_FILE MODE DATA   in the clinic namespace: a relay 127.0.0.1:PORT → 10.77.0.2:8443
 *                                 (so the certificate for 127.0.0.1 fits), then either `curl`
 *                                 POSTing the pre-built body DATA/stow-body.bin, or the Uploader
 *                                 sending the queue DATA (MODE "jpeg-ls", "jpeg-ls:WORKERS" or
 *                                 "none"). Prints one
 *                                 JSON line: seconds, bytes sent on the link (tunC tx), and the
 *                                 compression record.
 * @module
 */
import { startCentralServer } from "../harness/orthanc.ts";
import { runCommand } from "../harness/process.ts";
import { defaultConfig, type UploadCompression } from "../../src/config/types.ts";
import { QueueIndex } from "../../src/store/queue_index.ts";
import { Uploader } from "../../src/upload/uploader.ts";

/** Where the archive listens on the emulated link. */
export const ARCHIVE_ADDRESS = { hostname: "10.77.0.2", port: 8443 };

/** What the archive end writes for the client end. */
export interface ArchiveState {
  /** nginx's port on the archive namespace's loopback. */
  nginxPort: number;
  caFile: string;
  username: string;
  password: string;
  restUrl: string;
}

/** Relays every connection accepted on `listen` to `target` (both directions). */
function relay(listen: Deno.ListenOptions, target: Deno.ConnectOptions): Deno.Listener {
  const listener = Deno.listen(listen);
  (async () => {
    for await (const conn of listener) {
      (async () => {
        try {
          const up = await Deno.connect(target);
          await Promise.allSettled([conn.readable.pipeTo(up.writable), up.readable.pipeTo(conn.writable)]);
        } catch {
          try {
            conn.close();
          } catch { /* closed */ }
        }
      })();
    }
  })().catch(() => {});
  return listener;
}

/** Bytes sent by `device` in this network namespace (/proc/net/dev is per namespace). */
async function txBytes(device: string): Promise<number> {
  const text = await Deno.readTextFile("/proc/net/dev");
  const line = text.split("\n").find((l) => l.trim().startsWith(`${device}:`));
  if (line === undefined) return 0;
  const fields = line.split(":")[1]!.trim().split(/\s+/);
  return Number(fields[8]);
}

async function archive(stateFile: string): Promise<void> {
  const central = await startCentralServer();
  const port = Number(new URL(central.nginx.url).port);
  relay({ ...ARCHIVE_ADDRESS }, { hostname: "127.0.0.1", port });
  const state: ArchiveState = {
    nginxPort: port,
    caFile: central.ca.caCertPath,
    username: central.username,
    password: central.password,
    restUrl: central.orthanc.restUrl,
  };
  await Deno.writeTextFile(stateFile, JSON.stringify(state));
  const stop = async () => {
    await central.stop();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
  await new Promise(() => {});
}

async function client(stateFile: string, mode: string, dataDir: string): Promise<void> {
  const state = JSON.parse(await Deno.readTextFile(stateFile)) as ArchiveState;
  const listener = relay({ hostname: "127.0.0.1", port: state.nginxPort }, ARCHIVE_ADDRESS);
  const url = `https://127.0.0.1:${state.nginxPort}/dicom-web`;
  const before = await txBytes("tunC");
  const started = performance.now();
  let record: unknown = null;
  if (mode === "curl") {
    const boundary = (await Deno.readTextFile(`${dataDir}/stow-body.boundary`)).trim();
    const result = await runCommand("curl", [
      "-sS",
      "--fail-with-body",
      "--cacert",
      state.caFile,
      "-u",
      `${state.username}:${state.password}`,
      "-X",
      "POST",
      "-H",
      `Content-Type: multipart/related; type="application/dicom"; boundary=${boundary}`,
      "-H",
      "Accept: application/dicom+json",
      "--data-binary",
      `@${dataDir}/stow-body.bin`,
      "-o",
      "/dev/null",
      `${url}/studies`,
    ]);
    if (!result.success) throw new Error(`curl failed: ${result.stderr}`);
  } else {
    await Deno.copyFile(`${dataDir}/queue-template.sqlite`, `${dataDir}/queue.sqlite`);
    for (const suffix of ["-wal", "-shm"]) {
      await Deno.remove(`${dataDir}/queue.sqlite${suffix}`).catch(() => {});
    }
    const index = QueueIndex.open(`${dataDir}/queue.sqlite`);
    const total = index.counts().pending;
    const uploader = new Uploader({
      index,
      dataDir,
      config: {
        ...defaultConfig("/unused").upload,
        url,
        auth: { kind: "basic", username: state.username, password: state.password },
        caFile: state.caFile,
        // MODE[:WORKERS][:wait] — "wait": compression_adaptive = false (every instance waits for its compression).
        compression: mode.split(":")[0] as UploadCompression,
        compressionWorkers: Number(mode.split(":").find((p) => /^\d+$/.test(p)) ?? 0),
        compressionAdaptive: !mode.split(":").includes("wait"),
      },
      retentionIntervalMs: 0,
    });
    uploader.start();
    while (index.counts().delivered < total) {
      if (index.counts().failed > 0) throw new Error(`failed: ${JSON.stringify(index.failures(3))}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    record = uploader.compression();
    await uploader.stop();
    index.close();
  }
  const seconds = (performance.now() - started) / 1000;
  const sent = (await txBytes("tunC")) - before;
  listener.close();
  console.log(JSON.stringify({ seconds, sent, record }));
}

if (import.meta.main) {
  const [role, stateFile, mode, dataDir] = Deno.args;
  if (role === "archive" && stateFile !== undefined) await archive(stateFile);
  else if (role === "client" && stateFile !== undefined && mode !== undefined && dataDir !== undefined) {
    await client(stateFile, mode, dataDir);
    Deno.exit(0);
  } else {
    console.error(
      "usage: compress_peer.ts archive STATE | client STATE curl|none|jpeg-ls[:WORKERS][:wait] DATA",
    );
    Deno.exit(2);
  }
}
