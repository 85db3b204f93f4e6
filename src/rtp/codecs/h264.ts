/**
 * H.264 over RTP (RFC 6184): finds the packets that start a key frame and reads the picture
 * size from the SPS (ITU-T H.264 §7.3.2.1.1).
 *
 * The switch point is the packet carrying the **SPS** (NAL type 7), whether single, inside a
 * STAP-A or at an FU-A start: switching at the IDR (type 5) would skip the new layer's SPS/PPS
 * that come before it (mediasoup, LiveKit and Galène all gate on the SPS). OBS sends SPS, PPS,
 * IDR as separate same-timestamp packets; Chromium aggregates them in a STAP-A.
 *
 * Hot path: a few byte reads per packet; the SPS is parsed only on packets that carry one.
 *
 * @module
 */

import type { VideoFrameInfo } from "./codec.ts";
import { BitReader } from "./bit-reader.ts";

/** NAL unit types used here (H.264 Table 7-1, RFC 6184 §5.2). */
export const H264Nal = {
  IDR: 5,
  SEI: 6,
  SPS: 7,
  PPS: 8,
  AUD: 9,
  STAP_A: 24,
  STAP_B: 25,
  FU_A: 28,
  FU_B: 29,
} as const;

const reader = new BitReader();

/**
 * Inspects one H.264 RTP payload: `keyframe` if it carries an SPS, `idr` if it carries an IDR
 * slice (or FU-A start of one), and the SPS's width/height. False if the payload is malformed.
 */
export function inspectH264(
  buf: Uint8Array,
  off: number,
  len: number,
  out: VideoFrameInfo,
): boolean {
  out.keyframe = false;
  out.idr = false;
  out.width = 0;
  out.height = 0;
  if (len < 1) return false;
  const b0 = buf[off];
  if ((b0 & 0x80) !== 0) return false; // forbidden_zero_bit
  const type = b0 & 0x1f;
  if (type === H264Nal.STAP_A || type === H264Nal.STAP_B) {
    const end = off + len;
    // STAP-B carries a 16-bit decoding order number first (RFC 6184 §5.7.1).
    let p = off + (type === H264Nal.STAP_B ? 3 : 1);
    while (p + 2 <= end) {
      const size = (buf[p] << 8) | buf[p + 1];
      p += 2;
      if (size === 0 || p + size > end) return false;
      nal(buf, p, size, buf[p] & 0x1f, 1, out);
      p += size;
    }
    return p === end;
  }
  if (type === H264Nal.FU_A || type === H264Nal.FU_B) {
    const hdr = type === H264Nal.FU_B ? 4 : 2;
    if (len < hdr + 1) return false;
    const fu = buf[off + 1];
    // Only the first fragment (S bit) starts a NAL unit; its header byte is not repeated.
    if ((fu & 0x80) !== 0) nal(buf, off + hdr, len - hdr, fu & 0x1f, 0, out);
    return true;
  }
  nal(buf, off, len, type, 1, out);
  return true;
}

/** Handles one NAL unit of `type` whose payload starts `skip` bytes after `p`. */
function nal(
  buf: Uint8Array,
  p: number,
  len: number,
  type: number,
  skip: number,
  out: VideoFrameInfo,
): void {
  if (type === H264Nal.SPS) {
    out.keyframe = true;
    if (out.width === 0) parseH264Sps(buf, p + skip, len - skip, out);
  } else if (type === H264Nal.IDR) {
    out.idr = true;
  }
}

/**
 * Reads the cropped picture size from an SPS RBSP (the bytes after the one-byte NAL header,
 * emulation-prevention bytes included). False, leaving `out` untouched, if it is truncated or
 * invalid.
 */
export function parseH264Sps(
  buf: Uint8Array,
  off: number,
  len: number,
  out: { width: number; height: number },
): boolean {
  const r = reader;
  r.reset(buf, off, len, true);
  const profileIdc = r.readBits(8);
  r.skipBits(16); // constraint flags, level_idc
  r.readUe(); // seq_parameter_set_id
  let chromaFormatIdc = 1;
  let separateColourPlane = 0;
  // The high profiles carry chroma format, bit depths and scaling lists (§7.3.2.1.1).
  if (
    profileIdc === 100 || profileIdc === 110 || profileIdc === 122 || profileIdc === 244 ||
    profileIdc === 44 || profileIdc === 83 || profileIdc === 86 || profileIdc === 118 ||
    profileIdc === 128 || profileIdc === 138 || profileIdc === 139 || profileIdc === 134 ||
    profileIdc === 135
  ) {
    chromaFormatIdc = r.readUe();
    if (chromaFormatIdc > 3) return false;
    if (chromaFormatIdc === 3) separateColourPlane = r.readBit();
    r.readUe(); // bit_depth_luma_minus8
    r.readUe(); // bit_depth_chroma_minus8
    r.readBit(); // qpprime_y_zero_transform_bypass_flag
    if (r.readBit() === 1) { // seq_scaling_matrix_present_flag
      const lists = chromaFormatIdc !== 3 ? 8 : 12;
      for (let i = 0; i < lists && !r.overrun; i++) {
        if (r.readBit() === 1) skipScalingList(r, i < 6 ? 16 : 64);
      }
    }
  }
  r.readUe(); // log2_max_frame_num_minus4
  const pocType = r.readUe();
  if (pocType === 0) {
    r.readUe(); // log2_max_pic_order_cnt_lsb_minus4
  } else if (pocType === 1) {
    r.readBit(); // delta_pic_order_always_zero_flag
    r.readSe(); // offset_for_non_ref_pic
    r.readSe(); // offset_for_top_to_bottom_field
    const cycle = r.readUe();
    if (cycle > 255) return false;
    for (let i = 0; i < cycle && !r.overrun; i++) r.readSe();
  } else if (pocType !== 2) {
    return false;
  }
  r.readUe(); // max_num_ref_frames
  r.readBit(); // gaps_in_frame_num_value_allowed_flag
  const widthMbs = r.readUe() + 1;
  const heightMapUnits = r.readUe() + 1;
  const frameMbsOnly = r.readBit();
  if (frameMbsOnly === 0) r.readBit(); // mb_adaptive_frame_field_flag
  r.readBit(); // direct_8x8_inference_flag
  let cropLeft = 0, cropRight = 0, cropTop = 0, cropBottom = 0;
  if (r.readBit() === 1) {
    cropLeft = r.readUe();
    cropRight = r.readUe();
    cropTop = r.readUe();
    cropBottom = r.readUe();
  }
  if (r.overrun) return false;
  // Crop units (§7.4.2.1.1, Table 6-1): ChromaArrayType 0 means luma-only units.
  const chromaArrayType = separateColourPlane === 1 ? 0 : chromaFormatIdc;
  const subWidthC = chromaArrayType === 1 || chromaArrayType === 2 ? 2 : 1;
  const subHeightC = chromaArrayType === 1 ? 2 : 1;
  const cropUnitX = chromaArrayType === 0 ? 1 : subWidthC;
  const cropUnitY = (chromaArrayType === 0 ? 1 : subHeightC) * (2 - frameMbsOnly);
  const width = widthMbs * 16 - cropUnitX * (cropLeft + cropRight);
  const height = (2 - frameMbsOnly) * heightMapUnits * 16 - cropUnitY * (cropTop + cropBottom);
  if (width <= 0 || height <= 0) return false;
  out.width = width;
  out.height = height;
  return true;
}

/** scaling_list() (§7.3.2.1.1.1): only the syntax, the values are not needed. */
function skipScalingList(r: BitReader, size: number): void {
  let last = 8;
  let next = 8;
  for (let j = 0; j < size && !r.overrun; j++) {
    if (next !== 0) next = (last + r.readSe() + 256) % 256;
    if (next !== 0) last = next;
  }
}
