import { assert, assertEquals } from "@std/assert";
import {
  codecFromRtpmap,
  type CodecName,
  inspectVideoPayload,
  type VideoFrameInfo,
} from "../../../src/rtp/codecs/codec.ts";
import { hex } from "./bit-writer.ts";

Deno.test("codecFromRtpmap: case-insensitive names", () => {
  const rows: [string, CodecName | undefined][] = [
    ["opus", "opus"],
    ["OPUS", "opus"],
    ["H264", "h264"],
    ["VP8", "vp8"],
    ["vp9", "vp9"],
    ["AV1", "av1"],
    ["H265", "h265"],
    ["rtx", undefined],
    ["red", undefined],
    ["ulpfec", undefined],
    ["", undefined],
  ];
  for (const [name, want] of rows) assertEquals(codecFromRtpmap(name), want, name);
});

Deno.test("inspectVideoPayload: dispatches per codec", () => {
  const out: VideoFrameInfo = { keyframe: false, width: 0, height: 0 };
  const rows: [CodecName, Uint8Array, boolean, number][] = [
    ["vp8", hex("10 50 42 00 9d 01 2a 80 02 e0 01"), true, 640],
    ["vp8", hex("10 31 00 00"), false, 0],
    [
      "h264",
      hex("67 42 e0 1f 8d 68 05 00 5b a1 00 00 03 00 01 00 00 03 00 3c 0f 16 2e 48"),
      true,
      1280,
    ],
    ["h264", hex("65 88 84"), false, 0],
    ["vp9", hex("88 00"), true, 0],
    ["av1", hex("18 30 00"), true, 0],
    ["h265", hex("26 01 af"), false, 0],
    ["opus", hex("78 01 02"), true, 0],
  ];
  for (const [codec, payload, key, width] of rows) {
    assert(inspectVideoPayload(codec, payload, 0, payload.length, out), codec);
    assertEquals([out.keyframe, out.width], [key, width], codec);
  }
  assertEquals(inspectVideoPayload("opus", new Uint8Array(0), 0, 0, out), false);
  assertEquals(inspectVideoPayload("vp8", new Uint8Array(0), 0, 0, out), false);
});
