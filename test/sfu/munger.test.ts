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

Deno.test("Munger: dropping the newest packet (padding) leaves no gap; reordered packets keep their numbers", () => {
  const munger = new Munger(90000, 0, 0);
  munger.switchTo(10, 0, 0);
  munger.map(10, 0, true, 0);
  assertEquals(munger.drop(11, 0), MungeResult.ok);
  munger.map(12, 3000, true, 1);
  assertEquals(munger.outSeq, 1);
  munger.map(14, 9000, true, 2);
  munger.map(13, 6000, true, 3);
  assertEquals(munger.outSeq, 2, "late packet 13 gets its own slot");
});

Deno.test("Munger: a source may run past 32768 packets (no 16-bit comparison with the switch point)", () => {
  const munger = new Munger(90000, 500, 0);
  munger.switchTo(65000, 0, 0);
  for (let i = 0; i < 200_000; i++) {
    assertEquals(
      munger.map((65000 + i) & 0xffff, i * 3000, true, i),
      MungeResult.ok,
      `packet ${i}`,
    );
    if (munger.outSeq !== ((500 + i) & 0xffff)) throw new Error(`packet ${i}: ${munger.outSeq}`);
  }
  // A late packet from before the switch point is still refused.
  munger.switchTo(100, 0, 0);
  munger.map(101, 0, true, 0);
  assertEquals(munger.map(99, 0, true, 0), MungeResult.beforeSwitch);
  assertEquals(munger.drop(98, 0), MungeResult.beforeSwitch);
});

/**
 * Rows of (action, input sequence number) with the expected output: a viewer forwarding the
 * TL0 frames only (packets of a 0,2,1,2 pattern with two packets a frame), with reordering,
 * loss, a late dropped packet and the 16-bit wrap.
 */
Deno.test("Munger: temporal drops are absorbed; late packets keep their range; a late drop reports its slot", () => {
  const munger = new Munger(90000, 65534, 0);
  munger.switchTo(65530, 0, 0);
  const rows: [string, number, number | string][] = [
    ["map", 65530, 65534], // TL0 frame
    ["map", 65531, 65535],
    ["drop", 65532, "ok"], // TL2 frame
    ["drop", 65533, "ok"],
    ["drop", 65534, "ok"], // TL1 frame
    ["drop", 65535, "ok"],
    ["drop", 0, "ok"], // TL2 frame
    ["drop", 1, "ok"],
    ["map", 3, 1], // TL0 frame, its first packet (2) late
    ["map", 2, 0],
    ["drop", 5, "ok"], // TL2 frame; its first packet (4) comes after it
    ["drop", 4, "gap"],
    ["map", 7, 4], // TL1 frame (a viewer now at TL1): 6 lost, keeps its slot (3)
    ["drop", 8, "ok"], // TL2
    ["drop", 9, "ok"],
    ["map", 10, 5], // TL0
    ["map", 6, 3], // the lost one, repaired late
    ["map", 11, 6],
    ["map", 3, 1], // a duplicate maps to the same slot
  ];
  for (const [act, seq, want] of rows) {
    if (act === "map") {
      assertEquals(munger.map(seq, 0, true, 0), MungeResult.ok);
      assertEquals(munger.outSeq, want, `map ${seq}`);
    } else {
      const r = munger.drop(seq, 0);
      assertEquals(r, want === "ok" ? MungeResult.ok : MungeResult.gap, `drop ${seq}`);
    }
  }
  // The late drop of 4 reported its slot, between 3 (→ 1) and 6 (→ 3).
  munger.drop(4, 0);
  assertEquals(munger.outSeq, 2);
  assertEquals(munger.lastOutSeq, 6);
});

Deno.test("Munger: after a run of drops, a switch continues right after the last forwarded packet", () => {
  const munger = new Munger(90000, 100, 0);
  munger.switchTo(1000, 0, 0);
  munger.map(1000, 0, true, 0);
  for (let s = 1001; s < 1010; s++) munger.drop(s, 0);
  munger.switchTo(7, 90000, 500);
  munger.map(7, 90000, true, 500);
  assertEquals(munger.outSeq, 101);
});

Deno.test("Munger: more drop runs than the ring holds; recent late packets still map right", () => {
  const munger = new Munger(90000, 0, 0);
  munger.switchTo(0, 0, 0);
  // 300 frames of 2 packets, every other frame dropped: 150 ranges (the ring keeps 64).
  const out = new Map<number, number>();
  for (let f = 0; f < 300; f++) {
    // A sent frame's second packet comes first.
    for (const s of f % 2 === 1 ? [2 * f, 2 * f + 1] : [2 * f + 1, 2 * f]) {
      if (f % 2 === 1) {
        munger.drop(s, 0);
      } else {
        munger.map(s, 0, true, 0);
        out.set(s, munger.outSeq);
      }
    }
  }
  const sent = [...out.entries()].sort((a, b) => a[0] - b[0]).map(([, o]) => o);
  sent.forEach((o, i) => assertEquals(o, i));
  // The newest sent frame's packets map again to the same slots.
  munger.map(596, 0, true, 0);
  assertEquals(munger.outSeq, out.get(596));
});
