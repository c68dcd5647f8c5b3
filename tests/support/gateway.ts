/**
 * Starts an in-process gateway on a free port with a temporary data folder, for tests.
 */
import { type Config, defaultConfig } from "../../src/config/types.ts";
import { type Gateway, startGateway } from "../../src/gateway.ts";

/** A gateway for one test, with its temporary folder. */
export interface TestGateway extends Gateway {
  dataDir: string;
  /** Closes the gateway and removes the temporary folder. */
  dispose(): Promise<void>;
}

/** Starts a gateway with test-friendly defaults (port 0, no status page, no upload, short timers). */
export async function startTestGateway(overrides: Partial<Config> = {}): Promise<TestGateway> {
  const dir = await Deno.makeTempDir({ prefix: "gw-test-" });
  const config: Config = {
    ...defaultConfig(dir),
    port: 0,
    bindAddress: "127.0.0.1",
    statusPort: 0,
    logDir: "",
    artimTimeoutMs: 500,
    ...overrides,
  };
  const gateway = await startGateway(config);
  return Object.assign(gateway, {
    dataDir: config.dataDir,
    async dispose() {
      await gateway.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  });
}

/**
 * The files in a running gateway's `tmp/` folder that are not the one it opened ahead for the next
 * instance (`SpoolOptions.openAhead`: at most one empty `.part` file). A refused or failed instance
 * must leave nothing here.
 */
export async function leftoverTemporaryFiles(tmpDir: string): Promise<string[]> {
  const names = await listFiles(tmpDir);
  const spare: string[] = [];
  for (const name of names) {
    if (name.endsWith(".part") && !name.includes("/") && (await Deno.stat(`${tmpDir}/${name}`)).size === 0) {
      spare.push(name);
    }
  }
  return spare.length === 1 ? names.filter((name) => name !== spare[0]) : names;
}

/** Lists files under a folder, relative, sorted. */
export async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isDirectory) out.push(...await listFiles(`${dir}/${e.name}`, `${prefix}${e.name}/`));
      else out.push(`${prefix}${e.name}`);
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return out.sort();
}
