/**
 * Per viewer, per video track: which simulcast layer to forward (simulcast.md §3.2, §3.3,
 * §2.7; constants §5).
 *
 * Automatic: budget = estimate − audio − retransmission margin; the target is the highest
 * live layer (active, not stalled, key frame seen, within caps) whose mean bitrate fits, else
 * the lowest live layer (a viewer always gets video while any layer is live). Hysteresis:
 * - estimate changes ≥ 15 % act at once; smaller ones through a 2 s average (JVB ignores them);
 * - down when the budget stays below the current layer 500 ms, or loss ≥ 10 % for 500 ms;
 *   a mild shortfall (budget ≥ 85 % of the layer) waits until 10 s after the last change;
 * - up once the target has been live and stable 2 s (mediasoup `StreamMinActiveMs`), never
 *   within 10 s of a bandwidth downgrade (mediasoup `BweDowngradeConservativeMs`) or of the
 *   last change, and only after a successful probe when probing is on, else after the
 *   estimate has allowed it for 2 s.
 * - Probe back-off (LiveKit's probe controller; libwebrtc stops probing further after a
 *   probe falls short): after a failed probe toward a layer, the next one toward it waits
 *   5 s, then 10, 20, 40, at most 60 s. A probe the allocator withdraws because the estimate
 *   or loss no longer allows its upgrade failed too (LiveKit aborts a congesting probe). The
 *   wait starts over when a probe succeeds, when the estimate jumps by a clear margin
 *   (≥ 25 % within 1 s: more than the GCC increase of 8 %/s, which keeps growing an estimate
 *   the viewer's sending does not fill), or when the layer set changes (live layers, caps,
 *   pins, the forwarded layer).
 * Manual: a pinned rid/spatial layer ignores the estimate; caps (maxWidth, maxHeight,
 * maxSpatial) bound automatic mode.
 * Temporal (VP8/VP9 layers that carry TIDs): a pinned temporal layer is forwarded whatever the
 * estimate; otherwise, in automatic mode, the target layer's temporal layers are trimmed to
 * fit the budget before any spatial step (LiveKit tries lower temporal layers of the same
 * spatial layer first): down after the budget stays short 500 ms, up after it allows the
 * next temporal layer with headroom for 2 s; a new spatial target takes its fit at once. Layer loss falls back at once (the tracker marks a silent
 * layer stalled after max(250 ms, 3 frames)) and restores after the layer is stable 2 s.
 *
 * Runs off the packet path (on feedback, layer changes, or a timer); time is injected.
 *
 * @module
 */

const LOSS_STEP_INTERVAL_MS = 2000;
/** An estimate rise this large within {@link RISE_WINDOW_MS} resets the probe back-off. */
const RISE_RESET_RATIO = 1.25;
const RISE_WINDOW_MS = 1000;
/** Ranks beyond this are left out of the live-layer mask (simulcast has 2–4 layers). */
const MASK_RANKS = 31;

/** Why the target changed; values of the `reason` label of layer-switch metrics. */
export const AllocationReason = {
  none: 0,
  bandwidth: 1,
  manual: 2,
  layerLoss: 3,
  pause: 4,
} as const;
export type AllocationReasonValue = (typeof AllocationReason)[keyof typeof AllocationReason];
/** Label text per {@link AllocationReason} value. */
export const ALLOCATION_REASON_LABELS = [
  "none",
  "bandwidth",
  "manual",
  "layer_loss",
  "pause",
] as const;

/**
 * What the allocator reads of a layer. `LayerState` from `layer-tracker.ts` satisfies it.
 */
export interface AllocatorLayer {
  readonly rank: number;
  readonly rid: string;
  /** Bitrate for allocation: a 2–3 s mean, so key-frame spikes do not count. */
  readonly meanBitrateBps: number;
  readonly active: boolean;
  /** Silent past the fast-fallback timeout (stays usable until then). */
  readonly stalled: boolean;
  readonly hasKeyFrame: boolean;
  /** 0 if unknown. */
  readonly width: number;
  readonly height: number;
  /** How long the layer has been continuously live at `nowMs`. */
  stableForMs(nowMs: number): number;
  /** Highest temporal layer id (VP8/VP9 TID); -1 or absent when packets carry none. */
  readonly maxTemporalId?: number;
  /** Mean bitrate of temporal layers 0..tid together; absent without temporal layers. */
  temporalBitrateBps?(tid: number): number;
}

/** Caps for automatic mode (WHEP layer extension `maxWidth`, `maxHeight`, `maxSpatialLayerId`). */
export interface LayerCaps {
  maxWidth?: number;
  maxHeight?: number;
  maxSpatial?: number;
}

/** Options of {@link LayerAllocator}. */
export interface LayerAllocatorOptions {
  /** A prober exists: upgrades wait for {@link LayerAllocator.onProbeResult} (default false). */
  probing?: boolean;
  /** Share of the estimate kept for retransmissions (default 0.05). */
  retransmissionMargin?: number;
  /** Budget below the current layer this long → down (default 500 ms). */
  downDelayMs?: number;
  /** Without probing, the estimate must allow an upgrade this long (default 2000 ms). */
  upHoldMs?: number;
  /** No spatial upgrade this long after a bandwidth downgrade (default 10 000 ms). */
  noUpgradeAfterDowngradeMs?: number;
  /** At most one change per this interval unless congestion is severe (default 10 000 ms). */
  minChangeIntervalMs?: number;
  /** A layer must be live this long before it becomes an upgrade target (default 2000 ms). */
  stableMs?: number;
  /** An upgrade target must fit `bitrate × upHeadroom` (default 1.1), a band against flapping. */
  upHeadroom?: number;
  /** Relative estimate change ignored (default 0.15). */
  estimateThreshold?: number;
  /** Time constant averaging estimate changes below the threshold (default 2000 ms). */
  smoothingMs?: number;
  /** Budget below this share of the current layer = severe congestion (default 0.85). */
  severeRatio?: number;
  /** Loss fraction that forces a step down (default 0.1). */
  lossThreshold?: number;
  /** Probe at this share of the upgrade target's bitrate (default 1.2, LiveKit). */
  probeRatio?: number;
  /** After a failed probe, wait this long before the next (default 5000 ms). */
  probeBackoffMs?: number;
  /**
   * Each further failed probe toward the same layer doubles the wait, up to this (default
   * 30 000 ms, LiveKit's cap: a backed-off viewer whose link improves without a jump in its
   * estimate waits at most this long for the probe that lets it climb).
   */
  probeBackoffMaxMs?: number;
  /** Pause video when even the lowest layer does not fit (default false: keep the lowest). */
  allowPause?: boolean;
  /** Minimum pause (default 5000 ms, LiveKit `PausedMinWait`). */
  pauseMinMs?: number;
}

/**
 * Chooses the forwarded layer of one viewer track.
 *
 * @example
 * const alloc = new LayerAllocator({ probing: false });
 * if (alloc.update(bwe.estimateBps, bwe.lossFraction, 100_000, tracker.layers, nowMs)) {
 *   forwarder.switchTo(alloc.targetRank); metrics.switches[alloc.reason]++;
 * }
 */
export class LayerAllocator {
  #probing: boolean;
  readonly #margin: number;
  readonly #downDelayMs: number;
  readonly #upHoldMs: number;
  readonly #noUpAfterDownMs: number;
  readonly #minChangeMs: number;
  readonly #stableMs: number;
  readonly #estimateThreshold: number;
  readonly #upHeadroom: number;
  readonly #smoothingMs: number;
  readonly #severeRatio: number;
  readonly #lossThreshold: number;
  readonly #probeRatio: number;
  readonly #probeBackoffMs: number;
  readonly #probeBackoffMaxMs: number;
  readonly #allowPause: boolean;
  readonly #pauseMinMs: number;

  #pinRid: string | undefined = undefined;
  #pinSpatial = -1;
  #maxWidth = Infinity;
  #maxHeight = Infinity;
  #maxSpatial = Infinity;

  #target = -1;
  /** Temporal pin (-1: none) and cap for automatic mode. */
  #pinTemporal = -1;
  #maxTemporal = Infinity;
  /** Target temporal layer, -1 = all of them. */
  #temporal = -1;
  #temporalRank = -1;
  #temporalDownSinceMs = -1;
  #temporalUpSinceMs = -1;
  /** Budget of the last automatic update (Infinity in manual mode or without feedback). */
  #budget = Infinity;
  #reason: AllocationReasonValue = AllocationReason.none;
  #paused = false;
  #pausedAtMs = -Infinity;
  #allocEstimate = -1;
  #allocEstimateAtMs = 0;
  #lastChangeMs = -Infinity;
  #lastDowngradeMs = -Infinity;
  #belowSinceMs = -1;
  #lossSinceMs = -1;
  #upSinceMs = -1;
  #unfitSinceMs = -1;
  /** Rank to go back to once a lost layer is live again (-1 = none). */
  #restoreRank = -1;
  #probeRank = -1;
  #probeBps = 0;
  #probeOk = false;
  /** Back-off after failed probes: the layer they were for (-1: none), when, how long. */
  #failedRank = -1;
  #failedAtMs = -Infinity;
  #backoffMs = 0;
  /** Lowest estimate of the current rise window, and when the window began. */
  #riseFromBps = -1;
  #riseFromMs = 0;
  /** Live ranks as bits, to see the layer set change; -1 before the first update. */
  #liveMask = -1;

  /** Target changes by reason, indexed by {@link AllocationReason}. */
  readonly switches = new Float64Array(5);

  constructor(opts: LayerAllocatorOptions = {}) {
    this.#probing = opts.probing ?? false;
    this.#margin = opts.retransmissionMargin ?? 0.05;
    this.#downDelayMs = opts.downDelayMs ?? 500;
    this.#upHoldMs = opts.upHoldMs ?? 2000;
    this.#noUpAfterDownMs = opts.noUpgradeAfterDowngradeMs ?? 10_000;
    this.#minChangeMs = opts.minChangeIntervalMs ?? 10_000;
    this.#stableMs = opts.stableMs ?? 2000;
    this.#estimateThreshold = opts.estimateThreshold ?? 0.15;
    this.#upHeadroom = opts.upHeadroom ?? 1.1;
    this.#smoothingMs = opts.smoothingMs ?? 2000;
    this.#severeRatio = opts.severeRatio ?? 0.85;
    this.#lossThreshold = opts.lossThreshold ?? 0.1;
    this.#probeRatio = opts.probeRatio ?? 1.2;
    this.#probeBackoffMs = opts.probeBackoffMs ?? 5000;
    this.#probeBackoffMaxMs = Math.max(this.#probeBackoffMs, opts.probeBackoffMaxMs ?? 30_000);
    this.#allowPause = opts.allowPause ?? false;
    this.#pauseMinMs = opts.pauseMinMs ?? 5000;
  }

  /** Rank to forward; -1 before the first allocation or while paused. */
  get targetRank(): number {
    return this.#paused ? -1 : this.#target;
  }

  /** Highest temporal layer to forward; -1 = all of them. */
  get targetTemporal(): number {
    return this.#temporal;
  }

  /**
   * Temporal layers: `pinned` ≥ 0 forwards layers 0..pinned whatever the estimate (-1: none),
   * `max` caps automatic trimming. Independent of spatial pins and caps.
   */
  setTemporal(pinned = -1, max = Infinity): void {
    this.#pinTemporal = pinned;
    this.#maxTemporal = max;
    this.#temporalRank = -1; // re-fit at the next update, without hysteresis
  }

  /** Reason of the last change ({@link AllocationReason}). */
  get reason(): AllocationReasonValue {
    return this.#reason;
  }

  /** Whether a layer is pinned (manual mode). */
  get manual(): boolean {
    return this.#pinRid !== undefined || this.#pinSpatial >= 0;
  }

  /** Bitrate a probe should reach before the pending upgrade, 0 if none is wanted. */
  get probeBitrateBps(): number {
    return this.#probeBps;
  }

  /** Rank the pending probe is for, -1 if none. */
  get probeRank(): number {
    return this.#probeRank;
  }

  /** Whether a probe was asked for and has not answered yet (a prober should run one). */
  get probePending(): boolean {
    return this.#probeRank >= 0 && !this.#probeOk;
  }

  /** How long a probe toward the layer of the last failed one waits after it; 0 if none failed. */
  get probeBackoffMs(): number {
    return this.#backoffMs;
  }

  /**
   * Turns probing on or off, e.g. while the viewer's TWCC feedback flows: without feedback a
   * probe can never succeed, and upgrades fall back to the estimate holding for `upHoldMs`.
   */
  setProbing(enabled: boolean): void {
    if (enabled === this.#probing) return;
    this.#probing = enabled;
    if (!enabled) this.#clearProbe();
  }

  /** Pins a layer by rid (preferred) or spatial id (= rank). Caps are cleared. */
  pin(rid: string | undefined, spatial = -1): void {
    this.#pinRid = rid;
    this.#pinSpatial = rid === undefined ? spatial : -1;
    this.#restoreRank = -1;
    this.#clearCaps();
    this.#resetBackoff();
  }

  /** Automatic mode with caps (pins are cleared). */
  setCaps(caps: LayerCaps): void {
    this.#pinRid = undefined;
    this.#pinSpatial = -1;
    this.#maxWidth = caps.maxWidth ?? Infinity;
    this.#maxHeight = caps.maxHeight ?? Infinity;
    this.#maxSpatial = caps.maxSpatial ?? Infinity;
    this.#restoreRank = -1;
    this.#resetBackoff();
  }

  /** Automatic mode, no caps (`{mediaId}` alone in the layer extension). */
  auto(): void {
    this.setCaps({});
  }

  /** The probe requested by {@link probeBitrateBps} ended. */
  onProbeResult(success: boolean, nowMs: number): void {
    if (this.#probeRank < 0) return;
    if (success) {
      this.#probeOk = true;
      this.#resetBackoff();
    } else {
      this.#probeFailed(nowMs);
    }
  }

  /**
   * Re-evaluates the target. `layers` are the track's layers in any order.
   * @returns true if {@link targetRank} changed (see {@link reason}).
   */
  update(
    estimateBps: number,
    lossFraction: number,
    audioReserveBps: number,
    layers: readonly AllocatorLayer[],
    nowMs: number,
  ): boolean {
    const before = this.targetRank;
    let mask = 0;
    for (const l of layers) if (isLive(l) && l.rank < MASK_RANKS) mask |= 1 << l.rank;
    if (mask !== this.#liveMask) {
      this.#liveMask = mask;
      this.#resetBackoff();
    }
    if (this.manual) {
      this.#budget = Infinity;
      this.#updateManual(layers, nowMs);
    } else {
      this.#updateAuto(estimateBps, lossFraction, audioReserveBps, layers, nowMs);
    }
    this.#updateTemporal(layers, nowMs);
    return this.targetRank !== before;
  }

  #updateTemporal(layers: readonly AllocatorLayer[], nowMs: number): void {
    const rank = this.targetRank;
    let layer: AllocatorLayer | undefined;
    for (const l of layers) if (l.rank === rank) layer = l;
    const top = layer?.maxTemporalId ?? -1;
    const cap = this.#pinTemporal >= 0 ? this.#pinTemporal : this.#maxTemporal;
    const all = (t: number) => (top >= 0 && t >= top) || !Number.isFinite(t) ? -1 : t;
    if (
      layer === undefined || top <= 0 || layer.temporalBitrateBps === undefined ||
      this.#pinTemporal >= 0 || this.manual || !Number.isFinite(this.#budget)
    ) {
      this.#temporal = all(cap);
      this.#temporalRank = rank;
      this.#temporalDownSinceMs = -1;
      this.#temporalUpSinceMs = -1;
      return;
    }
    const budget = this.#budget;
    const max = Math.min(top, cap);
    let fit = max;
    while (fit > 0 && layer.temporalBitrateBps(fit) > budget) fit--;
    let fitUp = max;
    while (fitUp > 0 && layer.temporalBitrateBps(fitUp) * this.#upHeadroom > budget) fitUp--;
    if (rank !== this.#temporalRank) {
      this.#temporalRank = rank;
      this.#temporal = all(fit);
      this.#temporalDownSinceMs = -1;
      this.#temporalUpSinceMs = -1;
      return;
    }
    const current = this.#temporal < 0 ? top : Math.min(this.#temporal, top);
    if (fit < current) {
      this.#temporalUpSinceMs = -1;
      if (this.#temporalDownSinceMs < 0) this.#temporalDownSinceMs = nowMs;
      if (nowMs - this.#temporalDownSinceMs >= this.#downDelayMs) {
        this.#temporal = all(fit);
        this.#temporalDownSinceMs = -1;
      }
    } else if (fitUp > current) {
      this.#temporalDownSinceMs = -1;
      if (this.#temporalUpSinceMs < 0) this.#temporalUpSinceMs = nowMs;
      if (nowMs - this.#temporalUpSinceMs >= this.#upHoldMs) {
        this.#temporal = all(fitUp);
        this.#temporalUpSinceMs = -1;
      }
    } else {
      this.#temporalDownSinceMs = -1;
      this.#temporalUpSinceMs = -1;
    }
  }

  #updateManual(layers: readonly AllocatorLayer[], nowMs: number): void {
    this.#clearProbe();
    this.#paused = false;
    let want: AllocatorLayer | undefined;
    for (const l of layers) {
      if (this.#pinRid !== undefined ? l.rid === this.#pinRid : l.rank === this.#pinSpatial) {
        want = l;
      }
    }
    if (want === undefined) {
      // Unknown pin (the HTTP layer validates rids; a spatial id may exceed the layers).
      const fallback = this.#fallback(layers, Infinity);
      if (fallback >= 0 && this.#target !== fallback) {
        this.#set(fallback, AllocationReason.manual, nowMs);
      }
      return;
    }
    if (this.#target === want.rank && liveAsCurrent(want)) return;
    if (isLive(want)) {
      const restoring = this.#restoreRank === want.rank;
      if (restoring && want.stableForMs(nowMs) < this.#stableMs) return;
      this.#restoreRank = -1;
      this.#set(want.rank, restoring ? AllocationReason.layerLoss : AllocationReason.manual, nowMs);
      return;
    }
    // The pinned layer is not live: nearest live below, else above; come back later.
    const fallback = this.#fallback(layers, want.rank);
    if (fallback < 0) return; // nothing live: feed dry, keep the target
    this.#restoreRank = want.rank;
    this.#set(fallback, AllocationReason.layerLoss, nowMs);
  }

  #updateAuto(
    estimateBps: number,
    lossFraction: number,
    audioReserveBps: number,
    layers: readonly AllocatorLayer[],
    nowMs: number,
  ): void {
    // JVB ignores estimate changes < 15 %: a change that large is adopted at once, a smaller
    // one only through a ~2 s average, so ±10 % noise does not reach the decision.
    // A viewer without feedback gives Infinity (caps only): ∞ − ∞ would poison the average.
    if (
      this.#allocEstimate < 0 || !Number.isFinite(estimateBps) ||
      !Number.isFinite(this.#allocEstimate) ||
      Math.abs(estimateBps - this.#allocEstimate) >= this.#estimateThreshold * this.#allocEstimate
    ) {
      this.#allocEstimate = estimateBps;
    } else {
      const dt = nowMs - this.#allocEstimateAtMs;
      const a = dt > 0 ? 1 - Math.exp(-dt / this.#smoothingMs) : 0;
      this.#allocEstimate += a * (estimateBps - this.#allocEstimate);
    }
    this.#allocEstimateAtMs = nowMs;
    this.#watchRise(estimateBps, nowMs);
    const budget = this.#allocEstimate * (1 - this.#margin) - audioReserveBps;
    this.#budget = budget;

    // Highest live layer within caps that fits; else the lowest live within caps; else any.
    let fit: AllocatorLayer | undefined;
    let fitUp: AllocatorLayer | undefined;
    let lowestCapped: AllocatorLayer | undefined;
    let lowestAny: AllocatorLayer | undefined;
    let current: AllocatorLayer | undefined;
    for (const l of layers) {
      if (l.rank === this.#target) current = l;
      if (!isLive(l)) continue;
      if (lowestAny === undefined || l.rank < lowestAny.rank) lowestAny = l;
      if (!this.#withinCaps(l)) continue;
      if (lowestCapped === undefined || l.rank < lowestCapped.rank) lowestCapped = l;
      if (l.meanBitrateBps <= budget && (fit === undefined || l.rank > fit.rank)) fit = l;
      if (
        l.meanBitrateBps * this.#upHeadroom <= budget &&
        (fitUp === undefined || l.rank > fitUp.rank)
      ) fitUp = l;
    }
    const fits = fit !== undefined;
    if (fit === undefined) fit = lowestCapped ?? lowestAny;
    if (fit === undefined) {
      // Nothing live: the forwarder pauses ("feed dry"); the target stays for the resume.
      this.#clearProbe();
      return;
    }

    if (this.#pauseCheck(fits, fit, nowMs)) return;

    if (this.#target < 0) {
      this.#set(fit.rank, AllocationReason.bandwidth, nowMs);
      return;
    }

    // Layer loss: the current layer went silent → best live layer not above it, at once.
    if (current === undefined || !liveAsCurrent(current)) {
      const fallback = this.#fallback(layers, Math.min(this.#target, fit.rank));
      const rank = fallback >= 0 ? fallback : fit.rank;
      if (this.#restoreRank < 0) this.#restoreRank = this.#target;
      this.#resetTimers();
      this.#set(rank, AllocationReason.layerLoss, nowMs);
      return;
    }

    // Restore a lost layer once it is stable again, if bandwidth still allows it. Until then
    // the ordinary rules below apply (a collapse still moves down).
    if (this.#restoreRank >= 0) {
      if (this.#restoreRank <= this.#target) this.#restoreRank = -1;
      for (const l of layers) {
        if (l.rank !== this.#restoreRank || !isLive(l)) continue;
        if (l.meanBitrateBps > budget || !this.#withinCaps(l)) {
          this.#restoreRank = -1; // back, but bandwidth no longer allows it
        } else if (l.stableForMs(nowMs) >= this.#stableMs) {
          this.#restoreRank = -1;
          this.#resetTimers();
          this.#set(l.rank, AllocationReason.layerLoss, nowMs);
          return;
        }
      }
    }

    // Down.
    if (fit.rank < this.#target) {
      if (this.#belowSinceMs < 0) this.#belowSinceMs = nowMs;
      const severe = budget < current.meanBitrateBps * this.#severeRatio;
      if (
        nowMs - this.#belowSinceMs >= this.#downDelayMs &&
        (severe || nowMs - this.#lastChangeMs >= this.#minChangeMs)
      ) {
        this.#downgrade(fit.rank, nowMs);
        return;
      }
    } else {
      this.#belowSinceMs = -1;
    }
    if (lossFraction >= this.#lossThreshold) {
      if (this.#lossSinceMs < 0) this.#lossSinceMs = nowMs;
      // The loss figure describes a ~1 s window: let one step take effect before the next.
      if (
        nowMs - this.#lossSinceMs >= this.#downDelayMs &&
        nowMs - this.#lastDowngradeMs >= LOSS_STEP_INTERVAL_MS
      ) {
        const lower = this.#fallback(layers, this.#target - 1);
        if (lower >= 0 && lower < this.#target) {
          this.#downgrade(lower, nowMs);
          return;
        }
      }
    } else {
      this.#lossSinceMs = -1;
    }

    // Up, with headroom.
    const up = fitUp;
    if (up !== undefined && up.rank > this.#target && lossFraction < this.#lossThreshold) {
      if (this.#upSinceMs < 0) this.#upSinceMs = nowMs;
      const blocked = nowMs - this.#lastDowngradeMs < this.#noUpAfterDownMs ||
        nowMs - this.#lastChangeMs < this.#minChangeMs ||
        up.stableForMs(nowMs) < this.#stableMs;
      if (blocked) {
        this.#clearProbe();
        return;
      }
      if (this.#probing) {
        if (this.#probeRank === up.rank && this.#probeOk) {
          this.#resetTimers();
          this.#set(up.rank, AllocationReason.bandwidth, nowMs);
          return;
        }
        if (this.#probeRank > up.rank && !this.#probeOk) {
          // The estimate fell below the layer the probe under way is for.
          this.#probeFailed(nowMs);
        }
        if (this.#probeRank !== up.rank && this.#mayProbe(up.rank, nowMs)) {
          this.#probeRank = up.rank;
          this.#probeBps = up.meanBitrateBps * this.#probeRatio;
          this.#probeOk = false;
        }
        return;
      }
      if (nowMs - this.#upSinceMs >= this.#upHoldMs) {
        this.#resetTimers();
        this.#set(up.rank, AllocationReason.bandwidth, nowMs);
      }
    } else {
      this.#upSinceMs = -1;
      // A probe under way whose upgrade the estimate or loss no longer allows has failed.
      if (this.#probeRank >= 0 && !this.#probeOk) this.#probeFailed(nowMs);
      else this.#clearProbe();
    }
  }

  /** A probe toward `rank` may start: no back-off for it, or its wait is over. */
  #mayProbe(rank: number, nowMs: number): boolean {
    if (this.#failedRank < 0) return true;
    // Below the failed layer a smaller ask waits only the base interval; the link has just
    // been congested by the failed probe.
    const wait = rank < this.#failedRank ? this.#probeBackoffMs : this.#backoffMs;
    return nowMs - this.#failedAtMs >= wait;
  }

  #probeFailed(nowMs: number): void {
    const rank = this.#probeRank;
    this.#backoffMs = rank === this.#failedRank
      ? Math.min(2 * this.#backoffMs, this.#probeBackoffMaxMs)
      : this.#probeBackoffMs;
    this.#failedRank = rank;
    this.#failedAtMs = nowMs;
    this.#riseFromBps = -1;
    this.#clearProbe();
  }

  #resetBackoff(): void {
    this.#failedRank = -1;
    this.#failedAtMs = -Infinity;
    this.#backoffMs = 0;
  }

  /**
   * Resets the back-off when the estimate jumps. A rise within a 1 s window is measured from
   * the window's lowest estimate: GCC's steady increase (8 %/s) never gets there, while its
   * estimate keeps growing for a viewer whose layer does not fill the link, so a rise over
   * a longer time says nothing about the link.
   */
  #watchRise(estimateBps: number, nowMs: number): void {
    if (this.#failedRank < 0 || !Number.isFinite(estimateBps)) return;
    if (
      this.#riseFromBps < 0 || estimateBps < this.#riseFromBps ||
      nowMs - this.#riseFromMs >= RISE_WINDOW_MS
    ) {
      this.#riseFromBps = estimateBps;
      this.#riseFromMs = nowMs;
    } else if (estimateBps >= RISE_RESET_RATIO * this.#riseFromBps) {
      this.#resetBackoff();
    }
  }

  /** Optional pause when even the lowest layer does not fit (LiveKit `AllowPause`). */
  #pauseCheck(fits: boolean, fit: AllocatorLayer, nowMs: number): boolean {
    if (!this.#allowPause) return false;
    if (this.#paused) {
      if (fits && nowMs - this.#pausedAtMs >= this.#pauseMinMs) {
        this.#paused = false;
        this.#resetTimers();
        this.#set(fit.rank, AllocationReason.bandwidth, nowMs);
      }
      return true;
    }
    if (fits) {
      this.#unfitSinceMs = -1;
      return false;
    }
    if (this.#unfitSinceMs < 0) this.#unfitSinceMs = nowMs;
    if (nowMs - this.#unfitSinceMs < this.#downDelayMs) return false;
    this.#paused = true;
    this.#pausedAtMs = nowMs;
    this.#reason = AllocationReason.pause;
    this.switches[AllocationReason.pause]++;
    this.#lastChangeMs = nowMs;
    this.#lastDowngradeMs = nowMs;
    return true;
  }

  #downgrade(rank: number, nowMs: number): void {
    this.#resetTimers();
    this.#lastDowngradeMs = nowMs;
    this.#set(rank, AllocationReason.bandwidth, nowMs);
  }

  /** Highest live layer at or below `maxRank`, else the lowest live one above; -1 if none. */
  #fallback(layers: readonly AllocatorLayer[], maxRank: number): number {
    let below = -1;
    let above = -1;
    for (const l of layers) {
      if (!isLive(l) && !(l.rank === this.#target && liveAsCurrent(l))) continue;
      if (l.rank <= maxRank) {
        if (l.rank > below) below = l.rank;
      } else if (above < 0 || l.rank < above) {
        above = l.rank;
      }
    }
    return below >= 0 ? below : above;
  }

  #withinCaps(l: AllocatorLayer): boolean {
    if (l.rank > this.#maxSpatial) return false;
    if (l.width > 0 && l.width > this.#maxWidth) return false;
    if (l.height > 0 && l.height > this.#maxHeight) return false;
    return true;
  }

  #set(rank: number, reason: AllocationReasonValue, nowMs: number): void {
    if (rank === this.#target && !this.#paused) return;
    this.#target = rank;
    this.#paused = false;
    this.#reason = reason;
    this.#lastChangeMs = nowMs;
    this.switches[reason]++;
    this.#clearProbe();
    this.#resetBackoff();
  }

  #resetTimers(): void {
    this.#belowSinceMs = -1;
    this.#lossSinceMs = -1;
    this.#upSinceMs = -1;
  }

  #clearProbe(): void {
    this.#probeRank = -1;
    this.#probeBps = 0;
    this.#probeOk = false;
  }

  #clearCaps(): void {
    this.#maxWidth = Infinity;
    this.#maxHeight = Infinity;
    this.#maxSpatial = Infinity;
  }
}

/** A valid switch target: sending, not stalled, and a key frame has been seen. */
function isLive(l: AllocatorLayer): boolean {
  return l.active && !l.stalled && l.hasKeyFrame;
}

/** Good enough to keep forwarding: sending and not stalled. */
function liveAsCurrent(l: AllocatorLayer): boolean {
  return l.active && !l.stalled;
}
