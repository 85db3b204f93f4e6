/**
 * Parses transport-wide CC feedback (RTPFB PT 205, FMT 15) from viewers into a caller-owned
 * {@link TwccFeedback}, for the per-viewer bandwidth estimator.
 *
 * Format: draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1. No allocation per call:
 * the output's typed arrays are sized once. Malformed input returns a negative code.
 *
 * @module
 */

import { RTPFB_PT, TWCC_DELTA_US, TWCC_FMT, TWCC_REFERENCE_US, TwccStatus } from "./twcc-writer.ts";

/** Result codes of {@link readTwccFeedback} (negative = not parsed). */
export const TwccReadError = {
  /** Shorter than the fixed part, or the length field exceeds `len`. */
  truncated: -1,
  /** Not RTPFB FMT 15, or version ≠ 2. */
  notTwcc: -2,
  /** Chunks or deltas run past the end of the packet. */
  malformed: -3,
} as const;

/**
 * One parsed feedback packet. Entry `i` describes sequence `(baseSeq + i) & 0xffff`.
 * Reuse one instance per viewer.
 */
export class TwccFeedback {
  senderSsrc = 0;
  mediaSsrc = 0;
  baseSeq = 0;
  /** Status count announced by the packet. */
  statusCount = 0;
  /** Entries filled: min(statusCount, capacity). */
  count = 0;
  /** Reference time in 64 ms units (24 bits, wraps). */
  referenceTime64ms = 0;
  /** Feedback packet count (8 bits, wraps). */
  feedbackCount = 0;
  /** {@link TwccStatus} per entry. */
  readonly status: Uint8Array;
  /** Receive delta in µs (0 when not received). */
  readonly deltaUs: Int32Array;
  /**
   * Arrival time in µs on the receiver's clock: reference time + cumulative deltas. Only
   * differences between arrivals are meaningful.
   */
  readonly arrivalUs: Float64Array;

  /** @param capacity most entries kept per packet (the rest are skipped). */
  constructor(capacity = 4096) {
    this.status = new Uint8Array(capacity);
    this.deltaUs = new Int32Array(capacity);
    this.arrivalUs = new Float64Array(capacity);
  }

  /** Whether entry `i` was received. */
  received(i: number): boolean {
    return this.status[i] !== TwccStatus.notReceived;
  }
}

/**
 * Parses one RTCP packet starting at `off` (its RTCP header) of at most `len` bytes.
 *
 * @returns entries filled (`out.count`), or a {@link TwccReadError} code.
 * @example const n = readTwccFeedback(buf, off, len, feedback);
 */
export function readTwccFeedback(
  buf: Uint8Array,
  off: number,
  len: number,
  out: TwccFeedback,
): number {
  if (len < 20 || off + len > buf.length) return TwccReadError.truncated;
  const b0 = buf[off];
  if ((b0 >>> 6) !== 2 || (b0 & 0x1f) !== TWCC_FMT || buf[off + 1] !== RTPFB_PT) {
    return TwccReadError.notTwcc;
  }
  const total = (((buf[off + 2] << 8) | buf[off + 3]) + 1) * 4;
  if (total > len || total < 20) return TwccReadError.truncated;
  let end = off + total;
  if (b0 & 0x20) {
    const pad = buf[end - 1];
    if (pad === 0 || pad > total - 20) return TwccReadError.malformed;
    end -= pad;
  }
  out.senderSsrc = readU32(buf, off + 4);
  out.mediaSsrc = readU32(buf, off + 8);
  out.baseSeq = (buf[off + 12] << 8) | buf[off + 13];
  const statusCount = (buf[off + 14] << 8) | buf[off + 15];
  out.statusCount = statusCount;
  out.referenceTime64ms = (buf[off + 16] << 16) | (buf[off + 17] << 8) | buf[off + 18];
  out.feedbackCount = buf[off + 19];
  const cap = out.status.length;
  const status = out.status;

  // Chunks: walk all of them (the deltas start after the last), keep the first `cap` symbols.
  let p = off + 20;
  let seen = 0;
  while (seen < statusCount) {
    if (p + 2 > end) return TwccReadError.malformed;
    const v = (buf[p] << 8) | buf[p + 1];
    p += 2;
    if ((v & 0x8000) === 0) {
      const symbol = (v >>> 13) & 3;
      let run = v & 0x1fff;
      if (run > statusCount - seen) run = statusCount - seen;
      for (let k = 0; k < run; k++, seen++) if (seen < cap) status[seen] = symbol;
    } else if ((v & 0x4000) === 0) {
      for (let k = 0; k < 14 && seen < statusCount; k++, seen++) {
        if (seen < cap) status[seen] = (v >>> (13 - k)) & 1;
      }
    } else {
      for (let k = 0; k < 7 && seen < statusCount; k++, seen++) {
        if (seen < cap) status[seen] = (v >>> (12 - 2 * k)) & 3;
      }
    }
  }

  const count = statusCount < cap ? statusCount : cap;
  let arrival = out.referenceTime64ms * TWCC_REFERENCE_US;
  for (let i = 0; i < count; i++) {
    const s = status[i];
    let d = 0;
    if (s === TwccStatus.smallDelta) {
      if (p + 1 > end) return TwccReadError.malformed;
      d = buf[p++];
    } else if (s === TwccStatus.largeDelta) {
      if (p + 2 > end) return TwccReadError.malformed;
      d = ((buf[p] << 24) | (buf[p + 1] << 16)) >> 16;
      p += 2;
    } else if (s !== TwccStatus.notReceived) {
      // Symbol 3 ("received, no timestamp") is reserved: treat as not received.
      status[i] = TwccStatus.notReceived;
    }
    const us = d * TWCC_DELTA_US;
    out.deltaUs[i] = us;
    arrival += us;
    out.arrivalUs[i] = status[i] === TwccStatus.notReceived ? 0 : arrival;
  }
  out.count = count;
  return count;
}

function readU32(buf: Uint8Array, p: number): number {
  return ((buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]) >>> 0;
}
