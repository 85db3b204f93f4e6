import { assertEquals } from "@std/assert";
import { Munger, MungeResult } from "../../src/sfu/munger.ts";

Deno.test("Munger: output sequence is continuous across the 16-bit wrap and timestamps across 2^32", () => {
  const munger = new Munger(90000, 65530, 0xfffff000);
  munger.switchTo(100, 5000, 0);
  const out: number[] = [];
  const ts: number[] = [];
  for (let i = 0; i < 12; i++) {
    assertEquals(munger.map(100 + i, 5000 + i * 3000, true, i * 33), MungeResult.ok);
    out.push(munger.outSeq);
    ts.push(munger.outTs);
  }
  assertEquals(out, [65530, 65531, 65532, 65533, 65534, 65535, 0, 1, 2, 3, 4, 5]);
  for (let i = 1; i < ts.length; i++) assertEquals((ts[i] - ts[i - 1]) >>> 0, 3000);
});

Deno.test("Munger: a new source continues at last+1, timestamps advance by wall-clock time", () => {
  const munger = new Munger(90000, 1000, 0);
  munger.switchTo(40000, 777, 0);
  munger.map(40000, 777, true, 0);
  munger.map(40001, 3777, true, 33);
  const lastTs = munger.outTs;
  // Another source (new publisher, other layer) with unrelated numbers, 100 ms later.
  munger.switchTo(5, 123456, 133);
  munger.map(5, 123456, true, 133);
  assertEquals(munger.outSeq, 1002);
  assertEquals((munger.outTs - lastTs) >>> 0, 9000);
  // Packets from before the switch point are refused.
  assertEquals(munger.map(4, 123000, true, 134), MungeResult.beforeSwitch);
});

Deno.test("Munger: switching mid-frame leaves exactly one gap", () => {
  const munger = new Munger(90000, 10, 0);
  munger.switchTo(0, 0, 0);
  munger.map(0, 0, false, 0); // frame not finished (no marker)
  munger.switchTo(500, 90000, 10);
  munger.map(500, 90000, true, 10);
  assertEquals(munger.outSeq, 12);
});

Deno.test("Munger: skipping the newest packet (padding) leaves no gap; reordered packets keep their numbers", () => {
  const munger = new Munger(90000, 0, 0);
  munger.switchTo(10, 0, 0);
  munger.map(10, 0, true, 0);
  munger.skip(11);
  munger.map(12, 3000, true, 1);
  assertEquals(munger.outSeq, 1);
  munger.map(14, 9000, true, 2);
  munger.map(13, 6000, true, 3);
  assertEquals(munger.outSeq, 2, "late packet 13 gets its own slot");
});
