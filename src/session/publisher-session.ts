/**
 * A WHIP publisher: its transport, its producers, and the RTCP Quetzal sends it (NACKs for
 * ingest loss per SSRC, receiver reports, key-frame requests).
 */
import { counters, DropReason } from "../observability/counters.ts";
import { Ext, ExtensionMap } from "../rtp/header-extensions.ts";
import { InboundPacket } from "../rtp/inbound-packet.ts";
import {
  readSenderReport,
  type ReportBlock,
  RtcpReader,
  RtcpType,
  type SenderReportInfo,
} from "../rtp/rtcp-reader.ts";
import { writeFir, writeNack, writePli, writeReceiverReport } from "../rtp/rtcp-writer.ts";
import { ntpToUnixMs } from "../rtp/ntp-time.ts";
import { TwccRecorder } from "../rtp/twcc-recorder.ts";
import { Producer } from "../sfu/producer.ts";
import type { OfferPlan } from "./negotiation.ts";
import type { SdpCodec } from "./sdp.ts";
import type { PeerListener, PeerTransport } from "./peer-transport.ts";
import { SessionBase } from "./session-base.ts";

const NACK_INTERVAL_MS = 20;
/** Transport-wide CC feedback every 100 ms (libwebrtc's RemoteEstimatorProxy default). */
const TWCC_INTERVAL_MS = 100;
const REPORT_INTERVAL_MS = 1000;

export class PublisherSession extends SessionBase implements PeerListener {
  readonly role = "publisher" as const;
  /** The published tracks; a room participant's re-offer changes them (`update`). */
  producers: Producer[];
  /** The accepted codec of each producer, for matching viewers' offers. */
  readonly codecs: Map<Producer, SdpCodec> = new Map();
  readonly #bySsrc = new Map<number, Producer>();
  readonly #pkt = new InboundPacket();
  readonly #rtcpReader = new RtcpReader();
  readonly #rtcp = new Uint8Array(1500);
  readonly #nackSeqs = new Uint16Array(256);
  readonly #sr: SenderReportInfo = {
    ssrc: 0,
    ntpSec: 0,
    ntpFrac: 0,
    rtpTimestamp: 0,
    packetCount: 0,
    octetCount: 0,
  };
  readonly #block: ReportBlock = {
    ssrc: 0,
    fractionLost: 0,
    cumulativeLost: 0,
    extendedHighestSeq: 0,
    jitter: 0,
    lastSr: 0,
    delaySinceLastSr: 0,
  };
  readonly #usePli: Map<Producer, boolean> = new Map();
  /** One recorder per transport: the sequence spans audio, every layer, RTX and padding. */
  readonly #twcc = new TwccRecorder();
  #lastTwccMs = 0;
  #firSeq = 0;
  #lastNackMs = 0;
  #lastReportMs = 0;
  /** Set when the first RTP packet arrives. */
  firstPacketMs = -1;
  onFirstPacket: () => void = () => {};

  /** Who the producers belong to: a room participant, else this session. */
  readonly participant: string;

  constructor(
    id: string,
    streamName: string,
    peer: PeerTransport,
    plan: OfferPlan,
    participant: string = id,
  ) {
    super(id, streamName, peer);
    this.participant = participant;
    this.producers = plan.tracks.map((track) => this.#producerFor(track));
    peer.setListener(this);
  }

  /**
   * A re-offer on the same connection (a room participant starts or stops a screen share,
   * unpublishes, republishes): a track whose mid, source, codec and rids are unchanged keeps
   * its producer; the others are new, and producers no longer offered are dropped.
   */
  update(plan: OfferPlan): { added: Producer[]; removed: Producer[] } {
    const kept: Producer[] = [];
    const added: Producer[] = [];
    for (const track of plan.tracks) {
      const same = this.producers.find((p) =>
        p.mid === track.mid && p.source === track.source && p.codecName === track.codecName &&
        p.payloadType === track.codec.payloadType && p.rids.join() === track.rids.join()
      );
      if (same) kept.push(same);
      else added.push(this.#producerFor(track));
    }
    const removed = this.producers.filter((p) => !kept.includes(p));
    this.#forget(removed);
    this.producers = [...kept, ...added];
    return { added, removed };
  }

  /**
   * Forgets producers the room closed (a demoted participant's): a later re-offer of the same
   * m-line makes a new producer instead of keeping a closed one.
   */
  dropProducers(ids: readonly string[]): void {
    const gone = this.producers.filter((p) => ids.includes(p.id));
    if (gone.length === 0) return;
    this.#forget(gone);
    this.producers = this.producers.filter((p) => !gone.includes(p));
  }

  /** Drops what this session keeps per producer (codec, PLI or FIR, learnt SSRCs). */
  #forget(producers: readonly Producer[]): void {
    for (const p of producers) {
      this.codecs.delete(p);
      this.#usePli.delete(p);
    }
    for (const [ssrc, p] of this.#bySsrc) if (producers.includes(p)) this.#bySsrc.delete(ssrc);
  }

  #producerFor(track: OfferPlan["tracks"][number]): Producer {
    const producer = new Producer({
      participant: this.participant,
      source: track.source,
      kind: track.kind,
      mid: track.mid,
      codecName: track.codecName,
      payloadType: track.codec.payloadType,
      clockRate: track.codec.clockRate,
      rids: track.rids,
      extensions: ExtensionMap.fromExtmaps(track.extmaps),
      requestKeyframe: (ssrc) => this.#sendKeyframeRequest(producer, ssrc),
    });
    this.codecs.set(producer, track.codec);
    this.#usePli.set(
      producer,
      track.rtcpFb.includes("nack pli") || !track.rtcpFb.includes("ccm fir"),
    );
    for (const ssrc of track.rids.length === 0 ? track.ssrcs.slice(0, 1) : []) {
      this.#bySsrc.set(ssrc, producer);
    }
    return producer;
  }

  onRtp(buf: Uint8Array, len: number): void {
    const ssrc = ((buf[8] << 24) | (buf[9] << 16) | (buf[10] << 8) | buf[11]) >>> 0;
    let producer = this.#bySsrc.get(ssrc);
    if (!producer) {
      // SSRCs are learnt from the first packet (OBS simulcast signals none): by its mid when it
      // carries one (a room participant's camera and screen share a payload type), else by
      // payload type.
      producer = this.#byMid(buf, len);
      const pt = buf[1] & 0x7f;
      producer ??= this.producers.find((p) => p.payloadType === pt);
      if (!producer) {
        counters.packetsDropped[DropReason.unroutable]++;
        return;
      }
      this.#bySsrc.set(ssrc, producer);
    }
    const pkt = this.#pkt;
    if (!pkt.parse(buf, len, producer.extensions)) {
      counters.packetsDropped[DropReason.malformed]++;
      return;
    }
    pkt.arrivalMs = performance.now();
    // Recorded before any filtering: the sender's estimator needs every arrival.
    const twccSeq = pkt.transportSequence();
    if (twccSeq >= 0) this.#twcc.record(twccSeq, pkt.arrivalMs * 1000);
    if (this.firstPacketMs < 0) {
      this.firstPacketMs = pkt.arrivalMs;
      this.onFirstPacket();
    }
    producer.onPacket(pkt);
  }

  /** The producer named by a packet's mid extension (IDs are shared across the BUNDLE group). */
  #byMid(buf: Uint8Array, len: number): Producer | undefined {
    if (this.producers.length < 2) return undefined;
    const pkt = this.#pkt;
    if (!pkt.parse(buf, len, this.producers[0].extensions)) return undefined;
    const mid = pkt.ridString(Ext.mid);
    // The payload type too: a retransmission (RTX) stream carries the same mid.
    const pt = buf[1] & 0x7f;
    return mid === undefined
      ? undefined
      : this.producers.find((p) => p.mid === mid && p.payloadType === pt);
  }

  onRtcp(buf: Uint8Array, len: number): void {
    const reader = this.#rtcpReader;
    reader.reset(buf, len);
    while (reader.next()) {
      if (reader.type !== RtcpType.SR) continue;
      readSenderReport(buf, reader.offset, this.#sr);
      const producer = this.#bySsrc.get(this.#sr.ssrc);
      const layer = producer?.layers.find((l) => l.ssrc === this.#sr.ssrc);
      if (!layer) continue;
      const now = performance.now();
      layer.srNtpSeconds = ntpToUnixMs(this.#sr.ntpSec, this.#sr.ntpFrac) / 1000;
      layer.srRtpTimestamp = this.#sr.rtpTimestamp;
      layer.srArrivalMs = now;
      layer.stats.onSenderReport(this.#sr.ntpSec, this.#sr.ntpFrac, now);
    }
  }

  #sendKeyframeRequest(producer: Producer, ssrc: number): void {
    const usePli = this.#usePli.get(producer) ?? true;
    const n = usePli
      ? writePli(this.#rtcp, 0, this.rtcpSsrc, ssrc)
      : writeFir(this.#rtcp, 0, this.rtcpSsrc, ssrc, this.#firSeq++ & 0xff);
    if (this.peer.sendRtcp(this.#rtcp, n)) {
      if (usePli) counters.pliOut++;
      else counters.firOut++;
    }
  }

  /** Periodic work: NACKs every 20 ms, receiver reports every second. */
  override tick(nowMs: number): void {
    super.tick(nowMs);
    if (!this.peer.connected) return;
    for (const producer of this.producers) producer.tick(nowMs);
    if (nowMs - this.#lastNackMs >= NACK_INTERVAL_MS) {
      this.#lastNackMs = nowMs;
      for (const producer of this.producers) {
        for (const layer of producer.layers) {
          const count = layer.nack.collect(nowMs, 50, this.#nackSeqs);
          if (count === 0) continue;
          const n = writeNack(this.#rtcp, 0, this.rtcpSsrc, layer.ssrc, this.#nackSeqs, count);
          if (n > 0 && this.peer.sendRtcp(this.#rtcp, n)) counters.nacks[1] += count;
        }
      }
    }
    if (nowMs - this.#lastTwccMs >= TWCC_INTERVAL_MS && this.#twcc.pending > 0) {
      this.#lastTwccMs = nowMs;
      const mediaSsrc = this.producers[0]?.layers[0]?.ssrc ?? 0;
      for (let i = 0; i < 4 && this.#twcc.pending > 0; i++) {
        const n = this.#twcc.buildFeedback(this.#rtcp, 0, this.rtcpSsrc, mediaSsrc);
        if (n <= 0) break;
        this.peer.sendRtcp(this.#rtcp, n);
      }
    }
    if (nowMs - this.#lastReportMs >= REPORT_INTERVAL_MS) {
      this.#lastReportMs = nowMs;
      for (const producer of this.producers) {
        for (const layer of producer.layers) {
          layer.stats.fillReportBlock(layer.ssrc, nowMs, this.#block);
          const n = writeReceiverReport(this.#rtcp, 0, this.rtcpSsrc, [this.#block], 1);
          if (n > 0) this.peer.sendRtcp(this.#rtcp, n);
        }
      }
    }
  }

  /** Inbound bitrate over the last second, all layers. */
  get bitrateBps(): number {
    let sum = 0;
    for (const p of this.producers) for (const l of p.layers) sum += l.bitrateBps;
    return sum;
  }
}
