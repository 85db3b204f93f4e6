import { assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import { ReceiveStats } from "../../src/rtp/receive-stats.ts";
import type { ReportBlock } from "../../src/rtp/rtcp-reader.ts";

function emptyBlock(): ReportBlock {
  return {
    ssrc: 0,
    fractionLost: 0,
    cumulativeLost: 0,
    extendedHighestSeq: 0,
    jitter: 0,
    lastSr: 0,
    delaySinceLastSr: 0,
  };
}

// 8 kHz audio, 20 ms packets (160 ticks); arrivals 0, 20, 45, 60, 80 ms.
// D = Δarrival·8 − 160: 0, +40, −40, 0 → J: 0, 2.5, 4.84375, 4.541015625 (RFC 3550 §A.8).
const JITTER_ROWS = [0, 20, 45, 60, 80];
const JITTER_WANT = 4.541015625;

Deno.test("ReceiveStats: jitter against hand-computed values", () => {
  for (const base of [0, 0xffffff60]) {
    const s = new ReceiveStats(8000);
    JITTER_ROWS.forEach((ms, i) => s.update(100 + i, (base + 160 * i) >>> 0, ms));
    assertAlmostEquals(s.jitterSeconds, JITTER_WANT / 8000, 1e-12, `base ${base}`);
    const b = emptyBlock();
    s.fillReportBlock(1, 100, b);
    assertEquals(b.jitter, 4);
  }
});

Deno.test("ReceiveStats: packets of one frame (same timestamp) do not add jitter", () => {
  const s = new ReceiveStats(90000);
  // Three frames of three packets paced 5 ms apart, frames exactly 1/30 s apart.
  let seq = 0;
  for (let f = 0; f < 3; f++) {
    for (let p = 0; p < 3; p++) s.update(seq++, f * 3000, (f * 1000) / 30 + p * 5);
  }
  // Only frame starts count; each is measured from the last packet of the previous frame, 10 ms
  // later than that frame's start: D = −900 ticks → J = 900/16, then 900/16 + (900 − 900/16)/16.
  const j1 = 900 / 16;
  assertAlmostEquals(s.jitterSeconds * 90000, j1 + (900 - j1) / 16, 1e-9);
});

Deno.test("ReceiveStats: loss, wrap and the fraction per interval", () => {
  const s = new ReceiveStats(90000);
  for (const seq of [65534, 65535, 1, 2]) s.update(seq, 0, 0);
  const b = emptyBlock();
  s.fillReportBlock(0xabcdef01, 0, b);
  assertEquals(b, {
    ssrc: 0xabcdef01,
    fractionLost: 51, // floor(1 · 256 / 5)
    cumulativeLost: 1,
    extendedHighestSeq: 0x00010002,
    jitter: 0,
    lastSr: 0,
    delaySinceLastSr: 0,
  });
  assertEquals(s.lastFractionLost, 51 / 256);
  assertEquals(s.packetsReceived, 4);

  // The late packet 0 and the next one: expected 1 more, received 2 → no loss this interval.
  s.update(0, 0, 0);
  s.update(3, 0, 0);
  s.fillReportBlock(0xabcdef01, 0, b);
  assertEquals([b.fractionLost, b.cumulativeLost, b.extendedHighestSeq], [0, 0, 0x00010003]);

  // An interval with 2 of 4 lost.
  for (const seq of [4, 7]) s.update(seq, 0, 0);
  s.fillReportBlock(0xabcdef01, 0, b);
  assertEquals([b.fractionLost, b.cumulativeLost], [128, 2]);
  assertEquals(s.lastFractionLost, 0.5);

  // An empty interval.
  s.fillReportBlock(0xabcdef01, 0, b);
  assertEquals([b.fractionLost, b.cumulativeLost], [0, 2]);
});

Deno.test("ReceiveStats: rows of sequences → cumulative loss", () => {
  const rows: { name: string; seqs: number[]; lost: number; highest: number }[] = [
    { name: "none", seqs: [10, 11, 12], lost: 0, highest: 12 },
    { name: "gap", seqs: [10, 13], lost: 2, highest: 13 },
    { name: "reorder", seqs: [10, 12, 11], lost: 0, highest: 12 },
    { name: "duplicates go negative", seqs: [1, 2, 2, 3], lost: -1, highest: 3 },
    { name: "wrap", seqs: [65535, 0], lost: 0, highest: 65536 },
    {
      name: "two wraps",
      seqs: [0, 30000, 60000, 20000, 50000, 10000],
      lost: 131072 + 10000 - 5,
      highest: 141072,
    },
  ];
  for (const row of rows) {
    const s = new ReceiveStats(48000);
    for (const seq of row.seqs) s.update(seq, 0, 0);
    assertEquals(s.cumulativeLost, row.lost, row.name);
    assertEquals(s.extendedHighestSeq, row.highest, row.name);
  }
});

Deno.test("ReceiveStats: LSR and DLSR from the last SR", () => {
  const s = new ReceiveStats(90000);
  s.update(1, 0, 0);
  s.onSenderReport(0x12345678, 0x9abcdef0, 1000);
  const b = emptyBlock();
  s.fillReportBlock(5, 1500, b);
  assertEquals([b.lastSr, b.delaySinceLastSr], [0x56789abc, 32768]);
  s.fillReportBlock(5, 3250, b);
  assertEquals(b.delaySinceLastSr, 147456); // 2.25 s · 65536
});

Deno.test("ReceiveStats: before any packet, and a bad clock rate", () => {
  const s = new ReceiveStats(90000);
  const b = emptyBlock();
  s.fillReportBlock(9, 0, b);
  assertEquals([b.cumulativeLost, b.fractionLost, b.extendedHighestSeq], [0, 0, 0]);
  assertEquals(s.packetsReceived, 0);
  assertThrows(() => new ReceiveStats(0), RangeError);
});
