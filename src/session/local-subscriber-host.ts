/**
 * The SubscriberHost that runs viewer sessions on its own thread: the main thread's when there
 * are no viewer workers, and inside each viewer worker (viewer-host.ts, fed by mirror Routers).
 * One code path negotiates, ticks, commands, snapshots and ends viewers wherever they live.
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
import { parseSdp, type SessionDescriptionInfo } from "./sdp.ts";
import type { EndReason } from "./session-base.ts";
import {
  applySubscriberCommand,
  snapshotOf,
  type StreamSource,
  type SubscriberCommand,
  type SubscriberCreated,
  subscriberError,
  type SubscriberEvent,
  type SubscriberHost,
  type SubscriberSnapshot,
} from "./subscriber-host.ts";
import type { SrtpBackend } from "../transport/srtp.ts";
import { ViewerSession } from "./viewer-session.ts";

export interface LocalSubscriberHostOptions {
  network: NetworkOptions;
  srtp: SrtpBackend;
  connectTimeoutMs: number;
}

export class LocalSubscriberHost implements SubscriberHost {
  readonly sessions: Map<string, ViewerSession> = new Map();
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

  snapshot(id: string): SubscriberSnapshot | undefined {
    const session = this.sessions.get(id);
    return session ? snapshotOf(session, performance.now()) : undefined;
  }

  /** Every subscriber's snapshot (a worker's status report). */
  snapshots(): SubscriberSnapshot[] {
    const now = performance.now();
    return [...this.sessions.values()].map((s) => snapshotOf(s, now));
  }

  async end(id: string, reason: EndReason): Promise<void> {
    const session = this.sessions.get(id);
    if (!session) return;
    this.sessions.delete(id);
    const router = this.#sources.get(session.streamName)?.router;
    if (router) { for (const c of session.consumers) router.consumers.delete(c); }
    await session.close(reason);
  }

  tick(nowMs: number): void {
    for (const session of this.sessions.values()) {
      try {
        session.tick(nowMs);
      } catch (error) {
        this.#listener({ t: "ended", id: session.id, reason: "error", error: String(error) });
      }
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.sessions.keys()].map((id) => this.end(id, "shutdown")));
    this.#sources.clear();
  }
}
