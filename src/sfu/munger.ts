/**
 * Sequence number and timestamp rewriting for one outbound stream (LiveKit's RTPMunger,
 * mediasoup's SeqManager): a few numbers per consumer.
 *
 * The output SSRC, sequence and timestamp space stay continuous while the source changes
 * (simulcast switch, publisher replaced): at a switch the offsets are re-based so the new
 * source continues at last+1 (last+2 when the old source stopped mid-frame, so the decoder
 * drops the partial frame), with the timestamp advanced by the wall-clock time elapsed.
 */
import { isSeqNewer, seqDiff } from "../rtp/seq.ts";

/** Outcome of `map`. */
export const MungeResult = { ok: 0, beforeSwitch: 1 } as const;

export class Munger {
  readonly #clockRate: number;
  #seqOffset = 0;
  #tsOffset = 0;
  #started = false;
  #switchSeq = 0;
  #lastOutSeq: number;
  #lastOutTs: number;
  #lastOutMs = 0;
  #lastMarker = true;
  /** Results of the last `map`. */
  outSeq = 0;
  outTs = 0;

  constructor(clockRate: number, initialSeq = randomU16(), initialTs = randomU32()) {
    this.#clockRate = clockRate;
    this.#lastOutSeq = (initialSeq - 1) & 0xffff;
    this.#lastOutTs = initialTs >>> 0;
  }

  /** Whether a source has been set. */
  get started(): boolean {
    return this.#started;
  }

  get lastOutSeq(): number {
    return this.#lastOutSeq;
  }

  get lastOutTs(): number {
    return this.#lastOutTs;
  }

  /** Arrival time (ms) of the packet that carried `lastOutTs`. */
  get lastOutMs(): number {
    return this.#lastOutMs;
  }

  /** Output timestamp offset, for rewriting sender reports. */
  get tsOffset(): number {
    return this.#tsOffset;
  }

  /**
   * Starts taking packets from a new source at (inSeq, inTs), arriving at nowMs. `tsOffset`,
   * when given, is an aligned offset (from sender reports); otherwise wall-clock time is used.
   */
  switchTo(inSeq: number, inTs: number, nowMs: number, tsOffset = -1): void {
    const gap = this.#started && !this.#lastMarker ? 2 : 1;
    const nextSeq = (this.#lastOutSeq + gap) & 0xffff;
    this.#seqOffset = (nextSeq - inSeq) & 0xffff;
    if (tsOffset >= 0) {
      this.#tsOffset = tsOffset >>> 0;
    } else {
      const elapsed = this.#started
        ? Math.max(1, Math.round((nowMs - this.#lastOutMs) * this.#clockRate / 1000))
        : 1;
      this.#tsOffset = (this.#lastOutTs + elapsed - inTs) >>> 0;
    }
    this.#switchSeq = inSeq;
    this.#started = true;
    this.#lastOutMs = nowMs;
  }

  /** Maps a packet of the current source into outSeq/outTs. */
  map(inSeq: number, inTs: number, marker: boolean, nowMs: number): number {
    if (seqDiff(inSeq, this.#switchSeq) < 0) return MungeResult.beforeSwitch;
    const outSeq = (inSeq + this.#seqOffset) & 0xffff;
    const outTs = (inTs + this.#tsOffset) >>> 0;
    this.outSeq = outSeq;
    this.outTs = outTs;
    if (isSeqNewer(outSeq, this.#lastOutSeq)) {
      this.#lastOutSeq = outSeq;
      this.#lastOutTs = outTs;
      this.#lastOutMs = nowMs;
      this.#lastMarker = marker;
    }
    return MungeResult.ok;
  }

  /**
   * Consumes the newest packet without sending it (padding-only): later packets shift down by
   * one so the output has no gap. An older packet cannot be skipped this way and is just dropped.
   */
  skip(inSeq: number): void {
    const outSeq = (inSeq + this.#seqOffset) & 0xffff;
    if (isSeqNewer(outSeq, this.#lastOutSeq)) this.#seqOffset = (this.#seqOffset - 1) & 0xffff;
  }
}

function randomU16(): number {
  return crypto.getRandomValues(new Uint16Array(1))[0] & 0x7fff;
}

function randomU32(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}
