/**
 * The compressor the uploader calls: a pool of Deno Workers (default: cores − 1, at least 1)
 * encoding frames off the receive path, and {@link Compressor.prepare}, which decides for one
 * stored instance whether it goes compressed or as received.
 *
 * ```ts
 * const compressor = createCompressor();
 * const out = await compressor.prepare(path, { syntax: "jpeg-ls" });
 * if (out.kind === "compressed") { send(out.stream(), out.transferSyntaxUid); await out.close(); }
 * else { sendOriginal(path); log(out.reason); }
 * ```
 * @module
 */
import type { CompressionSyntax, FrameFormat, FrameResult } from "./codec.ts";
import { type FrameEncoder, type Prepared, transcode } from "./transcoder.ts";
// A static import puts the worker module in the module graph, so `deno compile` embeds it.
import { type FrameReply, type FrameRequest, isWorker } from "./worker.ts";

export type {
  CompressionStats,
  OriginalCause,
  Prepared,
  SendCompressed,
  SendOriginal,
} from "./transcoder.ts";
export type { CompressionSyntax } from "./codec.ts";

/** Options of {@link createCompressor}. */
export interface CompressorOptions {
  /** Workers in the pool. Default: logical cores − 1, at least 1. */
  workers?: number;
  /** Codestream bytes of one instance kept in memory before a temporary file. Default 8 MiB. */
  memoryLimit?: number;
  /** Folder for those temporary files. Default: the system's. */
  tempDir?: string;
  /** The worker module (tests). Default: ./worker.ts beside this module. */
  workerUrl?: URL | string;
}

/** Options of {@link Compressor.prepare}. */
export interface PrepareOptions {
  syntax: CompressionSyntax;
}

/** A pool of compression workers. */
export interface Compressor {
  /** Transcodes the stored instance (path of a Part 10 file, or its bytes), or says why it goes as received. */
  prepare(source: string | Uint8Array, options: PrepareOptions): Promise<Prepared>;
  /** Workers in the pool. */
  readonly workers: number;
  /** Stops the workers; pending frames fail. */
  close(): void;
}

/** Default pool size: cores − 1, at least 1. */
export function defaultWorkerCount(cores: number = navigator.hardwareConcurrency ?? 1): number {
  return Math.max(1, Math.floor(cores) - 1);
}

interface Job {
  request: FrameRequest;
  resolve: (result: FrameResult) => void;
}

/** Starts the worker pool. */
export function createCompressor(options: CompressorOptions = {}): Compressor {
  const count = Math.max(1, options.workers ?? defaultWorkerCount());
  if (isWorker()) throw new Error("createCompressor: start the pool from the main thread");
  const url = options.workerUrl ?? new URL("./worker.ts", import.meta.url);
  const idle: Worker[] = [];
  const busy = new Map<Worker, Job>();
  const queue: Job[] = [];
  let nextId = 1;
  let closed = false;

  const dispatch = () => {
    while (idle.length > 0 && queue.length > 0) {
      const worker = idle.pop()!;
      const job = queue.shift()!;
      busy.set(worker, job);
      worker.postMessage(job.request, [job.request.frame.buffer as ArrayBuffer]);
    }
  };
  const finish = (worker: Worker, result: FrameResult) => {
    const job = busy.get(worker);
    busy.delete(worker);
    if (!closed) idle.push(worker);
    job?.resolve(result);
    dispatch();
  };
  const workers: Worker[] = [];
  for (let i = 0; i < count; i++) {
    const worker = new Worker(url, { type: "module", name: `compress-${i + 1}` });
    worker.onmessage = (event: MessageEvent<FrameReply>) => {
      const reply = event.data;
      finish(worker, reply.ok ? { ok: true, encoded: reply.encoded } : { ok: false, reason: reply.reason });
    };
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      finish(worker, { ok: false, reason: `compression worker failed: ${event.message}` });
    };
    workers.push(worker);
    idle.push(worker);
  }

  const encoder: FrameEncoder = (syntax: CompressionSyntax, frame: Uint8Array, format: FrameFormat) => {
    if (closed) return Promise.resolve({ ok: false, reason: "compressor closed" });
    return new Promise<FrameResult>((resolve) => {
      // The frame's buffer is transferred: give the worker a buffer of its own.
      const own = frame.byteOffset === 0 && frame.byteLength === frame.buffer.byteLength
        ? frame
        : frame.slice();
      queue.push({ request: { id: nextId++, syntax, frame: own, format }, resolve });
      dispatch();
    });
  };

  return {
    workers: count,
    prepare: (source, prepareOptions) =>
      transcode(source, {
        syntax: prepareOptions.syntax,
        encoder,
        // Two frames per worker: one encoding, one waiting, so no worker idles between frames.
        inFlight: 2 * count,
        ...(options.memoryLimit === undefined ? {} : { memoryLimit: options.memoryLimit }),
        ...(options.tempDir === undefined ? {} : { tempDir: options.tempDir }),
      }),
    close: () => {
      closed = true;
      for (const w of workers) w.terminate();
      for (const job of [...queue.splice(0), ...busy.values()]) {
        job.resolve({ ok: false, reason: "compressor closed" });
      }
      busy.clear();
    },
  };
}
