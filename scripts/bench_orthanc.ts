/**
 * A minimal Orthanc (with its DICOMweb plugin) behind nginx terminating TLS, for the upload part
 * of the benchmark: a throw-away CA and server certificate made with openssl, Orthanc on a
 * loopback HTTP port, nginx on a loopback HTTPS port streaming request bodies to it. Everything
 * lives in one folder and is stopped by `stop()`. (The upload tests have their own starter in
 * tests/support/orthanc.ts; this one only needs to be fast and plain.)
 * @module
 */
import { delay, freePort, runCommand, spawnChild } from "../tests/support/process.ts";
import type { ChildHandle } from "../tests/support/process.ts";

/** Where Debian's orthanc-dicomweb package puts the plugin. */
export const DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so";

/** A running Orthanc + nginx pair. */
export interface OrthancBehindNginx {
  /** Orthanc's own REST API over plain HTTP on loopback (for counting instances). */
  orthancUrl: string;
  /** The DICOMweb root through nginx over HTTPS; STOW-RS goes to `${dicomWebUrl}/studies`. */
  dicomWebUrl: string;
  /** PEM file of the CA that signed nginx's certificate. */
  caFile: string;
  /** PIDs, for peak-memory readings. */
  orthancPid: number;
  nginxPid: number;
  /** Number of instances Orthanc holds. */
  countInstances(): Promise<number>;
  stop(): Promise<void>;
}

/** Makes a CA and a server certificate for 127.0.0.1/localhost in `dir` (openssl). */
export async function makeTlsFiles(
  dir: string,
): Promise<{ caFile: string; certFile: string; keyFile: string }> {
  const caKey = `${dir}/ca.key`;
  const caFile = `${dir}/ca.pem`;
  const keyFile = `${dir}/server.key`;
  const csr = `${dir}/server.csr`;
  const certFile = `${dir}/server.pem`;
  const ext = `${dir}/server.ext`;
  const steps: string[][] = [
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      caKey,
      "-out",
      caFile,
      "-days",
      "2",
      "-subj",
      "/CN=dicom-gateway bench CA",
    ],
    ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", keyFile, "-out", csr, "-subj", "/CN=127.0.0.1"],
  ];
  for (const args of steps) {
    const r = await runCommand("openssl", args);
    if (!r.success) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
  }
  await Deno.writeTextFile(ext, "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n");
  const sign = await runCommand("openssl", [
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    caFile,
    "-CAkey",
    caKey,
    "-CAcreateserial",
    "-out",
    certFile,
    "-days",
    "2",
    "-extfile",
    ext,
  ]);
  if (!sign.success) throw new Error(`openssl x509 failed: ${sign.stderr}`);
  return { caFile, certFile, keyFile };
}

/** Starts Orthanc and nginx with fresh storage under `dir` (created if needed). */
export async function startOrthancBehindNginx(dir: string): Promise<OrthancBehindNginx> {
  await Deno.mkdir(`${dir}/storage`, { recursive: true });
  await Deno.mkdir(`${dir}/nginx/logs`, { recursive: true });
  const tls = await makeTlsFiles(dir);
  const httpPort = freePort();
  const dicomPort = freePort();
  const httpsPort = freePort();
  const orthancConfig = {
    Name: "bench",
    StorageDirectory: `${dir}/storage`,
    IndexDirectory: `${dir}/storage`,
    StorageCompression: false,
    HttpPort: httpPort,
    DicomPort: dicomPort,
    DicomServerEnabled: false,
    RemoteAccessAllowed: false,
    AuthenticationEnabled: false,
    HttpRequestTimeout: 3600,
    KeepAlive: true,
    HttpThreadsCount: 50,
    Plugins: [DICOMWEB_PLUGIN],
    DicomWeb: { Enable: true, Root: "/dicom-web/" },
  };
  await Deno.writeTextFile(`${dir}/orthanc.json`, JSON.stringify(orthancConfig, null, 2));
  const nginxConfig = `
user root;
worker_processes 2;
pid ${dir}/nginx/nginx.pid;
error_log ${dir}/nginx/logs/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/nginx/body;
  proxy_temp_path ${dir}/nginx/proxy;
  fastcgi_temp_path ${dir}/nginx/fastcgi;
  uwsgi_temp_path ${dir}/nginx/uwsgi;
  scgi_temp_path ${dir}/nginx/scgi;
  server {
    listen 127.0.0.1:${httpsPort} ssl;
    ssl_certificate ${tls.certFile};
    ssl_certificate_key ${tls.keyFile};
    client_max_body_size 0;
    location / {
      proxy_pass http://127.0.0.1:${httpPort};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_request_buffering off;
      proxy_buffering off;
      proxy_read_timeout 3600s;
      proxy_send_timeout 3600s;
    }
  }
}
`;
  await Deno.writeTextFile(`${dir}/nginx/nginx.conf`, nginxConfig);

  const orthanc = spawnChild("Orthanc", [`${dir}/orthanc.json`], { env: { TCP_NODELAY: "1" } });
  let nginx: ChildHandle | undefined;
  const stop = async () => {
    await nginx?.stop("SIGTERM", 3000);
    await orthanc.stop("SIGTERM", 10_000);
  };
  try {
    const orthancUrl = `http://127.0.0.1:${httpPort}`;
    await waitForHttp(`${orthancUrl}/system`, orthanc, 30_000);
    nginx = spawnChild("nginx", ["-p", `${dir}/nginx`, "-c", `${dir}/nginx/nginx.conf`, "-g", "daemon off;"]);
    const client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(tls.caFile)] });
    try {
      await waitForHttp(`https://127.0.0.1:${httpsPort}/system`, nginx, 15_000, client);
    } finally {
      client.close();
    }
    return {
      orthancUrl,
      dicomWebUrl: `https://127.0.0.1:${httpsPort}/dicom-web`,
      caFile: tls.caFile,
      orthancPid: orthanc.pid,
      nginxPid: nginx.pid,
      async countInstances() {
        const response = await fetch(`${orthancUrl}/statistics`);
        const body = await response.json() as { CountInstances: number };
        return body.CountInstances;
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function waitForHttp(
  url: string,
  child: ChildHandle,
  timeoutMs: number,
  client?: Deno.HttpClient,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exited()) throw new Error(`${url}: the server exited: ${child.output().slice(-2000)}`);
    try {
      const response = await fetch(url, client === undefined ? {} : { client });
      await response.body?.cancel();
      if (response.ok) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      throw new Error(`${url} did not answer within ${timeoutMs} ms: ${child.output().slice(-2000)}`);
    }
    await delay(100);
  }
}
