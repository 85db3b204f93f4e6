/**
 * Recovery probes for a subscriber whose split paused video it wants (simulcast.md §3.2 covers
 * the upgrade probes this complements).
 *
 * Such a subscriber forwards less video than it wants, so no layer upgrade probes, and its
 * estimate, fed by what still flows, cannot grow past it: without recovery it would not see
 * the paused cameras again (the room bench's meetings of 10 and 25 ended with every camera paused
 * and estimates stuck at 30–200 kbit/s). So, on the selection rounds, a paused consumer that
 * has sent before pads on its own SSRC (Consumer.startRecoveryProbe) up to what the paused
 * tracks' lowest layers need on top of the estimate, at most doubling it per step; a success
 * lifts the estimate and the next split resumes tracks. Again 0.5 s after a success while video
 * is still paused, 2 s after a failure, the wait doubling to 30 s.
 *
 * No allocation per round; time is injected.
 *
 * @module
 */
import { type Consumer } from "./consumer.ts";
import { ProbeState } from "./prober.ts";

/** First wait between recovery probes, and the wait again after a success. */
const WAIT_MIN_MS = 2000;
/** The next probe after a successful one, while video is still paused. */
const AFTER_SUCCESS_MS = 500;
/** Longest wait between failed probes. */
const WAIT_MAX_MS = 30_000;
/** A probe asks for paused layers at the split's upgrade band (1.1)… */
const HEADROOM = 1.1;
/** …and 20 % over that, as an upgrade's probe does (LiveKit ProbeOveragePct). */
const PROBE_RATIO = 1.2;

/** One subscriber's recovery probes. */
export class PauseRecovery {
  /** The consumer carrying the cluster under way, if any. */
  #carrier: Consumer | undefined;
  /** No probe before this; the wait doubles after each failed one. */
  #atMs = 0;
  #waitMs = WAIT_MIN_MS;

  /** The consumer carrying the cluster under way, if any. */
  get carrier(): Consumer | undefined {
    return this.#carrier;
  }

  /**
   * A selection round: `shares[i]` is what the split gave `video[i]` (0: paused). Paces the
   * cluster under way, or starts one when wanted video is paused and the wait is over.
   */
  run(nowMs: number, estimateBps: number, video: readonly Consumer[], shares: Float64Array): void {
    if (this.#carrier !== undefined) {
      this.pace(nowMs);
      return;
    }
    // What the paused tracks' lowest layers need on top of the estimate.
    let wantedBps = 0;
    let firstBps = 0;
    let pad: Consumer | undefined;
    for (let i = 0; i < video.length; i++) {
      const c = video[i];
      if (shares[i] !== 0 || c.maxHeight <= 0) continue;
      const bps = lowestLiveBitrate(c) * HEADROOM;
      if (firstBps === 0) firstBps = bps;
      wantedBps += bps;
      if (pad === undefined && c.munger.started) pad = c;
    }
    if (wantedBps === 0) {
      this.#waitMs = WAIT_MIN_MS;
      return;
    }
    if (pad === undefined || nowMs < this.#atMs) return;
    // All of it, but at most double the estimate in one step (at least one track's worth): a
    // cluster far over what the path carries only measures the loss it causes.
    const step = Math.max(firstBps, Math.min(wantedBps, estimateBps));
    if (pad.startRecoveryProbe((estimateBps + step) * PROBE_RATIO, nowMs)) {
      this.#carrier = pad;
      pad.paceRecoveryProbe(nowMs);
    }
    this.#atMs = nowMs + this.#waitMs;
  }

  /**
   * Paces the cluster's padding (every tick: a paused consumer has no packets to follow).
   * A carrier whose probe went idle without a verdict was resumed by the split (resuming
   * cancels its probe): recovery goes on from the new split. (A carrier resumed mid-cluster
   * once held recovery forever: the room bench's 25-person meeting probed once, never again,
   * and delivered 45 % of its video; 66 % with this alone.)
   */
  pace(nowMs: number): void {
    const carrier = this.#carrier;
    if (carrier === undefined) return;
    if (carrier.probeState === ProbeState.idle) {
      this.#carrier = undefined;
      this.#atMs = nowMs + AFTER_SUCCESS_MS;
    } else if (!carrier.paceRecoveryProbe(nowMs)) {
      this.onResult(carrier, false, nowMs); // timed out without covering feedback
    }
  }

  /** The verdict of `consumer`'s cluster (TWCC feedback covered it); others are ignored. */
  onResult(consumer: Consumer, success: boolean, nowMs: number): void {
    if (consumer !== this.#carrier) return;
    this.#carrier = undefined;
    // After a success the next step follows once the split has used the new estimate.
    this.#waitMs = success ? WAIT_MIN_MS : Math.min(this.#waitMs * 2, WAIT_MAX_MS);
    this.#atMs = nowMs + (success ? AFTER_SUCCESS_MS : this.#waitMs);
  }

  /** `consumer` left the subscriber. */
  remove(consumer: Consumer): void {
    if (consumer === this.#carrier) this.#carrier = undefined;
  }
}

/** Mean bitrate of the lowest live layer of a consumer's producer; 0 when none is live. */
function lowestLiveBitrate(consumer: Consumer): number {
  let rank = Infinity;
  let bps = 0;
  for (const l of consumer.producer.tracker.layers) {
    if (l.active && !l.stalled && l.rank < rank && l.meanBitrateBps > 0) {
      rank = l.rank;
      bps = l.meanBitrateBps;
    }
  }
  return bps;
}
