/**
 * Loss detection and NACK scheduling for one inbound SSRC (RFC 4585 §6.2.1), after libwebrtc's
 * `NackRequester` (missing list, retries, age limit, reset on a large jump) and pion's
 * `pkg/nack` (power-of-two receive bitmap, caller-owned output).
 *
 * Hot path: `push` per packet is O(1) plus the gap it opens (at most `maxGap`) and a binary search
 * when a missing packet arrives; `collect` per NACK tick is O(missing). Nothing allocates after
 * construction; outcomes are small integer codes ({@link NackPush}).
 *
 * State per SSRC: a received-bitmap over the last 2^k extended sequence numbers, and an ordered
 * ring of missing numbers (extended, due time, retries) holding at most `maxMissing`.
 *
 * @module
 */

import { seqDiff } from "./seq.ts";

/** Outcome of {@link NackGenerator.push}. */
export const NackPush = {
  /** A new packet, in order or a late one no longer tracked as missing. */
  ok: 0,
  /** A packet on the missing list arrived (reordered, or a retransmission). */
  recovered: 1,
  /** Seen before. */
  duplicate: 2,
  /** A jump of more than `maxGap` either way: state restarted here; request a key frame. */
  reset: 3,
} as const;

/** Options of {@link NackGenerator}. */
export interface NackGeneratorOptions {
  /** Most sequence numbers tracked as missing; the oldest are given up first. Default 1000. */
  maxMissing?: number;
  /** NACKs per missing packet before giving up. Default 10. */
  maxRetries?: number;
  /** Largest jump (either way) still treated as loss or reorder, not a restart. Default 3000. */
  maxGap?: number;
  /** Packets older than the newest by more than this are no longer NACKed. Default 10000. */
  maxAge?: number;
  /** Wait this long after detecting a gap before the first NACK, for reordering. Default 0. */
  reorderDelayMs?: number;
}

/** Smallest interval between two NACKs for one packet, whatever the RTT (libwebrtc uses 20 ms). */
const MIN_RETRY_INTERVAL_MS = 20;
const TOMBSTONE = 0xff;

function checkInt(name: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`${name} must be an integer in [${min}, ${max}], got ${v}`);
  }
  return v;
}

/**
 * Tracks missing sequence numbers of one SSRC and says which to NACK when.
 *
 * @example
 * const nack = new NackGenerator();
 * if (nack.push(seq, nowMs) === NackPush.reset) requestKeyFrame();
 * // every 20 ms or so:
 * const n = nack.collect(nowMs, rttMs, scratch); if (n > 0) writeNack(buf, 0, me, ssrc, scratch, n);
 */
export class NackGenerator {
  readonly maxMissing: number;
  readonly maxRetries: number;
  readonly maxGap: number;
  readonly maxAge: number;
  readonly reorderDelayMs: number;

  /** Missing packets that arrived later. */
  recoveredCount: number;
  /** Missing packets given up on (retries exhausted, too old, or over `maxMissing`). */
  givenUpCount: number;
  /** Times the state restarted on a jump. */
  resetCount: number;

  #started: boolean;
  #highestExt: number;
  #bitMask: number;
  #received: Uint32Array;

  // Ring of missing packets in ascending extended order; retries === TOMBSTONE marks a removed one.
  #qExt: Float64Array;
  #qDueMs: Float64Array;
  #qRetries: Uint8Array;
  #qHead: number;
  #qLen: number;
  #live: number;

  constructor(opts: NackGeneratorOptions = {}) {
    this.maxMissing = checkInt("maxMissing", opts.maxMissing ?? 1000, 1, 32768);
    this.maxRetries = checkInt("maxRetries", opts.maxRetries ?? 10, 1, 254);
    this.maxGap = checkInt("maxGap", opts.maxGap ?? 3000, 1, 32767);
    this.maxAge = checkInt("maxAge", opts.maxAge ?? 10000, 1, 32767);
    this.reorderDelayMs = opts.reorderDelayMs ?? 0;
    if (!(this.reorderDelayMs >= 0)) throw new RangeError("reorderDelayMs must be >= 0");
    this.recoveredCount = 0;
    this.givenUpCount = 0;
    this.resetCount = 0;
    this.#started = false;
    this.#highestExt = 0;
    // The bitmap must cover every number push() can still place: maxGap back from the newest.
    let window = 32;
    while (window <= this.maxGap) window *= 2;
    this.#bitMask = window - 1;
    this.#received = new Uint32Array(window >> 5);
    this.#qExt = new Float64Array(this.maxMissing);
    this.#qDueMs = new Float64Array(this.maxMissing);
    this.#qRetries = new Uint8Array(this.maxMissing);
    this.#qHead = 0;
    this.#qLen = 0;
    this.#live = 0;
  }

  /** Sequence numbers currently tracked as missing. */
  get missingCount(): number {
    return this.#live;
  }

  /** Records an arrival of `seq` (16-bit); returns a {@link NackPush} code. */
  push(seq: number, nowMs: number): number {
    seq &= 0xffff;
    if (!this.#started) {
      this.#restart(seq);
      return NackPush.ok;
    }
    const d = seqDiff(seq, this.#highestExt);
    if (d === 0) return NackPush.duplicate;
    if (d > this.maxGap || d < -this.maxGap) {
      this.#restart(seq);
      this.resetCount++;
      return NackPush.reset;
    }
    const ext = this.#highestExt + d;
    if (d > 0) {
      const due = nowMs + this.reorderDelayMs;
      // Only the newest maxMissing of a long gap are worth tracking.
      const firstTracked = ext - this.maxMissing > this.#highestExt + 1
        ? ext - this.maxMissing
        : this.#highestExt + 1;
      this.givenUpCount += firstTracked - (this.#highestExt + 1);
      for (let e = this.#highestExt + 1; e < ext; e++) {
        this.#clearBit(e);
        if (e >= firstTracked) this.#append(e, due);
      }
      this.#setBit(ext);
      this.#highestExt = ext;
      this.#dropOlderThan(ext - this.maxAge);
      return NackPush.ok;
    }
    if (this.#hasBit(ext)) return NackPush.duplicate;
    this.#setBit(ext);
    if (this.#remove(ext)) {
      this.recoveredCount++;
      return NackPush.recovered;
    }
    return NackPush.ok;
  }

  /**
   * Writes the sequence numbers to NACK now into `out`, oldest first, and returns the count.
   * Each number is NACKed again at most every max(`rttMs`, 20) ms, and given up after
   * `maxRetries` NACKs (once the last one has had that long to be answered).
   */
  collect(nowMs: number, rttMs: number, out: Uint16Array): number {
    const interval = rttMs > MIN_RETRY_INTERVAL_MS ? rttMs : MIN_RETRY_INTERVAL_MS;
    const cap = this.maxMissing;
    let n = 0;
    let idx = this.#qHead;
    for (let i = 0; i < this.#qLen; i++, idx = idx + 1 === cap ? 0 : idx + 1) {
      const retries = this.#qRetries[idx];
      if (retries === TOMBSTONE || nowMs < this.#qDueMs[idx]) continue;
      if (retries >= this.maxRetries) {
        this.#qRetries[idx] = TOMBSTONE;
        this.#live--;
        this.givenUpCount++;
        continue;
      }
      if (n >= out.length) break;
      out[n++] = this.#qExt[idx] % 65536;
      this.#qRetries[idx] = retries + 1;
      this.#qDueMs[idx] = nowMs + interval;
    }
    this.#trimFront();
    return n;
  }

  /** Forgets everything: the next packet starts a new stream. */
  reset(): void {
    this.#started = false;
    this.#highestExt = 0;
    this.#received.fill(0);
    this.#qHead = 0;
    this.#qLen = 0;
    this.#live = 0;
  }

  #restart(seq: number): void {
    this.reset();
    this.#started = true;
    // Start a whole cycle up so extended numbers stay positive even for reordered early packets.
    this.#highestExt = 65536 + seq;
    this.#setBit(this.#highestExt);
  }

  #setBit(ext: number): void {
    const b = ext & this.#bitMask;
    this.#received[b >> 5] |= 1 << (b & 31);
  }

  #clearBit(ext: number): void {
    const b = ext & this.#bitMask;
    this.#received[b >> 5] &= ~(1 << (b & 31));
  }

  #hasBit(ext: number): boolean {
    const b = ext & this.#bitMask;
    return (this.#received[b >> 5] & (1 << (b & 31))) !== 0;
  }

  #append(ext: number, dueMs: number): void {
    const cap = this.maxMissing;
    if (this.#qLen === cap && this.#live < cap) this.#compact();
    if (this.#qLen === cap) {
      // Still full of live entries: give up on the oldest (libwebrtc drops from the front too).
      this.#qHead = this.#qHead + 1 === cap ? 0 : this.#qHead + 1;
      this.#qLen--;
      this.#live--;
      this.givenUpCount++;
    }
    let tail = this.#qHead + this.#qLen;
    if (tail >= cap) tail -= cap;
    this.#qExt[tail] = ext;
    this.#qDueMs[tail] = dueMs;
    this.#qRetries[tail] = 0;
    this.#qLen++;
    this.#live++;
  }

  /** Tombstones `ext` if it is on the missing list; binary search, as the ring is ascending. */
  #remove(ext: number): boolean {
    const cap = this.maxMissing;
    let lo = 0;
    let hi = this.#qLen - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      let idx = this.#qHead + mid;
      if (idx >= cap) idx -= cap;
      const v = this.#qExt[idx];
      if (v < ext) lo = mid + 1;
      else if (v > ext) hi = mid - 1;
      else {
        if (this.#qRetries[idx] === TOMBSTONE) return false;
        this.#qRetries[idx] = TOMBSTONE;
        this.#live--;
        this.#trimFront();
        return true;
      }
    }
    return false;
  }

  #dropOlderThan(minExt: number): void {
    const cap = this.maxMissing;
    while (this.#qLen > 0 && this.#qExt[this.#qHead] < minExt) {
      if (this.#qRetries[this.#qHead] !== TOMBSTONE) {
        this.#live--;
        this.givenUpCount++;
      }
      this.#qHead = this.#qHead + 1 === cap ? 0 : this.#qHead + 1;
      this.#qLen--;
    }
    this.#trimFront();
  }

  #trimFront(): void {
    const cap = this.maxMissing;
    while (this.#qLen > 0 && this.#qRetries[this.#qHead] === TOMBSTONE) {
      this.#qHead = this.#qHead + 1 === cap ? 0 : this.#qHead + 1;
      this.#qLen--;
    }
  }

  /** Squeezes tombstones out of the ring, keeping order (only when it is full). */
  #compact(): void {
    const cap = this.maxMissing;
    let w = this.#qHead;
    let r = this.#qHead;
    let kept = 0;
    for (let i = 0; i < this.#qLen; i++) {
      if (this.#qRetries[r] !== TOMBSTONE) {
        this.#qExt[w] = this.#qExt[r];
        this.#qDueMs[w] = this.#qDueMs[r];
        this.#qRetries[w] = this.#qRetries[r];
        w = w + 1 === cap ? 0 : w + 1;
        kept++;
      }
      r = r + 1 === cap ? 0 : r + 1;
    }
    this.#qLen = kept;
  }
}
