/**
 * Writes RTCP packets (RFC 3550 §6.4–6.6, RFC 4585 §6, RFC 5104 §4.3.1, REMB) into a caller's
 * buffer. Each function returns the bytes written at `dst[off..]`, or 0 if they do not fit (then
 * nothing meaningful was written). Packets can be concatenated into a compound packet.
 *
 * Hot path: no allocation except in {@link writeSdesCname}, which encodes a string (once per
 * report interval, not per packet).
 *
 * @module
 */

import type { ReportBlock } from "./rtcp-reader.ts";
import { ntpFracFromUnixMs, ntpSecFromUnixMs } from "./ntp-time.ts";
import { seqDiff } from "./seq.ts";

/** Writes the 4-byte common header: V=2, no padding, count/FMT, PT and length in words − 1. */
function writeHeader(dst: Uint8Array, off: number, count: number, type: number, bytes: number) {
  const words = (bytes >> 2) - 1;
  dst[off] = 0x80 | (count & 0x1f);
  dst[off + 1] = type;
  dst[off + 2] = words >> 8;
  dst[off + 3] = words & 0xff;
}

function writeU32(dst: Uint8Array, p: number, v: number) {
  dst[p] = v >>> 24;
  dst[p + 1] = v >>> 16;
  dst[p + 2] = v >>> 8;
  dst[p + 3] = v;
}

/**
 * Picture Loss Indication (RFC 4585 §6.3.1): 12 bytes.
 *
 * @example const n = writePli(buf, 0, mySsrc, publisherVideoSsrc);
 */
export function writePli(
  dst: Uint8Array,
  off: number,
  senderSsrc: number,
  mediaSsrc: number,
): number {
  if (off + 12 > dst.length) return 0;
  writeHeader(dst, off, 1, 206, 12);
  writeU32(dst, off + 4, senderSsrc);
  writeU32(dst, off + 8, mediaSsrc);
  return 12;
}

/**
 * Full Intra Request with one entry (RFC 5104 §4.3.1): 20 bytes. `mediaSsrc` goes in the FCI
 * entry; the header's media-source field is 0 as §4.3.1.2 requires. `seqNr` (8-bit) must grow by
 * one per new request to the same SSRC, and stay the same for repeats of one request.
 *
 * @example const n = writeFir(buf, 0, mySsrc, publisherVideoSsrc, firSeq++ & 0xff);
 */
export function writeFir(
  dst: Uint8Array,
  off: number,
  senderSsrc: number,
  mediaSsrc: number,
  seqNr: number,
): number {
  if (off + 20 > dst.length) return 0;
  writeHeader(dst, off, 4, 206, 20);
  writeU32(dst, off + 4, senderSsrc);
  writeU32(dst, off + 8, 0);
  writeU32(dst, off + 12, mediaSsrc);
  dst[off + 16] = seqNr;
  dst[off + 17] = 0;
  dst[off + 18] = 0;
  dst[off + 19] = 0;
  return 20;
}

/**
 * Generic NACK (RFC 4585 §6.2.1) for `seqs[0..count)`, which should be in ascending (wrap-aware)
 * order, as {@link NackGenerator.collect} yields them. Each PID+BLP pair covers a PID and the 16
 * numbers after it; duplicates are skipped. Pairs that do not fit in `dst` are left out; returns 0
 * if `count` is 0 or not even one pair fits.
 *
 * @example const n = writeNack(buf, 0, mySsrc, publisherSsrc, missing, missingCount);
 */
export function writeNack(
  dst: Uint8Array,
  off: number,
  senderSsrc: number,
  mediaSsrc: number,
  seqs: ArrayLike<number>,
  count: number,
): number {
  if (count <= 0 || off + 16 > dst.length) return 0;
  let p = off + 12;
  let i = 0;
  while (i < count && p + 4 <= dst.length && p - off < 0x40000) {
    const pid = seqs[i] & 0xffff;
    let blp = 0;
    i++;
    while (i < count) {
      const d = seqDiff(seqs[i], pid);
      if (d < 0 || d > 16) break;
      if (d > 0) blp |= 1 << (d - 1);
      i++;
    }
    dst[p] = pid >> 8;
    dst[p + 1] = pid & 0xff;
    dst[p + 2] = blp >> 8;
    dst[p + 3] = blp & 0xff;
    p += 4;
  }
  const bytes = p - off;
  writeHeader(dst, off, 1, 205, bytes);
  writeU32(dst, off + 4, senderSsrc);
  writeU32(dst, off + 8, mediaSsrc);
  return bytes;
}

/**
 * Sender Report without report blocks (RFC 3550 §6.4.1): 28 bytes. The NTP timestamp is taken
 * from `wallClockMs` (Unix ms); `rtpTimestamp` must be the RTP time of that same instant.
 *
 * @example writeSenderReport(buf, 0, ssrc, Date.now(), rtpNow, packetsSent, octetsSent)
 */
export function writeSenderReport(
  dst: Uint8Array,
  off: number,
  ssrc: number,
  wallClockMs: number,
  rtpTimestamp: number,
  packetCount: number,
  octetCount: number,
): number {
  if (off + 28 > dst.length) return 0;
  writeHeader(dst, off, 0, 200, 28);
  writeU32(dst, off + 4, ssrc);
  writeU32(dst, off + 8, ntpSecFromUnixMs(wallClockMs));
  writeU32(dst, off + 12, ntpFracFromUnixMs(wallClockMs));
  writeU32(dst, off + 16, rtpTimestamp);
  writeU32(dst, off + 20, packetCount);
  writeU32(dst, off + 24, octetCount);
  return 28;
}

/**
 * Receiver Report (RFC 3550 §6.4.2) with `blocks[0..count)`, at most 31: 8 + 24·count bytes.
 *
 * @example writeReceiverReport(buf, 0, mySsrc, [block], 1)
 */
export function writeReceiverReport(
  dst: Uint8Array,
  off: number,
  senderSsrc: number,
  blocks: ArrayLike<ReportBlock>,
  count: number,
): number {
  if (count < 0 || count > 31 || count > blocks.length) return 0;
  const bytes = 8 + 24 * count;
  if (off + bytes > dst.length) return 0;
  writeHeader(dst, off, count, 201, bytes);
  writeU32(dst, off + 4, senderSsrc);
  for (let i = 0; i < count; i++) writeBlock(dst, off + 8 + 24 * i, blocks[i]);
  return bytes;
}

function writeBlock(dst: Uint8Array, p: number, b: ReportBlock) {
  writeU32(dst, p, b.ssrc);
  let lost = b.cumulativeLost;
  // Clamp to the signed 24-bit field (RFC 3550 §6.4.1).
  if (lost > 0x7fffff) lost = 0x7fffff;
  else if (lost < -0x800000) lost = -0x800000;
  dst[p + 4] = b.fractionLost;
  dst[p + 5] = (lost >> 16) & 0xff;
  dst[p + 6] = (lost >> 8) & 0xff;
  dst[p + 7] = lost & 0xff;
  writeU32(dst, p + 8, b.extendedHighestSeq);
  writeU32(dst, p + 12, b.jitter);
  writeU32(dst, p + 16, b.lastSr);
  writeU32(dst, p + 20, b.delaySinceLastSr);
}

const textEncoder = new TextEncoder();

/**
 * SDES with one chunk holding a CNAME item (RFC 3550 §6.5.1), null-terminated and padded to
 * 32 bits. The CNAME is UTF-8, truncated at 255 bytes.
 *
 * @example writeSdesCname(buf, n, ssrc, "quetzal")
 */
export function writeSdesCname(dst: Uint8Array, off: number, ssrc: number, cname: string): number {
  if (off + 12 > dst.length) return 0;
  const room = dst.length - (off + 10);
  const text = dst.subarray(off + 10, off + 10 + (room < 255 ? room : 255));
  const n = textEncoder.encodeInto(cname, text).written;
  // Header, SSRC, type, length, text, then at least one null octet ending the item list (§6.5).
  const bytes = (10 + n + 1 + 3) & ~3;
  if (off + bytes > dst.length) return 0;
  writeHeader(dst, off, 1, 202, bytes);
  writeU32(dst, off + 4, ssrc);
  dst[off + 8] = 1; // CNAME
  dst[off + 9] = n;
  dst.fill(0, off + 10 + n, off + bytes);
  return bytes;
}

/**
 * Receiver Estimated Maximum Bitrate (draft-alvestrand-rmcat-remb §2.2) for `ssrcs`: 20 + 4·n
 * bytes. The bitrate is rounded down to an 18-bit mantissa and 6-bit exponent.
 *
 * @example writeRemb(buf, 0, mySsrc, 1_500_000, [videoSsrc])
 */
export function writeRemb(
  dst: Uint8Array,
  off: number,
  senderSsrc: number,
  bitrateBps: number,
  ssrcs: ArrayLike<number>,
): number {
  const count = ssrcs.length > 255 ? 255 : ssrcs.length;
  const bytes = 20 + 4 * count;
  if (off + bytes > dst.length) return 0;
  let mantissa = bitrateBps > 0 ? Math.floor(bitrateBps) : 0;
  let exp = 0;
  while (mantissa > 0x3ffff && exp < 63) {
    mantissa = Math.floor(mantissa / 2);
    exp++;
  }
  if (mantissa > 0x3ffff) mantissa = 0x3ffff;
  writeHeader(dst, off, 15, 206, bytes);
  writeU32(dst, off + 4, senderSsrc);
  writeU32(dst, off + 8, 0); // media source unused (§2.2)
  dst[off + 12] = 0x52; // "REMB"
  dst[off + 13] = 0x45;
  dst[off + 14] = 0x4d;
  dst[off + 15] = 0x42;
  dst[off + 16] = count;
  dst[off + 17] = (exp << 2) | (mantissa >> 16);
  dst[off + 18] = (mantissa >> 8) & 0xff;
  dst[off + 19] = mantissa & 0xff;
  for (let i = 0; i < count; i++) writeU32(dst, off + 20 + 4 * i, ssrcs[i]);
  return bytes;
}

/**
 * BYE for one SSRC without a reason (RFC 3550 §6.6): 8 bytes.
 *
 * @example writeBye(buf, 0, ssrc)
 */
export function writeBye(dst: Uint8Array, off: number, ssrc: number): number {
  if (off + 8 > dst.length) return 0;
  writeHeader(dst, off, 1, 203, 8);
  writeU32(dst, off + 4, ssrc);
  return 8;
}
