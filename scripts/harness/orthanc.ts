/**
 * A real central server for upload tests: Orthanc with its DICOMweb plugin, behind nginx
 * terminating TLS with a CA made by the test (openssl) and HTTP basic auth — the way production
 * sites put Orthanc on the Internet (Debian 12's Orthanc crashes with its own SslEnabled). Both run
 * on loopback ports picked free, in a temporary folder removed by `stop()`. nginx can be restarted
 * in a fault mode (503 with Retry-After, 500, a small body limit for 413) or stopped and started
 * again on the same port. Helpers read Orthanc's REST API directly (no auth, loopback only).
 * @module
 */
import { type ChildHandle, delay, freePort, runCommand, spawnChild } from "./process.ts";

/** Tools the helpers need (for `interopTest`). */
export const ORTHANC_TOOLS = ["Orthanc", "nginx", "openssl"];

/** The DICOMweb plugin shipped by Debian's `orthanc-dicomweb`. */
export const DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so";

/** Files of a test CA and a server certificate it signed (for localhost and 127.0.0.1). */
export interface TestCa {
  caCertPath: string;
  caKeyPath: string;
  serverCertPath: string;
  serverKeyPath: string;
  /** PEM text of the server certificate and key (for Deno.serve). */
  serverCert: string;
  serverKey: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  const result = await runCommand("openssl", args, { cwd });
  if (!result.success) throw new Error(`openssl ${args.join(" ")} failed: ${result.stderr}`);
}

/**
 * Makes a CA (EC P-256, valid two days) and a server certificate for `localhost`/`127.0.0.1`
 * signed by it, in `dir` (created if needed), with `name` in the CA's common name.
 */
export async function makeTestCa(dir: string, name = "DGW Test CA"): Promise<TestCa> {
  await Deno.mkdir(dir, { recursive: true });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await openssl([
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    `/CN=${name}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ], dir);
  await openssl(["req", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"], dir);
  await Deno.writeTextFile(
    `${dir}/server.ext`,
    "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n" +
      "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
  );
  await openssl([
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.pem",
    "-days",
    "2",
    "-extfile",
    "server.ext",
  ], dir);
  return {
    caCertPath: `${dir}/ca.pem`,
    caKeyPath: `${dir}/ca.key`,
    serverCertPath: `${dir}/server.pem`,
    serverKeyPath: `${dir}/server.key`,
    serverCert: await Deno.readTextFile(`${dir}/server.pem`),
    serverKey: await Deno.readTextFile(`${dir}/server.key`),
  };
}

/** Resolves once a TCP connection to `port` succeeds (or throws after `timeoutMs`). */
export async function waitForPort(port: number, timeoutMs = 20_000, child?: ChildHandle): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch {
      if (child?.exited()) throw new Error(`process exited before listening on ${port}:\n${child.output()}`);
      if (Date.now() > deadline) throw new Error(`nothing listens on port ${port} after ${timeoutMs} ms`);
      await delay(50);
    }
  }
}

/** A running Orthanc. */
export interface Orthanc {
  /** REST root, e.g. http://127.0.0.1:PORT (no auth; loopback only). */
  restUrl: string;
  httpPort: number;
  dir: string;
  child: ChildHandle;
  stop(): Promise<void>;
}

/** Starts Orthanc with the DICOMweb plugin (Root /dicom-web/) on a free loopback port, storage in `dir`. */
export async function startOrthanc(dir: string): Promise<Orthanc> {
  await Deno.mkdir(`${dir}/storage`, { recursive: true });
  for (let attempt = 0; attempt < 3; attempt++) {
    const httpPort = freePort();
    const config = {
      Name: "DGW-TEST",
      StorageDirectory: `${dir}/storage`,
      IndexDirectory: `${dir}/storage`,
      HttpPort: httpPort,
      DicomServerEnabled: false,
      DicomPort: freePort(),
      RemoteAccessAllowed: false,
      AuthenticationEnabled: false,
      HttpCompressionEnabled: false,
      StorageCompression: false,
      OverwriteInstances: false,
      Plugins: [DICOMWEB_PLUGIN],
      DicomWeb: { Enable: true, Root: "/dicom-web/" },
    };
    await Deno.writeTextFile(`${dir}/orthanc.json`, JSON.stringify(config, null, 2));
    const child = spawnChild("Orthanc", [`${dir}/orthanc.json`], { env: { TCP_NODELAY: "1" } });
    try {
      await waitForPort(httpPort, 20_000, child);
      const restUrl = `http://127.0.0.1:${httpPort}`;
      // The port answers slightly before the plugin is ready: wait for the DICOMweb root.
      const deadline = Date.now() + 10_000;
      while (true) {
        const r = await fetch(`${restUrl}/dicom-web/studies?limit=1`).catch(() => null);
        await r?.body?.cancel();
        if (r?.ok) break;
        if (Date.now() > deadline) {
          throw new Error(`Orthanc's DICOMweb plugin does not answer:\n${child.output()}`);
        }
        await delay(100);
      }
      return {
        restUrl,
        httpPort,
        dir,
        child,
        stop: async () => {
          await child.stop("SIGTERM", 5000);
        },
      };
    } catch (error) {
      await child.stop("SIGKILL", 1000);
      if (attempt === 2 || !/listens|exited/.test(String(error))) throw error;
    }
  }
  throw new Error("unreachable");
}

/** How nginx answers /dicom-web/ requests. */
export type NginxMode =
  | {
    kind: "proxy";
    maxBodyBytes?: number;
    /** Answer every GET (QIDO-RS searches) with this status instead of proxying it; uploads pass. */
    searchStatus?: number;
  }
  | { kind: "status"; status: number; retryAfterSeconds?: number };

/** nginx in front of Orthanc. */
export interface Nginx {
  /** DICOMweb root through nginx: https://127.0.0.1:PORT/dicom-web */
  url: string;
  port: number;
  /** Stops nginx (the port then refuses connections). */
  stop(): Promise<void>;
  /** Starts nginx again on the same port, in `mode` (default proxy). */
  start(mode?: NginxMode): Promise<void>;
  running(): boolean;
}

/** An htpasswd line with an apr1 (MD5) hash made by `openssl passwd -apr1`. */
async function htpasswdLine(username: string, password: string, dir: string): Promise<string> {
  const result = await runCommand("openssl", ["passwd", "-apr1", password], { cwd: dir });
  if (!result.success) throw new Error(`openssl passwd failed: ${result.stderr}`);
  return `${username}:${result.stdout.trim()}`;
}

/**
 * Starts nginx terminating TLS (`ca`'s server certificate) on a free loopback port, with basic auth
 * (`users`) on /dicom-web/, proxying to Orthanc's HTTP port with request bodies streamed.
 */
export async function startNginx(
  dir: string,
  options: { upstreamPort: number; ca: TestCa; users: Record<string, string>; mode?: NginxMode },
): Promise<Nginx> {
  await Deno.mkdir(dir, { recursive: true });
  for (const sub of ["body", "proxy", "fastcgi", "uwsgi", "scgi"]) {
    await Deno.mkdir(`${dir}/${sub}`, { recursive: true });
  }
  const lines: string[] = [];
  for (const [user, password] of Object.entries(options.users)) {
    lines.push(await htpasswdLine(user, password, dir));
  }
  await Deno.writeTextFile(`${dir}/htpasswd`, `${lines.join("\n")}\n`);
  const port = freePort();
  let child: ChildHandle | null = null;
  const isRoot = Deno.uid() === 0;

  const config = (mode: NginxMode) => {
    const location = mode.kind === "proxy"
      ? `
        client_max_body_size ${mode.maxBodyBytes ?? 0};
        ${
        mode.searchStatus === undefined ? "" : `if ($request_method = GET) { return ${mode.searchStatus}; }`
      }
        proxy_pass http://127.0.0.1:${options.upstreamPort};
        proxy_http_version 1.1;
        proxy_request_buffering off;
        proxy_read_timeout 300s;
        proxy_send_timeout 300s;`
      : `
        client_max_body_size 0;
        ${
        mode.retryAfterSeconds === undefined ? "" : `add_header Retry-After ${mode.retryAfterSeconds} always;`
      }
        return ${mode.status} "injected fault\\n";`;
    return `
${isRoot ? "user root;" : ""}
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port} ssl;
    server_name localhost;
    ssl_certificate ${options.ca.serverCertPath};
    ssl_certificate_key ${options.ca.serverKeyPath};
    location /dicom-web/ {
      auth_basic "DICOMweb";
      auth_basic_user_file ${dir}/htpasswd;
      ${location}
    }
  }
}
`;
  };

  const nginx: Nginx = {
    url: `https://127.0.0.1:${port}/dicom-web`,
    port,
    running: () => child !== null && !child.exited(),
    async stop() {
      if (child === null) return;
      const c = child;
      child = null;
      await c.stop("SIGTERM", 5000);
      // Until the listening socket is closed, connections would still be accepted.
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline) {
        try {
          (await Deno.connect({ hostname: "127.0.0.1", port })).close();
          await delay(50);
        } catch {
          return;
        }
      }
    },
    async start(mode: NginxMode = { kind: "proxy" }) {
      await nginx.stop();
      await Deno.writeTextFile(`${dir}/nginx.conf`, config(mode));
      // While nginx was down another test running in parallel may have taken the port for a
      // moment (its own free-port pick): then this nginx cannot bind and exits, and the connection
      // that waitForPort made was to that other process. Seen once in ten parallel runs: the
      // gateway then met "connection refused" for a minute. So nginx must still be running a
      // moment after the port answers; if it exited on a taken address, it is started again.
      for (let attempt = 1;; attempt++) {
        const c = spawnChild("nginx", ["-e", `${dir}/error.log`, "-p", dir, "-c", `${dir}/nginx.conf`]);
        child = c;
        try {
          await waitForPort(port, 10_000, c);
          await delay(300);
          if (!c.exited()) return;
          throw new Error(`nginx exited after the port answered:\n${c.output()}`);
        } catch (error) {
          const log = await Deno.readTextFile(`${dir}/error.log`).catch(() => "");
          if (c.exited() && /Address already in use/.test(log + c.output()) && attempt < 20) {
            child = null;
            await delay(250);
            continue;
          }
          throw new Error(`${error instanceof Error ? error.message : error}\nnginx error.log:\n${log}`);
        }
      }
    },
  };
  await nginx.start(options.mode);
  return nginx;
}

/** What Orthanc knows of one instance. */
export interface OrthancInstance {
  id: string;
  sopInstanceUid: string;
}

/** Every instance in Orthanc (REST GET /instances?expand). */
export async function listInstances(orthanc: Orthanc): Promise<OrthancInstance[]> {
  const response = await fetch(`${orthanc.restUrl}/instances?expand`);
  if (!response.ok) throw new Error(`GET /instances answered ${response.status}`);
  const list = await response.json() as { ID: string; MainDicomTags: { SOPInstanceUID: string } }[];
  return list.map((i) => ({ id: i.ID, sopInstanceUid: i.MainDicomTags.SOPInstanceUID }));
}

/** Downloads the stored DICOM file of an instance (REST GET /instances/{id}/file) to `path`. */
export async function fetchInstanceFile(orthanc: Orthanc, id: string, path: string): Promise<void> {
  const response = await fetch(`${orthanc.restUrl}/instances/${id}/file`);
  if (!response.ok) throw new Error(`GET /instances/${id}/file answered ${response.status}`);
  await Deno.writeFile(path, new Uint8Array(await response.arrayBuffer()));
}

/** Orthanc + nginx with a test CA and one user, in one temporary folder. */
export interface CentralServer {
  orthanc: Orthanc;
  nginx: Nginx;
  ca: TestCa;
  username: string;
  password: string;
  dir: string;
  stop(): Promise<void>;
}

/** Starts the whole central server for a test; `stop()` ends both processes and removes the folder. */
export async function startCentralServer(): Promise<CentralServer> {
  const dir = await Deno.makeTempDir({ prefix: "dgw-central-" });
  const ca = await makeTestCa(`${dir}/ca`);
  const orthanc = await startOrthanc(`${dir}/orthanc`);
  const username = "gateway";
  const password = `pw-${crypto.randomUUID()}`;
  let nginx: Nginx;
  try {
    nginx = await startNginx(`${dir}/nginx`, {
      upstreamPort: orthanc.httpPort,
      ca,
      users: { [username]: password },
    });
  } catch (error) {
    await orthanc.stop();
    throw error;
  }
  return {
    orthanc,
    nginx,
    ca,
    username,
    password,
    dir,
    async stop() {
      await nginx.stop();
      await orthanc.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
