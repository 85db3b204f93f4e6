/**
 * Producer → Consumer with temporal layers (VP8 TIDs 0,2,1,2): what a viewer with a temporal
 * target receives, byte for byte, without sockets.
 */
import { assert, assertEquals, assertGreater } from "@std/assert";
import { ExtensionMap, ExtensionUri } from "../../src/rtp/header-extensions.ts";
import { InboundPacket } from "../../src/rtp/inbound-packet.ts";
import { readVp8Descriptor, Vp8Descriptor } from "../../src/rtp/codecs/vp8.ts";
import { readVp9Descriptor, Vp9Descriptor } from "../../src/rtp/codecs/vp9.ts";
import type { CodecName } from "../../src/rtp/codecs/codec.ts";
import { ascii, buildPacket, vp8Layered, vp9Layered } from "../support/packets.ts";
import { forwardingRig } from "../support/forwarding-rig.ts";
import { counters, DropReason } from "../../src/observability/counters.ts";

const publisherMap = ExtensionMap.fromExtmaps([
  { id: 1, uri: ExtensionUri.mid },
  { id: 2, uri: ExtensionUri.rid },
]);
const viewerMap = ExtensionMap.fromExtmaps([{ id: 3, uri: ExtensionUri.mid }]);

function setup(codecName: CodecName = "vp8", rids: string[] = []) {
  const { producer, consumer, link, push } = forwardingRig({
    codecName,
    rids,
    publisherMap,
    viewerMap,
  });
  const feed = (
    seq: number,
    ts: number,
    ssrc: number,
    payload: Uint8Array,
    marker: boolean,
    at: number,
    rid?: string,
  ) => {
    const bytes = buildPacket({
      seq,
      ts,
      ssrc,
      marker,
      payload,
      extensions: rid ? [[2, ascii(rid)]] : [],
    });
    push(bytes, at);
  };
  return { producer, consumer, link, feed };
}

/** One L1T3 VP8 layer: TIDs 0,2,1,2, Y on the first 2 and the 1; two packets a picture. */
class Vp8Source {
  seq: number;
  pid: number;
  tl0 = 200;
  ts = 0xffff0000;
  frame = 0;
  constructor(seq: number, pid: number, readonly ssrc: number, readonly rid?: string) {
    this.seq = seq;
    this.pid = pid;
  }
  /** The next picture's packets, in order: [seq, ts, payload, marker]. */
  next(key = false): [number, number, Uint8Array, boolean][] {
    const i = this.frame++;
    const tid = key ? 0 : [0, 2, 1, 2][i % 4];
    if (tid === 0 && i > 0) this.tl0 = (this.tl0 + 1) & 0xff;
    const sync = !key && (i % 4 === 1 || i % 4 === 2);
    const out: [number, number, Uint8Array, boolean][] = [];
    for (let p = 0; p < 2; p++) {
      const payload = vp8Layered({ pid: this.pid, tl0: this.tl0, tid, sync, key, start: p === 0 });
      out.push([this.seq, this.ts, payload, p === 1]);
      this.seq = (this.seq + 1) & 0xffff;
    }
    this.pid = (this.pid + 1) & 0x7fff;
    this.ts = (this.ts + 3000) >>> 0;
    return out;
  }
}

function vp8Of(p: InboundPacket): Vp8Descriptor {
  const d = new Vp8Descriptor();
  assert(readVp8Descriptor(p.buf, p.payloadOffset, p.payloadLength, d));
  return d;
}

/** Media packets in output order with padding (gap fillers) kept apart. */
function media(sent: InboundPacket[]) {
  return sent.filter((p) => p.payloadLength > 0);
}

function assertContiguous(sent: InboundPacket[]) {
  const seqs = sent.map((p) => p.sequenceNumber);
  const first = seqs[0];
  const offsets = seqs.map((s) => (s - first) & 0xffff).sort((a, b) => a - b);
  offsets.forEach((o, i) => assertEquals(o, i, "output sequence numbers: one gap-free range"));
}

Deno.test("temporal: a viewer pinned to TL0 gets only TID 0, with contiguous sequence numbers, PictureID +1 and TL0PICIDX +1", () => {
  const droppedBefore = counters.packetsDropped[DropReason.temporalLayer];
  const { consumer, link, feed } = setup();
  const src = new Vp8Source(65500, 32700, 7);
  consumer.setTemporal(0);
  consumer.select(0);
  let at = 0;
  for (let f = 0; f < 80; f++) {
    const pkts = src.next(f === 0);
    // Every fifth picture's packets arrive swapped.
    if (f % 5 === 3) pkts.reverse();
    for (const [seq, ts, payload, marker] of pkts) feed(seq, ts, 7, payload, marker, at);
    at += 33;
  }
  const out = media(link.sent);
  assertEquals(out.length, 40, "20 TL0 pictures of two packets");
  assertContiguous(link.sent);
  const ds = out.map(vp8Of);
  ds.forEach((d) => assertEquals(d.tid, 0));
  for (let i = 2; i < ds.length; i += 2) {
    assertEquals(ds[i].pictureId, (ds[i - 2].pictureId + 1) & 0x7fff, "PictureID +1 per picture");
    assertEquals(ds[i].tl0PicIdx, (ds[i - 2].tl0PicIdx + 1) & 0xff, "TL0PICIDX +1 per picture");
    assertEquals(ds[i + 1].pictureId, ds[i].pictureId);
  }
  assertEquals(consumer.temporalDropped, 120);
  assertEquals(
    counters.packetsDropped[DropReason.temporalLayer] - droppedBefore,
    120,
    'counted as quetzal_packets_dropped_total{reason="temporal_layer"}',
  );
  assertEquals(consumer.temporalCurrent, 0);
});

Deno.test("temporal: back to all layers at a sync picture; a late dropped packet's slot is filled with padding", () => {
  const { consumer, link, feed } = setup();
  const src = new Vp8Source(100, 5, 7);
  consumer.setTemporal(0);
  consumer.select(0);
  let at = 0;
  const send = (pkts: [number, number, Uint8Array, boolean][]) => {
    for (const [seq, ts, payload, marker] of pkts) feed(seq, ts, 7, payload, marker, at);
    at += 33;
  };
  for (let f = 0; f < 8; f++) send(src.next(f === 0));
  // Picture 8 (TID 0) then picture 9 (TID 2) whose first packet comes after its second.
  send(src.next());
  const late = src.next();
  send([late[1]]);
  send([late[0]]);
  const fillers = link.sent.filter((p) => p.payloadLength === 0);
  assertEquals(fillers.length, 1, "the late TID 2 packet's slot");
  assertEquals(consumer.gapsFilled, 1);
  // Pictures 10 (TID 1, sync) and 11 (TID 2): the viewer asks for all layers from here.
  consumer.setTemporal(null);
  consumer.select(at);
  assertEquals(consumer.temporalTarget, -1);
  for (let f = 10; f < 20; f++) send(src.next());
  const tids = media(link.sent).filter((_, i) => i % 2 === 0).map((p) => vp8Of(p).tid);
  // TL0 only (pictures 0, 4, 8); TL1 from its sync picture 10; all from the TID 2 sync at 13.
  assertEquals(tids, [0, 0, 0, 1, 0, 2, 1, 2, 0, 2, 1, 2]);
  assertContiguous(link.sent);
  const pids = media(link.sent).filter((_, i) => i % 2 === 0).map((p) => vp8Of(p).pictureId);
  for (let i = 1; i < pids.length; i++) assertEquals(pids[i], pids[i - 1] + 1);
});

Deno.test("temporal: simulcast switch with a temporal pin; the new layer's key frame continues PictureID and TL0PICIDX", () => {
  const { producer, consumer, link, feed } = setup("vp8", ["q", "f"]);
  const q = new Vp8Source(1000, 30000, 10, "q");
  const f = new Vp8Source(50000, 7, 30, "f");
  consumer.setTemporal(1);
  consumer.pin("q");
  let at = 0;
  const frame = (key: boolean) => {
    for (const src of [q, f]) {
      for (const [seq, ts, payload, marker] of src.next(key)) {
        feed(seq, ts, src.ssrc, payload, marker, at, src.rid);
      }
    }
    at += 33;
  };
  frame(true);
  consumer.select(at);
  assertEquals(consumer.current?.rid, "q");
  for (let i = 0; i < 9; i++) frame(false);
  // Pin f; its key frame arrives mid-pattern.
  consumer.pin("f");
  consumer.select(at);
  for (const [seq, ts, payload, marker] of f.next(true)) {
    feed(seq, ts, 30, payload, marker, at, "f");
  }
  for (let i = 0; i < 12; i++) frame(false);
  assertEquals(consumer.current?.rid, "f");
  assertContiguous(link.sent);
  const ds = media(link.sent).filter((_, i) => i % 2 === 0).map(vp8Of);
  ds.forEach((d) => assert(d.tid <= 1, "nothing above TL1"));
  for (let i = 1; i < ds.length; i++) {
    assertEquals(ds[i].pictureId, (ds[i - 1].pictureId + 1) & 0x7fff, `PictureID at ${i}`);
    const tl0 = ds[i].tid === 0 ? (ds[i - 1].tl0PicIdx + 1) & 0xff : ds[i - 1].tl0PicIdx;
    assertEquals(ds[i].tl0PicIdx, tl0, `TL0PICIDX at ${i}`);
  }
  assertGreater(producer.layers.length, 1);
});

Deno.test("temporal: the layer tracker reports TIDs, shares and frame rates; the allocator trims TIDs to fit the budget", () => {
  const { producer, consumer, feed } = setup();
  const src = new Vp8Source(0, 0, 7);
  let at = 0;
  for (let i = 0; i < 200; i++) {
    for (const [seq, ts, payload, marker] of src.next(i === 0)) {
      feed(seq, ts, 7, payload, marker, at);
    }
    at += 1000 / 30;
    if (i % 3 === 0) producer.tick(at);
  }
  const state = producer.layers[0].state;
  assertEquals(state.maxTemporalId, 2);
  // Bytes: TID 0 a quarter, TID 1 a quarter, TID 2 half.
  assert(Math.abs(state.temporalShare[0] - 0.25) < 0.05, `${state.temporalShare[0]}`);
  assert(Math.abs(state.temporalShare[1] - 0.5) < 0.05, `${state.temporalShare[1]}`);
  assert(Math.abs(state.temporalFrameRate(0) - 7.5) < 1.5, `${state.temporalFrameRate(0)}`);
  assert(Math.abs(state.temporalFrameRate(2) - 30) < 3, `${state.temporalFrameRate(2)}`);
  const full = state.meanBitrateBps;
  // A budget (estimate − 128 kbit/s audio, 5 % margin) between TL0+TL1 and everything.
  const estimate = (0.75 * full + 128_000) / 0.95;
  consumer.select(at, estimate);
  assertEquals(consumer.temporalTarget, 1, "the first allocation takes its fit at once");
  consumer.select(at + 100, Infinity);
  assertEquals(consumer.temporalTarget, -1, "no feedback: all layers");
  consumer.setTemporal(null, 0);
  consumer.select(at + 200, Infinity);
  assertEquals(consumer.temporalTarget, 0, "maxTemporalLayerId caps");
});

Deno.test("temporal: VP9 switch continues PictureID; temporal drops keep their PictureID gaps", () => {
  const { consumer, link, feed } = setup("vp9", ["q", "f"]);
  consumer.setTemporal(0);
  let at = 0;
  const layers = [
    { ssrc: 10, rid: "q", seq: 100, pid: 32766, tl0: 250 },
    { ssrc: 30, rid: "f", seq: 60000, pid: 900, tl0: 3 },
  ];
  consumer.pin("q");
  const picture = (l: (typeof layers)[number], i: number, key: boolean) => {
    const tid = key ? 0 : [0, 2, 1, 2][i % 4];
    if (tid === 0 && i > 0) l.tl0 = (l.tl0 + 1) & 0xff;
    const payload = vp9Layered({
      pid: l.pid,
      tl0: l.tl0,
      tid,
      sync: i % 4 === 1,
      key,
      start: true,
    });
    feed(l.seq, i * 3000, l.ssrc, payload, true, at, l.rid);
    l.seq = (l.seq + 1) & 0xffff;
    l.pid = (l.pid + 1) & 0x7fff;
  };
  for (let i = 0; i < 10; i++) {
    picture(layers[0], i, i === 0);
    picture(layers[1], i, i === 0);
    at += 33;
  }
  consumer.pin("f");
  consumer.select(at);
  picture(layers[1], 10, true);
  for (let i = 11; i < 20; i++) picture(layers[1], i, false);
  assertContiguous(link.sent);
  const ds = link.sent.map((p) => {
    const d = new Vp9Descriptor();
    assert(readVp9Descriptor(p.buf, p.payloadOffset, p.payloadLength, d));
    return d;
  });
  ds.forEach((d) => assertEquals(d.tid, 0));
  // q: 32766, 2 (+4 wrapped), 6; then f's key frame at 7 (f's picture 10, TID 0 in the
  // pattern); f's TL0 pictures 12 and 16 keep their spacing: 9, 13; TL0PICIDX +1 throughout.
  assertEquals(ds.map((d) => d.pictureId), [32766, 2, 6, 7, 9, 13]);
  assertEquals(ds.map((d) => d.tl0PicIdx), [250, 251, 252, 253, 254, 255]);
});
