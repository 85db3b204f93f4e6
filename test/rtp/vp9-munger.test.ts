import { assert, assertEquals } from "@std/assert";
import { Vp9Munger } from "../../src/rtp/codecs/vp9-munger.ts";
import { readVp9Descriptor, Vp9Descriptor } from "../../src/rtp/codecs/vp9.ts";
import { PayloadMungeCode, payloadMungerFor } from "../../src/rtp/codecs/payload-munger.ts";

interface Picture {
  pid: number;
  tl0: number;
  tid: number;
  up: boolean;
  key: boolean;
  bits: 7 | 15;
}

/**
 * One non-flexible VP9 payload (RFC 9628 §4.2): I, P, L, B/E; a key frame's first packet has
 * the scalability structure with one 4-frame group (TIDs 0,2,1,2) as libwebrtc writes for L1T3.
 */
function packet(p: Picture, first: boolean, last: boolean): Uint8Array {
  const out: number[] = [
    0x80 | (p.key ? 0 : 0x40) | 0x20 | (first ? 0x08 : 0) | (last ? 0x04 : 0) |
    (p.key && first ? 0x02 : 0),
  ];
  if (p.bits === 15) out.push(0x80 | (p.pid >> 8), p.pid & 0xff);
  else out.push(p.pid & 0x7f);
  out.push((p.tid << 5) | (p.up ? 0x10 : 0), p.tl0);
  if (p.key && first) {
    // N_S = 0 (one spatial layer), Y = 1, G = 1; 640×360; 4 frames in the group.
    out.push(0x18, 0x02, 0x80, 0x01, 0x68, 4);
    out.push(0x04, 4, (2 << 5) | 0x10 | 0x04, 1, (1 << 5) | 0x10 | 0x04, 2, (2 << 5) | 0x04, 1);
  }
  out.push(0xaa, 0xbb);
  return new Uint8Array(out);
}

/** A layer's pictures: TIDs 0,2,1,2 (U on the first 2 and the 1); a key frame every `gop`. */
function* layer(pid0: number, tl00: number, bits: 7 | 15, gop = 40) {
  let pid = pid0;
  let tl0 = tl00;
  for (let i = 0;; i++) {
    const tid = [0, 2, 1, 2][i % 4];
    if (tid === 0 && i > 0) tl0 = (tl0 + 1) & 0xff;
    yield { pid, tl0, tid, up: i % 4 === 1 || i % 4 === 2, key: i % gop === 0, bits } as Picture;
    pid = (pid + 1) & (bits === 15 ? 0x7fff : 0x7f);
  }
}

function read(p: Uint8Array): Vp9Descriptor {
  const d = new Vp9Descriptor();
  assert(readVp9Descriptor(p, 0, p.length, d));
  return d;
}

Deno.test("vp9 munger: switches continue PictureID (+1) and TL0PICIDX across wraps", () => {
  const rows = [
    { name: "15-bit", a: layer(32700, 250, 15), b: layer(9, 3, 15, 24), bits: 15 },
    { name: "7-bit", a: layer(100, 0, 7), b: layer(3, 128, 7, 24), bits: 7 },
  ];
  for (const r of rows) {
    const m = new Vp9Munger();
    const out: { pid: number; tl0: number; tid: number }[] = [];
    const send = (p: Picture) => {
      // Two packets per picture, both rewritten alike; the SS stays intact.
      const a = packet(p, true, false);
      const b = packet(p, false, true);
      assertEquals(m.process(a, 0, a.length), PayloadMungeCode.ok);
      assertEquals(m.process(b, 0, b.length), PayloadMungeCode.ok);
      const da = read(a);
      const db = read(b);
      assertEquals([da.pictureId, da.tl0PicIdx], [db.pictureId, db.tl0PicIdx]);
      if (p.key) assertEquals([da.ssLayers, da.ssWidth, da.ssHeight], [1, 640, 360]);
      out.push({ pid: da.pictureId, tl0: da.tl0PicIdx, tid: da.tid });
    };
    let sources = [r.a, r.b];
    for (let round = 0; round < 6; round++) {
      const [cur, next] = sources;
      for (let i = 0; i < 45; i++) send(cur.next().value!);
      let p = next.next().value!;
      while (!p.key) {
        send(cur.next().value!);
        p = next.next().value!;
      }
      m.switchSource();
      send(p);
      sources = [next, cur];
    }
    const mask = (1 << r.bits) - 1;
    for (let i = 1; i < out.length; i++) {
      assertEquals(out[i].pid, (out[i - 1].pid + 1) & mask, `${r.name}: PictureID at ${i}`);
      const tl0 = out[i].tid === 0 ? (out[i - 1].tl0 + 1) & 0xff : out[i - 1].tl0;
      assertEquals(out[i].tl0, tl0, `${r.name}: TL0PICIDX at ${i}`);
    }
    assert(out.length > 250);
  }
});

Deno.test("vp9 munger: temporal filtering keeps PictureID spacing (the group of frames needs it)", () => {
  const m = new Vp9Munger();
  const src = layer(32760, 40, 15);
  const sent: Vp9Descriptor[] = [];
  for (let i = 0; i < 40; i++) {
    const p = src.next().value!;
    const a = packet(p, true, true);
    if (p.tid > 0) {
      assertEquals(m.drop(a, 0, a.length), PayloadMungeCode.ok);
      continue;
    }
    m.process(a, 0, a.length);
    sent.push(read(a));
  }
  // A TL0-only viewer: PictureIDs 4 apart (wrapping at 2^15), TL0PICIDX +1 each.
  for (let i = 1; i < sent.length; i++) {
    assertEquals(sent[i].pictureId, (sent[i - 1].pictureId + 4) & 0x7fff);
    assertEquals(sent[i].tl0PicIdx, (sent[i - 1].tl0PicIdx + 1) & 0xff);
  }
  assertEquals(sent.length, 10);
});

Deno.test("vp9 munger: a source cut off mid-picture; the next source's key frame continues at last + 1", () => {
  const m = new Vp9Munger();
  const a = layer(500, 7, 15);
  for (let i = 0; i < 5; i++) {
    const p = a.next().value!;
    const x = packet(p, true, false);
    m.process(x, 0, x.length);
    if (i < 4) { // the fifth picture loses its second packet: the encoder stopped
      const y = packet(p, false, true);
      m.process(y, 0, y.length);
    }
  }
  assertEquals(m.lastPictureId, 504);
  const b = layer(20000, 99, 15);
  m.switchSource();
  const k = packet(b.next().value!, true, true);
  m.process(k, 0, k.length);
  const d = read(k);
  assertEquals(d.pictureId, 505);
  assertEquals(
    d.tl0PicIdx,
    9,
    "TL0PICIDX 8 was last (picture 504 is TID 0), the key frame takes 9",
  );
});

Deno.test("vp9 munger: inspect reads TID and the U bit; truncated input is malformed", () => {
  const m = payloadMungerFor("vp9");
  const p = packet({ pid: 7, tl0: 1, tid: 2, up: true, key: false, bits: 15 }, true, true);
  assert(m.inspect(p, 0, p.length));
  assertEquals([m.tid, m.layerSync], [2, true]);
  assertEquals(
    Array.from(p),
    Array.from(packet({ pid: 7, tl0: 1, tid: 2, up: true, key: false, bits: 15 }, true, true)),
  );
  assertEquals(m.process(p.subarray(0, 3), 0, 3), PayloadMungeCode.malformed);
  const none = payloadMungerFor("h264");
  assert(none.inspect(p, 0, p.length));
  assertEquals(none.tid, -1);
});
