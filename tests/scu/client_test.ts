/**
 * The SCU against a scripted acceptor: one test per requestor cell of PS3.8 Table 9-10 the SCU
 * goes through (Sta5 awaiting A-ASSOCIATE-AC/RJ, Sta6, Sta7 awaiting A-RELEASE-RP, the release
 * collision Sta9/Sta11), checking what it sends back and the state it ends in.
 */
import { assert, assertEquals, assertRejects } from "../support/assert.ts";
import { ScriptedPeer } from "../support/peer.ts";
import { ScuAssociation, ScuError } from "../../src/scu/client.ts";
import { encodePDataTf, encodePdu } from "../../src/ul/pdu_encode.ts";
import {
  AbortReason,
  AbortSource,
  type AssociateAc,
  type AssociateRq,
  DICOM_APPLICATION_CONTEXT,
  emptyUserInformation,
  type Pdu,
  PresentationContextResult,
} from "../../src/ul/pdu.ts";
import { cEchoRq, cEchoRsp, decodeCommandSet, encodeCommandSet } from "../../src/dimse/command.ts";
import { VERIFICATION_SOP_CLASS } from "../../src/dicom/uids.ts";

const EXPLICIT_LE = "1.2.840.10008.1.2.1";

function acFor(rq: AssociateRq, maxPduLength = 16384): AssociateAc {
  const userInformation = emptyUserInformation();
  userInformation.maxPduLength = maxPduLength;
  return {
    type: "A-ASSOCIATE-AC",
    protocolVersion: 1,
    calledAeTitle: rq.calledAeTitle,
    callingAeTitle: rq.callingAeTitle,
    applicationContextName: DICOM_APPLICATION_CONTEXT,
    presentationContexts: rq.presentationContexts.map((pc) => ({
      id: pc.id,
      result: PresentationContextResult.Acceptance,
      transferSyntax: pc.transferSyntaxes[0]!,
    })),
    userInformation,
  };
}

/** Runs `scu` against an acceptor that `script` plays; returns both outcomes. */
async function withAcceptor<T>(
  script: (peer: ScriptedPeer) => Promise<void>,
  scu: (port: number) => Promise<T>,
): Promise<T> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const played = (async () => {
    const peer = await ScriptedPeer.accept(listener);
    try {
      await script(peer);
    } finally {
      peer.close();
    }
  })();
  try {
    return await scu(listener.addr.port);
  } finally {
    await played;
    listener.close();
  }
}

function open(port: number, timeoutMs = 5000): Promise<ScuAssociation> {
  return ScuAssociation.open({
    host: "127.0.0.1",
    port,
    callingAeTitle: "TEST_SCU",
    calledAeTitle: "SCRIPTED",
    presentationContexts: [{ abstractSyntax: VERIFICATION_SOP_CLASS, transferSyntaxes: [EXPLICIT_LE] }],
    timeoutMs,
  });
}

async function expectPdu<K extends Pdu["type"]>(
  peer: ScriptedPeer,
  type: K,
): Promise<Extract<Pdu, { type: K }>> {
  const pdu = await peer.receive();
  assert(typeof pdu === "object" && pdu.type === type, `expected ${type}, got ${JSON.stringify(pdu)}`);
  return pdu as Extract<Pdu, { type: K }>;
}

/** Accepts the association; returns the A-ASSOCIATE-RQ. */
async function associate(peer: ScriptedPeer, maxPduLength = 16384): Promise<AssociateRq> {
  const rq = await expectPdu(peer, "A-ASSOCIATE-RQ");
  await peer.send(encodePdu(acFor(rq, maxPduLength)));
  return rq;
}

/** Reads one C-ECHO-RQ (a single command PDV) and answers it with Success. */
async function answerEcho(peer: ScriptedPeer): Promise<void> {
  const pdata = await expectPdu(peer, "P-DATA-TF");
  const pdv = pdata.pdvs[0]!;
  assert(pdv.isCommand && pdv.isLast);
  const rsp = encodeCommandSet(cEchoRsp(decodeCommandSet(pdv.data), 0x0000));
  await peer.send(
    encodePDataTf([{
      presentationContextId: pdv.presentationContextId,
      isCommand: true,
      isLast: true,
      data: rsp,
    }]),
  );
}

Deno.test("Sta4 + Evt2 → AE-2, Sta5 + Evt3 → AE-3 → Sta6: A-ASSOCIATE-RQ sent, A-ASSOCIATE-AC accepted", async () => {
  let rq: AssociateRq | undefined;
  const association = await withAcceptor(async (peer) => {
    rq = await associate(peer, 4096);
    await peer.waitClosed();
  }, async (port) => {
    const a = await open(port);
    assertEquals(a.state, "Sta6");
    assertEquals(a.peerMaxPduLength, 4096);
    assertEquals(a.contextFor(VERIFICATION_SOP_CLASS), 1);
    a.close();
    return a;
  });
  assertEquals(rq?.callingAeTitle, "TEST_SCU");
  assertEquals(rq?.presentationContexts.map((pc) => pc.id), [1]);
  assertEquals(association.state, "Sta1");
});

Deno.test("Sta5 + Evt4 → AE-4 → Sta1: A-ASSOCIATE-RJ is reported with its reason, connection closed", async () => {
  let closed = false;
  await withAcceptor(async (peer) => {
    await expectPdu(peer, "A-ASSOCIATE-RQ");
    await peer.send(encodePdu({ type: "A-ASSOCIATE-RJ", result: 1, source: 1, reason: 7 }));
    closed = await peer.waitClosed();
  }, async (port) => {
    await assertRejects(() => open(port), ScuError, "called AE title not recognized");
  });
  assert(closed, "the SCU closes the connection after a rejection");
});

Deno.test("Sta5 + Evt10 → AA-8: a P-DATA-TF instead of A-ASSOCIATE-AC is answered with A-ABORT (provider, unexpected PDU)", async () => {
  let abort: Pdu | undefined;
  await withAcceptor(async (peer) => {
    await expectPdu(peer, "A-ASSOCIATE-RQ");
    await peer.send(
      encodePDataTf([{ presentationContextId: 1, isCommand: true, isLast: true, data: new Uint8Array(2) }]),
    );
    abort = await expectPdu(peer, "A-ABORT");
  }, async (port) => {
    await assertRejects(() => open(port), ScuError, "Expected A-ASSOCIATE-AC, received P-DATA-TF");
  });
  assertEquals(abort, {
    type: "A-ABORT",
    source: AbortSource.ServiceProvider,
    reason: AbortReason.UnexpectedPdu,
  });
});

Deno.test("Sta5 + Evt16 → AA-3 → Sta1: an A-ABORT while associating is reported with source and reason", async () => {
  await withAcceptor(async (peer) => {
    await expectPdu(peer, "A-ASSOCIATE-RQ");
    await peer.send(encodePdu({ type: "A-ABORT", source: 2, reason: 6 }));
    await peer.waitClosed();
  }, async (port) => {
    await assertRejects(
      () => open(port),
      ScuError,
      "aborted by the peer: A-ABORT by the other side's DICOM network layer: a field of a message had an invalid value (invalid PDU parameter value) (PS3.8 source 2, reason 6)",
    );
  });
});

Deno.test("Sta5 + Evt17 → AA-4 → Sta1: the acceptor closing the connection is reported", async () => {
  await withAcceptor(async (peer) => {
    await expectPdu(peer, "A-ASSOCIATE-RQ");
  }, async (port) => {
    await assertRejects(() => open(port), ScuError, "The peer closed the connection");
  });
});

Deno.test("Sta5 + Evt19 → AA-8: an unrecognized PDU type is answered with A-ABORT (provider, unrecognized PDU)", async () => {
  let abort: Pdu | undefined;
  await withAcceptor(async (peer) => {
    await expectPdu(peer, "A-ASSOCIATE-RQ");
    await peer.send(Uint8Array.of(0x09, 0, 0, 0, 0, 0));
    abort = await expectPdu(peer, "A-ABORT");
  }, async (port) => {
    await assertRejects(() => open(port), ScuError, "Invalid PDU");
  });
  assertEquals(abort, {
    type: "A-ABORT",
    source: AbortSource.ServiceProvider,
    reason: AbortReason.UnrecognizedPdu,
  });
});

Deno.test("Sta5 + Evt15 → AA-1: no answer within the timeout sends A-ABORT (service-user source)", async () => {
  let abort: Pdu | undefined;
  await withAcceptor(async (peer) => {
    await expectPdu(peer, "A-ASSOCIATE-RQ");
    abort = await expectPdu(peer, "A-ABORT");
  }, async (port) => {
    await assertRejects(() => open(port, 200), ScuError, "No answer from the peer within 0.2 s");
  });
  assertEquals(abort, { type: "A-ABORT", source: AbortSource.ServiceUser, reason: 0 });
});

Deno.test("Sta6 + Evt9 → DT-1, Evt10 → DT-2; Sta6 + Evt11 → AR-1 → Sta7 + Evt13 → AR-3 → Sta1: echo and release", async () => {
  const status = await withAcceptor(async (peer) => {
    await associate(peer);
    await answerEcho(peer);
    await expectPdu(peer, "A-RELEASE-RQ");
    await peer.send(encodePdu({ type: "A-RELEASE-RP" }));
    await peer.waitClosed();
  }, async (port) => {
    const a = await open(port);
    const rsp = await a.request(1, cEchoRq(a.nextMessageId()));
    await a.release();
    assertEquals(a.state, "Sta1");
    return rsp.status;
  });
  assertEquals(status, 0x0000);
});

Deno.test("DT-1: a data set goes out in even PDV fragments that fit the acceptor's odd Maximum Length Received", async () => {
  const fragments: number[] = [];
  await withAcceptor(async (peer) => {
    await associate(peer, 1001);
    await expectPdu(peer, "P-DATA-TF"); // the command
    for (;;) {
      const pdata = await expectPdu(peer, "P-DATA-TF");
      const pdv = pdata.pdvs[0]!;
      fragments.push(pdv.data.length);
      if (pdv.isLast) break;
    }
    const rsp = encodeCommandSet(cEchoRsp(cEchoRq(1), 0x0000));
    await peer.send(encodePDataTf([{ presentationContextId: 1, isCommand: true, isLast: true, data: rsp }]));
    await peer.waitClosed();
  }, async (port) => {
    const a = await open(port);
    async function* reads() {
      yield new Uint8Array(999);
      yield new Uint8Array(1001);
    }
    await a.request(1, cEchoRq(a.nextMessageId()), reads());
    a.close();
  });
  // 1001 - 6 = 995 bytes would be allowed; DCMTK wants even fragments: 994.
  assertEquals(fragments, [994, 994, 12]);
});

Deno.test("Sta6 + Evt12 → AR-2, Evt14 → AR-4: an A-RELEASE-RQ instead of a response is answered with A-RELEASE-RP", async () => {
  let rp: Pdu | undefined;
  await withAcceptor(async (peer) => {
    await associate(peer);
    await expectPdu(peer, "P-DATA-TF");
    await peer.send(encodePdu({ type: "A-RELEASE-RQ" }));
    rp = await expectPdu(peer, "A-RELEASE-RP");
  }, async (port) => {
    const a = await open(port);
    await assertRejects(() => a.request(1, cEchoRq(a.nextMessageId())), ScuError, "released the association");
    assertEquals(a.state, "Sta1");
  });
  assertEquals(rp, { type: "A-RELEASE-RP" });
});

Deno.test("Sta6 + Evt16 → AA-3: an A-ABORT instead of a response is reported", async () => {
  await withAcceptor(async (peer) => {
    await associate(peer);
    await expectPdu(peer, "P-DATA-TF");
    await peer.send(encodePdu({ type: "A-ABORT", source: 0, reason: 0 }));
    await peer.waitClosed();
  }, async (port) => {
    const a = await open(port);
    await assertRejects(
      () => a.request(1, cEchoRq(a.nextMessageId())),
      ScuError,
      "aborted by the peer: A-ABORT by the other side's DICOM application (PS3.8 source 0)",
    );
  });
});

Deno.test("Sta6 + Evt3 → AA-8: an A-ASSOCIATE-AC instead of a response is answered with A-ABORT", async () => {
  let abort: Pdu | undefined;
  await withAcceptor(async (peer) => {
    const rq = await associate(peer);
    await expectPdu(peer, "P-DATA-TF");
    await peer.send(encodePdu(acFor(rq)));
    abort = await expectPdu(peer, "A-ABORT");
  }, async (port) => {
    const a = await open(port);
    await assertRejects(
      () => a.request(1, cEchoRq(a.nextMessageId())),
      ScuError,
      "Expected P-DATA-TF, received A-ASSOCIATE-AC",
    );
  });
  assertEquals(abort, {
    type: "A-ABORT",
    source: AbortSource.ServiceProvider,
    reason: AbortReason.UnexpectedPdu,
  });
});

Deno.test("Sta7 + Evt10 → AR-6 → Sta7: a P-DATA-TF while awaiting A-RELEASE-RP is passed over", async () => {
  await withAcceptor(async (peer) => {
    await associate(peer);
    await expectPdu(peer, "A-RELEASE-RQ");
    await peer.send(
      encodePDataTf([{ presentationContextId: 1, isCommand: true, isLast: true, data: new Uint8Array(2) }]),
    );
    await peer.send(encodePdu({ type: "A-RELEASE-RP" }));
    await peer.waitClosed();
  }, async (port) => {
    const a = await open(port);
    await a.release();
    assertEquals(a.state, "Sta1");
  });
});

Deno.test("Sta7 + Evt12 → AR-8 → Sta9 + Evt14 → AR-9 → Sta11 + Evt13 → AR-3: a release collision as requestor", async () => {
  const seen: string[] = [];
  await withAcceptor(async (peer) => {
    await associate(peer);
    seen.push((await expectPdu(peer, "A-RELEASE-RQ")).type);
    await peer.send(encodePdu({ type: "A-RELEASE-RQ" }));
    // PS3.8 §9.2.3 (release collision): the requestor answers first with A-RELEASE-RP ...
    seen.push((await expectPdu(peer, "A-RELEASE-RP")).type);
    // ... then the acceptor sends its own A-RELEASE-RP.
    await peer.send(encodePdu({ type: "A-RELEASE-RP" }));
    if (await peer.waitClosed()) seen.push("closed");
  }, async (port) => {
    const a = await open(port);
    await a.release();
    assertEquals(a.state, "Sta1");
  });
  assertEquals(seen, ["A-RELEASE-RQ", "A-RELEASE-RP", "closed"]);
});

Deno.test("Sta7 + Evt16 → AA-3: an A-ABORT while awaiting A-RELEASE-RP is reported", async () => {
  await withAcceptor(async (peer) => {
    await associate(peer);
    await expectPdu(peer, "A-RELEASE-RQ");
    await peer.send(encodePdu({ type: "A-ABORT", source: 2, reason: 0 }));
    await peer.waitClosed();
  }, async (port) => {
    const a = await open(port);
    await assertRejects(
      () => a.release(),
      ScuError,
      "aborted by the peer: A-ABORT by the other side's DICOM network layer: no reason given (PS3.8 source 2, reason 0)",
    );
    assertEquals(a.state, "Sta1");
  });
});

Deno.test("Sta6 + Evt15 → AA-1: abort() sends A-ABORT (service-user source) and closes", async () => {
  let abort: Pdu | undefined;
  await withAcceptor(async (peer) => {
    await associate(peer);
    abort = await expectPdu(peer, "A-ABORT");
  }, async (port) => {
    const a = await open(port);
    await a.abort();
    assertEquals(a.state, "Sta1");
  });
  assertEquals(abort, { type: "A-ABORT", source: AbortSource.ServiceUser, reason: 0 });
});
