/**
 * DCMTK command-line tools as peers of the gateway in interop tests and the benchmark:
 * `echoscu`, `storescu`, `dcmsend` (SCUs) and `storescp` (an SCP the gateway's own SCU sends
 * to). Every tool runs with `TCP_NODELAY=1` in its environment: DCMTK leaves Nagle's
 * algorithm on otherwise, and each instance then stalls ~40 ms on delayed ACKs.
 * @module
 */
import { fileTransferSyntax } from "./data.ts";
import { delay, freePort, runCommand, type RunResult, spawnChild } from "./process.ts";

/** Environment every DCMTK tool gets. */
export const DCMTK_ENV: Readonly<Record<string, string>> = { TCP_NODELAY: "1" };

/** Options shared by the SCU wrappers. */
export interface ScuOptions {
  /** Our (calling) AE title; DCMTK's default otherwise. */
  callingAe?: string;
  /** The peer's (called) AE title; DCMTK's default ("ANY-SCP") otherwise. */
  calledAe?: string;
  /** Kill the tool after this many milliseconds (default 120 000). */
  timeoutMs?: number;
  /** Verbose logging (`-v`), useful in failure messages. */
  verbose?: boolean;
  /** Further arguments, placed before host and port. */
  extraArgs?: string[];
  /** Extra environment variables (TCP_NODELAY=1 is always set). */
  env?: Record<string, string>;
}

function aeArgs(options: ScuOptions): string[] {
  return [
    ...(options.callingAe === undefined ? [] : ["-aet", options.callingAe]),
    ...(options.calledAe === undefined ? [] : ["-aec", options.calledAe]),
    ...(options.verbose ? ["-v"] : []),
  ];
}

function run(tool: string, args: string[], options: ScuOptions): Promise<RunResult> {
  return runCommand(tool, args, {
    env: { ...DCMTK_ENV, ...options.env },
    timeoutMs: options.timeoutMs ?? 120_000,
  });
}

/** C-ECHO with DCMTK `echoscu`; exit code 0 means the peer answered Success. */
export function echoscu(host: string, port: number, options: ScuOptions = {}): Promise<RunResult> {
  return run("echoscu", [...aeArgs(options), ...(options.extraArgs ?? []), host, String(port)], options);
}

/**
 * Which transfer syntaxes `storescu` proposes (its `-x…` flags). `storescu` proposes only
 * uncompressed syntaxes by default (and decompresses nothing), so a compressed file fails unless
 * the matching syntax is proposed; `required` (`-R`) proposes exactly the files' own syntaxes.
 */
export type StorescuProposal =
  | "uncompressed" // -x=  all uncompressed, explicit VR local byte order first (default)
  | "little" //       -xe  all uncompressed, explicit VR little endian first
  | "big" //          -xb  all uncompressed, explicit VR big endian first
  | "implicit" //     -xi  implicit VR little endian only
  | "deflated" //     -xd  deflated explicit VR LE + uncompressed
  | "jpeg-lossless" // -xs default JPEG lossless (SV1) + uncompressed
  | "jpeg8" //        -xy  JPEG baseline + uncompressed
  | "jpeg12" //       -xx  JPEG extended + uncompressed
  | "j2k-lossless" // -xv  JPEG 2000 lossless + uncompressed
  | "j2k" //          -xw  JPEG 2000 + uncompressed
  | "jpeg-ls-lossless" // -xt
  | "jpeg-ls" //      -xu  JPEG-LS near-lossless + uncompressed
  | "rle"; //         -xr

const PROPOSAL_FLAGS: Record<StorescuProposal, string> = {
  uncompressed: "-x=",
  little: "-xe",
  big: "-xb",
  implicit: "-xi",
  deflated: "-xd",
  "jpeg-lossless": "-xs",
  jpeg8: "-xy",
  jpeg12: "-xx",
  "j2k-lossless": "-xv",
  j2k: "-xw",
  "jpeg-ls-lossless": "-xt",
  "jpeg-ls": "-xu",
  rle: "-xr",
};

/** Options of {@linkcode storescu}. */
export interface StorescuOptions extends ScuOptions {
  /** Proposed transfer syntaxes (default: storescu's own default, "uncompressed"). */
  propose?: StorescuProposal;
  /**
   * Propose the files' own transfer syntax (read from their meta headers) with the matching
   * `-x…` flag, and only the presentation contexts the files need (`-R`): how storescu sends
   * compressed files as they are. All files must share one syntax that storescu can propose
   * (see {@linkcode storescuProposalFor}); otherwise the call rejects. Overrides `propose`.
   */
  proposeCompressed?: boolean;
  /** Combine proposed transfer syntaxes in one presentation context per SOP class (`+C`). */
  combine?: boolean;
  /** Maximum PDU length we receive (`-pdu`, 4096…131072). */
  maxPdu?: number;
  /** Scan directories given in `files` (`+sd`). */
  scanDirectories?: boolean;
}

/**
 * The storescu proposal whose first choice is `transferSyntaxUid`, or `undefined` when storescu
 * cannot propose it (JPEG lossless process 14 non-SV1, HTJ2K, …: use dcmsend for those).
 */
export function storescuProposalFor(transferSyntaxUid: string): StorescuProposal | undefined {
  const byUid: Record<string, StorescuProposal> = {
    "1.2.840.10008.1.2": "implicit",
    "1.2.840.10008.1.2.1": "little",
    "1.2.840.10008.1.2.2": "big",
    "1.2.840.10008.1.2.1.99": "deflated",
    "1.2.840.10008.1.2.4.50": "jpeg8",
    "1.2.840.10008.1.2.4.51": "jpeg12",
    "1.2.840.10008.1.2.4.70": "jpeg-lossless",
    "1.2.840.10008.1.2.4.80": "jpeg-ls-lossless",
    "1.2.840.10008.1.2.4.81": "jpeg-ls",
    "1.2.840.10008.1.2.4.90": "j2k-lossless",
    "1.2.840.10008.1.2.4.91": "j2k",
    "1.2.840.10008.1.2.5": "rle",
  };
  return byUid[transferSyntaxUid];
}

/** C-STORE of `files` over one association with DCMTK `storescu`. */
export async function storescu(
  host: string,
  port: number,
  files: readonly string[],
  options: StorescuOptions = {},
): Promise<RunResult> {
  let propose = options.propose;
  if (options.proposeCompressed) {
    const syntaxes = new Set(await Promise.all(files.map(fileTransferSyntax)));
    if (syntaxes.size !== 1) {
      throw new Error(
        `storescu proposeCompressed needs files of one transfer syntax, got ${[...syntaxes].join(", ")}`,
      );
    }
    const [uid] = syntaxes as Set<string>;
    propose = storescuProposalFor(uid!);
    if (propose === undefined) throw new Error(`storescu cannot propose transfer syntax ${uid}; use dcmsend`);
  }
  const args = [
    ...aeArgs(options),
    ...(propose === undefined ? [] : [PROPOSAL_FLAGS[propose]]),
    ...(options.proposeCompressed ? ["-R"] : []),
    ...(options.combine ? ["+C"] : []),
    ...(options.maxPdu === undefined ? [] : ["-pdu", String(options.maxPdu)]),
    ...(options.scanDirectories ? ["+sd"] : []),
    ...(options.extraArgs ?? []),
    host,
    String(port),
    ...files,
  ];
  return run("storescu", args, options);
}

/** Options of {@linkcode dcmsend}. */
export interface DcmsendOptions extends ScuOptions {
  /** Decompression of compressed files when the peer refuses their syntax (default "never": send as is). */
  decompress?: "never" | "lossless" | "lossy";
  /** Scan directories given in `files` (`+sd`). */
  scanDirectories?: boolean;
  /** Maximum PDU length we receive (`-pdu`). */
  maxPdu?: number;
}

/**
 * C-STORE of `files` with DCMTK `dcmsend`, which proposes each file's own transfer syntax (and
 * by default here never decompresses, so what arrives is what the file holds).
 */
export function dcmsend(
  host: string,
  port: number,
  files: readonly string[],
  options: DcmsendOptions = {},
): Promise<RunResult> {
  const decompress = { never: "-dn", lossless: "+dls", lossy: "+dly" }[options.decompress ?? "never"];
  const args = [
    ...aeArgs(options),
    decompress,
    ...(options.scanDirectories ? ["+sd"] : []),
    ...(options.maxPdu === undefined ? [] : ["-pdu", String(options.maxPdu)]),
    ...(options.extraArgs ?? []),
    host,
    String(port),
    ...files,
  ];
  return run("dcmsend", args, options);
}

/** Options of {@linkcode startStorescp}. */
export interface StorescpOptions {
  /** Port to listen on (default: a free one; retried on a bind race). */
  port?: number;
  /** Existing directory the received files are written to. */
  outDir: string;
  /** Write data sets exactly as received (`+B`) rather than re-encoding them. */
  bitPreserving?: boolean;
  /** Our AE title (default "STORESCP"). */
  aeTitle?: string;
  /** Maximum PDU length we receive (`-pdu`, 4096…131072; DCMTK's default 16384). */
  maxPdu?: number;
  /** Accept every transfer syntax DCMTK supports (`+xa`) instead of uncompressed only. Default true. */
  acceptAll?: boolean;
  /** Accept unknown SOP classes (`-pm`). Default true. */
  promiscuous?: boolean;
  /** Receive but do not store (`--ignore`), to measure the network alone. */
  ignore?: boolean;
  /** Verbose logging (`-v`). */
  verbose?: boolean;
  /** Further arguments. */
  extraArgs?: string[];
}

/** A running `storescp`. */
export interface Storescp {
  readonly port: number;
  readonly pid: number;
  /** storescp's output so far. */
  output(): string;
  /** Stops storescp (SIGTERM, then SIGKILL). */
  stop(): Promise<void>;
}

/**
 * Starts DCMTK `storescp` with `TCP_NODELAY=1` and waits until it answers C-ECHO. Without a
 * `port` it picks a free one and retries with another if the port was taken in between.
 */
export async function startStorescp(options: StorescpOptions): Promise<Storescp> {
  const attempts = options.port === undefined ? 5 : 1;
  let lastError: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const port = options.port ?? freePort();
    const aeTitle = options.aeTitle ?? "STORESCP";
    const args = [
      "-aet",
      aeTitle,
      "-od",
      options.outDir,
      "-fe",
      ".dcm",
      ...((options.acceptAll ?? true) ? ["+xa"] : []),
      ...((options.promiscuous ?? true) ? ["-pm"] : []),
      ...(options.bitPreserving ? ["+B"] : []),
      ...(options.maxPdu === undefined ? [] : ["-pdu", String(options.maxPdu)]),
      ...(options.ignore ? ["--ignore"] : []),
      ...(options.verbose ? ["-v"] : []),
      ...(options.extraArgs ?? []),
      String(port),
    ];
    const child = spawnChild("storescp", args, { env: { ...DCMTK_ENV } });
    const stop = async () => {
      await child.stop("SIGTERM", 3000);
    };
    try {
      const deadline = Date.now() + 10_000;
      for (;;) {
        if (child.exited()) {
          throw new Error(`storescp exited at start (port ${port}): ${child.output().trim()}`);
        }
        const echo = await echoscu("127.0.0.1", port, { calledAe: aeTitle, timeoutMs: 5000 });
        if (echo.success) break;
        if (Date.now() > deadline) {
          throw new Error(`storescp did not answer C-ECHO on port ${port}: ${child.output()}`);
        }
        await delay(50);
      }
      return { port, pid: child.pid, output: child.output, stop };
    } catch (error) {
      lastError = error;
      await stop();
    }
  }
  throw lastError;
}
