import { assert, assertEquals } from "@std/assert";
import { inspectH265, parseH265Sps } from "../../../src/rtp/codecs/h265.ts";
import type { VideoFrameInfo } from "../../../src/rtp/codecs/codec.ts";
import { BitWriter, concat, escape, hex } from "./bit-writer.ts";

// SPS NAL units as encoders emit them (hand-decoded to check).
const SPS_720P = hex(
  "42 01 01 01 60 00 00 03 00 90 00 00 03 00 00 03 00 5d a0 02 80 80 2d 16 36 b9 24 cb f0 08 00 00 03 00 08 00 00 03 00 f0 80",
);
const SPS_1080P = hex(
  "42 01 01 01 60 00 00 03 00 b0 00 00 03 00 00 03 00 7b a0 03 c0 80 10 e5 8d ae 49 32 f4 dc 04 04 04 02",
);
const VPS = hex("40 01 0c 01 ff ff");
const PPS = hex("44 01 c1 72 b4 62 40");
const IDR_W_RADL = hex("26 01 af 1d 80"); // type 19
const TRAIL_R = hex("02 01 d0 0a");

function buildSps(p: {
  maxSubLayersMinus1: number;
  subProfile?: number[];
  subLevel?: number[];
  chroma: number;
  width: number;
  height: number;
  window?: [number, number, number, number];
}): Uint8Array {
  const w = new BitWriter();
  w.u(4, 0).u(3, p.maxSubLayersMinus1).u(1, 1);
  w.u(2, 0).u(1, 0).u(5, 1).u(32, 0x60000000).u(4, 9).u(43, 0).u(1, 0).u(8, 120);
  for (let i = 0; i < p.maxSubLayersMinus1; i++) {
    w.u(1, p.subProfile?.[i] ?? 0).u(1, p.subLevel?.[i] ?? 0);
  }
  if (p.maxSubLayersMinus1 > 0) { for (let i = p.maxSubLayersMinus1; i < 8; i++) w.u(2, 0); }
  for (let i = 0; i < p.maxSubLayersMinus1; i++) {
    if (p.subProfile?.[i]) w.u(88, 0);
    if (p.subLevel?.[i]) w.u(8, 90);
  }
  w.ue(0).ue(p.chroma);
  if (p.chroma === 3) w.u(1, 0);
  w.ue(p.width).ue(p.height);
  if (p.window) {
    w.u(1, 1);
    for (const v of p.window) w.ue(v);
  } else {
    w.u(1, 0);
  }
  w.ue(0).ue(0).ue(4); // bit depths, log2_max_pic_order_cnt_lsb_minus4
  return concat([0x42, 0x01], escape(w.rbsp()).bytes);
}

Deno.test("parseH265Sps: encoder and built SPS rows", () => {
  const rows: [string, Uint8Array, number, number][] = [
    ["encoder 720p", SPS_720P, 1280, 720],
    ["encoder 1080p (window crops 1088)", SPS_1080P, 1920, 1080],
    [
      "built 4:2:0 window",
      buildSps({
        maxSubLayersMinus1: 0,
        chroma: 1,
        width: 1920,
        height: 1088,
        window: [0, 0, 0, 4],
      }),
      1920,
      1080,
    ],
    [
      "built with sub-layers (profile and level present)",
      buildSps({
        maxSubLayersMinus1: 2,
        subProfile: [1, 0],
        subLevel: [1, 1],
        chroma: 1,
        width: 640,
        height: 368,
        window: [0, 0, 0, 4],
      }),
      640,
      360,
    ],
    [
      "built 4:4:4 window in luma units",
      buildSps({ maxSubLayersMinus1: 1, chroma: 3, width: 100, height: 60, window: [1, 1, 1, 1] }),
      98,
      58,
    ],
    [
      "built 4:2:2",
      buildSps({ maxSubLayersMinus1: 0, chroma: 2, width: 100, height: 60, window: [1, 1, 1, 1] }),
      96,
      58,
    ],
  ];
  for (const [name, sps, w, h] of rows) {
    const out = { width: 0, height: 0 };
    assert(parseH265Sps(sps, 2, sps.length - 2, out), name);
    assertEquals([out.width, out.height], [w, h], name);
  }
  const out = { width: 0, height: 0 };
  assertEquals(parseH265Sps(SPS_720P, 2, 12, out), false);
});

Deno.test("inspectH265: packetization rows", () => {
  const ap = (...nals: Uint8Array[]) =>
    concat([0x60, 0x01], ...nals.flatMap((n) => [[n.length >> 8, n.length & 0xff], n]));
  const fu = (nal: Uint8Array, start: boolean, from: number, to: number) =>
    concat([49 << 1, 0x01, (start ? 0x80 : 0) | ((nal[0] >> 1) & 0x3f)], nal.subarray(from, to));
  const rows: {
    name: string;
    p: Uint8Array;
    ok: boolean;
    key: boolean;
    idr: boolean;
    w: number;
    h: number;
  }[] = [
    { name: "single SPS", p: SPS_1080P, ok: true, key: true, idr: false, w: 1920, h: 1080 },
    { name: "single VPS", p: VPS, ok: true, key: false, idr: false, w: 0, h: 0 },
    { name: "single IRAP", p: IDR_W_RADL, ok: true, key: false, idr: true, w: 0, h: 0 },
    { name: "trailing picture", p: TRAIL_R, ok: true, key: false, idr: false, w: 0, h: 0 },
    {
      name: "AP VPS+SPS+PPS",
      p: ap(VPS, SPS_720P, PPS),
      ok: true,
      key: true,
      idr: false,
      w: 1280,
      h: 720,
    },
    {
      name: "FU start of IRAP",
      p: fu(IDR_W_RADL, true, 2, 4),
      ok: true,
      key: false,
      idr: true,
      w: 0,
      h: 0,
    },
    {
      name: "FU middle of IRAP",
      p: fu(IDR_W_RADL, false, 4, 5),
      ok: true,
      key: false,
      idr: false,
      w: 0,
      h: 0,
    },
    {
      name: "FU start of SPS",
      p: fu(SPS_720P, true, 2, SPS_720P.length),
      ok: true,
      key: true,
      idr: false,
      w: 1280,
      h: 720,
    },
    { name: "too short", p: hex("42"), ok: false, key: false, idr: false, w: 0, h: 0 },
    { name: "forbidden bit", p: hex("c2 01 00"), ok: false, key: false, idr: false, w: 0, h: 0 },
    {
      name: "AP size past end",
      p: hex("60 01 00 08 42 01"),
      ok: false,
      key: false,
      idr: false,
      w: 0,
      h: 0,
    },
    {
      name: "FU without payload",
      p: hex("62 01 93"),
      ok: false,
      key: false,
      idr: false,
      w: 0,
      h: 0,
    },
  ];
  const out: VideoFrameInfo = { keyframe: false, width: 0, height: 0, idr: false };
  for (const r of rows) {
    assertEquals(inspectH265(r.p, 0, r.p.length, out), r.ok, r.name);
    if (!r.ok) continue;
    assertEquals([out.keyframe, out.idr, out.width, out.height], [r.key, r.idr, r.w, r.h], r.name);
  }
});
