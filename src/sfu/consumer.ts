/**
 * One viewer's copy of one producer track: chooses which layer to forward (Forwarder), rewrites
 * sequence numbers and timestamps (Munger) and header extensions (PacketRewriter), and answers
 * the viewer's NACKs from the producer's per-layer caches.
 *
 * Switches happen only at a key frame of the target layer; until it arrives the current layer
 * keeps flowing. A viewer that joins waits for a key frame (requested on join).
 */
import type { ExtensionMap } from "../rtp/header-extensions.ts";
import { InboundPacket } from "../rtp/inbound-packet.ts";
import { absSendTime, PacketRewriter } from "../rtp/packet-rewriter.ts";
import { counters, DropReason, histograms, SWITCH_REASONS } from "../observability/counters.ts";
import { Vp8Munger } from "../rtp/codecs/vp8-munger.ts";
import { ALLOCATION_REASON_LABELS, LayerAllocator } from "./allocator.ts";
import { alignTimestamp, TsAlignInput, TsAlignResult } from "./timestamp-aligner.ts";
import type { Layer } from "./layer.ts";
import { Munger, MungeResult } from "./munger.ts";
import type { Producer } from "./producer.ts";

/** What a consumer needs from its viewer's transport. */
export interface ViewerLink {
  /**
   * Protects and sends; false when the packet could not be queued. `twccSeq` ≥ 0 is the
   * transport-wide sequence number written in the packet (recorded for bandwidth estimation).
   */
  sendRtp(buf: Uint8Array, len: number, twccSeq: number): boolean;
  /** The next transport-wide sequence number of this viewer transport. */
  nextTransportSequence(): number;
  /** True once the transport can carry media (ICE and DTLS up). */
  readonly ready: boolean;
}

/** Why the forwarded layer last changed; the `reason` label of layer switches. */
export type SwitchReason = "bandwidth" | "manual" | "layer_loss" | "pause";

const HISTORY = 2048;
/** Opus at up to 96 kbit/s plus overhead: reserved before video (audio is never starved). */
const AUDIO_RESERVE_BPS = 128_000;
const HISTORY_MASK = HISTORY - 1;

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

export class Consumer {
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
  lastSwitchReason: SwitchReason | null = null;
  layerSwitches = 0;
  packetsSent = 0;
  bytesSent = 0;
  retransmitted = 0;
  waitingSinceMs = -1;
  readonly #link: ViewerLink;
  readonly #rewriter: PacketRewriter;
  readonly #munger: Munger;
  readonly #scratch = new Uint8Array(1600);
  readonly #replay = new InboundPacket();
  /** Layer choice with hysteresis (video only). */
  readonly #allocator = new LayerAllocator();
  readonly #alignIn = new TsAlignInput();
  readonly #alignOut = new TsAlignResult();
  /** PictureID/TL0PICIDX/KEYIDX continuity across sources (VP8 only). */
  readonly #vp8: Vp8Munger | null;
  readonly #histSeq = new Int32Array(HISTORY).fill(-1);
  readonly #histInSeq = new Uint16Array(HISTORY);
  readonly #histSsrc = new Uint32Array(HISTORY);
  readonly #histTs = new Uint32Array(HISTORY);
  readonly #histResentMs = new Float64Array(HISTORY).fill(-Infinity);
  #rtxTokens = 0;
  #rtxRefillMs = 0;
  #switchReason: SwitchReason = "bandwidth";
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
    this.#vp8 = options.producer.codecName === "vp8" ? new Vp8Munger() : null;
  }

  get munger(): Munger {
    return this.#munger;
  }

  /** The packet path: called by the producer for every packet of every layer. */
  onPacket(pkt: InboundPacket, layer: Layer, keyframe: boolean): void {
    // Not before the transport is up: a key frame "sent" into a closed pipe would start the
    // output on inter frames.
    if (this.#closed || !this.#link.ready) return;
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
      this.#munger.skip(pkt.sequenceNumber);
      counters.packetsDropped[DropReason.padding]++;
      return;
    }
    if (
      this.#munger.map(pkt.sequenceNumber, pkt.timestamp, pkt.marker, pkt.arrivalMs) !==
        MungeResult.ok
    ) {
      counters.packetsDropped[DropReason.duplicate]++;
      return;
    }
    const outSeq = this.#munger.outSeq;
    const outTs = this.#munger.outTs;
    if (this.#send(pkt, outSeq, outTs)) {
      const slot = outSeq & HISTORY_MASK;
      this.#histSeq[slot] = outSeq;
      this.#histInSeq[slot] = pkt.sequenceNumber;
      this.#histSsrc[slot] = layer.ssrc;
      this.#histTs[slot] = outTs;
      this.#histResentMs[slot] = -Infinity;
    }
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
    this.#vp8?.switchSource();
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
    // The descriptor is rewritten in the viewer's copy, never in the shared inbound packet.
    if (this.#vp8 !== null && pkt.payloadLength > 0) {
      const payloadOffset = len - (pkt.length - pkt.payloadOffset);
      if (this.#vp8.process(this.#scratch, payloadOffset, pkt.payloadLength) < 0) {
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
    // Receive → hand-off to the socket, sampled: a clock read per packet is not free.
    if ((this.packetsSent & 15) === 0) {
      histograms.forwardLatencySeconds.observe((performance.now() - pkt.arrivalMs) / 1000);
    }
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

  /** Caps for automatic selection (WHEP `maxWidth`, `maxHeight`, `maxSpatialLayerId`). */
  setCaps(maxWidth?: number, maxHeight?: number, maxSpatial?: number): void {
    this.pinnedRid = null;
    this.#allocator.setCaps({ maxWidth, maxHeight, maxSpatial });
  }

  /**
   * Picks the target layer (allocator: estimate, caps, pin, layer loss, hysteresis) and asks
   * for its key frame while waiting. Runs on the viewer's tick, not per packet.
   * `estimateBps` is Infinity for a viewer that gives no bandwidth feedback (caps only).
   */
  select(nowMs: number, estimateBps = Infinity, lossFraction = 0): void {
    if (this.kind === "audio" || this.#closed) return;
    const producer = this.producer;
    if (producer.layers.length === 0) return;
    const allocator = this.#allocator;
    allocator.update(estimateBps, lossFraction, AUDIO_RESERVE_BPS, producer.tracker.layers, nowMs);
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
