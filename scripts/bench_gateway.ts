/**
 * A bare gateway runner for the benchmark: `startGateway(config)` with built-in defaults and the
 * few flags the benchmark passes (`--port`, `--bind`, `--data-dir`, `--status-port`, `--log-dir`,
 * `--fsync`/`--no-fsync`, `--upload-url`, `--upload-ca-file`), printing the banner's "Port:" line
 * and stopping on SIGTERM/SIGINT. `deno task bench --gateway-entry scripts/bench_gateway.ts`
 * measures the receiver and uploader without the command line around them (no config file,
 * logging set-up, instance lock or status page); the default entry is main.ts.
 * @module
 */
import { parseArgs } from "node:util";
import { defaultConfig } from "../src/config/types.ts";
import { startGateway } from "../src/gateway.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    port: { type: "string", default: "4104" },
    bind: { type: "string", default: "127.0.0.1" },
    "data-dir": { type: "string" },
    "status-port": { type: "string", default: "0" },
    "log-dir": { type: "string", default: "" },
    fsync: { type: "boolean" },
    "no-fsync": { type: "boolean" },
    "upload-url": { type: "string", default: "" },
    "upload-ca-file": { type: "string", default: "" },
  },
});
const dataDir = values["data-dir"];
if (!dataDir) {
  console.error("bench_gateway: --data-dir is required");
  Deno.exit(2);
}
const base = defaultConfig(dataDir);
const gateway = await startGateway({
  ...base,
  port: Number(values.port),
  bindAddress: values.bind,
  dataDir,
  statusPort: 0,
  logDir: "",
  fsync: !values["no-fsync"],
  upload: { ...base.upload, url: values["upload-url"], caFile: values["upload-ca-file"] },
});
console.log(`bench_gateway (startGateway without the CLI)\n      Port:       ${gateway.port}`);
const stop = async () => {
  await gateway.close();
  Deno.exit(0);
};
Deno.addSignalListener("SIGTERM", stop);
Deno.addSignalListener("SIGINT", stop);
