/**
 * A broad corpus of files nobody here wrote, built at test time: the real images in
 * ../shared/testdata/real-images (GE, Hitachi, Siemens, Toshiba CT/MR/US, vendor private blocks)
 * in each DCMTK conversion (explicit / implicit / big endian / deflated, undefined-length
 * sequences, group lengths, RLE, JPEG-LS, JPEG lossless and baseline), and the OFFIS worklist
 * data sets Debian's dcmtk package ships (/usr/share/doc/dcmtk/examples: sequences, character
 * sets) made storable. DCMTK `dcmsend` sends each to the gateway and to DCMTK `storescp +B`; each
 * data set the gateway stores must equal, byte for byte, what storescp stores, and be indexed.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { datasetBytesFingerprint, datasetDump, newUid, parseMetaHeader } from "../../scripts/harness/data.ts";
import { dcmsend, startStorescp } from "../../scripts/harness/dcmtk.ts";
import { runCommand } from "../../scripts/harness/process.ts";
import { listFiles, startTestGateway } from "../support/gateway.ts";
import { interopTest } from "../support/tools.ts";

const TOOLS = ["dcmconv", "dcmcjpeg", "dcmcjpls", "dcmcrle", "dcmodify", "dump2dcm", "dcmsend", "storescp"];
/** ../shared/testdata/real-images next to the checkout (or a worktree's checkout), or $DICOM_GATEWAY_REAL_IMAGES. */
function realImagesDir(): string {
  const repo = new URL("../../", import.meta.url).pathname;
  const candidates = [
    Deno.env.get("DICOM_GATEWAY_REAL_IMAGES"),
    `${repo}../shared/testdata/real-images`,
    `${repo}../../shared/testdata/real-images`,
  ];
  for (const dir of candidates) {
    if (dir === undefined) continue;
    try {
      if (Deno.statSync(dir).isDirectory) return dir.endsWith("/") ? dir : `${dir}/`;
    } catch {
      // not there: the next candidate
    }
  }
  throw new Error(`no real images found (tried ${candidates.filter(Boolean).join(", ")})`);
}
const WORKLISTS = "/usr/share/doc/dcmtk/examples/wlistdb/OFFIS";

async function run(command: string, args: string[]): Promise<void> {
  const result = await runCommand(command, args);
  if (!result.success) throw new Error(`${command} ${args.join(" ")}: ${result.stderr}${result.stdout}`);
}

/** The source files: real images and the worklist data sets turned into Secondary Capture objects. */
async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  const realImages = realImagesDir();
  for await (const entry of Deno.readDir(realImages)) {
    if (entry.isFile && entry.name.endsWith(".dcm")) out.push(`${realImages}${entry.name}`);
  }
  try {
    for await (const entry of Deno.readDir(WORKLISTS)) {
      if (!entry.name.endsWith(".dump")) continue;
      const path = `${dir}/${entry.name.replace(".dump", "")}.dcm`;
      await run("dump2dcm", ["+te", `${WORKLISTS}/${entry.name}`, path]);
      // A worklist item has patient and study but no SOP instance: give it one, as a
      // Secondary Capture object, and a Study Instance UID where it lacks one.
      await run("dcmodify", [
        "-nb",
        "-i",
        "(0008,0016)=1.2.840.10008.5.1.4.1.1.7",
        "-i",
        `(0008,0018)=${newUid()}`,
        "-i",
        `(0020,000E)=${newUid()}`,
        "-i",
        `(0020,000D)=${newUid()}`,
        path,
      ]);
      out.push(path);
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  assert(out.length >= 5, `corpus sources: ${out.join(", ")}`);
  return out;
}

/** DCMTK conversions: [name, tool, arguments]. A conversion a file does not allow is skipped. */
const CONVERSIONS: [string, string, string[]][] = [
  ["as-is", "", []],
  ["explicit-le", "dcmconv", ["+te"]],
  ["implicit-le", "dcmconv", ["+ti"]],
  ["big-endian", "dcmconv", ["+tb"]],
  ["deflated", "dcmconv", ["+td"]],
  ["undefined-lengths", "dcmconv", ["+te", "-e"]],
  ["group-lengths", "dcmconv", ["+ti", "+g"]],
  ["rle", "dcmcrle", []],
  ["jpeg-ls", "dcmcjpls", []],
  ["jpeg-lossless", "dcmcjpeg", []],
  ["jpeg-baseline", "dcmcjpeg", ["+eb"]],
];

interopTest(
  "corpus: real files in many encodings, sent by DCMTK, are stored byte-identical to storescp +B",
  TOOLS,
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "corpus-" });
    const storescpDir = `${dir}/storescp`;
    await Deno.mkdir(storescpDir);
    const gateway = await startTestGateway({ fsync: false });
    const storescp = await startStorescp({ outDir: storescpDir, bitPreserving: true });
    try {
      const files: { name: string; path: string }[] = [];
      let n = 0;
      for (const source of await sources(dir)) {
        for (const [name, tool, args] of CONVERSIONS) {
          // Each variant its own SOP Instance UID (dcmodify updates the meta header too).
          const base = `${dir}/${n++}-${name}-${source.split("/").pop()}`;
          await Deno.copyFile(source, `${base}.src`);
          await run("dcmodify", ["-nb", "-m", `(0008,0018)=${newUid()}`, `${base}.src`]);
          if (tool === "") {
            await Deno.rename(`${base}.src`, base);
          } else {
            const result = await runCommand(tool, [...args, `${base}.src`, base]);
            if (!result.success) continue; // e.g. JPEG baseline of 16-bit pixels
          }
          files.push({ name: `${name} of ${source.split("/").pop()}`, path: base });
        }
      }
      assert(files.length >= 60, `${files.length} corpus files`);
      const toGateway = await dcmsend("127.0.0.1", gateway.port, files.map((f) => f.path), {
        calledAe: "DICOM_GATEWAY",
        timeoutMs: 120_000,
      });
      assert(toGateway.success, `dcmsend to the gateway: ${toGateway.stderr}${toGateway.stdout}`);
      const toStorescp = await dcmsend("127.0.0.1", storescp.port, files.map((f) => f.path), {
        calledAe: "STORESCP",
        timeoutMs: 120_000,
      });
      assert(toStorescp.success, `dcmsend to storescp: ${toStorescp.stderr}`);

      const byUid = async (root: string) => {
        const map = new Map<string, string>();
        for (const relative of await listFiles(root)) {
          if (!relative.endsWith(".dcm")) continue;
          const path = `${root}/${relative}`;
          const head = (await Deno.readFile(path)).subarray(0, 4096);
          map.set(parseMetaHeader(head).values.get("00020003") ?? "", path);
        }
        return map;
      };
      const stored = await byUid(gateway.dataDir);
      const reference = await byUid(storescpDir);
      const mismatches: string[] = [];
      for (const file of files) {
        const uid = parseMetaHeader((await Deno.readFile(file.path)).subarray(0, 4096)).values.get(
          "00020003",
        )!;
        const ours = stored.get(uid);
        const theirs = reference.get(uid);
        if (theirs === undefined) continue; // storescp refused it: nothing to compare with
        if (ours === undefined) {
          mismatches.push(`${file.name}: stored by storescp, not by the gateway`);
          continue;
        }
        if (await datasetBytesFingerprint(ours) !== await datasetBytesFingerprint(theirs)) {
          mismatches.push(
            `${file.name}: data sets differ\n${await datasetDump(ours)}\n---\n${await datasetDump(theirs)}`,
          );
        }
      }
      assertEquals(mismatches, [], mismatches.join("\n\n"));
      assertEquals(stored.size, files.length, "every corpus file was stored by the gateway");
      assertEquals(reference.size, files.length, "and by storescp");
      assertEquals(gateway.index.counts().pending, files.length);
    } finally {
      await storescp.stop();
      await gateway.dispose();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
