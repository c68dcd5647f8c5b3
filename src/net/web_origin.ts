/**
 * The origin of a URL (RFC 6454 "The Web Origin Concept"), the unit a secret belongs to: the
 * settings form asks for the secret again when the upload or token address moves to another one.
 * A bottom module: imports nothing.
 * @module
 */

/** RFC 6454 §4 step 5: "the default port for the protocol given by uri-scheme". */
const DEFAULT_PORTS: Readonly<Record<string, string>> = { "http:": "80", "https:": "443" };

/**
 * The origin of `url` as the triple RFC 6454 §4 computes, serialised `scheme://host:port`:
 * "uri-scheme … converted to lowercase", "uri-host … converted to lowercase" (the WHATWG URL
 * parser also applies IDNA), and "if uri had a port component, let uri-port be that component;
 * otherwise the default port for the protocol" — so `https://PACS.example` and
 * `https://pacs.example:443/dicom-web` have one origin. Null for text that is not an absolute
 * http(s) URL (§4 step 1: such a URI gets "a globally unique identifier", equal to nothing).
 */
export function webOrigin(url: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url.trim());
  } catch {
    return null;
  }
  const defaultPort = DEFAULT_PORTS[parsed.protocol];
  if (defaultPort === undefined || parsed.hostname === "") return null;
  return `${parsed.protocol}//${parsed.hostname.toLowerCase()}:${parsed.port || defaultPort}`;
}

/**
 * True when `a` and `b` are the same origin (RFC 6454 §5: the triples are identical). Two empty
 * addresses are the same (nothing set either time); anything that is not an http(s) URL is
 * unique and equals nothing, so a stored secret is never assumed to belong to it.
 */
export function sameWebOrigin(a: string, b: string): boolean {
  if (a.trim() === "" && b.trim() === "") return true;
  const x = webOrigin(a);
  return x !== null && x === webOrigin(b);
}
