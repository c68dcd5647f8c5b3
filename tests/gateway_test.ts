/**
 * The receiver end to end with a scripted TCP peer: split and merged reads, garbage, oversize
 * lengths, aborts mid-instance, idle peers (ARTIM), slow peers, limits, and the DIMSE statuses.
 */
import { assert, assertEquals } from "./support/assert.ts";
import { associateRq, cStorePdus, encodePdu, ScriptedPeer } from "./support/peer.ts";
import { concatBytes as concat } from "../src/bytes.ts";
import { leftoverTemporaryFiles, listFiles, startTestGateway } from "./support/gateway.ts";
import { CT_IMAGE_STORAGE, IMPLICIT_VR_LE, tinyDataset } from "./support/dataset.ts";
import { decodeCommandSet, encodeCommandSet } from "../src/dimse/command.ts";
import { encodePDataTf } from "../src/ul/pdu_encode.ts";
import type { Pdu } from "../src/ul/pdu.ts";
import { echo } from "../src/scu/operations.ts";
import { captureLogs } from "./support/logs.ts";

const VERIFICATION = "1.2.840.10008.1.1";
const CT_CONTEXT = { id: 1, abstractSyntax: CT_IMAGE_STORAGE, transferSyntaxes: [IMPLICIT_VR_LE] };

function statusOf(pdu: Pdu | "closed" | "timeout"): number {
  if (typeof pdu === "string" || pdu.type !== "P-DATA-TF") {
    throw new Error(`expected P-DATA-TF, got ${typeof pdu === "string" ? pdu : pdu.type}`);
  }
  const pdv = pdu.pdvs[0]!;
  assert(pdv.isCommand && pdv.isLast);
  return decodeCommandSet(pdv.data).status!;
}

async function associate(
  port: number,
  options: Parameters<typeof associateRq>[1] = {},
  from: { localAddress?: string } = {},
) {
  const peer = await ScriptedPeer.connect(port, from);
  await peer.send(
    encodePdu(
      associateRq(
        [CT_CONTEXT, { id: 3, abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_VR_LE] }],
        options,
      ),
    ),
  );
  const ac = await peer.receive();
  assert(
    typeof ac !== "string" && ac.type === "A-ASSOCIATE-AC",
    `expected A-ASSOCIATE-AC, got ${JSON.stringify(ac)}`,
  );
  return peer;
}

async function storeTiny(
  peer: ScriptedPeer,
  uid: string,
  options: { chunk?: number; merged?: boolean } = {},
) {
  const pdus = cStorePdus({
    contextId: 1,
    messageId: 1,
    sopClassUid: CT_IMAGE_STORAGE,
    sopInstanceUid: uid,
    dataset: tinyDataset({ sopInstanceUid: uid, pixelBytes: 40000 }),
    fragment: 10000,
  });
  if (options.merged) await peer.send(concat(pdus), options.chunk ? { chunk: options.chunk } : {});
  else for (const p of pdus) await peer.send(p, options.chunk ? { chunk: options.chunk } : {});
  return statusOf(await peer.receive());
}

async function release(peer: ScriptedPeer) {
  await peer.send(encodePdu({ type: "A-RELEASE-RQ" }));
  const rp = await peer.receive();
  assert(typeof rp !== "string" && rp.type === "A-RELEASE-RP");
  peer.close();
}

Deno.test("C-ECHO from our SCU answers Success", async () => {
  const gw = await startTestGateway();
  try {
    const status = await echo({
      host: "127.0.0.1",
      port: gw.port,
      callingAeTitle: "ECHO",
      calledAeTitle: "DICOM_GATEWAY",
    });
    assertEquals(status, 0);
  } finally {
    await gw.dispose();
  }
});

Deno.test("PDUs split into 1..7-byte reads and merged into one write are both reassembled", async () => {
  const gw = await startTestGateway();
  try {
    const peer = await ScriptedPeer.connect(gw.port);
    await peer.send(encodePdu(associateRq([CT_CONTEXT])), { chunk: 1 });
    const ac = await peer.receive();
    assert(typeof ac !== "string" && ac.type === "A-ASSOCIATE-AC");
    assertEquals(await storeTiny(peer, "1.2.3.4.1", { chunk: 7 }), 0x0000);
    assertEquals(await storeTiny(peer, "1.2.3.4.2", { merged: true }), 0x0000);
    await release(peer);
    const files = await listFiles(`${gw.dataDir}/instances`);
    assertEquals(files.length, 2);
    assertEquals(gw.index.counts().pending, 2);
    assertEquals(await leftoverTemporaryFiles(`${gw.dataDir}/tmp`), []);
  } finally {
    await gw.dispose();
  }
});

Deno.test("garbage instead of a PDU is answered with A-ABORT and the connection is closed; others carry on", async () => {
  const gw = await startTestGateway();
  try {
    const good = await associate(gw.port);
    const bad = await ScriptedPeer.connect(gw.port);
    await bad.send(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    const reply = await bad.receive();
    assert(typeof reply !== "string" && reply.type === "A-ABORT", `got ${JSON.stringify(reply)}`);
    assert(await bad.waitClosed(), "garbage connection should be closed");
    assertEquals(await storeTiny(good, "1.2.3.5.1"), 0x0000);
    await release(good);
  } finally {
    await gw.dispose();
  }
});

Deno.test("a declared PDU length above our maximum is refused from the header alone", async () => {
  const gw = await startTestGateway({ maxPduLength: 16384 });
  try {
    const peer = await associate(gw.port);
    // P-DATA-TF header declaring 2 GiB; no body follows. PS3.8 Table 9-22: type 04, reserved, length.
    await peer.send(new Uint8Array([0x04, 0x00, 0x7f, 0xff, 0xff, 0xff]));
    const reply = await peer.receive();
    assert(typeof reply !== "string" && reply.type === "A-ABORT", `got ${JSON.stringify(reply)}`);
    assertEquals(reply.source, 2);
    assert(await peer.waitClosed());
  } finally {
    await gw.dispose();
  }
});

Deno.test("a command split over two P-DATA-TF PDUs, then many data PDUs: the file holds the bytes sent", async () => {
  // The receiver reuses its P-DATA-TF buffers once a PDU is handled: the first command fragment
  // must survive the next PDU landing in the same memory, and every data set byte must reach the
  // file before its buffer is reused.
  const gw = await startTestGateway();
  try {
    const peer = await associate(gw.port);
    const uid = "1.2.3.4.9";
    const dataset = tinyDataset({ sopInstanceUid: uid, pixelBytes: 300000 });
    const [commandPdu, ...dataPdus] = cStorePdus({
      contextId: 1,
      messageId: 1,
      sopClassUid: CT_IMAGE_STORAGE,
      sopInstanceUid: uid,
      dataset,
      fragment: 10000,
    });
    // PS3.8 Table 9-23: the PDV item starts after the 6-byte PDU header; its data after 6 more.
    const command = commandPdu!.subarray(12);
    const half = Math.ceil(command.length / 2); // the second PDU fits the first one's buffer
    await peer.send(
      encodePDataTf([{
        presentationContextId: 1,
        isCommand: true,
        isLast: false,
        data: command.subarray(0, half),
      }]),
    );
    // A pause, so the gateway handles the first PDU (and frees its buffer) before the second arrives.
    await new Promise((r) => setTimeout(r, 100));
    await peer.send(
      encodePDataTf([{
        presentationContextId: 1,
        isCommand: true,
        isLast: true,
        data: command.subarray(half),
      }]),
    );
    await peer.send(concat(dataPdus));
    assertEquals(statusOf(await peer.receive()), 0x0000);
    await release(peer);
    const [file] = await listFiles(`${gw.dataDir}/instances`);
    const stored = await Deno.readFile(`${gw.dataDir}/instances/${file}`);
    assertEquals(stored.subarray(stored.length - dataset.length), dataset);
  } finally {
    await gw.dispose();
  }
});

Deno.test("an A-ABORT or a dropped connection mid-instance leaves nothing behind", async () => {
  const gw = await startTestGateway();
  try {
    for (const how of ["abort", "drop"] as const) {
      const peer = await associate(gw.port);
      const pdus = cStorePdus({
        contextId: 1,
        messageId: 1,
        sopClassUid: CT_IMAGE_STORAGE,
        sopInstanceUid: `1.2.3.6.${how === "abort" ? 1 : 2}`,
        dataset: tinyDataset({ sopInstanceUid: "1.2.3.6", pixelBytes: 100000 }),
        fragment: 10000,
      });
      for (const p of pdus.slice(0, 4)) await peer.send(p);
      if (how === "abort") await peer.send(encodePdu({ type: "A-ABORT", source: 0, reason: 0 }));
      peer.close();
    }
    // The gateway notices asynchronously: wait until both associations have been accepted and ended.
    for (let i = 0; i < 100 && (gw.associations.total < 2 || gw.associations.active > 0); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assertEquals({ total: gw.associations.total, active: gw.associations.active }, { total: 2, active: 0 });
    assertEquals(await leftoverTemporaryFiles(`${gw.dataDir}/tmp`), []);
    assertEquals(await listFiles(`${gw.dataDir}/instances`), []);
    assertEquals(gw.index.counts().pending, 0);
  } finally {
    await gw.dispose();
  }
});

Deno.test("an idle connection that never sends A-ASSOCIATE-RQ is closed by the ARTIM timer", async () => {
  const gw = await startTestGateway({ artimTimeoutMs: 300 });
  try {
    const peer = await ScriptedPeer.connect(gw.port);
    assert(await peer.waitClosed(5000), "ARTIM should close the idle connection");
  } finally {
    await gw.dispose();
  }
});

Deno.test("an established association idle past the idle timeout is aborted", async () => {
  const gw = await startTestGateway({ idleTimeoutMs: 300 });
  try {
    const peer = await associate(gw.port);
    const reply = await peer.receive(5000);
    assert(typeof reply !== "string" && reply.type === "A-ABORT", `got ${JSON.stringify(reply)}`);
  } finally {
    await gw.dispose();
  }
});

/** Sends one C-STORE in `chunk`-byte pieces `delayMs` apart and expects Success. */
async function storeDribbled(
  overrides: Parameters<typeof startTestGateway>[0],
  uid: string,
  o: { pixelBytes: number; chunk: number; delayMs: number },
) {
  const gw = await startTestGateway(overrides);
  try {
    const peer = await associate(gw.port);
    const pdus = cStorePdus({
      contextId: 1,
      messageId: 1,
      sopClassUid: CT_IMAGE_STORAGE,
      sopInstanceUid: uid,
      dataset: tinyDataset({ sopInstanceUid: uid, pixelBytes: o.pixelBytes }),
      fragment: 1000,
    });
    await peer.send(concat(pdus), { chunk: o.chunk, delayMs: o.delayMs });
    assertEquals(statusOf(await peer.receive()), 0);
    await release(peer);
  } finally {
    await gw.dispose();
  }
}

Deno.test("a slow peer dribbling its data set is served", async () => {
  await storeDribbled({}, "1.2.3.7", { pixelBytes: 4000, chunk: 500, delayMs: 20 });
});

Deno.test("the idle timeout counts from the last complete PDU: a peer completing one every 150 ms for longer is served", async () => {
  // About 20 pieces, 50 ms apart: over twice the idle timeout in all, never near it between reads.
  await storeDribbled({ idleTimeoutMs: 500 }, "1.2.3.8", { pixelBytes: 6000, chunk: 350, delayMs: 50 });
});

Deno.test("beyond the association cap: A-ASSOCIATE-RJ transient, service-provider (presentation), local-limit-exceeded", async () => {
  const gw = await startTestGateway({ maxAssociations: 1 });
  try {
    const first = await associate(gw.port);
    const second = await ScriptedPeer.connect(gw.port);
    await second.send(encodePdu(associateRq([CT_CONTEXT])));
    const rj = await second.receive();
    assert(typeof rj !== "string" && rj.type === "A-ASSOCIATE-RJ", `got ${JSON.stringify(rj)}`);
    assertEquals([rj.result, rj.source, rj.reason], [2, 3, 2]);
    second.close();
    assertEquals(await storeTiny(first, "1.2.3.8"), 0);
    await release(first);
    assertEquals(gw.associations.rejected, 1);
  } finally {
    await gw.dispose();
  }
});

Deno.test("a calling AE title not on the allow-list is rejected permanent / user / calling-AE-not-recognized", async () => {
  const gw = await startTestGateway({ allowedCallingAeTitles: ["CT_SCANNER"] });
  try {
    const peer = await ScriptedPeer.connect(gw.port);
    await peer.send(encodePdu(associateRq([CT_CONTEXT], { calling: "INTRUDER" })));
    const rj = await peer.receive();
    assert(typeof rj !== "string" && rj.type === "A-ASSOCIATE-RJ");
    assertEquals([rj.result, rj.source, rj.reason], [1, 1, 3]);
    peer.close();
    const ok = await associate(gw.port, { calling: "CT_SCANNER" });
    await release(ok);
  } finally {
    await gw.dispose();
  }
});

Deno.test("DIMSE statuses: 0xA900 on UID mismatch, 0xC000 on garbage data set, 0x0211 on C-FIND; association lives on", async () => {
  const gw = await startTestGateway();
  try {
    const peer = await associate(gw.port);
    // Data set whose SOP Instance UID differs from the command's Affected SOP Instance UID.
    const mismatch = cStorePdus({
      contextId: 1,
      messageId: 1,
      sopClassUid: CT_IMAGE_STORAGE,
      sopInstanceUid: "1.2.3.9.1",
      dataset: tinyDataset({ sopInstanceUid: "1.2.3.9.999" }),
    });
    for (const p of mismatch) await peer.send(p);
    assertEquals(statusOf(await peer.receive()), 0xa900);
    // A data set that is not DICOM at all.
    const garbage = cStorePdus({
      contextId: 1,
      messageId: 2,
      sopClassUid: CT_IMAGE_STORAGE,
      sopInstanceUid: "1.2.3.9.2",
      dataset: new Uint8Array([0xde, 0xad, 0xbe, 0xef, 1, 2, 3]),
    });
    for (const p of garbage) await peer.send(p);
    assertEquals(statusOf(await peer.receive()) & 0xf000, 0xc000);
    // A C-FIND-RQ (command field 0x0020) on the storage context: unrecognized operation.
    const find = encodeCommandSet({
      commandField: 0x0020,
      messageId: 3,
      affectedSopClassUid: CT_IMAGE_STORAGE,
      commandDataSetType: 0x0101,
      priority: 0,
    });
    await peer.send(encodePDataTf([{ presentationContextId: 1, isCommand: true, isLast: true, data: find }]));
    assertEquals(statusOf(await peer.receive()), 0x0211);
    // Still usable.
    assertEquals(await storeTiny(peer, "1.2.3.9.3"), 0);
    await release(peer);
    assertEquals(await leftoverTemporaryFiles(`${gw.dataDir}/tmp`), []);
    assertEquals(gw.index.counts().pending, 1);
  } finally {
    await gw.dispose();
  }
});

Deno.test("the same SOP instance received twice is answered Success twice and kept once (the later copy)", async () => {
  const gw = await startTestGateway();
  try {
    const peer = await associate(gw.port);
    assertEquals(await storeTiny(peer, "1.2.3.10"), 0);
    const second = tinyDataset({ sopInstanceUid: "1.2.3.10", patientName: "SECOND^COPY", pixelBytes: 40000 });
    for (
      const p of cStorePdus({
        contextId: 1,
        messageId: 2,
        sopClassUid: CT_IMAGE_STORAGE,
        sopInstanceUid: "1.2.3.10",
        dataset: second,
      })
    ) await peer.send(p);
    assertEquals(statusOf(await peer.receive()), 0);
    await release(peer);
    const files = await listFiles(`${gw.dataDir}/instances`);
    assertEquals(files.length, 1);
    const bytes = await Deno.readFile(`${gw.dataDir}/instances/${files[0]}`);
    assert(new TextDecoder().decode(bytes).includes("SECOND^COPY"));
    assertEquals(gw.index.counts().pending, 1);
  } finally {
    await gw.dispose();
  }
});

Deno.test("a P-DATA-TF before the association is negotiated is aborted", async () => {
  const gw = await startTestGateway();
  try {
    const peer = await ScriptedPeer.connect(gw.port);
    await peer.send(
      encodePDataTf([{ presentationContextId: 1, isCommand: true, isLast: true, data: new Uint8Array(4) }]),
    );
    const reply = await peer.receive();
    assert(typeof reply !== "string" && reply.type === "A-ABORT", `got ${JSON.stringify(reply)}`);
    assert(await peer.waitClosed());
  } finally {
    await gw.dispose();
  }
});

Deno.test("patient names reach the log only when logs.patient_details is on", async () => {
  const logs = await captureLogs();
  const text = () => logs.lines();
  try {
    for (const logPatientDetails of [false, true]) {
      logs.records.length = 0;
      const gw = await startTestGateway({ logPatientDetails });
      try {
        const peer = await associate(gw.port);
        assertEquals(await storeTiny(peer, "1.2.3.20"), 0);
        await release(peer);
        const deadline = Date.now() + 5000;
        while (!text().some((t) => t.includes("received from")) && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 20));
        }
        const studyLine = text().find((t) => t.includes("received from"));
        assert(studyLine !== undefined, `no study line in ${text().join("\n")}`);
        assertEquals(studyLine.includes("TEST^PATIENT"), logPatientDetails, studyLine);
        if (!logPatientDetails) {
          for (const t of text()) assert(!t.includes("TEST^PATIENT"), `patient name logged: ${t}`);
        }
      } finally {
        await gw.dispose();
      }
    }
  } finally {
    await logs.dispose();
  }
});

Deno.test("ARTIM is one deadline: a connection dribbling its A-ASSOCIATE-RQ a byte at a time is closed", async () => {
  const logs = await captureLogs();
  const gw = await startTestGateway({ artimTimeoutMs: 300 });
  try {
    const peer = await ScriptedPeer.connect(gw.port);
    // A byte every 100 ms: the request would take over 5 s to arrive; a timer restarted by each
    // byte would never expire.
    const rq = encodePdu(associateRq([CT_CONTEXT]));
    assert(rq.length * 100 > 5000);
    const dribbling = peer.send(rq, { chunk: 1, delayMs: 100 }).catch(() => {});
    assert(await peer.waitClosed(5000), "the ARTIM timer should close the connection");
    peer.close();
    await dribbling;
    const lines = logs.lines();
    assert(lines.some((l) => l.includes("no complete A-ASSOCIATE-RQ")), lines.join("\n"));
    // Others carry on.
    await release(await associate(gw.port));
  } finally {
    await gw.dispose();
    await logs.dispose();
  }
});

Deno.test("progress timeout: an association whose PDU never completes is aborted, though bytes keep coming", async () => {
  const logs = await captureLogs();
  const gw = await startTestGateway({ idleTimeoutMs: 300 });
  try {
    const peer = await associate(gw.port);
    // A C-STORE's command PDU sent a byte every 50 ms (as the lock-out peers do, faster).
    const [command] = cStorePdus({
      contextId: 1,
      messageId: 1,
      sopClassUid: CT_IMAGE_STORAGE,
      sopInstanceUid: "1.2.3.50",
      dataset: tinyDataset({ sopInstanceUid: "1.2.3.50", pixelBytes: 4000 }),
      fragment: 1000,
    });
    // Over 4 s for the whole PDU; the abort is due 300 ms after the association was accepted.
    assert(command!.length * 50 > 4000);
    const dribbling = peer.send(command!, { chunk: 1, delayMs: 50 }).catch(() => {});
    const reply = await peer.receive(3000);
    assert(typeof reply !== "string" && reply.type === "A-ABORT", `got ${JSON.stringify(reply)}`);
    peer.close();
    await dribbling;
    const lines = logs.lines();
    assert(lines.some((l) => l.includes("no PDU completed for")), lines.join("\n"));
  } finally {
    await gw.dispose();
    await logs.dispose();
  }
});

Deno.test("per-host association cap: A-ASSOCIATE-RJ 2/3/2 for the host over it, another host still stores", async () => {
  const logs = await captureLogs();
  const gw = await startTestGateway({ maxAssociationsPerHost: 2, maxAssociations: 10 });
  try {
    const held = [
      await associate(gw.port, {}, { localAddress: "127.0.0.2" }),
      await associate(gw.port, {}, { localAddress: "127.0.0.2" }),
    ];
    for (let i = 0; i < 3; i++) {
      const over = await ScriptedPeer.connect(gw.port, { localAddress: "127.0.0.2" });
      await over.send(encodePdu(associateRq([CT_CONTEXT])));
      const rj = await over.receive();
      assert(typeof rj !== "string" && rj.type === "A-ASSOCIATE-RJ", `got ${JSON.stringify(rj)}`);
      // PS3.8 Table 9-21: rejected-transient, service-provider (presentation), local-limit-exceeded.
      assertEquals([rj.result, rj.source, rj.reason], [2, 3, 2]);
      over.close();
    }
    const other = await associate(gw.port);
    assertEquals(await storeTiny(other, "1.2.3.51"), 0);
    await release(other);
    for (const peer of held) await release(peer);
    assertEquals(gw.associations.rejected, 3);
    const rejected = logs.lines().filter((l) => l.includes("rejected:"));
    assertEquals(
      rejected.length,
      1,
      "three refusals of one host within a minute: one log line\n" + rejected.join("\n"),
    );
    assert(rejected[0]!.includes("127.0.0.2") && rejected[0]!.includes("per host"), rejected[0]);
  } finally {
    await gw.dispose();
    await logs.dispose();
  }
});

Deno.test("per-host negotiating cap: a host's next silent connection is closed at once, another host associates", async () => {
  const logs = await captureLogs();
  const gw = await startTestGateway({ maxNegotiatingPerHost: 2, artimTimeoutMs: 30_000 });
  try {
    const silent = [
      await ScriptedPeer.connect(gw.port, { localAddress: "127.0.0.2" }),
      await ScriptedPeer.connect(gw.port, { localAddress: "127.0.0.2" }),
    ];
    // The ARTIM timer (30 s) is far away: what closes these is the cap.
    for (let i = 0; i < 3; i++) {
      const over = await ScriptedPeer.connect(gw.port, { localAddress: "127.0.0.2" });
      assert(await over.waitClosed(5000), "over the cap: closed");
      over.close();
    }
    const other = await associate(gw.port);
    assertEquals(await storeTiny(other, "1.2.3.52"), 0);
    await release(other);
    // Once one of them has negotiated, the host has room again.
    await silent[0]!.send(encodePdu(associateRq([CT_CONTEXT])));
    const ac = await silent[0]!.receive();
    assert(typeof ac !== "string" && ac.type === "A-ASSOCIATE-AC", `got ${JSON.stringify(ac)}`);
    const again = await associate(gw.port, {}, { localAddress: "127.0.0.2" });
    await release(again);
    await release(silent[0]!);
    silent[1]!.close();
    const refused = logs.lines().filter((l) => l.includes("Refused a connection"));
    assertEquals(refused.length, 1, refused.join("\n"));
    assert(refused[0]!.includes("not yet associated"), refused[0]);
  } finally {
    await gw.dispose();
    await logs.dispose();
  }
});

Deno.test("default per-host caps: a sender opening 8 associations at the same instant gets all 8", async () => {
  const gw = await startTestGateway();
  try {
    // All 8 TCP connections first (none has sent its A-ASSOCIATE-RQ yet: 8 negotiating at once),
    // then the 8 requests, as a PACS with 8 parallel associations does.
    const peers = await Promise.all(Array.from({ length: 8 }, () => ScriptedPeer.connect(gw.port)));
    await Promise.all(peers.map((p) => p.send(encodePdu(associateRq([CT_CONTEXT])))));
    const answers = await Promise.all(peers.map((p) => p.receive()));
    for (const ac of answers) {
      assert(typeof ac !== "string" && ac.type === "A-ASSOCIATE-AC", `got ${JSON.stringify(ac)}`);
    }
    await Promise.all(peers.map((p, i) => storeTiny(p, `1.2.3.60.${i}`).then((s) => assertEquals(s, 0))));
    await Promise.all(peers.map(release));
  } finally {
    await gw.dispose();
  }
});
