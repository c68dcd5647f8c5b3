/** Tests of the DCMTK wrappers against each other: echoscu/storescu/dcmsend → storescp. */
import { assert, assertEquals, assertRejects } from "../support/assert.ts";
import {
  datasetBytesFingerprint,
  datasetFingerprint,
  fileTransferSyntax,
  makeCtSeries,
  makeTransferSyntaxSet,
} from "../../scripts/harness/data.ts";
import {
  dcmsend,
  echoscu,
  startStorescp,
  storescu,
  storescuProposalFor,
} from "../../scripts/harness/dcmtk.ts";
import { interopTest } from "../support/tools.ts";

const TOOLS = [
  "storescp",
  "storescu",
  "echoscu",
  "dcmsend",
  "dcmconv",
  "dcmcjpeg",
  "dcmcjpls",
  "dcmcrle",
  "dcmdump",
];

async function received(dir: string): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(dir)) if (entry.isFile) files.push(`${dir}/${entry.name}`);
  return files.sort();
}

interopTest("startStorescp on a free port answers echoscu; stop ends it", TOOLS, async () => {
  const out = await Deno.makeTempDir({ prefix: "dgw-dcmtk-test-" });
  const scp = await startStorescp({ outDir: out });
  try {
    const echo = await echoscu("127.0.0.1", scp.port, { calledAe: "STORESCP", callingAe: "TESTER" });
    assertEquals(echo.code, 0, echo.stderr);
  } finally {
    await scp.stop();
    await Deno.remove(out, { recursive: true });
  }
  const refused = await echoscu("127.0.0.1", scp.port, { timeoutMs: 10_000 });
  assert(!refused.success, "storescp must be gone");
});

interopTest(
  "storescu and dcmsend deliver each sample to storescp +B with its own transfer syntax",
  TOOLS,
  async () => {
    const src = await Deno.makeTempDir({ prefix: "dgw-dcmtk-test-" });
    try {
      const samples = await makeTransferSyntaxSet(src);
      const ct = await makeCtSeries(src, { count: 2, rows: 16, columns: 16 });
      for (const sample of samples) {
        const proposal = storescuProposalFor(sample.transferSyntaxUid);
        for (const tool of ["storescu", "dcmsend"] as const) {
          if (tool === "storescu" && proposal === undefined) continue;
          if (!sample.dcmtkKnows) continue; // HTJ2K: DCMTK 3.6.7 cannot send it
          // storescp does not accept JPEG lossless process 14 (non-SV1) even with +xa.
          if (sample.name === "jpeg-lossless") continue;
          // dcmsend also proposes the other uncompressed syntaxes, and storescp prefers explicit LE.
          if (tool === "dcmsend" && ["implicit-le", "explicit-be"].includes(sample.name)) continue;
          const out = await Deno.makeTempDir({ prefix: "dgw-dcmtk-test-" });
          const scp = await startStorescp({ outDir: out, bitPreserving: true });
          try {
            const result = tool === "storescu"
              ? await storescu("127.0.0.1", scp.port, [sample.path], { proposeCompressed: true })
              : await dcmsend("127.0.0.1", scp.port, [sample.path]);
            assertEquals(result.code, 0, `${tool} ${sample.name}: ${result.stderr}`);
          } finally {
            await scp.stop();
          }
          const files = await received(out);
          assertEquals(files.length, 1, `${tool} ${sample.name}: ${scp.output()}`);
          assertEquals(
            await fileTransferSyntax(files[0]!),
            sample.transferSyntaxUid,
            `${tool} ${sample.name}`,
          );
          assertEquals(
            await datasetFingerprint(files[0]!),
            await datasetFingerprint(sample.path),
            `${tool} ${sample.name}`,
          );
          await Deno.remove(out, { recursive: true });
        }
      }
      // dcmjs-written files: DCMTK re-encodes undefined-length sequences with explicit lengths,
      // so the bytes differ while the canonical fingerprint is equal.
      const out = await Deno.makeTempDir({ prefix: "dgw-dcmtk-test-" });
      const scp = await startStorescp({ outDir: out, bitPreserving: true });
      try {
        const result = await storescu("127.0.0.1", scp.port, ct, { callingAe: "CT_SCANNER" });
        assertEquals(result.code, 0, result.stderr);
      } finally {
        await scp.stop();
      }
      const files = await received(out);
      assertEquals(files.length, 2);
      const sent = new Set(await Promise.all(ct.map(datasetFingerprint)));
      for (const file of files) {
        assert(sent.has(await datasetFingerprint(file)), file);
        assert(
          !(await Promise.all(ct.map(datasetBytesFingerprint))).includes(await datasetBytesFingerprint(file)),
        );
      }
      await Deno.remove(out, { recursive: true });
    } finally {
      await Deno.remove(src, { recursive: true });
    }
  },
);

interopTest("storescu proposeCompressed refuses mixed or unsupported syntaxes", TOOLS, async () => {
  const src = await Deno.makeTempDir({ prefix: "dgw-dcmtk-test-" });
  try {
    const samples = new Map((await makeTransferSyntaxSet(src)).map((s) => [s.name, s.path]));
    await assertRejects(
      () => storescu("127.0.0.1", 1, [samples.get("rle")!, samples.get("j2k")!], { proposeCompressed: true }),
      Error,
      "one transfer syntax",
    );
    await assertRejects(
      () => storescu("127.0.0.1", 1, [samples.get("jpeg-lossless")!], { proposeCompressed: true }),
      Error,
      "use dcmsend",
    );
  } finally {
    await Deno.remove(src, { recursive: true });
  }
});
