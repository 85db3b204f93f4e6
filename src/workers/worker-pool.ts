/**
 * Viewers sharded over Deno Workers (issue 6, "all cores"): the SubscriberHost that runs WHEP
 * viewers in worker threads. The main thread keeps HTTP, publishers and their Producers; each
 * worker hosts viewer sessions. Per worker there is one PacketRing: a publisher's packet is
 * written once per worker that has viewers of its stream (never once per viewer), and the
 * worker fans it out to its own consumers.
 *
 * Signalling goes over postMessage (protocol.ts): each observed Router's events (with what a
 * mirror needs of each added producer), create/end requests, subscriber commands as they are,
 * the publishers' sender reports; back come key-frame requests (the publisher is here),
 * subscriber events (ends the worker decided, lifecycle steps) and a status report every
 * `statusIntervalMs` (subscriber snapshots, counter increments, ring packets and busy time).
 */
import { counters, histograms } from "../observability/counters.ts";
import type { Logger } from "../observability/log.ts";
import { Ext, type ExtensionMap, ExtensionUri, type ExtKind } from "../rtp/header-extensions.ts";
import type { NetworkOptions } from "../session/peer-transport.ts";
import type { SdpExtmap } from "../session/sdp.ts";
import type { EndReason } from "../session/session-base.ts";
import {
  type RoomSubscriberCommand,
  type RoomSubscriberSpec,
  type StreamSource,
  type SubscriberCommand,
  type SubscriberCreated,
  type SubscriberEvent,
  type SubscriberHost,
  type SubscriberSnapshot,
  unreachable,
} from "../session/subscriber-host.ts";
import { RouterError, type RouterEvent } from "../sfu/router-protocol.ts";
import type { SrtpMode } from "../transport/srtp-backend.ts";
import { FALLBACK_MESSAGES } from "../transport/send-path-fallback.ts";
import { PacketRing } from "./packet-ring.ts";
import type { FromWorker, ToWorker, TrackMedia } from "./protocol.ts";
import { RingTap, SHED_UPPER_LAYERS_AT } from "./ring-tap.ts";
import { WakeCoalescer } from "./wake-coalescer.ts";

export interface WorkerPoolOptions {
  /** Number of workers (≥ 1). */
  workers: number;
  network: NetworkOptions;
  srtp: SrtpMode;
  connectTimeoutMs: number;
  logger: Logger;
  /** Slots per worker ring (power of two); 4096 slots ≈ 6.6 MB. */
  ringSlots?: number;
  statusIntervalMs?: number;
  /**
   * Longest a sleeping worker's wake-up is held back to batch packets (default 1 ms; 0 wakes
   * per packet). See wake-coalescer.ts for why.
   */
  wakeDelayMs?: number;
}

/** Load of one worker, from its latest status report. */
export interface WorkerLoad {
  viewers: number;
  /** Subscribers the worker itself reported hosting in its latest status (it frees them last). */
  hosted: number;
  /** Ring packets read per second. */
  ringPps: number;
  /** Forwarded (sent) packets per second. */
  forwardedPps: number;
  /** Fraction of wall time spent forwarding and ticking (0..1). */
  busy: number;
  /** Current ring occupancy (0..1). */
  occupancy: number;
  ringDropped: number;
}

interface WorkerSlot {
  index: number;
  worker: Worker;
  ring: PacketRing;
  /** Viewers of each stream hosted here; a stream with viewers is subscribed (ring tapped). */
  streams: Map<string, number>;
  viewers: number;
  load: WorkerLoad;
  lastStatusMs: number;
  alive: boolean;
}

const KIND_URIS: [ExtKind, string][] = [
  [Ext.mid, ExtensionUri.mid],
  [Ext.rid, ExtensionUri.rid],
  [Ext.rrid, ExtensionUri.rrid],
  [Ext.transportWideCc, ExtensionUri.transportWideCc],
  [Ext.absSendTime, ExtensionUri.absSendTime],
  [Ext.audioLevel, ExtensionUri.audioLevel],
  [Ext.dependencyDescriptor, ExtensionUri.dependencyDescriptor],
];

/** The publisher's extmap entries back from its ExtensionMap. */
export function extmapsOf(map: ExtensionMap): SdpExtmap[] {
  const out: SdpExtmap[] = [];
  for (const [kind, uri] of KIND_URIS) {
    const id = map.idOf(kind);
    if (id !== 0) out.push({ id, uri });
  }
  return out;
}

/** A subscriber hosted by a worker, as the main thread tracks it. */
interface Hosted {
  slot: WorkerSlot;
  stream: string;
  snapshot: SubscriberSnapshot;
}

/** Histograms by name, for the workers' deltas (built once: no lookup by a string index). */
const HISTOGRAMS = new Map(Object.entries(histograms));

export class WorkerPool implements SubscriberHost {
  /** The SRTP backend each worker selected (its own `selectSrtpBackend`), by worker index. */
  readonly workerSrtp: string[] = [];
  /** Each worker's shared UDP port (`--rtc-port`), by index; empty without one. */
  readonly rtcPorts: number[] = [];
  readonly #slots: WorkerSlot[] = [];
  readonly #options: WorkerPoolOptions;
  readonly #subscribers = new Map<string, Hosted>();
  /** Ring taps by producer id, and by ring track id. */
  readonly #taps = new Map<string, RingTap>();
  readonly #byTrack = new Map<number, RingTap>();
  readonly #sources = new Map<string, StreamSource>();
  readonly #pending = new Map<number, PromiseWithResolvers<SubscriberCreated | undefined>>();
  readonly #srSent = new Map<number, number>();
  readonly #wakes: WakeCoalescer;
  #listener: (event: SubscriberEvent) => void = () => {};
  #nextTrack = 1;
  #nextReq = 1;
  #closed = false;

  private constructor(options: WorkerPoolOptions) {
    this.#options = options;
    this.#wakes = new WakeCoalescer(options.wakeDelayMs ?? 1);
  }

  /** Starts the workers and waits until each is ready. */
  static async start(options: WorkerPoolOptions): Promise<WorkerPool> {
    const pool = new WorkerPool(options);
    const ready: Promise<void>[] = [];
    for (let index = 0; index < options.workers; index++) {
      const worker = new Worker(new URL("./viewer-worker.ts", import.meta.url), { type: "module" });
      const ring = new PacketRing(options.ringSlots ?? 4096);
      const slot: WorkerSlot = {
        index,
        worker,
        ring,
        streams: new Map(),
        viewers: 0,
        load: {
          viewers: 0,
          hosted: 0,
          ringPps: 0,
          forwardedPps: 0,
          busy: 0,
          occupancy: 0,
          ringDropped: 0,
        },
        lastStatusMs: performance.now(),
        alive: true,
      };
      pool.#slots.push(slot);
      const up = Promise.withResolvers<void>();
      ready.push(up.promise);
      worker.onmessage = (event: MessageEvent<FromWorker>) => {
        if (event.data.t === "ready") {
          pool.workerSrtp[index] = event.data.srtp;
          if (event.data.rtcPort !== undefined) pool.rtcPorts[index] = event.data.rtcPort;
          if (event.data.error) up.reject(new Error(`viewer worker ${index}: ${event.data.error}`));
          else up.resolve();
        } else pool.#onMessage(slot, event.data);
      };
      worker.onerror = (event) => {
        event.preventDefault();
        up.reject(new Error(`viewer worker ${index} failed: ${event.message}`));
        pool.#onWorkerError(slot, event.message);
      };
      pool.#post(slot, {
        t: "init",
        index,
        ring: ring.buffer,
        network: workerNetwork(options.network, index),
        srtp: options.srtp,
        connectTimeoutMs: options.connectTimeoutMs,
        statusIntervalMs: options.statusIntervalMs ?? 250,
      });
    }
    try {
      await Promise.all(ready);
    } catch (error) {
      await pool.close();
      throw error;
    }
    // A worker that fell back to the TypeScript SRTP backend forwards at several times the
    // CPU per packet (measured 2026-11-23: libsrtp's srtp_init refuses a second call in one
    // process, so every worker after the main thread fell back); say so instead of being slow.
    if (options.srtp !== "ts" && pool.workerSrtp.some((name) => name === "ts")) {
      options.logger.warn("viewer workers run the TypeScript SRTP backend", {
        workers: pool.workerSrtp,
      });
    }
    return pool;
  }

  get size(): number {
    return this.#slots.length;
  }

  /** Per-worker load, from the latest status reports. */
  loads(): WorkerLoad[] {
    return this.#slots.map((s) => ({ ...s.load, viewers: s.viewers, occupancy: s.ring.occupancy }));
  }

  /** The worker index of each hosted subscriber, by id. */
  placements(): Map<string, number> {
    return new Map([...this.#subscribers].map(([id, h]) => [id, h.slot.index]));
  }

  listen(listener: (event: SubscriberEvent) => void): void {
    this.#listener = listener;
  }

  #post(slot: WorkerSlot, message: ToWorker): void {
    if (slot.alive) slot.worker.postMessage(message);
  }

  #request(
    slot: WorkerSlot,
    message: Extract<ToWorker, { req: number }>,
  ): Promise<SubscriberCreated | undefined> {
    const pending = Promise.withResolvers<SubscriberCreated | undefined>();
    if (!slot.alive) {
      pending.reject(new Error(`viewer worker ${slot.index} is not running`));
      return pending.promise;
    }
    this.#pending.set(message.req, pending);
    slot.worker.postMessage(message);
    return pending.promise;
  }

  #onMessage(slot: WorkerSlot, msg: Exclude<FromWorker, { t: "ready" }>): void {
    switch (msg.t) {
      case "reply": {
        const pending = this.#pending.get(msg.req);
        if (!pending) return;
        this.#pending.delete(msg.req);
        if (msg.ok) pending.resolve(msg.created);
        else pending.reject(new RouterError(msg.error.code, msg.error.message));
        return;
      }
      case "keyframe": {
        const tap = this.#byTrack.get(msg.trackId);
        const layer = tap?.producer.layers.find((l) => l.ssrc === msg.ssrc);
        if (tap && layer) tap.producer.requestKeyframe(layer, performance.now());
        return;
      }
      case "send-path-fallback":
        this.#options.logger.warn(FALLBACK_MESSAGES[msg.kind], {
          worker: slot.index,
          reason: msg.reason,
        });
        return;
      case "subscriber":
        if (this.#subscribers.get(msg.event.id)?.slot === slot) this.#listener(msg.event);
        return;
      case "status":
        this.#onStatus(slot, msg);
        return;
      default:
        unreachable(msg);
    }
  }

  #onStatus(slot: WorkerSlot, msg: Extract<FromWorker, { t: "status" }>): void {
    const now = performance.now();
    const seconds = Math.max(0.001, (now - slot.lastStatusMs) / 1000);
    slot.lastStatusMs = now;
    const d = msg.counters;
    for (let k = 0; k < 2; k++) {
      counters.rtpPacketsOut[k] += d.rtpPacketsOut[k];
      counters.rtpBytesOut[k] += d.rtpBytesOut[k];
    }
    for (let i = 0; i < d.packetsDropped.length; i++) {
      counters.packetsDropped[i] += d.packetsDropped[i];
    }
    for (let i = 0; i < d.layerSwitches.length; i++) {
      counters.layerSwitches[i] += d.layerSwitches[i];
    }
    counters.nacks[0] += d.nacksIn;
    counters.retransmissions += d.retransmissions;
    counters.sendLinks[0] += d.sendLinks[0];
    counters.sendLinks[1] += d.sendLinks[1];
    counters.sendLinks[2] += d.sendLinks[2];
    counters.pliIn += d.pliIn;
    counters.firIn += d.firIn;
    for (const [name, delta] of Object.entries(d.histograms)) {
      const h = HISTOGRAMS.get(name);
      if (!h || h.counts.length !== delta.counts.length) continue;
      for (let i = 0; i < delta.counts.length; i++) h.counts[i] += delta.counts[i];
      h.sum += delta.sum;
    }
    slot.load.ringPps = msg.ringPackets / seconds;
    slot.load.forwardedPps = (d.rtpPacketsOut[0] + d.rtpPacketsOut[1]) / seconds;
    slot.load.busy = msg.busyMs / 1000 / seconds;
    slot.load.ringDropped = slot.ring.dropped;
    slot.load.hosted = msg.subscribers.length;
    for (const snapshot of msg.subscribers) {
      const hosted = this.#subscribers.get(snapshot.id);
      if (hosted?.slot === slot) hosted.snapshot = snapshot;
    }
  }

  #onWorkerError(slot: WorkerSlot, message: string): void {
    if (!slot.alive) return;
    slot.alive = false;
    this.#options.logger.error("viewer worker failed", { worker: slot.index, error: message });
    for (const tap of this.#taps.values()) tap.rings = tap.rings.filter((r) => r !== slot.ring);
    for (const [id, hosted] of [...this.#subscribers]) {
      if (hosted.slot === slot) this.#listener({ t: "ended", id, reason: "error" });
    }
  }

  /** Every worker mirrors the stream's Router through its events; rings follow viewers. */
  observe(source: StreamSource): void {
    const router = source.router;
    this.#sources.set(router.id, source);
    router.on((event) => this.#onRouterEvent(source, event));
    // Sent even with no producers: a room subscriber may be created against an empty room's
    // mirror, which must exist by then.
    const added = router.producers.map((p) => p.info);
    this.#onRouterEvent(source, { t: "producers", router: router.id, added, removed: [] });
  }

  #onRouterEvent(source: StreamSource, event: RouterEvent): void {
    if (this.#closed) return;
    const name = event.router;
    if (event.t === "closed") {
      for (const [id, tap] of this.#taps) if (tap.stream === name) this.#dropTap(id);
      if (this.#sources.get(name) === source) this.#sources.delete(name);
      for (const slot of this.#slots) this.#post(slot, { t: "router", event, media: [] });
      return;
    }
    for (const id of event.removed) this.#dropTap(id);
    const media: TrackMedia[] = [];
    for (const info of event.added) {
      const producer = source.router.producer(info.id);
      const codec = producer && source.codecOf(producer);
      if (!producer || !codec) continue;
      const trackId = this.#nextTrack++;
      const tap = new RingTap(producer, trackId, this.#wakes, name);
      this.#taps.set(producer.id, tap);
      this.#byTrack.set(trackId, tap);
      producer.addTap(tap);
      media.push({ producer: info.id, trackId, codec, extmaps: extmapsOf(producer.extensions) });
    }
    for (const slot of this.#slots) {
      this.#post(slot, { t: "router", event, media });
      if ((slot.streams.get(name) ?? 0) > 0) this.#subscribe(slot, name);
    }
  }

  #dropTap(producerId: string): void {
    const tap = this.#taps.get(producerId);
    if (!tap) return;
    this.#taps.delete(producerId);
    this.#byTrack.delete(tap.trackId);
    for (let i = 0; i < 8; i++) this.#srSent.delete(tap.trackId * 8 + i);
    tap.rings = [];
    tap.producer.removeTap(tap);
  }

  #subscribe(slot: WorkerSlot, name: string): void {
    for (const tap of this.#taps.values()) {
      if (tap.stream === name && !tap.rings.includes(slot.ring)) {
        tap.rings = [...tap.rings, slot.ring];
      }
    }
  }

  #unsubscribe(slot: WorkerSlot, name: string): void {
    for (const tap of this.#taps.values()) {
      if (tap.stream === name) tap.rings = tap.rings.filter((r) => r !== slot.ring);
    }
  }

  /**
   * The worker a new viewer goes to: fewest viewers, then least busy; undefined when every
   * worker's ring is past the shedding threshold (saturated).
   */
  #pick(): WorkerSlot | undefined {
    let best: WorkerSlot | undefined;
    for (const slot of this.#slots) {
      if (!slot.alive || slot.ring.occupancy >= SHED_UPPER_LAYERS_AT) continue;
      if (
        !best || slot.viewers < best.viewers ||
        (slot.viewers === best.viewers && slot.load.busy < best.load.busy)
      ) best = slot;
    }
    return best;
  }

  /** Negotiates a viewer of `stream` in the least loaded worker. */
  async create(id: string, stream: string, offer: string): Promise<SubscriberCreated> {
    if (this.#closed) throw new RouterError("over-capacity", "the server is shutting down");
    const slot = this.#pick();
    if (!slot) throw new RouterError("over-capacity", "every viewer worker is saturated");
    // Subscribe first: the viewer's first key frame may follow its answer closely.
    this.#addViewer(slot, stream);
    let created: SubscriberCreated | undefined;
    try {
      created = await this.#request(slot, { t: "create", req: this.#nextReq++, id, stream, offer });
    } catch (error) {
      this.#removeViewer(slot, stream);
      throw error instanceof RouterError
        ? error
        : new RouterError("internal", error instanceof Error ? error.message : String(error));
    }
    if (!created) {
      this.#removeViewer(slot, stream);
      throw new RouterError("internal", `viewer worker ${slot.index} answered no session`);
    }
    this.#subscribers.set(id, { slot, stream, snapshot: created.snapshot });
    return created;
  }

  command(id: string, command: SubscriberCommand): void {
    const hosted = this.#subscribers.get(id);
    if (hosted) this.#post(hosted.slot, { t: "command", id, command });
  }

  /**
   * A room subscriber in the least loaded worker, against its mirror of the room's Router: its
   * ring carries the room's producers from now on, as for a WHEP viewer of a stream.
   */
  async createRoom(id: string, spec: RoomSubscriberSpec): Promise<void> {
    if (this.#closed) throw new RouterError("over-capacity", "the server is shutting down");
    const slot = this.#pick();
    if (!slot) throw new RouterError("over-capacity", "every viewer worker is saturated");
    this.#addViewer(slot, spec.stream);
    // Registered before the reply: the first offer (an event) follows it closely.
    const snapshot = {
      id,
      stream: spec.stream,
      connected: false,
      estimateBps: 0,
      consumers: [],
    };
    this.#subscribers.set(id, { slot, stream: spec.stream, snapshot });
    try {
      await this.#request(slot, { t: "createRoom", req: this.#nextReq++, id, spec });
    } catch (error) {
      if (this.#subscribers.get(id)?.slot === slot) {
        this.#subscribers.delete(id);
        this.#removeViewer(slot, spec.stream);
      }
      throw error instanceof RouterError
        ? error
        : new RouterError("internal", error instanceof Error ? error.message : String(error));
    }
  }

  roomCommand(id: string, command: RoomSubscriberCommand): void {
    const hosted = this.#subscribers.get(id);
    if (hosted) this.#post(hosted.slot, { t: "room", id, command });
  }

  async answer(id: string, rev: number, sdp: string): Promise<void> {
    const hosted = this.#subscribers.get(id);
    if (!hosted) throw new RouterError("conflict", "the subscribe connection has ended");
    try {
      await this.#request(hosted.slot, { t: "answer", req: this.#nextReq++, id, rev, sdp });
    } catch (error) {
      throw error instanceof RouterError
        ? error
        : new RouterError("internal", error instanceof Error ? error.message : String(error));
    }
  }

  snapshot(id: string): SubscriberSnapshot | undefined {
    return this.#subscribers.get(id)?.snapshot;
  }

  #addViewer(slot: WorkerSlot, name: string): void {
    slot.viewers++;
    const n = (slot.streams.get(name) ?? 0) + 1;
    slot.streams.set(name, n);
    if (n === 1) this.#subscribe(slot, name);
  }

  #removeViewer(slot: WorkerSlot, name: string): void {
    slot.viewers--;
    const n = (slot.streams.get(name) ?? 1) - 1;
    if (n > 0) {
      slot.streams.set(name, n);
      return;
    }
    slot.streams.delete(name);
    this.#unsubscribe(slot, name);
  }

  /** Ends a hosted viewer (idempotent) and waits until its worker freed it. */
  async end(id: string, reason: EndReason): Promise<void> {
    const hosted = this.#subscribers.get(id);
    if (!hosted) return;
    this.#subscribers.delete(id);
    const slot = hosted.slot;
    this.#removeViewer(slot, hosted.stream);
    if (!slot.alive) return;
    await this.#request(slot, { t: "end", req: this.#nextReq++, id, reason }).catch(() => {});
  }

  tick(_nowMs: number): void {
    this.#forwardSenderReports();
  }

  /** Forwards publishers' new sender reports to the workers that mirror them. */
  #forwardSenderReports(): void {
    const epoch = performance.timeOrigin;
    for (const tap of this.#taps.values()) {
      if (tap.rings.length === 0) continue;
      for (const layer of tap.producer.layers) {
        if (layer.srArrivalMs < 0) continue;
        const key = tap.trackId * 8 + tap.producer.layers.indexOf(layer);
        if (this.#srSent.get(key) === layer.srArrivalMs) continue;
        this.#srSent.set(key, layer.srArrivalMs);
        for (const slot of this.#slots) {
          if (!tap.rings.includes(slot.ring)) continue;
          this.#post(slot, {
            t: "sr",
            trackId: tap.trackId,
            ssrc: layer.ssrc,
            ntpSeconds: layer.srNtpSeconds,
            rtpTimestamp: layer.srRtpTimestamp,
            arrivalEpochMs: epoch + layer.srArrivalMs,
          });
        }
      }
    }
  }

  /** Ends every viewer, stops the workers and waits for them; idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const id of [...this.#taps.keys()]) this.#dropTap(id);
    this.#sources.clear();
    this.#wakes.close();
    await Promise.all(this.#slots.map(async (slot) => {
      if (slot.alive) {
        const done = this.#request(slot, { t: "close", req: this.#nextReq++ }).catch(() => {});
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([done, new Promise((r) => (timer = setTimeout(r, 5000)))]);
        clearTimeout(timer);
      }
      slot.alive = false;
      slot.worker.terminate();
    }));
    for (const pending of this.#pending.values()) pending.reject(new Error("the pool closed"));
    this.#pending.clear();
    this.#subscribers.clear();
  }
}

/**
 * A worker's network options: with a shared port (`--rtc-port` P), worker i binds P + 1 + i,
 * the main thread P (0: each takes a free port).
 */
function workerNetwork(network: NetworkOptions, index: number): NetworkOptions {
  const port = network.rtcPort;
  if (port === undefined || port === 0) return network;
  return { ...network, rtcPort: port + 1 + index };
}
