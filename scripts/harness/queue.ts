/**
 * Queues a prepared file as the receiver would have: copied into the data folder and recorded in
 * the queue index through the store's one attributes-to-row mapping (`receivedInstanceRow`). For
 * the upload tests and benchmarks, which start from files rather than from a C-STORE.
 * @module
 */
import type { DatasetAttributes } from "../../src/store/part10.ts";
import { readDatasetAttributes } from "../../src/store/dataset_attributes.ts";
import { receivedInstanceRow } from "../../src/store/durable_store.ts";
import type { QueueIndex } from "../../src/store/queue_index.ts";

/** Where the copy goes and what the row says besides the data set's own attributes. */
export interface QueueFileOptions {
  /** "/"-separated path relative to `dataDir`. */
  relativePath: string;
  /** Default "TEST". */
  callingAeTitle?: string;
  /** Default now. */
  receivedAt?: number;
}

/** Copies `file` to `dataDir/relativePath`, records it pending, and returns its attributes. */
export async function queueFile(
  index: Pick<QueueIndex, "recordReceived">,
  dataDir: string,
  file: string,
  options: QueueFileOptions,
): Promise<DatasetAttributes> {
  const destination = `${dataDir}/${options.relativePath}`;
  await Deno.mkdir(destination.replace(/\/[^/]*$/, ""), { recursive: true });
  await Deno.copyFile(file, destination);
  const attributes = await readDatasetAttributes(file);
  index.recordReceived(receivedInstanceRow(attributes, {
    transferSyntaxUid: "",
    path: options.relativePath,
    size: (await Deno.stat(file)).size,
    callingAeTitle: options.callingAeTitle ?? "TEST",
    receivedAt: options.receivedAt ?? Date.now(),
  }));
  return attributes;
}
