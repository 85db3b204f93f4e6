/**
 * Prober: cluster sizing, pacing, and the measured rate from synthetic TWCC feedback over a
 * real send history.
 */
import { assert, assertAlmostEquals, assertEquals } from "@std/assert";
import { ProbeOutcome, Prober, ProbeState } from "../../src/sfu/prober.ts";
import { SendHistory } from "../../src/sfu/send-history.ts";
import { TwccFeedback } from "../../src/rtp/twcc-reader.ts";
import { TwccStatus } from "../../src/rtp/twcc-writer.ts";

Deno.test("cluster sizing: padding covers target − media over the duration, at least minPackets", () => {
  const rows: [target: number, media: number, planned: number][] = [
    // (1.2 M − 0.4 M) × 0.4 s / 8 = 40 000 bytes / 250 = 160 packets
    [1_200_000, 400_000, 160],
    // media above the target: still a minimal cluster, so there is something to measure
    [500_000, 900_000, 5],
    // unknown media rate (0): all padding
    [100_000, 0, 20],
  ];
  for (const [target, media, planned] of rows) {
    const p = new Prober({ durationMs: 400, packetBytes: 250, minPackets: 5 });
    assert(p.start(target, media, 0));
    assertEquals(p.packetsPlanned, planned, `${target}/${media}`);
    assertEquals(p.state, ProbeState.sending);
    assertEquals(p.start(target, media, 1), false, "one cluster at a time");
  }
  assertEquals(new Prober().start(0, 0, 0), false, "no target, no probe");
});

Deno.test("pacing: linear over the duration, bursts capped, the rest dropped past twice the duration", () => {
  const p = new Prober({ durationMs: 400, packetBytes: 250, maxBurst: 24 });
  p.start(1_200_000, 400_000, 1000); // 160 packets
  const sendDue = (now: number) => {
    const n = p.due(now);
    for (let i = 0; i < n; i++) p.onSent(p.packetsSent, now);
    return n;
  };
  assertEquals(sendDue(1000), 1, "first packet at once");
  assertEquals(sendDue(1000), 0, "nothing more due at the same instant");
  assertEquals(sendDue(1100), 24, "40 due after 100 ms, capped at the burst size");
  assertEquals(sendDue(1100), 15);
  assertEquals(sendDue(1200), 24);
  assertEquals(sendDue(1200), 16, "80 after half the duration");
  // A long stall (no frame end) past 2 × duration: the cluster ends with what was sent.
  assertEquals(sendDue(1801), 0);
  assertEquals(p.state, ProbeState.measuring);
  assertEquals(p.packetsSent, 80);

  const q = new Prober({ durationMs: 400, packetBytes: 250, maxBurst: 1000 });
  q.start(1_200_000, 400_000, 0);
  let total = 0;
  for (let t = 0; t <= 400; t += 33) {
    const n = q.due(t);
    for (let i = 0; i < n; i++) q.onSent(total + i, t);
    total += n;
  }
  total += q.due(400);
  assert(total >= 159 && total <= 160, `${total}`);
});

/** Sends a cluster: one padding packet every `gapUs`; returns the next seq. */
function sendCluster(
  p: Prober,
  history: SendHistory,
  firstSeq: number,
  packets: number,
  gapUs: number,
  bytes: number,
): number {
  let seq = firstSeq;
  for (let i = 0; i < packets; i++) {
    const t = i * gapUs;
    history.onSent(seq, t, bytes, true);
    p.onSent(seq, t / 1000);
    seq = (seq + 1) & 0xffff;
  }
  return seq;
}

/** Feedback for `count` seqs from `base`: arrivals spaced `gapUs`, `lost` indexes missing. */
function feedback(base: number, count: number, gapUs: number, lost: number[] = []): TwccFeedback {
  const fb = new TwccFeedback(256);
  fb.baseSeq = base;
  fb.count = count;
  for (let i = 0; i < count; i++) {
    fb.status[i] = lost.includes(i) ? TwccStatus.notReceived : TwccStatus.smallDelta;
    fb.arrivalUs[i] = 50_000_000 + i * gapUs;
  }
  return fb;
}

Deno.test("result: the lower of send and receive rate; success needs ≥ 90 % of the target and no overuse", () => {
  const rows: [
    name: string,
    recvGapUs: number,
    lost: number[],
    overusing: boolean,
    outcome: number,
    bps: number,
  ][] = [
    // 10 packets of 1000 bytes every 5 ms: 9 × 8000 bits / 45 ms = 1.6 Mbit/s sent
    ["arrives at the send rate", 5000, [], false, ProbeOutcome.success, 1_600_000],
    [
      "path slower (8 ms apart): the receive rate",
      8000,
      [],
      false,
      ProbeOutcome.failure,
      1_000_000,
    ],
    ["overuse detected", 5000, [], true, ProbeOutcome.failure, 1_600_000],
    ["too much lost", 5000, [1, 2, 3], false, ProbeOutcome.failure, 0],
  ];
  for (const [name, gap, lost, overusing, outcome, bps] of rows) {
    const history = new SendHistory();
    const p = new Prober({ durationMs: 50, packetBytes: 1000, minPackets: 1 });
    p.start(1_600_000, 0, 0); // (1.6 M × 0.05 s / 8) / 1000 = 10 packets
    assertEquals(p.packetsPlanned, 10);
    sendCluster(p, history, 65530, 10, 5000, 1000); // wraps the 16-bit space
    assertEquals(p.state, ProbeState.measuring, name);
    // Media after the last padding packet does not belong to the cluster.
    history.onSent(4, 45_000, 1000, false);
    // Early feedback (half the cluster): still pending.
    assertEquals(p.onFeedback(feedback(65530, 5, gap, lost), history, false, 0), 0, name);
    const result = p.onFeedback(feedback(65530, 11, gap, lost), history, overusing, 0);
    assertEquals(result, outcome, name);
    assertAlmostEquals(p.resultBps, bps, 1, name);
    assertEquals(p.state, ProbeState.idle, name);
  }
});

Deno.test("result: media interleaved in the cluster counts; repeated and late-received reports count once", () => {
  const history = new SendHistory();
  const p = new Prober({ durationMs: 40, packetBytes: 500, minPackets: 1 });
  p.start(2_000_000, 1_000_000, 0); // 5000 bytes of padding: 10 packets
  // Alternate padding and media (another track) every 2 ms: seqs 100..119.
  let seq = 100;
  for (let i = 0; i < 10; i++) {
    history.onSent(seq, i * 4000, 500, true);
    p.onSent(seq, i * 4);
    seq++;
    if (i < 9) history.onSent(seq++, i * 4000 + 2000, 500, false);
  }
  assertEquals(p.state, ProbeState.measuring);
  const fb = feedback(100, 19, 2000, [7]);
  assertEquals(p.onFeedback(fb, history, false, 0), ProbeOutcome.success);
  // Sent: 18 × 4000 bits / 36 ms = 2 Mbit/s; received (one lost): 17 × 4000 bits / 36 ms.
  assertAlmostEquals(p.resultBps, 17 * 4000 / 0.036, 1);
  assertEquals(p.onFeedback(fb, history, false, 0), ProbeOutcome.pending, "idle after a result");

  // Reported lost first, then received, then repeated: one packet each.
  const q = new Prober({ durationMs: 40, packetBytes: 500, minPackets: 1 });
  const h2 = new SendHistory();
  q.start(1_000_000, 0, 0);
  for (let i = 0; i < 10; i++) {
    h2.onSent(200 + i, i * 4000, 500, true);
    q.onSent(200 + i, i * 4);
  }
  assertEquals(q.onFeedback(feedback(200, 5, 4000, [0, 1, 2, 3, 4]), h2, false, 0), 0);
  assertEquals(q.onFeedback(feedback(200, 5, 4000), h2, false, 0), 0);
  assertEquals(q.onFeedback(feedback(200, 10, 4000), h2, false, 0), ProbeOutcome.success);
  // 9 × 4000 bits / 36 ms = 1 Mbit/s either way.
  assertAlmostEquals(q.resultBps, 1_000_000, 1);
});

Deno.test("no covering feedback: failure after the timeout; cancel returns to idle", () => {
  const p = new Prober({ durationMs: 100, packetBytes: 500, minPackets: 1, resultTimeoutMs: 1000 });
  p.start(400_000, 0, 0); // 10 packets
  for (let i = 0; i < 10; i++) p.onSent(i, 10 * i);
  assertEquals(p.state, ProbeState.measuring);
  assertEquals(p.poll(1089), ProbeOutcome.pending);
  assertEquals(p.poll(1090), ProbeOutcome.failure);
  assertEquals(p.state, ProbeState.idle);
  assertEquals(p.poll(5000), ProbeOutcome.pending);

  p.start(400_000, 0, 0);
  p.cancel();
  assertEquals(p.state, ProbeState.idle);
  assertEquals(p.due(50), 0);
});

Deno.test("overuse while padding is paced out ends the cluster's padding; its result is a failure", () => {
  const history = new SendHistory();
  const p = new Prober({ durationMs: 400, packetBytes: 500, minPackets: 1, maxBurst: 1000 });
  p.start(1_000_000, 0, 0); // 100 packets over 400 ms
  let seq = 0;
  for (let t = 0; t <= 100; t += 50) {
    for (let n = p.due(t); n > 0; n--) {
      history.onSent(seq, t * 1000, 500, true);
      p.onSent(seq++, t);
    }
  }
  assertEquals(p.state, ProbeState.sending);
  const sent = p.packetsSent;
  assertEquals(sent, 25);
  // Feedback on the first packets, with the delay detector overusing: no more padding.
  assertEquals(p.onFeedback(feedback(0, 10, 4000), history, true, 120), ProbeOutcome.pending);
  assertEquals(p.state, ProbeState.measuring);
  assertEquals(p.due(200), 0);
  assertEquals(p.due(400), 0);
  // Feedback covering what was sent decides: a failure, whatever the rate.
  assertEquals(p.onFeedback(feedback(0, sent, 4000), history, false, 250), ProbeOutcome.failure);
  assertEquals(p.state, ProbeState.idle);

  // Without overuse the same cluster keeps going.
  const q = new Prober({ durationMs: 400, packetBytes: 500, minPackets: 1, maxBurst: 1000 });
  q.start(1_000_000, 0, 0);
  for (let n = q.due(100); n > 0; n--) q.onSent(q.packetsSent, 100);
  assertEquals(q.onFeedback(feedback(0, 10, 4000), new SendHistory(), false, 120), 0);
  assertEquals(q.state, ProbeState.sending);
  assert(q.due(200) > 0);
});
