/**
 * Temporal-layer selection for one outbound video track (simulcast.md §2.5 "Temporal"): which
 * pictures of the forwarded layer go to the viewer when it wants fewer temporal layers than the
 * publisher encodes (VP8 TID, VP9 TID).
 *
 * Down: at the next new picture, any time (lower layers never reference higher ones). Up: only
 * at a switch point — a picture that references nothing above its base (VP8 Y bit, VP9 U bit:
 * up to its own layer), a dependency-descriptor frame marked Switch for a decode target (up to
 * that target's layer) — or at a key frame (mediasoup `Codecs/VP8.cpp`, Galène). The decision is taken once per picture, on its first
 * packet to arrive, and remembered for its other packets (a small ring keyed by RTP timestamp),
 * so a picture is forwarded whole or not at all even when its packets are reordered.
 *
 * Hot path: {@link accept} is a few comparisons; nothing allocates.
 *
 * @module
 */

import { tsDiff } from "../rtp/seq.ts";

/** Target meaning "every temporal layer" (VP9's TID has 3 bits). */
export const ALL_TEMPORAL_LAYERS = 7;

/** Pictures remembered for late packets. */
const PICTURES = 16;

/**
 * @example
 * filter.target = 0;                                  // a viewer pinned to the base layer
 * if (!filter.accept(pkt.timestamp, tid, ySync ? tid : -1, key)) dropWithoutGap(pkt);
 */
export class TemporalFilter {
  /** Highest temporal layer the viewer should get ({@link ALL_TEMPORAL_LAYERS}: all). */
  target = ALL_TEMPORAL_LAYERS;
  #current = ALL_TEMPORAL_LAYERS;
  /** Highest TID seen from the current source while filtering. */
  #maxSeen = 0;
  readonly #ts = new Uint32Array(PICTURES);
  readonly #forward = new Uint8Array(PICTURES);
  #head = 0;
  #count = 0;
  #lastTs = 0;
  #lastForward = true;
  #havePicture = false;

  /** Highest temporal layer being forwarded now ({@link ALL_TEMPORAL_LAYERS}: all). */
  get current(): number {
    return this.#current;
  }

  /** Whether any picture may be dropped: the caller needs to read temporal ids only then. */
  get active(): boolean {
    return this.target < ALL_TEMPORAL_LAYERS || this.#current < this.target;
  }

  /** The next packet comes from another source (it starts with a key frame). */
  reset(): void {
    this.#count = 0;
    this.#havePicture = false;
    this.#maxSeen = 0;
  }

  /**
   * Whether to forward a packet of RTP timestamp `ts`, temporal layer `tid` (-1: none), that
   * lets a viewer switch up to temporal layer `syncUpTo` (-1: not a switch point), first packet
   * of a key frame `keyframe`.
   */
  accept(ts: number, tid: number, syncUpTo: number, keyframe: boolean): boolean {
    if (tid < 0) return true;
    if (tid > this.#maxSeen) this.#maxSeen = tid;
    if (this.#havePicture) {
      if (ts === this.#lastTs) return this.#lastForward;
      if (tsDiff(ts, this.#lastTs) < 0) return this.#older(ts, tid);
    }
    let forward: boolean;
    if (keyframe) {
      this.#current = this.target;
      forward = true;
    } else {
      if (this.#current > this.target) this.#current = this.target;
      if (syncUpTo > this.#current && this.#current < this.target) {
        // Up: the top layer seen means all of them (a layer the encoder adds later flows too).
        const up = syncUpTo < this.target ? syncUpTo : this.target;
        this.#current = up >= this.#maxSeen ? this.target : up;
      }
      forward = tid <= this.#current;
    }
    this.#head = (this.#head + 1) % PICTURES;
    this.#ts[this.#head] = ts;
    this.#forward[this.#head] = forward ? 1 : 0;
    if (this.#count < PICTURES) this.#count++;
    this.#lastTs = ts;
    this.#lastForward = forward;
    this.#havePicture = true;
    return forward;
  }

  /** A packet of an earlier picture: as decided then; unknown ones by today's layer. */
  #older(ts: number, tid: number): boolean {
    let i = this.#head;
    for (let k = 0; k < this.#count; k++) {
      if (this.#ts[i] === ts) return this.#forward[i] === 1;
      i = (i + PICTURES - 1) % PICTURES;
    }
    return tid <= this.#current;
  }
}
