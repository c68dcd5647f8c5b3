import { assert, assertEquals, assertThrows } from "../support/assert.ts";
import { type AssemblerEvent, MAX_COMMAND_BYTES, MessageAssembler } from "../../src/dimse/assembler.ts";
import { cEchoRq, CommandField, cStoreRq, DimseError, encodeCommandSet } from "../../src/dimse/command.ts";
import type { Pdv } from "../../src/ul/pdu.ts";
import { DCMTK_C_STORE_RQ, SC_SOP_CLASS, SC_SOP_INSTANCE } from "./fixtures.ts";

const STORE_RQ = encodeCommandSet(
  cStoreRq({ messageId: 9, sopClassUid: SC_SOP_CLASS, sopInstanceUid: SC_SOP_INSTANCE }),
);
const ECHO_RQ = encodeCommandSet(cEchoRq(4));

function command(pcId: number, data: Uint8Array, isLast = true): Pdv {
  return { presentationContextId: pcId, isCommand: true, isLast, data };
}

function data(pcId: number, bytes: Uint8Array, isLast: boolean): Pdv {
  return { presentationContextId: pcId, isCommand: false, isLast, data: bytes };
}

function commandEvent(events: AssemblerEvent[]) {
  assertEquals(events.length, 1);
  const [event] = events;
  assert(event?.kind === "command", "expected a command event");
  return event;
}

Deno.test("a single-fragment C-ECHO-RQ gives one command event and leaves the assembler idle", () => {
  const assembler = new MessageAssembler();
  const event = commandEvent(assembler.push(command(1, ECHO_RQ)));
  assertEquals(event.presentationContextId, 1);
  assertEquals(event.command.commandField, CommandField.CEchoRq);
  assertEquals(event.command.messageId, 4);
  assert(assembler.isIdle);
  // A second no-data-set command may follow straight away.
  commandEvent(assembler.push(command(1, ECHO_RQ)));
});

Deno.test("command fragments are concatenated, split at every possible point", () => {
  for (let cut = 1; cut < DCMTK_C_STORE_RQ.length; cut += 7) {
    const assembler = new MessageAssembler();
    assertEquals(assembler.push(command(201, DCMTK_C_STORE_RQ.subarray(0, cut), false)), []);
    assert(!assembler.isIdle);
    const event = commandEvent(assembler.push(command(201, DCMTK_C_STORE_RQ.subarray(cut))));
    assertEquals(event.command.affectedSopInstanceUid, SC_SOP_INSTANCE);
    assert(assembler.isReceivingDataSet);
  }
});

Deno.test("a command fragment is copied: the PDU buffer it came in may be reused at once", () => {
  const assembler = new MessageAssembler();
  const pduBuffer = DCMTK_C_STORE_RQ.slice();
  const cut = 40;
  assertEquals(assembler.push(command(1, pduBuffer.subarray(0, cut), false)), []);
  pduBuffer.fill(0xee); // the Upper Layer reads the next PDU into the same buffer
  const event = commandEvent(assembler.push(command(1, DCMTK_C_STORE_RQ.slice(cut))));
  assertEquals(event.command.commandField, CommandField.CStoreRq);
  assertEquals(event.command.affectedSopInstanceUid, SC_SOP_INSTANCE);
});

Deno.test("a command in many one-byte fragments", () => {
  const assembler = new MessageAssembler();
  const events = Array.from(
    STORE_RQ,
    (_, i) => assembler.push(command(3, STORE_RQ.subarray(i, i + 1), i === STORE_RQ.length - 1)),
  ).flat();
  assertEquals(commandEvent(events).command.messageId, 9);
});

Deno.test("data fragments pass through as the same Uint8Array objects, not accumulated", () => {
  const assembler = new MessageAssembler();
  commandEvent(assembler.push(command(5, STORE_RQ)));
  const fragments = [
    new Uint8Array(16384).fill(1),
    new Uint8Array(16384).fill(2),
    new Uint8Array(100).fill(3),
  ];
  const events = fragments.map((bytes, i) => assembler.push(data(5, bytes, i === fragments.length - 1)));
  events.forEach((list, i) => {
    assertEquals(list.length, 1);
    const event = list[0];
    assert(event?.kind === "data");
    assert(event.bytes === fragments[i], `fragment ${i} is the very same object`);
    assertEquals(event.isLast, i === fragments.length - 1);
    assertEquals(event.presentationContextId, 5);
  });
  assert(assembler.isIdle);
  // The next message may start.
  commandEvent(assembler.push(command(5, STORE_RQ)));
});

Deno.test("many messages in a row on different presentation contexts", () => {
  const assembler = new MessageAssembler();
  for (let i = 0; i < 10; i++) {
    const pcId = 1 + 2 * (i % 3);
    commandEvent(assembler.push(command(pcId, STORE_RQ)));
    assertEquals(assembler.push(data(pcId, new Uint8Array(2), false)).length, 1);
    assertEquals(assembler.push(data(pcId, new Uint8Array(0), true)).length, 1);
    commandEvent(assembler.push(command(pcId, ECHO_RQ)));
  }
});

Deno.test("error: data PDV before any command", () => {
  const assembler = new MessageAssembler();
  const error = assertThrows(() => assembler.push(data(1, new Uint8Array(4), true)), DimseError);
  assertEquals(error.message, "Data PDV on presentation context 1 before any command expecting a data set");
});

Deno.test("error: data for a command that said no data set", () => {
  const assembler = new MessageAssembler();
  commandEvent(assembler.push(command(1, ECHO_RQ)));
  assertThrows(
    () => assembler.push(data(1, new Uint8Array(4), true)),
    DimseError,
    "for a command that said no data set follows (Command Data Set Type 0x0101, command field 0x0030)",
  );
});

Deno.test("error: data on a different presentation context than its command", () => {
  const assembler = new MessageAssembler();
  commandEvent(assembler.push(command(1, STORE_RQ)));
  assertThrows(
    () => assembler.push(data(3, new Uint8Array(4), true)),
    DimseError,
    "Data PDV on presentation context 3 but the command expecting it came on presentation context 1",
  );
});

Deno.test("error: a new command while the data set is still expected", () => {
  const assembler = new MessageAssembler();
  commandEvent(assembler.push(command(1, STORE_RQ)));
  assertThrows(
    () => assembler.push(command(1, ECHO_RQ)),
    DimseError,
    "New command PDV on presentation context 1 while the data set of the previous command",
  );
});

Deno.test("error: a command PDV after a data PDV of the same message", () => {
  const assembler = new MessageAssembler();
  commandEvent(assembler.push(command(1, STORE_RQ)));
  assembler.push(data(1, new Uint8Array(4), false));
  assembler.push(data(1, new Uint8Array(4), false));
  assertThrows(
    () => assembler.push(command(1, STORE_RQ)),
    DimseError,
    "Command PDV on presentation context 1 after 2 data PDV(s) of the same message",
  );
});

Deno.test("error: data while a command is incomplete, and command fragments on two contexts", () => {
  const first = new MessageAssembler();
  first.push(command(1, STORE_RQ.subarray(0, 10), false));
  assertThrows(() => first.push(data(1, new Uint8Array(2), true)), DimseError, "is incomplete");

  const second = new MessageAssembler();
  second.push(command(1, STORE_RQ.subarray(0, 10), false));
  assertThrows(
    () => second.push(command(3, STORE_RQ.subarray(10), true)),
    DimseError,
    "Command fragment on presentation context 3 while a command on presentation context 1 is incomplete",
  );
});

Deno.test("error: command set over 64 KiB, counted before decoding", () => {
  const assembler = new MessageAssembler();
  const chunk = new Uint8Array(16 * 1024);
  for (let i = 0; i < 4; i++) assertEquals(assembler.push(command(1, chunk, false)), []);
  assertThrows(
    () => assembler.push(command(1, new Uint8Array(1), false)),
    DimseError,
    `exceeds ${MAX_COMMAND_BYTES} bytes (65537 received)`,
  );
});

Deno.test("error: an undecodable command set, and the assembler stays failed afterwards", () => {
  const assembler = new MessageAssembler();
  assertThrows(
    () => assembler.push(command(1, new Uint8Array([1, 2, 3]))),
    DimseError,
    "Cannot decode command set",
  );
  assertThrows(
    () => assembler.push(command(1, ECHO_RQ)),
    DimseError,
    "already failed: Cannot decode command set",
  );
  assert(!assembler.isIdle);
});
