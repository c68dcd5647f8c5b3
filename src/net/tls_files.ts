/**
 * Checks of the files a setting names (the private CA file of the upload destination): found,
 * readable, a PEM certificate (RFC 7468 §5 "CERTIFICATE" blocks holding an X.509 Certificate,
 * RFC 5280 §4.1), and whether a failed TLS verification means it is the wrong certificate. One
 * sentence per problem, shared by the settings form, start-up, the status page and `doctor`.
 * The text checks are pure; {@link checkCertificateFile} only reads the file.
 * @module
 */

/** What is wrong with a certificate file. */
export type CertificateFileProblemKind =
  | "not-found"
  | "not-readable"
  | "not-certificate"
  | "wrong-certificate";

/** A problem with a certificate file, in plain words, and what to do. */
export interface CertificateFileProblem {
  kind: CertificateFileProblemKind;
  /** The path as configured. */
  file: string;
  /** One sentence naming the file and the problem. */
  message: string;
  /** What to do about it. */
  fix: string;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** Reads one DER TLV (X.690 §8.1) at `at`: tag, start of contents and end; null when it does not fit. */
function readTlv(der: Uint8Array, at: number): { tag: number; start: number; end: number } | null {
  if (at + 2 > der.length) return null;
  const tag = der[at]!;
  let length = der[at + 1]!;
  let start = at + 2;
  if (length & 0x80) {
    // X.690 §8.1.3.5: long form, the low 7 bits give the number of length bytes (DER: at most 4 here).
    const count = length & 0x7f;
    if (count === 0 || count > 4 || start + count > der.length) return null;
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + der[start + i]!;
    start += count;
  }
  const end = start + length;
  return end > der.length ? null : { tag, start, end };
}

/**
 * True when `der` is shaped like an X.509 Certificate (RFC 5280 §4.1): SEQUENCE { tbsCertificate
 * SEQUENCE, signatureAlgorithm SEQUENCE, signatureValue BIT STRING } covering all the bytes.
 */
function isCertificateDer(der: Uint8Array): boolean {
  const outer = readTlv(der, 0);
  if (outer === null || outer.tag !== 0x30 || outer.end !== der.length) return false;
  const tbs = readTlv(der, outer.start);
  if (tbs === null || tbs.tag !== 0x30) return false;
  const algorithm = readTlv(der, tbs.end);
  if (algorithm === null || algorithm.tag !== 0x30) return false;
  const signature = readTlv(der, algorithm.end);
  return signature !== null && signature.tag === 0x03 && signature.end === outer.end;
}

function base64Bytes(text: string): Uint8Array | null {
  const clean = text.replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean)) return null;
  try {
    return Uint8Array.from(atob(clean), (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

/**
 * Why the file's content is not a usable PEM certificate file, or null when it holds at least one
 * certificate and every CERTIFICATE block decodes. Pure.
 */
export function pemCertificateProblem(content: Uint8Array): string | null {
  if (content.length === 0) return "the file is empty";
  if (content[0] === 0x30 && isCertificateDer(content)) {
    return "it is a binary (DER) certificate, not PEM text: convert it (openssl x509 -inform der -in FILE -out ca.pem) " +
      "or export it again as Base64";
  }
  const text = new TextDecoder().decode(content);
  const blocks = [...text.matchAll(PEM_BLOCK)];
  const certificates = blocks.filter((b) => b[1] === "CERTIFICATE");
  if (certificates.length === 0) {
    if (blocks.some((b) => /PRIVATE KEY/.test(b[1]!))) return "it holds a private key, not a certificate";
    if (blocks.length > 0) return `it holds a ${blocks[0]![1]} block, not a CERTIFICATE`;
    return 'it holds no PEM certificate ("-----BEGIN CERTIFICATE-----" ... "-----END CERTIFICATE-----")';
  }
  for (const [n, block] of certificates.entries()) {
    const der = base64Bytes(block[2]!);
    if (der === null || !isCertificateDer(der)) {
      return `certificate ${
        n + 1
      } of ${certificates.length} in it is damaged (not a valid X.509 certificate)`;
    }
  }
  return null;
}

/** Options of {@link checkCertificateFile}. */
export interface CheckCertificateFileOptions {
  /** What the file is, for the message (default "The CA certificate file"). */
  what?: string;
  /** The setting that names it, for the fix (default "ca_file in [upload]"). */
  setting?: string;
  /** Replaces `Deno.readFile` (tests). */
  readFile?: (path: string) => Promise<Uint8Array>;
}

/**
 * Reads and checks a certificate file: not found, not readable (permissions, a folder), or not a
 * PEM certificate. Null when it is fine; an empty path is fine (no file configured).
 */
export async function checkCertificateFile(
  path: string,
  options: CheckCertificateFileOptions = {},
): Promise<CertificateFileProblem | null> {
  if (path.trim() === "") return null;
  const what = options.what ?? "The CA certificate file";
  const setting = options.setting ?? "ca_file in [upload]";
  let content: Uint8Array;
  try {
    content = await (options.readFile ?? Deno.readFile)(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      return {
        kind: "not-found",
        file: path,
        message: `${what} ${path} was not found`,
        fix: `put the certificate (PEM) at that path, or set ${setting} to where it is.`,
      };
    }
    const reason = e instanceof Deno.errors.IsADirectory
      ? "it is a folder"
      : e instanceof Error
      ? e.message
      : String(e);
    return {
      kind: "not-readable",
      file: path,
      message: `${what} ${path} cannot be read (${reason})`,
      fix: "let the user the gateway runs as read the file, or copy it beside the gateway.",
    };
  }
  const problem = pemCertificateProblem(content);
  if (problem === null) return null;
  return {
    kind: "not-certificate",
    file: path,
    message: `${what} ${path} is not a certificate: ${problem}`,
    fix: "use the certificate of the authority that signed the server's certificate, in PEM form.",
  };
}

/**
 * When TLS verification of the server failed although a CA file is configured, the file is the
 * wrong certificate (it did not sign the server's certificate). `tlsMessage` is the error text
 * (rustls: "invalid peer certificate: UnknownIssuer"); null when it is not an issuer failure. Pure.
 */
export function wrongCertificateProblem(
  caFile: string,
  server: string,
  tlsMessage: string,
): CertificateFileProblem | null {
  if (caFile.trim() === "") return null;
  if (!/UnknownIssuer|unknown ?ca|self[- ]signed|unable to get local issuer|BadSignature/i.test(tlsMessage)) {
    return null;
  }
  return {
    kind: "wrong-certificate",
    file: caFile,
    message:
      `The CA certificate file ${caFile} is the wrong certificate: ${server}'s certificate is not signed by it`,
    fix: "ask the central server's administrator for the certificate of the authority that signed the " +
      "server's certificate (PEM) and put it at that path.",
  };
}
