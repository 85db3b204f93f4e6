/**
 * Sequence-number and timestamp arithmetic for RTP (RFC 3550 §A.1): 16-bit sequence numbers and
 * 32-bit timestamps compared modulo their width, plus unwrapping into extended counters.
 *
 * Hot path: every function is a few integer operations; nothing allocates. Extended values are
 * plain JS numbers (exact up to 2^53), so they never wrap in the life of a stream.
 *
 * @module
 */

/**
 * Signed distance `a − b` between two 16-bit sequence numbers, in [-32768, 32767].
 *
 * @example seqDiff(0, 65535) // 1
 */
export function seqDiff(a: number, b: number): number {
  // Shift the 16-bit difference into the top half of an int32 and back to sign-extend it.
  return (((a - b) & 0xffff) << 16) >> 16;
}

/**
 * Signed distance `a − b` in a `bits`-bit counter (1 ≤ bits ≤ 32): VP8/VP9 PictureIDs (7 or 15
 * bits), TL0PICIDX (8 bits).
 *
 * @example bitsDiff(0, 127, 7) // 1
 */
export function bitsDiff(a: number, b: number, bits: number): number {
  const shift = 32 - bits;
  return ((a - b) << shift) >> shift;
}

/**
 * True if sequence number `a` comes after `b`, modulo 2^16.
 *
 * At exactly half the range apart the larger value counts as newer, so that of two different
 * numbers exactly one is newer (the tie-break libwebrtc's `IsNewerSequenceNumber` uses).
 *
 * @example isSeqNewer(0, 65535) // true
 */
export function isSeqNewer(a: number, b: number): boolean {
  const d = seqDiff(a, b);
  return d > 0 || (d === -32768 && (a & 0xffff) > (b & 0xffff));
}

/**
 * Signed distance `a − b` between two 32-bit RTP timestamps, in [-2^31, 2^31 − 1].
 *
 * @example tsDiff(5, 0xfffffffb) // 10
 */
export function tsDiff(a: number, b: number): number {
  // ToInt32 reduces modulo 2^32 into the signed range; a − b is exact for 32-bit inputs.
  return (a - b) | 0;
}

/**
 * Unwraps 16-bit sequence numbers into an extended counter (RFC 3550 §A.1 "cycles").
 *
 * Each value is placed relative to the highest number seen so far, so reordered and duplicated
 * packets get the extended number they had the first time; only newer packets move the reference.
 * The first number unwraps to itself (cycle 0); a packet reordered before the very first one
 * unwraps to a negative number, which callers may treat as "older than the stream start".
 *
 * @example const u = new SeqUnwrapper(); u.unwrap(65535); u.unwrap(0) // 65536
 */
export class SeqUnwrapper {
  #highestExt: number;
  #started: boolean;

  constructor() {
    this.#highestExt = 0;
    this.#started = false;
  }

  /** Extended value of `seq` (16-bit), relative to the highest value seen so far. */
  unwrap(seq: number): number {
    if (!this.#started) {
      this.#started = true;
      this.#highestExt = seq & 0xffff;
      return this.#highestExt;
    }
    const ext = this.#highestExt + seqDiff(seq, this.#highestExt);
    if (ext > this.#highestExt) this.#highestExt = ext;
    return ext;
  }

  /** Highest extended value returned so far (0 before the first call). */
  get highest(): number {
    return this.#highestExt;
  }

  /** Forgets all history: the next value unwraps to itself again. */
  reset(): void {
    this.#highestExt = 0;
    this.#started = false;
  }
}

/**
 * Unwraps 32-bit RTP timestamps into an extended counter, like {@link SeqUnwrapper}: values are
 * placed relative to the highest seen, and only newer values move that reference.
 *
 * @example const u = new TsUnwrapper(); u.unwrap(0xffffff00); u.unwrap(0x100) // 0x100000100
 */
export class TsUnwrapper {
  #highestExt: number;
  #started: boolean;

  constructor() {
    this.#highestExt = 0;
    this.#started = false;
  }

  /** Extended value of `ts` (32-bit). */
  unwrap(ts: number): number {
    if (!this.#started) {
      this.#started = true;
      this.#highestExt = ts >>> 0;
      return this.#highestExt;
    }
    const ext = this.#highestExt + tsDiff(ts, this.#highestExt % 0x100000000);
    if (ext > this.#highestExt) this.#highestExt = ext;
    return ext;
  }

  /** Highest extended value returned so far (0 before the first call). */
  get highest(): number {
    return this.#highestExt;
  }

  /** Forgets all history. */
  reset(): void {
    this.#highestExt = 0;
    this.#started = false;
  }
}
