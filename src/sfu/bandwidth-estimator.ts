/**
 * Per-viewer send-side bandwidth estimate in the manner of Google Congestion Control
 * (draft-ietf-rmcat-gcc-02; libwebrtc `TrendlineEstimator`, `AimdRateControl`), with REMB and
 * receiver-report loss as fallbacks for viewers that send no transport-wide CC feedback
 * (simulcast.md §3.1, constants §5).
 *
 * - Delay-based: packets are grouped by send time (5 ms); for each pair of groups the delay
 *   variation `Δarrival − Δsend` is accumulated, smoothed (0.9) and fitted over 20 groups; the
 *   slope × min(groups, 60) × gain 4 is compared with an adaptive threshold (12.5 ms, 6–600,
 *   k_up 0.0087, k_down 0.039). Overuse → 0.85 × acknowledged rate (the larger of the last
 *   second's and the last 250 ms's), but at most half the estimate per decrease (every 200 ms
 *   at most); normal → +8 %/s.
 * - Loss-based: per ~1 s window, loss < 2 % → ×1.08, > 10 % → ×(1 − 0.5·loss).
 * - Estimate = min(delay, loss) (and a recent REMB as a cap), floor 30 kbit/s, start 600.
 *
 * Runs per feedback packet (every ~100 ms), not per media packet; no allocation per call.
 * Time is injected: every method takes `nowMs`, and arrival times come from the feedback.
 *
 * @module
 */

import type { TwccFeedback } from "../rtp/twcc-reader.ts";
import type { SendHistory } from "./send-history.ts";

/** Output of the overuse detector. */
export const BandwidthUsage = { normal: 0, underusing: 1, overusing: 2 } as const;
export type BandwidthUsageValue = (typeof BandwidthUsage)[keyof typeof BandwidthUsage];

/** Which input currently drives the estimate. */
export const EstimateMode = {
  /** No feedback yet: the start bitrate. */
  none: 0,
  /** Transport-wide CC feedback (delay + loss). */
  twcc: 1,
  /** Receiver-estimated maximum bitrate, capped by RR loss. */
  remb: 2,
  /** Receiver-report loss only. */
  loss: 3,
} as const;
export type EstimateModeValue = (typeof EstimateMode)[keyof typeof EstimateMode];

/** Options of {@link BandwidthEstimator}. */
export interface BandwidthEstimatorOptions {
  /** The viewer transport's send history, read when feedback arrives. */
  history: SendHistory;
  /** Initial estimate (default 600 kbit/s, mediasoup). */
  startBitrateBps?: number;
  /** Floor (default 30 kbit/s, mediasoup). */
  minBitrateBps?: number;
  /** Ceiling (default 100 Mbit/s). */
  maxBitrateBps?: number;
  /**
   * Cap a delay-based increase at `ratio × acked + 10 kbit/s` (libwebrtc uses 1.5). 0 = no cap
   * (default): without a prober, a viewer on a low layer could otherwise never earn the
   * estimate of the next one. Set it once probing lifts the estimate.
   */
  ackedCapRatio?: number;
}

const GROUP_US = 5_000;
const WINDOW = 20;
const SMOOTHING = 0.9;
const GAIN = 4;
const MAX_DELTAS_FOR_GAIN = 60;
const THRESHOLD_START_MS = 12.5;
const THRESHOLD_MIN_MS = 6;
const THRESHOLD_MAX_MS = 600;
const K_UP = 0.0087;
const K_DOWN = 0.039;
const OVERUSE_TIME_MS = 10;
const DECREASE_FACTOR = 0.85;
/** One overuse decrease keeps at least this share of the delay-based estimate. */
const MAX_CUT = 0.5;
const INCREASE_PER_S = 1.08;
const MIN_DECREASE_INTERVAL_MS = 200;
const LOSS_WINDOW_MS = 1_000;
const LOSS_FAST_WINDOW_MS = 300;
/** Enough packets that 10 % loss is not a fluke of a small sample. */
const LOSS_FAST_MIN_PACKETS = 40;
const LOSS_HIGH = 0.1;
const LOSS_LOW = 0.02;
const FEEDBACK_STALE_MS = 2_000;
const REMB_STALE_MS = 3_000;
const ACKED_BUCKET_MS = 50;
const ACKED_BUCKETS = 20; // 1 s window
/** Complete buckets in the short window an overuse decrease also looks at (250 ms). */
const RECENT_BUCKETS = 5;

/**
 * GCC-style estimator for one viewer transport.
 *
 * @example
 * const bwe = new BandwidthEstimator({ history });
 * if (readTwccFeedback(buf, off, len, fb) > 0) bwe.onTwccFeedback(fb, nowMs);
 * allocator.update(bwe.estimateBps, ...);
 */
export class BandwidthEstimator {
  readonly #history: SendHistory;
  readonly #minBps: number;
  readonly #maxBps: number;
  readonly #ackedCapRatio: number;

  #delayBps: number;
  #lossBps: number;
  #rembBps = 0;
  #rembAtMs = -Infinity;
  #twccAtMs = -Infinity;
  #rrAtMs = -Infinity;

  // Send-time groups (µs).
  #groupActive = false;
  #groupFirstSendUs = 0;
  #groupLastSendUs = 0;
  #groupLastArrivalUs = 0;
  #prevGroupValid = false;
  #prevGroupLastSendUs = 0;
  #prevGroupLastArrivalUs = 0;

  // Trendline.
  readonly #histX = new Float64Array(WINDOW);
  readonly #histY = new Float64Array(WINDOW);
  #histLen = 0;
  #histHead = 0;
  #firstArrivalMs = -1;
  #accumulatedDelayMs = 0;
  #smoothedDelayMs = 0;
  #numDeltas = 0;
  #trend = 0;
  #prevTrend = 0;

  // Overuse detector.
  #thresholdMs = THRESHOLD_START_MS;
  #thresholdUpdatedMs = -1;
  #timeOverUsingMs = -1;
  #overuseCounter = 0;
  #usage: BandwidthUsageValue = BandwidthUsage.normal;

  // Rate control.
  #lastIncreaseMs = -1;
  #lastDecreaseMs = -Infinity;

  // Acknowledged bitrate: 50 ms buckets by arrival time over 1 s.
  readonly #bucketId = new Float64Array(ACKED_BUCKETS).fill(-1);
  readonly #bucketBytes = new Float64Array(ACKED_BUCKETS);
  #firstBucket = -1;
  #latestBucket = -1;
  #ackedBps = 0;
  #recentAckedBps = 0;

  // Loss window.
  #lossWindowStartMs = -1;
  #lossWindowLost = 0;
  #lossWindowTotal = 0;
  #lossFraction = 0;
  #lastLossIncreaseMs = -Infinity;

  /** Feedback packets processed. */
  feedbackCount = 0;
  /** Overuse events that decreased the estimate. */
  overuseDecreases = 0;

  constructor(opts: BandwidthEstimatorOptions) {
    this.#history = opts.history;
    this.#minBps = opts.minBitrateBps ?? 30_000;
    this.#maxBps = opts.maxBitrateBps ?? 100_000_000;
    this.#ackedCapRatio = opts.ackedCapRatio ?? 0;
    const start = clamp(opts.startBitrateBps ?? 600_000, this.#minBps, this.#maxBps);
    this.#delayBps = start;
    this.#lossBps = start;
  }

  /** Current estimate in bit/s. */
  get estimateBps(): number {
    return this.estimateAt(this.#lastNowMs);
  }

  /** Acknowledged (received) bitrate over the last second of TWCC feedback, bit/s. */
  get ackedBitrateBps(): number {
    return this.#ackedBps;
  }

  /** Loss fraction of the last completed window (TWCC or receiver report). */
  get lossFraction(): number {
    return this.#lossFraction;
  }

  /** The delay detector's last verdict. */
  get usage(): BandwidthUsageValue {
    return this.#usage;
  }

  /** Delay-based part of the estimate (bit/s). */
  get delayBasedBps(): number {
    return this.#delayBps;
  }

  /** Loss-based part of the estimate (bit/s). */
  get lossBasedBps(): number {
    return this.#lossBps;
  }

  /** Adaptive overuse threshold in ms (for metrics and tests). */
  get thresholdMs(): number {
    return this.#thresholdMs;
  }

  #lastNowMs = 0;

  /** Which input drives the estimate at `nowMs`. */
  modeAt(nowMs: number): EstimateModeValue {
    if (nowMs - this.#twccAtMs <= FEEDBACK_STALE_MS) return EstimateMode.twcc;
    if (nowMs - this.#rembAtMs <= REMB_STALE_MS) return EstimateMode.remb;
    if (this.#rrAtMs > -Infinity) return EstimateMode.loss;
    return this.#twccAtMs > -Infinity ? EstimateMode.twcc : EstimateMode.none;
  }

  /** Estimate at `nowMs` (a stale REMB no longer caps it). */
  estimateAt(nowMs: number): number {
    let e: number;
    switch (this.modeAt(nowMs)) {
      case EstimateMode.twcc:
        e = Math.min(this.#delayBps, this.#lossBps);
        if (nowMs - this.#rembAtMs <= REMB_STALE_MS && this.#rembBps < e) e = this.#rembBps;
        break;
      case EstimateMode.remb:
        e = Math.min(this.#rembBps, this.#lossBps);
        break;
      case EstimateMode.loss:
        e = this.#lossBps;
        break;
      default:
        e = this.#delayBps;
    }
    return clamp(e, this.#minBps, this.#maxBps);
  }

  /**
   * Feeds one parsed TWCC feedback packet. Packets are looked up in the send history; ones it
   * no longer holds, and ones already acknowledged, are skipped.
   */
  onTwccFeedback(fb: TwccFeedback, nowMs: number): void {
    this.#lastNowMs = nowMs;
    const history = this.#history;
    let received = 0;
    let lost = 0;
    for (let i = 0; i < fb.count; i++) {
      const idx = history.find((fb.baseSeq + i) & 0xffff);
      if (idx < 0) continue;
      if (!fb.received(i)) {
        if (!history.isAcked(idx)) lost++;
        continue;
      }
      if (!history.markAcked(idx)) continue;
      received++;
      const arrivalUs = fb.arrivalUs[i];
      this.#addAcked(arrivalUs, history.sizeBytes(idx));
      this.#onPacket(history.sendUs(idx), arrivalUs);
    }
    if (received + lost === 0) return;
    this.feedbackCount++;
    this.#twccAtMs = nowMs;
    this.#ackedBps = this.#ackedRate();
    this.#recentAckedBps = this.#recentAckedRate();
    this.#updateRate(nowMs);
    this.#accumulateLoss(lost, received + lost, nowMs);
  }

  /** Receiver-estimated maximum bitrate (RTCP PSFB REMB). */
  onRemb(bitrateBps: number, nowMs: number): void {
    this.#lastNowMs = nowMs;
    this.#rembBps = clamp(bitrateBps, this.#minBps, this.#maxBps);
    this.#rembAtMs = nowMs;
    if (nowMs - this.#twccAtMs > FEEDBACK_STALE_MS) {
      // Without TWCC the receiver's estimate is the delay-based part.
      this.#delayBps = this.#rembBps;
    }
  }

  /**
   * Fraction lost from a receiver report (0..1). Ignored while TWCC feedback flows: it carries
   * per-packet loss already.
   */
  onLossReport(fractionLost: number, nowMs: number): void {
    this.#lastNowMs = nowMs;
    if (nowMs - this.#twccAtMs <= FEEDBACK_STALE_MS) return;
    this.#rrAtMs = nowMs;
    this.#applyLoss(fractionLost, nowMs);
  }

  /** A probe cluster measured `bitrateBps` received without overuse: lift the estimate. */
  onProbeResult(bitrateBps: number, nowMs: number): void {
    this.#lastNowMs = nowMs;
    const bps = clamp(bitrateBps, this.#minBps, this.#maxBps);
    if (bps > this.#delayBps) this.#delayBps = bps;
    if (bps > this.#lossBps) this.#lossBps = bps;
  }

  #onPacket(sendUs: number, arrivalUs: number): void {
    if (!this.#groupActive) {
      this.#startGroup(sendUs, arrivalUs);
      return;
    }
    if (sendUs < this.#groupFirstSendUs) return; // reordered across groups: libwebrtc drops too
    if (sendUs - this.#groupFirstSendUs <= GROUP_US) {
      if (sendUs > this.#groupLastSendUs) this.#groupLastSendUs = sendUs;
      if (arrivalUs > this.#groupLastArrivalUs) this.#groupLastArrivalUs = arrivalUs;
      return;
    }
    if (this.#prevGroupValid) {
      const sendDeltaMs = (this.#groupLastSendUs - this.#prevGroupLastSendUs) / 1000;
      const arrivalDeltaMs = (this.#groupLastArrivalUs - this.#prevGroupLastArrivalUs) / 1000;
      this.#updateTrendline(arrivalDeltaMs, sendDeltaMs, this.#groupLastArrivalUs / 1000);
    }
    this.#prevGroupValid = true;
    this.#prevGroupLastSendUs = this.#groupLastSendUs;
    this.#prevGroupLastArrivalUs = this.#groupLastArrivalUs;
    this.#startGroup(sendUs, arrivalUs);
  }

  #startGroup(sendUs: number, arrivalUs: number): void {
    this.#groupActive = true;
    this.#groupFirstSendUs = sendUs;
    this.#groupLastSendUs = sendUs;
    this.#groupLastArrivalUs = arrivalUs;
  }

  /** libwebrtc `TrendlineEstimator::UpdateTrendline`. */
  #updateTrendline(arrivalDeltaMs: number, sendDeltaMs: number, arrivalMs: number): void {
    const delayMs = arrivalDeltaMs - sendDeltaMs;
    if (this.#numDeltas < 1000) this.#numDeltas++;
    if (this.#firstArrivalMs < 0) this.#firstArrivalMs = arrivalMs;
    this.#accumulatedDelayMs += delayMs;
    this.#smoothedDelayMs = SMOOTHING * this.#smoothedDelayMs +
      (1 - SMOOTHING) * this.#accumulatedDelayMs;
    this.#histX[this.#histHead] = arrivalMs - this.#firstArrivalMs;
    this.#histY[this.#histHead] = this.#smoothedDelayMs;
    this.#histHead = (this.#histHead + 1) % WINDOW;
    if (this.#histLen < WINDOW) this.#histLen++;
    if (this.#histLen === WINDOW) this.#trend = this.#slope();
    this.#detect(sendDeltaMs, arrivalMs);
  }

  /** Least-squares slope of the smoothed delay over the window. */
  #slope(): number {
    let sx = 0;
    let sy = 0;
    for (let i = 0; i < WINDOW; i++) {
      sx += this.#histX[i];
      sy += this.#histY[i];
    }
    const mx = sx / WINDOW;
    const my = sy / WINDOW;
    let num = 0;
    let den = 0;
    for (let i = 0; i < WINDOW; i++) {
      const dx = this.#histX[i] - mx;
      num += dx * (this.#histY[i] - my);
      den += dx * dx;
    }
    return den === 0 ? this.#trend : num / den;
  }

  /** libwebrtc `TrendlineEstimator::Detect`. */
  #detect(tsDeltaMs: number, nowMs: number): void {
    if (this.#numDeltas < 2) {
      this.#usage = BandwidthUsage.normal;
      return;
    }
    const n = this.#numDeltas < MAX_DELTAS_FOR_GAIN ? this.#numDeltas : MAX_DELTAS_FOR_GAIN;
    const modified = n * this.#trend * GAIN;
    if (modified > this.#thresholdMs) {
      this.#timeOverUsingMs = this.#timeOverUsingMs < 0
        ? tsDeltaMs / 2
        : this.#timeOverUsingMs + tsDeltaMs;
      this.#overuseCounter++;
      if (
        this.#timeOverUsingMs > OVERUSE_TIME_MS && this.#overuseCounter > 1 &&
        this.#trend >= this.#prevTrend
      ) {
        this.#timeOverUsingMs = 0;
        this.#overuseCounter = 0;
        this.#usage = BandwidthUsage.overusing;
      }
    } else if (modified < -this.#thresholdMs) {
      this.#timeOverUsingMs = -1;
      this.#overuseCounter = 0;
      this.#usage = BandwidthUsage.underusing;
    } else {
      this.#timeOverUsingMs = -1;
      this.#overuseCounter = 0;
      this.#usage = BandwidthUsage.normal;
    }
    this.#prevTrend = this.#trend;
    this.#updateThreshold(modified, nowMs);
  }

  /** libwebrtc `TrendlineEstimator::UpdateThreshold`. */
  #updateThreshold(modified: number, nowMs: number): void {
    if (this.#thresholdUpdatedMs < 0) this.#thresholdUpdatedMs = nowMs;
    const abs = Math.abs(modified);
    // A spike (e.g. a route change) should not move the threshold.
    if (abs > this.#thresholdMs + 15) {
      this.#thresholdUpdatedMs = nowMs;
      return;
    }
    const k = abs < this.#thresholdMs ? K_DOWN : K_UP;
    const dt = Math.min(Math.max(nowMs - this.#thresholdUpdatedMs, 0), 100);
    this.#thresholdMs = clamp(
      this.#thresholdMs + k * (abs - this.#thresholdMs) * dt,
      THRESHOLD_MIN_MS,
      THRESHOLD_MAX_MS,
    );
    this.#thresholdUpdatedMs = nowMs;
  }

  /** AIMD on the detector's verdict, once per feedback packet. */
  #updateRate(nowMs: number): void {
    if (this.#usage === BandwidthUsage.overusing) {
      if (nowMs - this.#lastDecreaseMs >= MIN_DECREASE_INTERVAL_MS) {
        // When the send rate has just risen (a probe, an upgrade) the last second's average
        // still holds the lower rate before it, while the link has just shown what it
        // carries: a probe through a 700 kbit/s link into a viewer fed 420 kbit/s gave 480
        // over 1 s, and 0.85 × that pushed the viewer below the layer it had been receiving
        // fine. The last 250 ms, as delivered at the bottleneck, is the better base then.
        const acked = this.#recentAckedBps > this.#ackedBps ? this.#recentAckedBps : this.#ackedBps;
        const base = acked > 0 ? acked : this.#delayBps;
        // An SFU subscriber is application-limited: its layers rarely fill the estimate, so
        // the acknowledged rate says what was sent, not what the path carries. Cutting to 0.85
        // × that on one delay spike (a receiver's stall) took a 4 Mbit/s estimate to 0.9 (a
        // quarter of it was in use); the allocator then paused cameras, and the next spike cut
        // from less again: 24-camera subscribers of the room bench ended near 30 kbit/s. At
        // most half per decrease (libwebrtc's own cut before it has an acknowledged rate) still
        // takes a real overshoot down fast: decreases come every 200 ms while overuse lasts.
        const next = Math.max(DECREASE_FACTOR * base, MAX_CUT * this.#delayBps, this.#minBps);
        if (next < this.#delayBps) {
          this.#delayBps = next;
          this.overuseDecreases++;
        }
        this.#lastDecreaseMs = nowMs;
      }
      this.#lastIncreaseMs = -1;
      return;
    }
    if (this.#usage === BandwidthUsage.underusing) {
      // Queues are draining: hold until they settle (GCC "hold" state).
      this.#lastIncreaseMs = -1;
      return;
    }
    if (this.#lastIncreaseMs < 0) {
      this.#lastIncreaseMs = nowMs;
      return;
    }
    const dtMs = Math.min(nowMs - this.#lastIncreaseMs, 1_000);
    this.#lastIncreaseMs = nowMs;
    if (dtMs <= 0) return;
    let next = this.#delayBps * Math.pow(INCREASE_PER_S, dtMs / 1000);
    if (this.#ackedCapRatio > 0 && this.#ackedBps > 0) {
      const cap = this.#ackedCapRatio * this.#ackedBps + 10_000;
      if (next > cap) next = Math.max(cap, this.#delayBps);
    }
    this.#delayBps = Math.min(next, this.#maxBps);
  }

  #addAcked(arrivalUs: number, bytes: number): void {
    const b = Math.floor(arrivalUs / 1000 / ACKED_BUCKET_MS);
    if (b <= this.#latestBucket - ACKED_BUCKETS) return; // older than the window
    const slot = b % ACKED_BUCKETS;
    if (this.#bucketId[slot] !== b) {
      this.#bucketId[slot] = b;
      this.#bucketBytes[slot] = 0;
    }
    this.#bucketBytes[slot] += bytes;
    if (b > this.#latestBucket) this.#latestBucket = b;
    if (this.#firstBucket < 0 || b < this.#firstBucket) this.#firstBucket = b;
  }

  #ackedRate(): number {
    if (this.#latestBucket < 0) return 0;
    let bytes = 0;
    const oldest = this.#latestBucket - ACKED_BUCKETS + 1;
    for (let i = 0; i < ACKED_BUCKETS; i++) {
      if (this.#bucketId[i] >= oldest) bytes += this.#bucketBytes[i];
    }
    const first = this.#firstBucket > oldest ? this.#firstBucket : oldest;
    const spanMs = (this.#latestBucket - first + 1) * ACKED_BUCKET_MS;
    return (bytes * 8 * 1000) / spanMs;
  }

  /** Rate over the last {@link RECENT_BUCKETS} complete buckets, 0 until there are that many. */
  #recentAckedRate(): number {
    const latest = this.#latestBucket;
    if (latest < 0 || latest - RECENT_BUCKETS < this.#firstBucket) return 0;
    let bytes = 0;
    for (let b = latest - RECENT_BUCKETS; b < latest; b++) {
      const slot = b % ACKED_BUCKETS;
      if (this.#bucketId[slot] === b) bytes += this.#bucketBytes[slot];
    }
    return (bytes * 8 * 1000) / (RECENT_BUCKETS * ACKED_BUCKET_MS);
  }

  #accumulateLoss(lost: number, total: number, nowMs: number): void {
    if (this.#lossWindowStartMs < 0) this.#lossWindowStartMs = nowMs;
    this.#lossWindowLost += lost;
    this.#lossWindowTotal += total;
    const elapsed = nowMs - this.#lossWindowStartMs;
    const fraction = this.#lossWindowLost / this.#lossWindowTotal;
    // A heavy loss acts sooner so the allocator can step down within 1 s.
    const fast = elapsed >= LOSS_FAST_WINDOW_MS && this.#lossWindowTotal >= LOSS_FAST_MIN_PACKETS &&
      fraction > LOSS_HIGH;
    if (elapsed < LOSS_WINDOW_MS && !fast) return;
    if (this.#lossWindowTotal >= 10) this.#applyLoss(fraction, nowMs);
    this.#lossWindowStartMs = nowMs;
    this.#lossWindowLost = 0;
    this.#lossWindowTotal = 0;
  }

  /** GCC loss-based controller (draft-ietf-rmcat-gcc-02 §6). */
  #applyLoss(fraction: number, nowMs: number): void {
    this.#lossFraction = fraction;
    if (fraction > LOSS_HIGH) {
      const current = this.estimateAt(nowMs);
      const base = this.#lossBps < current ? this.#lossBps : current;
      this.#lossBps = Math.max(base * (1 - 0.5 * fraction), this.#minBps);
    } else if (fraction < LOSS_LOW) {
      if (nowMs - this.#lastLossIncreaseMs < 900) return;
      this.#lastLossIncreaseMs = nowMs;
      this.#lossBps = Math.min(this.#lossBps * INCREASE_PER_S, this.#maxBps);
    }
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}
