/**
 * One viewer's copy of one producer track: chooses which layer to forward (Forwarder), rewrites
 * sequence numbers and timestamps (Munger) and header extensions (PacketRewriter), and answers
 * the viewer's NACKs from the producer's per-layer caches.
 *
 * Switches happen only at a key frame of the target layer; until it arrives the current layer
 * keeps flowing. A viewer that joins waits for a key frame (requested on join). Within the
 * forwarded layer, a TemporalFilter drops pictures above the viewer's temporal target (VP8,
 * VP9); the Munger closes the sequence numbers up behind them and the PayloadMunger keeps
 * PictureID/TL0PICIDX valid.
 */
import { InboundPacket } from "../rtp/inbound-packet.ts";
import { absSendTime, PacketRewriter } from "../rtp/packet-rewriter.ts";
import { counters, DropReason, histograms, SWITCH_REASONS } from "../observability/counters.ts";
import { type PayloadMunger, payloadMungerFor } from "../rtp/codecs/payload-munger.ts";
import { DependencyDescriptorMunger } from "../rtp/codecs/dependency-descriptor-munger.ts";
import { ALLOCATION_REASON_LABELS, LayerAllocator } from "./allocator.ts";
import { alignTimestamp, TsAlignInput, TsAlignResult } from "./timestamp-aligner.ts";
import type { Layer } from "./layer.ts";
import { Munger, MungeResult } from "./munger.ts";
import type { Producer } from "./producer.ts";
import { ProbeOutcome, Prober, ProbeState } from "./prober.ts";
import type { SendHistory } from "./send-history.ts";
import type { TwccFeedback } from "../rtp/twcc-reader.ts";
import { isSeqNewer, seqDiff } from "../rtp/seq.ts";
import { ExtensionMap } from "../rtp/header-extensions.ts";
import { ALL_TEMPORAL_LAYERS, TemporalFilter } from "./temporal-filter.ts";
import {
  type AllocationTrack,
  TrackPriority,
  type TrackPriorityValue,
} from "./subscriber-allocator.ts";
import type { AllocatorLayer } from "./allocator.ts";

/** What a consumer needs from its viewer's transport. */
export interface ViewerLink {
  /**
   * Protects and sends; false when the packet could not be queued. `twccSeq` ≥ 0 is the
   * transport-wide sequence number written in the packet (recorded for bandwidth estimation);
   * `isProbe` marks padding sent to probe the path.
   */
  sendRtp(buf: Uint8Array, len: number, twccSeq: number, isProbe?: boolean): boolean;
  /** The next transport-wide sequence number of this viewer transport. */
  nextTransportSequence(): number;
  /** True once the transport can carry media (ICE and DTLS up). */
  readonly ready: boolean;
}

/** Why the forwarded layer last changed; the `reason` label of layer switches. */
export type SwitchReason = "bandwidth" | "manual" | "layer_loss" | "pause";

const HISTORY = 2048;
/**
 * Opus at up to 96 kbit/s plus overhead, reserved per audio track before video (audio is never
 * starved); a broadcast's music runs far above a call's 32 kbit/s voice.
 */
export const AUDIO_RESERVE_BPS = 128_000;
const HISTORY_MASK = HISTORY - 1;
/** Padding bytes per probe packet: the most one padding-length octet can say (RFC 3550 §5.1). */
const PROBE_PADDING_BYTES = 255;
/** Output sequence numbers after which an insertion point no longer matters for reordering. */
const SHIFT_HORIZON = 1024;

export interface ConsumerOptions {
  producer: Producer;
  link: ViewerLink;
  ssrc: number;
  payloadType: number;
  mid: string;
  /** Index of the viewer's m-line (the WHEP layer extension's `mediaId`). */
  mlineIndex?: number;
  extensions: ExtensionMap;
}

export class Consumer implements AllocationTrack {
  readonly kind: "audio" | "video";
  readonly ssrc: number;
  readonly payloadType: number;
  readonly mid: string;
  readonly mlineIndex: number;
  producer: Producer;
  /** The layer being forwarded, null before the first key frame. */
  current: Layer | null = null;
  /** The layer the selector wants. */
  target: Layer | null = null;
  /** A manual choice (WHEP layer extension), by rid; null = automatic. */
  pinnedRid: string | null = null;
  /** A manual temporal layer (WHEP `temporalLayerId`); null = automatic. */
  pinnedTemporal: number | null = null;
  lastSwitchReason: SwitchReason | null = null;
  /** Rank among the subscriber's video tracks when bandwidth is split (subscriber-allocator). */
  priority: TrackPriorityValue = TrackPriority.camera;
  /** Highest picture height the receiver wants (0: none); Infinity = any. */
  maxHeight = Infinity;
  /**
   * Nothing is sent (the receiver hides the track, or the subscriber's budget has no room for
   * it); the output sequence and timestamps carry on at the key frame that resumes it.
   */
  paused = false;
  layerSwitches = 0;
  packetsSent = 0;
  bytesSent = 0;
  retransmitted = 0;
  waitingSinceMs = -1;
  /** Padding-only probe packets sent (not in `packetsSent`: they carry no media). */
  probePacketsSent = 0;
  /** Packets of pictures above the temporal target, not sent (no sequence gap left). */
  temporalDropped = 0;
  /** Padding packets sent into the slot of a dropped packet that arrived late. */
  gapsFilled = 0;
  readonly #link: ViewerLink;
  readonly #rewriter: PacketRewriter;
  readonly #munger: Munger;
  readonly #scratch = new Uint8Array(1600);
  readonly #replay = new InboundPacket();
  /** Layer choice with hysteresis (video only). */
  readonly #allocator = new LayerAllocator();
  readonly #alignIn = new TsAlignInput();
  readonly #alignOut = new TsAlignResult();
  /** Descriptor numbering across sources and filtered pictures (VP8, VP9; a no-op for others). */
  readonly #payload: PayloadMunger;
  /** Which temporal layers of the forwarded layer go out. */
  readonly #temporal = new TemporalFilter();
  /** Dependency descriptor frame_number continuity (AV1 and any codec that carries one). */
  readonly #dd = new DependencyDescriptorMunger();
  readonly #histSeq = new Int32Array(HISTORY).fill(-1);
  readonly #histInSeq = new Uint16Array(HISTORY);
  readonly #histSsrc = new Uint32Array(HISTORY);
  readonly #histTs = new Uint32Array(HISTORY);
  readonly #histResentMs = new Float64Array(HISTORY).fill(-Infinity);
  #rtxTokens = 0;
  #rtxRefillMs = 0;
  #switchReason: SwitchReason = "bandwidth";
  /** Probes before upgrades; video with transport-wide-cc only (success is read from TWCC). */
  readonly #prober: Prober | null;
  /** A padding-only packet (P bit, no payload), parsed once; the rewriter copies its body. */
  readonly #padding = new InboundPacket();
  /**
   * Probe packets added to the output sequence: added to every munged sequence number newer
   * than the insertion point `#shiftBase` (munger space); older, reordered packets get the
   * shift before it. -1 = no insertion point.
   */
  #seqShift = 0;
  #shiftBase = -1;
  #prevShift = 0;
  #prevBase = -1;
  /** The newest packet sent ended a frame: padding may follow without splitting a frame. */
  #atFrameEnd = false;
  #closed = false;

  constructor(options: ConsumerOptions) {
    this.producer = options.producer;
    this.kind = options.producer.kind;
    this.ssrc = options.ssrc;
    this.payloadType = options.payloadType;
    this.mid = options.mid;
    this.mlineIndex = options.mlineIndex ?? 0;
    this.#link = options.link;
    this.#rewriter = new PacketRewriter(options.extensions, options.mid);
    this.#munger = new Munger(options.producer.clockRate);
    this.#payload = payloadMungerFor(options.producer.codecName);
    const probing = this.kind === "video" && this.#rewriter.hasTransportWideCc;
    this.#prober = probing ? new Prober({ packetBytes: 12 + 16 + PROBE_PADDING_BYTES }) : null;
    const padding = new Uint8Array(12 + PROBE_PADDING_BYTES);
    padding[0] = 0xa0; // V=2, P=1
    padding[padding.length - 1] = PROBE_PADDING_BYTES;
    this.#padding.parse(padding, padding.length, new ExtensionMap());
  }

  /** The source's layers as the allocators read them. */
  get layers(): readonly AllocatorLayer[] {
    return this.producer.tracker.layers;
  }

  get munger(): Munger {
    return this.#munger;
  }

  /** The packet path: called by the producer for every packet of every layer. */
  onPacket(pkt: InboundPacket, layer: Layer, keyframe: boolean): void {
    // Not before the transport is up: a key frame "sent" into a closed pipe would start the
    // output on inter frames.
    if (this.#closed || !this.#link.ready) return;
    if (this.paused) {
      counters.packetsDropped[DropReason.paused]++;
      return;
    }
    if (layer !== this.current) {
      if (this.kind === "audio") {
        this.#start(pkt, layer);
      } else if (keyframe && (layer === this.target || this.current === null)) {
        if (this.current !== null) {
          this.layerSwitches++;
          this.lastSwitchReason = this.#switchReason;
          counters.layerSwitches[SWITCH_REASONS.indexOf(this.#switchReason)]++;
        }
        this.#start(pkt, layer);
      } else {
        if (this.current === null) counters.packetsDropped[DropReason.waitingKeyframe]++;
        return;
      }
    }
    if (pkt.payloadLength === 0) {
      // Padding-only (bandwidth probe): consumed here, without a sequence gap.
      this.#drop(pkt);
      counters.packetsDropped[DropReason.padding]++;
      return;
    }
    // The temporal id was read once by the producer for every consumer of the packet.
    if (
      this.#temporal.active &&
      !this.#temporal.accept(pkt.timestamp, layer.packetTid, layer.packetSyncUpTo, keyframe)
    ) {
      this.#payload.drop(pkt.buf, pkt.payloadOffset, pkt.payloadLength);
      this.#drop(pkt);
      this.temporalDropped++;
      counters.packetsDropped[DropReason.temporalLayer]++;
      return;
    }
    if (
      this.#munger.map(pkt.sequenceNumber, pkt.timestamp, pkt.marker, pkt.arrivalMs) !==
        MungeResult.ok
    ) {
      counters.packetsDropped[DropReason.duplicate]++;
      return;
    }
    const mungedSeq = this.#munger.outSeq;
    const shift = this.#shiftFor(mungedSeq);
    if (shift < 0) {
      counters.packetsDropped[DropReason.duplicate]++;
      return;
    }
    const outSeq = (mungedSeq + shift) & 0xffff;
    const outTs = this.#munger.outTs;
    const newest = mungedSeq === this.#munger.lastOutSeq;
    if (this.#send(pkt, outSeq, outTs)) {
      // Receive → hand-off to the socket, sampled: a clock read per packet is not free. Only
      // here, not in #send: a retransmission's arrival time is its original one.
      if ((this.packetsSent & 15) === 0) {
        histograms.forwardLatencySeconds.observe((performance.now() - pkt.arrivalMs) / 1000);
      }
      if (newest) this.#atFrameEnd = pkt.marker;
      const slot = outSeq & HISTORY_MASK;
      this.#histSeq[slot] = outSeq;
      this.#histInSeq[slot] = pkt.sequenceNumber;
      this.#histSsrc[slot] = layer.ssrc;
      this.#histTs[slot] = outTs;
      this.#histResentMs[slot] = -Infinity;
      if (newest && pkt.marker && this.#prober?.state === ProbeState.sending) {
        this.#sendProbe(pkt.arrivalMs);
      }
    }
  }

  /**
   * Consumes a packet of the current layer without forwarding it. The munger closes the
   * sequence up behind the newest; a late one left a slot among packets already sent, which
   * gets a padding-only packet so the viewer sees no loss (receivers discard padding after
   * noting its sequence number: libwebrtc's packet buffer `InsertPadding`).
   */
  #drop(pkt: InboundPacket): void {
    const munger = this.#munger;
    if (munger.drop(pkt.sequenceNumber, pkt.timestamp) !== MungeResult.gap) return;
    const shift = this.#shiftFor(munger.outSeq);
    if (shift < 0) return;
    const seq = (munger.outSeq + shift) & 0xffff;
    const twccSeq = this.#rewriter.hasTransportWideCc ? this.#link.nextTransportSequence() : -1;
    if (this.#sendPadding(seq, munger.outTs, twccSeq, absSendTime(pkt.arrivalMs), false)) {
      this.gapsFilled++;
    }
  }

  /** Sends one padding-only packet (no payload, P bit) at (seq, ts); false if refused. */
  #sendPadding(seq: number, ts: number, twccSeq: number, abs: number, isProbe: boolean): boolean {
    const len = this.#rewriter.write(
      this.#padding,
      this.#scratch,
      this.ssrc,
      this.payloadType,
      seq,
      ts,
      false,
      twccSeq,
      abs,
    );
    if (!this.#link.sendRtp(this.#scratch, len, twccSeq, isProbe)) {
      counters.packetsDropped[DropReason.queueFull]++;
      return false;
    }
    const kind = this.producer.kindIndex;
    counters.rtpPacketsOut[kind]++;
    counters.rtpBytesOut[kind] += len;
    return true;
  }

  /** Sequence shift for a munged sequence number; -1 if it lies before two insertion points. */
  #shiftFor(mungedSeq: number): number {
    const base = this.#shiftBase;
    if (base < 0) return this.#seqShift;
    if (seqDiff(mungedSeq, base) > SHIFT_HORIZON) {
      // Long past the last probe: forget the insertion points before 16-bit comparisons wrap.
      this.#shiftBase = -1;
      this.#prevBase = -1;
      return this.#seqShift;
    }
    if (isSeqNewer(mungedSeq, base)) return this.#seqShift;
    if (this.#prevBase < 0 || isSeqNewer(mungedSeq, this.#prevBase)) return this.#prevShift;
    return -1;
  }

  /**
   * Sends the padding the prober asks for now, right after a frame's last packet: padding-only
   * packets with the next output sequence numbers and the last output timestamp (receivers
   * drop them after depacketization). They are not in the NACK history, so never resent.
   */
  #sendProbe(nowMs: number): void {
    const prober = this.#prober;
    // A paused consumer has no frame in flight to split (recovery probes, below).
    if (prober === null || !(this.#atFrameEnd || this.paused) || !this.#munger.started) return;
    let n = prober.due(nowMs);
    if (n === 0) return;
    const munger = this.#munger;
    const base = munger.lastOutSeq;
    if (base !== this.#shiftBase) {
      this.#prevBase = this.#shiftBase;
      this.#prevShift = this.#seqShift;
      this.#shiftBase = base;
    }
    const ts = munger.lastOutTs;
    const abs = absSendTime(nowMs);
    for (; n > 0; n--) {
      const seq = (base + this.#seqShift + 1) & 0xffff;
      const twccSeq = this.#link.nextTransportSequence();
      // The sequence number is spent even if the queue refused it: the viewer sees a loss.
      this.#seqShift = (this.#seqShift + 1) & 0xffff;
      if (!this.#sendPadding(seq, ts, twccSeq, abs, true)) break;
      prober.onSent(twccSeq, nowMs);
      this.probePacketsSent++;
    }
  }

  /**
   * Starts a probe cluster reaching `targetBps` in total (media + padding), if none is under
   * way and the viewer has transport-wide-cc; padding goes out after the next frame ends.
   * Normally started by {@link select} when the allocator asks for one.
   */
  startProbe(targetBps: number, mediaBps: number, nowMs: number): boolean {
    return this.#prober !== null && this.#prober.start(targetBps, mediaBps, nowMs);
  }

  /**
   * A recovery probe: padding on this paused consumer's SSRC up to `targetBps` in total, for a
   * subscriber whose split paused video it wants. Such a subscriber forwards no video, so no
   * layer upgrade ever probes and its estimate, fed by audio alone, cannot grow past what audio
   * carries: without this it never sees video again (seen in the room bench: meetings of 10 and
   * 25 with every camera paused and estimates stuck at 30–200 kbit/s). Needs a consumer that has
   * sent before (its sequence numbers and timestamps continue) and no probe under way.
   */
  startRecoveryProbe(targetBps: number, nowMs: number): boolean {
    const prober = this.#prober;
    if (prober === null || !this.paused || !this.#munger.started) return false;
    if (prober.state !== ProbeState.idle) return false;
    return prober.start(targetBps, 0, nowMs);
  }

  /**
   * Paces a recovery probe from the subscriber's tick (a paused consumer has no packets to
   * follow). False once it timed out without feedback (a failure); true otherwise.
   */
  paceRecoveryProbe(nowMs: number): boolean {
    const prober = this.#prober;
    if (prober === null || prober.state === ProbeState.idle) return true;
    if (prober.poll(nowMs) === ProbeOutcome.failure) return false;
    if (prober.state === ProbeState.sending && this.paused) this.#sendProbe(nowMs);
    return true;
  }

  /** State of the probe under way ({@link ProbeState}). */
  get probeState(): number {
    return this.#prober === null ? ProbeState.idle : this.#prober.state;
  }

  /**
   * Reads one TWCC feedback for the probe under way. Returns the measured rate (bit/s) when a
   * cluster succeeded, 0 when it failed, -1 while pending; the allocator is told either way.
   */
  onProbeFeedback(
    fb: TwccFeedback,
    history: SendHistory,
    overusing: boolean,
    nowMs: number,
  ): number {
    const prober = this.#prober;
    if (prober === null || prober.state === ProbeState.idle) return -1;
    const outcome = prober.onFeedback(fb, history, overusing, nowMs);
    if (outcome === ProbeOutcome.pending) return -1;
    const ok = outcome === ProbeOutcome.success;
    this.#allocator.onProbeResult(ok, nowMs);
    return ok ? prober.resultBps : 0;
  }

  #start(pkt: InboundPacket, layer: Layer): void {
    const previous = this.current;
    this.current = layer;
    if (this.waitingSinceMs >= 0) {
      histograms.keyframeWaitSeconds.observe((pkt.arrivalMs - this.waitingSinceMs) / 1000);
    }
    this.waitingSinceMs = -1;
    this.#munger.switchTo(
      pkt.sequenceNumber,
      pkt.timestamp,
      pkt.arrivalMs,
      this.#alignedOffset(pkt, previous, layer),
    );
    this.#payload.switchSource();
    this.#dd.switchSource();
    this.#temporal.reset();
  }

  #send(pkt: InboundPacket, outSeq: number, outTs: number): boolean {
    const twccSeq = this.#rewriter.hasTransportWideCc ? this.#link.nextTransportSequence() : -1;
    const len = this.#rewriter.write(
      pkt,
      this.#scratch,
      this.ssrc,
      this.payloadType,
      outSeq,
      outTs,
      pkt.marker,
      twccSeq,
      absSendTime(pkt.arrivalMs),
    );
    // Descriptors are rewritten in the viewer's copy, never in the shared inbound packet.
    if (this.#rewriter.ddOffset >= 0) {
      this.#dd.process(this.#scratch, this.#rewriter.ddOffset, this.#rewriter.ddLength);
    }
    if (pkt.payloadLength > 0) {
      const payloadOffset = len - (pkt.length - pkt.payloadOffset);
      if (this.#payload.process(this.#scratch, payloadOffset, pkt.payloadLength) < 0) {
        counters.packetsDropped[DropReason.malformed]++;
        return false;
      }
    }
    if (!this.#link.sendRtp(this.#scratch, len, twccSeq)) {
      counters.packetsDropped[DropReason.queueFull]++;
      return false;
    }
    const kind = this.producer.kindIndex;
    counters.rtpPacketsOut[kind]++;
    counters.rtpBytesOut[kind] += len;
    this.packetsSent++;
    this.bytesSent += len;
    return true;
  }

  /** Answers a viewer NACK for output sequence numbers from the layers' caches. */
  retransmit(
    seqs: ArrayLike<number>,
    count: number,
    nowMs = performance.now(),
    budgetBps = 2_000_000,
    minResendIntervalMs = 20,
  ): number {
    let sent = 0;
    // Retransmission budget (simulcast.md §6 lesson 12: an SFU re-sending 52 Mbit/s of NACKed
    // packets into an 800 kbit/s viewer starved its media): a token bucket of `budgetBps`
    // refilled over 1 s windows, and each packet at most once per round trip.
    this.#rtxTokens = Math.min(
      budgetBps / 8,
      this.#rtxTokens + (nowMs - this.#rtxRefillMs) * budgetBps / 8000,
    );
    this.#rtxRefillMs = nowMs;
    for (let i = 0; i < count; i++) {
      const seq = seqs[i];
      const slot = seq & HISTORY_MASK;
      if (this.#histSeq[slot] !== seq) continue;
      if (nowMs - this.#histResentMs[slot] < minResendIntervalMs) continue;
      const layer = this.producer.layers.find((l) => l.ssrc === this.#histSsrc[slot]);
      const cacheSlot = layer ? layer.cache.find(this.#histInSeq[slot]) : -1;
      if (!layer || cacheSlot < 0) continue;
      const replay = this.#replay;
      if (
        !replay.parse(
          layer.cache.buffer(cacheSlot),
          layer.cache.length(cacheSlot),
          this.producer.extensions,
        )
      ) continue;
      if (replay.length > this.#rtxTokens) {
        counters.packetsDropped[DropReason.queueFull]++;
        break;
      }
      replay.arrivalMs = nowMs;
      if (this.#send(replay, seq, this.#histTs[slot])) {
        this.#rtxTokens -= replay.length;
        this.#histResentMs[slot] = nowMs;
        sent++;
        this.retransmitted++;
        counters.retransmissions++;
      }
    }
    return sent;
  }

  /**
   * Timestamp offset for a switch between two layers of one producer, from their sender
   * reports (simulcast.md §2.3); −1 lets the munger use wall-clock time (no SRs, first start,
   * or another publisher).
   */
  #alignedOffset(pkt: InboundPacket, previous: Layer | null, next: Layer): number {
    const munger = this.#munger;
    if (!previous || !munger.started || !this.producer.layers.includes(previous)) return -1;
    if (previous.srArrivalMs < 0 || next.srArrivalMs < 0) return -1;
    const input = this.#alignIn;
    input.clockRate = this.producer.clockRate;
    input.keyTs = pkt.timestamp;
    input.keyArrivalMs = pkt.arrivalMs;
    input.lastOutTs = munger.lastOutTs;
    input.lastOutArrivalMs = munger.lastOutMs;
    input.refTsOffset = munger.tsOffset;
    input.refSrNtpMs = previous.srNtpSeconds * 1000;
    input.refSrRtpTs = previous.srRtpTimestamp;
    input.targetSrNtpMs = next.srNtpSeconds * 1000;
    input.targetSrRtpTs = next.srRtpTimestamp;
    // Never drop a key frame we waited for: a small forward step beats a frozen picture.
    input.giveUp = true;
    return alignTimestamp(input, this.#alignOut) >= 0 ? this.#alignOut.tsOffset : -1;
  }

  /** Pins a layer by rid (WHEP layer extension); null returns to automatic selection. */
  pin(rid: string | null): void {
    this.pinnedRid = rid;
    if (rid === null) this.#allocator.auto();
    else this.#allocator.pin(rid);
  }

  /**
   * Temporal layers (WHEP `temporalLayerId`, `maxTemporalLayerId`): `pinned` ≥ 0 forwards
   * temporal layers 0..pinned whatever the bandwidth; null leaves the choice to the allocator,
   * at most `max`. Kept across spatial pins and caps until the next call.
   */
  setTemporal(pinned: number | null, max?: number): void {
    this.pinnedTemporal = pinned;
    this.#allocator.setTemporal(pinned ?? -1, max ?? Infinity);
    // A pin acts from the next picture, before the next selection round.
    if (pinned !== null) this.#temporal.target = Math.min(pinned, ALL_TEMPORAL_LAYERS);
  }

  /** Highest temporal layer the viewer should get now (-1: all of them). */
  get temporalTarget(): number {
    const t = this.#temporal.target;
    return t >= ALL_TEMPORAL_LAYERS ? -1 : t;
  }

  /** Highest temporal layer being forwarded (-1: all of them). */
  get temporalCurrent(): number {
    const t = this.#temporal.current;
    return t >= ALL_TEMPORAL_LAYERS ? -1 : t;
  }

  /** Caps for automatic selection (WHEP `maxWidth`, `maxHeight`, `maxSpatialLayerId`). */
  setCaps(maxWidth?: number, maxHeight?: number, maxSpatial?: number): void {
    this.pinnedRid = null;
    this.maxHeight = maxHeight ?? Infinity;
    this.#allocator.setCaps({ maxWidth, maxHeight, maxSpatial });
  }

  /**
   * Picks the target layer (allocator: estimate, caps, pin, layer loss, hysteresis) and asks
   * for its key frame while waiting. Runs on the viewer's tick, not per packet.
   * `estimateBps` is Infinity for a viewer that gives no bandwidth feedback (caps only).
   * `probing`: TWCC feedback flows, so upgrades wait for a successful probe.
   * `audioReserveBps`: taken off the estimate for audio (0 when the subscriber's split did it).
   */
  select(
    nowMs: number,
    estimateBps = Infinity,
    lossFraction = 0,
    probing = false,
    audioReserveBps = AUDIO_RESERVE_BPS,
  ): void {
    if (this.kind === "audio" || this.#closed) return;
    const producer = this.producer;
    // A share of 0 (subscriber-allocator) or a hidden tile: a real pause, not the lowest layer.
    const pause = this.maxHeight <= 0 || estimateBps <= 0;
    if (pause !== this.paused) this.#setPaused(pause);
    if (pause || producer.layers.length === 0) return;
    const allocator = this.#allocator;
    allocator.setProbing(probing && this.#prober !== null);
    allocator.update(estimateBps, lossFraction, audioReserveBps, producer.tracker.layers, nowMs);
    const tid = allocator.targetTemporal;
    this.#temporal.target = tid < 0 ? ALL_TEMPORAL_LAYERS : tid;
    this.#driveProbe(nowMs);
    // Paused (rank −1) or unknown: keep the lowest live layer (LiveKit AllowPause: false).
    const target = producer.layerOfRank(allocator.targetRank) ?? producer.rankedLayers()[0] ??
      producer.layers[0];
    if (target !== this.target) {
      this.target = target;
      const label = ALLOCATION_REASON_LABELS[allocator.reason];
      this.#switchReason = label === "none" ? "bandwidth" : label;
    }
    if (this.current !== target) {
      if (this.waitingSinceMs < 0) this.waitingSinceMs = nowMs;
      producer.requestKeyframe(target, nowMs);
    }
  }

  #setPaused(paused: boolean): void {
    this.paused = paused;
    if (!paused) return;
    // Resuming is a switch: the next key frame of the target restarts the output where it was.
    this.current = null;
    this.target = null;
    this.#prober?.cancel();
  }

  /** Starts, paces, times out or cancels the probe the allocator asks for (viewer tick). */
  #driveProbe(nowMs: number): void {
    const prober = this.#prober;
    if (prober === null) return;
    const allocator = this.#allocator;
    if (!allocator.probePending) {
      if (prober.state !== ProbeState.idle) prober.cancel();
      return;
    }
    if (prober.state === ProbeState.idle) {
      let mediaBps = 0;
      for (const l of this.producer.tracker.layers) {
        if (l.rank === allocator.targetRank) mediaBps = l.meanBitrateBps;
      }
      prober.start(allocator.probeBitrateBps, mediaBps, nowMs);
    }
    if (prober.poll(nowMs) === ProbeOutcome.failure) allocator.onProbeResult(false, nowMs);
    else if (prober.state === ProbeState.sending) this.#sendProbe(nowMs);
  }

  /** The publisher was replaced: keep the output stream, wait for the new source's key frame. */
  rebind(producer: Producer): void {
    this.producer.removeConsumer(this);
    this.producer = producer;
    this.current = null;
    this.target = null;
    this.#allocator.auto();
    if (this.pinnedRid !== null) this.#allocator.pin(this.pinnedRid);
    producer.addConsumer(this);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.producer.removeConsumer(this);
  }
}
