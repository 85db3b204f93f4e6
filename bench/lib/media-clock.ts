/**
 * What the bench's synthetic media carries so viewers can measure one-way latency: the send
 * time (ms since the epoch, `performance.timeOrigin + performance.now()`, float64 little-endian)
 * at a fixed payload offset, after the VP8 payload descriptor and key-frame header (RFC 7741
 * §4.2–4.3: 1 + 3 + 7 bytes) so the server's key-frame inspection reads a real header.
 */

/** Payload offset of the float64 send timestamp (video and audio alike). */
export const SEND_TIME_OFFSET = 16;

/** Width of one timeline bucket (packets counted by send time). */
export const BUCKET_MS = 100;

/** Wall-clock ms shared by every process on the host. */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Counts packets per BUCKET_MS of send time; sums over a send-time range. */
export class Timeline {
  readonly #buckets = new Map<number, number>();

  add(sendMs: number, count = 1): void {
    const bucket = Math.floor(sendMs / BUCKET_MS);
    this.#buckets.set(bucket, (this.#buckets.get(bucket) ?? 0) + count);
  }

  /** Packets sent in [fromMs, toMs), by whole buckets. */
  sum(fromMs: number, toMs: number): number {
    let total = 0;
    const first = Math.floor(fromMs / BUCKET_MS);
    const last = Math.floor(toMs / BUCKET_MS);
    for (let b = first; b < last; b++) total += this.#buckets.get(b) ?? 0;
    return total;
  }

  /** Counts per bucket in [fromMs, toMs), as an array (index 0 = the bucket of fromMs). */
  series(fromMs: number, toMs: number): number[] {
    const out: number[] = [];
    const first = Math.floor(fromMs / BUCKET_MS);
    const last = Math.floor(toMs / BUCKET_MS);
    for (let b = first; b < last; b++) out.push(this.#buckets.get(b) ?? 0);
    return out;
  }

  /** Drops buckets older than `beforeMs` (bounded memory in long runs). */
  prune(beforeMs: number): void {
    const limit = Math.floor(beforeMs / BUCKET_MS);
    for (const b of this.#buckets.keys()) if (b < limit) this.#buckets.delete(b);
  }
}
