/**
 * What a werift viewer received from a real encoder, judged independently of Quetzal's own
 * codec parsers: key frames by their RTP payload (RFC 7741 for VP8, RFC 6184 for H264),
 * frames by marker bit, and audio packets.
 */
import type { Viewer } from "../support/werift-client.ts";

export type VideoCodec = "vp8" | "h264";

export interface ReceivedMedia {
  videoPackets: number;
  /** Packets with the marker bit: the last packet of each video frame. */
  videoFrames: number;
  /** RTP timestamps of frames that start a key frame. */
  keyframeTimestamps: Set<number>;
  videoSsrcs: Set<number>;
  videoPayloadTypes: Set<number>;
  audioPackets: number;
  audioPayloadTypes: Set<number>;
}

/** Subscribes to the viewer's tracks (werift has created them by the time `play` returns). */
export function watchMedia(viewer: Viewer, codec: VideoCodec): ReceivedMedia {
  const media: ReceivedMedia = {
    videoPackets: 0,
    videoFrames: 0,
    keyframeTimestamps: new Set(),
    videoSsrcs: new Set(),
    videoPayloadTypes: new Set(),
    audioPackets: 0,
    audioPayloadTypes: new Set(),
  };
  for (const transceiver of viewer.pc.getTransceivers()) {
    for (const track of transceiver.receiver.tracks) {
      track.onReceiveRtp.subscribe((rtp) => {
        const payload = new Uint8Array(rtp.payload);
        if (track.kind === "video") {
          media.videoPackets++;
          if (rtp.header.marker) media.videoFrames++;
          media.videoSsrcs.add(rtp.header.ssrc);
          media.videoPayloadTypes.add(rtp.header.payloadType);
          const key = codec === "vp8" ? isVp8KeyframeStart(payload) : isH264Idr(payload);
          if (key) media.keyframeTimestamps.add(rtp.header.timestamp);
        } else {
          media.audioPackets++;
          media.audioPayloadTypes.add(rtp.header.payloadType);
        }
      });
    }
  }
  return media;
}

/**
 * RFC 7741 §4.2–4.3: the first packet of a VP8 key frame has S=1, PID=0, and after the
 * descriptor's optional X/I/L/T/K bytes a payload header whose P bit (inverse key frame) is 0.
 */
export function isVp8KeyframeStart(p: Uint8Array): boolean {
  if (p.length < 1) return false;
  const x = (p[0] & 0x80) !== 0;
  const start = (p[0] & 0x10) !== 0;
  const partition = p[0] & 0x07;
  let off = 1;
  if (x) {
    if (p.length < 2) return false;
    const ext = p[1];
    off = 2;
    if (ext & 0x80) off += (p[off] & 0x80) ? 2 : 1; // PictureID, 7 or 15 bits
    if (ext & 0x40) off += 1; // TL0PICIDX
    if (ext & 0x30) off += 1; // TID/Y/KEYIDX
  }
  return start && partition === 0 && off < p.length && (p[off] & 0x01) === 0;
}

/** RFC 6184 §5.6–5.8: an IDR slice (type 5) alone, inside a STAP-A, or starting an FU-A. */
export function isH264Idr(p: Uint8Array): boolean {
  if (p.length < 2) return false;
  const type = p[0] & 0x1f;
  if (type === 5) return true;
  if (type === 28) return (p[1] & 0x80) !== 0 && (p[1] & 0x1f) === 5;
  if (type === 24) {
    for (let off = 1; off + 2 < p.length;) {
      const size = (p[off] << 8) | p[off + 1];
      if ((p[off + 2] & 0x1f) === 5) return true;
      off += 2 + size;
    }
  }
  return false;
}
