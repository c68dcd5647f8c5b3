/**
 * A small multipart/related parser for tests (RFC 2046 §5.1.1): splits a body on its boundary and
 * returns each part's headers and bytes. Used by the stow tests and the fake STOW-RS server.
 * @module
 */

/** One parsed part. */
export interface ParsedPart {
  headers: Map<string, string>;
  body: Uint8Array;
}

function indexOf(haystack: Uint8Array, needle: Uint8Array, from: number): number {
  const first = needle[0];
  outer: for (let i = from; i <= haystack.length - needle.length; i++) {
    if (haystack[i] !== first) continue;
    for (let j = 1; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** The boundary parameter of a multipart Content-Type, or null. */
export function boundaryOf(contentType: string | null): string | null {
  const match = /boundary=("?)([^";]+)\1/i.exec(contentType ?? "");
  return match?.[2] ?? null;
}

/**
 * Parses a multipart body strictly: the body must start with `--boundary CRLF`, every delimiter is
 * `CRLF --boundary`, and the close delimiter `CRLF --boundary--` must be present.
 */
export function parseMultipart(body: Uint8Array, boundary: string): ParsedPart[] {
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const opening = encoder.encode(`--${boundary}\r\n`);
  for (let i = 0; i < opening.length; i++) {
    if (body[i] !== opening[i]) throw new Error("multipart body does not start with --boundary CRLF");
  }
  const delimiter = encoder.encode(`\r\n--${boundary}`);
  const parts: ParsedPart[] = [];
  let position = opening.length;
  while (true) {
    const headerEnd = indexOf(body, encoder.encode("\r\n\r\n"), position);
    if (headerEnd < 0) throw new Error("part headers not terminated");
    const headers = new Map<string, string>();
    for (const line of decoder.decode(body.subarray(position, headerEnd)).split("\r\n")) {
      const colon = line.indexOf(":");
      if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    const contentStart = headerEnd + 4;
    const next = indexOf(body, delimiter, contentStart);
    if (next < 0) throw new Error("missing delimiter after part");
    parts.push({ headers, body: body.subarray(contentStart, next) });
    const after = next + delimiter.length;
    if (body[after] === 0x2d && body[after + 1] === 0x2d) return parts; // close delimiter "--"
    if (body[after] !== 0x0d || body[after + 1] !== 0x0a) throw new Error("delimiter not followed by CRLF");
    position = after + 2;
  }
}
