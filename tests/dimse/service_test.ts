/**
 * The C-ECHO / C-STORE provider against an in-memory `InstanceStore`: what it hands storage,
 * that it answers with the status storage decides, and that a local error is answered on its
 * message while a protocol error is thrown for the UL to abort.
 */
import { assert, assertEquals, assertRejects } from "../support/assert.ts";
import { createStorageProvider, type ServiceStatistics, studyLabel } from "../../src/dimse/service.ts";
import type {
  IncomingInstance,
  InstanceReception,
  InstanceStore,
  StoreOutcome,
} from "../../src/dimse/instance_store.ts";
import {
  cEchoRq,
  CommandField,
  type CommandSet,
  cStoreRq,
  decodeCommandSet,
  encodeCommandSet,
} from "../../src/dimse/command.ts";
import { Status } from "../../src/dimse/status.ts";
import { type AssociationInfo, type PDataHandler, ProtocolError } from "../../src/ul/service_user.ts";
import type { Pdv } from "../../src/ul/pdu.ts";
import { captureLogs } from "../support/logs.ts";

const CT = "1.2.840.10008.5.1.4.1.1.2";
const EXPLICIT_LE = "1.2.840.10008.1.2.1";
const VERIFICATION = "1.2.840.10008.1.1";
const SOP = "1.2.826.0.1.3680043.9.7433.1.1";
const STUDY = "1.2.826.0.1.3680043.9.7433.2.1";

/** One instance as the fake store saw it. */
interface Received {
  instance: IncomingInstance;
  bytes: Uint8Array[];
  ended: "committed" | "discarded" | null;
}

/** An in-memory InstanceStore: keeps what it is given, answers what the test says. */
class FakeStore implements InstanceStore {
  received: Received[] = [];
  outcome: (r: Received) => StoreOutcome = () => ({
    status: Status.Success,
    stored: {
      studyInstanceUid: STUDY,
      modality: "CT",
      studyDescription: "Head",
      patientName: "Doe^J",
      size: 10,
    },
  });
  /** Makes the named step throw (a storage bug), to see the provider recover. */
  throwIn: "begin" | "write" | "commit" | null = null;

  begin(instance: IncomingInstance): Promise<InstanceReception> {
    if (this.throwIn === "begin") return Promise.reject(new Error("begin exploded"));
    const r: Received = { instance, bytes: [], ended: null };
    this.received.push(r);
    return Promise.resolve({
      write: (bytes) => {
        if (this.throwIn === "write") return Promise.reject(new Error("write exploded"));
        r.bytes.push(bytes.slice());
        return Promise.resolve();
      },
      commit: () => {
        if (this.throwIn === "commit") return Promise.reject(new Error("commit exploded"));
        r.ended = "committed";
        return Promise.resolve(this.outcome(r));
      },
      discard: () => {
        r.ended = "discarded";
        return Promise.resolve();
      },
    });
  }
}

function setup(store: InstanceStore, statistics?: ServiceStatistics) {
  const info: AssociationInfo = {
    id: "#1",
    callingAeTitle: "MODALITY",
    calledAeTitle: "DICOM_GATEWAY",
    peerAddress: "127.0.0.1",
    peerPort: 40000,
    contexts: new Map([
      [1, { id: 1, abstractSyntax: CT, transferSyntax: EXPLICIT_LE }],
      [3, { id: 3, abstractSyntax: VERIFICATION, transferSyntax: EXPLICIT_LE }],
    ]),
    peerMaxPduLength: 16384,
  };
  const replies: { pc: number; command: CommandSet }[] = [];
  const handler: PDataHandler = createStorageProvider(info, {
    send(pc, isCommand, bytes) {
      assert(isCommand, "only command sets are sent");
      replies.push({ pc, command: decodeCommandSet(bytes) });
      return Promise.resolve();
    },
  }, statistics ? { store, statistics } : { store });
  return { handler, replies };
}

function commandPdv(pc: number, command: CommandSet): Pdv {
  return { presentationContextId: pc, isCommand: true, isLast: true, data: encodeCommandSet(command) };
}

function dataPdv(pc: number, bytes: number[], isLast: boolean): Pdv {
  return { presentationContextId: pc, isCommand: false, isLast, data: Uint8Array.from(bytes) };
}

async function sendStore(handler: PDataHandler, messageId: number, sop = SOP): Promise<void> {
  await handler.onPdv(commandPdv(1, cStoreRq({ messageId, sopClassUid: CT, sopInstanceUid: sop })));
  await handler.onPdv(dataPdv(1, [1, 2, 3], false));
  await handler.onPdv(dataPdv(1, [4, 5], true));
}

Deno.test("service: C-STORE hands storage the request, the fragments in order, then answers its status", async () => {
  const store = new FakeStore();
  const statistics = { instancesStored: 0, instancesFailed: 0, bytesStored: 0 };
  const { handler, replies } = setup(store, statistics);
  await sendStore(handler, 7);
  assertEquals(store.received.length, 1);
  const r = store.received[0]!;
  assertEquals(r.instance, {
    sopClassUid: CT,
    sopInstanceUid: SOP,
    transferSyntaxUid: EXPLICIT_LE,
    callingAeTitle: "MODALITY",
    associationId: "#1",
  });
  assertEquals(r.bytes.map((b) => [...b]), [[1, 2, 3], [4, 5]]);
  assertEquals(r.ended, "committed");
  assertEquals(replies.length, 1);
  assertEquals(replies[0]!.command.commandField, CommandField.CStoreRsp);
  assertEquals(replies[0]!.command.messageIdBeingRespondedTo, 7);
  assertEquals(replies[0]!.command.status, Status.Success);
  assertEquals(statistics, { instancesStored: 1, instancesFailed: 0, bytesStored: 10 });
  await handler.onClose("released");
});

Deno.test("service: no reply before the last fragment; a refusal from storage is the answer", async () => {
  const store = new FakeStore();
  store.outcome = () => ({ status: Status.OutOfResources, comment: "disk full" });
  const statistics = { instancesStored: 0, instancesFailed: 0, bytesStored: 0 };
  const { handler, replies } = setup(store, statistics);
  await handler.onPdv(commandPdv(1, cStoreRq({ messageId: 1, sopClassUid: CT, sopInstanceUid: SOP })));
  await handler.onPdv(dataPdv(1, [1], false));
  assertEquals(replies.length, 0, "Success (or anything) only after the commit");
  await handler.onPdv(dataPdv(1, [2], true));
  assertEquals(replies[0]!.command.status, Status.OutOfResources);
  assertEquals(replies[0]!.command.errorComment, "disk full");
  assertEquals(statistics.instancesFailed, 1);
});

Deno.test("service: C-STORE-RQ without SOP Instance UID: data dropped, 0xC000, storage never asked", async () => {
  const store = new FakeStore();
  const { handler, replies } = setup(store);
  const { affectedSopInstanceUid: _, ...withoutInstance } = cStoreRq({
    messageId: 2,
    sopClassUid: CT,
    sopInstanceUid: SOP,
  });
  await handler.onPdv(commandPdv(1, withoutInstance));
  await handler.onPdv(dataPdv(1, [1, 2], true));
  assertEquals(store.received.length, 0);
  assertEquals(replies[0]!.command.status, Status.CannotUnderstand);
});

Deno.test("service: C-ECHO answered Success; an unsupported request 0x0211", async () => {
  const { handler, replies } = setup(new FakeStore());
  await handler.onPdv(commandPdv(3, cEchoRq(5)));
  assertEquals(replies[0]!.command.commandField, CommandField.CEchoRsp);
  assertEquals(replies[0]!.command.status, Status.Success);
  // C-FIND-RQ (0x0020) with no data set.
  await handler.onPdv(commandPdv(1, { commandField: 0x0020, messageId: 6, commandDataSetType: 0x0101 }));
  assertEquals(replies[1]!.command.commandField, 0x8020);
  assertEquals(replies[1]!.command.status, Status.UnrecognizedOperation);
});

for (const step of ["begin", "write", "commit"] as const) {
  Deno.test(`service: storage throwing in ${step} is answered 0xA700 on that C-STORE, and the next one works`, async () => {
    const store = new FakeStore();
    const { handler, replies } = setup(store);
    store.throwIn = step;
    await sendStore(handler, 1);
    assertEquals(replies.length, 1);
    assertEquals(replies[0]!.command.messageIdBeingRespondedTo, 1);
    assertEquals(replies[0]!.command.status, Status.OutOfResources);
    assert(replies[0]!.command.errorComment?.includes("exploded"), replies[0]!.command.errorComment);
    if (step !== "begin") assertEquals(store.received[0]!.ended, "discarded");
    store.throwIn = null;
    await sendStore(handler, 2);
    assertEquals(replies[1]!.command.messageIdBeingRespondedTo, 2);
    assertEquals(replies[1]!.command.status, Status.Success);
  });
}

Deno.test("service: fragments out of order are a ProtocolError (the UL aborts)", async () => {
  const { handler } = setup(new FakeStore());
  await assertRejects(() => handler.onPdv(dataPdv(1, [1], true)), ProtocolError);
});

Deno.test("service: an instance incomplete when the association ends is discarded", async () => {
  const store = new FakeStore();
  const { handler, replies } = setup(store);
  await handler.onPdv(commandPdv(1, cStoreRq({ messageId: 1, sopClassUid: CT, sopInstanceUid: SOP })));
  await handler.onPdv(dataPdv(1, [1], false));
  await handler.onClose("aborted");
  assertEquals(store.received[0]!.ended, "discarded");
  assertEquals(replies.length, 0);
});

for (
  const [name, command] of [
    ["C-STORE-RSP", { commandField: CommandField.CStoreRsp, messageIdBeingRespondedTo: 4, status: 0 }],
    ["C-CANCEL-RQ", { commandField: CommandField.CCancelRq, messageIdBeingRespondedTo: 4 }],
  ] as const
) {
  Deno.test(`service: a ${name} announcing a data set is ignored: data set dropped, nothing answered, logged as ignored`, async () => {
    const logs = await captureLogs();
    try {
      const store = new FakeStore();
      const { handler, replies } = setup(store);
      // Command Data Set Type 0x0000: a data set follows (PS3.7 §9.3.1 Table 9.3-1 "any other value").
      await handler.onPdv(commandPdv(1, { ...command, commandDataSetType: 0x0000 }));
      await handler.onPdv(dataPdv(1, [1, 2, 3], false));
      await handler.onPdv(dataPdv(1, [4], true));
      assertEquals(replies.length, 0);
      assertEquals(store.received.length, 0);
      const lines = logs.lines();
      assert(
        lines.some((l) => l.includes(`ignored a ${name}`) && l.includes("data set read and dropped")),
        lines.join("\n"),
      );
      assert(!lines.some((l) => l.includes("0x0211")), lines.join("\n"));
      // The association carries on: the next C-STORE is stored and answered.
      await sendStore(handler, 8);
      assertEquals(replies.length, 1);
      assertEquals(replies[0]!.command.messageIdBeingRespondedTo, 8);
      assertEquals(replies[0]!.command.status, Status.Success);
    } finally {
      await logs.dispose();
    }
  });
}

Deno.test("service: a response without a data set is ignored, not logged as answered", async () => {
  const logs = await captureLogs();
  try {
    const { handler, replies } = setup(new FakeStore());
    await handler.onPdv(
      commandPdv(3, {
        commandField: CommandField.CEchoRsp,
        messageIdBeingRespondedTo: 1,
        status: 0,
        commandDataSetType: 0x0101,
      }),
    );
    assertEquals(replies.length, 0);
    const lines = logs.lines();
    assert(
      lines.some((l) => l.includes("ignored a C-ECHO-RSP") && l.includes("nothing answered")),
      lines.join("\n"),
    );
    assert(!lines.some((l) => l.includes("answered 0x0211")), lines.join("\n"));
  } finally {
    await logs.dispose();
  }
});

Deno.test("service: an unsupported request with a data set is answered 0x0211 after its data set", async () => {
  const { handler, replies } = setup(new FakeStore());
  await handler.onPdv(commandPdv(1, { commandField: 0x0020, messageId: 9, commandDataSetType: 0x0000 }));
  assertEquals(replies.length, 0);
  await handler.onPdv(dataPdv(1, [1, 2], true));
  assertEquals(replies.length, 1);
  assertEquals(replies[0]!.command.commandField, 0x8020);
  assertEquals(replies[0]!.command.status, Status.UnrecognizedOperation);
});

Deno.test("service: a study is logged as its first image is stored, summed up at release, with no stray space", async () => {
  const logs = await captureLogs();
  try {
    const store = new FakeStore();
    const base = store.outcome;
    const { handler } = setup(store);
    store.outcome = (r) => {
      const o = base(r);
      return { ...o, stored: { ...o.stored!, studyDescription: "" } };
    };
    await sendStore(handler, 1);
    const first = logs.lines();
    const receiving = first.filter((l) => l.includes("receiving from MODALITY"));
    assertEquals(receiving.length, 1, first.join("\n"));
    assert(receiving[0]!.includes(`Study ${STUDY} (CT): receiving from MODALITY`), receiving[0]);
    assert(!first.some((l) => l.includes("instance(s) received")), "summary only at the end");
    await sendStore(handler, 2, `${SOP}.2`);
    assertEquals(logs.lines().filter((l) => l.includes("receiving from")).length, 1, "once per study");
    await handler.onClose("released");
    const lines = logs.lines();
    assert(
      lines.some((l) => l.includes(`Study ${STUDY} (CT): 2 instance(s) received from MODALITY`)),
      lines.join("\n"),
    );
    assert(!lines.some((l) => l.includes("Doe^J")), "no patient name unless patient_details is on");
    const released = lines.filter((l) => l.includes("released"));
    assertEquals(released.length, 1, lines.join("\n"));
    assert(released[0]!.includes("released: 2 instance(s) stored"), released[0]);
  } finally {
    await logs.dispose();
  }
});

Deno.test("service: an association that stored nothing (C-ECHO only) still logs its release once", async () => {
  const logs = await captureLogs();
  try {
    const { handler } = setup(new FakeStore());
    await handler.onPdv(
      commandPdv(3, { commandField: CommandField.CEchoRq, messageId: 1, commandDataSetType: 0x0101 }),
    );
    await handler.onClose("released");
    const released = logs.lines().filter((l) => l.includes("released"));
    assertEquals(released.length, 1, logs.lines().join("\n"));
    assert(released[0]!.includes("Association #1 from MODALITY released: 0 instance(s) stored"), released[0]);
  } finally {
    await logs.dispose();
  }
});

Deno.test("studyLabel joins modality and description without a stray space", () => {
  assertEquals(studyLabel("MR", "Brain"), "MR Brain");
  assertEquals(studyLabel("MR", ""), "MR");
  assertEquals(studyLabel("", " Brain "), "Brain");
  assertEquals(studyLabel("", ""), "?");
});
