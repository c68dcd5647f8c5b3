/**
 * Plain sentences for the ways a command can fail before it does its job: a folder that cannot
 * be made or written, a file that is missing or damaged. The command line prints
 * {@link CommandError}'s message as it is (no stack trace) and exits non-zero.
 * @module
 */
import { messageOf } from "../errors.ts";

/** A failure whose message is the whole answer for the user: one sentence naming the path and what to do. */
export class CommandError extends Error {
  override name = "CommandError";
}

/** What to do about a data folder that cannot be used. */
export const DATA_DIR_FIX =
  "Choose a folder this program may write to, with --data-dir or data_dir in dicom-gateway.toml";

/** What went wrong with a path, in words (from the Deno error class or the OS error code). */
export function fileReason(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (error instanceof Deno.errors.NotFound) return "it does not exist";
  if (error instanceof Deno.errors.NotADirectory) return "part of that path is a file, not a folder";
  if (error instanceof Deno.errors.IsADirectory) return "it is a folder, not a file";
  if (error instanceof Deno.errors.AlreadyExists) return "something of that name is already there";
  if (error instanceof Deno.errors.NotCapable) return "this program is not allowed to use that place";
  if (error instanceof Deno.errors.PermissionDenied || code === "EACCES" || code === "EPERM") {
    return "this program may not write there";
  }
  if (code === "EROFS") return "it is on a read-only drive";
  if (code === "ENOSPC") return "the disk is full";
  // An OS message with its code in parentheses, without the Deno operation and path after the colon.
  return messageOf(error).replace(/\s*\(os error \d+\)/, "").replace(/:\s*\w+ '.*'$/, "").trim() ||
    "an unknown error";
}

/**
 * One sentence: "Cannot use the data folder D:\x: it is on a read-only drive. Choose …."
 * @param o `what` names the thing ("the data folder"), `fix` says what to do (no final period),
 *   `verb` what could not be done to it (default "use")
 */
export function fileProblem(
  error: unknown,
  o: { path: string; what: string; fix: string; verb?: string },
): string {
  return `Cannot ${o.verb ?? "use"} ${o.what} ${o.path}: ${fileReason(error)}. ${o.fix}.`;
}
