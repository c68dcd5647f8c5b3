/**
 * Start-up reconciliation of the instance files and the queue index: a crash (or a power cut,
 * which may lose the index's last commits) can fall between any two steps of a commit, and the
 * files are the record of what was received and acknowledged.
 * @module
 */
import { logger } from "../log.ts";
import { joinPath } from "../platform/fs.ts";
import { decodeFileMetaInformation } from "./part10.ts";
import { readDatasetAttributes, readFileHead } from "./dataset_attributes.ts";
import { receivedInstanceRow } from "./durable_store.ts";
import type { QueueIndex } from "./queue_index.ts";

const log = logger("store");

/**
 * Half-written temporaries were removed by `Spool.init`. Files under `instances/` that the index
 * does not know (a crash between rename and index insert) are indexed now and will be uploaded;
 * index rows whose file has gone are dropped.
 */
export async function reconcile(
  dataDir: string,
  index: QueueIndex,
): Promise<{ indexed: number; dropped: number }> {
  const known = index.allPaths();
  const onDisk = new Set<string>();
  let indexed = 0;
  for await (const relative of walkDcm(joinPath(dataDir, "instances"), "instances")) {
    onDisk.add(relative);
    if (known.has(relative)) continue;
    const path = joinPath(dataDir, ...relative.split("/"));
    try {
      const head = await readFileHead(path, 64 * 1024);
      const { meta } = decodeFileMetaInformation(head);
      const attributes = await readDatasetAttributes(path);
      const stat = await Deno.stat(path);
      index.recordReceived(receivedInstanceRow(attributes, {
        transferSyntaxUid: meta.transferSyntaxUid,
        path: relative,
        size: stat.size,
        callingAeTitle: meta.sourceApplicationEntityTitle ?? "",
        receivedAt: stat.mtime?.getTime() ?? Date.now(),
      }));
      indexed++;
    } catch (error) {
      log.error("Cannot index {path} found in the data folder: {error}; left in place", {
        path: relative,
        error: String(error),
      });
    }
  }
  const dropped = index.removeMissing(onDisk);
  if (indexed || dropped) {
    log.warn("Start-up check: {indexed} file(s) added to the queue, {dropped} missing file(s) dropped", {
      indexed,
      dropped,
    });
  }
  return { indexed, dropped };
}

async function* walkDcm(dir: string, relative: string): AsyncGenerator<string> {
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  for (const entry of entries) {
    if (entry.isDirectory) yield* walkDcm(joinPath(dir, entry.name), `${relative}/${entry.name}`);
    else if (entry.isFile && entry.name.endsWith(".dcm")) yield `${relative}/${entry.name}`;
  }
}
