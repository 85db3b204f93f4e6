import { assertEquals } from "@std/assert";
import { Ext, ExtensionMap, ExtensionUri } from "../../src/rtp/header-extensions.ts";
import { InboundPacket } from "../../src/rtp/inbound-packet.ts";
import { PacketRewriter } from "../../src/rtp/packet-rewriter.ts";
import { ascii, buildPacket } from "../support/packets.ts";

// The publisher numbers mid=1, rid=2, twcc=3, audio-level=4; the viewer mid=9, twcc=5, abs=7.
const publisherMap = ExtensionMap.fromExtmaps([
  { id: 1, uri: ExtensionUri.mid },
  { id: 2, uri: ExtensionUri.rid },
  { id: 3, uri: ExtensionUri.transportWideCc },
  { id: 4, uri: ExtensionUri.audioLevel },
]);
const viewerMap = ExtensionMap.fromExtmaps([
  { id: 9, uri: ExtensionUri.mid },
  { id: 5, uri: ExtensionUri.transportWideCc },
  { id: 7, uri: ExtensionUri.absSendTime },
]);

function parse(bytes: Uint8Array, map: ExtensionMap): InboundPacket {
  const pkt = new InboundPacket();
  assertEquals(pkt.parse(bytes, bytes.length, map), true);
  return pkt;
}

Deno.test("InboundPacket reads header fields and extension offsets without copying", () => {
  const bytes = buildPacket({
    seq: 65535,
    ts: 0xfffffff0,
    ssrc: 0xdeadbeef,
    marker: true,
    payloadType: 100,
    csrcs: [7],
    extensions: [[1, ascii("0")], [2, ascii("hi")], [3, new Uint8Array([0x12, 0x34])]],
    padding: 4,
  });
  const pkt = parse(bytes, publisherMap);
  assertEquals(
    [pkt.sequenceNumber, pkt.timestamp, pkt.ssrc, pkt.marker, pkt.payloadType, pkt.csrcCount],
    [65535, 0xfffffff0, 0xdeadbeef, true, 100, 1],
  );
  assertEquals(pkt.ridString(Ext.rid), "hi");
  assertEquals(pkt.ridString(Ext.mid), "0");
  assertEquals(pkt.transportSequence(), 0x1234);
  assertEquals(pkt.paddingLength, 4);
  assertEquals(pkt.payloadLength, 100);
});

Deno.test("InboundPacket rejects malformed packets", () => {
  const pkt = new InboundPacket();
  const good = buildPacket({ seq: 1, ts: 1, ssrc: 1, extensions: [[1, ascii("0")]] });
  const rows: [string, Uint8Array][] = [
    ["too short", good.subarray(0, 11)],
    ["version 1", Uint8Array.from(good, (b, i) => (i === 0 ? (b & 0x3f) | 0x40 : b))],
    ["extension past the end", good.subarray(0, 16)],
    [
      "padding longer than the payload",
      (() => {
        const b = buildPacket({ seq: 1, ts: 1, ssrc: 1, payload: new Uint8Array(2), padding: 1 });
        b[b.length - 1] = 200;
        return b;
      })(),
    ],
  ];
  for (const [name, bytes] of rows) {
    assertEquals(pkt.parse(bytes, bytes.length, publisherMap), false, name);
  }
});

Deno.test("PacketRewriter writes the viewer's IDs, drops rid, and changes nothing else", () => {
  const payload = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
  const src = parse(
    buildPacket({
      seq: 10,
      ts: 1000,
      ssrc: 0x11111111,
      payloadType: 96,
      extensions: [[1, ascii("1")], [2, ascii("f")], [3, new Uint8Array([0, 9])], [
        4,
        new Uint8Array([0x85]),
      ]],
      payload,
    }),
    publisherMap,
  );
  const rewriter = new PacketRewriter(viewerMap, "v0");
  const dst = new Uint8Array(1600);
  const len = rewriter.write(src, dst, 0x22222222, 111, 65535, 0xffffffff, true, 4242, 0x123456);
  const out = parse(dst.subarray(0, len), viewerMap);
  assertEquals([out.ssrc, out.payloadType, out.sequenceNumber, out.timestamp, out.marker], [
    0x22222222,
    111,
    65535,
    0xffffffff,
    true,
  ]);
  assertEquals(out.ridString(Ext.mid), "v0");
  assertEquals(out.ridString(Ext.rid), undefined, "rid never forwarded");
  assertEquals(out.transportSequence(), 4242);
  const abs = out.extOffset[Ext.absSendTime];
  assertEquals([dst[abs], dst[abs + 1], dst[abs + 2]], [0x12, 0x34, 0x56]);
  assertEquals(out.extOffset[Ext.audioLevel], -1, "audio level not negotiated by this viewer");
  assertEquals(dst.subarray(out.payloadOffset, out.payloadOffset + out.payloadLength), payload);
  // Through a map where the viewer uses other IDs, the publisher's IDs mean nothing.
  const asPublisher = parse(dst.subarray(0, len), publisherMap);
  assertEquals(asPublisher.ridString(Ext.rid), undefined);
});

Deno.test("PacketRewriter keeps CSRCs and padding and omits the extension block when empty", () => {
  const src = parse(
    buildPacket({ seq: 1, ts: 2, ssrc: 3, csrcs: [0xabcdef01], padding: 3 }),
    publisherMap,
  );
  const rewriter = new PacketRewriter(ExtensionMap.fromExtmaps([]), undefined);
  const dst = new Uint8Array(1600);
  const len = rewriter.write(src, dst, 4, 96, 5, 6, false, -1, -1);
  assertEquals(dst[0] & 0x10, 0, "no X bit");
  assertEquals(dst[0] & 0x20, 0x20, "padding bit kept");
  const out = parse(dst.subarray(0, len), publisherMap);
  assertEquals(out.csrcCount, 1);
  assertEquals(new DataView(dst.buffer).getUint32(12), 0xabcdef01);
  assertEquals(out.paddingLength, 3);
  assertEquals(len, src.length);
});
