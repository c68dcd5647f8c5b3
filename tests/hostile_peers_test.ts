/**
 * Issue 10 with scripted peers against a running gateway: each hostile or broken data set gets
 * its status (and nothing of a refused instance is stored), the same association and another
 * one carry on storing, and the streaming check's buffered bytes stay bounded whatever was sent
 * (counted, never timed).
 */
import { assert, assertEquals, assertStringIncludes } from "./support/assert.ts";
import { associateRq, encodePdu, ScriptedPeer } from "./support/peer.ts";
import { leftoverTemporaryFiles, listFiles, startTestGateway, type TestGateway } from "./support/gateway.ts";
import {
  bigElementBeforeStudy,
  concat,
  CT,
  deflate,
  deflateBomb,
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
} from "./support/hostile.ts";
import { cStoreRq, decodeCommandSet, encodeCommandSet } from "../src/dimse/command.ts";
import { encodePDataTf } from "../src/ul/pdu_encode.ts";
import { decodeFileMetaInformation } from "../src/store/part10.ts";
import { joinPath } from "../src/platform/fs.ts";

const IMPLICIT = "1.2.840.10008.1.2";
const EXPLICIT = "1.2.840.10008.1.2.1";
const DEFLATED = "1.2.840.10008.1.2.1.99";
const PDV_BYTES = 256 * 1024 - 64;

/** An association with one context per transfer syntax: 1 implicit, 3 explicit, 5 deflated. */
async function associate(gateway: TestGateway): Promise<ScriptedPeer> {
  const peer = await ScriptedPeer.connect(gateway.port);
  await peer.send(encodePdu(associateRq([
    { id: 1, abstractSyntax: CT, transferSyntaxes: [IMPLICIT] },
    { id: 3, abstractSyntax: CT, transferSyntaxes: [EXPLICIT] },
    { id: 5, abstractSyntax: CT, transferSyntaxes: [DEFLATED] },
  ], { maxPduLength: 1 << 20 })));
  const ac = await peer.receive();
  assert(typeof ac !== "string" && ac.type === "A-ASSOCIATE-AC", String(ac));
  return peer;
}

const CONTEXT: Record<string, number> = { [IMPLICIT]: 1, [EXPLICIT]: 3, [DEFLATED]: 5 };
let messageId = 1;

/** Sends a C-STORE whose data set comes from `chunks`; returns the C-STORE-RSP status and comment. */
async function store(
  peer: ScriptedPeer,
  ts: string,
  chunks: Iterable<Uint8Array>,
  sop = SOP,
): Promise<{ status: number; comment: string }> {
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
    for (let o = 0; o < pending.length; o += PDV_BYTES) {
      const end = Math.min(pending.length, o + PDV_BYTES);
      await peer.send(encodePDataTf([{
        presentationContextId: contextId,
        isCommand: false,
        isLast: isLast && end === pending.length,
        data: pending.subarray(o, end),
      }]));
    }
  };
  for (const chunk of chunks) {
    await flush(false);
    pending = chunk.slice();
  }
  await flush(true);
  const rsp = await peer.receive(60_000);
  assert(typeof rsp !== "string" && rsp.type === "P-DATA-TF", `no C-STORE-RSP: ${String(rsp)}`);
  const decoded = decodeCommandSet(rsp.pdvs[0]!.data);
  return { status: decoded.status ?? -1, comment: decoded.errorComment ?? "" };
}

/** The study of the normal instances (the hostile ones are in the default STUDY). */
const NORMAL_STUDY = "1.2.826.0.1.3680043.9.7433.2.99";

/** A normal instance: must succeed on any association at any time. */
async function storeNormal(peer: ScriptedPeer, n: number): Promise<void> {
  const sop = `1.2.826.0.1.3680043.9.7433.1.${n}`;
  const result = await store(peer, EXPLICIT, [
    validDataset(EXPLICIT_LE, { sop, study: NORMAL_STUDY, pixels: 8192 }),
  ], sop);
  assertEquals(result.status, 0x0000, `normal instance ${n}: ${result.comment}`);
}

async function withGateway(body: (gateway: TestGateway) => Promise<void>): Promise<void> {
  // All peers here come from 127.0.0.1: the per-host caps (tested in tests/ul) are raised so that
  // what these tests see is the content checks, not the cap on one host's connections.
  const gateway = await startTestGateway({
    fsync: false,
    maxInflatedSize: 16 * 1024 * 1024,
    maxAssociationsPerHost: 32,
    maxNegotiatingPerHost: 32,
  });
  try {
    await body(gateway);
  } finally {
    await gateway.dispose();
  }
}

/** The hostile cases, their transfer syntax, data set and the expected status and comment. */
const CASES: {
  name: string;
  ts: string;
  dataset: () => Iterable<Uint8Array>;
  status: number;
  comment: string;
}[] = [
  {
    name: "deflate bomb",
    ts: DEFLATED,
    dataset: () => [deflateBomb(64 * 1024 * 1024)],
    status: 0xA700,
    comment: "Deflated data set inflates past the limit (16 MiB)",
  },
  {
    name: "10,000-level sequence",
    ts: EXPLICIT,
    dataset: () => [nestedSequences(10_000)],
    status: 0xC000,
    comment: "Sequences nested deeper than 64",
  },
  {
    name: "truncated pixel data",
    ts: IMPLICIT,
    dataset: () => [
      concat(
        identity(IMPLICIT_LE),
        studyElements(IMPLICIT_LE),
        header(0x7FE00010, "", 1_000_000, IMPLICIT_LE),
      ),
      new Uint8Array(500_000),
    ],
    status: 0xC000,
    comment: "Data set ends inside (7FE0,0010)",
  },
  {
    name: "0xFFFFFFF0 length",
    ts: EXPLICIT,
    dataset: () => [
      concat(identity(EXPLICIT_LE), header(0x00091010, "OB", 0xFFFFFFF0, EXPLICIT_LE)),
      new Uint8Array(1000),
    ],
    status: 0xC000,
    comment: "Data set ends inside (0009,1010)",
  },
  {
    name: "sequence never closed",
    ts: EXPLICIT,
    dataset: () => [
      concat(
        identity(EXPLICIT_LE),
        studyElements(EXPLICIT_LE),
        header(0x00400275, "SQ", UNDEFINED, EXPLICIT_LE),
        header(0xFFFEE000, "", UNDEFINED, EXPLICIT_LE),
        el(0x00400007, "LO", "step", EXPLICIT_LE),
        header(0xFFFEE00D, "", 0, EXPLICIT_LE),
      ),
    ],
    status: 0xC000,
    comment: "Sequence (0040,0275) at offset",
  },
  {
    name: "valid deflate followed by garbage",
    ts: DEFLATED,
    dataset: () => [deflate(validDataset(EXPLICIT_LE)), new Uint8Array(64).fill(0x42)],
    status: 0xC000,
    comment: "Data after the end of the deflated data set",
  },
];

Deno.test("hostile peers: each case gets its status, stores nothing, and both associations carry on", async () => {
  await withGateway(async (gateway) => {
    const other = await associate(gateway);
    const hostile = await associate(gateway);
    try {
      let n = 0;
      for (const c of CASES) {
        const result = await store(hostile, c.ts, c.dataset());
        assertEquals(result.status, c.status, `${c.name}: ${result.comment}`);
        assertStringIncludes(result.comment, c.comment, c.name);
        assert(result.comment.length <= 64);
        assertEquals(await leftoverTemporaryFiles(joinPath(gateway.dataDir, "tmp")), [], c.name);
        assertEquals(gateway.index.studyProgress("1.2.826.0.1.3680043.9.7433.2.10").received, 0, c.name);
        await storeNormal(hostile, ++n);
        await storeNormal(other, ++n);
      }
      assertEquals(gateway.index.counts().pending, n);
      assert(
        gateway.instanceStore.maxBufferedBytes < 8 * 1024,
        `${gateway.instanceStore.maxBufferedBytes}`,
      );
    } finally {
      hostile.close();
      other.close();
    }
  });
});

Deno.test("hostile peers: the same cases on 6 associations at once, with normal traffic alongside", async () => {
  await withGateway(async (gateway) => {
    const normal = await associate(gateway);
    try {
      const attacks = CASES.map(async (c) => {
        const peer = await associate(gateway);
        try {
          for (let round = 0; round < 2; round++) {
            const result = await store(peer, c.ts, c.dataset());
            assertEquals(result.status, c.status, c.name);
          }
        } finally {
          peer.close();
        }
      });
      const traffic = (async () => {
        for (let i = 0; i < 20; i++) await storeNormal(normal, 100 + i);
      })();
      await Promise.all([...attacks, traffic]);
      assertEquals(gateway.index.counts().pending, 20);
      assertEquals(await leftoverTemporaryFiles(joinPath(gateway.dataDir, "tmp")), []);
    } finally {
      normal.close();
    }
  });
});

Deno.test("hostile peers: a 1 GiB element before the Study UID is stored with a bounded scan", async () => {
  await withGateway(async (gateway) => {
    const peer = await associate(gateway);
    try {
      const length = 1024 * 1024 * 1024;
      const result = await store(peer, EXPLICIT, bigElementBeforeStudy(length));
      assertEquals(result.status, 0x0000, result.comment);
      assertEquals(gateway.index.studyProgress("1.2.826.0.1.3680043.9.7433.2.10").received, 1);
      // The scan held a partial header, a frame and the kept values: under 2 KiB for 1 GiB.
      assert(gateway.instanceStore.maxBufferedBytes < 2048, `${gateway.instanceStore.maxBufferedBytes}`);
      const files = await listFiles(joinPath(gateway.dataDir, "instances"));
      assertEquals(files.length, 1);
      const size = (await Deno.stat(joinPath(gateway.dataDir, "instances", ...files[0]!.split("/")))).size;
      assert(size > length, `${size}`);
      await storeNormal(peer, 1);
    } finally {
      peer.close();
    }
  });
});

Deno.test("hostile peers: SOP Class and Instance UID written as UN (PS3.5 6.2.2) are stored as received", async () => {
  await withGateway(async (gateway) => {
    const peer = await associate(gateway);
    try {
      const rtDose = "1.2.840.10008.5.1.4.1.1.481.2";
      const sop = "1.2.826.0.1.3680043.9.7433.1.481";
      const dataset = concat(
        el(0x00080016, "UN", rtDose, EXPLICIT_LE),
        el(0x00080018, "UN", sop, EXPLICIT_LE),
        el(0x00080060, "CS", "RTDOSE", EXPLICIT_LE),
        studyElements(EXPLICIT_LE),
        el(0x7FE00010, "OW", new Uint8Array(64), EXPLICIT_LE),
      );
      const contextId = CONTEXT[EXPLICIT]!;
      const command = encodeCommandSet(
        cStoreRq({ messageId: messageId++, sopClassUid: rtDose, sopInstanceUid: sop }),
      );
      // RT Dose is not among the proposed abstract syntaxes: send it on the CT context (the gateway logs it).
      await peer.send(
        encodePDataTf([{ presentationContextId: contextId, isCommand: true, isLast: true, data: command }]),
      );
      await peer.send(
        encodePDataTf([{ presentationContextId: contextId, isCommand: false, isLast: true, data: dataset }]),
      );
      const rsp = await peer.receive();
      assert(typeof rsp !== "string" && rsp.type === "P-DATA-TF");
      assertEquals(decodeCommandSet(rsp.pdvs[0]!.data).status, 0x0000);
      const files = await listFiles(joinPath(gateway.dataDir, "instances"));
      assertEquals(files.length, 1);
      const bytes = await Deno.readFile(joinPath(gateway.dataDir, "instances", ...files[0]!.split("/")));
      const { meta, datasetOffset } = decodeFileMetaInformation(bytes);
      assertEquals(meta.mediaStorageSopInstanceUid, sop);
      assertEquals(bytes.subarray(datasetOffset), dataset);
    } finally {
      peer.close();
    }
  });
});
