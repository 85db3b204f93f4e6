/**
 * The H.264 path: a werift publisher sends SPS, PPS and IDR as separate single-NAL packets with
 * one timestamp (as OBS does, RFC 6184 §5.6), then non-IDR slices; a viewer that joined while
 * only non-IDR slices flowed receives the stream from the SPS packet on.
 */
import { assertEquals, assertGreater } from "@std/assert";
import { counters, DropReason } from "../../src/observability/counters.ts";
import { createLogger } from "../../src/observability/log.ts";
import { startServer } from "../../src/server.ts";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { startStunStub } from "../support/stun-stub.ts";
import {
  H264,
  holesOf,
  play,
  publish,
  serverSideConnected,
  settleWeriftTimers,
  waitFor,
} from "../support/werift-client.ts";

// Load the native SRTP library outside the test so the resource sanitizer does not count it.
loadLibsrtp();
const quiet = createLogger("silent");

/** Writes bits MSB first; `ue` is unsigned Exp-Golomb (H.264 §9.1). */
class BitWriter {
  readonly bits: number[] = [];
  u(value: number, n: number): this {
    for (let i = n - 1; i >= 0; i--) this.bits.push((value >> i) & 1);
    return this;
  }
  ue(value: number): this {
    const code = value + 1;
    const n = Math.floor(Math.log2(code)) + 1;
    return this.u(0, n - 1).u(code, n);
  }
  /** rbsp_trailing_bits, then the bytes. */
  bytes(): Uint8Array {
    this.bits.push(1);
    while (this.bits.length % 8 !== 0) this.bits.push(0);
    const out = new Uint8Array(this.bits.length / 8);
    this.bits.forEach((bit, i) => out[i >> 3] |= bit << (7 - (i & 7)));
    return out;
  }
}

/** A Constrained Baseline SPS (H.264 §7.3.2.1.1) for 640×480 (40×30 macroblocks). */
function sps(): Uint8Array {
  const rbsp = new BitWriter()
    .u(66, 8) // profile_idc: Baseline
    .u(0xe0, 8) // constraint_set0..2 flags
    .u(31, 8) // level_idc 3.1
    .ue(0) // seq_parameter_set_id
    .ue(0) // log2_max_frame_num_minus4
    .ue(0) // pic_order_cnt_type
    .ue(0) // log2_max_pic_order_cnt_lsb_minus4
    .ue(1) // max_num_ref_frames
    .u(0, 1) // gaps_in_frame_num_value_allowed_flag
    .ue(39) // pic_width_in_mbs_minus1
    .ue(29) // pic_height_in_map_units_minus1
    .u(1, 1) // frame_mbs_only_flag
    .u(1, 1) // direct_8x8_inference_flag
    .u(0, 1) // frame_cropping_flag
    .u(0, 1) // vui_parameters_present_flag
    .bytes();
  return new Uint8Array([0x67, ...rbsp]); // nal_ref_idc 3, type 7
}

const PPS = new Uint8Array([0x68, 0xce, 0x38, 0x80]); // nal_ref_idc 3, type 8

/** A slice NAL of `type` (5 = IDR, 1 = non-IDR) with filler after its header byte. */
function slice(type: 1 | 5, size = 900): Uint8Array {
  const out = new Uint8Array(size);
  out[0] = (type === 5 ? 0x60 : 0x40) | type;
  out[1] = 0x88;
  for (let i = 2; i < size; i++) out[i] = (i * 7) & 0xff;
  return out;
}

Deno.test("H264: SPS, PPS, IDR as single-NAL packets; a viewer starts at the SPS", async () => {
  const stun = await startStunStub();
  // Viewers in two workers: the default configuration as on two cores.
  const server = await startServer(
    { port: 0, host: "127.0.0.1", publicIps: ["127.0.0.1"], logLevel: "silent", workers: 2 },
    { logger: quiet },
  );
  const peers: { close(): Promise<void> }[] = [];
  try {
    const opts = { stunUrl: stun.url, video: [H264] };
    const publisher = await publish(server.url, "h264", server.publishToken, opts);
    peers.push(publisher);
    await publisher.connected;
    await serverSideConnected(server.manager, publisher.location);
    const producer = server.manager.publisherOf("h264")!.producers.find((p) => p.kind === "video")!;
    assertEquals(producer.codecName, "h264");
    for (let i = 0; i < 10; i++) publisher.sendVideoPayload(slice(1));

    const viewer = await play(server.url, "h264", opts);
    peers.push(viewer);
    await viewer.connected;
    await serverSideConnected(server.manager, viewer.location);
    // Non-IDR slices while the viewer waits: none of them may reach it.
    const waitingBefore = counters.packetsDropped[DropReason.waitingKeyframe];
    for (let i = 0; i < 5; i++) publisher.sendVideoPayload(slice(1));
    await waitFor(
      () => counters.packetsDropped[DropReason.waitingKeyframe] - waitingBefore >= 5,
      10_000,
      "inter frames held back from the waiting viewer",
    );
    // The key frame: three packets of one access unit (one timestamp), marker on the last.
    publisher.sendVideoPayload(sps(), false);
    publisher.sendVideoPayload(PPS, false);
    publisher.sendVideoPayload(slice(5), true);
    for (let i = 0; i < 20; i++) {
      publisher.sendVideoPayload(slice(1));
      if (i % 5 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    await waitFor(
      () => holesOf(viewer.videoSeqs).unique >= 23 && holesOf(viewer.videoSeqs).holes === 0,
      10_000,
      "the key frame and what follows at the viewer",
    );
    const nalTypes = viewer.videoFirstBytes.map((b) => b & 0x1f);
    assertEquals(nalTypes.slice(0, 3), [7, 8, 5], "SPS, PPS, IDR first, in order");
    assertEquals(nalTypes.slice(3).every((t) => t === 1), true, "then non-IDR slices");
    assertEquals(viewer.videoFirstBytes[0], 0x67, "the NAL header is forwarded untouched");
    // One access unit: SPS, PPS and IDR keep one timestamp; the next frame is later.
    assertEquals(new Set(viewer.videoTimestamps.slice(0, 3)).size, 1);
    assertGreater((viewer.videoTimestamps[3] - viewer.videoTimestamps[0]) >>> 0, 0);
    assertEquals(viewer.videoPayloadTypes.size, 1);
    assertEquals(producer.layers[0].width, 640, "size read from the SPS");
    assertEquals(producer.layers[0].height, 480);
  } finally {
    for (const peer of peers) await peer.close();
    await server.close();
    await stun.close();
    await settleWeriftTimers();
  }
});
