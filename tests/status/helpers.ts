/**
 * Test helpers for the clinic-facing modules (status page, config, doctor, install, compile).
 * Assertions are in tests/support/assert.ts.
 */
/** A fresh temporary folder for one test. */
export function tempDir(prefix = "dg-"): Promise<string> {
  return Deno.makeTempDir({ prefix });
}
