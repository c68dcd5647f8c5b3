import { assert, assertEquals, assertRejects } from "../support/assert.ts";
import {
  type ByteSource,
  closeDelimiter,
  makeBoundary,
  multipartBody,
  multipartContentType,
  multipartLength,
  type MultipartPart,
  partPreamble,
  stowUrl,
} from "../../src/upload/stow.ts";
import { boundaryOf, parseMultipart } from "./multipart.ts";

function memorySource(bytes: Uint8Array): ByteSource {
  let offset = 0;
  return {
    read(buffer) {
      if (offset >= bytes.length) return Promise.resolve(null);
      const n = Math.min(buffer.length, bytes.length - offset);
      buffer.set(bytes.subarray(offset, offset + n));
      offset += n;
      return Promise.resolve(n);
    },
    close() {},
  };
}

function memoryPart(bytes: Uint8Array, label = "part"): MultipartPart {
  return { size: bytes.length, label, open: () => Promise.resolve(memorySource(bytes)) };
}

async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

Deno.test("stowUrl: {url}/studies, trailing slashes ignored", () => {
  assertEquals(stowUrl("https://pacs.example.org/dicom-web"), "https://pacs.example.org/dicom-web/studies");
  assertEquals(stowUrl("https://pacs.example.org/dicom-web//"), "https://pacs.example.org/dicom-web/studies");
  assertEquals(stowUrl(" http://h:8042/dicom-web/ "), "http://h:8042/dicom-web/studies");
});

Deno.test("multipart: content type and exact bytes of a two-part body (PS3.18 §8.6.1.2, RFC 2046)", async () => {
  const boundary = "B0UNDARY";
  assertEquals(
    multipartContentType(boundary),
    'multipart/related; type="application/dicom"; boundary=B0UNDARY',
  );
  const a = new TextEncoder().encode("first file");
  const b = new TextEncoder().encode("second\r\n--B0UNDAR file");
  const body = multipartBody([memoryPart(a), memoryPart(b)], { boundary, chunkSize: 3 });
  const bytes = await collect(body.stream);
  const expected = "--B0UNDARY\r\nContent-Type: application/dicom\r\n\r\nfirst file" +
    "\r\n--B0UNDARY\r\nContent-Type: application/dicom\r\n\r\nsecond\r\n--B0UNDAR file" +
    "\r\n--B0UNDARY--\r\n";
  assertEquals(new TextDecoder().decode(bytes), expected);
  assertEquals(body.length, bytes.length);
  assertEquals(multipartLength([a.length, b.length], boundary), bytes.length);
  const parts = parseMultipart(bytes, boundary);
  assertEquals(parts.length, 2);
  assertEquals(parts[0]!.headers.get("content-type"), "application/dicom");
  assertEquals(parts[0]!.body, a);
  assertEquals(parts[1]!.body, b);
});

Deno.test("multipart: binary parts of many sizes round-trip through the parser", async () => {
  const sizes = [0, 1, 255, 4096, 70_001];
  const payloads = sizes.map((size, i) => {
    const p = new Uint8Array(size);
    for (let j = 0; j < size; j++) p[j] = (j * 31 + i) & 0xff;
    return p;
  });
  const boundary = makeBoundary();
  assert(/^DICOMwebBoundary[0-9a-f]{32}$/.test(boundary), boundary);
  assertEquals(boundaryOf(multipartContentType(boundary)), boundary);
  const body = multipartBody(payloads.map((p) => memoryPart(p)), { boundary, chunkSize: 1000 });
  const bytes = await collect(body.stream);
  assertEquals(bytes.length, body.length);
  const parts = parseMultipart(bytes, boundary);
  assertEquals(parts.map((p) => p.body), payloads);
});

Deno.test("multipart: preamble/close helpers and an empty body", async () => {
  assertEquals(
    new TextDecoder().decode(partPreamble("X", true)),
    "--X\r\nContent-Type: application/dicom\r\n\r\n",
  );
  assertEquals(
    new TextDecoder().decode(partPreamble("X", false)),
    "\r\n--X\r\nContent-Type: application/dicom\r\n\r\n",
  );
  assertEquals(new TextDecoder().decode(closeDelimiter("X")), "\r\n--X--\r\n");
  const body = multipartBody([], { boundary: "X" });
  assertEquals(new TextDecoder().decode(await collect(body.stream)), "\r\n--X--\r\n");
});

Deno.test("multipart: injected random gives a deterministic boundary", () => {
  assertEquals(makeBoundary(() => 0), `DICOMwebBoundary${"0".repeat(32)}`);
  assertEquals(makeBoundary(() => 0.99), `DICOMwebBoundary${"f".repeat(32)}`);
});

Deno.test("multipart: a file shorter or longer than recorded errors the stream", async () => {
  const short: MultipartPart = {
    size: 10,
    label: "a.dcm",
    open: () => Promise.resolve(memorySource(new Uint8Array(4))),
  };
  await assertRejects(
    () => collect(multipartBody([short], { boundary: "Q" }).stream),
    Error,
    "ended after 4",
  );
  const long: MultipartPart = {
    size: 4,
    label: "b.dcm",
    open: () => Promise.resolve(memorySource(new Uint8Array(10))),
  };
  await assertRejects(() => collect(multipartBody([long], { boundary: "Q" }).stream), Error, "larger than");
});

Deno.test("multipart: parts are opened lazily, closed at their end, progress reported", async () => {
  const events: string[] = [];
  const part = (name: string, bytes: Uint8Array): MultipartPart => ({
    size: bytes.length,
    label: name,
    open: () => {
      events.push(`open ${name}`);
      const source = memorySource(bytes);
      return Promise.resolve({ read: source.read, close: () => events.push(`close ${name}`) });
    },
  });
  let progress = 0;
  const body = multipartBody([part("a", new Uint8Array(10)), part("b", new Uint8Array(5))], {
    boundary: "Z",
    onProgress: (n) => progress += n,
  });
  const reader = body.stream.getReader();
  await reader.read();
  assertEquals(events, ["open a"]);
  while (!(await reader.read()).done) { /* drain */ }
  assertEquals(events, ["open a", "close a", "open b", "close b"]);
  assertEquals(progress, body.length);
});

Deno.test("multipart: dispose closes an open part after cancel", async () => {
  let closed = 0;
  const part: MultipartPart = {
    size: 100,
    label: "c",
    open: () => Promise.resolve({ read: memorySource(new Uint8Array(100)).read, close: () => closed++ }),
  };
  const body = multipartBody([part], { boundary: "Z", chunkSize: 10 });
  const reader = body.stream.getReader();
  await reader.read();
  await reader.read();
  await reader.cancel();
  body.dispose();
  assertEquals(closed, 1);
});

Deno.test("multipart: memory stays flat — never reads ahead of the consumer, 1 GB streams through", async () => {
  const size = 256 * 1024 * 1024;
  const chunkSize = 256 * 1024;
  let read = 0;
  const zeros: MultipartPart = {
    size,
    label: "big",
    open: () => {
      let left = size;
      return Promise.resolve({
        read(buffer: Uint8Array) {
          if (left === 0) return Promise.resolve(null);
          const n = Math.min(buffer.length, left);
          left -= n;
          read += n;
          return Promise.resolve(n);
        },
        close() {},
      });
    },
  };
  const before = Deno.memoryUsage().rss;
  let peak = before;
  const body = multipartBody([zeros, zeros, zeros, zeros], { boundary: "M", chunkSize });
  let consumed = 0;
  let maxAhead = 0;
  let chunks = 0;
  for await (const chunk of body.stream) {
    consumed += chunk.length;
    // Bytes read from the files but not yet taken by the consumer: at most about one chunk.
    maxAhead = Math.max(maxAhead, read - consumed);
    if (++chunks % 256 === 0) peak = Math.max(peak, Deno.memoryUsage().rss);
  }
  assertEquals(consumed, body.length);
  assert(consumed > 1_000_000_000);
  assert(maxAhead <= chunkSize + 1, `read ${maxAhead} bytes ahead of the consumer`);
  // Loose bound (RSS is per process, shared with parallel test workers): a buffered body would be 1 GB.
  const growthMb = (peak - before) / 1e6;
  assert(growthMb < 500, `RSS grew by ${growthMb.toFixed(0)} MB while streaming 1 GB`);
});
