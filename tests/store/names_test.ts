import { assert, assertEquals } from "../support/assert.ts";
import { instanceRelativePath, uidFileComponent } from "../../src/store/names.ts";
import { isValidUid } from "../../src/dicom/uids.ts";
import { toNativePath } from "../../src/platform/fs.ts";
import { createHash } from "node:crypto";

const STUDY = "1.2.826.0.1.3680043.9.7433.2.1";
const SOP = "1.2.826.0.1.3680043.9.7433.1.1";

function sha256(value: string): string {
  return createHash("sha256").update(new TextEncoder().encode(value)).digest("hex");
}

Deno.test("valid UIDs are kept as they are", () => {
  assertEquals(
    instanceRelativePath({ studyInstanceUid: STUDY, sopInstanceUid: SOP }),
    `instances/${STUDY}/${SOP}.dcm`,
  );
  const longest = "1." + "2".repeat(62); // 64 characters
  assertEquals(longest.length, 64);
  assertEquals(uidFileComponent(longest), longest);
  for (const uid of ["0", "1.0.2", "2.25.329800735698586629295641978511506172918", "1.2.840.10008.1.2.1"]) {
    assert(isValidUid(uid), uid);
    assertEquals(uidFileComponent(uid), uid);
  }
});

Deno.test("hostile and invalid values are replaced by x + SHA-256", () => {
  const hostile = [
    "../../etc",
    "1.2.3/..",
    "1.2.3\\x",
    "1." + "2".repeat(63), // 65 characters
    "1.2.3\u0000",
    "\u0000",
    "",
    "..",
    ".",
    "1..2",
    ".1.2",
    "1.2.",
    "1.02.3", // PS3.5 §9.1: no leading zero in a component
    "1.2.3 ", // trailing space from a sloppy peer
    "C:\\Windows",
    "CON",
    "1.2.3\n",
    "１.２", // full-width digits
    "a".repeat(1000),
  ];
  const seen = new Set<string>();
  for (const value of hostile) {
    assert(!isValidUid(value), JSON.stringify(value));
    const component = uidFileComponent(value);
    assertEquals(component, "x" + sha256(value), JSON.stringify(value));
    assert(/^x[0-9a-f]{64}$/.test(component), component);
    seen.add(component);
    const path = instanceRelativePath({ studyInstanceUid: value, sopInstanceUid: value });
    assertEquals(path, `instances/${component}/${component}.dcm`);
    assert(!path.includes(".."), path);
    assert(!path.includes("\\"), path);
    assertEquals(path.split("/").length, 3);
  }
  assertEquals(seen.size, hostile.length, "different values, different names");
});

Deno.test("mixed: a valid study with a hostile SOP instance", () => {
  assertEquals(
    instanceRelativePath({ studyInstanceUid: STUDY, sopInstanceUid: "../../../x" }),
    `instances/${STUDY}/x${sha256("../../../x")}.dcm`,
  );
});

Deno.test("the hash is of the UTF-8 bytes (known vector)", () => {
  // SHA-256("") per FIPS 180-2 test vectors.
  assertEquals(uidFileComponent(""), "xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  assertEquals(uidFileComponent("abc"), "xba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
});

Deno.test("toNativePath uses backslashes on Windows only", () => {
  assertEquals(toNativePath("instances/1.2/3.4.dcm", "windows"), "instances\\1.2\\3.4.dcm");
  assertEquals(toNativePath("instances/1.2/3.4.dcm", "linux"), "instances/1.2/3.4.dcm");
  assertEquals(toNativePath("instances/1.2/3.4.dcm", "darwin"), "instances/1.2/3.4.dcm");
});
