/**
 * Error helpers shared by every layer.
 * @module
 */

/** The message of an `Error`, or the value as a string for anything else thrown. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
