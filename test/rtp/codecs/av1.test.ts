import { assert, assertEquals } from "@std/assert";
import { inspectAv1, parseAv1SequenceHeader } from "../../../src/rtp/codecs/av1.ts";
import type { VideoFrameInfo } from "../../../src/rtp/codecs/codec.ts";
import { BitWriter, concat } from "./bit-writer.ts";

/** A sequence header OBU payload (AV1 §5.5.1). */
function seqHeader(
  p: { width: number; height: number; reduced?: boolean; timing?: boolean; points?: number },
) {
  const w = new BitWriter();
  w.u(3, 0).u(1, 0).u(1, p.reduced ? 1 : 0);
  const bits = 16;
  if (p.reduced) {
    w.u(5, 8);
  } else {
    w.u(1, p.timing ? 1 : 0);
    if (p.timing) {
      w.u(32, 1001).u(32, 30000).u(1, 1).ue(0); // equal_picture_interval, num_ticks - 1
      w.u(1, 1); // decoder_model_info_present_flag
      w.u(5, 9).u(32, 1).u(5, 31).u(5, 7); // buffer_delay_length_minus_1 = 9 → 10-bit delays
    }
    w.u(1, 1); // initial_display_delay_present_flag
    const points = p.points ?? 1;
    w.u(5, points - 1);
    for (let i = 0; i < points; i++) {
      w.u(12, i === 0 ? 0 : 0x103);
      w.u(5, i === 0 ? 8 : 4); // seq_level_idx > 7 carries seq_tier
      if (i === 0) w.u(1, 0);
      if (p.timing) {
        w.u(1, 1); // decoder_model_present_for_this_op
        w.u(10, 5).u(10, 6).u(1, 0);
      }
      w.u(1, 1).u(4, 9); // initial_display_delay_present_for_this_op, delay - 1
    }
  }
  w.u(4, bits - 1).u(4, bits - 1).u(bits, p.width - 1).u(bits, p.height - 1);
  w.u(1, 0).u(1, 0).u(1, 0); // frame_id_numbers_present, use_128x128, enable_filter_intra (partial)
  return w.rbsp();
}

const SEQ_OBU_HEADER = 1 << 3; // type 1, no extension, no size field
const FRAME_OBU_HEADER = 6 << 3;

Deno.test("parseAv1SequenceHeader: rows", () => {
  const rows: [string, Uint8Array, number, number][] = [
    ["plain 1280x720", seqHeader({ width: 1280, height: 720 }), 1280, 720],
    ["reduced still picture", seqHeader({ width: 64, height: 48, reduced: true }), 64, 48],
    [
      "timing and decoder model, 3 operating points",
      seqHeader({ width: 1920, height: 1080, timing: true, points: 3 }),
      1920,
      1080,
    ],
  ];
  for (const [name, sh, w, h] of rows) {
    const out = { width: 0, height: 0 };
    assert(parseAv1SequenceHeader(sh, 0, sh.length, out), name);
    assertEquals([out.width, out.height], [w, h], name);
  }
  const sh = seqHeader({ width: 1280, height: 720 });
  assertEquals(parseAv1SequenceHeader(sh, 0, 4, { width: 0, height: 0 }), false);
});

Deno.test("inspectAv1: aggregation header rows", () => {
  const sh = seqHeader({ width: 1280, height: 720 });
  const seqObu = concat([SEQ_OBU_HEADER], sh);
  const frameObu = new Uint8Array([FRAME_OBU_HEADER, 0x10, 0x20, 0x30]);
  const rows: { name: string; p: Uint8Array; ok: boolean; key: boolean; w: number; h: number }[] = [
    {
      name: "N=1, W=2: sequence header then frame",
      p: concat([0x28, seqObu.length], seqObu, frameObu),
      ok: true,
      key: true,
      w: 1280,
      h: 720,
    },
    {
      name: "N=1, W=0: every element has a length",
      p: concat([0x08, seqObu.length], seqObu, [frameObu.length], frameObu),
      ok: true,
      key: true,
      w: 1280,
      h: 720,
    },
    {
      name: "N=1 without a sequence header",
      p: concat([0x18], frameObu),
      ok: true,
      key: true,
      w: 0,
      h: 0,
    },
    {
      name: "N=0, leading sequence header (W=1)",
      p: concat([0x10], seqObu),
      ok: true,
      key: true,
      w: 1280,
      h: 720,
    },
    {
      name: "sequence header OBU with extension and size field",
      p: concat([0x10, SEQ_OBU_HEADER | 0x06, 0x00, sh.length], sh),
      ok: true,
      key: true,
      w: 1280,
      h: 720,
    },
    { name: "inter frame", p: concat([0x10], frameObu), ok: true, key: false, w: 0, h: 0 },
    {
      name: "continuation (Z=1) of a sequence header",
      p: concat([0x90], seqObu),
      ok: true,
      key: false,
      w: 0,
      h: 0,
    },
    {
      name: "N=1 with Z=1 is invalid",
      p: concat([0x98], frameObu),
      ok: false,
      key: false,
      w: 0,
      h: 0,
    },
    {
      name: "length past end",
      p: new Uint8Array([0x20, 0x09, FRAME_OBU_HEADER]),
      ok: false,
      key: false,
      w: 0,
      h: 0,
    },
    { name: "too short", p: new Uint8Array([0x10]), ok: false, key: false, w: 0, h: 0 },
    {
      name: "forbidden bit",
      p: new Uint8Array([0x10, 0x80 | FRAME_OBU_HEADER]),
      ok: false,
      key: false,
      w: 0,
      h: 0,
    },
  ];
  const out: VideoFrameInfo = { keyframe: false, width: 0, height: 0 };
  for (const r of rows) {
    assertEquals(inspectAv1(r.p, 0, r.p.length, out), r.ok, r.name);
    if (!r.ok) continue;
    assertEquals([out.keyframe, out.width, out.height], [r.key, r.w, r.h], r.name);
  }
});
