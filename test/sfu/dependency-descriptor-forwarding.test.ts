/**
 * Producer → Consumer with AV1 and the dependency descriptor: a simulcast switch hands the
 * viewer the new layer's key frame with its own frame_number base; the viewer's frame_number
 * must go on increasing (libwebrtc drops a key frame whose structure looks older).
 */
import { assertEquals } from "@std/assert";
import { Ext, ExtensionMap, ExtensionUri } from "../../src/rtp/header-extensions.ts";
import type { InboundPacket } from "../../src/rtp/inbound-packet.ts";
import { ascii, buildPacket } from "../support/packets.ts";
import { deltaDd, l1t3KeyFrameDd } from "../support/dependency-descriptor.ts";
import { forwardingRig } from "../support/forwarding-rig.ts";

const publisherMap = ExtensionMap.fromExtmaps([
  { id: 1, uri: ExtensionUri.mid },
  { id: 2, uri: ExtensionUri.rid },
  { id: 5, uri: ExtensionUri.dependencyDescriptor },
]);
const viewerMap = ExtensionMap.fromExtmaps([
  { id: 3, uri: ExtensionUri.mid },
  { id: 9, uri: ExtensionUri.dependencyDescriptor },
]);

/** An AV1 payload: aggregation header (N=1 on a key frame) and one OBU element. */
function av1(key: boolean): Uint8Array {
  const out = new Uint8Array(100);
  out[0] = 0x10 | (key ? 0x08 : 0); // W=1, N
  out[1] = 6 << 3; // OBU_FRAME
  return out;
}

/** The frame_number (descriptor bytes 1–2) of a packet the viewer was sent. */
function frameNumberOf(p: InboundPacket): number {
  const off = p.extOffset[Ext.dependencyDescriptor];
  return (p.buf[off + 1] << 8) | p.buf[off + 2];
}

Deno.test("AV1 + dependency descriptor: frame_number continues across simulcast switches (the new layer's base is behind)", () => {
  const { consumer, link, push } = forwardingRig({
    codecName: "av1",
    payloadType: 45,
    viewerPayloadType: 45,
    rids: ["q", "f"],
    publisherMap,
    viewerMap,
  });
  const layers = [
    { ssrc: 10, rid: "q", seq: 100, frame: 50_000 },
    { ssrc: 30, rid: "f", seq: 9000, frame: 20 },
  ];
  const frame = (l: (typeof layers)[number], i: number, key: boolean) => {
    // DD mandatory fields: start and end of frame, template id 0, frame_number; a key frame's
    // structure bytes are not read by the forwarder (a placeholder byte stands for them).
    const dd = new Uint8Array([0xc0, l.frame >> 8, l.frame & 0xff, key ? 0x80 : 0x00]);
    const bytes = buildPacket({
      seq: l.seq,
      ts: i * 3000,
      ssrc: l.ssrc,
      marker: true,
      payload: av1(key),
      extensions: [[2, ascii(l.rid)], [5, dd]],
    });
    push(bytes, i * 33);
    l.seq++;
    l.frame = (l.frame + 1) & 0xffff;
  };
  consumer.pin("q");
  for (let i = 0; i < 10; i++) {
    frame(layers[0], i, i === 0);
    frame(layers[1], i, i === 0);
  }
  consumer.pin("f");
  consumer.select(400);
  frame(layers[1], 10, true);
  for (let i = 11; i < 15; i++) frame(layers[1], i, false);
  consumer.pin("q");
  consumer.select(600);
  frame(layers[0], 15, true);
  for (let i = 16; i < 20; i++) frame(layers[0], i, false);
  const numbers = link.sent.map(frameNumberOf);
  assertEquals(numbers.length, 20);
  assertEquals(numbers[0], 50_000);
  for (let i = 1; i < numbers.length; i++) {
    assertEquals(numbers[i], (numbers[i - 1] + 1) & 0xffff, `frame ${i}`);
  }
});

Deno.test("AV1 + dependency descriptor: temporal layers from the L1T3 templates; a TL0 pin forwards T0 frames only, unpinned it goes up at a switch frame", () => {
  const { producer, consumer, link, push } = forwardingRig({
    codecName: "av1",
    payloadType: 45,
    viewerPayloadType: 45,
    rids: [],
    publisherMap,
    viewerMap,
  });
  // Template ids from offset 10: T0 10, T1 12, T2 13 (libwebrtc's L1T3, TIDs 0,2,1,2).
  const templateOf = [10, 13, 12, 13];
  let frameNumber = 65530;
  const frame = (i: number) => {
    const key = i === 0;
    const dd = key ? l1t3KeyFrameDd(10, frameNumber) : deltaDd(templateOf[i % 4], frameNumber);
    const bytes = buildPacket({
      seq: 100 + i,
      ts: i * 3000,
      ssrc: 7,
      marker: true,
      payload: av1(key),
      extensions: [[5, dd]],
    });
    push(bytes, i * 33);
    frameNumber = (frameNumber + 1) & 0xffff;
  };
  consumer.setTemporal(0);
  for (let i = 0; i < 12; i++) frame(i);
  consumer.setTemporal(null);
  consumer.select(400);
  for (let i = 12; i < 20; i++) frame(i);
  const sent = link.sent.map(frameNumberOf);
  // T0 frames 0, 4, 8 while pinned; all from frame 12 (a T0 frame, "SSS").
  const want = [0, 4, 8, 12, 13, 14, 15, 16, 17, 18, 19].map((i) => (65530 + i) & 0xffff);
  assertEquals(sent, want, "frame_number keeps the gaps of dropped frames");
  const seqs = link.sent.map((p) => p.sequenceNumber);
  for (let i = 1; i < seqs.length; i++) assertEquals((seqs[i] - seqs[i - 1]) & 0xffff, 1);
  // The tracker books AV1 frames by the templates' temporal ids.
  assertEquals(producer.layers[0].templates.maxTemporalId, 2);
});
