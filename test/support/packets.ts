/**
 * Synthetic RTP packets for unit tests (LiveKit's testutils idea): a params object in, the
 * wire bytes out, with one-byte header extensions.
 */
export interface PacketParams {
  payloadType?: number;
  seq: number;
  ts: number;
  ssrc: number;
  marker?: boolean;
  /** [id, bytes] header extension elements (one-byte form). */
  extensions?: [number, Uint8Array][];
  payload?: Uint8Array;
  csrcs?: number[];
  padding?: number;
}

export function buildPacket(p: PacketParams): Uint8Array {
  const csrcs = p.csrcs ?? [];
  const ext = p.extensions ?? [];
  let extBytes = 0;
  for (const [, data] of ext) extBytes += 1 + data.length;
  const extBlock = ext.length > 0 ? 4 + Math.ceil(extBytes / 4) * 4 : 0;
  const payload = p.payload ?? new Uint8Array(100).fill(0xab);
  const padding = p.padding ?? 0;
  const out = new Uint8Array(12 + csrcs.length * 4 + extBlock + payload.length + padding);
  out[0] = 0x80 | (padding ? 0x20 : 0) | (ext.length ? 0x10 : 0) | csrcs.length;
  out[1] = (p.marker ? 0x80 : 0) | (p.payloadType ?? 96);
  const view = new DataView(out.buffer);
  view.setUint16(2, p.seq & 0xffff);
  view.setUint32(4, p.ts >>> 0);
  view.setUint32(8, p.ssrc >>> 0);
  let off = 12;
  for (const c of csrcs) {
    view.setUint32(off, c);
    off += 4;
  }
  if (ext.length) {
    view.setUint16(off, 0xbede);
    view.setUint16(off + 2, (extBlock - 4) / 4);
    let e = off + 4;
    for (const [id, data] of ext) {
      out[e++] = (id << 4) | (data.length - 1);
      out.set(data, e);
      e += data.length;
    }
    off += extBlock;
  }
  out.set(payload, off);
  off += payload.length;
  if (padding) out[out.length - 1] = padding;
  return out;
}

/** A VP8 payload: key frames carry a 640×480 frame header. */
export function vp8(keyframe: boolean, size = 200): Uint8Array {
  const out = new Uint8Array(size);
  out[0] = 0x10;
  if (keyframe) {
    out.set([0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01], 1);
  } else {
    out[1] = 0x01;
  }
  return out;
}

export const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Fields of a VP8 payload descriptor with PictureID, TL0PICIDX and TID (RFC 7741 §4.2). */
export interface Vp8Layered {
  /** 15-bit PictureID. */
  pid: number;
  tl0: number;
  tid: number;
  /** Y bit. */
  sync: boolean;
  key: boolean;
  /** First packet of the picture (S bit, and the frame header). */
  start: boolean;
  size?: number;
}

/** A VP8 payload with X, I (M=1), L and T set; key frames carry a 640×480 frame header. */
export function vp8Layered(d: Vp8Layered): Uint8Array {
  const out = new Uint8Array(d.size ?? 200);
  out[0] = 0x80 | (d.start ? 0x10 : 0);
  out[1] = 0xe0; // I, L, T
  out[2] = 0x80 | ((d.pid >> 8) & 0x7f);
  out[3] = d.pid & 0xff;
  out[4] = d.tl0 & 0xff;
  out[5] = (d.tid << 6) | (d.sync ? 0x20 : 0);
  if (d.start) {
    if (d.key) out.set([0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01], 6);
    else out[6] = 0x01;
  }
  return out;
}

/** A VP9 payload (non-flexible, RFC 9628 §4.2) with I (M=1) and L; key frames start with B. */
export function vp9Layered(
  d: { pid: number; tl0: number; tid: number; sync: boolean; key: boolean; start: boolean },
): Uint8Array {
  const out = new Uint8Array(200);
  out[0] = 0x80 | (d.key ? 0 : 0x40) | 0x20 | (d.start ? 0x08 : 0) | 0x04;
  out[1] = 0x80 | ((d.pid >> 8) & 0x7f);
  out[2] = d.pid & 0xff;
  out[3] = (d.tid << 5) | (d.sync ? 0x10 : 0);
  out[4] = d.tl0 & 0xff;
  return out;
}
