import { assert, assertEquals } from "@std/assert";
import { inspectVp9, readVp9Descriptor, Vp9Descriptor } from "../../../src/rtp/codecs/vp9.ts";
import type { VideoFrameInfo } from "../../../src/rtp/codecs/codec.ts";
import { hex } from "./bit-writer.ts";

Deno.test("readVp9Descriptor: non-flexible key frame with scalability structure", () => {
  // I L B V set; 15-bit PictureID 0x1234; TID 0 U 0 SID 0 D 0; TL0PICIDX 7;
  // SS: N_S=0 (1 layer) Y=1 G=1; 1280x720; N_G=1: TID 0, U 0, R 1, one P_DIFF.
  const b = hex("aa 92 34 00 07 18 05 00 02 d0 01 04 01 ff");
  const d = new Vp9Descriptor();
  assert(readVp9Descriptor(b, 0, b.length, d));
  assertEquals(
    [d.pictureId, d.pictureIdBits, d.tid, d.sid, d.interLayer, d.tl0PicIdx, d.tl0PicIdxOffset],
    [0x1234, 15, 0, 0, false, 7, 4],
  );
  assertEquals([d.ssLayers, d.ssWidth, d.ssHeight, d.headerLength], [1, 1280, 720, 13]);
  assertEquals([d.startOfFrame, d.endOfFrame, d.interPicture, d.flexible], [
    true,
    false,
    false,
    false,
  ]);
});

Deno.test("readVp9Descriptor: flexible mode with P_DIFF chain and no TL0PICIDX", () => {
  // I P L F B E; 7-bit PictureID 5; TID 2 U 1 SID 1 D 1; two P_DIFF bytes (N=1, then N=0).
  const b = hex("fc 05 53 03 04");
  const d = new Vp9Descriptor();
  assert(readVp9Descriptor(b, 0, b.length, d));
  assertEquals([d.pictureId, d.tid, d.switchingUp, d.sid, d.interLayer], [5, 2, true, 1, true]);
  assertEquals([d.tl0PicIdx, d.headerLength, d.flexible, d.interPicture], [-1, 5, true, true]);
});

Deno.test("readVp9Descriptor: SS with three spatial layers reports the top one", () => {
  // V only: N_S=2 Y=1 G=0: 320x180, 640x360, 1280x720.
  const b = hex("0a 50 01 40 00 b4 02 80 01 68 05 00 02 d0");
  const d = new Vp9Descriptor();
  assert(readVp9Descriptor(b, 0, b.length, d));
  assertEquals([d.ssLayers, d.ssWidth, d.ssHeight, d.headerLength], [3, 1280, 720, 14]);
});

Deno.test("readVp9Descriptor: truncated", () => {
  const d = new Vp9Descriptor();
  for (const s of ["80", "80 80", "a0 01", "20", "52 03", "02", "02 10 00 00 00", "02 08"]) {
    const b = hex(s);
    assertEquals(readVp9Descriptor(b, 0, b.length, d), false, s);
  }
  assertEquals(readVp9Descriptor(new Uint8Array(0), 0, 0, d), false);
});

Deno.test("inspectVp9: key frame rule B=1, P=0, D=0", () => {
  const rows: { name: string; bytes: string; key: boolean; w: number; h: number }[] = [
    {
      name: "key frame with SS",
      bytes: "aa 92 34 00 07 18 05 00 02 d0 01 04 01 ff 00",
      key: true,
      w: 1280,
      h: 720,
    },
    { name: "key frame, no SS", bytes: "88 00", key: true, w: 0, h: 0 },
    { name: "inter frame", bytes: "c8 01 00", key: false, w: 0, h: 0 },
    { name: "not the first packet (B=0)", bytes: "84 00 00", key: false, w: 0, h: 0 },
    {
      name: "upper spatial layer depends on lower (D=1)",
      bytes: "38 03 07 00",
      key: false,
      w: 0,
      h: 0,
    },
    { name: "spatial layer 0 of a key picture", bytes: "38 00 07 00", key: true, w: 0, h: 0 },
  ];
  const out: VideoFrameInfo = { keyframe: false, width: 0, height: 0 };
  for (const r of rows) {
    const b = hex(r.bytes);
    assert(inspectVp9(b, 0, b.length, out), r.name);
    assertEquals([out.keyframe, out.width, out.height], [r.key, r.w, r.h], r.name);
  }
  assertEquals(inspectVp9(hex("80"), 0, 1, out), false);
});
