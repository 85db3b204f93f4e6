import { assertEquals, assertThrows } from "@std/assert";
import { NackGenerator, NackPush } from "../../src/rtp/nack-generator.ts";

/** A fake clock and a scratch array: collect() as a plain list. */
class Harness {
  nowMs = 0;
  readonly out = new Uint16Array(2048);
  constructor(readonly nack: NackGenerator) {}
  push(...seqs: number[]): number[] {
    return seqs.map((s) => this.nack.push(s, this.nowMs));
  }
  collect(rttMs = 100): number[] {
    const n = this.nack.collect(this.nowMs, rttMs, this.out);
    return Array.from(this.out.subarray(0, n));
  }
}

Deno.test("NackGenerator: 10,11,12,14,16,18 → NACK 13,15,17", () => {
  const h = new Harness(new NackGenerator());
  assertEquals(h.push(10, 11, 12, 14, 16, 18), [0, 0, 0, 0, 0, 0]);
  assertEquals(h.nack.missingCount, 3);
  assertEquals(h.collect(), [13, 15, 17]);
  assertEquals(h.collect(), []); // not again before an RTT
});

Deno.test("NackGenerator: push codes for rows of arrivals", () => {
  const { ok, recovered, duplicate, reset } = NackPush;
  const rows: { name: string; seqs: number[]; codes: number[]; missing: number[] }[] = [
    { name: "in order", seqs: [1, 2, 3], codes: [ok, ok, ok], missing: [] },
    { name: "duplicate newest", seqs: [1, 2, 2], codes: [ok, ok, duplicate], missing: [] },
    { name: "duplicate older", seqs: [1, 2, 3, 2], codes: [ok, ok, ok, duplicate], missing: [] },
    { name: "reorder", seqs: [1, 3, 2, 4], codes: [ok, ok, recovered, ok], missing: [] },
    {
      name: "wrap 65535 → 0 with a gap",
      seqs: [65533, 65535, 1, 0],
      codes: [ok, ok, ok, recovered],
      missing: [65534],
    },
    {
      name: "recovered twice is a duplicate",
      seqs: [5, 7, 6, 6],
      codes: [ok, ok, recovered, duplicate],
      missing: [],
    },
    { name: "before the first", seqs: [100, 99, 101], codes: [ok, ok, ok], missing: [] },
    { name: "jump forward", seqs: [1, 2, 5000, 5001], codes: [ok, ok, reset, ok], missing: [] },
    { name: "jump back", seqs: [40000, 1000, 1001], codes: [ok, reset, ok], missing: [] },
  ];
  for (const row of rows) {
    const h = new Harness(new NackGenerator());
    assertEquals(h.push(...row.seqs), row.codes, row.name);
    assertEquals(h.collect(), row.missing, row.name);
  }
});

Deno.test("NackGenerator: retries spaced by max(RTT, 20 ms), given up after maxRetries", () => {
  const h = new Harness(new NackGenerator({ maxRetries: 3 }));
  h.push(1, 3);
  const sentAt: number[] = [];
  for (h.nowMs = 0; h.nowMs <= 1000; h.nowMs += 10) {
    if (h.collect(50).length > 0) sentAt.push(h.nowMs);
  }
  assertEquals(sentAt, [0, 50, 100]);
  assertEquals(h.nack.missingCount, 0);
  assertEquals(h.nack.givenUpCount, 1);
  assertEquals(h.push(2), [NackPush.ok]); // too late to count as recovered

  // A tiny RTT still waits 20 ms.
  const g = new Harness(new NackGenerator());
  g.push(1, 3);
  const times: number[] = [];
  for (g.nowMs = 0; g.nowMs < 60; g.nowMs += 5) if (g.collect(1).length) times.push(g.nowMs);
  assertEquals(times, [0, 20, 40]);
});

Deno.test("NackGenerator: recovered packets leave the list, others keep their schedule", () => {
  const h = new Harness(new NackGenerator());
  h.push(10, 14);
  assertEquals(h.collect(), [11, 12, 13]);
  h.nowMs = 30;
  assertEquals(h.push(12), [NackPush.recovered]);
  assertEquals(h.nack.missingCount, 2);
  assertEquals(h.nack.recoveredCount, 1);
  assertEquals(h.collect(), []);
  h.nowMs = 100;
  assertEquals(h.collect(), [11, 13]);
  h.push(11, 13);
  h.nowMs = 1000;
  assertEquals(h.collect(), []);
});

Deno.test("NackGenerator: NACKs across the 65535 → 0 wrap come out oldest first", () => {
  const h = new Harness(new NackGenerator());
  h.push(65530, 65533, 2, 4);
  assertEquals(h.collect(), [65531, 65532, 65534, 65535, 0, 1, 3]);
});

Deno.test("NackGenerator: reset on jump clears the list", () => {
  const h = new Harness(new NackGenerator({ maxGap: 100 }));
  h.push(1, 5);
  assertEquals(h.push(200), [NackPush.reset]);
  assertEquals(h.nack.resetCount, 1);
  assertEquals(h.collect(), []);
  h.push(202);
  assertEquals(h.collect(), [201]);
  // Packets of the old stream after the reset are jumps too.
  assertEquals(h.push(3), [NackPush.reset]);
});

Deno.test("NackGenerator: at most maxMissing tracked, the oldest given up", () => {
  const h = new Harness(new NackGenerator({ maxMissing: 4 }));
  h.push(0, 10);
  assertEquals(h.collect(), [6, 7, 8, 9]);
  assertEquals(h.nack.givenUpCount, 5);
  h.push(12);
  assertEquals(h.nack.missingCount, 4);
  h.nowMs = 1000;
  assertEquals(h.collect(), [7, 8, 9, 11]); // 6 dropped for 11
  assertEquals(h.nack.givenUpCount, 6);
  // A recovered entry frees room without dropping a live one.
  h.push(8);
  h.push(14);
  h.nowMs = 2000;
  assertEquals(h.collect(), [7, 9, 11, 13]);
  assertEquals(h.nack.givenUpCount, 6);
});

Deno.test("NackGenerator: a gap of exactly maxGap is loss, tracked up to maxMissing", () => {
  const h = new Harness(new NackGenerator());
  assertEquals(h.push(0, 3000), [NackPush.ok, NackPush.ok]);
  assertEquals(h.nack.missingCount, 1000);
  const got = h.collect();
  assertEquals(got.length, 1000);
  assertEquals([got[0], got[999]], [2000, 2999]);
});

Deno.test("NackGenerator: packets older than maxAge are no longer NACKed", () => {
  const h = new Harness(new NackGenerator({ maxAge: 50, maxGap: 40 }));
  h.push(0, 2);
  for (let s = 3; s <= 60; s++) h.push(s);
  assertEquals(h.collect(), []);
  assertEquals(h.nack.givenUpCount, 1);
});

Deno.test("NackGenerator: reorderDelayMs holds the first NACK", () => {
  const h = new Harness(new NackGenerator({ reorderDelayMs: 15 }));
  h.push(1, 3);
  assertEquals(h.collect(), []);
  h.nowMs = 10;
  assertEquals(h.collect(), []);
  h.nowMs = 15;
  assertEquals(h.collect(), [2]);
});

Deno.test("NackGenerator: output capped at out.length, rest sent next time", () => {
  const nack = new NackGenerator();
  nack.push(0, 0);
  nack.push(10, 0);
  const out = new Uint16Array(4);
  assertEquals(nack.collect(0, 100, out), 4);
  assertEquals(Array.from(out), [1, 2, 3, 4]);
  assertEquals(nack.collect(0, 100, out), 4);
  assertEquals(Array.from(out), [5, 6, 7, 8]);
});

Deno.test("NackGenerator: reset() and option validation", () => {
  const h = new Harness(new NackGenerator());
  h.push(1, 5);
  h.nack.reset();
  assertEquals(h.nack.missingCount, 0);
  assertEquals(h.push(100, 102), [NackPush.ok, NackPush.ok]);
  assertEquals(h.collect(), [101]);
  assertThrows(() => new NackGenerator({ maxMissing: 0 }), RangeError);
  assertThrows(() => new NackGenerator({ maxGap: 40000 }), RangeError);
  assertThrows(() => new NackGenerator({ maxRetries: 1.5 }), RangeError);
  assertThrows(() => new NackGenerator({ reorderDelayMs: -1 }), RangeError);
});
