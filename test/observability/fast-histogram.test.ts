import { assert, assertEquals, assertThrows } from "@std/assert";
import { FastHistogram } from "../../src/observability/fast-histogram.ts";

const bounds = [0.001, 0.01, 0.1];

Deno.test("FastHistogram puts each value in the first bucket whose bound is >= it", () => {
  const rows: [value: number, bucket: number][] = [
    [-1, 0], // below every bound
    [0, 0],
    [0.001, 0], // bounds are inclusive (Prometheus le)
    [0.0010001, 1],
    [0.01, 1],
    [0.05, 2],
    [0.1, 2],
    [0.1000001, 3], // +Inf
    [1e9, 3],
    [Infinity, 3],
  ];
  for (const [value, bucket] of rows) {
    const h = new FastHistogram(bounds);
    h.observe(value);
    const expected = [0, 0, 0, 0];
    expected[bucket] = 1;
    assertEquals(Array.from(h.counts), expected, `value ${value}`);
    assertEquals(h.count, 1);
  }
});

Deno.test("FastHistogram ignores NaN so the sum stays usable", () => {
  const h = new FastHistogram(bounds);
  h.observe(NaN);
  h.observe(0.005);
  assertEquals(h.count, 1);
  assertEquals(h.sum, 0.005);
});

Deno.test("FastHistogram.cumulative is non-decreasing and ends at count", () => {
  const h = new FastHistogram(bounds);
  for (const v of [0.0005, 0.002, 0.002, 0.5, 0.05]) h.observe(v);
  const out = new Float64Array(4);
  h.cumulative(out);
  assertEquals(Array.from(out), [1, 3, 4, 5]);
  assertEquals(h.count, 5);
  h.reset();
  assertEquals(h.count, 0);
  assertEquals(h.sum, 0);
});

Deno.test("FastHistogram.quantile interpolates inside the bucket like histogram_quantile", () => {
  const h = new FastHistogram([1, 2, 4]);
  assert(Number.isNaN(h.quantile(0.5)));
  for (let i = 0; i < 10; i++) h.observe(1.5); // all in (1, 2]
  assertEquals(h.quantile(0.5), 1.5);
  assertEquals(h.quantile(1), 2);
  h.observe(100); // +Inf bucket: report the highest finite bound
  assertEquals(h.quantile(1), 4);
});

Deno.test("FastHistogram rejects bounds that are empty, unordered or not finite", () => {
  assertThrows(() => new FastHistogram([]), RangeError);
  assertThrows(() => new FastHistogram([1, 1]), RangeError);
  assertThrows(() => new FastHistogram([2, 1]), RangeError);
  assertThrows(() => new FastHistogram([1, Infinity]), RangeError);
  assertThrows(() => new FastHistogram([NaN]), RangeError);
});
