import { assert, assertAlmostEquals, assertEquals } from "@std/assert";
import { TokenBucket } from "../../src/http/token-bucket.ts";

Deno.test("a token bucket starts full, empties, and refills at its rate up to its capacity", () => {
  const bucket = new TokenBucket(20, 20 / 60, 0);
  assertEquals(bucket.tokens(0), 20);
  assert(bucket.full(0));
  for (let i = 0; i < 20; i++) bucket.take(0);
  assertEquals(bucket.tokens(0), 0);
  assertAlmostEquals(bucket.secondsUntilToken(0), 3, 1e-9);
  assertAlmostEquals(bucket.tokens(1500), 0.5, 1e-9);
  assertAlmostEquals(bucket.tokens(3000), 1, 1e-9);
  assertEquals(bucket.secondsUntilToken(3000), 0);
  assert(!bucket.full(30_000));
  assertEquals(bucket.tokens(600_000), 20, "never above capacity");
  assert(bucket.full(600_000));
});

Deno.test("a token bucket may go into debt, which postpones the next token", () => {
  const bucket = new TokenBucket(2, 1, 0);
  for (let i = 0; i < 5; i++) bucket.take(0);
  assertEquals(bucket.tokens(0), -3);
  assertAlmostEquals(bucket.secondsUntilToken(0), 4, 1e-9);
  bucket.take(1000, 2);
  assertAlmostEquals(bucket.tokens(1000), -4, 1e-9);
});

Deno.test("a token bucket does not mint tokens when the clock steps back", () => {
  const bucket = new TokenBucket(10, 1, 5000);
  bucket.take(5000, 10);
  assertEquals(bucket.tokens(1000), 0);
  assertEquals(bucket.tokens(5000), 0);
  assertAlmostEquals(bucket.tokens(6000), 1, 1e-9);
});
