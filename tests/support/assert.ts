/**
 * Assertions for tests (JSR's @std/assert cannot be reached from our build machines, so these
 * wrap node:assert, which Deno ships).
 */
import nodeAssert from "node:assert/strict";

/** Asserts a truthy condition. */
export function assert(condition: unknown, message?: string): asserts condition {
  nodeAssert.ok(condition, message);
}

/** Asserts deep equality. */
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  nodeAssert.deepStrictEqual(actual, expected, message);
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
