/**
 * AV1 over RTP (AV1 RTP Payload Format, aomediacodec.github.io/av1-rtp-spec §4.4): the
 * aggregation header, key-frame detection, and the maximum frame size from a sequence header OBU
 * (AV1 bitstream spec §5.5).
 *
 * @module
 */

import type { VideoFrameInfo } from "./codec.ts";
import { BitReader } from "./bit-reader.ts";

/** OBU types used here (AV1 §6.2.2). */
export const Av1Obu = { SEQUENCE_HEADER: 1, TEMPORAL_DELIMITER: 2, FRAME_HEADER: 3, FRAME: 6 };

const reader = new BitReader();

/**
 * Inspects one AV1 RTP payload: a key frame starts where the aggregation header's N bit is set
 * (first packet of a coded video sequence), or where the first OBU element begins a sequence
 * header. Width and height come from that sequence header (max_frame_*_minus_1 + 1) when it is
 * complete in this packet. False if malformed.
 */
export function inspectAv1(
  buf: Uint8Array,
  off: number,
  len: number,
  out: VideoFrameInfo,
): boolean {
  out.keyframe = false;
  out.idr = false;
  out.width = 0;
  out.height = 0;
  if (len < 2) return false;
  const agg = buf[off];
  const continues = (agg & 0x80) !== 0; // Z: first element continues an OBU from the last packet
  const w = (agg >> 4) & 0x03; // W: element count, 0 = every element has a length field
  const newSequence = (agg & 0x08) !== 0; // N
  if (newSequence && continues) return false; // N=1 requires Z=0 (§4.4)
  const end = off + len;
  let p = off + 1;
  let size = end - p;
  if (w !== 1) { // a leb128 length precedes the first element unless it is the only one
    let v = 0;
    let shift = 1;
    for (let i = 0;; i++) {
      if (p >= end || i === 8) return false;
      const b = buf[p++];
      v += (b & 0x7f) * shift;
      shift *= 128;
      if ((b & 0x80) === 0) break;
    }
    if (p + v > end) return false;
    size = v;
  }
  if (!continues && size > 0) {
    const obu = buf[p];
    if ((obu & 0x80) !== 0) return false; // obu_forbidden_bit
    if (((obu >> 3) & 0x0f) === Av1Obu.SEQUENCE_HEADER) {
      out.keyframe = true;
      const ext = (obu & 0x04) !== 0 ? 1 : 0;
      // obu_has_size_field is usually 0 in RTP; if set, skip the size (the element bounds it).
      let q = p + 1 + ext;
      if ((obu & 0x02) !== 0) {
        while (q < p + size && (buf[q] & 0x80) !== 0) q++;
        q++;
      }
      if (q < p + size) parseAv1SequenceHeader(buf, q, p + size - q, out);
    }
  }
  if (newSequence) out.keyframe = true;
  out.idr = out.keyframe;
  return true;
}

/**
 * Reads max_frame_width_minus_1 + 1 and max_frame_height_minus_1 + 1 from a sequence header
 * OBU payload (§5.5.1). False, leaving `out` untouched, if truncated.
 */
export function parseAv1SequenceHeader(
  buf: Uint8Array,
  off: number,
  len: number,
  out: { width: number; height: number },
): boolean {
  const r = reader;
  r.reset(buf, off, len, false);
  r.skipBits(3); // seq_profile
  r.skipBits(1); // still_picture
  const reduced = r.readBit();
  if (reduced === 1) {
    r.skipBits(5); // seq_level_idx[0]
  } else {
    let decoderModelInfo = 0;
    let bufferDelayLength = 0;
    if (r.readBit() === 1) { // timing_info_present_flag
      r.skipBits(64); // num_units_in_display_tick, time_scale
      if (r.readBit() === 1) r.readUe(); // equal_picture_interval → num_ticks_per_picture_minus_1
      decoderModelInfo = r.readBit();
      if (decoderModelInfo === 1) {
        bufferDelayLength = r.readBits(5) + 1;
        r.skipBits(32 + 5 + 5); // num_units_in_decoding_tick, two length fields
      }
    }
    const initialDisplayDelay = r.readBit();
    const points = r.readBits(5) + 1;
    for (let i = 0; i < points && !r.overrun; i++) {
      r.skipBits(12); // operating_point_idc
      if (r.readBits(5) > 7) r.skipBits(1); // seq_level_idx → seq_tier
      if (decoderModelInfo === 1 && r.readBit() === 1) {
        r.skipBits(2 * bufferDelayLength + 1); // decoder/encoder_buffer_delay, low_delay_mode
      }
      if (initialDisplayDelay === 1 && r.readBit() === 1) r.skipBits(4);
    }
  }
  const widthBits = r.readBits(4) + 1;
  const heightBits = r.readBits(4) + 1;
  const width = r.readBits(widthBits) + 1;
  const height = r.readBits(heightBits) + 1;
  if (r.overrun) return false;
  out.width = width;
  out.height = height;
  return true;
}
