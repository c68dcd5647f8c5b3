import { assertEquals } from "../support/assert.ts";
import { describeStatus, formatStatus, Status, statusCategory } from "../../src/dimse/status.ts";

Deno.test("statusCategory: success, cancel and pending codes", () => {
  assertEquals(statusCategory(0x0000), "success");
  assertEquals(statusCategory(Status.Cancel), "cancel");
  assertEquals(statusCategory(0xFF00), "pending");
  assertEquals(statusCategory(0xFF01), "pending");
});

Deno.test("statusCategory: C-STORE warnings (PS3.4 B.2.3) and the Bxxx range", () => {
  for (const code of [0xB000, 0xB006, 0xB007, 0xB123, 0xBFFF, 0x0001, 0x0107, 0x0116]) {
    assertEquals(statusCategory(code), "warning", formatStatus(code));
  }
});

Deno.test("statusCategory: failures, named and by range", () => {
  const failures = [
    0xA700, // out of resources
    0xA7FF, // A7xx
    0xA900, // data set does not match SOP class
    0xA9A1,
    0xC000, // cannot understand
    0xCFFF,
    0xA801,
    0x0110,
    0x0111,
    0x0117,
    0x0118,
    0x0122,
    0x0124,
    0x0210,
    0x0211,
    0x0212,
    0x0213,
    0xFE01, // not the cancel code itself
    0x1234, // unknown: treated as failure
  ];
  for (const code of failures) assertEquals(statusCategory(code), "failure", formatStatus(code));
});

Deno.test("every named status has the category its name says", () => {
  for (const [name, code] of Object.entries(Status)) {
    const category = statusCategory(code);
    if (name === "Success") assertEquals(category, "success");
    else if (name === "Cancel") assertEquals(category, "cancel");
    else if (name.startsWith("Pending")) assertEquals(category, "pending");
    else if (
      [
        "CoercionOfDataElements",
        "ElementsDiscarded",
        "DataSetDoesNotMatchSopClassWarning",
        "AttributeListError",
        "AttributeValueOutOfRange",
      ].includes(name)
    ) assertEquals(category, "warning", name);
    else assertEquals(category, "failure", name);
  }
});

Deno.test("describeStatus: exact codes, then ranges, always with the hex code", () => {
  assertEquals(describeStatus(0x0000), "0x0000 Success");
  assertEquals(describeStatus(0xA700), "0xA700 Refused: out of resources");
  assertEquals(describeStatus(0xA7C3), "0xA7C3 Refused: out of resources (A7xx)");
  assertEquals(describeStatus(0xA912), "0xA912 Error: data set does not match SOP class (A9xx)");
  assertEquals(describeStatus(0xC211), "0xC211 Error: cannot understand (Cxxx)");
  assertEquals(describeStatus(0xB007), "0xB007 Warning: data set does not match SOP class");
  assertEquals(describeStatus(0xB101), "0xB101 Warning (Bxxx)");
  assertEquals(describeStatus(0x0211), "0x0211 Failure: unrecognized operation");
  assertEquals(describeStatus(0x0122), "0x0122 Failure: SOP class not supported");
  assertEquals(describeStatus(0x4321), "0x4321 Unknown failure status");
});
