import { assert, assertEquals } from "@std/assert";
import { Vp8MungeCode, Vp8Munger } from "../../src/rtp/codecs/vp8-munger.ts";
import { readVp8Descriptor, Vp8Descriptor } from "../../src/rtp/codecs/vp8.ts";

interface Frame {
  pid: number;
  tl0: number;
  tid: number;
  keyIdx: number;
  key: boolean;
  bits: 7 | 15;
}

/** One VP8 payload: descriptor with I, L, T, K, then a 3-byte frame tag. */
function packet(f: Frame, first: boolean): Uint8Array {
  const out: number[] = [0x80 | (first ? 0x10 : 0), 0xf0];
  if (f.bits === 15) out.push(0x80 | (f.pid >> 8), f.pid & 0xff);
  else out.push(f.pid & 0x7f);
  out.push(f.tl0, (f.tid << 6) | (f.tid === 0 ? 0x20 : 0) | f.keyIdx);
  out.push(f.key ? 0x00 : 0x01, 0, 0);
  return new Uint8Array(out);
}

/** A layer's frames: temporal pattern 0,2,1,2; a key frame (TID 0) every `gop` frames. */
function* layer(pid0: number, tl00: number, key0: number, bits: 7 | 15, gop = 32) {
  let pid = pid0;
  let tl0 = tl00;
  let keyIdx = key0;
  for (let i = 0;; i++) {
    const tid = [0, 2, 1, 2][i % 4];
    if (tid === 0 && i > 0) tl0 = (tl0 + 1) & 0xff;
    const key = i % gop === 0;
    if (key && i > 0) keyIdx = (keyIdx + 1) & 0x1f;
    yield { pid, tl0, tid, keyIdx, key, bits } as Frame;
    pid = (pid + 1) & (bits === 15 ? 0x7fff : 0x7f);
  }
}

interface Out {
  pid: number;
  tl0: number;
  tid: number;
  keyIdx: number;
  key: boolean;
}

function read(p: Uint8Array): Out {
  const d = new Vp8Descriptor();
  assert(readVp8Descriptor(p, 0, p.length, d));
  return {
    pid: d.pictureId,
    tl0: d.tl0PicIdx,
    tid: d.tid,
    keyIdx: d.keyIdx,
    key: (p[d.headerLength] & 1) === 0,
  };
}

/** Asserts the frame sequence is one continuous VP8 stream. */
function assertContinuous(frames: Out[], bits: number): void {
  const mask = (1 << bits) - 1;
  for (let i = 1; i < frames.length; i++) {
    const a = frames[i - 1];
    const b = frames[i];
    assertEquals(b.pid, (a.pid + 1) & mask, `PictureID +1 at frame ${i}`);
    assertEquals(b.tl0, b.tid === 0 ? (a.tl0 + 1) & 0xff : a.tl0, `TL0PICIDX at frame ${i}`);
    if (b.key) assertEquals(b.keyIdx, (a.keyIdx + 1) & 0x1f, `KEYIDX +1 at key frame ${i}`);
    else assertEquals(b.keyIdx, a.keyIdx, `KEYIDX kept at ${i}`);
  }
}

Deno.test("vp8 munger: switches between layers continue PictureID, TL0PICIDX, KEYIDX", () => {
  const rows = [
    { name: "15-bit", a: layer(32000, 250, 30, 15), b: layer(5, 7, 3, 15, 20), bits: 15 },
    { name: "7-bit wraps", a: layer(120, 0, 0, 7), b: layer(60, 200, 17, 7, 20), bits: 7 },
  ];
  for (const r of rows) {
    const m = new Vp8Munger();
    const out: Out[] = [];
    const send = (f: Frame) => {
      // Two packets per frame; both carry the same rewritten values.
      const p1 = packet(f, true);
      const p2 = packet(f, false);
      assertEquals(m.process(p1, 0, p1.length), Vp8MungeCode.ok);
      assertEquals(m.process(p2, 0, p2.length), Vp8MungeCode.ok);
      const o1 = read(p1);
      const o2 = read(p2);
      assertEquals([o1.pid, o1.tl0, o1.keyIdx], [o2.pid, o2.tl0, o2.keyIdx]);
      out.push(o1);
    };
    let sources = [r.a, r.b];
    for (let round = 0; round < 6; round++) {
      const [cur, next] = sources;
      for (let i = 0; i < 37; i++) send(cur.next().value!);
      // Advance the other layer in lockstep, then switch at its next key frame.
      for (let i = 0; i < 37; i++) next.next();
      let f = next.next().value!;
      while (!f.key) {
        send(cur.next().value!);
        f = next.next().value!;
      }
      m.switchSource();
      send(f);
      sources = [next, cur];
    }
    assertContinuous(out, r.bits);
    assert(out.length > 200, r.name);
  }
});

Deno.test("vp8 munger: temporal filtering leaves no holes", () => {
  const m = new Vp8Munger();
  const src = layer(700, 9, 1, 15);
  const out: Out[] = [];
  for (let i = 0; i < 200; i++) {
    const f = src.next().value!;
    const p = packet(f, true);
    // Forward TID 0 and 1 only for frames 50..150 (a viewer capped at half the frame rate).
    if (i >= 50 && i < 150 && f.tid === 2) {
      m.drop(p, 0, p.length);
      m.drop(packet(f, false), 0, 7);
      continue;
    }
    m.process(p, 0, p.length);
    out.push(read(p));
  }
  assertContinuous(out, 15);
  assertEquals(out.length, 150);
});

Deno.test("vp8 munger: a late packet of an earlier picture keeps its offset", () => {
  const m = new Vp8Munger();
  const f = (pid: number, tid: number): Frame => ({
    pid,
    tl0: 1,
    tid,
    keyIdx: 0,
    key: false,
    bits: 15,
  });
  const rows = [
    { act: "send", frame: f(100, 0), first: true, want: 100 },
    { act: "drop", frame: f(101, 2), first: true, want: -1 },
    { act: "send", frame: f(102, 1), first: true, want: 101 },
    { act: "send", frame: f(100, 0), first: false, want: 100 }, // late second packet of 100
    { act: "drop", frame: f(103, 2), first: true, want: -1 },
    { act: "drop", frame: f(103, 2), first: false, want: -1 }, // same picture counts once
    { act: "send", frame: f(104, 0), first: true, want: 102 },
    { act: "send", frame: f(102, 1), first: false, want: 101 },
  ];
  for (const r of rows) {
    const p = packet(r.frame, r.first);
    if (r.act === "drop") {
      m.drop(p, 0, p.length);
      continue;
    }
    m.process(p, 0, p.length);
    assertEquals(read(p).pid, r.want, `input ${r.frame.pid}`);
  }
  assertEquals(m.lastPictureId, 102);
});

Deno.test("vp8 munger: no extension, truncated input, first source kept as is", () => {
  const m = new Vp8Munger();
  const plain = new Uint8Array([0x10, 0x00, 0x00, 0x00]); // X=0: nothing to rewrite
  assertEquals(m.process(plain, 0, plain.length), Vp8MungeCode.ok);
  assertEquals(Array.from(plain), [0x10, 0, 0, 0]);
  const truncated = new Uint8Array([0x90, 0x80]);
  assertEquals(m.process(truncated, 0, 2), Vp8MungeCode.malformed);
  const m2 = new Vp8Munger();
  const p = packet({ pid: 4321, tl0: 77, tid: 0, keyIdx: 9, key: true, bits: 15 }, true);
  m2.process(p, 0, p.length);
  assertEquals(read(p), { pid: 4321, tl0: 77, tid: 0, keyIdx: 9, key: true });
});

Deno.test("vp8 munger: temporal drops across the 15-bit wrap, then a switch after a picture cut off mid-way", () => {
  const m = new Vp8Munger();
  const src = layer(32760, 255, 4, 15);
  const out: Out[] = [];
  for (let i = 0; i < 24; i++) {
    const f = src.next().value!;
    const p = packet(f, true);
    if (f.tid > 0) { // a TL0-only viewer
      assertEquals(m.drop(p, 0, p.length), Vp8MungeCode.ok);
      continue;
    }
    m.process(p, 0, p.length);
    out.push(read(p));
  }
  // The next TL0 picture loses its second packet (the layer stops); only the first was sent.
  const cut = src.next().value!;
  const first = packet(cut, true);
  m.process(first, 0, first.length);
  out.push(read(first));
  const other = layer(100, 3, 20, 15);
  m.switchSource();
  const key = packet(other.next().value!, true);
  m.process(key, 0, key.length);
  out.push(read(key));
  assertContinuous(out, 15);
  assertEquals(out.length, 8);
  assertEquals(out[0].pid, 32760);
  assertEquals(out[7].pid, (32760 + 7) & 0x7fff, "PictureID +1 per sent picture, wrapped");
});
