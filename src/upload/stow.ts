/**
 * The STOW-RS request (PS3.18 §10.5 Store Transaction): the URL, the `multipart/related` content
 * type and a request body streamed part by part from the stored Part 10 files, so memory stays flat
 * whatever the size of the study.
 *
 * PS3.18 §10.5.1: "The Store Transaction … POST … {/studies}[/{study}]"; the request payload is
 * "a multipart/related payload containing one or more DICOM instances" (§10.5.1.2, §8.6.1.2), each
 * part `Content-Type: application/dicom` carrying one PS3.10 file (§8.7.3.5.1 "application/dicom");
 * a part compressed for the upload names its transfer syntax: §8.7.9 "a DICOM Media Type used as
 * the value of a Content-Type Header Field shall have zero or one Transfer Syntax parameter",
 * §8.7.3.5.2 `transfer-syntax-mtp = "transfer-syntax=" UID`.
 * Framing follows RFC 2046 §5.1.1: each part starts with `--boundary CRLF`, headers, CRLF, the
 * bytes; the CRLF before the next delimiter belongs to the delimiter; the last one is
 * `CRLF --boundary--`.
 * @module
 */

/** `{url}/studies` for a DICOMweb root (trailing slashes ignored). PS3.18 §10.5.1 "Studies Store". */
export function stowUrl(baseUrl: string): string {
  return `${baseUrl.trim().replace(/\/+$/, "")}/studies`;
}

/** A fresh boundary: 32 random hex digits after a fixed prefix (RFC 2046 allows up to 70 characters). */
export function makeBoundary(random: () => number = Math.random): string {
  let hex = "";
  if (random === Math.random) {
    for (const byte of crypto.getRandomValues(new Uint8Array(16))) hex += byte.toString(16).padStart(2, "0");
  } else {
    for (let i = 0; i < 32; i++) hex += Math.floor(random() * 16).toString(16);
  }
  return `DICOMwebBoundary${hex}`;
}

/**
 * The request Content-Type: PS3.18 §10.5.1.1 "Content-Type: multipart/related; type="application/dicom";
 * boundary=…" (RFC 2387 `type` parameter names the root part's media type).
 */
export function multipartContentType(boundary: string): string {
  return `multipart/related; type="application/dicom"; boundary=${boundary}`;
}

const encoder = new TextEncoder();

/** A part's media type: `application/dicom`, with `; transfer-syntax=UID` when given (PS3.18 §8.7.3.5.2). */
export function partContentType(transferSyntaxUid?: string): string {
  return transferSyntaxUid === undefined
    ? "application/dicom"
    : `application/dicom; transfer-syntax=${transferSyntaxUid}`;
}

/** The bytes before one part's content: delimiter line and part headers (PS3.18 §8.6.1.2, RFC 2046 §5.1.1). */
export function partPreamble(boundary: string, first: boolean, contentType = partContentType()): Uint8Array {
  return encoder.encode(`${first ? "" : "\r\n"}--${boundary}\r\nContent-Type: ${contentType}\r\n\r\n`);
}

/** The close delimiter (RFC 2046 §5.1.1 `close-delimiter := delimiter "--"`), then a final CRLF. */
export function closeDelimiter(boundary: string): Uint8Array {
  return encoder.encode(`\r\n--${boundary}--\r\n`);
}

/** Exact byte length of a multipart body with parts of the given sizes (and part media types). */
export function multipartLength(
  sizes: readonly number[],
  boundary: string,
  contentTypes: readonly (string | undefined)[] = [],
): number {
  let total = closeDelimiter(boundary).length;
  sizes.forEach((size, i) => total += partPreamble(boundary, i === 0, contentTypes[i]).length + size);
  return total;
}

/** Something readable like `Deno.FsFile`: `read` fills the buffer and returns a count, or null at the end. */
export interface ByteSource {
  read(buffer: Uint8Array): Promise<number | null>;
  close(): void;
}

/** One part of the body: its exact size and a way to open its bytes when the stream reaches it. */
export interface MultipartPart {
  size: number;
  open(): Promise<ByteSource>;
  /** Names the part in errors (e.g. the file path). */
  label: string;
  /** The part's Content-Type (default `application/dicom`, see {@link partContentType}). */
  contentType?: string;
}

/** A ReadableStream read like a file: for parts made in memory or by the compressor. */
export function streamSource(stream: ReadableStream<Uint8Array>): ByteSource {
  const reader = stream.getReader();
  let rest: Uint8Array = new Uint8Array(0);
  return {
    async read(buffer: Uint8Array): Promise<number | null> {
      while (rest.length === 0) {
        const next = await reader.read();
        if (next.done) return null;
        rest = next.value;
      }
      const n = Math.min(buffer.length, rest.length);
      buffer.set(rest.subarray(0, n));
      rest = rest.subarray(n);
      return n;
    },
    close(): void {
      reader.cancel().catch(() => {});
    },
  };
}

/** A streamed multipart body. */
export interface MultipartBody {
  stream: ReadableStream<Uint8Array>;
  /** Total bytes the stream yields (for a body of parts decided as it goes: the bytes yielded so far). */
  length: number;
  /** Closes any open part (idempotent); call when the request ends, whatever happened. */
  dispose(): void;
}

/**
 * Builds the streamed STOW-RS body for `parts`. Each part is opened only when the stream reaches it
 * and closed at its end; chunks of at most `chunkSize` bytes are read on demand (pull), so at most a
 * chunk or two are in memory. `onProgress` is called with the byte count of every chunk handed to
 * the HTTP client (the uploader's idle timer). A part that yields fewer or more bytes than its
 * declared size errors the stream: a truncated or grown file is never sent as if complete.
 *
 * `parts` may also be a function giving the next part when the stream reaches it (null after the
 * last): the parts of a request decided as it is sent (adaptive compression, `prepare.ts`).
 */
export function multipartBody(
  parts: readonly MultipartPart[] | (() => Promise<MultipartPart | null>),
  options: { boundary: string; chunkSize?: number; onProgress?: (bytes: number) => void },
): MultipartBody {
  const chunkSize = options.chunkSize ?? 256 * 1024;
  const boundary = options.boundary;
  let given = 0;
  const nextPart = typeof parts === "function" ? parts : () => Promise.resolve(parts[given++] ?? null);
  let partCount = 0;
  let part: MultipartPart | null = null;
  let source: ByteSource | null = null;
  let remaining = 0;
  let finished = false;
  let yielded = 0;

  const closeSource = () => {
    if (source !== null) {
      try {
        source.close();
      } catch {
        // already closed
      }
      source = null;
    }
  };

  const emit = (controller: ReadableStreamDefaultController<Uint8Array>, bytes: Uint8Array) => {
    controller.enqueue(bytes);
    yielded += bytes.length;
    options.onProgress?.(bytes.length);
  };

  /** Opens the next part and emits its preamble, or emits the close delimiter after the last. */
  const openNext = async (controller: ReadableStreamDefaultController<Uint8Array>) => {
    const next = await nextPart();
    if (finished) return; // disposed while the next part was being decided
    if (next === null) {
      finished = true;
      emit(controller, closeDelimiter(boundary));
      controller.close();
      return;
    }
    part = next;
    source = await next.open();
    remaining = next.size;
    emit(controller, partPreamble(boundary, partCount === 0, next.contentType));
    partCount++;
  };

  let streamController: ReadableStreamDefaultController<Uint8Array> | null = null;
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      streamController = controller;
    },
    async pull(controller) {
      try {
        if (finished) return;
        if (source === null || part === null) {
          await openNext(controller);
          return;
        }
        if (remaining === 0) {
          // Declared size reached: the file must end here.
          const probe = await source.read(new Uint8Array(1));
          if (probe !== null && probe > 0) {
            throw new Error(
              `${part.label} is larger than its recorded ${part.size} bytes (changed while being sent)`,
            );
          }
          closeSource();
          // Emit the next preamble or the close delimiter in the same pull.
          await openNext(controller);
          return;
        }
        const buffer = new Uint8Array(Math.min(chunkSize, remaining));
        let filled = 0;
        while (filled < buffer.length) {
          const n = await source.read(buffer.subarray(filled));
          if (n === null) {
            throw new Error(
              `${part.label} ended after ${
                part.size - remaining + filled
              } of its recorded ${part.size} bytes`,
            );
          }
          filled += n;
        }
        remaining -= filled;
        emit(controller, buffer);
      } catch (error) {
        closeSource();
        finished = true;
        controller.error(error);
      }
    },
    cancel() {
      closeSource();
      finished = true;
    },
  }, { highWaterMark: 0 });

  return {
    stream,
    get length() {
      return typeof parts === "function"
        ? yielded
        : multipartLength(parts.map((p) => p.size), boundary, parts.map((p) => p.contentType));
    },
    dispose: () => {
      closeSource();
      if (!finished) {
        finished = true;
        // The request ended before the body did (an early answer, an abort): end the stream too,
        // so the HTTP client stops waiting for more body bytes.
        try {
          streamController?.error(new Error("the request ended before its body was sent"));
        } catch {
          // already closed or errored
        }
      }
    },
  };
}
