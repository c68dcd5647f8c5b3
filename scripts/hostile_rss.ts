/**
 * Peak memory of the gateway (VmHWM of its process, `deno run -A main.ts` as in the benchmark)
 * under the hostile data sets of issue 10: each case alone on 8 concurrent associations, and all
 * of them at once, each time with normal traffic (a modality storing 512 KiB slices) alongside.
 * Prints a Markdown table; asserts nothing (the tests count buffered bytes instead).
 *
 * Usage: deno run -A scripts/hostile_rss.ts [--normal N] [--big-mb N] [--bomb-mb N]
 * @module
 */
import { parseArgs } from "node:util";
import { createDeflateRaw } from "node:zlib";
import { startGatewayProcess } from "./bench/gateway_process.ts";
import { associateRq, encodePdu, ScriptedPeer } from "../tests/support/peer.ts";
import {
  bigElementBeforeStudy,
  concat,
  CT,
  deflate,
  el,
  EXPLICIT_LE,
  header,
  identity,
  IMPLICIT_LE,
  nestedSequences,
  SOP,
  studyElements,
  UNDEFINED,
  validDataset,
} from "../tests/support/hostile.ts";
import { cStoreRq, decodeCommandSet, encodeCommandSet } from "../src/dimse/command.ts";
import { encodePDataTf } from "../src/ul/pdu_encode.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    normal: { type: "string", default: "200" },
    "big-mb": { type: "string", default: "1024" },
    "bomb-mb": { type: "string", default: "5120" },
  },
});
const NORMAL = Number(values.normal);
const BIG = Number(values["big-mb"]) * 1024 * 1024;
const BOMB = Number(values["bomb-mb"]) * 1024 * 1024;

const IMPLICIT = "1.2.840.10008.1.2";
const EXPLICIT = "1.2.840.10008.1.2.1";
const DEFLATED = "1.2.840.10008.1.2.1.99";
const CONTEXT: Record<string, number> = { [IMPLICIT]: 1, [EXPLICIT]: 3, [DEFLATED]: 5 };
const PDV = 256 * 1024 - 64;

async function associate(port: number): Promise<ScriptedPeer> {
  const peer = await ScriptedPeer.connect(port);
  await peer.send(encodePdu(associateRq([
    { id: 1, abstractSyntax: CT, transferSyntaxes: [IMPLICIT] },
    { id: 3, abstractSyntax: CT, transferSyntaxes: [EXPLICIT] },
    { id: 5, abstractSyntax: CT, transferSyntaxes: [DEFLATED] },
  ], { maxPduLength: 1 << 20, called: "DICOM_GATEWAY" })));
  const ac = await peer.receive(60_000);
  if (typeof ac === "string" || ac.type !== "A-ASSOCIATE-AC") {
    throw new Error(`not associated: ${String(ac)}`);
  }
  return peer;
}

let messageId = 1;
async function store(
  peer: ScriptedPeer,
  ts: string,
  chunks: Iterable<Uint8Array>,
  sop: string,
): Promise<number> {
  const contextId = CONTEXT[ts]!;
  const command = encodeCommandSet(
    cStoreRq({ messageId: messageId++, sopClassUid: CT, sopInstanceUid: sop }),
  );
  await peer.send(
    encodePDataTf([{ presentationContextId: contextId, isCommand: true, isLast: true, data: command }]),
  );
  let pending: Uint8Array | null = null;
  const flush = async (isLast: boolean) => {
    if (pending === null) return;
    for (let o = 0; o < pending.length; o += PDV) {
      const end = Math.min(pending.length, o + PDV);
      const data = pending.subarray(o, end);
      await peer.send(
        encodePDataTf([{
          presentationContextId: contextId,
          isCommand: false,
          isLast: isLast && end === pending.length,
          data,
        }]),
      );
    }
  };
  for (const chunk of chunks) {
    await flush(false);
    pending = chunk.slice();
  }
  await flush(true);
  const rsp = await peer.receive(600_000);
  if (typeof rsp === "string" || rsp.type !== "P-DATA-TF") throw new Error(`no C-STORE-RSP: ${String(rsp)}`);
  return decodeCommandSet(rsp.pdvs[0]!.data).status ?? -1;
}

/**
 * A bomb inflating to `inflated` bytes: private OB elements of up to 1 GiB of zeros each (a
 * 32-bit length holds at most 4 GiB), deflated as a stream (never held whole).
 */
async function streamedBomb(inflated: number): Promise<Uint8Array> {
  const deflater = createDeflateRaw({ level: 1 });
  const parts: Uint8Array[] = [];
  deflater.on("data", (c: Uint8Array) => parts.push(c));
  const done = new Promise((resolve) => deflater.on("end", resolve));
  const write = (b: Uint8Array) => new Promise<void>((r) => deflater.write(b, () => r()));
  await write(concat(identity(EXPLICIT_LE), el(0x00090010, "LO", "ACME", EXPLICIT_LE)));
  const zeros = new Uint8Array(4 * 1024 * 1024);
  for (let element = 0, left = inflated; left > 0; element++) {
    const length = Math.min(left, 1024 * 1024 * 1024);
    await write(header(0x00091010 + element, "OB", length, EXPLICIT_LE));
    for (let rest = length; rest > 0; rest -= zeros.length) {
      await write(rest >= zeros.length ? zeros : zeros.subarray(0, rest));
    }
    left -= length;
  }
  await write(studyElements(EXPLICIT_LE));
  deflater.end();
  await done;
  return concat(...parts);
}

type Case = { name: string; ts: string; data: () => Iterable<Uint8Array>; repeat: number };

async function cases(): Promise<Case[]> {
  const bomb = await streamedBomb(BOMB);
  return [
    {
      name: `${BIG / 2 ** 20} MiB element before the Study UID`,
      ts: EXPLICIT,
      data: () => bigElementBeforeStudy(BIG),
      repeat: 1,
    },
    {
      name: `deflate bomb (${(bomb.length / 2 ** 20).toFixed(1)} MB → ${BOMB / 2 ** 20} MiB)`,
      ts: DEFLATED,
      data: () => [bomb],
      repeat: 1,
    },
    { name: "10,000-level sequence", ts: EXPLICIT, data: () => [nestedSequences(10_000)], repeat: 20 },
    {
      name: "truncated pixel data",
      ts: IMPLICIT,
      data: () => [
        concat(
          identity(IMPLICIT_LE),
          studyElements(IMPLICIT_LE),
          header(0x7FE00010, "", 64 << 20, IMPLICIT_LE),
        ),
        new Uint8Array(32 << 20),
      ],
      repeat: 5,
    },
    {
      name: "0xFFFFFFF0 length",
      ts: EXPLICIT,
      data: () => [
        concat(identity(EXPLICIT_LE), header(0x00091010, "OB", 0xFFFFFFF0, EXPLICIT_LE)),
        new Uint8Array(32 << 20),
      ],
      repeat: 5,
    },
    {
      name: "sequence never closed",
      ts: EXPLICIT,
      data: () => [
        concat(
          identity(EXPLICIT_LE),
          studyElements(EXPLICIT_LE),
          header(0x00400275, "SQ", UNDEFINED, EXPLICIT_LE),
        ),
      ],
      repeat: 20,
    },
    {
      name: "valid deflate + garbage",
      ts: DEFLATED,
      data: () => [deflate(validDataset(EXPLICIT_LE)), new Uint8Array(64).fill(7)],
      repeat: 20,
    },
  ];
}

async function normalTraffic(port: number): Promise<number> {
  const peer = await associate(port);
  let ok = 0;
  try {
    for (let i = 0; i < NORMAL; i++) {
      const sop = `1.2.826.0.1.3680043.9.7433.1.${Date.now()}.${i}`;
      const status = await store(peer, EXPLICIT, [
        validDataset(EXPLICIT_LE, { sop, study: "1.2.826.0.1.3680043.9.7433.2.99", pixels: 512 * 1024 }),
      ], sop);
      if (status === 0) ok++;
    }
  } finally {
    peer.close();
  }
  return ok;
}

async function measure(label: string, attacks: Case[]): Promise<string> {
  const dataDir = await Deno.makeTempDir({ prefix: "hostile-rss-" });
  const gateway = await startGatewayProcess(dataDir, ["--no-fsync"]);
  try {
    const idle = await gateway.peakRssKb();
    const statuses: string[] = [];
    const hostile = attacks.map(async (c) => {
      const peer = await associate(gateway.port);
      try {
        for (let r = 0; r < c.repeat; r++) {
          statuses.push(
            `${c.name}: 0x${
              (await store(peer, c.ts, c.data(), SOP)).toString(16).padStart(
                4,
                "0",
              )
            }`,
          );
        }
      } finally {
        peer.close();
      }
    });
    const [ok] = await Promise.all([normalTraffic(gateway.port), ...hostile]);
    const peak = await gateway.peakRssKb();
    const distinct = [...new Set(statuses)].join("; ");
    return `| ${label} | ${attacks.length} | ${ok}/${NORMAL} | ${((idle ?? 0) / 1024).toFixed(0)} | ${
      ((peak ?? 0) / 1024).toFixed(0)
    } | ${distinct} |`;
  } finally {
    await gateway.stop();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
}

const all = await cases();
console.log(
  "| hostile load | hostile associations | normal instances stored | RSS at start (MB) | peak RSS (MB) | statuses |",
);
console.log("|---|---|---|---|---|---|");
console.log(await measure("none (normal traffic only)", []));
for (const c of all) console.log(await measure(`8 × ${c.name}`, Array.from({ length: 8 }, () => c)));
// Every kind at once, 8 associations in all (the 1 GiB and the bomb twice).
console.log(await measure("all kinds at once", [...all, all[1]!]));
