/**
 * Receiver statistics of one inbound SSRC for reception report blocks (RFC 3550 §6.4.1):
 * extended highest sequence number and loss (§A.3), interarrival jitter (§A.8), LSR/DLSR.
 *
 * Hot path: `update` is a handful of arithmetic operations per packet; nothing allocates.
 *
 * @module
 */

import type { ReportBlock } from "./rtcp-reader.ts";
import { compactNtp } from "./ntp-time.ts";
import { seqDiff, tsDiff } from "./seq.ts";

/**
 * Per-SSRC counters behind an RR report block.
 *
 * @example
 * const stats = new ReceiveStats(90000);
 * stats.update(seq, rtpTs, nowMs);            // per packet
 * stats.fillReportBlock(ssrc, nowMs, block);  // per RR
 */
export class ReceiveStats {
  /** RTP clock rate in Hz. */
  readonly clockRate: number;

  #started: boolean;
  #baseExt: number;
  #maxExt: number;
  #received: number;
  #expectedPrior: number;
  #receivedPrior: number;
  /** Jitter estimate J in timestamp units (§A.8), kept unrounded. */
  #jitter: number;
  #lastTs: number;
  #lastArrivalMs: number;
  #lastFraction: number;
  #lastSr: number;
  #lastSrArrivalMs: number;
  #haveSr: boolean;

  constructor(clockRate: number) {
    if (!(clockRate > 0)) throw new RangeError(`clockRate must be > 0, got ${clockRate}`);
    this.clockRate = clockRate;
    this.#started = false;
    this.#baseExt = 0;
    this.#maxExt = 0;
    this.#received = 0;
    this.#expectedPrior = 0;
    this.#receivedPrior = 0;
    this.#jitter = 0;
    this.#lastTs = 0;
    this.#lastArrivalMs = 0;
    this.#lastFraction = 0;
    this.#lastSr = 0;
    this.#lastSrArrivalMs = 0;
    this.#haveSr = false;
  }

  /**
   * Counts one received packet. Call it for every packet except retransmissions you can tell
   * apart (RTX); duplicates still count, as in §A.3, which can make the loss negative.
   */
  update(seq: number, rtpTimestamp: number, arrivalMs: number): void {
    if (!this.#started) {
      this.#started = true;
      this.#baseExt = seq & 0xffff;
      this.#maxExt = this.#baseExt;
      this.#received = 1;
      this.#lastTs = rtpTimestamp >>> 0;
      this.#lastArrivalMs = arrivalMs;
      return;
    }
    this.#received++;
    const d = seqDiff(seq, this.#maxExt);
    if (d <= 0) return;
    this.#maxExt += d;
    // Jitter from in-order packets that start a new timestamp, measured against the previous
    // in-order packet: packets of one video frame share a timestamp but leave the sender over
    // several ms, which is pacing, not network jitter (libwebrtc's ReceiveStatistics does this).
    const ts = rtpTimestamp >>> 0;
    if (ts !== this.#lastTs) {
      // D(i−1, i) = (Rj − Ri) − (Sj − Si) in timestamp units (§6.4.1); the timestamp difference
      // is taken modulo 2^32 so a wrap is a small step.
      const transitDelta = ((arrivalMs - this.#lastArrivalMs) * this.clockRate) / 1000 -
        tsDiff(ts, this.#lastTs);
      const abs = transitDelta < 0 ? -transitDelta : transitDelta;
      this.#jitter += (abs - this.#jitter) / 16;
    }
    this.#lastTs = ts;
    this.#lastArrivalMs = arrivalMs;
  }

  /** Records an SR from this source: its NTP time and when it arrived, for LSR/DLSR. */
  onSenderReport(ntpSec: number, ntpFrac: number, arrivalMs: number): void {
    this.#lastSr = compactNtp(ntpSec, ntpFrac);
    this.#lastSrArrivalMs = arrivalMs;
    this.#haveSr = true;
  }

  /**
   * Fills `out` for an RR sent at `nowMs` and starts a new interval for the fraction lost
   * (§A.3). `ssrc` is the source the block is about.
   */
  fillReportBlock(ssrc: number, nowMs: number, out: ReportBlock): void {
    const expected = this.#started ? this.#maxExt - this.#baseExt + 1 : 0;
    const expectedInterval = expected - this.#expectedPrior;
    const receivedInterval = this.#received - this.#receivedPrior;
    const lostInterval = expectedInterval - receivedInterval;
    this.#expectedPrior = expected;
    this.#receivedPrior = this.#received;
    const fraction = expectedInterval <= 0 || lostInterval <= 0
      ? 0
      : Math.floor((lostInterval * 256) / expectedInterval);
    this.#lastFraction = fraction > 255 ? 255 : fraction;

    out.ssrc = ssrc >>> 0;
    out.fractionLost = this.#lastFraction;
    out.cumulativeLost = this.cumulativeLost;
    out.extendedHighestSeq = this.#maxExt % 0x100000000;
    out.jitter = Math.floor(this.#jitter) >>> 0;
    out.lastSr = this.#lastSr;
    out.delaySinceLastSr = !this.#haveSr || nowMs < this.#lastSrArrivalMs
      ? 0
      : Math.floor(((nowMs - this.#lastSrArrivalMs) * 65536) / 1000) >>> 0;
  }

  /** Packets counted by `update`. */
  get packetsReceived(): number {
    return this.#received;
  }

  /** Expected minus received since the first packet, clamped to the signed 24-bit RR field. */
  get cumulativeLost(): number {
    if (!this.#started) return 0;
    const lost = this.#maxExt - this.#baseExt + 1 - this.#received;
    return lost > 0x7fffff ? 0x7fffff : lost < -0x800000 ? -0x800000 : lost;
  }

  /** Interarrival jitter in seconds. */
  get jitterSeconds(): number {
    return this.#jitter / this.clockRate;
  }

  /** Fraction lost in the last report interval, 0..1 (in steps of 1/256). */
  get lastFractionLost(): number {
    return this.#lastFraction / 256;
  }

  /** Extended highest sequence number received (cycles · 65536 + seq). */
  get extendedHighestSeq(): number {
    return this.#maxExt;
  }
}
