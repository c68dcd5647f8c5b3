/**
 * The one assertion module of the tests (JSR's @std/assert cannot be reached from our build
 * machines, so these wrap node:assert, which Deno ships). Every test imports its assertions from
 * here.
 */
import nodeAssert from "node:assert/strict";
import { PduError } from "../../src/ul/pdu.ts";
import { datasetDump, datasetFingerprint } from "../../scripts/harness/data.ts";

/** Asserts a truthy condition. */
export function assert(condition: unknown, message?: string): asserts condition {
  nodeAssert.ok(condition, message);
}

/** Asserts deep equality. */
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  nodeAssert.deepStrictEqual(actual, expected, message);
}

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

/** Asserts that `fn` throws synchronously an error of `type` (whose message includes `includes`); returns it. */
export function assertThrows<E extends Error>(
  fn: () => unknown,
  type: new (...args: never[]) => E,
  includes?: string,
): E {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof type)) throw new Error(`expected ${type.name}, got ${String(error)}`);
    if (includes !== undefined && !error.message.includes(includes)) {
      throw new Error(`expected message to include "${includes}", got "${error.message}"`);
    }
    return error;
  }
  throw new Error(`expected ${type.name} to be thrown`);
}

/** Asserts that `fn` throws (or rejects) with an error of `type` whose message includes `includes`. */
export async function assertRejects(
  fn: () => unknown,
  type?: new (...args: never[]) => Error,
  includes?: string,
): Promise<Error> {
  try {
    await fn();
  } catch (error) {
    if (type && !(error instanceof type)) throw new Error(`expected ${type.name}, got ${String(error)}`);
    if (includes && !(error as Error).message.includes(includes)) {
      throw new Error(`expected message to include "${includes}", got "${(error as Error).message}"`);
    }
    return error as Error;
  }
  throw new Error("expected a rejection");
}

/** Asserts that `fn` throws a PduError with exactly this message and A-ABORT reason (PS3.8 Table 9-26). */
export function assertPduError(fn: () => unknown, message: string, abortReason: number): PduError {
  const error = assertThrows(fn, PduError);
  assertEquals(error.message, message);
  assertEquals(error.abortReason, abortReason);
  return error;
}

/**
 * Asserts that two Part 10 files hold the same data set bytes (everything after the meta header);
 * when they differ, the error lists the `dcmdump` lines that differ.
 */
export async function assertSameDataset(expectedPath: string, actualPath: string): Promise<void> {
  if (await datasetFingerprint(expectedPath) === await datasetFingerprint(actualPath)) return;
  const [a, b] = [(await datasetDump(expectedPath)).split("\n"), (await datasetDump(actualPath)).split("\n")];
  const diff = [
    ...a.filter((l) => !b.includes(l)).map((l) => `- ${l}`),
    ...b.filter((l) => !a.includes(l)).map((l) => `+ ${l}`),
  ];
  throw new Error(
    `data set of ${actualPath} differs from ${expectedPath}:\n${diff.map((l) => l.slice(0, 160)).join("\n")}`,
  );
}
