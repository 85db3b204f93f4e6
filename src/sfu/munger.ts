/**
 * Sequence number and timestamp rewriting for one outbound stream (LiveKit's RTPMunger and
 * RangeMap, mediasoup's SeqManager): a few numbers per consumer.
 *
 * The output SSRC, sequence and timestamp space stay continuous while the source changes
 * (simulcast switch, publisher replaced): at a switch the offsets are re-based so the new
 * source continues at last+1 (last+2 when the old source stopped mid-frame, so the decoder
 * drops the partial frame), with the timestamp advanced by the wall-clock time elapsed.
 *
 * Packets the forwarder drops on purpose (padding, temporal layers above the viewer's target)
 * leave no gap: {@link Munger.drop} on the newest packet moves every later packet down by one.
 * Each such step opens a range in a small ring of (first extended input sequence number,
 * offset), so a packet that arrives late keeps the offset of its own range. A dropped packet
 * that arrives after newer ones were sent cannot be closed up: `drop` reports its slot, and the
 * caller may fill it (e.g. with padding) so the viewer sees no loss.
 *
 * Input sequence numbers are unwrapped against the newest one seen since the switch, so a
 * source can run for any time (the old 16-bit comparison with the switch point refused every
 * packet from 32 768 to 65 535 packets after it).
 *
 * Hot path: map and drop are a few integer operations and, for a late packet, a walk back over
 * the ring; nothing allocates.
 */
import { isSeqNewer, seqDiff } from "../rtp/seq.ts";

/** Outcome of {@link Munger.map} and {@link Munger.drop}. */
export const MungeResult = {
  /** map: outSeq/outTs are set. drop: absorbed, later packets moved down. */
  ok: 0,
  /** From before the current source's first packet: forward nothing. */
  beforeSwitch: 1,
  /** drop only: the packet came late; its output slot (outSeq, outTs) stays empty. */
  gap: 2,
} as const;

/** Ranges kept: each temporal-filtering run opens one; 64 cover seconds of reordering. */
const RANGES = 64;

export class Munger {
  readonly #clockRate: number;
  #tsOffset = 0;
  #started = false;
  /** Extended input sequence number of the current source's first packet. */
  #switchExt = 0;
  /** Newest input packet (forwarded or dropped) since the switch: extended and 16-bit. */
  #highestExt = 0;
  #highestSeq = 0;
  /** Ring of ranges: from this extended input sequence number on, add this offset. */
  readonly #fromExt = new Float64Array(RANGES);
  readonly #offset = new Int32Array(RANGES);
  #head = 0;
  #ranges = 0;
  #lastOutSeq: number;
  #lastOutTs: number;
  #lastOutMs = 0;
  #lastMarker = true;
  /** Results of the last `map` (or of a `drop` that returned `gap`). */
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
    if (tsOffset >= 0) {
      this.#tsOffset = tsOffset >>> 0;
    } else {
      const elapsed = this.#started
        ? Math.max(1, Math.round((nowMs - this.#lastOutMs) * this.#clockRate / 1000))
        : 1;
      this.#tsOffset = (this.#lastOutTs + elapsed - inTs) >>> 0;
    }
    // Extended numbers start at 2^16 + inSeq, so late packets of the source unwrap to ≥ 0.
    const ext = 0x10000 + inSeq;
    this.#switchExt = ext;
    this.#highestExt = ext;
    this.#highestSeq = inSeq;
    this.#head = 0;
    this.#ranges = 1;
    this.#fromExt[0] = ext;
    this.#offset[0] = (nextSeq - inSeq) & 0xffff;
    this.#started = true;
    this.#lastOutMs = nowMs;
  }

  /** Maps a packet of the current source into outSeq/outTs. */
  map(inSeq: number, inTs: number, marker: boolean, nowMs: number): number {
    const ext = this.#unwrap(inSeq);
    if (ext < this.#switchExt) return MungeResult.beforeSwitch;
    if (ext > this.#highestExt) {
      this.#highestExt = ext;
      this.#highestSeq = inSeq;
    }
    const outSeq = (ext + this.#offsetFor(ext)) & 0xffff;
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
   * A packet of the current source is not forwarded (padding, a filtered temporal layer). The
   * newest packet is absorbed: later packets move down by one (`ok`). A late one leaves its slot
   * (`gap`, with outSeq/outTs set) because newer packets already went out around it.
   */
  drop(inSeq: number, inTs: number): number {
    if (!this.#started) return MungeResult.beforeSwitch;
    const ext = this.#unwrap(inSeq);
    if (ext < this.#switchExt) return MungeResult.beforeSwitch;
    if (ext <= this.#highestExt) {
      if (ext === this.#highestExt && this.#fromExt[this.#head] === ext + 1) {
        return MungeResult.ok; // the same packet dropped twice
      }
      this.outSeq = (ext + this.#offsetFor(ext)) & 0xffff;
      this.outTs = (inTs + this.#tsOffset) >>> 0;
      return MungeResult.gap;
    }
    this.#highestExt = ext;
    this.#highestSeq = inSeq;
    const offset = (this.#offset[this.#head] - 1) & 0xffff;
    if (this.#fromExt[this.#head] === ext) {
      // Nothing was mapped in the newest range yet (a run of drops): extend it.
      this.#fromExt[this.#head] = ext + 1;
      this.#offset[this.#head] = offset;
    } else {
      this.#head = (this.#head + 1) % RANGES;
      this.#fromExt[this.#head] = ext + 1;
      this.#offset[this.#head] = offset;
      if (this.#ranges < RANGES) this.#ranges++;
    }
    return MungeResult.ok;
  }

  /** Extended input sequence number, unwrapped against the newest one. */
  #unwrap(inSeq: number): number {
    return this.#highestExt + seqDiff(inSeq, this.#highestSeq);
  }

  /** Offset of the newest range that holds `ext`; the oldest kept for anything older. */
  #offsetFor(ext: number): number {
    let i = this.#head;
    for (let k = 1; k < this.#ranges && ext < this.#fromExt[i]; k++) i = (i + RANGES - 1) % RANGES;
    return this.#offset[i];
  }
}

function randomU16(): number {
  return crypto.getRandomValues(new Uint16Array(1))[0] & 0x7fff;
}

function randomU32(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}
