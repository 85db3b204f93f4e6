/**
 * Per producer video track: the state of each simulcast layer (one SSRC/rid each), measured
 * from packets: activity, bitrate, resolution, key frames, and the layers' rank (simulcast.md
 * §1.2, §1.3).
 *
 * Rank 0 is the lowest layer and equals the `spatialLayerId` shown to viewers. Layers are
 * ranked by measured resolution (width × height from key frames), then by bitrate; never by
 * rid name (OBS's rid "0" is its best layer, browsers' "q" their worst). A reorder needs a
 * material difference (any resolution difference, or > 20 % bitrate) so ranks do not flap.
 *
 * Hot path: `onPacket` per packet (a few number stores, no allocation). `tick` runs from the
 * owner's timer (every 100–250 ms) and rolls windows, activity and ranks; it sets change
 * flags the SSE `layers`/`active`/`inactive` events poll with {@link LayerTracker.takeChanges}.
 *
 * @module
 */

/** Temporal layers tracked per layer (TIDs above are counted as the top one). */
export const MAX_TEMPORAL_LAYERS = 4;

/** Windows a lower top temporal layer must last before the layer reports it. */
const TEMPORAL_DOWN_WINDOWS = 3;

/** Bits returned by {@link LayerTracker.takeChanges}. */
export const LayerChange = {
  /** A layer's rank changed (or a layer was added or removed). */
  ranks: 1,
  /** A layer became active or inactive. */
  activity: 2,
  /** A layer's resolution changed. */
  resolution: 4,
  /** A layer's highest temporal layer changed. */
  temporal: 8,
} as const;

/** Options of {@link LayerTracker}. */
export interface LayerTrackerOptions {
  /** Silence after which a layer is inactive (default 1500 ms, mediasoup). */
  inactiveMs?: number;
  /** Upper bound of the inactivity timeout for low-frame-rate content (default 4000 ms). */
  maxInactiveMs?: number;
  /** Inactivity timeout in frame intervals, for screen content (default 3). */
  inactiveFrames?: number;
  /** Silence after which the current layer counts as stalled, for fast fallback (default 250). */
  stallMs?: number;
  /** Bitrate window (default 1000 ms). */
  windowMs?: number;
  /** Windows averaged for allocation; key frames spike single windows (default 3). */
  meanWindows?: number;
  /** Relative bitrate difference needed to reorder layers of unknown or equal size (0.2). */
  rankBitrateMargin?: number;
}

/** One simulcast layer. Fields are read by the allocator, `/api` and SSE; written here only. */
export class LayerState {
  /** Rank among the track's layers, 0 = lowest; the viewer-facing `spatialLayerId`. */
  rank = -1;
  /** Packets seen within the inactivity timeout. */
  active = false;
  /** Silent longer than the stall timeout (shorter than inactive): fall back early. */
  stalled = false;
  /** When the layer last became active (and unstalled); -1 while inactive. */
  activeSinceMs = -1;
  /** Bitrate of the last complete window, bit/s. */
  bitrateBps = 0;
  /** Mean over the last `meanWindows` windows, bit/s: use for allocation. */
  meanBitrateBps = 0;
  /** From the last key frame; 0 until known. */
  width = 0;
  height = 0;
  lastPacketMs = -1;
  lastKeyFrameMs = -1;
  /** Interval between the last two key frames; 0 until two were seen. */
  keyFrameIntervalMs = 0;
  /** Smoothed interval between frames (RTP timestamp changes); 0 until known. */
  frameIntervalMs = 0;
  packets = 0;
  bytes = 0;
  /** Highest temporal layer id (VP8/VP9 TID) in the last window; -1 when packets carry none. */
  maxTemporalId = -1;
  /**
   * Share of the layer's bytes in temporal layers 0..t, by t (smoothed over windows); 1 for
   * t ≥ {@link maxTemporalId}. Multiply by the bitrate for what a viewer capped at t receives.
   */
  readonly temporalShare = new Float64Array(MAX_TEMPORAL_LAYERS).fill(1);
  /** Frames per second of each temporal layer alone in the last window, by t. */
  readonly temporalFps = new Float64Array(MAX_TEMPORAL_LAYERS);

  /** @internal */ windowBytes = 0;
  /** @internal */ readonly tidBytes = new Float64Array(MAX_TEMPORAL_LAYERS);
  /** @internal */ readonly tidFrames = new Float64Array(MAX_TEMPORAL_LAYERS);
  /** @internal Consecutive windows whose top TID was below {@link maxTemporalId}. */
  tidLowerWindows = 0;
  /** @internal */ lastRtpTs = -1;
  /** @internal */ lastFrameMs = -1;
  /** @internal */ readonly windows: Float64Array;
  /** @internal */ windowCount = 0;
  /** @internal */ windowHead = 0;

  constructor(
    /** Position in {@link LayerTracker.layers}. */
    readonly index: number,
    readonly ssrc: number,
    /** rid from SDP/the rid extension, "" if none. Display only: never used for ranking. */
    readonly rid: string,
    meanWindows: number,
  ) {
    this.windows = new Float64Array(meanWindows);
  }

  /** Whether a key frame has been seen, so the layer can be a switch target. */
  get hasKeyFrame(): boolean {
    return this.lastKeyFrameMs >= 0;
  }

  /** Mean bitrate a viewer capped at temporal layer `tid` receives, bit/s (allocation). */
  temporalBitrateBps(tid: number): number {
    if (tid < 0 || this.maxTemporalId < 0 || tid >= this.maxTemporalId) return this.meanBitrateBps;
    return this.meanBitrateBps * this.temporalShare[Math.min(tid, MAX_TEMPORAL_LAYERS - 1)];
  }

  /** Frame rate a viewer capped at temporal layer `tid` receives, 0 when unknown. */
  temporalFrameRate(tid: number): number {
    let fps = 0;
    const top = this.maxTemporalId < 0 ? 0 : Math.min(tid, MAX_TEMPORAL_LAYERS - 1);
    for (let t = 0; t <= top; t++) fps += this.temporalFps[t];
    return fps;
  }

  /** Milliseconds the layer has been continuously active at `nowMs` (0 if inactive). */
  stableForMs(nowMs: number): number {
    return this.activeSinceMs < 0 || this.stalled ? 0 : nowMs - this.activeSinceMs;
  }
}

/**
 * Tracks the layers of one producer track.
 *
 * @example
 * const tracker = new LayerTracker();
 * const f = tracker.addLayer(ssrc, "f");
 * tracker.onPacket(f, packetBytes, rtpTs, nowMs);   // per packet
 * tracker.onKeyFrame(f, 1280, 720, nowMs);          // from the codec's key-frame header
 * tracker.tick(nowMs);                              // every 100–250 ms
 * if (tracker.takeChanges() & LayerChange.ranks) sendLayersEvent();
 */
export class LayerTracker {
  readonly #inactiveMs: number;
  readonly #maxInactiveMs: number;
  readonly #inactiveFrames: number;
  readonly #stallMs: number;
  readonly #windowMs: number;
  readonly #meanWindows: number;
  readonly #margin: number;
  readonly #layers: LayerState[] = [];
  /** Layers in rank order (index 0 = rank 0). */
  readonly #ranked: LayerState[] = [];
  #changes = 0;
  #windowStartMs = -1;

  constructor(opts: LayerTrackerOptions = {}) {
    this.#inactiveMs = opts.inactiveMs ?? 1500;
    this.#maxInactiveMs = Math.max(opts.maxInactiveMs ?? 4000, this.#inactiveMs);
    this.#inactiveFrames = opts.inactiveFrames ?? 3;
    this.#stallMs = Math.min(opts.stallMs ?? 250, this.#inactiveMs);
    this.#windowMs = opts.windowMs ?? 1000;
    this.#meanWindows = Math.max(1, opts.meanWindows ?? 3);
    this.#margin = opts.rankBitrateMargin ?? 0.2;
  }

  /** All layers in the order they were added (`layer.index`). */
  get layers(): readonly LayerState[] {
    return this.#layers;
  }

  /** The layer of a rank, or undefined. */
  byRank(rank: number): LayerState | undefined {
    return this.#ranked[rank];
  }

  /** The layer of an SSRC, or undefined (setup and RTCP paths; not per packet). */
  bySsrc(ssrc: number): LayerState | undefined {
    for (const l of this.#layers) if (l.ssrc === ssrc) return l;
    return undefined;
  }

  /** The layer of a rid, or undefined. */
  byRid(rid: string): LayerState | undefined {
    for (const l of this.#layers) if (l.rid === rid) return l;
    return undefined;
  }

  /** Adds a layer (on the first packet of a new SSRC). It ranks last until measured. */
  addLayer(ssrc: number, rid = ""): LayerState {
    const layer = new LayerState(this.#layers.length, ssrc, rid, this.#meanWindows);
    layer.rank = this.#ranked.length;
    this.#layers.push(layer);
    this.#ranked.push(layer);
    this.#changes |= LayerChange.ranks;
    return layer;
  }

  /** Removes a layer (publisher replaced or SSRC gone); indexes of later layers shift. */
  removeLayer(layer: LayerState): void {
    const i = this.#layers.indexOf(layer);
    if (i < 0) return;
    this.#layers.splice(i, 1);
    this.#ranked.splice(this.#ranked.indexOf(layer), 1);
    for (let r = 0; r < this.#ranked.length; r++) this.#ranked[r].rank = r;
    // LayerState.index is readonly for consumers; rebuild it for the survivors.
    for (let k = i; k < this.#layers.length; k++) {
      (this.#layers[k] as { index: number }).index = k;
    }
    this.#changes |= LayerChange.ranks;
  }

  /**
   * Counts one packet of `layer`. `rtpTs` detects frame boundaries for the frame interval;
   * `tid` is the packet's temporal layer id (-1: none).
   */
  onPacket(layer: LayerState, sizeBytes: number, rtpTs: number, nowMs: number, tid = -1): void {
    layer.packets++;
    layer.bytes += sizeBytes;
    layer.windowBytes += sizeBytes;
    layer.lastPacketMs = nowMs;
    const t = tid < MAX_TEMPORAL_LAYERS ? tid : MAX_TEMPORAL_LAYERS - 1;
    if (t >= 0) layer.tidBytes[t] += sizeBytes;
    if (rtpTs !== layer.lastRtpTs) {
      // Only a newer timestamp starts a frame (RFC 3550 §A.1 style signed difference).
      if (layer.lastRtpTs < 0 || ((rtpTs - layer.lastRtpTs) | 0) > 0) {
        if (layer.lastFrameMs >= 0) {
          const dt = nowMs - layer.lastFrameMs;
          layer.frameIntervalMs = layer.frameIntervalMs === 0
            ? dt
            : 0.8 * layer.frameIntervalMs + 0.2 * dt;
        }
        layer.lastFrameMs = nowMs;
        layer.lastRtpTs = rtpTs;
        if (t >= 0) layer.tidFrames[t]++;
      }
    }
    if (!layer.active || layer.stalled) {
      if (!layer.active) this.#changes |= LayerChange.activity;
      layer.active = true;
      layer.stalled = false;
      layer.activeSinceMs = nowMs;
    }
  }

  /** Records a key frame; `width`/`height` 0 when the codec header does not carry them. */
  onKeyFrame(layer: LayerState, width: number, height: number, nowMs: number): void {
    if (layer.lastKeyFrameMs >= 0) layer.keyFrameIntervalMs = nowMs - layer.lastKeyFrameMs;
    layer.lastKeyFrameMs = nowMs;
    if (width > 0 && height > 0 && (width !== layer.width || height !== layer.height)) {
      layer.width = width;
      layer.height = height;
      this.#changes |= LayerChange.resolution;
      this.#rank();
    }
  }

  /** Rolls bitrate windows, updates activity and ranks. Call every 100–250 ms. */
  tick(nowMs: number): void {
    if (this.#windowStartMs < 0) this.#windowStartMs = nowMs;
    const elapsed = nowMs - this.#windowStartMs;
    const roll = elapsed >= this.#windowMs;
    for (const l of this.#layers) {
      if (roll) {
        l.bitrateBps = (l.windowBytes * 8 * 1000) / elapsed;
        l.windowBytes = 0;
        l.windows[l.windowHead] = l.bitrateBps;
        l.windowHead = (l.windowHead + 1) % l.windows.length;
        if (l.windowCount < l.windows.length) l.windowCount++;
        let sum = 0;
        for (let k = 0; k < l.windowCount; k++) sum += l.windows[k];
        l.meanBitrateBps = sum / l.windowCount;
        this.#rollTemporal(l, elapsed);
      }
      if (!l.active) continue;
      const silentMs = nowMs - l.lastPacketMs;
      const frames = this.#inactiveFrames * l.frameIntervalMs;
      const inactiveAfter = Math.min(Math.max(this.#inactiveMs, frames), this.#maxInactiveMs);
      if (silentMs >= inactiveAfter) {
        l.active = false;
        l.stalled = true;
        l.activeSinceMs = -1;
        l.bitrateBps = 0;
        this.#changes |= LayerChange.activity;
      } else if (!l.stalled && silentMs >= Math.max(this.#stallMs, frames)) {
        l.stalled = true;
      }
    }
    if (roll) {
      this.#windowStartMs = nowMs;
      this.#rank();
    }
  }

  /** Temporal layers of the window just ended: top TID, byte shares, frame rates. */
  #rollTemporal(l: LayerState, elapsedMs: number): void {
    let top = -1;
    let total = 0;
    for (let t = 0; t < MAX_TEMPORAL_LAYERS; t++) {
      if (l.tidBytes[t] > 0) top = t;
      total += l.tidBytes[t];
    }
    if (total > 0) {
      let below = 0;
      for (let t = 0; t < MAX_TEMPORAL_LAYERS; t++) {
        below += l.tidBytes[t];
        // Half old, half new: a key frame (TID 0) in one window does not swing the shares.
        const share = below / total;
        const known = l.maxTemporalId > t;
        l.temporalShare[t] = t >= top ? 1 : known ? 0.5 * l.temporalShare[t] + 0.5 * share : share;
        l.temporalFps[t] = (l.tidFrames[t] * 1000) / elapsedMs;
        l.tidBytes[t] = 0;
        l.tidFrames[t] = 0;
      }
    }
    // A silent window keeps what was known; packets without temporal ids reset it. A lower top
    // must last a few windows (an encoder short of CPU skips its top layer now and then), so
    // the SSE `layers` event does not flap.
    if (total > 0 || l.bitrateBps > 0) {
      if (top < l.maxTemporalId && top >= 0 && ++l.tidLowerWindows < TEMPORAL_DOWN_WINDOWS) return;
      l.tidLowerWindows = 0;
      if (top !== l.maxTemporalId) {
        if (total === 0) {
          l.temporalShare.fill(1);
          l.temporalFps.fill(0);
        }
        l.maxTemporalId = top;
        this.#changes |= LayerChange.temporal;
      }
    }
  }

  /** Returns and clears the {@link LayerChange} bits accumulated since the last call. */
  takeChanges(): number {
    const c = this.#changes;
    this.#changes = 0;
    return c;
  }

  /** Whether `a` is materially better than `b`. */
  #better(a: LayerState, b: LayerState): boolean {
    // A silent layer keeps its rank: its bitrate decays, its quality when back does not.
    if (!a.active || !b.active) return false;
    const areaA = a.width * a.height;
    const areaB = b.width * b.height;
    if (areaA > 0 && areaB > 0 && areaA !== areaB) return areaA > areaB;
    const ra = a.meanBitrateBps > 0 ? a.meanBitrateBps : a.bitrateBps;
    const rb = b.meanBitrateBps > 0 ? b.meanBitrateBps : b.bitrateBps;
    return ra > rb * (1 + this.#margin);
  }

  /** Bubble passes from the current order: stable unless a pair is materially misordered. */
  #rank(): void {
    const r = this.#ranked;
    let moved = false;
    for (let pass = 0; pass < r.length; pass++) {
      let swapped = false;
      for (let i = 0; i + 1 < r.length; i++) {
        if (this.#better(r[i], r[i + 1])) {
          const t = r[i];
          r[i] = r[i + 1];
          r[i + 1] = t;
          swapped = true;
        }
      }
      if (!swapped) break;
      moved = true;
    }
    if (!moved) return;
    for (let i = 0; i < r.length; i++) r[i].rank = i;
    this.#changes |= LayerChange.ranks;
  }
}
