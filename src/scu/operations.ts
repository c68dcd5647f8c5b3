/**
 * C-ECHO and C-STORE as an SCU (the `echo` and `store` commands). Files are sent in their own
 * transfer syntax (never transcoded), their data sets streamed from disk.
 * @module
 */
import { ScuAssociation, ScuError } from "./client.ts";
import { cEchoRq, cStoreRq } from "../dimse/command.ts";
import { describeStatus, statusCategory } from "../dimse/status.ts";
import { decodeFileMetaInformation } from "../store/part10.ts";
import { readFileHead } from "../store/dataset_attributes.ts";
import { joinPath } from "../platform/fs.ts";
import { VERIFICATION_SOP_CLASS } from "../dicom/uids.ts";

/** Where to connect and as whom. */
export interface PeerOptions {
  host: string;
  port: number;
  callingAeTitle: string;
  calledAeTitle: string;
  timeoutMs?: number;
}

/** C-ECHO (PS3.7 §9.1.5): returns the response status. */
export async function echo(options: PeerOptions): Promise<number> {
  const association = await ScuAssociation.open({
    ...options,
    presentationContexts: [{
      abstractSyntax: VERIFICATION_SOP_CLASS,
      transferSyntaxes: ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"],
    }],
  });
  try {
    const id = association.contextFor(VERIFICATION_SOP_CLASS);
    if (id === undefined) throw new ScuError("The peer did not accept the Verification SOP Class");
    const response = await association.request(id, cEchoRq(association.nextMessageId()));
    await association.release();
    return response.status ?? 0xffff;
  } catch (error) {
    association.close();
    throw error;
  }
}

/** One file to send, as read from its meta header. */
export interface StoreItem {
  path: string;
  sopClassUid: string;
  sopInstanceUid: string;
  transferSyntaxUid: string;
  datasetOffset: number;
}

/** The outcome per file. */
export interface StoreResult {
  path: string;
  sopInstanceUid: string;
  status: number | null;
  message: string;
}

/** Expands files and folders (recursively) into Part 10 files; files that are not DICOM are reported. */
export async function collectFiles(
  paths: string[],
): Promise<{ items: StoreItem[]; skipped: { path: string; reason: string }[] }> {
  const items: StoreItem[] = [];
  const skipped: { path: string; reason: string }[] = [];
  const visit = async (path: string): Promise<void> => {
    const info = await Deno.stat(path);
    if (info.isDirectory) {
      const names = (await Array.fromAsync(Deno.readDir(path))).map((e) => e.name).sort();
      for (const name of names) await visit(joinPath(path, name));
      return;
    }
    try {
      const head = await readFileHead(path, 64 * 1024);
      const { meta, datasetOffset } = decodeFileMetaInformation(head);
      items.push({
        path,
        sopClassUid: meta.mediaStorageSopClassUid,
        sopInstanceUid: meta.mediaStorageSopInstanceUid,
        transferSyntaxUid: meta.transferSyntaxUid,
        datasetOffset,
      });
    } catch (error) {
      skipped.push({ path, reason: `not a DICOM Part 10 file (${(error as Error).message})` });
    }
  };
  for (const path of paths) await visit(path);
  return { items, skipped };
}

/**
 * C-STORE (PS3.7 §9.1.1) of every item, over as few associations as the 128-context limit allows.
 * `onResult` is called per file as it completes.
 */
export async function store(
  options: PeerOptions,
  items: StoreItem[],
  onResult?: (result: StoreResult) => void,
): Promise<StoreResult[]> {
  const results: StoreResult[] = [];
  const report = (r: StoreResult) => {
    results.push(r);
    onResult?.(r);
  };
  // One presentation context per (SOP class, transfer syntax) pair, 128 per association.
  const key = (i: StoreItem) => `${i.sopClassUid}|${i.transferSyntaxUid}`;
  const groups: StoreItem[][] = [];
  let current: StoreItem[] = [];
  let keys = new Set<string>();
  for (const item of items) {
    if (!keys.has(key(item)) && keys.size === 128) {
      groups.push(current);
      current = [];
      keys = new Set();
    }
    keys.add(key(item));
    current.push(item);
  }
  if (current.length) groups.push(current);

  for (const group of groups) {
    const pairs = [...new Set(group.map(key))].map((k) => k.split("|") as [string, string]);
    const association = await ScuAssociation.open({
      ...options,
      presentationContexts: pairs.map(([abstractSyntax, ts]) => ({ abstractSyntax, transferSyntaxes: [ts] })),
    });
    try {
      for (const item of group) {
        const id = association.contextFor(item.sopClassUid, item.transferSyntaxUid);
        if (id === undefined) {
          report({
            path: item.path,
            sopInstanceUid: item.sopInstanceUid,
            status: null,
            message:
              `the peer did not accept ${item.sopClassUid} in transfer syntax ${item.transferSyntaxUid}`,
          });
          continue;
        }
        const response = await association.request(
          id,
          cStoreRq({
            messageId: association.nextMessageId(),
            sopClassUid: item.sopClassUid,
            sopInstanceUid: item.sopInstanceUid,
          }),
          readFrom(item.path, item.datasetOffset),
        );
        const status = response.status ?? 0xffff;
        report({
          path: item.path,
          sopInstanceUid: item.sopInstanceUid,
          status,
          message: statusCategory(status) === "success" ? "stored" : describeStatus(status),
        });
      }
      await association.release();
    } catch (error) {
      association.close();
      throw error;
    }
  }
  return results;
}

/**
 * The data set bytes of a file. PDVs carry even-length data sets; a deflated data set may be odd,
 * and PS3.5 A.5 says the deflated bit stream is then padded with a single trailing zero byte.
 */
async function* readFrom(path: string, offset: number): AsyncIterable<Uint8Array> {
  using file = await Deno.open(path, { read: true });
  await file.seek(offset, Deno.SeekMode.Start);
  let total = 0;
  for (;;) {
    const buffer = new Uint8Array(256 * 1024);
    const n = await file.read(buffer);
    if (n === null) break;
    total += n;
    yield buffer.subarray(0, n);
  }
  if (total % 2 === 1) yield new Uint8Array(1);
}
