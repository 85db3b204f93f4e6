import { assertEquals } from "@std/assert";
import {
  bitsDiff,
  isSeqNewer,
  seqDiff,
  SeqUnwrapper,
  tsDiff,
  TsUnwrapper,
} from "../../src/rtp/seq.ts";

Deno.test("seqDiff: signed 16-bit distance", () => {
  const rows: [number, number, number][] = [
    [0, 0, 0],
    [1, 0, 1],
    [0, 1, -1],
    [0, 65535, 1],
    [65535, 0, -1],
    [10, 65530, 16],
    [65530, 10, -16],
    [32767, 0, 32767],
    [32768, 0, -32768],
    [0, 32768, -32768],
    [100, 50, 50],
  ];
  for (const [a, b, want] of rows) assertEquals(seqDiff(a, b), want, `seqDiff(${a}, ${b})`);
});

Deno.test("bitsDiff: signed distance in 7-, 8-, 15- and 16-bit counters", () => {
  const rows: [number, number, number, number][] = [
    [0, 127, 7, 1],
    [127, 0, 7, -1],
    [63, 0, 7, 63],
    [64, 0, 7, -64],
    [0, 255, 8, 1],
    [5, 0x7ffe, 15, 7],
    [0x7ffe, 5, 15, -7],
    [0, 65535, 16, 1],
  ];
  for (const [a, b, bits, want] of rows) {
    assertEquals(bitsDiff(a, b, bits), want, `${a} − ${b} (${bits})`);
  }
});

Deno.test("isSeqNewer: wrap-aware and antisymmetric at half range", () => {
  const rows: [number, number, boolean][] = [
    [1, 0, true],
    [0, 1, false],
    [0, 65535, true],
    [65535, 0, false],
    [5, 5, false],
    [32767, 0, true],
    [32768, 0, true], // tie-break: larger value wins
    [0, 32768, false],
    [40000, 7232, true],
    [7232, 40000, false],
  ];
  for (const [a, b, want] of rows) assertEquals(isSeqNewer(a, b), want, `isSeqNewer(${a}, ${b})`);
});

Deno.test("tsDiff: signed 32-bit distance", () => {
  const rows: [number, number, number][] = [
    [0, 0, 0],
    [3000, 0, 3000],
    [0, 3000, -3000],
    [5, 0xfffffffb, 10],
    [0xfffffffb, 5, -10],
    [0x7fffffff, 0, 0x7fffffff],
    [0x80000000, 0, -0x80000000],
    [0, 0xffffffff, 1],
  ];
  for (const [a, b, want] of rows) assertEquals(tsDiff(a, b), want, `tsDiff(${a}, ${b})`);
});

Deno.test("SeqUnwrapper: rows of input → extended value", () => {
  const rows: { name: string; input: number[]; want: number[] }[] = [
    { name: "in order", input: [10, 11, 12], want: [10, 11, 12] },
    { name: "wrap", input: [65534, 65535, 0, 1], want: [65534, 65535, 65536, 65537] },
    { name: "reorder across wrap", input: [65535, 1, 0, 2], want: [65535, 65537, 65536, 65538] },
    { name: "duplicates", input: [5, 5, 6, 5], want: [5, 5, 6, 5] },
    { name: "before first", input: [0, 65535, 1], want: [0, -1, 1] },
    { name: "large forward jump", input: [0, 30000, 60000, 100], want: [0, 30000, 60000, 65636] },
    {
      name: "two wraps",
      input: [60000, 20000, 45000, 5000, 30000],
      want: [60000, 85536, 110536, 136072, 161072],
    },
  ];
  for (const row of rows) {
    const u = new SeqUnwrapper();
    assertEquals(row.input.map((s) => u.unwrap(s)), row.want, row.name);
  }
});

Deno.test("SeqUnwrapper: reset starts over, highest tracks the max", () => {
  const u = new SeqUnwrapper();
  u.unwrap(65535);
  u.unwrap(0);
  u.unwrap(65534);
  assertEquals(u.highest, 65536);
  u.reset();
  assertEquals(u.unwrap(7), 7);
});

Deno.test("TsUnwrapper: 2^32 wrap and reorder", () => {
  const u = new TsUnwrapper();
  assertEquals(u.unwrap(0xffffff00), 0xffffff00);
  assertEquals(u.unwrap(0x100), 0x100000100);
  assertEquals(u.unwrap(0xfffffff0), 0xfffffff0); // reordered, before the wrap
  assertEquals(u.unwrap(0x80000000), 0x180000000);
  assertEquals(u.unwrap(0xffffff00), 0x1ffffff00);
  assertEquals(u.unwrap(0x100), 0x200000100);
  assertEquals(u.highest, 0x200000100);
  u.reset();
  assertEquals(u.unwrap(42), 42);
});
