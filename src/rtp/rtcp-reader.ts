/**
 * Reads compound RTCP packets (RFC 3550 §6, RFC 4585 §6, RFC 5104 §4.3) in place.
 *
 * Hot path: {@link RtcpReader} is reused across packets, and the field readers fill caller-owned
 * objects or typed arrays. Nothing allocates and nothing throws; bad input yields `false`, `-1` or
 * a count of 0. Input is plain (already SRTCP-unprotected) RTCP.
 *
 * @module
 */

/** RTCP packet types (RFC 3550 §12.1, RFC 4585 §6.1, RFC 3611). */
export const RtcpType = {
  SR: 200,
  RR: 201,
  SDES: 202,
  BYE: 203,
  APP: 204,
  RTPFB: 205,
  PSFB: 206,
  XR: 207,
} as const;

/** Transport-layer feedback formats, the FMT field of an RTPFB packet (RFC 4585 §6.2). */
export const RtpfbFmt = { NACK: 1, TWCC: 15 } as const;

/** Payload-specific feedback formats, the FMT field of a PSFB packet (RFC 4585 §6.3, RFC 5104). */
export const PsfbFmt = { PLI: 1, FIR: 4, AFB: 15 } as const;

/**
 * Iterates the packets of a compound RTCP packet without allocating.
 *
 * @example
 * const r = new RtcpReader(); r.reset(buf, len);
 * while (r.next()) if (r.type === RtcpType.PSFB && r.fmt === PsfbFmt.PLI) onPli(r.mediaSsrc);
 */
export class RtcpReader {
  /** Packet type (PT) of the current packet. */
  type: number;
  /** The 5-bit count field: RC for SR/RR/SDES/BYE, FMT for feedback, subtype for APP. */
  fmt: number;
  /** Byte offset of the current packet's header in the buffer. */
  offset: number;
  /** Bytes of the current packet, header and any padding included. */
  length: number;
  /** First SSRC after the header (sender of SR/RR/feedback, first chunk/source of SDES/BYE), else 0. */
  senderSsrc: number;
  /** Media source SSRC of an RTPFB or PSFB packet, else 0. */
  mediaSsrc: number;
  /** True once `next()` stopped on a packet whose version or length is invalid. */
  malformed: boolean;

  #buf: Uint8Array;
  #end: number;
  #pos: number;

  constructor() {
    this.type = 0;
    this.fmt = 0;
    this.offset = 0;
    this.length = 0;
    this.senderSsrc = 0;
    this.mediaSsrc = 0;
    this.malformed = false;
    this.#buf = new Uint8Array(0);
    this.#end = 0;
    this.#pos = 0;
  }

  /** Starts iterating `buf[0..len)`. */
  reset(buf: Uint8Array, len: number): void {
    this.#buf = buf;
    this.#end = len < buf.length ? len : buf.length;
    this.#pos = 0;
    this.type = 0;
    this.fmt = 0;
    this.offset = 0;
    this.length = 0;
    this.senderSsrc = 0;
    this.mediaSsrc = 0;
    this.malformed = false;
  }

  /** Moves to the next packet; false at the end or on a malformed length (then `malformed` is true). */
  next(): boolean {
    const buf = this.#buf;
    const pos = this.#pos;
    if (this.malformed || pos >= this.#end) return false;
    if (this.#end - pos < 4 || buf[pos] >> 6 !== 2) return this.#fail();
    // The length field counts 32-bit words minus one (RFC 3550 §6.4.1).
    const length = (((buf[pos + 2] << 8) | buf[pos + 3]) + 1) * 4;
    if (pos + length > this.#end) return this.#fail();
    this.offset = pos;
    this.length = length;
    this.fmt = buf[pos] & 0x1f;
    this.type = buf[pos + 1];
    this.senderSsrc = length >= 8 ? readU32(buf, pos + 4) : 0;
    this.mediaSsrc = length >= 12 && (this.type === RtcpType.RTPFB || this.type === RtcpType.PSFB)
      ? readU32(buf, pos + 8)
      : 0;
    this.#pos = pos + length;
    return true;
  }

  #fail(): boolean {
    this.malformed = true;
    this.type = 0;
    this.fmt = 0;
    this.length = 0;
    this.senderSsrc = 0;
    this.mediaSsrc = 0;
    return false;
  }
}

/** Sender info of an SR (RFC 3550 §6.4.1). */
export interface SenderReportInfo {
  ssrc: number;
  /** NTP seconds since 1900 (most significant word). */
  ntpSec: number;
  /** NTP fraction of a second, in 1/2^32 s. */
  ntpFrac: number;
  rtpTimestamp: number;
  packetCount: number;
  octetCount: number;
}

/** Reads the SSRC and sender info of the SR at `off` (which must be at least 28 bytes long). */
export function readSenderReport(buf: Uint8Array, off: number, out: SenderReportInfo): void {
  out.ssrc = readU32(buf, off + 4);
  out.ntpSec = readU32(buf, off + 8);
  out.ntpFrac = readU32(buf, off + 12);
  out.rtpTimestamp = readU32(buf, off + 16);
  out.packetCount = readU32(buf, off + 20);
  out.octetCount = readU32(buf, off + 24);
}

/** One reception report block (RFC 3550 §6.4.1). */
export interface ReportBlock {
  /** SSRC of the source this block reports on. */
  ssrc: number;
  /** Fraction lost since the previous report, in 1/256 (0..255). */
  fractionLost: number;
  /** Cumulative packets lost, signed 24-bit (duplicates can make it negative). */
  cumulativeLost: number;
  /** Cycles in the upper 16 bits, highest sequence number in the lower 16. */
  extendedHighestSeq: number;
  /** Interarrival jitter in timestamp units. */
  jitter: number;
  /** Middle 32 bits of the NTP timestamp of the last SR received, 0 if none. */
  lastSr: number;
  /** Delay since that SR in 1/65536 s, 0 if none. */
  delaySinceLastSr: number;
}

/** Reads report block `i` (0-based) of the SR or RR at `off` into `out`; false if out of range. */
export function readReportBlock(
  buf: Uint8Array,
  off: number,
  len: number,
  i: number,
  out: ReportBlock,
): boolean {
  const type = buf[off + 1];
  let base: number;
  if (type === RtcpType.SR) base = off + 28;
  else if (type === RtcpType.RR) base = off + 8;
  else return false;
  if (i < 0 || i >= (buf[off] & 0x1f)) return false;
  const p = base + i * 24;
  if (p + 24 > off + len) return false;
  out.ssrc = readU32(buf, p);
  out.fractionLost = buf[p + 4];
  // Signed 24-bit: shift into the top of an int32 and back.
  out.cumulativeLost = (((buf[p + 5] << 16) | (buf[p + 6] << 8) | buf[p + 7]) << 8) >> 8;
  out.extendedHighestSeq = readU32(buf, p + 8);
  out.jitter = readU32(buf, p + 12);
  out.lastSr = readU32(buf, p + 16);
  out.delaySinceLastSr = readU32(buf, p + 20);
  return true;
}

/**
 * Fills `out` with the sequence numbers a Generic NACK (RFC 4585 §6.2.1) asks for, in packet
 * order; returns the count (capped at `out.length`).
 */
export function readNack(buf: Uint8Array, off: number, len: number, out: Uint16Array): number {
  const end = off + payloadLength(buf, off, len);
  let n = 0;
  for (let p = off + 12; p + 4 <= end; p += 4) {
    const pid = (buf[p] << 8) | buf[p + 1];
    const blp = (buf[p + 2] << 8) | buf[p + 3];
    if (n >= out.length) return n;
    out[n++] = pid;
    // Bit i of the BLP marks PID + i + 1 as lost as well.
    for (let bit = 0; bit < 16; bit++) {
      if ((blp & (1 << bit)) === 0) continue;
      if (n >= out.length) return n;
      out[n++] = (pid + bit + 1) & 0xffff;
    }
  }
  return n;
}

/**
 * Bitrate of a REMB feedback (draft-alvestrand-rmcat-remb §2.2) in bit/s, or -1 if this
 * application-layer feedback is not a well-formed REMB.
 */
export function readRemb(buf: Uint8Array, off: number, len: number): number {
  if (len < 20) return -1;
  // Unique identifier "REMB".
  if (
    buf[off + 12] !== 0x52 || buf[off + 13] !== 0x45 || buf[off + 14] !== 0x4d ||
    buf[off + 15] !== 0x42
  ) return -1;
  const exp = buf[off + 17] >> 2;
  const mantissa = ((buf[off + 17] & 0x03) << 16) | (buf[off + 18] << 8) | buf[off + 19];
  return mantissa * 2 ** exp;
}

/** Number of SSRCs a REMB applies to, capped by the packet's length; 0 if not REMB. */
export function readRembSsrcs(buf: Uint8Array, off: number, len: number, out: Uint32Array): number {
  if (readRemb(buf, off, len) < 0) return 0;
  const listed = buf[off + 16];
  let n = 0;
  for (let p = off + 20; n < listed && n < out.length && p + 4 <= off + len; p += 4) {
    out[n++] = readU32(buf, p);
  }
  return n;
}

/** Fills `out` with the target SSRCs of a FIR's entries (RFC 5104 §4.3.1); returns the count. */
export function readFirSsrcs(buf: Uint8Array, off: number, len: number, out: Uint32Array): number {
  const end = off + payloadLength(buf, off, len);
  let n = 0;
  for (let p = off + 12; p + 8 <= end && n < out.length; p += 8) out[n++] = readU32(buf, p);
  return n;
}

/**
 * Sequence number of the FIR entry for `ssrc` (RFC 5104 §4.3.1.1), or -1 if the FIR has none.
 * A receiver must not act twice on the same (SSRC, sequence number).
 */
export function readFirSeqNr(buf: Uint8Array, off: number, len: number, ssrc: number): number {
  const end = off + payloadLength(buf, off, len);
  for (let p = off + 12; p + 8 <= end; p += 8) {
    if (readU32(buf, p) === ssrc >>> 0) return buf[p + 4];
  }
  return -1;
}

/** Big-endian unsigned 32-bit read. */
function readU32(buf: Uint8Array, p: number): number {
  return ((buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]) >>> 0;
}

/** Length without trailing padding: with the P bit set, the last octet counts padding (RFC 3550 §6.4.1). */
function payloadLength(buf: Uint8Array, off: number, len: number): number {
  if ((buf[off] & 0x20) === 0 || len < 4) return len;
  const pad = buf[off + len - 1];
  return pad <= len - 4 ? len - pad : len;
}
