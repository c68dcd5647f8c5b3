/**
 * A real web proxy for the upload tests: tinyproxy (Debian package `tinyproxy`), started on a free
 * loopback port with its own configuration, optionally asking for Basic credentials (RFC 7235
 * 407 Proxy-Authentication-Required). The gateway's HTTPS uploads go through it with CONNECT.
 */
import { freePort, spawnChild } from "../../scripts/harness/process.ts";
import { waitForPort } from "../../scripts/harness/orthanc.ts";

/** The `tools` an interop test needs for {@linkcode startTinyproxy}. */
export const TINYPROXY_TOOLS = ["tinyproxy"];

/** A running tinyproxy. */
export interface Tinyproxy {
  port: number;
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** The CONNECT requests tinyproxy logged so far ("host:port" each). */
  connects(): Promise<string[]>;
  stop(): Promise<void>;
}

/** Starts tinyproxy in the foreground; `basicAuth` makes it demand those credentials. */
export async function startTinyproxy(
  dir: string,
  options: { basicAuth?: { username: string; password: string } } = {},
): Promise<Tinyproxy> {
  await Deno.mkdir(dir, { recursive: true });
  const port = freePort();
  const log = `${dir}/tinyproxy.log`;
  const lines = [
    `Port ${port}`,
    "Listen 127.0.0.1",
    "Timeout 60",
    `LogFile "${log}"`,
    "LogLevel Info",
    "MaxClients 50",
    "Allow 127.0.0.1",
    // No ConnectPort line: CONNECT is allowed to any port (the test server is not on 443).
    ...(options.basicAuth ? [`BasicAuth ${options.basicAuth.username} ${options.basicAuth.password}`] : []),
  ];
  const conf = `${dir}/tinyproxy.conf`;
  await Deno.writeTextFile(conf, lines.join("\n") + "\n");
  const child = spawnChild("tinyproxy", ["-d", "-c", conf]);
  await waitForPort(port, 10_000, child);
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    async connects() {
      const text = await Deno.readTextFile(log).catch(() => "");
      return [...text.matchAll(/Request \(file descriptor \d+\): CONNECT (\S+) HTTP/g)].map((m) => m[1]!);
    },
    async stop() {
      await child.stop("SIGTERM", 3000);
    },
  };
}
