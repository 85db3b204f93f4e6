import { assert, assertAlmostEquals, assertEquals, assertGreater, assertLess } from "@std/assert";
import {
  BandwidthEstimator,
  type BandwidthEstimatorOptions,
  BandwidthUsage,
  EstimateMode,
} from "../../src/sfu/bandwidth-estimator.ts";
import { SendHistory } from "../../src/sfu/send-history.ts";
import { TwccRecorder } from "../../src/rtp/twcc-recorder.ts";
import { readTwccFeedback, TwccFeedback } from "../../src/rtp/twcc-reader.ts";

/**
 * A viewer behind one FIFO bottleneck: packets are sent every 5 ms at `rateBps()`, queue at
 * `capacityBps`, arrive after 20 ms propagation, are recorded by a real TwccRecorder and fed
 * back every 100 ms through the real writer and reader.
 */
class Link {
  readonly history = new SendHistory(8192);
  readonly bwe: BandwidthEstimator;
  readonly recorder = new TwccRecorder();
  readonly fb = new TwccFeedback(8192);
  readonly buf = new Uint8Array(65536);
  nowUs = 0;
  seq = 0;
  linkFreeUs = 0;
  inFlight: { seq: number; arrivalUs: number }[] = [];
  capacityBps: number;
  lossRate = 0;
  /** Lose every n-th packet (0 = off): deterministic loss. */
  lossEvery = 0;
  rateBps: () => number;
  seed = 7;
  /**
   * The receiver reads its socket only every 1..readGapMs ms (0 = at once), and stamps each
   * packet with the time it read it: a busy receive thread, or Wi-Fi handing over aggregates.
   */
  readGapMs = 0;
  #readAtUs = 0;
  /** The receiver stalls until this time (µs): everything that arrived meanwhile is read then. */
  stallUntilUs = 0;

  constructor(capacityBps: number, rateBps: (bwe: BandwidthEstimator) => number, opts = {}) {
    this.capacityBps = capacityBps;
    this.bwe = new BandwidthEstimator(
      { history: this.history, ...opts } as BandwidthEstimatorOptions,
    );
    this.rateBps = () => rateBps(this.bwe);
  }

  rand(): number {
    this.seed = (this.seed * 1103515245 + 12345) & 0x7fffffff;
    return this.seed / 0x80000000;
  }

  /** Advances `ms` milliseconds; calls `each` after every feedback. */
  run(ms: number, each?: (nowMs: number) => void): void {
    const end = this.nowUs + ms * 1000;
    let credit = 0;
    while (this.nowUs < end) {
      this.nowUs += 5_000;
      credit += (this.rateBps() * 0.005) / 8;
      while (credit >= 1200) {
        credit -= 1200;
        const seq = this.seq++ & 0xffff;
        this.history.onSent(seq, this.nowUs, 1200, false);
        if (this.rand() < this.lossRate) continue;
        if (this.lossEvery > 0 && this.seq % this.lossEvery === 0) continue;
        const start = Math.max(this.nowUs, this.linkFreeUs);
        this.linkFreeUs = start + (1200 * 8 * 1e6) / this.capacityBps;
        let arrivalUs = this.linkFreeUs + 20_000;
        if (this.readGapMs > 0) {
          while (this.#readAtUs < arrivalUs) {
            this.#readAtUs += (1 + this.rand() * (this.readGapMs - 1)) * 1000;
          }
          arrivalUs = this.#readAtUs;
        }
        if (arrivalUs < this.stallUntilUs) arrivalUs = this.stallUntilUs;
        this.inFlight.push({ seq, arrivalUs });
      }
      while (this.inFlight.length > 0 && this.inFlight[0].arrivalUs <= this.nowUs) {
        const p = this.inFlight.shift()!;
        this.recorder.record(p.seq, p.arrivalUs);
      }
      if (this.nowUs % 100_000 === 0) {
        const n = this.recorder.buildFeedback(this.buf, 0, 1, 2);
        let off = 0;
        while (off < n) {
          const len = (((this.buf[off + 2] << 8) | this.buf[off + 3]) + 1) * 4;
          assert(readTwccFeedback(this.buf, off, len, this.fb) > 0);
          this.bwe.onTwccFeedback(this.fb, this.nowUs / 1000);
          off += len;
        }
        each?.(this.nowUs / 1000);
      }
    }
  }
}

Deno.test("bwe: starts at 600 kbit/s and has no mode before feedback", () => {
  const bwe = new BandwidthEstimator({ history: new SendHistory() });
  assertEquals(bwe.estimateBps, 600_000);
  assertEquals(bwe.modeAt(0), EstimateMode.none);
});

Deno.test("bwe: an uncongested link ramps about 8 %/s", () => {
  const link = new Link(20_000_000, () => 500_000);
  link.run(10_000);
  const e = link.bwe.estimateBps;
  const expected = 600_000 * Math.pow(1.08, 9.9);
  assertAlmostEquals(e, expected, expected * 0.1);
  assertEquals(link.bwe.overuseDecreases, 0);
  assertEquals(link.bwe.modeAt(10_000), EstimateMode.twcc);
  assertAlmostEquals(link.bwe.ackedBitrateBps, 500_000, 50_000);
});

Deno.test("bwe: sending 3 Mbit/s into 1 Mbit/s drops to ~0.85 × acked within 1 s", () => {
  const link = new Link(1_000_000, () => 3_000_000, { startBitrateBps: 3_000_000 });
  let droppedAtMs = -1;
  link.run(3_000, (now) => {
    if (droppedAtMs < 0 && link.bwe.estimateBps < 1_000_000) droppedAtMs = now;
  });
  assert(droppedAtMs > 0, "estimate fell below capacity");
  assertLess(droppedAtMs, 1_000);
  assertAlmostEquals(link.bwe.estimateBps, 850_000, 150_000);
  assertEquals(link.bwe.usage, BandwidthUsage.overusing);
});

Deno.test("bwe: closed loop settles around the capacity", () => {
  const link = new Link(2_000_000, (bwe) => bwe.estimateBps);
  const samples: number[] = [];
  link.run(60_000, (now) => {
    if (now > 30_000) samples.push(link.bwe.estimateBps);
  });
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
  assertGreater(mean, 1_200_000);
  assertLess(mean, 2_400_000);
  assertGreater(link.bwe.overuseDecreases, 0);
});

Deno.test("bwe: random loss above 10 % decreases, floor is 30 kbit/s", () => {
  const link = new Link(20_000_000, () => 500_000);
  link.lossRate = 0.2;
  link.run(2_000);
  assertLess(link.bwe.estimateBps, 600_000);
  assertGreater(link.bwe.lossFraction, 0.1);
  assertLess(link.bwe.lossFraction, 0.35);
  link.lossRate = 0.9;
  link.run(60_000);
  assertEquals(link.bwe.estimateBps, 30_000);
});

Deno.test("bwe: loss between 2 and 10 % holds the loss-based part", () => {
  const link = new Link(20_000_000, () => 800_000);
  link.lossEvery = 20;
  link.run(1_100);
  const held = link.bwe.lossBasedBps;
  link.run(5_000);
  assertAlmostEquals(link.bwe.lossBasedBps, held, held * 0.001);
});

Deno.test("bwe: REMB drives the estimate without TWCC; RR loss caps it", () => {
  const bwe = new BandwidthEstimator({ history: new SendHistory() });
  bwe.onRemb(1_200_000, 1_000);
  assertEquals(bwe.modeAt(1_000), EstimateMode.remb);
  assertEquals(bwe.estimateBps, 600_000, "loss part still at start until RRs say otherwise");
  for (let t = 2_000; t <= 12_000; t += 1_000) {
    bwe.onRemb(1_200_000, t);
    bwe.onLossReport(0, t);
  }
  assertEquals(bwe.estimateBps, 1_200_000);
  bwe.onLossReport(0.3, 13_000);
  assertAlmostEquals(bwe.estimateBps, 1_200_000 * 0.85, 1);
});

Deno.test("bwe: RR loss alone moves the estimate", () => {
  const bwe = new BandwidthEstimator({ history: new SendHistory() });
  const rows = [
    { t: 1_000, loss: 0, want: 600_000 * 1.08 },
    { t: 1_500, loss: 0, want: 600_000 * 1.08 }, // one increase per second
    { t: 2_000, loss: 0.01, want: 600_000 * 1.08 * 1.08 },
    { t: 3_000, loss: 0.05, want: 600_000 * 1.08 * 1.08 },
    { t: 4_000, loss: 0.5, want: 600_000 * 1.08 * 1.08 * 0.75 },
  ];
  for (const r of rows) {
    bwe.onLossReport(r.loss, r.t);
    assertAlmostEquals(bwe.estimateBps, r.want, 1, `t=${r.t}`);
    assertEquals(bwe.modeAt(r.t), EstimateMode.loss);
  }
});

Deno.test("bwe: a recent REMB caps the TWCC estimate", () => {
  const link = new Link(20_000_000, () => 500_000);
  link.run(5_000);
  assertGreater(link.bwe.estimateBps, 700_000);
  link.bwe.onRemb(300_000, link.nowUs / 1000);
  assertEquals(link.bwe.estimateBps, 300_000);
  link.run(4_000);
  assertGreater(link.bwe.estimateBps, 700_000, "stale REMB no longer caps");
});

Deno.test("bwe: duplicate feedback is not counted twice", () => {
  const history = new SendHistory();
  const bwe = new BandwidthEstimator({ history });
  const rec = new TwccRecorder();
  for (let i = 0; i < 100; i++) {
    history.onSent(i, i * 10_000, 1000, false);
    rec.record(i, 50_000 + i * 10_000);
  }
  const buf = new Uint8Array(2000);
  const n = rec.buildFeedback(buf, 0, 1, 2);
  const fb = new TwccFeedback();
  readTwccFeedback(buf, 0, n, fb);
  bwe.onTwccFeedback(fb, 1_100);
  const acked = bwe.ackedBitrateBps;
  assertAlmostEquals(acked, 800_000, 10_000);
  bwe.onTwccFeedback(fb, 1_200);
  assertEquals(bwe.ackedBitrateBps, acked);
  assertEquals(bwe.feedbackCount, 1);
});

Deno.test("bwe: probe results lift; the acked cap bounds increases", () => {
  const capped = new Link(20_000_000, () => 300_000, {
    ackedCapRatio: 1.5,
    startBitrateBps: 300_000,
  });
  capped.run(20_000);
  assertGreater(capped.bwe.estimateBps, 400_000);
  assertLess(capped.bwe.estimateBps, 1.5 * capped.bwe.ackedBitrateBps + 10_000 + 1);
  capped.bwe.onProbeResult(2_000_000, capped.nowUs / 1000);
  assertEquals(capped.bwe.estimateBps, 2_000_000);
});

Deno.test("bwe: overuse from a short burst through a limited link cuts from the rate the link carried", () => {
  // A viewer fed 420 kbit/s through a 700 kbit/s link; the estimate has grown past the link
  // (nothing queued yet to say otherwise). Then a 300 ms probe at 2 Mbit/s fills the queue.
  const capacity = 700_000;
  let burst = false;
  const link = new Link(capacity, () => burst ? 2_000_000 : 420_000);
  link.run(6_000);
  assertEquals(link.bwe.overuseDecreases, 0, "420 kbit/s alone fits the link");
  assertGreater(link.bwe.estimateBps, capacity);
  burst = true;
  link.run(300);
  burst = false;
  let lowest = Infinity;
  link.run(1_500, () => {
    lowest = Math.min(lowest, link.bwe.estimateBps);
  });
  assertGreater(link.bwe.overuseDecreases, 0, "the burst was seen as overuse");
  // The last second's acknowledged rate is diluted by the 420 kbit/s before the burst
  // (about 500 kbit/s): 0.85 × that is below the rate the viewer was fed without trouble.
  // The last 250 ms delivered the link's 700 kbit/s, so the cut lands near 0.85 × 700.
  assertGreater(lowest, 0.8 * capacity, `estimate fell to ${lowest.toFixed(0)}`);
  assertLess(lowest, capacity, "it did cut below the link rate");
});

Deno.test("bwe: a receiver that reads in bursts is not taken for congestion", () => {
  for (const gap of [10, 25, 40]) {
    const link = new Link(50_000_000, () => 3_000_000);
    link.readGapMs = gap;
    link.run(20_000);
    assertEquals(link.bwe.overuseDecreases, 0, `reads every 1–${gap} ms`);
    assertGreater(link.bwe.estimateBps, 600_000 * Math.pow(1.08, 15));
  }
});

Deno.test("bwe: a receiver's stall cuts an application-limited estimate by half at most per decrease", () => {
  // An SFU subscriber: layers use a quarter of the estimate. A 150 ms stall of the receiver
  // looks like a queue to the delay detector; a cut to 0.85 × the acknowledged rate would take
  // the estimate to a fifth, the allocator would pause layers, the next cut would start from
  // less again (seen in the room bench with 24 cameras per subscriber).
  const link = new Link(50_000_000, (bwe) => bwe.estimateBps / 4, { startBitrateBps: 3_000_000 });
  link.run(5_000);
  const before = link.bwe.estimateBps;
  link.stallUntilUs = link.nowUs + 150_000 + 20_000;
  let lowest = Infinity;
  link.run(3_000, () => {
    lowest = Math.min(lowest, link.bwe.estimateBps);
  });
  assertGreater(link.bwe.overuseDecreases, 0, "the stall was seen as overuse");
  assertGreater(
    lowest,
    0.45 * before,
    `estimate fell from ${before.toFixed(0)} to ${lowest.toFixed(0)}`,
  );
});
