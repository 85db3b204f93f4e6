/**
 * Bandwidth probe before a simulcast upgrade (simulcast.md §3.2): for a few hundred ms the
 * transport is pushed to the upgrade target's rate (120 % of the next layer, LiveKit
 * `ProbeOveragePct`) by padding-only packets on top of the media, and the viewer's TWCC feedback
 * tells whether that rate arrived.
 *
 * The prober only plans and measures; the consumer writes the padding packets. A cluster is the
 * range of transport-wide sequence numbers from the first to the last padding packet: media and
 * audio sent in between load the path too, so they count toward the measured rate.
 *
 * The measurement follows the idea of libwebrtc's ProbeBitrateEstimator: send rate over the
 * send interval (without the last packet sent), receive rate over the receive interval (without
 * the first packet received), the lower of the two, and enough of the cluster must arrive.
 *
 * No allocation after construction; time is injected.
 *
 * @module
 */
import type { TwccFeedback } from "../rtp/twcc-reader.ts";
import type { SendHistory } from "./send-history.ts";

/** State of a {@link Prober}. */
export const ProbeState = {
  /** No probe under way. */
  idle: 0,
  /** Padding is being paced out. */
  sending: 1,
  /** All padding sent; waiting for feedback that covers the cluster. */
  measuring: 2,
} as const;
export type ProbeStateValue = (typeof ProbeState)[keyof typeof ProbeState];

/** What {@link Prober.onFeedback} and {@link Prober.poll} report. */
export const ProbeOutcome = { pending: 0, success: 1, failure: 2 } as const;
export type ProbeOutcomeValue = (typeof ProbeOutcome)[keyof typeof ProbeOutcome];

/** Options of {@link Prober}. */
export interface ProberOptions {
  /** How long padding is paced out (default 400 ms). */
  durationMs?: number;
  /** Bytes of one padding packet on the wire, as written by the consumer (default 280). */
  packetBytes?: number;
  /** At least this many padding packets per cluster (default 5, as libwebrtc). */
  minPackets?: number;
  /** At most this many padding packets per call of {@link due} (default 24). */
  maxBurst?: number;
  /** Success needs a measured rate ≥ this share of the target (default 0.9). */
  successRatio?: number;
  /** Share of the cluster that must be reported received (default 0.8, libwebrtc). */
  minReceivedRatio?: number;
  /** Give up this long after the last padding packet without covering feedback (default 1000 ms). */
  resultTimeoutMs?: number;
}

/** Largest cluster span in transport-wide sequence numbers that is tracked. */
const MAX_SPAN = 2048;
const LOST = 1;
const RECEIVED = 2;

/**
 * One probe at a time for one viewer track.
 *
 * @example
 * prober.start(1_200_000, 700_000, nowMs);
 * for (let n = prober.due(nowMs); n > 0; n--) { const seq = link.nextTransportSequence(); send(seq); prober.onSent(seq); }
 * if (prober.onFeedback(fb, history, overusing, nowMs) === ProbeOutcome.success) bwe.onProbeResult(prober.resultBps, nowMs);
 */
export class Prober {
  readonly #durationMs: number;
  readonly #packetBytes: number;
  readonly #minPackets: number;
  readonly #maxBurst: number;
  readonly #successRatio: number;
  readonly #minReceivedRatio: number;
  readonly #resultTimeoutMs: number;
  /** Per cluster offset (transport-wide seq − first): 0 unreported, LOST, RECEIVED. */
  readonly #reported = new Uint8Array(MAX_SPAN);
  /** Per cluster offset: arrival time reported by the viewer, µs. */
  readonly #arrivalUs = new Float64Array(MAX_SPAN);

  #state: ProbeStateValue = ProbeState.idle;
  #targetBps = 0;
  #startMs = 0;
  #endMs = 0;
  #packetsPlanned = 0;
  #packetsSent = 0;
  #firstSeq = -1;
  #span = 0;
  #overuse = false;

  /** Rate measured by the last finished cluster, bit/s (0 if none or too little arrived). */
  resultBps = 0;

  constructor(opts: ProberOptions = {}) {
    this.#durationMs = opts.durationMs ?? 400;
    this.#packetBytes = opts.packetBytes ?? 280;
    this.#minPackets = opts.minPackets ?? 5;
    this.#maxBurst = opts.maxBurst ?? 24;
    this.#successRatio = opts.successRatio ?? 0.9;
    this.#minReceivedRatio = opts.minReceivedRatio ?? 0.8;
    this.#resultTimeoutMs = opts.resultTimeoutMs ?? 1000;
  }

  get state(): ProbeStateValue {
    return this.#state;
  }

  /** Total rate the cluster aims at, bit/s (media + padding). */
  get targetBps(): number {
    return this.#targetBps;
  }

  /** Padding packets planned for the cluster under way. */
  get packetsPlanned(): number {
    return this.#packetsPlanned;
  }

  /** Padding packets sent in the cluster under way. */
  get packetsSent(): number {
    return this.#packetsSent;
  }

  /**
   * Starts a cluster reaching `targetBps` in total while media runs at `mediaBps`: padding at
   * the difference, for the configured duration. Returns false if a probe is under way.
   */
  start(targetBps: number, mediaBps: number, nowMs: number): boolean {
    if (this.#state !== ProbeState.idle || !(targetBps > 0)) return false;
    const paddingBps = Math.max(0, targetBps - Math.max(0, mediaBps));
    const bytes = paddingBps * this.#durationMs / 8000;
    this.#packetsPlanned = Math.max(this.#minPackets, Math.ceil(bytes / this.#packetBytes));
    this.#targetBps = targetBps;
    this.#startMs = nowMs;
    this.#endMs = nowMs;
    this.#packetsSent = 0;
    this.#firstSeq = -1;
    this.#span = 0;
    this.#overuse = false;
    this.#reported.fill(0);
    this.resultBps = 0;
    this.#state = ProbeState.sending;
    return true;
  }

  /** Drops the probe under way (the upgrade it was for is no longer wanted). */
  cancel(): void {
    this.#state = ProbeState.idle;
  }

  /**
   * Padding packets to send now to stay on the planned pace (linear over the duration),
   * at most `maxBurst`. Past twice the duration the rest is dropped: a probe spread too thin
   * measures nothing.
   */
  due(nowMs: number): number {
    if (this.#state !== ProbeState.sending) return 0;
    const elapsed = nowMs - this.#startMs;
    if (elapsed > 2 * this.#durationMs) {
      this.#finishSending(nowMs);
      return 0;
    }
    const share = elapsed >= this.#durationMs ? 1 : Math.max(0, elapsed) / this.#durationMs;
    // The first burst goes at once, so a short cluster is not all at its end.
    const planned = Math.max(1, Math.ceil(share * this.#packetsPlanned));
    const n = Math.min(this.#maxBurst, planned - this.#packetsSent);
    return n > 0 ? n : 0;
  }

  /** Records one padding packet sent under transport-wide sequence `twccSeq`. */
  onSent(twccSeq: number, nowMs: number): void {
    if (this.#state !== ProbeState.sending) return;
    const seq = twccSeq & 0xffff;
    if (this.#firstSeq < 0) this.#firstSeq = seq;
    const span = (seq - this.#firstSeq) & 0xffff;
    if (span >= MAX_SPAN) {
      this.#finishSending(nowMs);
      return;
    }
    this.#span = span;
    this.#packetsSent++;
    if (this.#packetsSent >= this.#packetsPlanned) this.#finishSending(nowMs);
  }

  #finishSending(nowMs: number): void {
    this.#endMs = nowMs;
    this.#state = this.#packetsSent > 0 ? ProbeState.measuring : ProbeState.idle;
  }

  /**
   * Feeds one TWCC feedback; `overusing` is the delay detector's verdict after it (overuse
   * fails the cluster and ends its padding at once). Returns
   * {@link ProbeOutcome.success} or `failure` once the feedback covers the whole cluster
   * (then {@link resultBps} holds the measured rate and the prober is idle again).
   */
  onFeedback(
    fb: TwccFeedback,
    history: SendHistory,
    overusing: boolean,
    nowMs: number,
  ): ProbeOutcomeValue {
    if (this.#state === ProbeState.idle || this.#firstSeq < 0) return ProbeOutcome.pending;
    if (overusing) {
      this.#overuse = true;
      // The cluster has failed already: the rest of its padding would only lengthen the
      // bottleneck's queue (LiveKit aborts a probe once the channel congests).
      if (this.#state === ProbeState.sending) this.#finishSending(nowMs);
    }
    const first = this.#firstSeq;
    const reported = this.#reported;
    for (let i = 0; i < fb.count; i++) {
      const d = (fb.baseSeq + i - first) & 0xffff;
      if (d >= MAX_SPAN || reported[d] === RECEIVED) continue;
      // Feedback may repeat a packet, or report it lost and later received: keep the best.
      if (fb.received(i)) {
        reported[d] = RECEIVED;
        this.#arrivalUs[d] = fb.arrivalUs[i];
      } else {
        reported[d] = LOST;
      }
    }
    if (this.#state !== ProbeState.measuring || reported[this.#span] === 0) {
      return ProbeOutcome.pending;
    }
    this.#state = ProbeState.idle;
    this.resultBps = this.#measure(history);
    const ok = !this.#overuse && this.resultBps >= this.#successRatio * this.#targetBps;
    return ok ? ProbeOutcome.success : ProbeOutcome.failure;
  }

  /** Times out a cluster whose feedback never came (a viewer that stopped sending TWCC). */
  poll(nowMs: number): ProbeOutcomeValue {
    if (this.#state === ProbeState.sending) this.due(nowMs);
    if (this.#state !== ProbeState.measuring) return ProbeOutcome.pending;
    if (nowMs - this.#endMs < this.#resultTimeoutMs) return ProbeOutcome.pending;
    this.#state = ProbeState.idle;
    this.resultBps = 0;
    return ProbeOutcome.failure;
  }

  /** The cluster's rate: the lower of its send and receive rates, 0 if too little arrived. */
  #measure(history: SendHistory): number {
    let sendFirstUs = Infinity;
    let sendLastUs = -Infinity;
    let sendLastBytes = 0;
    let sendBytes = 0;
    let recvFirstUs = Infinity;
    let recvLastUs = -Infinity;
    let recvFirstBytes = 0;
    let recvBytes = 0;
    let received = 0;
    const total = this.#span + 1;
    for (let d = 0; d < total; d++) {
      const idx = history.find((this.#firstSeq + d) & 0xffff);
      if (idx < 0) continue;
      const bytes = history.sizeBytes(idx);
      const sendUs = history.sendUs(idx);
      if (sendUs < sendFirstUs) sendFirstUs = sendUs;
      if (sendUs >= sendLastUs) {
        sendLastUs = sendUs;
        sendLastBytes = bytes;
      }
      sendBytes += bytes;
      if (this.#reported[d] !== RECEIVED) continue;
      received++;
      const arrivalUs = this.#arrivalUs[d];
      recvBytes += bytes;
      if (arrivalUs < recvFirstUs) {
        recvFirstUs = arrivalUs;
        recvFirstBytes = bytes;
      }
      if (arrivalUs > recvLastUs) recvLastUs = arrivalUs;
    }
    if (received < 2 || received < this.#minReceivedRatio * total) return 0;
    const sendUs = sendLastUs - sendFirstUs;
    const recvUs = recvLastUs - recvFirstUs;
    // libwebrtc drops clusters sent over more than 1 s or in no time at all.
    if (!(sendUs > 0) || sendUs > 1_000_000 || !(recvUs > 0)) return 0;
    // Rate over an interval: the bytes of its last sent (first received) packet lie outside.
    const sendBps = (sendBytes - sendLastBytes) * 8e6 / sendUs;
    const recvBps = (recvBytes - recvFirstBytes) * 8e6 / recvUs;
    return sendBps < recvBps ? sendBps : recvBps;
  }
}
