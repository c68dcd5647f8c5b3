import { assert, assertEquals, assertThrows } from "../support/assert.ts";
import {
  cEchoRq,
  cEchoRsp,
  CommandField,
  type CommandSet,
  cStoreRq,
  cStoreRsp,
  decodeCommandSet,
  DimseError,
  encodeCommandSet,
  failureRsp,
  hasDataSet,
  NO_DATA_SET,
} from "../../src/dimse/command.ts";
import { Status } from "../../src/dimse/status.ts";
import {
  DCMTK_C_ECHO_RQ,
  DCMTK_C_ECHO_RSP,
  DCMTK_C_STORE_RQ,
  DCMTK_C_STORE_RSP,
  hex,
  SC_SOP_CLASS,
  SC_SOP_INSTANCE,
} from "./fixtures.ts";

Deno.test("decodes a C-ECHO-RQ as echoscu sends it", () => {
  assertEquals(decodeCommandSet(DCMTK_C_ECHO_RQ), {
    commandField: CommandField.CEchoRq,
    affectedSopClassUid: "1.2.840.10008.1.1",
    messageId: 1,
    commandDataSetType: NO_DATA_SET,
  });
});

Deno.test("cEchoRq encodes byte for byte as echoscu does", () => {
  assertEquals(encodeCommandSet(cEchoRq(1)), DCMTK_C_ECHO_RQ);
});

Deno.test("cEchoRsp to the echoscu request encodes byte for byte as storescp answers", () => {
  const request = decodeCommandSet(DCMTK_C_ECHO_RQ);
  assertEquals(encodeCommandSet(cEchoRsp(request, Status.Success)), DCMTK_C_ECHO_RSP);
});

Deno.test("decodes a C-STORE-RQ as storescu sends it", () => {
  const command = decodeCommandSet(DCMTK_C_STORE_RQ);
  assertEquals(command, {
    commandField: CommandField.CStoreRq,
    affectedSopClassUid: SC_SOP_CLASS,
    messageId: 1,
    priority: 0,
    commandDataSetType: 0x0001,
    affectedSopInstanceUid: SC_SOP_INSTANCE,
  });
  assert(hasDataSet(command));
});

Deno.test("cStoreRq encodes byte for byte as storescu does", () => {
  const bytes = encodeCommandSet(
    cStoreRq({ messageId: 1, sopClassUid: SC_SOP_CLASS, sopInstanceUid: SC_SOP_INSTANCE }),
  );
  assertEquals(bytes, DCMTK_C_STORE_RQ);
});

Deno.test("cStoreRsp echoes the request and encodes byte for byte as storescp answers", () => {
  const request = decodeCommandSet(DCMTK_C_STORE_RQ);
  const response = cStoreRsp(request, Status.Success);
  assertEquals(response, {
    commandField: CommandField.CStoreRsp,
    messageIdBeingRespondedTo: 1,
    affectedSopClassUid: SC_SOP_CLASS,
    affectedSopInstanceUid: SC_SOP_INSTANCE,
    commandDataSetType: NO_DATA_SET,
    status: 0,
  });
  assert(!hasDataSet(response));
  assertEquals(encodeCommandSet(response), DCMTK_C_STORE_RSP);
});

Deno.test("cStoreRsp carries an error comment, made safe for LO on encode", () => {
  const request = decodeCommandSet(DCMTK_C_STORE_RQ);
  const response = cStoreRsp(request, Status.OutOfResources, "Disk full: C:\\data\u00e9 " + "x".repeat(100));
  const decoded = decodeCommandSet(encodeCommandSet(response));
  assertEquals(decoded.status, 0xA700);
  const comment = decoded.errorComment ?? "";
  assertEquals(comment.length, 64);
  assert(comment.startsWith("Disk full: C:?data? x"), comment);
  assert(!comment.includes("\\"));
});

Deno.test("encode pads UIDs with NUL and AE titles and strings with a space to even length", () => {
  const bytes = encodeCommandSet({
    commandField: CommandField.CStoreRq,
    messageId: 7,
    affectedSopClassUid: "1.2.3", // 5 characters → "1.2.3\0"
    affectedSopInstanceUid: "1.2.34", // even: no padding
    commandDataSetType: 0x0001,
    moveOriginatorAeTitle: "MOD", // → "MOD "
    moveOriginatorMessageId: 3,
    errorComment: "abc", // → "abc "
  });
  assertEquals(
    bytes,
    hex(`
      0000 0000 04000000 5c000000       # group length 92
      0000 0200 06000000 312e322e3300   # (0000,0002) "1.2.3\\0"
      0000 0001 02000000 0100           # (0000,0100) 0x0001
      0000 1001 02000000 0700           # (0000,0110) 7
      0000 0008 02000000 0100           # (0000,0800) 0x0001
      0000 0209 04000000 61626320       # (0000,0902) "abc "
      0000 0010 06000000 312e322e3334   # (0000,1000) "1.2.34"
      0000 3010 04000000 4d4f4420       # (0000,1030) "MOD "
      0000 3110 02000000 0300           # (0000,1031) 3
    `),
  );
  const decoded = decodeCommandSet(bytes);
  assertEquals(decoded.affectedSopClassUid, "1.2.3");
  assertEquals(decoded.moveOriginatorAeTitle, "MOD");
  assertEquals(decoded.errorComment, "abc");
});

Deno.test("round trip of every mapped element, offending elements as AT", () => {
  const command: CommandSet = {
    commandField: CommandField.NSetRq,
    messageId: 65535,
    messageIdBeingRespondedTo: 12,
    affectedSopClassUid: "1.2.840.10008.5.1.4.1.1.2",
    affectedSopInstanceUid: "1.2.3.4.5.6.7.8.9",
    requestedSopClassUid: "1.2.840.10008.3.1.2.3.3",
    requestedSopInstanceUid: "1.2.3.4.5",
    commandDataSetType: NO_DATA_SET,
    status: 0xC123,
    priority: 2,
    moveOriginatorAeTitle: "ORIGINATOR_AE_16",
    moveOriginatorMessageId: 99,
    errorComment: "Something went wrong",
    offendingElements: [0x00100010, 0x7FE00010],
  };
  const bytes = encodeCommandSet(command);
  assertEquals(decodeCommandSet(bytes), command);
  // The AT value: group then element, each uint16 little endian.
  const at = hex("1000 1000 e07f 1000");
  const index = bytes.findIndex((_, i) => at.every((b, j) => bytes[i + j] === b));
  assert(index > 0, "offending elements encoded as AT pairs");
  // (0000,0000) holds the length of everything after it.
  assertEquals(new DataView(bytes.buffer).getUint32(8, true), bytes.length - 12);
});

Deno.test("decode tolerates unknown group 0000 elements, space-padded UIDs, odd lengths and no group length", () => {
  const bytes = hex(`
    0000 0100 04000000 00000000                # (0000,0001) retired Length to End, no group length before it
    0000 0001 02000000 3000                    # (0000,0100) US CommandField = C-ECHO-RQ
    0000 1001 02000000 0900                    # (0000,0110) US MessageID = 9
    0000 0006 06000000 44455354 2020           # (0000,0600) AE Move Destination (not mapped): skipped
    0000 0008 02000000 0101                    # (0000,0800) US no data set
    0000 0040 03000000 616263                  # (0000,4000) retired Comments, odd length 3
    0000 0200 12000000                         # (0000,0002) UI, padded with a space, not NUL
      312e322e3834302e31303030382e312e3120
  `);
  assertEquals(decodeCommandSet(bytes), {
    commandField: 0x0030,
    messageId: 9,
    commandDataSetType: NO_DATA_SET,
    affectedSopClassUid: "1.2.840.10008.1.1",
  });
});

Deno.test("decode error: an element length running past the end names tag and offset", () => {
  const bytes = hex(`
    0000 0000 04000000 12000000               # offset 0: group length
    0000 0008 02000000 0101                   # offset 12: (0000,0800)
    0000 0001 09000000 3000 0000              # offset 22: (0000,0100) declares 9, 4 remain
  `);
  const error = assertThrows(() => decodeCommandSet(bytes), DimseError);
  assertEquals(
    error.message,
    "Cannot decode command set: element (0000,0100) at offset 22 declares length 9 but only 4 bytes remain",
  );
});

Deno.test("decode error: an element outside group 0000", () => {
  const bytes = hex(`
    0000 0001 02000000 3000                   # (0000,0100)
    0000 0008 02000000 0101                   # (0000,0800)
    0800 1600 02000000 3100                   # offset 20: (0008,0016), data set element in a command
  `);
  const error = assertThrows(() => decodeCommandSet(bytes), DimseError);
  assertEquals(
    error.message,
    "Cannot decode command set: element (0008,0016) at offset 20 is outside command group 0000",
  );
});

Deno.test("decode error: truncated element header", () => {
  const bytes = hex(`
    0000 0001 02000000 3000                   # (0000,0100)
    0000 0008 02                              # offset 10: 5 bytes of a header
  `);
  const error = assertThrows(() => decodeCommandSet(bytes), DimseError);
  assertEquals(
    error.message,
    "Cannot decode command set: 5 trailing byte(s) at offset 10 are too short for an element header (8 bytes)",
  );
});

Deno.test("decode error: a US element of the wrong size", () => {
  const bytes = hex(`
    0000 0001 04000000 30000000               # (0000,0100) US with 4 bytes
    0000 0008 02000000 0101
  `);
  const error = assertThrows(() => decodeCommandSet(bytes), DimseError);
  assertEquals(
    error.message,
    "Cannot decode command set: element (0000,0100) at offset 0 is US and must be 2 bytes long, not 4",
  );
});

Deno.test("decode error: Command Field or Command Data Set Type missing", () => {
  assertEquals(
    assertThrows(() => decodeCommandSet(hex("0000 0008 02000000 0101")), DimseError).message,
    "Cannot decode command set: Command Field (0000,0100) is missing",
  );
  assertEquals(
    assertThrows(() => decodeCommandSet(hex("0000 0001 02000000 3000")), DimseError).message,
    "Cannot decode command set: Command Data Set Type (0000,0800) is missing",
  );
  assertThrows(() => decodeCommandSet(new Uint8Array(0)), DimseError, "Command Field (0000,0100) is missing");
});

Deno.test("decode reads values from a subarray at a non-zero byte offset", () => {
  const padded = new Uint8Array(DCMTK_C_ECHO_RQ.length + 7);
  padded.set(DCMTK_C_ECHO_RQ, 7);
  assertEquals(decodeCommandSet(padded.subarray(7)).messageId, 1);
});

Deno.test("encode refuses invalid UIDs, AE titles and numbers", () => {
  const base = { commandField: CommandField.CEchoRq, commandDataSetType: NO_DATA_SET };
  assertThrows(
    () => encodeCommandSet({ ...base, affectedSopClassUid: "1".repeat(65) }),
    DimseError,
    "not a valid UID",
  );
  assertThrows(
    () => encodeCommandSet({ ...base, affectedSopClassUid: "1.2\\3" }),
    DimseError,
    "not a valid UID",
  );
  assertThrows(
    () => encodeCommandSet({ ...base, moveOriginatorAeTitle: "A".repeat(17) }),
    DimseError,
    "AE title",
  );
  assertThrows(() => encodeCommandSet({ ...base, messageId: 65536 }), DimseError, "0..65535");
  assertThrows(() => encodeCommandSet({ ...base, messageId: 1.5 }), DimseError, "0..65535");
});

Deno.test("failureRsp answers an unsupported request with the response command field", () => {
  const findRq: CommandSet = {
    commandField: CommandField.CFindRq,
    messageId: 42,
    affectedSopClassUid: "1.2.840.10008.5.1.4.1.2.2.1",
    priority: 0,
    commandDataSetType: 0x0001,
  };
  const response = failureRsp(findRq, Status.UnrecognizedOperation, "C-FIND is not supported");
  assertEquals(response, {
    commandField: CommandField.CFindRsp,
    messageIdBeingRespondedTo: 42,
    affectedSopClassUid: "1.2.840.10008.5.1.4.1.2.2.1",
    commandDataSetType: NO_DATA_SET,
    status: 0x0211,
    errorComment: "C-FIND is not supported",
  });
  assertEquals(decodeCommandSet(encodeCommandSet(response)), response);

  const nGetRq: CommandSet = {
    commandField: CommandField.NGetRq,
    messageId: 3,
    requestedSopClassUid: "1.2.840.10008.5.1.1.16",
    requestedSopInstanceUid: "1.2.3",
    commandDataSetType: NO_DATA_SET,
  };
  const nGetRsp = failureRsp(nGetRq, Status.UnrecognizedOperation);
  assertEquals(nGetRsp.commandField, CommandField.NGetRsp);
  assertEquals(nGetRsp.affectedSopClassUid, "1.2.840.10008.5.1.1.16");
  assertEquals(nGetRsp.affectedSopInstanceUid, "1.2.3");
  assertEquals(nGetRsp.errorComment, undefined);
});

Deno.test("failureRsp refuses to answer a response or a C-CANCEL-RQ", () => {
  assertThrows(
    () => failureRsp({ commandField: CommandField.CCancelRq, commandDataSetType: NO_DATA_SET }, 0x0211),
    DimseError,
    "C-CANCEL-RQ",
  );
  assertThrows(
    () => failureRsp({ commandField: CommandField.CStoreRsp, commandDataSetType: NO_DATA_SET }, 0x0211),
    DimseError,
  );
});

Deno.test("responses leave out request UIDs that cannot be encoded instead of failing", () => {
  const request: CommandSet = {
    commandField: CommandField.CStoreRq,
    messageId: 5,
    affectedSopClassUid: "1.2.840.10008.5.1.4.1.1.7",
    affectedSopInstanceUid: "9".repeat(70),
    commandDataSetType: 1,
  };
  const response = cStoreRsp(request, Status.CannotUnderstand);
  assertEquals(response.affectedSopInstanceUid, undefined);
  assertEquals(decodeCommandSet(encodeCommandSet(response)).status, 0xC000);
});

Deno.test("hasDataSet is false only for 0x0101", () => {
  assert(!hasDataSet({ commandField: 1, commandDataSetType: 0x0101 }));
  assert(hasDataSet({ commandField: 1, commandDataSetType: 0x0000 }));
  assert(hasDataSet({ commandField: 1, commandDataSetType: 0x0001 }));
  assert(hasDataSet({ commandField: 1, commandDataSetType: 0xFEFE }));
});

Deno.test("fuzz: truncations and random corruptions of real command sets throw only DimseError", () => {
  let seed = 12345;
  const random = () => (seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF) / 0x80000000;
  const fixtures = [DCMTK_C_ECHO_RQ, DCMTK_C_ECHO_RSP, DCMTK_C_STORE_RQ, DCMTK_C_STORE_RSP];
  let decoded = 0;
  for (let i = 0; i < 5000; i++) {
    const source = fixtures[i % fixtures.length]!;
    const bytes = source.slice(0, Math.floor(random() * (source.length + 1)));
    const flips = Math.floor(random() * 4);
    for (let f = 0; f < flips && bytes.length > 0; f++) {
      bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
    }
    try {
      const command = decodeCommandSet(bytes);
      decoded++;
      assertEquals(typeof command.commandField, "number");
    } catch (error) {
      if (!(error instanceof DimseError)) throw new Error(`non-DimseError for ${bytes}: ${error}`);
    }
  }
  assert(decoded > 10, `some corrupted inputs still decode (${decoded})`);
});
