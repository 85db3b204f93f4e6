import { assert, assertEquals } from "@std/assert";
import { inspectVp8, readVp8Descriptor, Vp8Descriptor } from "../../../src/rtp/codecs/vp8.ts";
import type { VideoFrameInfo } from "../../../src/rtp/codecs/codec.ts";
import { concat, hex } from "./bit-writer.ts";

// VP8 key frame header (RFC 6386 §9.1): frame tag with P=0, start code, 640 and 480 (LE, 14 bits).
const KEY_640x480 = hex("50 42 00 9d 01 2a 80 02 e0 01 00 00");
const INTER = hex("31 10 00 11 22");

Deno.test("readVp8Descriptor: rows of descriptors", () => {
  const rows: { name: string; bytes: Uint8Array; want: Partial<Vp8Descriptor> }[] = [
    {
      name: "minimal, S=1 PID=0",
      bytes: hex("10"),
      want: {
        startOfPartition: true,
        partitionIndex: 0,
        headerLength: 1,
        pictureIdBits: 0,
        tid: -1,
      },
    },
    {
      name: "N bit and PID 3",
      bytes: hex("23"),
      want: { nonReference: true, startOfPartition: false, partitionIndex: 3, headerLength: 1 },
    },
    {
      name: "7-bit PictureID",
      bytes: hex("90 80 45"),
      want: { pictureId: 0x45, pictureIdBits: 7, pictureIdOffset: 2, headerLength: 3 },
    },
    {
      name: "15-bit PictureID, TL0PICIDX, TID/Y/KEYIDX",
      bytes: hex("90 f0 ab cd 17 b5"),
      want: {
        pictureId: 0x2bcd,
        pictureIdBits: 15,
        pictureIdOffset: 2,
        tl0PicIdx: 0x17,
        tl0PicIdxOffset: 4,
        tid: 2,
        layerSync: true,
        keyIdx: 0x15,
        tidKeyIdxOffset: 5,
        headerLength: 6,
      },
    },
    {
      name: "T without K",
      bytes: hex("80 20 40"),
      want: { tid: 1, layerSync: false, keyIdx: -1, tidKeyIdxOffset: 2, headerLength: 3 },
    },
    {
      name: "K without T",
      bytes: hex("80 10 1f"),
      want: { tid: -1, keyIdx: 31, tidKeyIdxOffset: 2, headerLength: 3 },
    },
    {
      name: "X with no fields",
      bytes: hex("90 00"),
      want: { pictureId: -1, tl0PicIdx: -1, tid: -1, keyIdx: -1, headerLength: 2 },
    },
  ];
  const d = new Vp8Descriptor();
  for (const row of rows) {
    assert(readVp8Descriptor(row.bytes, 0, row.bytes.length, d), row.name);
    for (const [k, v] of Object.entries(row.want)) {
      assertEquals(d[k as keyof Vp8Descriptor], v, `${row.name}: ${k}`);
    }
  }
});

Deno.test("readVp8Descriptor: offsets are absolute, so a munger can rewrite in place", () => {
  const desc = hex("90 e0 ab cd 17 40");
  const buf = concat([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], desc, KEY_640x480);
  const d = new Vp8Descriptor();
  assert(readVp8Descriptor(buf, 12, buf.length - 12, d));
  assertEquals([d.pictureIdOffset, d.tl0PicIdxOffset, d.tidKeyIdxOffset], [14, 16, 17]);
  // Rewrite PictureID 0x2bcd → 0x0001 (keeping M) and TL0PICIDX, then read back.
  buf[d.pictureIdOffset] = 0x80;
  buf[d.pictureIdOffset + 1] = 0x01;
  buf[d.tl0PicIdxOffset] = 0x99;
  assert(readVp8Descriptor(buf, 12, buf.length - 12, d));
  assertEquals([d.pictureId, d.pictureIdBits, d.tl0PicIdx, d.tid], [1, 15, 0x99, 1]);
});

Deno.test("readVp8Descriptor: truncated descriptors", () => {
  const d = new Vp8Descriptor();
  for (const bytes of ["", "80", "90 80", "90 80 80", "90 40", "90 20", "90 f0 ab cd 17"]) {
    const b = bytes ? hex(bytes) : new Uint8Array(0);
    assertEquals(readVp8Descriptor(b, 0, b.length, d), false, bytes);
  }
});

Deno.test("inspectVp8: key frames and sizes", () => {
  const rows: {
    name: string;
    payload: Uint8Array;
    ok: boolean;
    key: boolean;
    w: number;
    h: number;
  }[] = [
    {
      name: "key frame 640x480",
      payload: concat(hex("10"), KEY_640x480),
      ok: true,
      key: true,
      w: 640,
      h: 480,
    },
    {
      name: "key frame with extended descriptor",
      payload: concat(hex("90 e0 80 01 00 40"), KEY_640x480),
      ok: true,
      key: true,
      w: 640,
      h: 480,
    },
    {
      name: "scale bits ignored, 1280x720",
      payload: concat(hex("10 50 42 00 9d 01 2a 00 45 d0 c2")),
      ok: true,
      key: true,
      w: 1280,
      h: 720,
    },
    { name: "inter frame", payload: concat(hex("10"), INTER), ok: true, key: false, w: 0, h: 0 },
    {
      name: "continuation of a key frame (S=0)",
      payload: concat(hex("00"), KEY_640x480),
      ok: true,
      key: false,
      w: 0,
      h: 0,
    },
    {
      name: "partition 1 start",
      payload: concat(hex("11"), KEY_640x480),
      ok: true,
      key: false,
      w: 0,
      h: 0,
    },
    {
      name: "key frame without start code",
      payload: hex("10 50 42 00 9d 01 2b 80 02 e0 01"),
      ok: false,
      key: false,
      w: 0,
      h: 0,
    },
    {
      name: "key frame header truncated",
      payload: hex("10 50 42 00 9d 01 2a 80"),
      ok: false,
      key: false,
      w: 0,
      h: 0,
    },
    { name: "empty first partition", payload: hex("10"), ok: false, key: false, w: 0, h: 0 },
    { name: "no descriptor", payload: new Uint8Array(0), ok: false, key: false, w: 0, h: 0 },
  ];
  const out: VideoFrameInfo = { keyframe: true, width: 9, height: 9 };
  for (const r of rows) {
    assertEquals(inspectVp8(r.payload, 0, r.payload.length, out), r.ok, r.name);
    if (!r.ok) continue;
    assertEquals([out.keyframe, out.width, out.height], [r.key, r.w, r.h], r.name);
    assertEquals(out.idr, r.key, r.name);
  }
});
