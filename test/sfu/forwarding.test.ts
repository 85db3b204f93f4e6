/**
 * Producer → Consumer with synthetic packets and an in-memory viewer link: the byte-level
 * properties of what a viewer receives, without sockets.
 */
import { assert, assertEquals, assertGreater } from "@std/assert";
import { Ext, ExtensionMap, ExtensionUri } from "../../src/rtp/header-extensions.ts";
import { InboundPacket } from "../../src/rtp/inbound-packet.ts";
import { Consumer } from "../../src/sfu/consumer.ts";
import { Producer } from "../../src/sfu/producer.ts";
import { SendHistory } from "../../src/sfu/send-history.ts";
import { histograms } from "../../src/observability/counters.ts";
import { TwccFeedback } from "../../src/rtp/twcc-reader.ts";
import { TwccStatus } from "../../src/rtp/twcc-writer.ts";
import { ascii, buildPacket, vp8 } from "../support/packets.ts";
import {
  forwardingRig,
  MemoryLink,
  PUBLISHER_MID_RID,
  VIEWER_MID_TWCC,
} from "../support/forwarding-rig.ts";

const publisherMap = PUBLISHER_MID_RID;
const viewerMap = VIEWER_MID_TWCC;

/** A VP8 producer without simulcast on the publisher's extension map. */
function publisherProducer(): Producer {
  return new Producer({
    kind: "video",
    mid: "1",
    codecName: "vp8",
    payloadType: 96,
    clockRate: 90000,
    rids: [],
    extensions: publisherMap,
    requestKeyframe: () => {},
  });
}

/** TWCC feedback saying packets [from, to) all arrived, each 20 ms after it was sent. */
function cleanFeedback(fb: TwccFeedback, history: SendHistory, from: number, to: number): void {
  fb.baseSeq = from & 0xffff;
  fb.count = to - from;
  for (let i = 0; i < fb.count; i++) {
    fb.status[i] = TwccStatus.smallDelta;
    fb.arrivalUs[i] = history.sendUs(history.find(from + i)) + 20_000;
  }
}

function setup(rids: string[] = []) {
  const keyframeRequests: number[] = [];
  const { producer, consumer, link, push } = forwardingRig({
    codecName: "vp8",
    rids,
    publisherMap,
    viewerMap,
    requestKeyframe: (ssrc) => keyframeRequests.push(ssrc),
  });
  const feed = (
    p: {
      seq: number;
      ts: number;
      ssrc: number;
      key?: boolean;
      rid?: string;
      at: number;
      marker?: boolean;
    },
  ) => {
    const ext: [number, Uint8Array][] = p.rid ? [[2, ascii(p.rid)]] : [];
    const bytes = buildPacket({
      seq: p.seq,
      ts: p.ts,
      ssrc: p.ssrc,
      marker: p.marker ?? true,
      extensions: ext,
      payload: vp8(!!p.key),
    });
    push(bytes, p.at);
  };
  return { producer, consumer, link, feed, keyframeRequests };
}

Deno.test("a viewer starts at a key frame; output has one SSRC, the viewer's PT and contiguous sequence numbers across the wrap", () => {
  const { consumer, link, feed, keyframeRequests } = setup();
  feed({ seq: 65530, ts: 0, ssrc: 1, at: 0 });
  consumer.select(1);
  assertEquals(keyframeRequests, [1], "key frame requested on join");
  assertEquals(link.sent.length, 0, "nothing before a key frame");
  for (let i = 1; i <= 20; i++) {
    feed({ seq: 65530 + i, ts: i * 3000, ssrc: 1, key: i === 1, at: i * 33 });
  }
  assertEquals(link.sent.length, 20);
  const first = link.sent[0].sequenceNumber;
  link.sent.forEach((p, i) => {
    assertEquals(p.ssrc, 0xabc);
    assertEquals(p.payloadType, 100);
    assertEquals(p.sequenceNumber, (first + i) & 0xffff);
    assertEquals(p.ridString(Ext.mid), "v");
    assertEquals(p.transportSequence(), i);
    if (i > 0) assertEquals((p.timestamp - link.sent[i - 1].timestamp) >>> 0, 3000);
  });
});

Deno.test("simulcast: switch only at a key frame of the target layer; output stays continuous", () => {
  const { producer, consumer, link, feed } = setup(["f", "h", "q"]);
  // Three layers; 'f' is the largest (its key frame carries 640×480; others have no size yet).
  let t = 0;
  feed({ seq: 100, ts: 0, ssrc: 10, rid: "q", key: true, at: t });
  feed({ seq: 500, ts: 0, ssrc: 30, rid: "f", key: true, at: t });
  assertEquals(producer.layers.length, 2);
  // The consumer picked up the first key frame it saw (layer q); now target the best layer.
  consumer.select(t + 1);
  assertEquals(consumer.target?.rid, "f");
  const before = link.sent.length;
  for (let i = 1; i <= 5; i++) {
    t += 33;
    feed({ seq: 100 + i, ts: i * 3000, ssrc: 10, rid: "q", at: t });
    feed({ seq: 500 + i, ts: i * 3000, ssrc: 30, rid: "f", at: t }); // no key frame yet: not forwarded
  }
  assertEquals(consumer.current?.rid, "q");
  t += 33;
  feed({ seq: 506, ts: 18000, ssrc: 30, rid: "f", key: true, at: t });
  assertEquals(consumer.current?.rid, "f");
  feed({ seq: 106, ts: 18000, ssrc: 10, rid: "q", at: t });
  feed({ seq: 507, ts: 21000, ssrc: 30, rid: "f", at: t + 33 });
  const seqs = link.sent.slice(before - 1).map((p) => p.sequenceNumber);
  for (let i = 1; i < seqs.length; i++) assertEquals((seqs[i] - seqs[i - 1]) & 0xffff, 1);
  assertEquals(new Set(link.sent.map((p) => p.ssrc)).size, 1);
  assertGreater(consumer.layerSwitches, 0);
});

Deno.test("a viewer NACK is answered from the source layer's cache with the same bytes", () => {
  const { consumer, link, feed } = setup();
  for (let i = 0; i < 10; i++) feed({ seq: 1000 + i, ts: i * 3000, ssrc: 7, key: i === 0, at: i });
  const original = link.sent[4];
  const copy = original.buf.slice(0, original.length);
  const resent = consumer.retransmit([original.sequenceNumber, 9999], 2);
  assertEquals(resent, 1, "an unknown sequence number is ignored");
  const again = link.sent[link.sent.length - 1];
  assertEquals(again.sequenceNumber, original.sequenceNumber);
  assertEquals(again.timestamp, original.timestamp);
  // Identical but for the transport-wide sequence number (a new send on the transport).
  const a = copy.slice(again.payloadOffset);
  const b = again.buf.slice(again.payloadOffset, again.length);
  assertEquals(a, b);
});

Deno.test("forward latency is sampled on fresh packets only, never on retransmissions (their arrival is old)", () => {
  const { consumer, link, feed } = setup();
  const now = performance.now();
  // 32 packets that "arrived" 1 ms ago: two samples (one packet in 16), both about 1 ms.
  const before = histograms.forwardLatencySeconds.count;
  const sumBefore = histograms.forwardLatencySeconds.sum;
  for (let i = 0; i < 32; i++) {
    feed({ seq: 2000 + i, ts: i * 3000, ssrc: 7, key: i === 0, at: now - 1 });
  }
  assertEquals(histograms.forwardLatencySeconds.count - before, 2);
  // 32 retransmissions of packets that arrived 1 ms ago, answered now: no samples.
  const seqs = link.sent.map((p) => p.sequenceNumber);
  assertEquals(consumer.retransmit(seqs, seqs.length), 32);
  assertEquals(histograms.forwardLatencySeconds.count - before, 2);
  assert(histograms.forwardLatencySeconds.sum - sumBefore < 0.1, "samples are a few ms at most");
});

Deno.test("publisher replaced: the consumer keeps its SSRC and sequence space on the new producer", () => {
  const { producer, consumer, link, feed } = setup();
  for (let i = 0; i < 5; i++) {
    feed({ seq: 10 + i, ts: i * 3000, ssrc: 1, key: i === 0, at: i * 33 });
  }
  const next = publisherProducer();
  producer.close();
  consumer.rebind(next);
  const pkt = new InboundPacket();
  for (let i = 0; i < 5; i++) {
    const bytes = buildPacket({
      seq: 60000 + i,
      ts: 999 + i * 3000,
      ssrc: 2,
      marker: true,
      payload: vp8(i === 0),
    });
    pkt.parse(bytes, bytes.length, publisherMap);
    pkt.arrivalMs = 500 + i * 33;
    next.onPacket(pkt);
  }
  assertEquals(link.sent.length, 10);
  const seqs = link.sent.map((p) => p.sequenceNumber);
  for (let i = 1; i < seqs.length; i++) assertEquals((seqs[i] - seqs[i - 1]) & 0xffff, 1);
  assertEquals(new Set(link.sent.map((p) => p.ssrc)), new Set([0xabc]));
  for (let i = 1; i < link.sent.length; i++) {
    const d = (link.sent[i].timestamp - link.sent[i - 1].timestamp) | 0;
    assertGreater(d, 0, "timestamps never go backwards");
  }
});

Deno.test("probe padding: after a frame's last packet, continuing the output sequence with the P bit and the last timestamp", () => {
  const { consumer, link, feed } = setup();
  // Two packets per frame; the second ends the frame.
  const frame = (n: number, at: number, order: number[] = [0, 1]) => {
    for (const k of order) {
      feed({
        seq: 100 + 2 * n + k,
        ts: n * 3000,
        ssrc: 1,
        key: n === 0,
        marker: k === 1,
        at: at + k,
      });
    }
  };
  frame(0, 0);
  assert(consumer.startProbe(2_000_000, 0, 10));
  frame(1, 40);
  frame(2, 80);
  // The last packet of frame 3 arrives before its first: padding follows it, the late one
  // still gets its own slot before the padding.
  frame(3, 120, [1, 0]);
  frame(4, 160);
  const probes = link.sent.filter((p) => p.payloadLength === 0);
  assertGreater(probes.length, 24);
  assertEquals(consumer.probePacketsSent, probes.length);
  assertEquals(consumer.packetsSent, 10, "media counted apart from padding");

  for (let i = 0; i < link.sent.length; i++) {
    const p = link.sent[i];
    if (p.payloadLength !== 0) continue;
    assert(link.probes[i], "recorded as a probe");
    assertEquals(p.buf[0] & 0x20, 0x20, "P bit");
    assertEquals(p.paddingLength, 255);
    assertEquals(p.marker, false);
    assertEquals(p.ssrc, 0xabc);
    assertEquals(p.payloadType, 100);
    // The packet before it in send order is the media packet that ended a frame, or padding.
    let j = i - 1;
    while (link.sent[j].payloadLength === 0) j--;
    assert(link.sent[j].marker, "padding only at a frame boundary");
    assertEquals(p.timestamp, link.sent[j].timestamp, "the last output timestamp");
  }
  for (let i = 0; i < link.sent.length; i++) {
    if (!link.probes[i]) assertEquals(link.sent[i].payloadLength > 0, true);
  }
  // Transport-wide sequence numbers: one per packet, in send order.
  link.twccSeqs.forEach((t, i) => assertEquals(t, i));

  // All output sequence numbers: one contiguous range, each once.
  const first = link.sent[0].sequenceNumber;
  const offsets = link.sent.map((p) => (p.sequenceNumber - first) & 0xffff).sort((a, b) => a - b);
  offsets.forEach((o, i) => assertEquals(o, i));
  // The late first packet of frame 3 sits right before its frame's last packet.
  const media = link.sent.filter((p) => p.payloadLength > 0);
  const f3last = media.find((p) => p.timestamp === media[0].timestamp + 9000 && p.marker)!;
  const f3first = media.find((p) => p.timestamp === f3last.timestamp && !p.marker)!;
  assertEquals((f3last.sequenceNumber - f3first.sequenceNumber) & 0xffff, 1);
  // Media of one frame stays contiguous; frames in order.
  for (let i = 1; i < media.length; i++) {
    if (media[i].timestamp === media[i - 1].timestamp) continue;
    assertGreater((media[i].sequenceNumber - media[i - 1].sequenceNumber) & 0xffff, 0);
  }

  // Padding is never resent: a NACK for it finds nothing.
  assertEquals(consumer.retransmit([probes[0].sequenceNumber, probes[5].sequenceNumber], 2), 0);
});

Deno.test("probe padding: none without transport-wide-cc", () => {
  const producer = publisherProducer();
  const consumer = new Consumer({
    producer,
    link: new MemoryLink(viewerMap),
    ssrc: 1,
    payloadType: 100,
    mid: "v",
    extensions: ExtensionMap.fromExtmaps([{ id: 3, uri: ExtensionUri.mid }]),
  });
  assertEquals(consumer.startProbe(2_000_000, 0, 0), false);
});

Deno.test("probe before an upgrade: the allocator's probe runs, TWCC feedback confirms it, then the upgrade follows", () => {
  const { producer, consumer, link, feed } = setup(["f", "q"]);
  const history = new SendHistory();
  let now = 0;
  const send = link.sendRtp.bind(link);
  link.sendRtp = (buf, len, twccSeq, isProbe = false) => {
    history.onSent(twccSeq, now * 1000, len, isProbe);
    return send(buf, len, twccSeq, isProbe);
  };
  const fb = new TwccFeedback(4096);
  let acked = 0;
  let probeBps = -1;
  let probeAtMs = -1;
  let upgradeAtMs = -1;
  let prevRid: string | undefined;
  for (let frame = 0; now < 16_000; frame++, now += 33) {
    const key = frame % 30 === 0;
    // q: one packet per frame (~53 kbit/s); f: two (~107 kbit/s).
    feed({ seq: 1000 + frame, ts: frame * 3000, ssrc: 10, rid: "q", key, at: now });
    feed({
      seq: 5000 + 2 * frame,
      ts: frame * 3000,
      ssrc: 30,
      rid: "f",
      key,
      marker: false,
      at: now,
    });
    feed({ seq: 5001 + 2 * frame, ts: frame * 3000, ssrc: 30, rid: "f", at: now });
    if (frame % 3 !== 0) continue;
    producer.tick(now);
    // A clean path: every packet arrives 20 ms after it was sent; feedback every 100 ms.
    const sent = link.twccSeqs.length;
    if (sent > acked) {
      cleanFeedback(fb, history, acked, sent);
      acked = sent;
      const bps = consumer.onProbeFeedback(fb, history, false, now);
      if (bps >= 0 && probeAtMs < 0) {
        probeBps = bps;
        probeAtMs = now;
      }
    }
    consumer.select(now, now < 3000 ? 200_000 : 2_000_000, 0, true);
    // Starts on f (no rates known yet), drops to q at 200 kbit/s, and comes back up.
    if (consumer.target?.rid === "f" && prevRid === "q") upgradeAtMs = now;
    prevRid = consumer.target?.rid;
  }
  assertGreater(consumer.probePacketsSent, 5);
  assertGreater(probeAtMs, 0, "a probe cluster was measured");
  // Target: 120 % of f's ~107 kbit/s.
  assertGreater(probeBps, 0.9 * 1.2 * 107_000);
  // Same tick: feedback confirms the probe, then selection upgrades.
  assertEquals(upgradeAtMs, probeAtMs, "the upgrade waited for the probe");
  assertEquals(consumer.current?.rid, "f");
  const seqs = link.sent.map((p) => p.sequenceNumber);
  for (let i = 1; i < seqs.length; i++) assertEquals((seqs[i] - seqs[i - 1]) & 0xffff, 1);
});

Deno.test("a paused consumer sends nothing and resumes at a key frame with contiguous output", () => {
  const { consumer, link, feed, keyframeRequests } = setup();
  feed({ seq: 100, ts: 0, ssrc: 1, key: true, at: 0 });
  consumer.select(1);
  for (let i = 1; i <= 5; i++) feed({ seq: 100 + i, ts: i * 3000, ssrc: 1, at: i * 33 });
  const before = link.sent.length;
  assertGreater(before, 0);
  const lastSeq = link.sent[before - 1].sequenceNumber;
  // The subscriber's budget has no room for this track: a share of 0 pauses it.
  consumer.select(200, 0);
  assert(consumer.paused);
  for (let i = 6; i <= 10; i++) {
    feed({ seq: 100 + i, ts: i * 3000, ssrc: 1, key: i === 8, at: i * 33 });
  }
  assertEquals(link.sent.length, before, "nothing sent while paused, key frames included");
  const requests = keyframeRequests.length;
  consumer.select(400, 5_000_000);
  assert(!consumer.paused);
  assertGreater(keyframeRequests.length, requests, "resuming asks for a key frame");
  feed({ seq: 111, ts: 11 * 3000, ssrc: 1, at: 11 * 33 });
  assertEquals(link.sent.length, before, "an inter frame cannot resume the picture");
  feed({ seq: 112, ts: 12 * 3000, ssrc: 1, key: true, at: 12 * 33 });
  feed({ seq: 113, ts: 13 * 3000, ssrc: 1, at: 13 * 33 });
  assertEquals(link.sent.length, before + 2);
  assertEquals(link.sent[before].sequenceNumber, (lastSeq + 1) & 0xffff, "no gap for the viewer");
  // A hidden tile (maxHeight 0) pauses whatever the budget.
  consumer.maxHeight = 0;
  consumer.select(600, 5_000_000);
  assert(consumer.paused);
});

Deno.test("recovery probe: a consumer the split paused pads on its own from the tick, continuing its sequence, and a clean path confirms the rate", () => {
  const { producer, consumer, link, feed } = setup(["q"]);
  const history = new SendHistory();
  let now = 0;
  const send = link.sendRtp.bind(link);
  link.sendRtp = (buf, len, twccSeq, isProbe = false) => {
    history.onSent(twccSeq, now * 1000, len, isProbe);
    return send(buf, len, twccSeq, isProbe);
  };
  const frame = (n: number) =>
    feed({ seq: 1000 + n, ts: n * 3000, ssrc: 10, rid: "q", key: n % 30 === 0, at: now });
  // Forwarding, then paused by the split (a share of 0): nothing more goes out.
  let n = 0;
  for (; now < 1000; now += 33, n++) {
    frame(n);
    producer.tick(now);
    consumer.select(now, 2_000_000, 0, true);
  }
  assertGreater(consumer.packetsSent, 0);
  assertEquals(consumer.startRecoveryProbe(500_000, now), false, "only a paused consumer");
  consumer.select(now, 0, 0, true);
  assert(consumer.paused);
  const mediaSent = link.sent.length;
  const lastMedia = link.sent[mediaSent - 1];

  assert(consumer.startRecoveryProbe(500_000, now));
  assertEquals(consumer.startRecoveryProbe(500_000, now), false, "one probe at a time");
  const fb = new TwccFeedback(4096);
  let acked = 0;
  let measured = -1;
  for (let tick = 0; now < 3000 && measured < 0; now += 20, n++, tick++) {
    frame(n); // the publisher goes on; the paused consumer forwards none of it
    assert(consumer.paceRecoveryProbe(now));
    const sent = link.twccSeqs.length;
    // Feedback every 100 ms.
    if (sent > acked && tick % 5 === 4) {
      cleanFeedback(fb, history, acked, sent);
      acked = sent;
      measured = consumer.onProbeFeedback(fb, history, false, now);
    }
  }
  const padding = link.sent.slice(mediaSent);
  assertGreater(padding.length, 5);
  assertEquals(padding.filter((p) => p.payloadLength !== 0).length, 0, "padding only");
  padding.forEach((p, i) => {
    assertEquals((p.sequenceNumber - lastMedia.sequenceNumber) & 0xffff, i + 1);
    assertEquals(p.timestamp, lastMedia.timestamp);
    assertEquals(p.ssrc, lastMedia.ssrc);
  });
  assertGreater(measured, 0.9 * 500_000, "the clean path carried the probe's rate");
  assertEquals(consumer.probeState, 0, "idle again");
});
