/**
 * Codec dispatch for the data plane: maps an SDP rtpmap encoding name to a {@link CodecName}
 * and inspects video payloads for key frames and picture size, one file per codec.
 *
 * @module
 */

import { inspectAv1 } from "./av1.ts";
import { inspectH264 } from "./h264.ts";
import { inspectH265 } from "./h265.ts";
import { inspectVp8 } from "./vp8.ts";
import { inspectVp9 } from "./vp9.ts";

/** Codecs Quetzal forwards. */
export type CodecName = "opus" | "h264" | "vp8" | "vp9" | "av1" | "h265";

/**
 * The codec of an rtpmap encoding name (`a=rtpmap:96 VP8/90000` → "vp8"), case-insensitive;
 * undefined if Quetzal does not forward it (RTX, RED, ulpfec are not media codecs here).
 *
 * @example codecFromRtpmap("H264") // "h264"
 */
export function codecFromRtpmap(encodingName: string): CodecName | undefined {
  switch (encodingName.toLowerCase()) {
    case "opus":
      return "opus";
    case "h264":
      return "h264";
    case "vp8":
      return "vp8";
    case "vp9":
      return "vp9";
    case "av1":
    case "av1x": // pre-standard Chromium name
      return "av1";
    case "h265":
    case "hevc":
      return "h265";
    default:
      return undefined;
  }
}

/** What one RTP payload says about the frame it belongs to. Reuse one object per loop. */
export interface VideoFrameInfo {
  /**
   * This packet is where a decoder can start and a simulcast switch may land: the packet with
   * the SPS for H.264/H.265 (not the IDR, which follows the SPS/PPS), the first packet of a key
   * frame for VP8/VP9/AV1. Always true for audio, where every packet is decodable on its own.
   */
  keyframe: boolean;
  /** Picture width in pixels, 0 when this packet does not carry it. */
  width: number;
  /** Picture height in pixels, 0 when this packet does not carry it. */
  height: number;
  /**
   * This packet carries the start of an intra picture: an IDR slice (H.264), an IRAP picture
   * (H.265), or the same as `keyframe` for the other codecs. Informational: switch on `keyframe`.
   */
  idr?: boolean;
  /**
   * Temporal layer id (VP8 TID, VP9 TID) of the frame this packet belongs to; -1 when the
   * payload carries none (H.264, H.265, AV1, or no temporal layering signalled).
   */
  tid?: number;
  /**
   * A receiver can move up to this frame's temporal layer here: VP8 Y bit, VP9 U bit (set on
   * frames that reference only lower temporal layers).
   */
  layerSync?: boolean;
}

/**
 * Inspects one RTP payload `buf[off..off+len)`: sets `out.keyframe` if this packet starts a key
 * frame (see {@link VideoFrameInfo.keyframe}), and `width`/`height` when it carries them (else
 * 0). Returns false if the payload is malformed.
 *
 * @example if (inspectVideoPayload("vp8", buf, hdrLen, len - hdrLen, info) && info.keyframe) switchNow();
 */
export function inspectVideoPayload(
  codec: CodecName,
  buf: Uint8Array,
  off: number,
  len: number,
  out: VideoFrameInfo,
): boolean {
  out.tid = -1;
  out.layerSync = false;
  switch (codec) {
    case "vp8":
      return inspectVp8(buf, off, len, out);
    case "h264":
      return inspectH264(buf, off, len, out);
    case "vp9":
      return inspectVp9(buf, off, len, out);
    case "av1":
      return inspectAv1(buf, off, len, out);
    case "h265":
      return inspectH265(buf, off, len, out);
    case "opus":
      out.keyframe = true;
      out.idr = true;
      out.width = 0;
      out.height = 0;
      return len > 0;
  }
  return false;
}
