import { assert, assertEquals } from "@std/assert";
import { inspectH264, parseH264Sps } from "../../../src/rtp/codecs/h264.ts";
import type { VideoFrameInfo } from "../../../src/rtp/codecs/codec.ts";
import { BitWriter, concat, escape, hex } from "./bit-writer.ts";

function info(): VideoFrameInfo {
  return { keyframe: false, width: 0, height: 0, idr: false };
}

// SPS NAL units as encoders emit them (hand-decoded to check: profile, level, size, cropping).
const SPS_1080P_HIGH = hex(
  "67 64 00 28 ac d9 40 78 02 27 e5 c0 44 00 00 03 00 04 00 00 03 00 f0 3c 60 c6 58",
);
const SPS_1080P_BASELINE = hex(
  "67 42 c0 28 d9 00 78 02 27 e5 84 00 00 03 00 04 00 00 03 00 f0 3c 60 c9 20",
);
const SPS_720P_HIGH = hex(
  "67 64 00 1f ac d9 40 50 05 bb 01 10 00 00 03 00 10 00 00 03 03 c0 f1 83 19 60",
);
const SPS_720P_BASELINE = hex(
  "67 42 e0 1f 8d 68 05 00 5b a1 00 00 03 00 01 00 00 03 00 3c 0f 16 2e 48",
);
const PPS = hex("68 ee 3c 80");
const IDR = hex("65 88 84 00 33 ff");

interface SpsParams {
  profileIdc?: number;
  chromaFormatIdc?: number;
  separateColourPlane?: number;
  scaling?: boolean;
  pocType?: number;
  offsetForNonRefPic?: number;
  widthMbs: number;
  heightMapUnits: number;
  frameMbsOnly?: number;
  crop?: [number, number, number, number];
}

/** Builds an SPS NAL unit (H.264 §7.3.2.1.1) with emulation prevention. */
function buildSps(p: SpsParams): { nal: Uint8Array; inserted: number } {
  const w = new BitWriter();
  const profile = p.profileIdc ?? 100;
  w.u(8, profile).u(8, 0).u(8, 40).ue(0);
  if (profile === 100 || profile === 122 || profile === 244) {
    const chroma = p.chromaFormatIdc ?? 1;
    w.ue(chroma);
    if (chroma === 3) w.u(1, p.separateColourPlane ?? 0);
    w.ue(0).ue(0).u(1, 0);
    if (p.scaling) {
      w.u(1, 1);
      const lists = chroma !== 3 ? 8 : 12;
      for (let i = 0; i < lists; i++) {
        w.u(1, i % 2); // every other list present
        if (i % 2 === 1) {
          const size = i < 6 ? 16 : 64;
          // delta_scale values: a few non-zero, then a jump to 0 that ends the list early.
          for (let j = 0; j < size; j++) {
            if (j === 5) {
              w.se(-((8 + 5 * 3) % 256)); // next = 0: the rest repeat
              break;
            }
            w.se(3);
          }
        }
      }
    } else {
      w.u(1, 0);
    }
  }
  w.ue(0); // log2_max_frame_num_minus4
  const poc = p.pocType ?? 0;
  w.ue(poc);
  if (poc === 0) w.ue(2);
  else if (poc === 1) {
    w.u(1, 0).se(p.offsetForNonRefPic ?? 0).se(-2).ue(3).se(1).se(-1).se(7);
  }
  w.ue(4).u(1, 0).ue(p.widthMbs - 1).ue(p.heightMapUnits - 1);
  const fmo = p.frameMbsOnly ?? 1;
  w.u(1, fmo);
  if (fmo === 0) w.u(1, 0);
  w.u(1, 1);
  if (p.crop) {
    w.u(1, 1);
    for (const c of p.crop) w.ue(c);
  } else {
    w.u(1, 0);
  }
  w.u(1, 0); // vui_parameters_present_flag
  const { bytes, inserted } = escape(w.rbsp());
  return { nal: concat([0x67], bytes), inserted };
}

Deno.test("parseH264Sps: encoder SPS rows", () => {
  const rows: [string, Uint8Array, number, number][] = [
    ["1080p high (cropped from 1088)", SPS_1080P_HIGH, 1920, 1080],
    ["1080p constrained baseline", SPS_1080P_BASELINE, 1920, 1080],
    ["720p high", SPS_720P_HIGH, 1280, 720],
    ["720p constrained baseline", SPS_720P_BASELINE, 1280, 720],
  ];
  for (const [name, sps, w, h] of rows) {
    const out = { width: 0, height: 0 };
    assert(parseH264Sps(sps, 1, sps.length - 1, out), name);
    assertEquals([out.width, out.height], [w, h], name);
  }
});

Deno.test("parseH264Sps: built SPS rows (profiles, scaling lists, POC, interlace, crop units)", () => {
  const rows: { name: string; p: SpsParams; w: number; h: number }[] = [
    {
      name: "baseline 720p",
      p: { profileIdc: 66, widthMbs: 80, heightMapUnits: 45 },
      w: 1280,
      h: 720,
    },
    {
      name: "high 1080p crop",
      p: { widthMbs: 120, heightMapUnits: 68, crop: [0, 0, 0, 4] },
      w: 1920,
      h: 1080,
    },
    {
      name: "high with scaling lists",
      p: { widthMbs: 40, heightMapUnits: 30, scaling: true },
      w: 640,
      h: 480,
    },
    {
      name: "4:4:4 with scaling lists (12 lists), crop in luma units",
      p: {
        profileIdc: 244,
        chromaFormatIdc: 3,
        scaling: true,
        widthMbs: 20,
        heightMapUnits: 12,
        crop: [1, 1, 1, 1],
      },
      w: 318,
      h: 190,
    },
    {
      name: "4:2:2 crop units 2×1",
      p: {
        profileIdc: 122,
        chromaFormatIdc: 2,
        widthMbs: 20,
        heightMapUnits: 12,
        crop: [1, 1, 1, 1],
      },
      w: 316,
      h: 190,
    },
    {
      name: "monochrome crop units 1×1",
      p: { chromaFormatIdc: 0, widthMbs: 20, heightMapUnits: 12, crop: [1, 0, 0, 3] },
      w: 319,
      h: 189,
    },
    {
      name: "separate colour planes: ChromaArrayType 0",
      p: {
        profileIdc: 244,
        chromaFormatIdc: 3,
        separateColourPlane: 1,
        widthMbs: 20,
        heightMapUnits: 12,
        crop: [2, 0, 0, 2],
      },
      w: 318,
      h: 190,
    },
    {
      name: "interlaced (frame_mbs_only 0) 1080i",
      p: { widthMbs: 120, heightMapUnits: 34, frameMbsOnly: 0, crop: [0, 0, 0, 2] },
      w: 1920,
      h: 1080,
    },
    {
      name: "POC type 1 with cycle",
      p: { pocType: 1, widthMbs: 22, heightMapUnits: 18 },
      w: 352,
      h: 288,
    },
    { name: "POC type 2", p: { pocType: 2, widthMbs: 8, heightMapUnits: 6 }, w: 128, h: 96 },
  ];
  for (const row of rows) {
    const { nal } = buildSps(row.p);
    const out = { width: 0, height: 0 };
    assert(parseH264Sps(nal, 1, nal.length - 1, out), row.name);
    assertEquals([out.width, out.height], [row.w, row.h], row.name);
  }
});

Deno.test("parseH264Sps: emulation-prevention bytes inside parsed fields are skipped", () => {
  // A huge offset_for_non_ref_pic makes a run of 16+ zero bits before the size fields.
  const { nal, inserted } = buildSps({
    pocType: 1,
    offsetForNonRefPic: -(2 ** 30),
    widthMbs: 80,
    heightMapUnits: 45,
  });
  assert(inserted > 0, "the builder must have escaped something");
  const out = { width: 0, height: 0 };
  assert(parseH264Sps(nal, 1, nal.length - 1, out));
  assertEquals([out.width, out.height], [1280, 720]);
});

Deno.test("parseH264Sps: truncated or invalid SPS leaves out untouched", () => {
  const out = { width: 7, height: 7 };
  for (let cut = 1; cut < 9; cut++) {
    assertEquals(parseH264Sps(SPS_720P_BASELINE, 1, cut, out), false, `cut ${cut}`);
  }
  assertEquals(out, { width: 7, height: 7 });
  const { nal } = buildSps({ pocType: 3, widthMbs: 1, heightMapUnits: 1 });
  assertEquals(parseH264Sps(nal, 1, nal.length - 1, out), false);
});

Deno.test("inspectH264: packetization rows", () => {
  const stap = (...nals: Uint8Array[]) =>
    concat([0x78], ...nals.flatMap((n) => [[n.length >> 8, n.length & 0xff], n]));
  const fu = (nal: Uint8Array, start: boolean, end: boolean, from: number, to: number) =>
    concat(
      [(nal[0] & 0xe0) | 28, (start ? 0x80 : 0) | (end ? 0x40 : 0) | (nal[0] & 0x1f)],
      nal.subarray(from, to),
    );
  const rows: {
    name: string;
    payload: Uint8Array;
    ok: boolean;
    key: boolean;
    idr: boolean;
    w: number;
    h: number;
  }[] = [
    {
      name: "single SPS (OBS style)",
      payload: SPS_1080P_HIGH,
      ok: true,
      key: true,
      idr: false,
      w: 1920,
      h: 1080,
    },
    { name: "single PPS", payload: PPS, ok: true, key: false, idr: false, w: 0, h: 0 },
    {
      name: "single IDR: not the switch point",
      payload: IDR,
      ok: true,
      key: false,
      idr: true,
      w: 0,
      h: 0,
    },
    {
      name: "non-IDR slice",
      payload: hex("41 9a 00 11"),
      ok: true,
      key: false,
      idr: false,
      w: 0,
      h: 0,
    },
    {
      name: "STAP-A SPS+PPS (Chromium style)",
      payload: stap(SPS_720P_BASELINE, PPS),
      ok: true,
      key: true,
      idr: false,
      w: 1280,
      h: 720,
    },
    {
      name: "STAP-A SPS+PPS+IDR",
      payload: stap(SPS_720P_HIGH, PPS, IDR),
      ok: true,
      key: true,
      idr: true,
      w: 1280,
      h: 720,
    },
    {
      name: "STAP-A SEI+PPS",
      payload: stap(hex("06 05 01 ff 80"), PPS),
      ok: true,
      key: false,
      idr: false,
      w: 0,
      h: 0,
    },
    {
      name: "STAP-A truncated SPS",
      payload: stap(hex("67 64 00")),
      ok: true,
      key: true,
      idr: false,
      w: 0,
      h: 0,
    },
    {
      name: "FU-A start of IDR",
      payload: fu(IDR, true, false, 1, 3),
      ok: true,
      key: false,
      idr: true,
      w: 0,
      h: 0,
    },
    {
      name: "FU-A middle of IDR",
      payload: fu(IDR, false, false, 3, 5),
      ok: true,
      key: false,
      idr: false,
      w: 0,
      h: 0,
    },
    {
      name: "FU-A end of IDR",
      payload: fu(IDR, false, true, 5, 6),
      ok: true,
      key: false,
      idr: false,
      w: 0,
      h: 0,
    },
    {
      name: "FU-A start of SPS",
      payload: fu(SPS_1080P_BASELINE, true, false, 1, SPS_1080P_BASELINE.length),
      ok: true,
      key: true,
      idr: false,
      w: 1920,
      h: 1080,
    },
    {
      name: "FU-A middle of SPS",
      payload: fu(SPS_1080P_BASELINE, false, true, 5, 9),
      ok: true,
      key: false,
      idr: false,
      w: 0,
      h: 0,
    },
    { name: "empty", payload: new Uint8Array(0), ok: false, key: false, idr: false, w: 0, h: 0 },
    { name: "forbidden bit", payload: hex("e7 42"), ok: false, key: false, idr: false, w: 0, h: 0 },
    {
      name: "FU-A without payload",
      payload: hex("7c 85"),
      ok: false,
      key: false,
      idr: false,
      w: 0,
      h: 0,
    },
    {
      name: "STAP-A size past end",
      payload: hex("78 00 09 67 42"),
      ok: false,
      key: false,
      idr: false,
      w: 0,
      h: 0,
    },
    {
      name: "STAP-A zero size",
      payload: hex("78 00 00"),
      ok: false,
      key: false,
      idr: false,
      w: 0,
      h: 0,
    },
  ];
  const out = info();
  for (const r of rows) {
    // A stale result from the previous row must be cleared.
    out.keyframe = true;
    out.width = 99;
    // Embed at an offset to check off/len handling.
    const buf = concat([0xaa, 0xbb], r.payload, [0xcc]);
    assertEquals(inspectH264(buf, 2, r.payload.length, out), r.ok, r.name);
    if (!r.ok) continue;
    assertEquals([out.keyframe, out.idr, out.width, out.height], [r.key, r.idr, r.w, r.h], r.name);
  }
});
