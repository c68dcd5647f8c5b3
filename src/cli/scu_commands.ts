/**
 * `echo HOST[:PORT]` and `store HOST[:PORT] PATH...`: the gateway's own SCU, useful to check a
 * PACS or the central node from the clinic PC, and in tests against DCMTK storescp.
 * @module
 */
import type { Config } from "../config/types.ts";
import { parseHostPort } from "../net/host_port.ts";
import { collectFiles, echo, store } from "../scu/operations.ts";
import { describeStatus, statusCategory } from "../dimse/status.ts";

/** Flags only `echo` and `store` take. */
export interface ScuFlags {
  calledAeTitle?: string;
  timeoutMs?: number;
}

/** `echo HOST[:PORT]`: exit 0 when the peer answers Success. */
export async function runEcho(config: Config, args: string[], flags: ScuFlags): Promise<number> {
  const target = args[0];
  if (!target || args.length > 1) {
    console.error("Usage: dicom-gateway echo HOST[:PORT] [--called-ae NAME]");
    return 2;
  }
  const { host, port } = parseHostPort(target, 104);
  const calledAeTitle = flags.calledAeTitle ?? "ANY-SCP";
  const started = performance.now();
  try {
    const status = await echo({
      host,
      port,
      callingAeTitle: config.aeTitle,
      calledAeTitle,
      ...timeout(flags),
    });
    const ms = Math.round(performance.now() - started);
    const ok = statusCategory(status) === "success";
    (ok ? console.log : console.error)(
      `C-ECHO ${calledAeTitle} at ${host}:${port}: ${ok ? "Success" : describeStatus(status)} (${ms} ms)`,
    );
    return ok ? 0 : 1;
  } catch (error) {
    console.error(`C-ECHO ${calledAeTitle} at ${host}:${port} failed: ${(error as Error).message}`);
    return 1;
  }
}

/** `store HOST[:PORT] PATH...`: exit 0 when every file was stored with Success (or a warning). */
export async function runStore(config: Config, args: string[], flags: ScuFlags): Promise<number> {
  const [target, ...paths] = args;
  if (!target || paths.length === 0) {
    console.error("Usage: dicom-gateway store HOST[:PORT] PATH... [--called-ae NAME]");
    return 2;
  }
  const { host, port } = parseHostPort(target, 104);
  const calledAeTitle = flags.calledAeTitle ?? "ANY-SCP";
  let items, skipped;
  try {
    ({ items, skipped } = await collectFiles(paths));
  } catch (error) {
    console.error(`Cannot read ${paths.join(", ")}: ${(error as Error).message}`);
    return 1;
  }
  for (const s of skipped) console.error(`Skipped ${s.path}: ${s.reason}`);
  if (items.length === 0) {
    console.error("No DICOM files to send.");
    return 1;
  }
  let failed = skipped.length;
  try {
    await store(
      { host, port, callingAeTitle: config.aeTitle, calledAeTitle, ...timeout(flags) },
      items,
      (r) => {
        const ok = r.status !== null && statusCategory(r.status) !== "failure";
        if (!ok) failed++;
        (ok ? console.log : console.error)(`${ok ? "Sent" : "FAILED"} ${r.path}: ${r.message}`);
      },
    );
  } catch (error) {
    console.error(`C-STORE to ${calledAeTitle} at ${host}:${port} failed: ${(error as Error).message}`);
    return 1;
  }
  console.log(
    `${items.length - (failed - skipped.length)} of ${items.length} file(s) stored at ${host}:${port}.`,
  );
  return failed === 0 ? 0 : 1;
}

function timeout(flags: ScuFlags): { timeoutMs?: number } {
  return flags.timeoutMs !== undefined && Number.isFinite(flags.timeoutMs)
    ? { timeoutMs: flags.timeoutMs }
    : {};
}
