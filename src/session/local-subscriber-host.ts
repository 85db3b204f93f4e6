/**
 * The SubscriberHost that runs subscriber sessions on its own thread: the main thread's when
 * there are no viewer workers, and inside each viewer worker (viewer-host.ts, fed by mirror
 * Routers). One code path negotiates, ticks, commands, snapshots and ends WHEP viewers and room
 * subscribers (room-subscriber.ts) wherever they live.
 */
import { RouterError } from "../sfu/router-protocol.ts";
import type { RouterEvent } from "../sfu/router-protocol.ts";
import {
  buildAnswer,
  type OfferPlan,
  planPlay,
  requireTransport,
  type SourceTrack,
} from "./negotiation.ts";
import { type NetworkOptions, PeerTransport } from "./peer-transport.ts";
import { RoomSubscriber } from "./room-subscriber.ts";
import { parseSdp, type SessionDescriptionInfo } from "./sdp.ts";
import type { EndReason } from "./session-base.ts";
import {
  applySubscriberCommand,
  type RoomSubscriberCommand,
  type RoomSubscriberSpec,
  snapshotOf,
  type StreamSource,
  type SubscriberCommand,
  type SubscriberCreated,
  subscriberError,
  type SubscriberEvent,
  type SubscriberHost,
  type SubscriberSnapshot,
  unreachable,
} from "./subscriber-host.ts";
import type { TrackPriorityValue } from "../sfu/subscriber-allocator.ts";
import type { SrtpBackend } from "../transport/srtp.ts";
import { ViewerSession } from "./viewer-session.ts";

export interface LocalSubscriberHostOptions {
  network: NetworkOptions;
  srtp: SrtpBackend;
  connectTimeoutMs: number;
}

/** What a room subscriber wants of a video track (a `want` command), kept until it changes. */
interface TrackWant {
  maxHeight: number;
  priority: TrackPriorityValue;
}

/** A room subscriber and the wants its owner sent, by producer id. */
interface HostedRoomSubscriber {
  subscriber: RoomSubscriber;
  wants: Map<string, TrackWant>;
}

export class LocalSubscriberHost implements SubscriberHost {
  /** WHEP viewers' sessions, by id. */
  readonly sessions: Map<string, ViewerSession> = new Map();
  /** Room participants' subscribe connections, by session id. */
  readonly rooms: Map<string, HostedRoomSubscriber> = new Map();
  readonly #sources = new Map<string, StreamSource>();
  readonly #options: LocalSubscriberHostOptions;
  #listener: (event: SubscriberEvent) => void = () => {};
  #closed = false;

  constructor(options: LocalSubscriberHostOptions) {
    this.#options = options;
  }

  listen(listener: (event: SubscriberEvent) => void): void {
    this.#listener = listener;
  }

  observe(source: StreamSource): void {
    const router = source.router;
    this.#sources.set(router.id, source);
    router.on((event) => this.#onRouterEvent(source, event));
  }

  #onRouterEvent(source: StreamSource, event: RouterEvent): void {
    if (event.t === "closed") {
      if (this.#sources.get(event.router) === source) this.#sources.delete(event.router);
      return;
    }
    // A new publisher re-bound every consumer it can carry (same kind and codec); a viewer with
    // a consumer left on a removed producer must renegotiate.
    if (event.added.length === 0) return;
    const router = source.router;
    for (const session of this.sessions.values()) {
      if (session.streamName !== router.id) continue;
      if (session.consumers.some((c) => router.producer(c.producer.id) !== c.producer)) {
        this.#listener({ t: "ended", id: session.id, reason: "publisher_left" });
      }
    }
  }

  async create(id: string, stream: string, offerSdp: string): Promise<SubscriberCreated> {
    if (this.#closed) throw new RouterError("over-capacity", "the server is shutting down");
    const source = this.#sources.get(stream);
    if (!source || !source.router.live) {
      throw new RouterError("no-source", `nothing is being published on stream "${stream}"`);
    }
    const o = this.#options;
    let offer: SessionDescriptionInfo, plan: OfferPlan;
    try {
      const sources: SourceTrack[] = [];
      for (const p of source.router.producers) {
        const codec = source.codecOf(p);
        if (codec) sources.push({ kind: p.kind, codec, codecName: p.codecName });
      }
      offer = parseSdp(offerSdp);
      plan = planPlay(offer, sources);
      requireTransport(offer, plan);
    } catch (error) {
      throw subscriberError(error);
    }
    let created: Awaited<ReturnType<typeof PeerTransport.create>>;
    try {
      created = await PeerTransport.create(offer, plan, "play", o.network, o.srtp);
    } catch (error) {
      throw subscriberError(error);
    }
    const session = new ViewerSession(id, stream, created.peer, plan);
    let answer: string;
    try {
      // The owner keeps the session's log lines, span and setup time (on the main thread, where
      // the logger, tracer and metrics are): each step is reported, the end is the owner's.
      session.trace = {
        mark: (event) => this.#listener({ t: "lifecycle", id, event }),
        end: () => {},
      };
      session.remoteIceUfrag = offer.media[plan.tracks[0].index].iceUfrag ?? "";
      const ssrcByMid = session.ssrcByMid, cname = session.cname;
      answer = buildAnswer(offer, plan, created.local, "play", (track) => ({
        ssrc: ssrcByMid.get(track.mid),
        cname,
        msid: `quetzal-${stream.replace(/[^A-Za-z0-9_-]/g, "")} ${track.kind}`,
      }));
      // The stream may have changed while negotiating; attach to what is live now.
      const live = this.#sources.get(stream)?.router;
      session.attach(plan, live?.producers ?? []);
      for (const c of session.consumers) live?.consumers.add(c);
    } catch (error) {
      // Nothing half-made stays behind: the transport (socket, timers) closes with the session.
      await session.close("error");
      throw subscriberError(error);
    }
    session.expectConnectionWithin(o.connectTimeoutMs);
    session.onEnd = (reason) => this.#listener({ t: "ended", id, reason });
    this.sessions.set(id, session);
    return {
      answer,
      etag: session.etag,
      remoteIceUfrag: session.remoteIceUfrag,
      snapshot: snapshotOf(session, performance.now()),
    };
  }

  command(id: string, command: SubscriberCommand): void {
    const session = this.sessions.get(id);
    if (session) applySubscriberCommand(session, command);
  }

  async createRoom(id: string, spec: RoomSubscriberSpec): Promise<void> {
    if (this.#closed) throw new RouterError("over-capacity", "the server is shutting down");
    if (!this.#sources.has(spec.stream)) {
      throw new RouterError("not-found", `no room router "${spec.stream}" is observed`);
    }
    const wants = new Map<string, TrackWant>();
    const emit = (event: SubscriberEvent) => {
      if (this.rooms.has(id)) this.#listener(event);
    };
    let subscriber: RoomSubscriber;
    try {
      subscriber = await RoomSubscriber.create(
        this.#options,
        id,
        spec.stream,
        spec.participant,
        spec.audioSlots,
        {
          offer: (rev, sdp, bound) => emit({ t: "offer", id, rev, sdp, bound }),
          bound: (bound) => emit({ t: "bound", id, bound }),
          consuming: (consumer) => {
            const want = wants.get(consumer.producer.id);
            if (!want || consumer.kind !== "video") return;
            consumer.setCaps(undefined, want.maxHeight);
            consumer.priority = want.priority;
          },
        },
      );
    } catch (error) {
      throw subscriberError(error);
    }
    if (this.#closed) {
      subscriber.close();
      await subscriber.session.close("shutdown");
      throw new RouterError("over-capacity", "the server is shutting down");
    }
    // A transport that failed for good (DTLS) ends; its room sees the peer closed.
    subscriber.session.onEnd = (reason) => {
      if (reason === "dtls_failed" || reason === "error") {
        this.#listener({ t: "ended", id, reason });
      }
    };
    this.rooms.set(id, { subscriber, wants });
  }

  roomCommand(id: string, command: RoomSubscriberCommand): void {
    const hosted = this.rooms.get(id);
    if (!hosted) return;
    const subscriber = hosted.subscriber;
    const router = this.#sources.get(subscriber.session.streamName)?.router;
    switch (command.t) {
      case "bind": {
        const producer = router?.producer(command.producer);
        if (producer) subscriber.bind(producer);
        return;
      }
      case "unbind":
        hosted.wants.delete(command.producer);
        subscriber.unbind(command.producer);
        return;
      case "slot": {
        const producer = command.producer === null ? null : router?.producer(command.producer);
        subscriber.setSlot(command.index, producer ?? null);
        return;
      }
      case "want": {
        const want = { maxHeight: command.maxHeight, priority: command.priority };
        hosted.wants.set(command.producer, want);
        const consumer = subscriber.consumerOf(command.producer);
        if (!consumer || consumer.kind !== "video") return;
        if (consumer.maxHeight !== want.maxHeight) consumer.setCaps(undefined, want.maxHeight);
        consumer.priority = want.priority;
        return;
      }
      case "restartIce":
        subscriber.restartIce();
        return;
      case "resume":
        subscriber.resume();
        return;
      default:
        unreachable(command);
    }
  }

  async answer(id: string, rev: number, sdp: string): Promise<void> {
    const hosted = this.rooms.get(id);
    if (!hosted) throw new RouterError("conflict", "the subscribe connection has ended");
    await hosted.subscriber.answer(rev, sdp);
  }

  snapshot(id: string): SubscriberSnapshot | undefined {
    const session = this.sessions.get(id) ?? this.rooms.get(id)?.subscriber.session;
    return session ? snapshotOf(session, performance.now()) : undefined;
  }

  /** Every subscriber's snapshot (a worker's status report). */
  snapshots(): SubscriberSnapshot[] {
    const now = performance.now();
    const out = [...this.sessions.values()].map((s) => snapshotOf(s, now));
    for (const { subscriber } of this.rooms.values()) out.push(snapshotOf(subscriber.session, now));
    return out;
  }

  async end(id: string, reason: EndReason): Promise<void> {
    const hosted = this.rooms.get(id);
    if (hosted) {
      this.rooms.delete(id);
      hosted.subscriber.close();
      await hosted.subscriber.session.close(reason);
      return;
    }
    const session = this.sessions.get(id);
    if (!session) return;
    this.sessions.delete(id);
    const router = this.#sources.get(session.streamName)?.router;
    if (router) { for (const c of session.consumers) router.consumers.delete(c); }
    await session.close(reason);
  }

  tick(nowMs: number): void {
    for (const session of this.sessions.values()) this.#tickOne(session, nowMs);
    for (const { subscriber } of this.rooms.values()) this.#tickOne(subscriber.session, nowMs);
  }

  #tickOne(session: ViewerSession, nowMs: number): void {
    try {
      session.tick(nowMs);
    } catch (error) {
      this.#listener({ t: "ended", id: session.id, reason: "error", error: String(error) });
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const ids = [...this.sessions.keys(), ...this.rooms.keys()];
    await Promise.all(ids.map((id) => this.end(id, "shutdown")));
    this.#sources.clear();
  }
}
