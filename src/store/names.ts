/**
 * File names for stored instances. Names never contain raw bytes from the wire: a UID is
 * used as it is only when it is a strictly valid UID (digits and dots, PS3.5 §9.1), which
 * cannot spell `..`, a separator, a drive letter, a device name or a control character on
 * any file system; anything else is replaced by `x` + SHA-256 of the value.
 * @module
 */
import { createHash } from "node:crypto";
import { isValidUid } from "../dicom/uids.ts";

/**
 * The name component for one UID: the UID itself when {@link isValidUid}, otherwise `x`
 * followed by the lowercase hex SHA-256 of its UTF-8 bytes (65 characters; `x` cannot start a
 * valid UID, so the two forms never collide).
 */
export function uidFileComponent(value: string): string {
  if (isValidUid(value)) return value;
  return "x" + createHash("sha256").update(value, "utf8").digest("hex");
}

/**
 * Where an instance is stored, relative to the data folder, with "/" separators:
 * `instances/<study instance UID>/<SOP instance UID>.dcm`. Use `toNativePath` (platform/fs.ts)
 * before handing it to the file system on Windows.
 */
export function instanceRelativePath(a: { studyInstanceUid: string; sopInstanceUid: string }): string {
  return `instances/${uidFileComponent(a.studyInstanceUid)}/${uidFileComponent(a.sopInstanceUid)}.dcm`;
}
