/**
 * One published track (audio or video) and its encodings (layers), fanned out to consumers.
 *
 * The packet path: the publisher session parses each packet once into an InboundPacket, the
 * producer books it on its layer (stats, NACK tracking, cache, key-frame detection) and hands
 * the same object to every consumer. Nothing is allocated per packet.
 */
import type { CodecName } from "../rtp/codecs/codec.ts";
import { inspectVideoPayload, type VideoFrameInfo } from "../rtp/codecs/codec.ts";
import { Ext, type ExtensionMap } from "../rtp/header-extensions.ts";
import type { InboundPacket } from "../rtp/inbound-packet.ts";
import { NackPush } from "../rtp/nack-generator.ts";
import { counters, DropReason } from "../observability/counters.ts";
import type { Consumer } from "./consumer.ts";
import { KeyframeRequester } from "./keyframe-requester.ts";
import { Layer } from "./layer.ts";
import { LayerChange, LayerTracker } from "./layer-tracker.ts";
import { defaultSource, type ProducerInfo, type Source } from "./router-protocol.ts";
import { AudioLevelStats } from "./speaker-detector.ts";

/** Sends a key-frame request for one SSRC to the publisher. */
export type KeyframeSink = (ssrc: number) => void;

export interface ProducerOptions {
  /** Process-wide id (a worker's mirror takes the original's); generated when absent. */
  id?: string;
  /** Who publishes it (default: unknown, ""). */
  participant?: string;
  /** What it carries (default: microphone for audio, camera for video). */
  source?: Source;
  kind: "audio" | "video";
  mid: string;
  codecName: CodecName;
  payloadType: number;
  clockRate: number;
  /** Simulcast rids in offer order; empty for a single encoding. */
  rids: string[];
  /** The publisher's extension IDs for this m-line. */
  extensions: ExtensionMap;
  requestKeyframe: KeyframeSink;
  /** Milliseconds between key-frame requests for one layer. */
  keyframeThrottleMs?: number;
}

const MAX_LAYERS = 4;
let nextProducerId = 1;

/**
 * Sees every packet of a producer besides its consumers, with the same arguments: the main
 * thread's end of the viewer workers' rings. Not a Consumer (no layer selection, no viewer).
 */
export interface PacketTap {
  onPacket(pkt: InboundPacket, layer: Layer, keyframe: boolean): void;
}

export class Producer {
  readonly id: string;
  readonly participant: string;
  readonly source: Source;
  readonly kind: "audio" | "video";
  readonly kindIndex: 0 | 1;
  readonly mid: string;
  readonly codecName: CodecName;
  readonly payloadType: number;
  readonly clockRate: number;
  readonly rids: string[];
  readonly extensions: ExtensionMap;
  readonly layers: Layer[] = [];
  /** Activity, bitrate, resolution and rank of every layer. */
  readonly tracker: LayerTracker = new LayerTracker();
  #lastTickMs = -Infinity;
  /** Consumers, as an array for the fan-out loop. */
  consumers: Consumer[] = [];
  /** Taps (viewer workers' rings, src/workers/ring-tap.ts), as an array for the same loop. */
  taps: PacketTap[] = [];
  readonly #bySsrc = new Map<number, Layer>();
  /** Shared, throttled key-frame requests: any number of viewers asking → one PLI. */
  readonly #keyframes: KeyframeRequester;
  readonly #frame: VideoFrameInfo = {
    keyframe: false,
    width: 0,
    height: 0,
    tid: -1,
    layerSync: false,
  };
  #closed = false;
  /**
   * Muted (by its participant or a moderator): packets are booked (NACK, cache, levels) but
   * not fanned out, so a muted microphone costs no forwarding.
   */
  muted = false;
  /** Audio levels (RFC 6464) since the speaker detector's last look. */
  readonly levels: AudioLevelStats = new AudioLevelStats();
  /** Called when a layer is first seen or its resolution changes (for SSE `layers`). */
  onLayersChanged: () => void = () => {};

  constructor(options: ProducerOptions) {
    this.id = options.id ?? `p${nextProducerId++}`;
    this.participant = options.participant ?? "";
    this.source = options.source ?? defaultSource(options.kind);
    this.kind = options.kind;
    this.kindIndex = options.kind === "audio" ? 0 : 1;
    this.mid = options.mid;
    this.codecName = options.codecName;
    this.payloadType = options.payloadType;
    this.clockRate = options.clockRate;
    this.rids = options.rids;
    this.extensions = options.extensions;
    const throttleMs = options.keyframeThrottleMs ?? 500;
    const sink = options.requestKeyframe;
    this.#keyframes = new KeyframeRequester((ssrc) => sink(ssrc), {
      lowestIntervalMs: throttleMs,
      otherIntervalMs: throttleMs,
    });
  }

  /** The producer as plain data (events, snapshots, the worker boundary). */
  get info(): ProducerInfo {
    return {
      id: this.id,
      participant: this.participant,
      source: this.source,
      kind: this.kind,
      codec: this.codecName,
      mid: this.mid,
      rids: [...this.rids],
      muted: this.muted,
    };
  }

  get simulcast(): boolean {
    return this.rids.length > 0;
  }

  /** The layer of an SSRC, learning new SSRCs from the rid extension (no a=ssrc with OBS simulcast). */
  layerOf(pkt: InboundPacket): Layer | undefined {
    const known = this.#bySsrc.get(pkt.ssrc);
    if (known) return known;
    if (this.layers.length >= MAX_LAYERS) return undefined;
    let rid: string | undefined;
    if (this.simulcast) {
      rid = pkt.ridString(Ext.rid);
      if (rid === undefined || !this.rids.includes(rid)) return undefined;
      if (this.layers.some((l) => l.rid === rid)) return undefined;
    } else if (this.layers.length > 0) {
      // A single-encoding track whose SSRC changed (e.g. encoder restart): follow it.
      this.#bySsrc.clear();
      for (const old of this.layers) {
        this.tracker.removeLayer(old.state);
        this.#keyframes.removeLayer(old.ssrc);
      }
      this.layers.length = 0;
    }
    return this.#addLayer(pkt.ssrc, rid);
  }

  /**
   * A viewer worker's mirror learns a simulcast layer from the main thread (the ring carries
   * each packet's rid index, see ring-tap.ts), not from the rid extension: libwebrtc sends
   * the mid and rid extensions only until the receiver acknowledges an SSRC in an RTCP
   * receiver report (about a second in), and a worker starts reading a stream when its first
   * viewer arrives, often long after; a mirror left to the extension never learns the
   * layers and drops every video packet as unroutable (issue 12, defect 2: 0 frames decoded).
   * No-op when the SSRC or the rid is known already, or the rid is not one of this track's.
   */
  learnLayer(ssrc: number, ridIndex: number): void {
    if (this.#bySsrc.has(ssrc)) return;
    const rid = this.rids[ridIndex];
    if (
      rid === undefined || this.layers.length >= MAX_LAYERS ||
      this.layers.some((l) => l.rid === rid)
    ) return;
    this.#addLayer(ssrc, rid);
  }

  #addLayer(ssrc: number, rid: string | undefined): Layer {
    const state = this.tracker.addLayer(ssrc, rid ?? "");
    const ridIndex = rid === undefined ? -1 : this.rids.indexOf(rid);
    const layer = new Layer(ssrc, rid, this.kind, this.clockRate, state, ridIndex);
    this.layers.push(layer);
    this.#bySsrc.set(ssrc, layer);
    this.onLayersChanged();
    return layer;
  }

  /** The packet path. `pkt.arrivalMs` is set. */
  onPacket(pkt: InboundPacket): void {
    if (this.#closed) return;
    const layer = this.layerOf(pkt);
    if (!layer) {
      counters.packetsDropped[DropReason.unroutable]++;
      return;
    }
    const nowMs = pkt.arrivalMs;
    counters.rtpPacketsIn[this.kindIndex]++;
    counters.rtpBytesIn[this.kindIndex] += pkt.length;
    // Inspected first: the tracker books bytes and frames by temporal layer.
    const frame = this.#frame;
    frame.keyframe = false;
    frame.width = 0;
    frame.height = 0;
    frame.tid = -1;
    const inspected = this.kind === "video" && pkt.payloadLength > 0 &&
      inspectVideoPayload(this.codecName, pkt.buf, pkt.payloadOffset, pkt.payloadLength, frame);
    const payloadTid = inspected ? frame.tid ?? -1 : -1;
    const ddOff = pkt.extOffset[Ext.dependencyDescriptor];
    const templates = layer.templates;
    const fromDd = ddOff >= 0 &&
      templates.read(pkt.buf, ddOff, pkt.extLength[Ext.dependencyDescriptor]) &&
      templates.tid >= 0;
    // Consumers filter by the dependency descriptor first; the tracker books the payload's TID.
    layer.packetTid = fromDd ? templates.tid : payloadTid;
    layer.packetSyncUpTo = fromDd ? templates.syncUpTo : frame.layerSync ? payloadTid : -1;
    const tid = payloadTid >= 0 ? payloadTid : ddOff >= 0 ? templates.tid : -1;
    this.tracker.onPacket(layer.state, pkt.length, pkt.timestamp, nowMs, tid);
    const pushed = layer.nack.push(pkt.sequenceNumber, nowMs);
    if (pushed === NackPush.duplicate) {
      counters.packetsDropped[DropReason.duplicate]++;
      return;
    }
    if (pushed === NackPush.reset) this.requestKeyframe(layer, nowMs);
    layer.stats.update(pkt.sequenceNumber, pkt.timestamp, nowMs);
    layer.cache.put(pkt.sequenceNumber, pkt.buf, pkt.length, 0, nowMs);
    let keyframe = false;
    if (inspected) {
      keyframe = frame.keyframe;
      if (keyframe) this.#keyframes.onKeyFrame(layer.ssrc);
      if (keyframe || frame.width > 0) {
        this.tracker.onKeyFrame(layer.state, frame.width, frame.height, nowMs);
      }
    }
    if (this.kindIndex === 0) {
      const levelOff = pkt.extOffset[Ext.audioLevel];
      if (levelOff >= 0) this.levels.add(pkt.buf[levelOff]);
    }
    if (this.muted) {
      counters.packetsDropped[DropReason.muted]++;
      return;
    }
    // Taps first: they hand the packet to other threads, which then work in parallel.
    const taps = this.taps;
    for (let i = 0; i < taps.length; i++) taps[i].onPacket(pkt, layer, keyframe);
    const consumers = this.consumers;
    for (let i = 0; i < consumers.length; i++) consumers[i].onPacket(pkt, layer, keyframe);
  }

  /** Asks the publisher for a key frame on one layer, at most once per throttle interval. */
  requestKeyframe(layer: Layer, nowMs: number): void {
    this.#keyframes.request(layer.ssrc, nowMs);
  }

  /** Rolls layer windows and ranks; reports changes (SSE `layers`). Every ~100 ms. */
  tick(nowMs: number): void {
    if (nowMs - this.#lastTickMs < 100) return;
    this.#lastTickMs = nowMs;
    this.tracker.tick(nowMs);
    if (
      this.tracker.takeChanges() &
      (LayerChange.ranks | LayerChange.activity | LayerChange.resolution | LayerChange.temporal)
    ) {
      this.onLayersChanged();
    }
  }

  /** The layer of a rank (0 = lowest, by measured size then bitrate, never by rid name). */
  layerOfRank(rank: number): Layer | undefined {
    for (const layer of this.layers) if (layer.state.rank === rank) return layer;
    return undefined;
  }

  /** Active layers ordered from lowest to highest. */
  rankedLayers(_nowMs?: number): Layer[] {
    return this.layers.filter((l) => l.state.active).sort((a, b) => a.state.rank - b.state.rank);
  }

  addConsumer(consumer: Consumer): void {
    if (!this.consumers.includes(consumer)) this.consumers = [...this.consumers, consumer];
  }

  removeConsumer(consumer: Consumer): void {
    this.consumers = this.consumers.filter((c) => c !== consumer);
  }

  addTap(tap: PacketTap): void {
    if (!this.taps.includes(tap)) this.taps = [...this.taps, tap];
  }

  removeTap(tap: PacketTap): void {
    this.taps = this.taps.filter((t) => t !== tap);
  }

  close(): void {
    this.#closed = true;
    this.consumers = [];
    this.taps = [];
    for (const layer of this.layers) layer.cache.clear();
  }
}
