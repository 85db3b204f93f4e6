/**
 * VP9 over RTP (RFC 9628, formerly draft-ietf-payload-vp9): the payload descriptor (§4.2) and
 * scalability structure (§4.2.1), key-frame detection and the picture size the SS announces.
 *
 * Hot path: a few byte reads; results go into caller-owned objects.
 *
 * @module
 */

import type { VideoFrameInfo } from "./codec.ts";

/** A parsed VP9 payload descriptor; offsets are absolute, -1 when absent. Reuse one instance. */
export class Vp9Descriptor {
  /** PictureID, -1 if absent. */
  pictureId = -1;
  /** 7, 15 or 0. */
  pictureIdBits = 0;
  /** Offset of the PictureID's first byte (with the M bit). */
  pictureIdOffset = -1;
  /** P: inter-picture predicted (depends on an earlier picture). */
  interPicture = false;
  /** F: flexible mode. */
  flexible = false;
  /** B: first packet of a layer frame. */
  startOfFrame = false;
  /** E: last packet of a layer frame. */
  endOfFrame = false;
  /** Temporal layer (TID), -1 without layer indices. */
  tid = -1;
  /** U: switching up point. */
  switchingUp = false;
  /** Spatial layer (SID), -1 without layer indices. */
  sid = -1;
  /** D: depends on the lower spatial layer of the same picture. */
  interLayer = false;
  /** TL0PICIDX (non-flexible mode), -1 if absent. */
  tl0PicIdx = -1;
  /** Offset of the TL0PICIDX byte. */
  tl0PicIdxOffset = -1;
  /** Number of spatial layers in the scalability structure, 0 if there is none (V=0). */
  ssLayers = 0;
  /** Width and height of the SS's top spatial layer, 0 if the SS has no sizes (Y=0). */
  ssWidth = 0;
  ssHeight = 0;
  /** Descriptor bytes; the VP9 payload starts at `off + headerLength`. */
  headerLength = 0;
}

/** Parses the VP9 payload descriptor at `buf[off..off+len)`; false if truncated. */
export function readVp9Descriptor(
  buf: Uint8Array,
  off: number,
  len: number,
  out: Vp9Descriptor,
): boolean {
  out.pictureId = -1;
  out.pictureIdBits = 0;
  out.pictureIdOffset = -1;
  out.tid = -1;
  out.switchingUp = false;
  out.sid = -1;
  out.interLayer = false;
  out.tl0PicIdx = -1;
  out.tl0PicIdxOffset = -1;
  out.ssLayers = 0;
  out.ssWidth = 0;
  out.ssHeight = 0;
  out.headerLength = 0;
  if (len < 1) return false;
  const end = off + len;
  const b0 = buf[off];
  out.interPicture = (b0 & 0x40) !== 0;
  out.flexible = (b0 & 0x10) !== 0;
  out.startOfFrame = (b0 & 0x08) !== 0;
  out.endOfFrame = (b0 & 0x04) !== 0;
  let p = off + 1;
  if ((b0 & 0x80) !== 0) { // I
    if (p >= end) return false;
    out.pictureIdOffset = p;
    if ((buf[p] & 0x80) !== 0) {
      if (p + 1 >= end) return false;
      out.pictureId = ((buf[p] & 0x7f) << 8) | buf[p + 1];
      out.pictureIdBits = 15;
      p += 2;
    } else {
      out.pictureId = buf[p++] & 0x7f;
      out.pictureIdBits = 7;
    }
  }
  if ((b0 & 0x20) !== 0) { // L: TID U SID D, then TL0PICIDX in non-flexible mode
    if (p >= end) return false;
    const l = buf[p++];
    out.tid = l >> 5;
    out.switchingUp = (l & 0x10) !== 0;
    out.sid = (l >> 1) & 0x07;
    out.interLayer = (l & 0x01) !== 0;
    if (!out.flexible) {
      if (p >= end) return false;
      out.tl0PicIdxOffset = p;
      out.tl0PicIdx = buf[p++];
    }
  }
  if (out.flexible && out.interPicture) { // up to 3 P_DIFF bytes, N bit chains them
    for (let i = 0; i < 3; i++) {
      if (p >= end) return false;
      if ((buf[p++] & 0x01) === 0) break;
    }
  }
  if ((b0 & 0x02) !== 0) { // V: scalability structure
    if (p >= end) return false;
    const ss = buf[p++];
    const layers = (ss >> 5) + 1;
    out.ssLayers = layers;
    if ((ss & 0x10) !== 0) { // Y: sizes per spatial layer, the last is the largest
      if (p + 4 * layers > end) return false;
      const last = p + 4 * (layers - 1);
      out.ssWidth = (buf[last] << 8) | buf[last + 1];
      out.ssHeight = (buf[last + 2] << 8) | buf[last + 3];
      p += 4 * layers;
    }
    if ((ss & 0x08) !== 0) { // G: picture group description
      if (p >= end) return false;
      const groups = buf[p++];
      for (let i = 0; i < groups; i++) {
        if (p >= end) return false;
        p += 1 + ((buf[p] >> 2) & 0x03);
      }
      if (p > end) return false;
    }
  }
  out.headerLength = p - off;
  return true;
}

const scratch = new Vp9Descriptor();

/**
 * Inspects one VP9 RTP payload: a key frame starts where B=1 and P=0 and the layer frame does not
 * depend on a lower spatial layer (D=0); size from the scalability structure when present.
 * False if malformed.
 */
export function inspectVp9(
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
  if (!readVp9Descriptor(buf, off, len, d)) return false;
  out.tid = d.tid;
  out.layerSync = d.switchingUp;
  if (d.startOfFrame && !d.interPicture && !d.interLayer) {
    out.keyframe = true;
    out.idr = true;
  }
  out.width = d.ssWidth;
  out.height = d.ssHeight;
  return true;
}
