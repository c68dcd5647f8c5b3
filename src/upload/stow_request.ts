/**
 * One STOW-RS request (PS3.18 §10.5): the sign-in headers, the multipart body streamed from the
 * stored files, the POST (never redirected; credentials only over https), and what the answer
 * proves for each instance (`response.ts`). Returns an outcome for the uploader to settle; marks
 * nothing itself. A part compressed for the upload (`prepare.ts`) is sent from the compressor with
 * its transfer syntax named in the part's Content-Type; the body passes the shared rate limiter.
 * @module
 */
import { messageOf } from "../errors.ts";
import type { UploadConfig } from "../config/types.ts";
import { logger } from "../log.ts";
import { absolutePath } from "../store/retention.ts";
import { type AuthProvider, CredentialsRejectedError } from "./auth.ts";
import {
  type HttpTransport,
  InsecureCredentialsError,
  sendRequest,
  startIdleTimer,
  StoppedError,
} from "./http.ts";
import { interpretStowResponse, type SentInstance, type StowOutcome } from "./response.ts";
import {
  makeBoundary,
  multipartBody,
  multipartContentType,
  type MultipartPart,
  partContentType,
  stowUrl,
  streamSource,
} from "./stow.ts";
import { limitedStream, type RateLimiter } from "./rate_limit.ts";

const log = logger("upload");

/** One instance of the batch: its UIDs as the queue index holds them, its file and size. */
export interface StowBatchItem extends SentInstance {
  /** "/"-separated path relative to the data folder. */
  path: string;
  size: number;
  /** Sent instead of the stored file: the instance compressed for the upload (the file stays as received). */
  content?: {
    size: number;
    transferSyntaxUid: string;
    stream(): ReadableStream<Uint8Array>;
    /**
     * Name the syntax in the part's Content-Type (PS3.18 §8.7.3.5.2). False for archives that
     * ignore such parts (Orthanc's DICOMweb plugin 1.7): the File Meta Information names it anyway,
     * and "the latter has precedence" (PS3.18 §8.7.9).
     */
    namedInPart: boolean;
  };
}

/**
 * The instances of one request. Either all parts are known before the request (an array), or
 * `next` decides each part when the body reaches it (adaptive compression, `prepare.ts`): the
 * request starts once its first part is decided, so no connection waits for the encoder.
 */
export interface StowBatch {
  /** Every instance of the request (the answer is read against these). */
  instances: readonly SentInstance[];
  /** The next part of the body; null after the last. Each instance once. */
  next(): Promise<StowBatchItem | null>;
}

/**
 * The server refused the request's media type (HTTP 415) while parts named a compressed transfer
 * syntax: the uploader sends them again as received (the fallback, `prepare.ts`).
 */
export interface SyntaxRefused {
  kind: "syntax-refused";
  reason: string;
}

/** What {@linkcode sendStowBatch} needs from the uploader. */
export interface StowRequestContext {
  transport: HttpTransport;
  auth: AuthProvider;
  config: Pick<UploadConfig, "url" | "idleTimeoutMs" | "auth">;
  dataDir: string;
  /** Aborts the request when the uploader stops. */
  stopSignal: AbortSignal;
  /** The address as shown to the operator (no secret). */
  where: string;
  now: () => number;
  /** The uplink share of all requests together (`upload.max_rate`); none: unlimited. */
  limiter?: RateLimiter;
}

function isStopped(error: unknown): boolean {
  return error instanceof StoppedError || (error instanceof Error && error.name === "StoppedError");
}

/** Sends `batch` as one STOW-RS request and interprets the answer (see the module documentation). */
export async function sendStowBatch(
  batch: readonly StowBatchItem[] | StowBatch,
  context: StowRequestContext,
): Promise<StowOutcome | SyntaxRefused | { kind: "stopped" }> {
  let given = 0;
  const instances = "next" in batch ? batch.instances : batch;
  const next = "next" in batch
    ? () => batch.next()
    : () => Promise.resolve((batch as readonly StowBatchItem[])[given++] ?? null);
  // The parts put in the body so far (what went compressed is known only as it is sent).
  const items: StowBatchItem[] = [];
  let first: StowBatchItem | null;
  try {
    // Before any connection or sign-in: the first part may wait for the encoder.
    first = await next();
    if (first !== null) items.push(first);
  } catch (error) {
    return { kind: "retry", reason: messageOf(error), retryAfterMs: null };
  }
  if (context.stopSignal.aborted) return { kind: "stopped" };
  let authorization: Record<string, string>;
  try {
    authorization = await context.auth.headers(context.stopSignal);
  } catch (error) {
    if (isStopped(error)) return { kind: "stopped" };
    if (error instanceof CredentialsRejectedError) {
      return { kind: "credentials", reason: error.message, status: 0 };
    }
    return {
      kind: "retry",
      reason: messageOf(error),
      retryAfterMs: null,
    };
  }
  const timer = startIdleTimer(context.config.idleTimeoutMs);
  const boundary = makeBoundary();
  const toPart = (item: StowBatchItem): MultipartPart => {
    const content = item.content;
    if (content === undefined) {
      return {
        size: item.size,
        label: item.path,
        open: () => Deno.open(absolutePath(context.dataDir, item.path), { read: true }),
      };
    }
    return {
      size: content.size,
      label: `${item.path} (compressed for the upload)`,
      contentType: partContentType(content.namedInPart ? content.transferSyntaxUid : undefined),
      open: () => Promise.resolve(streamSource(content.stream())),
    };
  };
  let firstTaken = false;
  const nextPart = async (): Promise<MultipartPart | null> => {
    if (!firstTaken) {
      firstTaken = true;
      return first === null ? null : toPart(first);
    }
    const item = await next();
    if (item === null) return null;
    items.push(item);
    return toPart(item);
  };
  const body = multipartBody(nextPart, { boundary, onProgress: () => timer.touch() });
  const limiter = context.limiter;
  const stream = limiter === undefined || limiter.unlimited
    ? body.stream
    : limitedStream(body.stream, limiter, context.stopSignal);
  const started = context.now();
  try {
    const result = await sendRequest(context.transport, stowUrl(context.config.url), {
      method: "POST",
      headers: {
        ...authorization,
        "content-type": multipartContentType(boundary),
        accept: "application/dicom+json",
      },
      body: stream,
      timer,
      stopSignal: context.stopSignal,
      ...(context.config.auth.kind === "none" ? {} : { credentials: "the upload address" }),
    });
    log.debug("STOW-RS {count} instances, {mb} MB: HTTP {status} in {ms} ms", {
      count: items.length,
      mb: (body.length / 1e6).toFixed(1),
      status: result.status,
      ms: context.now() - started,
    });
    if (result.status === 415 && items.some((item) => item.content !== undefined)) {
      return {
        kind: "syntax-refused",
        reason: `the server answered HTTP 415 (unsupported media type) to instances compressed as ${
          [
            ...new Set(
              items.flatMap((item) => item.content === undefined ? [] : [item.content.transferSyntaxUid]),
            ),
          ]
            .join(", ")
        }`,
      };
    }
    const outcome = interpretStowResponse(
      { status: result.status, statusText: result.statusText, headers: result.headers, body: result.body },
      instances.map((item) => ({ sopInstanceUid: item.sopInstanceUid, sopClassUid: item.sopClassUid })),
      { now: context.now(), where: context.where },
    );
    if (
      outcome.kind === "retry" && result.status >= 200 && result.status < 300 &&
      items.some((item) => item.content !== undefined)
    ) {
      // A success that accounts for none of the instances (Orthanc's plugin skipping parts that name
      // their syntax): per instance, so the uploader can try the compressed parts another way.
      return {
        kind: "settle",
        delivered: [],
        failed: [],
        isolate: [],
        unproven: instances.map((item) => item.sopInstanceUid),
        unprovenReason: outcome.reason,
      };
    }
    return outcome;
  } catch (error) {
    if (isStopped(error)) return { kind: "stopped" };
    if (error instanceof InsecureCredentialsError) {
      return { kind: "retry", reason: error.message, retryAfterMs: null };
    }
    return {
      kind: "retry",
      reason: messageOf(error),
      retryAfterMs: null,
    };
  } finally {
    body.dispose();
  }
}
