/** A-ABORT source and reason named per PS3.8 Table 9-26 instead of "(source 0, reason 0)". */
import { assertEquals } from "../support/assert.ts";
import { abortWords } from "../../src/ul/abort_words.ts";

Deno.test("abortWords: service-user, service-provider with each reason, reserved source", () => {
  assertEquals(abortWords(0, 0), "A-ABORT by the other side's DICOM application (PS3.8 source 0)");
  assertEquals(
    abortWords(2, 2),
    "A-ABORT by the other side's DICOM network layer: a message came at the wrong moment (unexpected PDU) (PS3.8 source 2, reason 2)",
  );
  assertEquals(
    abortWords(2, 6),
    "A-ABORT by the other side's DICOM network layer: a field of a message had an invalid value (invalid PDU parameter value) (PS3.8 source 2, reason 6)",
  );
  assertEquals(
    abortWords(2, 9),
    "A-ABORT by the other side's DICOM network layer: reason code 9 (PS3.8 source 2, reason 9)",
  );
  assertEquals(abortWords(1, 0), "A-ABORT with a reserved source (PS3.8 source 1, reason 0)");
});
