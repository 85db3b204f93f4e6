/**
 * The subset of `@std/assert` that Quetzal's tests use, on `node:assert/strict`.
 *
 * JSR is unreachable from the machines this project is built on, so the import map points
 * `@std/assert` here. Swap it for `jsr:@std/assert` in `deno.json` and nothing else changes.
 */
import assert from "node:assert/strict";

export class AssertionError extends Error {
  override name = "AssertionError";
}

export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  assert.deepStrictEqual(actual, expected, msg);
}

export function assertNotEquals<T>(actual: T, expected: T, msg?: string): void {
  assert.notDeepStrictEqual(actual, expected, msg);
}

export function assertStrictEquals<T>(
  actual: unknown,
  expected: T,
  msg?: string,
): asserts actual is T {
  assert.strictEqual(actual, expected, msg);
}

export function assert_(expr: unknown, msg?: string): asserts expr {
  assert.ok(expr, msg);
}
export { assert_ as assert };

export function assertExists<T>(actual: T, msg?: string): asserts actual is NonNullable<T> {
  assert.ok(
    actual !== null && actual !== undefined,
    msg ?? "expected a value, got " + String(actual),
  );
}

export function assertGreater<T>(actual: T, expected: T, msg?: string): void {
  assert.ok(actual > expected, msg ?? `expected ${String(actual)} > ${String(expected)}`);
}

export function assertGreaterOrEqual<T>(actual: T, expected: T, msg?: string): void {
  assert.ok(actual >= expected, msg ?? `expected ${String(actual)} >= ${String(expected)}`);
}

export function assertLess<T>(actual: T, expected: T, msg?: string): void {
  assert.ok(actual < expected, msg ?? `expected ${String(actual)} < ${String(expected)}`);
}

export function assertLessOrEqual<T>(actual: T, expected: T, msg?: string): void {
  assert.ok(actual <= expected, msg ?? `expected ${String(actual)} <= ${String(expected)}`);
}

export function assertAlmostEquals(
  actual: number,
  expected: number,
  tolerance = 1e-7,
  msg?: string,
): void {
  assert.ok(
    Math.abs(actual - expected) <= tolerance,
    msg ?? `expected ${actual} to be within ${tolerance} of ${expected}`,
  );
}

export function assertMatch(actual: string, expected: RegExp, msg?: string): void {
  assert.match(actual, expected, msg);
}

export function assertStringIncludes(actual: string, expected: string, msg?: string): void {
  assert.ok(
    actual.includes(expected),
    msg ?? `expected ${JSON.stringify(actual)} to include ${JSON.stringify(expected)}`,
  );
}

export function assertArrayIncludes<T>(
  actual: ArrayLike<T>,
  expected: ArrayLike<T>,
  msg?: string,
): void {
  const have = Array.from(actual);
  for (const item of Array.from(expected)) {
    assert.ok(
      have.some((h) => {
        try {
          assert.deepStrictEqual(h, item);
          return true;
        } catch {
          return false;
        }
      }),
      msg ?? `expected array to include ${JSON.stringify(item)}`,
    );
  }
}

export function assertInstanceOf<T extends abstract new (...args: never[]) => unknown>(
  actual: unknown,
  expectedType: T,
  msg?: string,
): asserts actual is InstanceType<T> {
  assert.ok(actual instanceof expectedType, msg ?? `expected instance of ${expectedType.name}`);
}

export function assertThrows(
  fn: () => unknown,
  errorClass?: new (...args: never[]) => Error,
  msgIncludes?: string,
): Error {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  if (caught === undefined) throw new AssertionError("expected function to throw");
  checkError(caught, errorClass, msgIncludes);
  return caught as Error;
}

export async function assertRejects(
  fn: () => PromiseLike<unknown>,
  errorClass?: new (...args: never[]) => Error,
  msgIncludes?: string,
): Promise<Error> {
  let caught: unknown;
  try {
    await fn();
  } catch (e) {
    caught = e;
  }
  if (caught === undefined) throw new AssertionError("expected promise to reject");
  checkError(caught, errorClass, msgIncludes);
  return caught as Error;
}

function checkError(
  e: unknown,
  errorClass?: new (...args: never[]) => Error,
  msgIncludes?: string,
): void {
  if (errorClass && !(e instanceof errorClass)) {
    throw new AssertionError(`expected error of type ${errorClass.name}, got ${String(e)}`);
  }
  if (msgIncludes && !(e instanceof Error && e.message.includes(msgIncludes))) {
    throw new AssertionError(
      `expected error message to include ${JSON.stringify(msgIncludes)}, got ${String(e)}`,
    );
  }
}

export function fail(msg?: string): never {
  throw new AssertionError(msg ?? "failed");
}
