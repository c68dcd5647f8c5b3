/**
 * `serveAssociation` against a scripted peer over a real loopback connection (port 0), after
 * pynetdicom's `parrot.py`: the peer's bytes are split into small reads or merged into one, and
 * faults no well-behaved peer makes are sent on purpose. The handler is scripted too, except in
 * the last test, where the real C-STORE provider meets a storage that throws.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { associateRq, cStorePdus, encodePdu, ScriptedPeer } from "../support/peer.ts";
import { concatBytes as concat } from "../../src/bytes.ts";
import { serveAssociation } from "../../src/ul/association.ts";
import type { AssociationPolicy } from "../../src/ul/negotiation.ts";
import { encodePDataTf } from "../../src/ul/pdu_encode.ts";
import { AbortSource, type Pdu, type Pdv } from "../../src/ul/pdu.ts";
import {
  type AssociationInfo,
  type PDataHandler,
  type PDataHandlerFactory,
  ProtocolError,
} from "../../src/ul/service_user.ts";
import { logger } from "../../src/log.ts";
import { createStorageProvider } from "../../src/dimse/service.ts";
import type { InstanceStore } from "../../src/dimse/instance_store.ts";
import { cEchoRq, CommandField, decodeCommandSet, encodeCommandSet } from "../../src/dimse/command.ts";
import { Status } from "../../src/dimse/status.ts";

const CT = "1.2.840.10008.5.1.4.1.1.2";
const VERIFICATION = "1.2.840.10008.1.1";
const EXPLICIT_LE = "1.2.840.10008.1.2.1";
const SOP = "1.2.826.0.1.3680043.9.7433.1.1";

const POLICY: AssociationPolicy = {
  aeTitle: "DICOM_GATEWAY",
  allowedCallingAeTitles: [],
  allowedAddresses: [],
  requireCalledAeTitle: false,
  maxAssociations: 4,
  maxPduLength: 16384,
  implementationClassUid: "1.2.826.0.1.3680043.9.7433.99",
  implementationVersionName: "TEST",
};

const RQ = encodePdu(associateRq([
  { id: 1, abstractSyntax: CT, transferSyntaxes: [EXPLICIT_LE] },
  { id: 3, abstractSyntax: VERIFICATION, transferSyntaxes: [EXPLICIT_LE] },
]));
const RELEASE_RQ = encodePdu({ type: "A-RELEASE-RQ" });

/** What a scripted handler saw. */
interface Seen {
  info: AssociationInfo | null;
  pdvs: { pc: number; isCommand: boolean; isLast: boolean; data: number[] }[];
  closed: ("released" | "aborted")[];
}

/**
 * A handler that records every PDV (copied) and answers each last command fragment with the
 * same bytes reversed; `fail(pdv)` may throw to script a failure.
 */
function recordingHandler(seen: Seen, fail?: (pdv: Pdv, count: number) => void): PDataHandlerFactory {
  return (info, sender): PDataHandler => {
    seen.info = info;
    return {
      async onPdv(pdv) {
        const count = seen.pdvs.push({
          pc: pdv.presentationContextId,
          isCommand: pdv.isCommand,
          isLast: pdv.isLast,
          data: [...pdv.data],
        });
        fail?.(pdv, count);
        if (pdv.isCommand && pdv.isLast) {
          await sender.send(pdv.presentationContextId, true, pdv.data.slice().reverse());
        }
      },
      onClose(how) {
        seen.closed.push(how);
        return Promise.resolve();
      },
    };
  };
}

/** Listens on a loopback port 0 and serves one association with `createHandler`. */
async function withAssociation(
  createHandler: PDataHandlerFactory,
  script: (peer: ScriptedPeer) => Promise<void>,
): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const served = (async () => {
    const conn = await listener.accept();
    await serveAssociation(conn, {
      policy: POLICY,
      activeAssociations: () => 0,
      artimTimeoutMs: 500,
      idleTimeoutMs: 5000,
      createHandler,
      log: logger("ul"),
      id: "#t",
    });
  })();
  const peer = await ScriptedPeer.connect(port);
  try {
    await script(peer);
  } finally {
    peer.close();
    await served;
    listener.close();
  }
}

async function expectPdu(peer: ScriptedPeer): Promise<Pdu> {
  const pdu = await peer.receive();
  assert(typeof pdu !== "string", `expected a PDU, got ${pdu}`);
  return pdu;
}

function pData(pc: number, isCommand: boolean, isLast: boolean, data: number[]): Uint8Array {
  return encodePDataTf([{ presentationContextId: pc, isCommand, isLast, data: Uint8Array.from(data) }]);
}

for (const [name, chunk] of [["one byte", 1], ["seven bytes", 7], ["whole PDUs", undefined]] as const) {
  Deno.test(`association: associate, P-DATA both ways, release; the peer's bytes sent ${name} at a time`, async () => {
    const seen: Seen = { info: null, pdvs: [], closed: [] };
    await withAssociation(recordingHandler(seen), async (peer) => {
      await peer.send(RQ, chunk ? { chunk } : {});
      const ac = await expectPdu(peer);
      assertEquals(ac.type, "A-ASSOCIATE-AC");
      // A command in two fragments, then a data set fragment, all in one P-DATA-TF... and apart.
      await peer.send(
        concat([pData(1, true, false, [1, 2]), pData(1, true, true, [3, 4, 5])]),
        chunk ? { chunk } : {},
      );
      await peer.send(pData(1, false, true, [9, 9]), chunk ? { chunk } : {});
      const reply = await expectPdu(peer);
      assert(reply.type === "P-DATA-TF");
      assertEquals(reply.pdvs.map((p) => [p.presentationContextId, p.isCommand, p.isLast, [...p.data]]), [
        [1, true, true, [5, 4, 3]],
      ]);
      await peer.send(RELEASE_RQ, chunk ? { chunk } : {});
      assertEquals((await expectPdu(peer)).type, "A-RELEASE-RP");
      // PS3.8 §9.2.2 (AR-4): after A-RELEASE-RP the requestor closes the connection.
      peer.close();
    });
    assertEquals(seen.info?.callingAeTitle, "TEST_SCU");
    assertEquals([...seen.info!.contexts.keys()], [1, 3]);
    assertEquals(seen.pdvs.map((p) => p.data), [[1, 2], [3, 4, 5], [9, 9]]);
    assertEquals(seen.closed, ["released"]);
  });
}

Deno.test("association: A-ASSOCIATE-RQ, P-DATA and A-RELEASE-RQ merged into one TCP write", async () => {
  const seen: Seen = { info: null, pdvs: [], closed: [] };
  await withAssociation(recordingHandler(seen), async (peer) => {
    await peer.send(concat([RQ, pData(3, true, true, [7, 8]), RELEASE_RQ]));
    assertEquals((await expectPdu(peer)).type, "A-ASSOCIATE-AC");
    const reply = await expectPdu(peer);
    assert(reply.type === "P-DATA-TF");
    assertEquals([...reply.pdvs[0]!.data], [8, 7]);
    assertEquals((await expectPdu(peer)).type, "A-RELEASE-RP");
    // PS3.8 §9.2.2 (AR-4): after A-RELEASE-RP the requestor closes the connection.
    peer.close();
  });
  assertEquals(seen.closed, ["released"]);
});

Deno.test("association: a malformed PDU after the association is accepted is answered with A-ABORT", async () => {
  const seen: Seen = { info: null, pdvs: [], closed: [] };
  await withAssociation(recordingHandler(seen), async (peer) => {
    await peer.send(RQ);
    assertEquals((await expectPdu(peer)).type, "A-ASSOCIATE-AC");
    // PDU type 0x09 does not exist (PS3.8 §9.3.1): Evt19 → AA-8.
    await peer.send(Uint8Array.of(0x09, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00));
    const abort = await expectPdu(peer);
    assert(abort.type === "A-ABORT");
    assertEquals(abort.source, AbortSource.ServiceProvider);
    assert(await peer.waitClosed());
  });
  assertEquals(seen.closed, ["aborted"]);
});

Deno.test("association: a ProtocolError from the handler aborts the association", async () => {
  const seen: Seen = { info: null, pdvs: [], closed: [] };
  const fail = () => {
    throw new ProtocolError("data set PDV without a command");
  };
  await withAssociation(recordingHandler(seen, fail), async (peer) => {
    await peer.send(RQ);
    assertEquals((await expectPdu(peer)).type, "A-ASSOCIATE-AC");
    await peer.send(pData(1, false, true, [1]));
    const abort = await expectPdu(peer);
    assert(abort.type === "A-ABORT");
    assertEquals(abort.source, AbortSource.ServiceProvider);
    assert(await peer.waitClosed());
  });
  assertEquals(seen.closed, ["aborted"]);
});

Deno.test("association: any other error from the handler leaves the association up", async () => {
  const seen: Seen = { info: null, pdvs: [], closed: [] };
  const fail = (_pdv: Pdv, count: number) => {
    if (count === 1) throw new Error("handler bug");
  };
  await withAssociation(recordingHandler(seen, fail), async (peer) => {
    await peer.send(RQ);
    assertEquals((await expectPdu(peer)).type, "A-ASSOCIATE-AC");
    await peer.send(pData(3, true, true, [1, 2]));
    await peer.send(pData(3, true, true, [3, 4]));
    const reply = await expectPdu(peer);
    assert(reply.type === "P-DATA-TF");
    assertEquals([...reply.pdvs[0]!.data], [4, 3], "the second message is handled");
    await peer.send(RELEASE_RQ);
    assertEquals((await expectPdu(peer)).type, "A-RELEASE-RP");
    // PS3.8 §9.2.2 (AR-4): after A-RELEASE-RP the requestor closes the connection.
    peer.close();
  });
  assertEquals(seen.closed, ["released"]);
});

Deno.test("association: storage throwing is a C-STORE failure status; C-ECHO and release follow", async () => {
  const store: InstanceStore = { begin: () => Promise.reject(new Error("storage bug")) };
  const createHandler: PDataHandlerFactory = (info, sender) => createStorageProvider(info, sender, { store });
  await withAssociation(createHandler, async (peer) => {
    await peer.send(RQ, { chunk: 5 });
    assertEquals((await expectPdu(peer)).type, "A-ASSOCIATE-AC");
    const pdus = cStorePdus({
      contextId: 1,
      messageId: 1,
      sopClassUid: CT,
      sopInstanceUid: SOP,
      dataset: new Uint8Array(40000),
      fragment: 16000,
    });
    await peer.send(concat(pdus), { chunk: 3000 });
    const rsp = await expectPdu(peer);
    assert(rsp.type === "P-DATA-TF");
    const storeRsp = decodeCommandSet(rsp.pdvs[0]!.data);
    assertEquals(storeRsp.commandField, CommandField.CStoreRsp);
    assertEquals(storeRsp.status, Status.OutOfResources);
    await peer.send(encodePDataTf([{
      presentationContextId: 3,
      isCommand: true,
      isLast: true,
      data: encodeCommandSet(cEchoRq(2)),
    }]));
    const echo = await expectPdu(peer);
    assert(echo.type === "P-DATA-TF");
    assertEquals(decodeCommandSet(echo.pdvs[0]!.data).status, Status.Success);
    await peer.send(RELEASE_RQ);
    assertEquals((await expectPdu(peer)).type, "A-RELEASE-RP");
    // PS3.8 §9.2.2 (AR-4): after A-RELEASE-RP the requestor closes the connection.
    peer.close();
  });
});
