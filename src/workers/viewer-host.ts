/**
 * The viewer half of Quetzal, as run inside a worker: a LocalSubscriberHost (the same viewer
 * sessions as on the main thread) fed from a PacketRing instead of from publisher sessions.
 *
 * Each main-thread Router with a publisher has a mirror Router here, kept in step by the main
 * Router's own events (`RouterEvent`, forwarded with each added producer's codec and ring
 * track id). Ring packets are parsed in place into one InboundPacket and given to the mirror
 * producer, which books them on its own layers (tracker, retransmission cache: viewer NACKs
 * are answered here) and fans them out to this worker's consumers, exactly as on the main
 * thread. Key-frame requests go back to the main thread, which owns the publisher.
 */
import { counters, FastHistogram, histograms } from "../observability/counters.ts";
import { ExtensionMap } from "../rtp/header-extensions.ts";
import { InboundPacket } from "../rtp/inbound-packet.ts";
import { LocalSubscriberHost } from "../session/local-subscriber-host.ts";
import type { NetworkOptions } from "../session/peer-transport.ts";
import type { EndReason } from "../session/session-base.ts";
import type {
  RoomSubscriberCommand,
  RoomSubscriberSpec,
  SubscriberCommand,
  SubscriberCreated,
  SubscriberEvent,
  SubscriberSnapshot,
} from "../session/subscriber-host.ts";
import { Producer } from "../sfu/producer.ts";
import { Router } from "../sfu/router.ts";
import type { ProducerInfo, RouterEvent } from "../sfu/router-protocol.ts";
import type { SrtpBackend } from "../transport/srtp.ts";
import { MAX_BATCH_INBOUND, sendBatch } from "../transport/send-batch.ts";
import { type PacketRing, RingFlag, type RingSink } from "./packet-ring.ts";
import type { CounterDelta, TrackMedia } from "./protocol.ts";

/** What the host tells its owner (the worker's postMessage, or a test). */
export interface ViewerHostEvents {
  keyframe(trackId: number, ssrc: number): void;
  /** A subscriber ended on its own, or a lifecycle step for its main-thread SessionTrace. */
  subscriber(event: SubscriberEvent): void;
}

export interface ViewerHostOptions {
  ring: PacketRing;
  network: NetworkOptions;
  srtp: SrtpBackend;
  connectTimeoutMs: number;
  events: ViewerHostEvents;
}

const TICK_MS = 20;
/** Packets per drain before yielding to I/O (sends' completions, RTCP from viewers). */
const DRAIN_BATCH = 1024;

export class ViewerHost implements RingSink {
  /** Mirrors of the main thread's Routers (stream keys), by id. */
  readonly routers: Map<string, Router> = new Map();
  readonly subscribers: LocalSubscriberHost;
  readonly #byTrack = new Map<number, Producer>();
  readonly #media = new Map<Producer, TrackMedia>();
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
    this.subscribers = new LocalSubscriberHost(options);
    this.subscribers.listen((event) => options.events.subscriber(event));
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

  /**
   * A main Router's event, applied to its mirror. A stream key's producers change all at once
   * (the stream policy): when an event removes every producer the mirror has, the new ones
   * replace them, re-binding consumers as the main Router did; the subscriber host ends the
   * viewers it could not re-bind (it hears the mirror's own event).
   */
  applyRouterEvent(event: RouterEvent, media: TrackMedia[]): void {
    if (this.#closed) return;
    if (event.t === "closed") {
      const mirror = this.routers.get(event.router);
      if (!mirror) return;
      this.routers.delete(event.router);
      for (const p of mirror.producers) this.#forget(p);
      mirror.close();
      return;
    }
    let mirror = this.routers.get(event.router);
    if (!mirror) {
      mirror = new Router(event.router);
      this.routers.set(event.router, mirror);
      this.subscribers.observe({
        router: mirror,
        codecOf: (producer) => this.#media.get(producer)?.codec,
      });
    }
    const added = event.added.flatMap((info) => {
      const track = media.find((m) => m.producer === info.id);
      return track ? [this.#mirrorOf(info, track)] : [];
    });
    for (const id of event.removed) {
      const old = mirror.producer(id);
      if (old) this.#forget(old);
    }
    const kept = mirror.producers.filter((p) => !event.removed.includes(p.id));
    if (added.length > 0 && kept.length === 0) {
      mirror.replaceProducers(added);
    } else {
      mirror.removeProducers(event.removed);
      mirror.addProducers(added);
    }
  }

  #mirrorOf(info: ProducerInfo, track: TrackMedia): Producer {
    const producer = new Producer({
      id: info.id,
      participant: info.participant,
      source: info.source,
      kind: info.kind,
      mid: info.mid,
      codecName: info.codec,
      payloadType: track.codec.payloadType,
      clockRate: track.codec.clockRate,
      rids: info.rids,
      extensions: ExtensionMap.fromExtmaps(track.extmaps),
      requestKeyframe: (ssrc) => this.#options.events.keyframe(track.trackId, ssrc),
    });
    // Never muted here: the main thread's producer hands a worker nothing while it is muted, and
    // a room's unmute is no Router event, so a mirror that copied `info.muted` would stay silent.
    this.#byTrack.set(track.trackId, producer);
    this.#media.set(producer, track);
    return producer;
  }

  #forget(producer: Producer): void {
    const track = this.#media.get(producer);
    if (track && this.#byTrack.get(track.trackId) === producer) this.#byTrack.delete(track.trackId);
    this.#media.delete(producer);
  }

  /** WHEP: negotiates a viewer of `stream` with the given session id. */
  create(id: string, stream: string, offer: string): Promise<SubscriberCreated> {
    if (this.#closed) return Promise.reject(new Error("the worker is closing"));
    return this.subscribers.create(id, stream, offer);
  }

  command(id: string, command: SubscriberCommand): void {
    this.subscribers.command(id, command);
  }

  /** A room participant's subscribe connection, against the mirror of its room's Router. */
  createRoom(id: string, spec: RoomSubscriberSpec): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("the worker is closing"));
    return this.subscribers.createRoom(id, spec);
  }

  roomCommand(id: string, command: RoomSubscriberCommand): void {
    this.subscribers.roomCommand(id, command);
  }

  answer(id: string, rev: number, sdp: string): Promise<void> {
    return this.subscribers.answer(id, rev, sdp);
  }

  /** Ends a viewer at the main thread's request. */
  end(id: string, reason: EndReason): Promise<void> {
    return this.subscribers.end(id, reason);
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
    this.subscribers.tick(now);
    this.busyMs += performance.now() - start;
  }

  /** What the main thread shows in the API (the status report). */
  snapshots(): SubscriberSnapshot[] {
    return this.subscribers.snapshots();
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
        counters.sendLinks[2] - last.sendLinks[2],
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
    await this.subscribers.close();
    for (const router of this.routers.values()) router.close();
    this.routers.clear();
    this.#media.clear();
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
    sendLinks: [0, 0, 0],
    histograms: {},
  };
}
