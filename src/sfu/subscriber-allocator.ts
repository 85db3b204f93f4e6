/**
 * One subscriber's bandwidth, split across its video tracks (rooms.md §8). Each track's
 * LayerAllocator then chooses a layer within its share, with its own hysteresis, probing and
 * temporal trimming: this file only decides who gets how much.
 *
 * 1. Budget = estimate × (1 − retransmission margin) − audio reserve: audio is never starved.
 * 2. Order: stage (pinned) > screen share > active speaker's camera > other cameras >
 *    thumbnails; ties keep the subscriber's order.
 * 3. Pass 1: each wanted track (maxHeight > 0) gets its lowest live layer while it fits; stage
 *    and screen get theirs even when it does not (a screen nobody can read is worse than a
 *    late thumbnail); what does not fit gets a share of 0 (paused).
 * 4. Pass 2: in order, each track climbs a layer at a time while the next step fits, before
 *    the next track climbs (rooms.md raised all tracks round by round; then on a constrained
 *    link thumbnails climb beside the stage and the stage never reaches 720p).
 * 5. What is left goes to the first track, so its allocator can probe upward.
 * 6. A wanted track left at 0 cannot probe for itself (it forwards nothing): the subscriber
 *    probes for it with padding on a paused consumer (pause-recovery.ts).
 *
 * Costs are planned at `upHeadroom` × the layer's mean bitrate, the same band the
 * LayerAllocator demands before an upgrade, so a share confirms the layer it was planned for.
 *
 * A subscriber with one video track (every WHEP viewer) gets the whole estimate, as before the
 * split existed: the LayerAllocator's own budget arithmetic is then exactly what it was.
 *
 * Runs on the subscriber's tick (every 100 ms), never per packet; preallocates its scratch.
 */
import type { AllocatorLayer } from "./allocator.ts";

/** Priority of a video track for one subscriber; lower is served first. */
export const TrackPriority = {
  stage: 0,
  screen: 1,
  speaker: 2,
  camera: 3,
  thumbnail: 4,
} as const;
export type TrackPriorityValue = (typeof TrackPriority)[keyof typeof TrackPriority];

/** What the split reads of one video track. */
export interface AllocationTrack {
  readonly priority: TrackPriorityValue;
  /** Highest picture height the receiver wants; 0 = none (hidden or paused), Infinity = any. */
  readonly maxHeight: number;
  readonly layers: readonly AllocatorLayer[];
}

export interface SubscriberAllocatorOptions {
  /** Share of the estimate kept for retransmissions (default 0.05, as the LayerAllocator). */
  retransmissionMargin?: number;
  /** Cost of a layer = mean bitrate × this (default 1.1, the LayerAllocator's upgrade band). */
  upHeadroom?: number;
}

const MAX_TRACKS = 64;

export class SubscriberAllocator {
  readonly #margin: number;
  readonly #headroom: number;
  /** Per track (index into the caller's array): the rank planned, -1 none. */
  readonly #rank = new Int32Array(MAX_TRACKS);
  readonly #order = new Int32Array(MAX_TRACKS);
  /** Budget left after the last split, bit/s (for tests and the API). */
  leftoverBps = 0;

  constructor(options: SubscriberAllocatorOptions = {}) {
    this.#margin = options.retransmissionMargin ?? 0.05;
    this.#headroom = options.upHeadroom ?? 1.1;
  }

  /**
   * Writes into `estimates[i]` the estimate to give track i's LayerAllocator (to be used with an
   * audio reserve of `reserveOut[0]`): Infinity without feedback, 0 for a track that should pause.
   */
  split(
    estimateBps: number,
    audioReserveBps: number,
    tracks: readonly AllocationTrack[],
    estimates: Float64Array,
    reserveOut: Float64Array,
  ): void {
    const n = Math.min(tracks.length, MAX_TRACKS);
    reserveOut[0] = 0;
    if (!Number.isFinite(estimateBps)) {
      for (let i = 0; i < n; i++) estimates[i] = tracks[i].maxHeight > 0 ? Infinity : 0;
      this.leftoverBps = Infinity;
      return;
    }
    let wanted = 0;
    let only = -1;
    for (let i = 0; i < n; i++) {
      if (tracks[i].maxHeight > 0) {
        wanted++;
        only = i;
      }
    }
    if (wanted <= 1) {
      for (let i = 0; i < n; i++) estimates[i] = i === only ? estimateBps : 0;
      reserveOut[0] = audioReserveBps;
      this.leftoverBps = 0;
      return;
    }
    const order = this.#order;
    const rank = this.#rank;
    for (let i = 0; i < n; i++) {
      order[i] = i;
      rank[i] = -1;
    }
    // Insertion sort by priority: stable, no allocation, n is small.
    for (let i = 1; i < n; i++) {
      const v = order[i];
      let j = i - 1;
      while (j >= 0 && tracks[order[j]].priority > tracks[v].priority) {
        order[j + 1] = order[j];
        j--;
      }
      order[j + 1] = v;
    }
    let left = estimateBps * (1 - this.#margin) - audioReserveBps;
    // Pass 1: the lowest live layer of each wanted track, in order.
    for (let k = 0; k < n; k++) {
      const i = order[k];
      const track = tracks[i];
      if (track.maxHeight <= 0) continue;
      const lowest = this.#next(track, -1);
      if (lowest === undefined) continue;
      const cost = lowest.meanBitrateBps * this.#headroom;
      const mustShow = track.priority <= TrackPriority.screen;
      if (cost <= left || mustShow) {
        rank[i] = lowest.rank;
        left -= cost;
      }
    }
    // Pass 2: in order, each track climbs while its next step fits, before the next track
    // climbs at all: the stage goes to 720p before a thumbnail leaves 180p.
    for (let k = 0; k < n; k++) {
      const i = order[k];
      if (rank[i] < 0) continue;
      const track = tracks[i];
      for (;;) {
        const current = layerOfRank(track.layers, rank[i]);
        const next = this.#next(track, rank[i]);
        if (current === undefined || next === undefined) break;
        const step = (next.meanBitrateBps - current.meanBitrateBps) * this.#headroom;
        if (step > left) break;
        rank[i] = next.rank;
        left -= step;
      }
    }
    this.leftoverBps = Math.max(0, left);
    let first = -1;
    for (let k = 0; k < n; k++) {
      const i = order[k];
      if (rank[i] < 0) {
        estimates[i] = 0;
        continue;
      }
      if (first < 0) first = i;
      const layer = layerOfRank(tracks[i].layers, rank[i])!;
      estimates[i] = layer.meanBitrateBps * this.#headroom;
    }
    if (first >= 0) estimates[first] += this.leftoverBps;
    // Back into estimate units: each LayerAllocator takes its margin off again.
    for (let i = 0; i < n; i++) {
      if (estimates[i] > 0) estimates[i] = estimates[i] / (1 - this.#margin);
    }
  }

  /** The next live layer above `rank` within the track's height (lowest when rank = -1). */
  #next(track: AllocationTrack, rank: number): AllocatorLayer | undefined {
    let best: AllocatorLayer | undefined;
    for (const l of track.layers) {
      if (!l.active || l.stalled || l.rank <= rank) continue;
      // Unknown heights (0) pass: the tracker learns them from the first key frame.
      if (l.height > track.maxHeight && rank >= 0) continue;
      if (best === undefined || l.rank < best.rank) best = l;
    }
    return best;
  }
}

function layerOfRank(layers: readonly AllocatorLayer[], rank: number): AllocatorLayer | undefined {
  for (const l of layers) if (l.rank === rank) return l;
  return undefined;
}
