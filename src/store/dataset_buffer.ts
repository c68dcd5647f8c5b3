/**
 * Gathers the data set fragments (PDVs, PS3.8 §9.3.5) of one C-STORE into 128 KiB writes. Peers
 * send PDVs of 16–256 KiB, and every write to a file is a round trip to the file-system thread.
 * The size is a balance, measured with a 512 KiB CT slice: 1 MiB chunks left the whole slice to
 * be written after its last PDV, in line before the fsync and the C-STORE-RSP (2.4 s for 500
 * slices); 128 KiB chunks are written while the rest still arrives (1.6 s). Nothing else is
 * kept: the attributes are read by the streaming scanner as the bytes pass (`DatasetReader`).
 *
 * At most two chunks exist per association: one being written, one being filled. A slow disk
 * therefore slows the reading of the socket (TCP back-pressure) instead of filling memory.
 * @module
 */
import type { SpoolFile } from "./spool.ts";

/** Sizes of the buffers; one DatasetBuffer serves every instance on an association. */
export interface DatasetBufferOptions {
  /** Bytes gathered before a write. Default 128 KiB. */
  chunkBytes?: number;
}

/** Gathers one instance at a time into chunked writes to its spool file. */
export class DatasetBuffer {
  readonly #chunkBytes: number;
  #file: SpoolFile | null = null;
  #chunk: Uint8Array | null = null;
  #spare: Uint8Array | null = null;
  #filled = 0;
  /** The write in flight, if any; never rejects (its failure is kept in #failure). */
  #inFlight: Promise<void> | null = null;
  #failure: unknown = undefined;
  #datasetLength = 0;

  constructor(options: DatasetBufferOptions = {}) {
    this.#chunkBytes = options.chunkBytes ?? 128 * 1024;
  }

  /** Starts a new instance: `prefix` (the File Meta Information) is written before the data set. */
  start(file: SpoolFile, prefix: Uint8Array): void {
    this.#file = file;
    this.#filled = 0;
    this.#inFlight = null;
    this.#failure = undefined;
    this.#datasetLength = 0;
    this.#copy(prefix);
  }

  /** Appends data set bytes (copied: the caller may reuse `bytes`). Throws a failed write's error. */
  async append(bytes: Uint8Array): Promise<void> {
    this.#datasetLength += bytes.length;
    let offset = 0;
    while (offset < bytes.length) {
      if (this.#filled === this.#chunkBytes) await this.#flush();
      offset += this.#copy(bytes.subarray(offset));
    }
  }

  /** Writes what is gathered and waits for every write. Throws a failed write's error. */
  async finish(): Promise<void> {
    await this.#flush();
    await this.#settle();
    this.#file = null;
  }

  /** Forgets the current instance (after a failure or an abort); waits for a write in flight. */
  async reset(): Promise<void> {
    await this.#inFlight;
    this.#inFlight = null;
    this.#file = null;
    this.#filled = 0;
  }

  /** Data set bytes appended so far. */
  get datasetLength(): number {
    return this.#datasetLength;
  }

  #copy(bytes: Uint8Array): number {
    this.#chunk ??= new Uint8Array(this.#chunkBytes);
    const take = Math.min(bytes.length, this.#chunkBytes - this.#filled);
    this.#chunk.set(bytes.subarray(0, take), this.#filled);
    this.#filled += take;
    return take;
  }

  /** Starts writing the gathered chunk after the previous write has finished. */
  async #flush(): Promise<void> {
    await this.#settle();
    if (this.#filled === 0) return;
    const file = this.#file;
    if (!file) throw new Error("DatasetBuffer: no instance started");
    const chunk = this.#chunk!;
    const written = chunk.subarray(0, this.#filled);
    this.#inFlight = file.write(written).then(
      () => {
        this.#spare = chunk; // reusable once written
      },
      (error) => {
        this.#failure = error;
      },
    );
    this.#chunk = this.#spare;
    this.#spare = null;
    this.#filled = 0;
  }

  /** Waits for the write in flight; rethrows its failure. */
  async #settle(): Promise<void> {
    if (this.#inFlight) {
      await this.#inFlight;
      this.#inFlight = null;
    }
    if (this.#failure !== undefined) throw this.#failure;
  }
}
