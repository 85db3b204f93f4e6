/**
 * VP8 over RTP (RFC 7741): the payload descriptor (§4.2), with the offsets a munger needs to
 * rewrite PictureID, TL0PICIDX and KEYIDX in place, and key-frame detection with the picture
 * size from the key-frame header (RFC 6386 §9.1).
 *
 * Hot path: a few byte reads; results go into a caller-owned {@link Vp8Descriptor}.
 *
 * @module
 */

import type { VideoFrameInfo } from "./codec.ts";

/**
 * A parsed VP8 payload descriptor. Offsets are absolute indexes into the buffer given to
 * {@link readVp8Descriptor}, -1 when the field is absent. Reuse one instance.
 */
export class Vp8Descriptor {
  /** PictureID (7 or 15 bits), -1 if absent. */
  pictureId = -1;
  /** 7, 15, or 0 if there is no PictureID (the M bit picks 15). */
  pictureIdBits = 0;
  /** Offset of the PictureID's first byte (the one holding the M bit). */
  pictureIdOffset = -1;
  /** TL0PICIDX (8 bits), -1 if absent. */
  tl0PicIdx = -1;
  /** Offset of the TL0PICIDX byte. */
  tl0PicIdxOffset = -1;
  /** Temporal layer index (TID, 2 bits), -1 if absent (no T bit). */
  tid = -1;
  /** Y bit: this frame depends only on TL0 frames, so a receiver can move up here. */
  layerSync = false;
  /** KEYIDX (5 bits), -1 if absent (no K bit). */
  keyIdx = -1;
  /** Offset of the byte holding TID, Y and KEYIDX (present if the T or K bit is set). */
  tidKeyIdxOffset = -1;
  /** S bit: this packet starts a VP8 partition. */
  startOfPartition = false;
  /** PID: the partition index (0..7). */
  partitionIndex = 0;
  /** N bit: the frame can be discarded without affecting others. */
  nonReference = false;
  /** Descriptor bytes; the VP8 payload starts at `off + headerLength`. */
  headerLength = 0;
}

/**
 * Parses the VP8 payload descriptor at `buf[off..off+len)` into `out`. False if it is truncated
 * (then `out` is partly filled and must not be used).
 *
 * @example if (readVp8Descriptor(buf, payloadOff, payloadLen, desc)) picId = desc.pictureId;
 */
export function readVp8Descriptor(
  buf: Uint8Array,
  off: number,
  len: number,
  out: Vp8Descriptor,
): boolean {
  out.pictureId = -1;
  out.pictureIdBits = 0;
  out.pictureIdOffset = -1;
  out.tl0PicIdx = -1;
  out.tl0PicIdxOffset = -1;
  out.tid = -1;
  out.layerSync = false;
  out.keyIdx = -1;
  out.tidKeyIdxOffset = -1;
  out.headerLength = 0;
  if (len < 1) return false;
  const end = off + len;
  const b0 = buf[off];
  out.nonReference = (b0 & 0x20) !== 0;
  out.startOfPartition = (b0 & 0x10) !== 0;
  out.partitionIndex = b0 & 0x07;
  let p = off + 1;
  if ((b0 & 0x80) !== 0) { // X: extension byte I L T K
    if (p >= end) return false;
    const x = buf[p++];
    if ((x & 0x80) !== 0) { // I: PictureID
      if (p >= end) return false;
      out.pictureIdOffset = p;
      if ((buf[p] & 0x80) !== 0) { // M: 15-bit
        if (p + 1 >= end) return false;
        out.pictureId = ((buf[p] & 0x7f) << 8) | buf[p + 1];
        out.pictureIdBits = 15;
        p += 2;
      } else {
        out.pictureId = buf[p] & 0x7f;
        out.pictureIdBits = 7;
        p += 1;
      }
    }
    if ((x & 0x40) !== 0) { // L: TL0PICIDX
      if (p >= end) return false;
      out.tl0PicIdxOffset = p;
      out.tl0PicIdx = buf[p++];
    }
    if ((x & 0x30) !== 0) { // T or K: TID|Y|KEYIDX
      if (p >= end) return false;
      out.tidKeyIdxOffset = p;
      const t = buf[p++];
      if ((x & 0x20) !== 0) {
        out.tid = t >> 6;
        out.layerSync = (t & 0x20) !== 0;
      }
      if ((x & 0x10) !== 0) out.keyIdx = t & 0x1f;
    }
  }
  out.headerLength = p - off;
  return true;
}

const scratch = new Vp8Descriptor();

/**
 * Inspects one VP8 RTP payload: a key frame starts where S=1, PID=0 and the P bit (bit 0 of the
 * first VP8 payload byte) is 0 (RFC 7741 §4.3, RFC 6386 §9.1); the 14-bit width and height follow
 * the start code `9d 01 2a`. False if malformed.
 */
export function inspectVp8(
  buf: Uint8Array,
  off: number,
  len: number,
  out: VideoFrameInfo,
): boolean {
  out.keyframe = false;
  out.idr = false;
  out.width = 0;
  out.height = 0;
  out.tid = -1;
  out.layerSync = false;
  const d = scratch;
  if (!readVp8Descriptor(buf, off, len, d)) return false;
  out.tid = d.tid;
  out.layerSync = d.layerSync;
  if (!d.startOfPartition || d.partitionIndex !== 0) return true;
  const p = off + d.headerLength;
  const n = len - d.headerLength;
  if (n < 1) return false; // an empty first partition
  if ((buf[p] & 0x01) !== 0) return true; // inter frame
  // A key frame's 10-byte header: 3-byte frame tag, start code, two 16-bit LE sizes with scale.
  if (n < 10 || buf[p + 3] !== 0x9d || buf[p + 4] !== 0x01 || buf[p + 5] !== 0x2a) return false;
  out.keyframe = true;
  out.idr = true;
  out.width = (buf[p + 6] | (buf[p + 7] << 8)) & 0x3fff;
  out.height = (buf[p + 8] | (buf[p + 9] << 8)) & 0x3fff;
  return true;
}
