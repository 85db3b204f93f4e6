/**
 * The viewer half of Quetzal, as run inside a worker: viewer sessions (werift transports,
 * consumers, SRTP, sockets) fed from a PacketRing instead of from publisher sessions.
 *
 * Each published track has a mirror Producer here, built from the main thread's TrackInfo.
 * Ring packets are parsed in place into one InboundPacket and given to the mirror, which
 * books them on its own layers (tracker, retransmission cache: viewer NACKs are answered
 * here) and fans them out to this worker's consumers, exactly as on the main thread. Key-frame
 * requests go back to the main thread, which owns the publisher.
 */
import { counters, FastHistogram, histograms } from "../observability/counters.ts";
import type { SessionEvent } from "../observability/tracing.ts";
import { ExtensionMap } from "../rtp/header-extensions.ts";
import { InboundPacket } from "../rtp/inbound-packet.ts";
import {
  buildAnswer,
  planPlay,
  requireTransport,
  type SourceTrack,
} from "../session/negotiation.ts";
import { type NetworkOptions, PeerTransport } from "../session/peer-transport.ts";
import { parseSdp } from "../session/sdp.ts";
import type { EndReason } from "../session/session-base.ts";
import { ViewerSession } from "../session/viewer-session.ts";
import { Producer } from "../sfu/producer.ts";
import { Router } from "../sfu/router.ts";
import type { SrtpBackend } from "../transport/srtp.ts";
import { MAX_BATCH_INBOUND, sendBatch } from "../transport/send-batch.ts";
import { type PacketRing, RingFlag, type RingSink } from "./packet-ring.ts";
import type { CounterDelta, PlayResult, TrackInfo, ViewerStatus } from "./protocol.ts";

/** What the host tells its owner (the worker's postMessage, or a test). */
export interface ViewerHostEvents {
  keyframe(trackId: number, ssrc: number): void;
  /** A viewer ended on its own (dead peer, ICE/DTLS failure, publisher gone). */
  ended(id: string, reason: EndReason): void;
  /** A lifecycle step of a viewer: the main thread logs and traces it (its SessionTrace). */
  session(id: string, event: SessionEvent): void;
}

export interface ViewerHostOptions {
  ring: PacketRing;
  network: NetworkOptions;
  srtp: SrtpBackend;
  connectTimeoutMs: number;
  events: ViewerHostEvents;
}

/** Nothing is published on the stream (the main thread maps it to 409). */
export class HostNoSourceError extends Error {
  override name = "NoSourceError";
}

const TICK_MS = 20;
/** Packets per drain before yielding to I/O (sends' completions, RTCP from viewers). */
const DRAIN_BATCH = 1024;

export class ViewerHost implements RingSink {
  readonly sessions: Map<string, ViewerSession> = new Map();
  /** Mirrors of the main thread's Routers (stream keys) that have viewers here. */
  readonly streams: Map<string, Router> = new Map();
  readonly #byTrack = new Map<number, Producer>();
  readonly #infos = new Map<Producer, TrackInfo>();
  readonly #options: ViewerHostOptions;
  readonly #ring: PacketRing;
  readonly #pkt = new InboundPacket();
  readonly #timeOrigin = performance.timeOrigin;
  readonly #yield = new MessageChannel();
  readonly #pump: () => void;
  readonly #last: CounterDelta = emptyDelta();
  #timer: ReturnType<typeof setInterval>;
  #closed = false;
  /** Packets read from the ring, and ms spent forwarding them (CPU proxy), since the last take. */
  ringPackets = 0;
  busyMs = 0;
  /** Ring packets handled since the send batch was last sent. */
  #batched = 0;
  /** Packets whose track this worker does not know (a race with a publisher change). */
  unknownTrack = 0;
  /** Video SSRCs this worker has seen, and whether it has seen a key frame of each. */
  readonly #keyframeSeen = new Map<number, boolean>();

  constructor(options: ViewerHostOptions) {
    this.#options = options;
    this.#ring = options.ring;
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
    this.#pump = () => this.#drain();
    this.#yield.port2.onmessage = this.#pump;
    this.#drain();
  }

  // The read loop: drain a batch, then sleep on the ring until the writer wakes us, or, when
  // packets are already waiting, yield one macrotask (sends and RTCP need the event loop).
  #drain(): void {
    if (this.#closed) return;
    const start = performance.now();
    // Sends leave in batches, one sendmmsg per viewer socket (transport/send-batch.ts).
    sendBatch.begin();
    let n = 0;
    try {
      n = this.#ring.drain(this, DRAIN_BATCH);
    } finally {
      sendBatch.end();
    }
    if (n > 0) {
      this.ringPackets += n;
      this.busyMs += performance.now() - start;
    }
    // Sleeping on the ring is itself a task boundary (I/O runs before the wake-up), so the
    // port is only needed when more packets are already waiting.
    const wait = this.#ring.waitForData();
    if (wait === undefined) this.#yield.port1.postMessage(0);
    else wait.then(this.#pump);
  }

  onRingPacket(
    buf: Uint8Array,
    len: number,
    trackId: number,
    ssrc: number,
    flags: number,
    arrivalEpochMs: number,
  ): void {
    const producer = this.#byTrack.get(trackId);
    if (producer === undefined) {
      this.unknownTrack++;
      return;
    }
    const rid = (flags >>> RingFlag.ridShift) & RingFlag.ridMask;
    if (rid !== 0) producer.learnLayer(ssrc, rid - 1);
    const pkt = this.#pkt;
    if (!pkt.parse(buf, len, producer.extensions)) return;
    pkt.arrivalMs = arrivalEpochMs - this.#timeOrigin;
    producer.onPacket(pkt);
    if (++this.#batched === MAX_BATCH_INBOUND) {
      this.#batched = 0;
      sendBatch.flush();
    }
    if ((flags & RingFlag.audio) === 0 && this.#keyframeSeen.get(ssrc) !== true) {
      this.#firstSight(trackId, ssrc, (flags & RingFlag.keyframe) !== 0);
    }
  }

  /**
   * A worker that starts mirroring a live stream has missed the key frames sent before it
   * subscribed, and the allocator only switches to a layer whose key frame it has seen: ask
   * the publisher once for every layer that turns up without one, or the upper layers of a
   * simulcast stream stay out of reach until the encoder sends a key frame on its own.
   */
  #firstSight(trackId: number, ssrc: number, keyframe: boolean): void {
    const known = this.#keyframeSeen.has(ssrc);
    this.#keyframeSeen.set(ssrc, keyframe);
    if (!known && !keyframe) this.#options.events.keyframe(trackId, ssrc);
  }

  /** A publisher went live or was replaced: mirror its tracks; orphaned viewers end. */
  setStream(name: string, tracks: TrackInfo[]): void {
    let stream = this.streams.get(name);
    if (!stream) {
      stream = new Router(name);
      this.streams.set(name, stream);
    }
    for (const old of stream.producers) this.#forget(old);
    const producers = tracks.map((track) => {
      const producer = new Producer({
        kind: track.kind,
        mid: track.mid,
        codecName: track.codecName,
        payloadType: track.codec.payloadType,
        clockRate: track.codec.clockRate,
        rids: track.rids,
        extensions: ExtensionMap.fromExtmaps(track.extmaps),
        requestKeyframe: (ssrc) => this.#options.events.keyframe(track.trackId, ssrc),
      });
      this.#byTrack.set(track.trackId, producer);
      this.#infos.set(producer, track);
      return producer;
    });
    const orphans = stream.replaceProducers(producers);
    for (const session of this.sessions.values()) {
      if (session.consumers.some((c) => orphans.includes(c))) {
        void this.end(session.id, "publisher_left", true);
      }
    }
  }

  /** The publisher left: its mirrors close, consumers stay idle until their viewers leave. */
  clearStream(name: string, trackIds: number[]): void {
    const stream = this.streams.get(name);
    if (!stream) return;
    const mirrors = trackIds.map((id) => this.#byTrack.get(id));
    if (mirrors.length === 0 || mirrors.some((p) => !p || !stream.producers.includes(p))) return;
    for (const p of stream.producers) this.#forget(p);
    stream.removeProducers(stream.producers.map((p) => p.id));
    if (stream.consumers.size === 0) {
      this.streams.delete(name);
      stream.close();
    }
  }

  #forget(producer: Producer): void {
    const info = this.#infos.get(producer);
    if (info && this.#byTrack.get(info.trackId) === producer) this.#byTrack.delete(info.trackId);
    this.#infos.delete(producer);
  }

  /** WHEP: negotiates a viewer of `name` with the given session id. */
  async play(id: string, name: string, offerSdp: string): Promise<PlayResult> {
    if (this.#closed) throw new Error("the worker is closing");
    const stream = this.streams.get(name);
    if (!stream || !stream.live) {
      throw new HostNoSourceError(`nothing is being published on stream "${name}"`);
    }
    const sources: SourceTrack[] = stream.producers.map((p) => ({
      kind: p.kind,
      codec: this.#infos.get(p)!.codec,
      codecName: p.codecName,
    }));
    const offer = parseSdp(offerSdp);
    const plan = planPlay(offer, sources);
    requireTransport(offer, plan);
    const o = this.#options;
    const { peer, local } = await PeerTransport.create(offer, plan, "play", o.network, o.srtp);
    const session = new ViewerSession(id, name, peer, plan);
    // The session's log lines, span and setup time belong to the main thread, where the logger,
    // the tracer and the metrics are: each step is relayed there; the end is the main
    // thread's own (it ends every remote viewer, see WorkerPool.end).
    const events = o.events;
    session.trace = { mark: (event) => events.session(id, event), end: () => {} };
    session.remoteIceUfrag = offer.media[plan.tracks[0].index].iceUfrag ?? "";
    const answer = buildAnswer(offer, plan, local, "play", (track) => ({
      ssrc: session.ssrcByMid.get(track.mid),
      cname: session.cname,
      msid: `quetzal-${name.replace(/[^A-Za-z0-9_-]/g, "")} ${track.kind}`,
    }));
    // The stream may have changed while negotiating; attach to what is live now.
    const live = this.streams.get(name);
    session.attach(plan, live?.producers ?? []);
    for (const c of session.consumers) live?.consumers.add(c);
    session.expectConnectionWithin(o.connectTimeoutMs);
    session.onEnd = (reason) => void this.end(id, reason, true);
    this.sessions.set(id, session);
    return {
      answer,
      etag: session.etag,
      remoteIceUfrag: session.remoteIceUfrag,
      consumers: session.consumers.map((c) => ({
        mid: c.mid,
        kind: c.kind,
        ssrc: c.ssrc,
        trackId: this.#infos.get(c.producer)?.trackId ?? -1,
      })),
    };
  }

  /** Ends a viewer; `notify` tells the main thread (when the end did not come from it). */
  async end(id: string, reason: EndReason, notify = false): Promise<boolean> {
    const session = this.sessions.get(id);
    if (!session) return false;
    this.sessions.delete(id);
    // Session counts (ends, ICE/DTLS failures) are the main thread's: SessionManager.end counts
    // every remote viewer's end by its reason, as a local one's.
    const stream = this.streams.get(session.streamName);
    if (stream) { for (const c of session.consumers) stream.consumers.delete(c); }
    if (notify) this.#options.events.ended(id, reason);
    await session.close(reason);
    if (stream && !stream.live && stream.consumers.size === 0) {
      this.streams.delete(stream.id);
      stream.close();
    }
    return true;
  }

  restartIce(
    id: string,
    remoteUfrag: string,
    remotePwd: string,
    local: { iceUfrag: string; icePwd: string },
  ): void {
    const session = this.sessions.get(id);
    if (!session) return;
    session.peer.restartIce(remoteUfrag, remotePwd, local);
    session.remoteIceUfrag = remoteUfrag;
  }

  #consumer(id: string, mid: string) {
    return this.sessions.get(id)?.consumers.find((c) => c.mid === mid);
  }

  /** WHEP layer extension: pin a rid (null: automatic) on the consumer of `mid`. */
  pin(id: string, mid: string, rid: string | null): void {
    const consumer = this.#consumer(id, mid);
    if (!consumer) return;
    consumer.pin(rid);
    consumer.select(performance.now());
  }

  /** WHEP layer extension: temporal pin (null: automatic) and cap on the consumer of `mid`. */
  temporal(id: string, mid: string, pinned: number | null, max?: number): void {
    const consumer = this.#consumer(id, mid);
    if (!consumer) return;
    consumer.setTemporal(pinned, max);
    consumer.select(performance.now());
  }

  caps(id: string, mid: string, maxWidth?: number, maxHeight?: number, maxSpatial?: number): void {
    const consumer = this.#consumer(id, mid);
    if (!consumer) return;
    consumer.setCaps(maxWidth, maxHeight, maxSpatial);
    consumer.select(performance.now());
  }

  /** A publisher's sender report, for lip sync and layer-switch alignment. */
  senderReport(
    trackId: number,
    ssrc: number,
    ntpSeconds: number,
    rtpTimestamp: number,
    arrivalEpochMs: number,
  ): void {
    const layer = this.#byTrack.get(trackId)?.layers.find((l) => l.ssrc === ssrc);
    if (!layer) return;
    layer.srNtpSeconds = ntpSeconds;
    layer.srRtpTimestamp = rtpTimestamp;
    layer.srArrivalMs = arrivalEpochMs - this.#timeOrigin;
  }

  #tick(): void {
    const now = performance.now();
    const start = now;
    for (const producer of this.#byTrack.values()) producer.tick(now);
    for (const session of this.sessions.values()) {
      try {
        session.tick(now);
      } catch {
        void this.end(session.id, "error", true);
      }
    }
    this.busyMs += performance.now() - start;
  }

  /** What the main thread shows in the API and uses for layer requests. */
  viewerStatus(): ViewerStatus[] {
    const now = performance.now();
    const out: ViewerStatus[] = [];
    for (const session of this.sessions.values()) {
      out.push({
        id: session.id,
        connected: session.peer.connected,
        estimateBps: Math.round(session.bandwidth.estimateAt(now)),
        consumers: session.consumers.map((c) => ({
          mid: c.mid,
          currentSsrc: c.current?.ssrc ?? -1,
          targetSsrc: c.target?.ssrc ?? -1,
          reason: c.lastSwitchReason,
          packetsSent: c.packetsSent,
          temporalTarget: c.temporalTarget,
          temporalCurrent: c.temporalCurrent,
        })),
      });
    }
    return out;
  }

  /** Counter increments since the previous call (this worker's counters are its own). */
  takeCounterDelta(): CounterDelta {
    const last = this.#last;
    const delta: CounterDelta = {
      rtpPacketsOut: [
        counters.rtpPacketsOut[0] - last.rtpPacketsOut[0],
        counters.rtpPacketsOut[1] - last.rtpPacketsOut[1],
      ],
      rtpBytesOut: [
        counters.rtpBytesOut[0] - last.rtpBytesOut[0],
        counters.rtpBytesOut[1] - last.rtpBytesOut[1],
      ],
      packetsDropped: counters.packetsDropped.map((v, i) => v - last.packetsDropped[i]),
      nacksIn: counters.nacks[0] - last.nacksIn,
      retransmissions: counters.retransmissions - last.retransmissions,
      pliIn: counters.pliIn - last.pliIn,
      firIn: counters.firIn - last.firIn,
      layerSwitches: counters.layerSwitches.map((v, i) => v - last.layerSwitches[i]),
      sendLinks: [
        counters.sendLinks[0] - last.sendLinks[0],
        counters.sendLinks[1] - last.sendLinks[1],
      ],
      histograms: takeHistograms(),
    };
    last.rtpPacketsOut = [...counters.rtpPacketsOut];
    last.rtpBytesOut = [...counters.rtpBytesOut];
    last.packetsDropped = [...counters.packetsDropped];
    last.nacksIn = counters.nacks[0];
    last.retransmissions = counters.retransmissions;
    last.pliIn = counters.pliIn;
    last.firIn = counters.firIn;
    last.layerSwitches = [...counters.layerSwitches];
    last.sendLinks = [...counters.sendLinks];
    return delta;
  }

  /** Ends every viewer and stops the loop and the ticker. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#ring.wake();
    this.#yield.port1.close();
    this.#yield.port2.close();
    await Promise.all([...this.sessions.keys()].map((id) => this.end(id, "shutdown")));
    for (const stream of this.streams.values()) stream.close();
    this.streams.clear();
    this.#byTrack.clear();
    this.#keyframeSeen.clear();
  }
}

/**
 * This worker's histograms, then cleared: nothing scrapes a worker, so its histograms only
 * collect what the next status carries to the main thread's.
 */
function takeHistograms(): CounterDelta["histograms"] {
  const out: CounterDelta["histograms"] = {};
  for (const [name, h] of Object.entries(histograms)) {
    if (!(h instanceof FastHistogram) || h.sum === 0 && h.count === 0) continue;
    out[name] = { counts: [...h.counts], sum: h.sum };
    h.reset();
  }
  return out;
}

function emptyDelta(): CounterDelta {
  return {
    rtpPacketsOut: [0, 0],
    rtpBytesOut: [0, 0],
    packetsDropped: counters.packetsDropped.map(() => 0),
    nacksIn: 0,
    retransmissions: 0,
    pliIn: 0,
    firIn: 0,
    layerSwitches: counters.layerSwitches.map(() => 0),
    sendLinks: [0, 0],
    histograms: {},
  };
}
