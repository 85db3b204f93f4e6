import { assertAlmostEquals, assertEquals } from "@std/assert";
import { TokenBucket } from "../../src/http/token-bucket.ts";

Deno.test("a token bucket refills at its rate up to its capacity", () => {
  const rule = new TokenBucket(20, 20 / 60);
  // Emptied at t = 0.
  assertAlmostEquals(rule.balance(0, 0, 1500), 0.5, 1e-9);
  assertAlmostEquals(rule.balance(0, 0, 3000), 1, 1e-9);
  assertAlmostEquals(rule.balance(0, 0, 30_000), 10, 1e-9);
  assertEquals(rule.balance(0, 0, 60_000), 20);
  assertEquals(rule.balance(0, 0, 600_000), 20, "never above capacity");
  assertEquals(rule.balance(20, 0, 1000), 20);
});

Deno.test("secondsUntilToken: 0 with a token, else the time the refill takes to make one", () => {
  const rule = new TokenBucket(20, 20 / 60);
  assertEquals(rule.secondsUntilToken(1), 0);
  assertEquals(rule.secondsUntilToken(7.5), 0);
  assertAlmostEquals(rule.secondsUntilToken(0), 3, 1e-9);
  assertAlmostEquals(rule.secondsUntilToken(0.5), 1.5, 1e-9);
});

Deno.test("a token bucket may go into debt, which postpones the next token", () => {
  const rule = new TokenBucket(2, 1);
  // Five charged at once from a full bucket of two: three in debt.
  assertAlmostEquals(rule.secondsUntilToken(-3), 4, 1e-9);
  assertAlmostEquals(rule.balance(-3, 0, 4000), 1, 1e-9);
  assertEquals(rule.balance(-3, 0, 10_000), 2);
});

Deno.test("a token bucket's clock stepping back changes nothing", () => {
  const rule = new TokenBucket(10, 1);
  assertEquals(rule.balance(3, 5000, 1000), 3);
  assertEquals(rule.balance(3, 5000, 5000), 3);
});
