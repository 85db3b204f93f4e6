/**
 * PacketRewriter copies the payload through one view shared by every rewriter (issue 6: no
 * per-outbound-packet allocation) and the dependency descriptor by a loop. These rows pin
 * that the shared view never hands one packet's payload to another.
 */
import { assertEquals } from "@std/assert";
import { Ext, ExtensionMap, ExtensionUri } from "../../src/rtp/header-extensions.ts";
import { InboundPacket } from "../../src/rtp/inbound-packet.ts";
import { PacketRewriter } from "../../src/rtp/packet-rewriter.ts";
import { buildPacket } from "../support/packets.ts";

const publisherMap = ExtensionMap.fromExtmaps([
  { id: 3, uri: ExtensionUri.dependencyDescriptor },
]);

function parse(bytes: Uint8Array, map: ExtensionMap): InboundPacket {
  const pkt = new InboundPacket();
  assertEquals(pkt.parse(bytes, bytes.length, map), true);
  return pkt;
}

function payloadOf(pkt: InboundPacket): number[] {
  return [...pkt.buf.subarray(pkt.payloadOffset, pkt.payloadOffset + pkt.payloadLength)];
}

function rewrite(rewriter: PacketRewriter, src: InboundPacket, map: ExtensionMap): InboundPacket {
  const dst = new Uint8Array(1600);
  const len = rewriter.write(src, dst, 1, 96, 1, 1, false, -1, -1);
  return parse(dst.slice(0, len), map);
}

Deno.test("PacketRewriter payload: buffers, bounds and contents that change between packets", () => {
  const viewer = ExtensionMap.fromExtmaps([]);
  const a = new PacketRewriter(viewer, undefined);
  const b = new PacketRewriter(viewer, undefined);
  const first = buildPacket({ seq: 1, ts: 1, ssrc: 9, payload: new Uint8Array([1, 2, 3, 4]) });
  const second = buildPacket({ seq: 2, ts: 1, ssrc: 9, payload: new Uint8Array([5, 6, 7, 8]) });
  // Rows: which buffer the inbound packet is in, an in-place change before parsing, and the
  // payload every rewriter must write.
  const rows: Array<{ bytes: Uint8Array; poke?: [number, number]; want: number[] }> = [
    { bytes: first, want: [1, 2, 3, 4] },
    // Same bounds, another buffer (a fan-out of the next packet).
    { bytes: second, want: [5, 6, 7, 8] },
    // Back to the first buffer, rewritten in place (a reused receive buffer).
    { bytes: first, poke: [12, 42], want: [42, 2, 3, 4] },
    // Same buffer, shorter packet: other bounds.
    { bytes: first.subarray(0, 14), want: [42, 2] },
  ];
  for (const row of rows) {
    if (row.poke) row.bytes[row.poke[0]] = row.poke[1];
    const src = parse(row.bytes, viewer);
    for (const rewriter of [a, b]) {
      assertEquals(payloadOf(rewrite(rewriter, src, viewer)), row.want);
    }
  }
});

Deno.test("PacketRewriter payload: the dependency descriptor is copied byte for byte", () => {
  // One-byte form (viewer id 5) and two-byte form (viewer id 15 cannot be written one-byte).
  for (const id of [5, 15]) {
    const viewer = ExtensionMap.fromExtmaps([{ id, uri: ExtensionUri.dependencyDescriptor }]);
    const rewriter = new PacketRewriter(viewer, undefined);
    for (const length of [1, 3, 16]) {
      const dd = Uint8Array.from({ length }, (_, i) => 0xa0 + i);
      const src = parse(
        buildPacket({
          seq: 1,
          ts: 1,
          ssrc: 9,
          extensions: [[3, dd]],
          payload: new Uint8Array([7]),
        }),
        publisherMap,
      );
      const out = rewrite(rewriter, src, viewer);
      const off = out.extOffset[Ext.dependencyDescriptor];
      assertEquals([...out.buf.subarray(off, off + out.extLength[Ext.dependencyDescriptor])], [
        ...dd,
      ]);
      assertEquals(payloadOf(out), [7]);
    }
  }
});
