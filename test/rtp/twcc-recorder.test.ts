import { assert, assertEquals, assertLess, assertThrows } from "@std/assert";
import { Buffer } from "node:buffer";
import { RtcpPacketConverter, RtcpTransportLayerFeedback, TransportWideCC } from "werift";
import { TwccRecorder } from "../../src/rtp/twcc-recorder.ts";
import { readTwccFeedback, TwccFeedback } from "../../src/rtp/twcc-reader.ts";
import { TwccStatus } from "../../src/rtp/twcc-writer.ts";

/** Splits a compound buffer into its RTCP packets. */
function splitPackets(buf: Uint8Array, len: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let p = 0;
  while (p < len) {
    const total = (((buf[p + 2] << 8) | buf[p + 3]) + 1) * 4;
    out.push(buf.subarray(p, p + total));
    p += total;
  }
  assertEquals(p, len, "packets tile the output exactly");
  return out;
}

interface Parsed {
  seq: number;
  received: boolean;
  arrivalUs: number;
}

/** Builds feedback and parses every packet with our reader; checks framing on the way. */
function buildAndRead(
  rec: TwccRecorder,
  bufSize = 65536,
): { parsed: Parsed[]; packets: Uint8Array[] } {
  const buf = new Uint8Array(bufSize);
  const n = rec.buildFeedback(buf, 0, 0x11223344, 0x55667788);
  const packets = n === 0 ? [] : splitPackets(buf, n);
  const fb = new TwccFeedback(65535);
  const parsed: Parsed[] = [];
  for (const pkt of packets) {
    assertEquals(pkt.length % 4, 0, "length is a multiple of 4");
    const pad = (pkt[0] & 0x20) !== 0;
    if (pad) {
      const count = pkt[pkt.length - 1];
      assert(count >= 1 && count <= 3, "pad count byte");
      for (let i = pkt.length - count; i < pkt.length - 1; i++) assertEquals(pkt[i], 0);
    }
    assertEquals(pkt[0] & 0x1f, 15);
    assertEquals(pkt[1], 205);
    const m = readTwccFeedback(pkt, 0, pkt.length, fb);
    assert(m > 0, `reader accepted the packet (${m})`);
    assertEquals(fb.senderSsrc, 0x11223344);
    assertEquals(fb.mediaSsrc, 0x55667788);
    for (let i = 0; i < m; i++) {
      parsed.push({
        seq: (fb.baseSeq + i) & 0xffff,
        received: fb.received(i),
        arrivalUs: fb.arrivalUs[i],
      });
    }
  }
  return { parsed, packets };
}

/** werift's parser must accept each packet and agree on statuses and deltas. */
function assertWeriftAccepts(pkt: Uint8Array, expectReceived: number): void {
  const parsed = RtcpPacketConverter.deSerialize(Buffer.from(pkt));
  assertEquals(parsed.length, 1);
  const p = parsed[0];
  assert(p instanceof RtcpTransportLayerFeedback);
  const twcc = p.feedback;
  assert(twcc instanceof TransportWideCC, "werift parsed a TransportWideCC");
  assertEquals(twcc.packetStatusCount, (pkt[14] << 8) | pkt[15]);
  assertEquals(twcc.recvDeltas.length, expectReceived);
  for (const d of twcc.recvDeltas) assert(Number.isFinite(d.delta), "delta parsed");
}

Deno.test("twcc: 100 packets round-trip within 250 µs, werift accepts", () => {
  const rec = new TwccRecorder();
  const t0 = 5_000_123;
  const arrivals: number[] = [];
  for (let i = 0; i < 100; i++) {
    const t = t0 + i * 1_000 + ((i * 7919) % 300);
    arrivals.push(t);
    rec.record(1000 + i, t);
  }
  const { parsed, packets } = buildAndRead(rec);
  assertEquals(packets.length, 1);
  assertEquals(parsed.length, 100);
  for (let i = 0; i < 100; i++) {
    assertEquals(parsed[i].seq, 1000 + i);
    assert(parsed[i].received);
    assertLess(Math.abs(parsed[i].arrivalUs - arrivals[i]), 250);
  }
  assertWeriftAccepts(packets[0], 100);
  // werift's deltas, summed from its reference time, land on the same arrivals.
  const w = RtcpPacketConverter.deSerialize(
    Buffer.from(packets[0]),
  )[0] as RtcpTransportLayerFeedback;
  const twcc = w.feedback as TransportWideCC;
  let t = twcc.referenceTime * 64_000;
  twcc.recvDeltas.forEach((d, i) => {
    t += d.delta;
    assertLess(Math.abs(t - arrivals[i]), 250);
  });
  assertEquals(rec.pending, 0);
  assertEquals(buildAndRead(rec).parsed.length, 0, "nothing left to report");
});

Deno.test("twcc: gaps are reported as not received", () => {
  const rec = new TwccRecorder();
  const lost = new Set([3, 4, 5, 9, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34]);
  let received = 0;
  for (let i = 0; i < 40; i++) {
    if (lost.has(i)) continue;
    rec.record(i, 1_000_000 + i * 2_000);
    received++;
  }
  const { parsed, packets } = buildAndRead(rec);
  assertEquals(parsed.length, 40);
  for (let i = 0; i < 40; i++) assertEquals(parsed[i].received, !lost.has(i), `seq ${i}`);
  assertWeriftAccepts(packets[0], received);
});

Deno.test("twcc: a range crossing 65535→0 stays one packet", () => {
  const rec = new TwccRecorder();
  const seqs: number[] = [];
  for (let i = 0; i < 20; i++) seqs.push((65526 + i) & 0xffff);
  seqs.forEach((s, i) => rec.record(s, 10_000_000 + i * 500));
  const { parsed, packets } = buildAndRead(rec);
  assertEquals(packets.length, 1);
  assertEquals(parsed.map((p) => p.seq), seqs);
  assert(parsed.every((p) => p.received));
  assertWeriftAccepts(packets[0], 20);
});

Deno.test("twcc: a delta beyond int16 (> 8.19 s) starts a new packet", () => {
  const rec = new TwccRecorder();
  const rows = [
    { seq: 10, t: 1_000_000 },
    { seq: 11, t: 1_020_000 },
    { seq: 12, t: 10_500_000 }, // +9.48 s
    { seq: 13, t: 10_510_000 },
  ];
  for (const r of rows) rec.record(r.seq, r.t);
  const { parsed, packets } = buildAndRead(rec);
  assertEquals(packets.length, 2);
  assertEquals(parsed.map((p) => p.seq), [10, 11, 12, 13]);
  rows.forEach((r, i) => assertLess(Math.abs(parsed[i].arrivalUs - r.t), 250));
  assertWeriftAccepts(packets[0], 2);
  assertWeriftAccepts(packets[1], 2);
  // Feedback count increments per packet.
  assertEquals((packets[1][19] - packets[0][19]) & 0xff, 1);
});

Deno.test("twcc: reordered arrivals give negative (large) deltas", () => {
  const rec = new TwccRecorder();
  rec.record(1, 2_000_000);
  rec.record(3, 2_004_000);
  rec.record(2, 2_006_000); // later arrival, lower seq
  rec.record(4, 2_001_000); // earlier than the previous one: negative delta
  const { parsed, packets } = buildAndRead(rec);
  assertEquals(parsed.map((p) => p.seq), [1, 2, 3, 4]);
  const want = [2_000_000, 2_006_000, 2_004_000, 2_001_000];
  want.forEach((t, i) => assertLess(Math.abs(parsed[i].arrivalUs - t), 250));
  assertWeriftAccepts(packets[0], 4);
});

Deno.test("twcc: duplicates keep the first arrival; a late packet is re-reported", () => {
  const rec = new TwccRecorder();
  rec.record(100, 1_000_000);
  rec.record(100, 1_900_000);
  rec.record(102, 1_002_000);
  let r = buildAndRead(rec).parsed;
  assertEquals(r.map((p) => [p.seq, p.received]), [[100, true], [101, false], [102, true]]);
  assertLess(Math.abs(r[0].arrivalUs - 1_000_000), 250);
  rec.record(101, 1_050_000);
  rec.record(103, 1_052_000);
  r = buildAndRead(rec).parsed;
  assertEquals(r.map((p) => [p.seq, p.received]), [[101, true], [102, true], [103, true]]);
});

Deno.test("twcc: memory is bounded when nobody builds feedback", () => {
  const rec = new TwccRecorder({ capacity: 1024 });
  for (let i = 0; i < 20_000; i++) rec.record(i & 0xffff, i * 100);
  assertEquals(rec.pending, 1024);
  const { parsed } = buildAndRead(rec);
  assertEquals(parsed.length, 1024);
  assertEquals(parsed[parsed.length - 1].seq, 19_999 & 0xffff);
  assert(parsed.every((p) => p.received));
});

Deno.test("twcc: many packets split by maxPacketBytes, contiguous, each accepted by werift", () => {
  const rec = new TwccRecorder({ maxPacketBytes: 200 });
  let expectReceived = 0;
  const lostEvery = 5;
  for (let i = 0; i < 600; i++) {
    if (i % lostEvery === 2) continue;
    // Alternate small and large deltas so both chunk kinds appear.
    const t = 3_000_000 + i * 1_000 + (i % 11 === 0 ? 70_000 : 0);
    rec.record((60_000 + i) & 0xffff, t);
    expectReceived++;
  }
  const { parsed, packets } = buildAndRead(rec);
  assert(packets.length > 1);
  for (const p of packets) assert(p.length <= 200);
  assertEquals(parsed.length, 600);
  for (let i = 0; i < 600; i++) {
    assertEquals(parsed[i].seq, (60_000 + i) & 0xffff);
    assertEquals(parsed[i].received, i % lostEvery !== 2);
  }
  let total = 0;
  for (const p of packets) {
    const rx = TransportWideCC.deSerialize(Buffer.from(p.subarray(4)), undefined as never);
    total += rx.recvDeltas.length;
    assertWeriftAccepts(p, rx.recvDeltas.length);
  }
  assertEquals(total, expectReceived);
});

Deno.test("twcc: random status patterns survive the chunk encoder", () => {
  let seed = 42;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x80000000;
  };
  for (let round = 0; round < 50; round++) {
    const rec = new TwccRecorder();
    const n = 1 + Math.floor(rand() * 400);
    const expected: boolean[] = [];
    const times: number[] = [];
    let t = 50_000_000 + Math.floor(rand() * 1e6);
    const base = Math.floor(rand() * 65536);
    const burst = rand() < 0.5;
    for (let i = 0; i < n; i++) {
      const lostP = burst ? (Math.floor(i / 20) % 2 === 0 ? 0.9 : 0.05) : 0.2;
      const got = i === 0 || i === n - 1 || rand() > lostP;
      expected.push(got);
      t += rand() < 0.1 ? Math.floor(rand() * 200_000) - 50_000 : Math.floor(rand() * 3000);
      times.push(t);
      if (got) rec.record((base + i) & 0xffff, t);
    }
    const { parsed, packets } = buildAndRead(rec);
    assertEquals(parsed.length, n);
    for (let i = 0; i < n; i++) {
      assertEquals(parsed[i].seq, (base + i) & 0xffff);
      assertEquals(parsed[i].received, expected[i], `round ${round} entry ${i}`);
      if (expected[i]) assertLess(Math.abs(parsed[i].arrivalUs - times[i]), 250);
    }
    for (const p of packets) {
      const fb = RtcpPacketConverter.deSerialize(Buffer.from(p));
      assertEquals(fb.length, 1, "werift accepts");
    }
  }
});

Deno.test("twcc: feedback count wraps at 256", () => {
  const rec = new TwccRecorder();
  const buf = new Uint8Array(1500);
  let last = -1;
  for (let i = 0; i < 300; i++) {
    rec.record(i, i * 1000);
    const n = rec.buildFeedback(buf, 0, 1, 2);
    assertEquals(n > 0, true);
    const count = buf[19];
    if (last >= 0) assertEquals(count, (last + 1) & 0xff);
    last = count;
  }
  assertEquals(rec.feedbackPackets, 300);
});

Deno.test("twcc: a small destination keeps the rest pending", () => {
  const rec = new TwccRecorder();
  for (let i = 0; i < 200; i++) rec.record(i, i * 100_000); // large deltas: 2 bytes each
  const small = new Uint8Array(100);
  const n = rec.buildFeedback(small, 0, 1, 2);
  assert(n > 0 && n <= 100);
  assert(rec.pending > 0 && rec.pending < 200);
  const pendingBefore = rec.pending;
  const rest = buildAndRead(rec).parsed;
  assertEquals(rest.length, pendingBefore);
  assertEquals(rec.pending, 0);
  assertEquals(rest[rest.length - 1].seq, 199);
});

Deno.test("twcc: capacity is validated", () => {
  assertThrows(() => new TwccRecorder({ capacity: 1000 }), RangeError);
  assertEquals(new TwccRecorder().pending, 0);
  assertEquals(TwccStatus.notReceived, 0);
});
