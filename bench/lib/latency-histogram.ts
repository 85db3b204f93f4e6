/**
 * A mergeable latency histogram: 0.02 ms bins up to 50 ms, 1 ms bins up to 2 s, one overflow
 * bin. Children send theirs to the orchestrator sparse ({ bin: count }), which merges them.
 */

const FINE_BINS = 2500; // 50 ms / 0.02 ms
const COARSE_BINS = 1950; // 50 ms … 2000 ms by 1 ms
export const LATENCY_BINS = FINE_BINS + COARSE_BINS + 1;

export class LatencyHistogram {
  readonly counts: Uint32Array = new Uint32Array(LATENCY_BINS);
  total = 0;

  record(ms: number): void {
    let bin: number;
    if (!(ms >= 0)) bin = 0; // clocks of two processes: a tiny negative skew counts as 0
    else if (ms < 50) bin = Math.floor(ms * 50);
    else bin = Math.min(LATENCY_BINS - 1, FINE_BINS + Math.floor(ms - 50));
    this.counts[bin]++;
    this.total++;
  }

  /** The upper edge (ms) of the bin holding quantile q, or NaN when empty. */
  quantile(q: number): number {
    if (this.total === 0) return NaN;
    const rank = Math.ceil(q * this.total);
    let seen = 0;
    for (let bin = 0; bin < LATENCY_BINS; bin++) {
      seen += this.counts[bin];
      if (seen >= rank) return bin < FINE_BINS ? (bin + 1) / 50 : 50 + (bin - FINE_BINS + 1);
    }
    return Infinity;
  }

  reset(): void {
    this.counts.fill(0);
    this.total = 0;
  }

  toSparse(): Record<string, number> {
    const out: Record<string, number> = {};
    for (let bin = 0; bin < LATENCY_BINS; bin++) {
      if (this.counts[bin] > 0) out[bin] = this.counts[bin];
    }
    return out;
  }

  addSparse(sparse: Record<string, number>): void {
    for (const [bin, count] of Object.entries(sparse)) {
      this.counts[Number(bin)] += count;
      this.total += count;
    }
  }
}

/** Percentile (0–1) of a numeric array, linear between ranks; NaN when empty. */
export function percentile(values: ArrayLike<number>, q: number): number {
  if (values.length === 0) return NaN;
  const sorted = Array.from(values).sort((a, b) => a - b);
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}
