/**
 * Viewers sharded over Deno Workers (issue 6, "all cores"). The main thread keeps HTTP,
 * publishers and their Producers; each worker hosts viewer sessions. Per worker there is one
 * PacketRing: a publisher's packet is written once per worker that has viewers of its stream
 * (never once per viewer), and the worker fans it out to its own consumers.
 *
 * Signalling goes over postMessage: offers and answers, ends, ICE restarts, layer requests,
 * the publishers' sender reports; back come key-frame requests (the publisher is here), ends
 * the worker decided (dead peer, failures), and a status report every `statusIntervalMs`
 * (viewers' layers and estimates, counter increments, ring packets and busy time).
 */
import { counters, FastHistogram, histograms } from "../observability/counters.ts";
import type { Logger } from "../observability/log.ts";
import { Ext, type ExtensionMap, ExtensionUri, type ExtKind } from "../rtp/header-extensions.ts";
import type { NetworkOptions } from "../session/peer-transport.ts";
import type { SdpCodec, SdpExtmap } from "../session/sdp.ts";
import type { EndReason } from "../session/session-base.ts";
import type { Producer } from "../sfu/producer.ts";
import type { SrtpMode } from "../transport/srtp-backend.ts";
import { PacketRing } from "./packet-ring.ts";
import type { FromWorker, PlayResult, ToWorker, TrackInfo } from "./protocol.ts";
import { RemoteConsumer, RemoteViewer } from "./remote-viewer.ts";
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
  /** A worker's viewer ended on its own (the owner updates its tables). */
  onEnded: (viewer: RemoteViewer, reason: EndReason) => void;
}

/** A worker's error, carried over by name (the owner maps names to its error classes). */
export class RemoteError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

/** Load of one worker, from its latest status report. */
export interface WorkerLoad {
  viewers: number;
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
    if (id !== 0) out.push({ id, uri } as SdpExtmap);
  }
  return out;
}

export class WorkerPool {
  readonly viewers: Map<string, RemoteViewer> = new Map();
  /** The SRTP backend each worker selected (its own `selectSrtpBackend`), by worker index. */
  readonly workerSrtp: string[] = [];
  readonly #slots: WorkerSlot[] = [];
  readonly #options: WorkerPoolOptions;
  readonly #taps = new Map<Producer, RingTap>();
  readonly #byTrack = new Map<number, Producer>();
  readonly #streams = new Map<string, Producer[]>();
  readonly #pending = new Map<number, PromiseWithResolvers<PlayResult | undefined>>();
  readonly #srSent = new Map<number, number>();
  readonly #wakes: WakeCoalescer;
  #nextTrack = 1;
  #nextReq = 1;
  #closed = false;

  private constructor(options: WorkerPoolOptions) {
    this.#options = options;
    this.#wakes = new WakeCoalescer(options.wakeDelayMs ?? 1);
  }

  /** Starts the workers and waits until each is ready. */
  static async start(options: WorkerPoolOptions): Promise<WorkerPool> {
    const cluster = new WorkerPool(options);
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
        load: { viewers: 0, ringPps: 0, forwardedPps: 0, busy: 0, occupancy: 0, ringDropped: 0 },
        lastStatusMs: performance.now(),
        alive: true,
      };
      cluster.#slots.push(slot);
      const up = Promise.withResolvers<void>();
      ready.push(up.promise);
      worker.onmessage = (event: MessageEvent<FromWorker>) => {
        if (event.data.t === "ready") {
          cluster.workerSrtp[index] = event.data.srtp;
          up.resolve();
        } else cluster.#onMessage(slot, event.data);
      };
      worker.onerror = (event) => {
        event.preventDefault();
        up.reject(new Error(`viewer worker ${index} failed: ${event.message}`));
        cluster.#onWorkerError(slot, event.message);
      };
      cluster.#post(slot, {
        t: "init",
        index,
        ring: ring.buffer,
        network: options.network,
        srtp: options.srtp,
        connectTimeoutMs: options.connectTimeoutMs,
        statusIntervalMs: options.statusIntervalMs ?? 250,
      });
    }
    try {
      await Promise.all(ready);
    } catch (error) {
      await cluster.close();
      throw error;
    }
    // A worker that fell back to the TypeScript SRTP backend forwards at several times the
    // CPU per packet (measured 2026-11-23: libsrtp's srtp_init refuses a second call in one
    // process, so every worker after the main thread fell back); say so instead of being slow.
    if (options.srtp !== "ts" && cluster.workerSrtp.some((name) => name === "ts")) {
      options.logger.warn("viewer workers run the TypeScript SRTP backend", {
        workers: cluster.workerSrtp,
      });
    }
    return cluster;
  }

  get size(): number {
    return this.#slots.length;
  }

  /** Per-worker load, from the latest status reports. */
  loads(): WorkerLoad[] {
    return this.#slots.map((s) => ({ ...s.load, viewers: s.viewers, occupancy: s.ring.occupancy }));
  }

  #post(slot: WorkerSlot, message: ToWorker): void {
    if (slot.alive) slot.worker.postMessage(message);
  }

  #request(slot: WorkerSlot, message: ToWorker & { req: number }): Promise<PlayResult | undefined> {
    const pending = Promise.withResolvers<PlayResult | undefined>();
    if (!slot.alive) {
      pending.reject(new Error(`viewer worker ${slot.index} is not running`));
      return pending.promise;
    }
    this.#pending.set(message.req, pending);
    slot.worker.postMessage(message);
    return pending.promise;
  }

  #onMessage(slot: WorkerSlot, msg: FromWorker): void {
    switch (msg.t) {
      case "reply": {
        const pending = this.#pending.get(msg.req);
        if (!pending) return;
        this.#pending.delete(msg.req);
        if (msg.ok) pending.resolve(msg.result);
        else pending.reject(new RemoteError(msg.error.name, msg.error.message));
        return;
      }
      case "keyframe": {
        const producer = this.#byTrack.get(msg.trackId);
        const layer = producer?.layers.find((l) => l.ssrc === msg.ssrc);
        if (producer && layer) producer.requestKeyframe(layer, performance.now());
        return;
      }
      case "send-path-fallback":
        this.#options.logger.warn("media link sends through node:dgram, not the syscall path", {
          worker: slot.index,
          reason: msg.reason,
        });
        return;
      case "ended": {
        const viewer = this.viewers.get(msg.id);
        if (viewer) this.#options.onEnded(viewer, msg.reason);
        return;
      }
      case "session":
        this.viewers.get(msg.id)?.trace?.mark(msg.event);
        return;
      case "status": {
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
        counters.pliIn += d.pliIn;
        counters.firIn += d.firIn;
        for (const [name, delta] of Object.entries(d.histograms)) {
          const h = (histograms as unknown as Record<string, FastHistogram | undefined>)[name];
          if (!(h instanceof FastHistogram) || h.counts.length !== delta.counts.length) continue;
          for (let i = 0; i < delta.counts.length; i++) h.counts[i] += delta.counts[i];
          h.sum += delta.sum;
        }
        slot.load.ringPps = msg.ringPackets / seconds;
        slot.load.forwardedPps = (d.rtpPacketsOut[0] + d.rtpPacketsOut[1]) / seconds;
        slot.load.busy = msg.busyMs / 1000 / seconds;
        slot.load.ringDropped = slot.ring.dropped;
        for (const status of msg.viewers) this.viewers.get(status.id)?.update(status);
        return;
      }
    }
  }

  #onWorkerError(slot: WorkerSlot, message: string): void {
    if (!slot.alive) return;
    slot.alive = false;
    this.#options.logger.error("viewer worker failed", { worker: slot.index, error: message });
    for (const tap of this.#taps.values()) tap.rings = tap.rings.filter((r) => r !== slot.ring);
    for (const viewer of [...this.viewers.values()]) {
      if (viewer.worker === slot.index) this.#options.onEnded(viewer, "error");
    }
  }

  /** A publisher went live (or replaced another) on `name`: every worker mirrors its tracks. */
  publish(name: string, producers: Producer[], codecs: Map<Producer, SdpCodec>): void {
    const previous = this.#streams.get(name);
    if (previous) this.#dropTaps(previous);
    const tracks: TrackInfo[] = producers.map((producer) => {
      const trackId = this.#nextTrack++;
      const tap = new RingTap(producer, trackId, this.#wakes);
      this.#taps.set(producer, tap);
      this.#byTrack.set(trackId, producer);
      producer.addTap(tap);
      return {
        trackId,
        kind: producer.kind,
        mid: producer.mid,
        codecName: producer.codecName,
        codec: codecs.get(producer)!,
        rids: producer.rids,
        extmaps: extmapsOf(producer.extensions),
      };
    });
    this.#streams.set(name, producers);
    for (const slot of this.#slots) {
      this.#post(slot, { t: "stream", name, tracks });
      if ((slot.streams.get(name) ?? 0) > 0) this.#subscribe(slot, name);
    }
    for (const viewer of this.viewers.values()) {
      if (viewer.streamName === name) viewer.rebind(producers);
    }
  }

  /** The publisher of `name` left. */
  unpublish(name: string, producers: Producer[]): void {
    if (this.#streams.get(name) !== producers) return;
    const trackIds = producers.map((p) => this.#taps.get(p)?.trackId ?? -1);
    this.#dropTaps(producers);
    this.#streams.delete(name);
    for (const slot of this.#slots) this.#post(slot, { t: "unstream", name, trackIds });
  }

  #dropTaps(producers: Producer[]): void {
    for (const producer of producers) {
      const tap = this.#taps.get(producer);
      if (!tap) continue;
      this.#taps.delete(producer);
      this.#byTrack.delete(tap.trackId);
      this.#srSent.delete(tap.trackId);
      tap.rings = [];
      producer.removeTap(tap);
    }
  }

  #subscribe(slot: WorkerSlot, name: string): void {
    for (const producer of this.#streams.get(name) ?? []) {
      const tap = this.#taps.get(producer);
      if (tap && !tap.rings.includes(slot.ring)) tap.rings = [...tap.rings, slot.ring];
    }
  }

  #unsubscribe(slot: WorkerSlot, name: string): void {
    for (const producer of this.#streams.get(name) ?? []) {
      const tap = this.#taps.get(producer);
      if (tap) tap.rings = tap.rings.filter((r) => r !== slot.ring);
    }
  }

  /**
   * The worker a new viewer goes to: fewest viewers, then least busy; undefined when every
   * worker's ring is past the shedding threshold (saturated).
   */
  pick(): number | undefined {
    let best: WorkerSlot | undefined;
    for (const slot of this.#slots) {
      if (!slot.alive || slot.ring.occupancy >= SHED_UPPER_LAYERS_AT) continue;
      if (
        !best || slot.viewers < best.viewers ||
        (slot.viewers === best.viewers && slot.load.busy < best.load.busy)
      ) best = slot;
    }
    return best?.index;
  }

  /** Negotiates a viewer of `name` in worker `index` (from `pick`). */
  async play(index: number, name: string, offer: string): Promise<RemoteViewer> {
    if (this.#closed) throw new Error("the cluster is closed");
    const slot = this.#slots[index];
    const id = crypto.randomUUID();
    // Subscribe first: the viewer's first key frame may follow its answer closely.
    this.#addViewer(slot, name);
    let result: PlayResult | undefined;
    try {
      result = await this.#request(slot, { t: "play", req: this.#nextReq++, id, name, offer });
    } catch (error) {
      this.#removeViewer(slot, name);
      throw error;
    }
    const viewer = new RemoteViewer(
      id,
      name,
      index,
      result!.etag,
      result!.remoteIceUfrag,
      (message) => this.#post(slot, message),
    );
    viewer.answer = result!.answer;
    for (const c of result!.consumers) {
      const producer = this.#byTrack.get(c.trackId) ??
        this.#streams.get(name)?.find((p) => p.kind === c.kind);
      if (producer) {
        viewer.consumers.push(new RemoteConsumer(viewer, c.mid, c.kind, c.ssrc, producer));
      }
    }
    this.viewers.set(id, viewer);
    return viewer;
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

  /** Ends a remote viewer (idempotent) and waits until its worker freed it. */
  async end(viewer: RemoteViewer, reason: EndReason): Promise<void> {
    if (!this.viewers.delete(viewer.id)) return;
    viewer.ended(reason);
    const slot = this.#slots[viewer.worker];
    this.#removeViewer(slot, viewer.streamName);
    if (!slot.alive) return;
    await this.#request(slot, { t: "end", req: this.#nextReq++, id: viewer.id, reason }).catch(
      () => {},
    );
  }

  /** Forwards publishers' new sender reports to the workers that mirror them (on the tick). */
  forwardSenderReports(): void {
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
    for (const producers of this.#streams.values()) this.#dropTaps(producers);
    this.#streams.clear();
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
    for (const pending of this.#pending.values()) pending.reject(new Error("the cluster closed"));
    this.#pending.clear();
    this.viewers.clear();
  }
}
