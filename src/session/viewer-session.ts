/**
 * A subscriber: a WHEP viewer, or a room participant's subscribe connection. Its transport and
 * its consumers, plus the RTCP it gets (NACK, PLI, FIR, TWCC, REMB, receiver reports), its
 * bandwidth estimate split across its video consumers, and the sender reports it sends (lip
 * sync). A WHEP viewer's consumers are fixed at negotiation (`attach`); a room subscriber's
 * come and go with the room's tracks (`addConsumer`, `removeConsumer`).
 */
import { counters } from "../observability/counters.ts";
import { histograms } from "../observability/counters.ts";
import { ExtensionMap } from "../rtp/header-extensions.ts";
import {
  PsfbFmt,
  readFirSsrcs,
  readNack,
  readRemb,
  readReportBlock,
  type ReportBlock,
  RtcpReader,
  RtcpType,
  RtpfbFmt,
} from "../rtp/rtcp-reader.ts";
import { writeSdesCname, writeSenderReport } from "../rtp/rtcp-writer.ts";
import { readTwccFeedback, TwccFeedback } from "../rtp/twcc-reader.ts";
import { BandwidthEstimator, BandwidthUsage, EstimateMode } from "../sfu/bandwidth-estimator.ts";
import { PauseRecovery } from "../sfu/pause-recovery.ts";
import { SendHistory } from "../sfu/send-history.ts";
import { AUDIO_RESERVE_BPS, Consumer, type ViewerLink } from "../sfu/consumer.ts";
import { SubscriberAllocator } from "../sfu/subscriber-allocator.ts";
import type { Producer } from "../sfu/producer.ts";
import type { OfferPlan, TrackPlan } from "./negotiation.ts";
import type { PeerListener, PeerTransport } from "./peer-transport.ts";
import { SessionBase } from "./session-base.ts";

const SR_INTERVAL_MS = 1000;
const SELECT_INTERVAL_MS = 100;

export class ViewerSession extends SessionBase implements PeerListener, ViewerLink {
  readonly role = "viewer" as const;
  readonly consumers: Consumer[] = [];
  /** Outbound SSRC per m-line mid, fixed at negotiation. */
  readonly ssrcByMid: Map<string, number> = new Map();
  readonly cname = `quetzal-${crypto.randomUUID().slice(0, 8)}`;
  readonly #reader = new RtcpReader();
  readonly #nackSeqs = new Uint16Array(512);
  readonly #firSsrcs = new Uint32Array(8);
  readonly #rtcp = new Uint8Array(600);
  readonly #block: ReportBlock = {
    ssrc: 0,
    fractionLost: 0,
    cumulativeLost: 0,
    extendedHighestSeq: 0,
    jitter: 0,
    lastSr: 0,
    delaySinceLastSr: 0,
  };
  #twccSeq = 0;
  /** What was sent with which transport-wide sequence number, for the estimator. */
  readonly #history = new SendHistory();
  readonly #feedback = new TwccFeedback();
  /** This viewer's bandwidth estimate (TWCC, else REMB, else receiver-report loss). */
  readonly bandwidth: BandwidthEstimator = new BandwidthEstimator({ history: this.#history });
  #lastEstimateSampleMs = 0;
  #firstPacketMarked = false;
  #lastSrMs = 0;
  #lastSelectMs = 0;
  /** One budget across this viewer's video tracks (a WHEP viewer has one: the whole estimate). */
  readonly #split = new SubscriberAllocator();
  #video: Consumer[] = [];
  /** Audio consumers: each reserves AUDIO_RESERVE_BPS before video is split. */
  #audioCount = 0;
  #shares = new Float64Array(0);
  readonly #reserve = new Float64Array(1);
  /** Probes for the video the split paused (pause-recovery.ts). */
  readonly #recovery = new PauseRecovery();
  /** Latest REMB from the viewer, bit/s (-1 unknown). */
  rembBps = -1;
  rttMs = -1;

  constructor(id: string, streamName: string, peer: PeerTransport, plan: OfferPlan) {
    super(id, streamName, peer);
    for (const track of plan.tracks) {
      this.ssrcByMid.set(track.mid, crypto.getRandomValues(new Uint32Array(1))[0]);
    }
    peer.setListener(this);
  }

  /** Creates the consumers once the answer is settled. */
  attach(plan: OfferPlan, producers: Producer[]): void {
    for (const track of plan.tracks) {
      const producer = producers.find((p) => p.kind === track.kind);
      if (producer) this.consumers.push(this.#consumerFor(track, producer));
    }
    this.#videoChanged();
  }

  /** Starts sending `consumer` (its link is this session): a room track bound to an m-line. */
  addConsumer(consumer: Consumer): void {
    if (this.consumers.includes(consumer)) return;
    this.consumers.push(consumer);
    consumer.producer.addConsumer(consumer);
    this.#videoChanged();
    if (this.peer.connected) consumer.select(performance.now());
  }

  /**
   * Stops sending `consumer` without closing it: a freed m-line keeps its consumer (and its
   * output sequence and timestamps) for the next track bound there (`Consumer.rebind`).
   */
  removeConsumer(consumer: Consumer): void {
    const i = this.consumers.indexOf(consumer);
    if (i < 0) return;
    this.consumers.splice(i, 1);
    consumer.producer.removeConsumer(consumer);
    this.#recovery.remove(consumer);
    this.#videoChanged();
  }

  /** Recomputed when consumers come or go, not on every selection round. */
  #videoChanged(): void {
    this.#video = this.consumers.filter((c) => c.kind === "video");
    this.#audioCount = this.consumers.length - this.#video.length;
    this.#shares = new Float64Array(this.#video.length);
  }

  #consumerFor(track: TrackPlan, producer: Producer): Consumer {
    const consumer = new Consumer({
      producer,
      link: this,
      ssrc: this.ssrcByMid.get(track.mid)!,
      payloadType: track.codec.payloadType,
      mid: track.mid,
      mlineIndex: track.index,
      extensions: ExtensionMap.fromExtmaps(track.extmaps),
    });
    producer.addConsumer(consumer);
    return consumer;
  }

  // ViewerLink
  sendRtp(buf: Uint8Array, len: number, twccSeq: number, isProbe = false): boolean {
    if (!this.peer.sendRtp(buf, len)) return false;
    if (twccSeq >= 0) this.#history.onSent(twccSeq, performance.now() * 1000, len, isProbe);
    return true;
  }

  get ready(): boolean {
    return this.peer.connected;
  }

  nextTransportSequence(): number {
    const seq = this.#twccSeq;
    this.#twccSeq = (seq + 1) & 0xffff;
    return seq;
  }

  onRtp(): void {
    // Viewers send no media (recvonly); anything else is ignored.
  }

  override onConnected(): void {
    super.onConnected();
    const now = performance.now();
    for (const consumer of this.consumers) consumer.select(now);
  }

  onRtcp(buf: Uint8Array, len: number): void {
    const reader = this.#reader;
    reader.reset(buf, len);
    while (reader.next()) {
      const type = reader.type;
      if (type === RtcpType.RTPFB && reader.fmt === RtpfbFmt.TWCC) {
        if (readTwccFeedback(buf, reader.offset, reader.length, this.#feedback) > 0) {
          const now = performance.now();
          this.bandwidth.onTwccFeedback(this.#feedback, now);
          this.#onProbeFeedback(now);
        }
      } else if (type === RtcpType.RTPFB && reader.fmt === RtpfbFmt.NACK) {
        const consumer = this.#consumerBySsrc(reader.mediaSsrc);
        const count = readNack(buf, reader.offset, reader.length, this.#nackSeqs);
        counters.nacks[0] += count;
        if (consumer) {
          const now = performance.now();
          const estimate = this.bandwidth.modeAt(now) === 0
            ? 2_000_000
            : this.bandwidth.estimateAt(now);
          // Up to 20 % of the viewer's estimate for repairs, at least 200 kbit/s.
          // Each packet at most once per round trip (10–100 ms), as libwebrtc spaces resends.
          const rtt = this.rttMs > 0 ? Math.min(100, Math.max(10, this.rttMs)) : 10;
          consumer.retransmit(this.#nackSeqs, count, now, Math.max(200_000, estimate * 0.2), rtt);
        }
      } else if (type === RtcpType.PSFB && reader.fmt === PsfbFmt.PLI) {
        counters.pliIn++;
        this.#keyframeFor(reader.mediaSsrc);
      } else if (type === RtcpType.PSFB && reader.fmt === PsfbFmt.FIR) {
        counters.firIn++;
        const n = readFirSsrcs(buf, reader.offset, reader.length, this.#firSsrcs);
        for (let i = 0; i < n; i++) this.#keyframeFor(this.#firSsrcs[i]);
      } else if (type === RtcpType.PSFB && reader.fmt === PsfbFmt.AFB) {
        const bps = readRemb(buf, reader.offset, reader.length);
        if (bps >= 0) {
          this.rembBps = bps;
          this.bandwidth.onRemb(bps, performance.now());
        }
      } else if (type === RtcpType.RR || type === RtcpType.SR) {
        this.#onReportBlocks(buf, reader.offset, reader.length, type === RtcpType.SR ? 28 : 8);
      }
    }
  }

  /** Probe clusters covered by this feedback: a success lifts the estimate (simulcast.md §3.2). */
  #onProbeFeedback(nowMs: number): void {
    const overusing = this.bandwidth.usage === BandwidthUsage.overusing;
    for (const consumer of this.consumers) {
      const bps = consumer.onProbeFeedback(this.#feedback, this.#history, overusing, nowMs);
      if (bps > 0) this.bandwidth.onProbeResult(bps, nowMs);
      if (bps >= 0) this.#recovery.onResult(consumer, bps > 0, nowMs);
    }
  }

  #onReportBlocks(buf: Uint8Array, off: number, len: number, _headerLength: number): void {
    const block = this.#block;
    for (let i = 0; readReportBlock(buf, off, len, i, block); i++) {
      const consumer = this.#consumerBySsrc(block.ssrc);
      if (!consumer) continue;
      histograms.packetLossRatio.observe(block.fractionLost / 256);
      this.bandwidth.onLossReport(block.fractionLost / 256, performance.now());
      histograms.jitterSeconds.observe(block.jitter / consumer.producer.clockRate);
      if (block.lastSr !== 0) {
        // RFC 3550 §6.4.1: RTT = now − LSR − DLSR, in 1/65536 s of the middle NTP bits.
        const nowMid = compactNtpNow();
        const rtt = ((nowMid - block.lastSr - block.delaySinceLastSr) >>> 0) / 65536;
        if (rtt >= 0 && rtt < 10) {
          this.rttMs = rtt * 1000;
          histograms.rttSeconds.observe(rtt);
        }
      }
    }
  }

  #consumerBySsrc(ssrc: number): Consumer | undefined {
    for (const c of this.consumers) if (c.ssrc === ssrc) return c;
    return undefined;
  }

  #keyframeFor(ssrc: number): void {
    const consumer = this.#consumerBySsrc(ssrc);
    const layer = consumer?.current ?? consumer?.target;
    if (consumer && layer) consumer.producer.requestKeyframe(layer, performance.now());
  }

  /** Periodic work: layer selection, sender reports. */
  override tick(nowMs: number): void {
    super.tick(nowMs);
    if (!this.peer.connected) return;
    if (!this.#firstPacketMarked && this.consumers.some((c) => c.packetsSent > 0)) {
      this.#firstPacketMarked = true;
      this.trace?.mark("first_packet");
    }
    if (nowMs - this.#lastSelectMs >= SELECT_INTERVAL_MS) {
      this.#lastSelectMs = nowMs;
      // Without TWCC or REMB there is no estimate to obey: caps and pins only.
      const mode = this.bandwidth.modeAt(nowMs);
      const estimate = mode === EstimateMode.twcc || mode === EstimateMode.remb
        ? this.bandwidth.estimateAt(nowMs)
        : Infinity;
      const video = this.#video;
      const audioReserve = this.#audioCount * AUDIO_RESERVE_BPS;
      this.#split.split(estimate, audioReserve, video, this.#shares, this.#reserve);
      const probing = mode === EstimateMode.twcc;
      for (let i = 0; i < video.length; i++) {
        // Probes only where TWCC feedback can tell whether they arrived.
        video[i].select(
          nowMs,
          this.#shares[i],
          this.bandwidth.lossFraction,
          probing,
          this.#reserve[0],
        );
      }
      if (probing) this.#recovery.run(nowMs, estimate, video, this.#shares);
    } else {
      // Padding is paced on every tick, not only on the selection rounds.
      this.#recovery.pace(nowMs);
    }
    if (nowMs - this.#lastSrMs >= SR_INTERVAL_MS) {
      this.#lastSrMs = nowMs;
      if (nowMs - this.#lastEstimateSampleMs >= 5000) {
        this.#lastEstimateSampleMs = nowMs;
        histograms.bandwidthEstimateBits.observe(this.bandwidth.estimateAt(nowMs));
      }
      for (const consumer of this.consumers) this.#sendSenderReport(consumer, nowMs);
    }
  }

  /**
   * Sender report for one consumer: the source's SR mapping shifted into the output timestamp
   * space when the publisher sent one (lip sync), else extrapolated from the last packet.
   */
  #sendSenderReport(consumer: Consumer, nowMs: number): void {
    const munger = consumer.munger;
    if (!munger.started || consumer.packetsSent === 0) return;
    const layer = consumer.current;
    const wallMs = Date.now();
    let rtp: number;
    if (layer && layer.srArrivalMs >= 0) {
      // Extrapolate from when the SR arrived, not from its NTP field: publishers' clocks drift.
      const elapsedMs = nowMs - layer.srArrivalMs;
      rtp = (layer.srRtpTimestamp + munger.tsOffset +
        Math.round(elapsedMs * consumer.producer.clockRate / 1000)) >>> 0;
    } else {
      rtp = munger.lastOutTs;
    }
    let n = writeSenderReport(
      this.#rtcp,
      0,
      consumer.ssrc,
      wallMs,
      rtp,
      consumer.packetsSent,
      consumer.bytesSent,
    );
    n += writeSdesCname(this.#rtcp, n, consumer.ssrc, this.cname);
    this.peer.sendRtcp(this.#rtcp, n);
  }

  /** The publisher was replaced: re-bind consumers of the same kind. */
  rebind(producers: Producer[]): void {
    for (const consumer of this.consumers) {
      const next = producers.find((p) => p.kind === consumer.kind);
      if (next) consumer.rebind(next);
    }
  }

  override async close(reason: Parameters<SessionBase["close"]>[0]): Promise<void> {
    for (const consumer of this.consumers) consumer.close();
    await super.close(reason);
  }
}

function compactNtpNow(): number {
  const ms = Date.now();
  const sec = Math.floor(ms / 1000) + 2208988800;
  const frac = ((ms % 1000) / 1000) * 65536;
  return (((sec & 0xffff) << 16) | (frac & 0xffff)) >>> 0;
}
