/**
 * `retry-failed [STUDY_UID]`: puts instances the central server rejected back in the upload queue,
 * as the status page's Retry button does. Works whether or not the gateway is running: the queue
 * index is SQLite in WAL mode, safe to share between processes, and a running gateway rescans the
 * queue every half minute (its uploader's idle rescan), so it picks the instances up by itself.
 * @module
 */
import { type Config, queueIndexPath } from "../config/types.ts";
import { QueueIndex } from "../store/queue_index.ts";
import { isValidUid } from "../dicom/uids.ts";
import { messageOf } from "../errors.ts";

/** Runs the command; returns the exit code. */
export async function runRetryFailed(
  config: Config,
  positionals: string[],
  write: (line: string) => void = (line) => console.log(line),
): Promise<number> {
  if (positionals.length > 1) {
    write(`retry-failed takes at most one Study Instance UID; got ${positionals.length} arguments.`);
    return 2;
  }
  const study = positionals[0];
  if (study !== undefined && !isValidUid(study)) {
    write(`"${study}" is not a Study Instance UID (digits and dots, at most 64 characters).`);
    return 2;
  }
  const path = queueIndexPath(config.dataDir);
  try {
    await Deno.stat(path);
  } catch {
    write(`There is no upload queue in ${config.dataDir}: nothing has been received there yet.`);
    return 1;
  }
  let index: QueueIndex;
  try {
    index = QueueIndex.open(path);
  } catch (error) {
    write(
      `Cannot read the upload queue ${path}: it is damaged or not a queue file (${
        messageOf(error).replace(/^Cannot open the queue index .*?: /, "")
      }). ` +
        `Stop the gateway, rename that file (e.g. to queue.sqlite.damaged) and start the gateway again: ` +
        "it rebuilds the queue from the images in the data folder, which are kept.",
    );
    return 1;
  }
  try {
    const before = index.failures(1000).filter((f) => study === undefined || f.studyInstanceUid === study);
    const n = index.retryFailed(study);
    if (n === 0) {
      write(study === undefined ? "No failed instances." : `No failed instances in study ${study}.`);
      return 0;
    }
    const reasons = [...new Set(before.map((f) => f.reason))].slice(0, 3);
    write(
      `${n} failed instance(s) put back in the upload queue${
        study === undefined ? "" : ` (study ${study})`
      }.`,
    );
    if (reasons.length > 0) write(`The central server had said: ${reasons.join("; ")}`);
    write(
      "A running gateway sends them within half a minute; otherwise they go when it next starts. " +
        "If the server refuses them again, fix the cause first (see the reason above).",
    );
    return 0;
  } finally {
    index.close();
  }
}
