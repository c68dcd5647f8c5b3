/**
 * Test helpers for the clinic-facing modules (status page, config, doctor, install, compile).
 * Built on tests/support/assert.ts (node:assert; JSR's @std/assert cannot be reached here).
 */
export { assert, assertEquals, assertRejects } from "../support/assert.ts";

/** Asserts that `actual` contains `expected`, showing both when it does not. */
export function assertStringIncludes(actual: string, expected: string, message?: string): void {
  if (!actual.includes(expected)) {
    throw new Error(
      `${message ?? "Expected text not found"}\n  expected to include: ${JSON.stringify(expected)}\n  in: ${
        JSON.stringify(actual)
      }`,
    );
  }
}

/** A fresh temporary folder for one test. */
export function tempDir(prefix = "dg-"): Promise<string> {
  return Deno.makeTempDir({ prefix });
}
