/**
 * A fixed-bucket histogram for the packet path.
 *
 * Budget: `observe()` is a linear scan over at most a few dozen bounds plus two adds. No
 * allocation, no labels, no prom-client: `metrics.ts` copies the buckets at scrape time. A linear
 * scan beats a binary search at these sizes (≤ 16 bounds) and keeps the loop branch-predictable,
 * since most samples land in the same few buckets.
 */

/** Fixed-bucket histogram; counts are per bucket (not cumulative) until `cumulative()` is read. */
export class FastHistogram {
  /** Upper bounds (inclusive, Prometheus `le`), strictly increasing; `+Inf` is implicit. */
  readonly upperBounds: Float64Array;
  /** Count per bucket; index `upperBounds.length` is the `+Inf` bucket. */
  readonly counts: Float64Array;
  /** Sum of every observed value. */
  sum = 0;

  /**
   * @param bucketsUpperBounds strictly increasing, finite upper bounds.
   * @example const h = new FastHistogram([0.001, 0.01, 0.1]);
   */
  constructor(bucketsUpperBounds: readonly number[]) {
    if (bucketsUpperBounds.length === 0) {
      throw new RangeError("a histogram needs at least one bucket");
    }
    for (let i = 0; i < bucketsUpperBounds.length; i++) {
      const b = bucketsUpperBounds[i];
      if (!Number.isFinite(b)) throw new RangeError(`bucket bound ${b} is not finite`);
      if (i > 0 && b <= bucketsUpperBounds[i - 1]) {
        throw new RangeError("bucket bounds must be strictly increasing");
      }
    }
    this.upperBounds = Float64Array.from(bucketsUpperBounds);
    this.counts = new Float64Array(bucketsUpperBounds.length + 1);
  }

  /** Records one value. NaN is ignored (it would poison `sum` forever). */
  observe(value: number): void {
    if (value !== value) return;
    const bounds = this.upperBounds;
    const n = bounds.length;
    let i = 0;
    while (i < n && value > bounds[i]) i++;
    this.counts[i]++;
    this.sum += value;
  }

  /** Number of observations (sum of the buckets; computed, since it is read only on scrape). */
  get count(): number {
    let total = 0;
    for (let i = 0; i < this.counts.length; i++) total += this.counts[i];
    return total;
  }

  /** Writes cumulative counts (`le` semantics, `+Inf` last) into `out`, which must be long enough. */
  cumulative(out: Float64Array | number[]): void {
    let running = 0;
    for (let i = 0; i < this.counts.length; i++) {
      running += this.counts[i];
      out[i] = running;
    }
  }

  /**
   * Estimates the q-quantile (0..1) by linear interpolation inside the bucket, as PromQL's
   * `histogram_quantile` does. Returns NaN when empty; the highest finite bound when the quantile
   * falls in `+Inf`.
   */
  quantile(q: number): number {
    const total = this.count;
    if (total === 0) return NaN;
    const rank = q * total;
    let running = 0;
    for (let i = 0; i < this.counts.length; i++) {
      const c = this.counts[i];
      if (running + c >= rank && c > 0) {
        if (i === this.upperBounds.length) return this.upperBounds[i - 1];
        const lower = i === 0 ? Math.min(0, this.upperBounds[0]) : this.upperBounds[i - 1];
        const upper = this.upperBounds[i];
        return lower + (upper - lower) * ((rank - running) / c);
      }
      running += c;
    }
    return this.upperBounds[this.upperBounds.length - 1];
  }

  /** Clears every bucket and the sum. */
  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
  }
}

/** Bucket presets, shared by `histograms` and the catalogue so both stay in step. */
export const Buckets = {
  /** Receive → send inside the SFU: microseconds to tens of milliseconds. */
  forwardLatencySeconds: [
    5e-6,
    10e-6,
    25e-6,
    50e-6,
    100e-6,
    250e-6,
    500e-6,
    1e-3,
    2.5e-3,
    5e-3,
    10e-3,
    25e-3,
  ],
  /** Offer received → first media packet forwarded. */
  sessionSetupSeconds: [0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30],
  /** Per-viewer bandwidth estimates (bits per second). */
  bandwidthEstimateBits: [
    100e3,
    250e3,
    500e3,
    1e6,
    1.5e6,
    2.5e6,
    4e6,
    6e6,
    10e6,
    20e6,
    50e6,
  ],
  /** Round-trip times from RTCP (RFC 3550 §6.4.1 LSR/DLSR). */
  rttSeconds: [0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2],
  /** Interarrival jitter from RTCP receiver reports, converted to seconds. */
  jitterSeconds: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25],
  /** Fraction lost from RTCP receiver reports; `le="0"` counts loss-free reports. */
  packetLossRatio: [0, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1],
  /** Key-frame request → key frame forwarded. */
  keyframeWaitSeconds: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10],
  /** Event-loop lag (timer delay beyond its interval). */
  eventLoopLagSeconds: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
  /** HTTP request handling time. */
  httpRequestDurationSeconds: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
} as const satisfies Record<string, readonly number[]>;
