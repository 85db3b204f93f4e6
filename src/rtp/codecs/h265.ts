/**
 * H.265 over RTP (RFC 7798): finds the packets that start a key frame and reads the picture
 * size from the SPS (ITU-T H.265 §7.3.2.2).
 *
 * As for H.264, the switch point is the packet carrying the **SPS** (type 33), single, inside an
 * aggregation packet (48) or at a fragmentation-unit start (49); IRAP pictures (16–21) are
 * reported as `idr`.
 *
 * @module
 */

import type { VideoFrameInfo } from "./codec.ts";
import { BitReader } from "./bit-reader.ts";

/** NAL unit types used here (H.265 Table 7-1, RFC 7798 §4.4). */
export const H265Nal = {
  BLA_W_LP: 16,
  CRA: 21,
  VPS: 32,
  SPS: 33,
  PPS: 34,
  AP: 48,
  FU: 49,
  PACI: 50,
} as const;

const reader = new BitReader();

/**
 * Inspects one H.265 RTP payload (without DONL fields, i.e. sprop-max-don-diff = 0): `keyframe`
 * if it carries an SPS, `idr` if it carries the start of an IRAP picture, and the SPS's size.
 * False if malformed.
 */
export function inspectH265(
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
  if ((buf[off] & 0x80) !== 0) return false; // forbidden_zero_bit
  const type = (buf[off] >> 1) & 0x3f;
  if (type === H265Nal.AP) {
    const end = off + len;
    let p = off + 2;
    while (p + 2 <= end) {
      const size = (buf[p] << 8) | buf[p + 1];
      p += 2;
      if (size < 2 || p + size > end) return false;
      nal(buf, p, size, (buf[p] >> 1) & 0x3f, 2, out);
      p += size;
    }
    return p === end;
  }
  if (type === H265Nal.FU) {
    if (len < 4) return false;
    const fu = buf[off + 2];
    if ((fu & 0x80) !== 0) nal(buf, off + 3, len - 3, fu & 0x3f, 0, out);
    return true;
  }
  nal(buf, off, len, type, 2, out);
  return true;
}

function nal(
  buf: Uint8Array,
  p: number,
  len: number,
  type: number,
  skip: number,
  out: VideoFrameInfo,
): void {
  if (type === H265Nal.SPS) {
    out.keyframe = true;
    if (out.width === 0) parseH265Sps(buf, p + skip, len - skip, out);
  } else if (type >= H265Nal.BLA_W_LP && type <= H265Nal.CRA) {
    out.idr = true;
  }
}

/**
 * Reads the conformance-window-cropped picture size from an SPS RBSP (the bytes after the
 * two-byte NAL header). False, leaving `out` untouched, if truncated or invalid.
 */
export function parseH265Sps(
  buf: Uint8Array,
  off: number,
  len: number,
  out: { width: number; height: number },
): boolean {
  const r = reader;
  r.reset(buf, off, len, true);
  r.skipBits(4); // sps_video_parameter_set_id
  const maxSubLayersMinus1 = r.readBits(3);
  r.skipBits(1); // sps_temporal_id_nesting_flag
  // profile_tier_level(1, maxSubLayersMinus1) (§7.3.3)
  r.skipBits(96); // general profile (88 bits) and general_level_idc (8)
  let subProfile = 0;
  let subLevel = 0;
  for (let i = 0; i < maxSubLayersMinus1; i++) {
    subProfile += r.readBit();
    subLevel += r.readBit();
  }
  if (maxSubLayersMinus1 > 0) r.skipBits(2 * (8 - maxSubLayersMinus1)); // reserved_zero_2bits
  r.skipBits(88 * subProfile + 8 * subLevel);
  r.readUe(); // sps_seq_parameter_set_id
  const chromaFormatIdc = r.readUe();
  if (chromaFormatIdc > 3) return false;
  let separateColourPlane = 0;
  if (chromaFormatIdc === 3) separateColourPlane = r.readBit();
  const width = r.readUe(); // pic_width_in_luma_samples
  const height = r.readUe();
  let left = 0, right = 0, top = 0, bottom = 0;
  if (r.readBit() === 1) { // conformance_window_flag
    left = r.readUe();
    right = r.readUe();
    top = r.readUe();
    bottom = r.readUe();
  }
  if (r.overrun) return false;
  // Offsets are in chroma units (§7.4.3.2.1, Table 6-1).
  const chromaArrayType = separateColourPlane === 1 ? 0 : chromaFormatIdc;
  const subWidthC = chromaArrayType === 1 || chromaArrayType === 2 ? 2 : 1;
  const subHeightC = chromaArrayType === 1 ? 2 : 1;
  const w = width - subWidthC * (left + right);
  const h = height - subHeightC * (top + bottom);
  if (w <= 0 || h <= 0) return false;
  out.width = w;
  out.height = h;
  return true;
}
