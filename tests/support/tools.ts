/**
 * Interop tests that need external tools (DCMTK, Orthanc, nginx, curl). Outside CI a test whose
 * tools are missing is ignored with a visible message; in CI (`CI=true`) it fails, so a missing
 * install step can never turn the interop suite silently green. Finding the tools is the
 * harness's (`scripts/harness/tools.ts`), shared with the benchmark.
 * @module
 */
import { inCi, requireTools } from "../../scripts/harness/tools.ts";

/** Options passed through to `Deno.test` by {@linkcode interopTest}. */
export interface InteropTestOptions {
  /** Check for leaked async ops (Deno's default: true). */
  sanitizeOps?: boolean;
  /** Check for leaked resources (Deno's default: true). */
  sanitizeResources?: boolean;
  /** Check for `Deno.exit` (Deno's default: true). */
  sanitizeExit?: boolean;
  /** Run only this test (focus while debugging). */
  only?: boolean;
  /** Ignore the test for a reason other than missing tools. */
  ignore?: boolean;
}

/**
 * Registers a `Deno.test` that needs the external `tools`:
 * - all present: the test runs;
 * - some missing and `CI=true`: the test fails with "missing tools in CI: …";
 * - some missing otherwise: the test is ignored and a line saying so goes to stderr.
 */
export function interopTest(
  name: string,
  tools: string[],
  fn: (t: Deno.TestContext) => Promise<void>,
  options: InteropTestOptions = {},
): void {
  const found = requireTools(...tools);
  const passThrough = {
    ...(options.sanitizeOps === undefined ? {} : { sanitizeOps: options.sanitizeOps }),
    ...(options.sanitizeResources === undefined ? {} : { sanitizeResources: options.sanitizeResources }),
    ...(options.sanitizeExit === undefined ? {} : { sanitizeExit: options.sanitizeExit }),
    ...(options.only === undefined ? {} : { only: options.only }),
  };
  if (found.ok) {
    Deno.test({
      name,
      fn,
      ...passThrough,
      ...(options.ignore === undefined ? {} : { ignore: options.ignore }),
    });
    return;
  }
  const list = found.missing.join(", ");
  if (inCi()) {
    Deno.test({
      name,
      ...passThrough,
      fn() {
        throw new Error(`missing tools in CI: ${list} (the CI setup must install them)`);
      },
    });
    return;
  }
  console.error(
    `interop test "${name}" ignored: missing tools ${list} (install them to run it; in CI it fails)`,
  );
  Deno.test({ name: `${name} (missing tools: ${list})`, ignore: true, fn() {} });
}
