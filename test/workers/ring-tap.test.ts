import { assertEquals } from "@std/assert";
import { PacketRing } from "../../src/workers/packet-ring.ts";
import { RingTap } from "../../src/workers/ring-tap.ts";
import { counters, DropReason } from "../../src/observability/counters.ts";
import { ExtensionMap } from "../../src/rtp/header-extensions.ts";
import { InboundPacket } from "../../src/rtp/inbound-packet.ts";
import type { Layer } from "../../src/sfu/layer.ts";
import { Producer } from "../../src/sfu/producer.ts";
import { buildPacket } from "../support/packets.ts";

const pkt = { buf: new Uint8Array(1600), length: 1200, arrivalMs: 0 } as unknown as InboundPacket;
const layer = (rank: number) => ({ ssrc: 1000 + rank, state: { rank } }) as unknown as Layer;
const tap = (kind: "audio" | "video", ring: PacketRing) => {
  const t = new RingTap({ kind } as unknown as Producer, 1);
  t.rings = [ring];
  return t;
};

Deno.test("ring tap: shedding under a filling ring, lowest priority first", () => {
  // 16 slots: upper layers shed from 8 (1/2) in the ring, the base layer from 14 (7/8), audio
  // only when all 16 are taken. Rows: what is in the ring → is the next packet written?
  const rows = [
    { fill: 7, kind: "video", rank: 1, written: true },
    { fill: 8, kind: "video", rank: 1, written: false },
    { fill: 8, kind: "video", rank: 0, written: true },
    { fill: 8, kind: "video", rank: -1, written: true }, // not ranked yet: treated as the base
    { fill: 13, kind: "video", rank: 0, written: true },
    { fill: 14, kind: "video", rank: 0, written: false },
    { fill: 14, kind: "audio", rank: 0, written: true },
    { fill: 15, kind: "audio", rank: 0, written: true },
    { fill: 16, kind: "audio", rank: 0, written: false },
  ] as const;
  for (const row of rows) {
    const ring = new PacketRing(16);
    for (let i = 0; i < row.fill; i++) ring.write(pkt.buf, 0, 100, 0, 0, 0, 0);
    const dropsBefore = counters.packetsDropped[DropReason.queueFull];
    const t = tap(row.kind, ring);
    t.onPacket(pkt, layer(row.rank), false);
    assertEquals(ring.fill === row.fill + 1, row.written, JSON.stringify(row));
    assertEquals(t.shed, row.written ? 0 : 1);
    assertEquals(counters.packetsDropped[DropReason.queueFull] - dropsBefore, row.written ? 0 : 1);
    assertEquals(ring.dropped, row.written ? 0 : 1);
  }
});

Deno.test("ring tap: one write per packet per subscribed ring, none without rings", () => {
  const rings = [new PacketRing(8), new PacketRing(8)];
  const t = tap("video", rings[0]);
  t.rings = [];
  t.onPacket(pkt, layer(0), true);
  assertEquals(t.written, 0);
  t.rings = rings;
  t.onPacket(pkt, layer(0), true);
  assertEquals(rings.map((r) => r.fill), [1, 1]);
  assertEquals(t.written, 2);
});

Deno.test("ring tap: a producer's tap gets every packet, is no consumer, and leaves on removeTap/close", () => {
  const extensions = ExtensionMap.fromExtmaps([]);
  const producer = new Producer({
    kind: "audio",
    mid: "0",
    codecName: "opus",
    payloadType: 111,
    clockRate: 48000,
    rids: [],
    extensions,
    requestKeyframe: () => {},
  });
  const ring = new PacketRing(8);
  const t = new RingTap(producer, 7);
  t.rings = [ring];
  producer.addTap(t);
  producer.addTap(t);
  assertEquals(producer.taps.length, 1, "added once");
  assertEquals(producer.consumers.length, 0, "a tap is not a consumer");
  const inbound = new InboundPacket();
  const send = (seq: number) => {
    const bytes = buildPacket({ seq, ts: seq * 960, ssrc: 0x1234, payloadType: 111 });
    inbound.parse(bytes, bytes.length, extensions);
    producer.onPacket(inbound);
  };
  send(1);
  send(2);
  assertEquals([ring.fill, t.written], [2, 2]);
  producer.removeTap(t);
  send(3);
  assertEquals(ring.fill, 2);
  producer.addTap(t);
  producer.close();
  assertEquals(producer.taps.length, 0);
});
