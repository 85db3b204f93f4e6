/**
 * Producer → Consumer with synthetic packets and an in-memory viewer link: the byte-level
 * properties of what a viewer receives, without sockets.
 */
import { assertEquals, assertGreater } from "@std/assert";
import { Ext, ExtensionMap, ExtensionUri } from "../../src/rtp/header-extensions.ts";
import { InboundPacket } from "../../src/rtp/inbound-packet.ts";
import { Consumer, type ViewerLink } from "../../src/sfu/consumer.ts";
import { Producer } from "../../src/sfu/producer.ts";
import { ascii, buildPacket, vp8 } from "../support/packets.ts";

const publisherMap = ExtensionMap.fromExtmaps([
  { id: 1, uri: ExtensionUri.mid },
  { id: 2, uri: ExtensionUri.rid },
]);
const viewerMap = ExtensionMap.fromExtmaps([
  { id: 3, uri: ExtensionUri.mid },
  { id: 4, uri: ExtensionUri.transportWideCc },
]);

class MemoryLink implements ViewerLink {
  sent: InboundPacket[] = [];
  ready = true;
  #twcc = 0;
  sendRtp(buf: Uint8Array, len: number, _twccSeq: number): boolean {
    const pkt = new InboundPacket();
    pkt.parse(buf.slice(0, len), len, viewerMap);
    this.sent.push(pkt);
    return true;
  }
  nextTransportSequence(): number {
    return this.#twcc++ & 0xffff;
  }
}

function setup(rids: string[] = []) {
  const keyframeRequests: number[] = [];
  const producer = new Producer({
    kind: "video",
    mid: "1",
    codecName: "vp8",
    payloadType: 96,
    clockRate: 90000,
    rids,
    extensions: publisherMap,
    requestKeyframe: (ssrc) => keyframeRequests.push(ssrc),
  });
  const link = new MemoryLink();
  const consumer = new Consumer({
    producer,
    link,
    ssrc: 0xabc,
    payloadType: 100,
    mid: "v",
    extensions: viewerMap,
  });
  producer.addConsumer(consumer);
  const pkt = new InboundPacket();
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
    pkt.parse(bytes, bytes.length, publisherMap);
    pkt.arrivalMs = p.at;
    producer.onPacket(pkt);
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

Deno.test("publisher replaced: the consumer keeps its SSRC and sequence space on the new producer", () => {
  const { producer, consumer, link, feed } = setup();
  for (let i = 0; i < 5; i++) {
    feed({ seq: 10 + i, ts: i * 3000, ssrc: 1, key: i === 0, at: i * 33 });
  }
  const next = new Producer({
    kind: "video",
    mid: "1",
    codecName: "vp8",
    payloadType: 96,
    clockRate: 90000,
    rids: [],
    extensions: publisherMap,
    requestKeyframe: () => {},
  });
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
