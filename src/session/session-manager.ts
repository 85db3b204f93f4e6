/**
 * Owns every session and the Router of each stream key: creates sessions from offers, ties
 * viewers to the live publisher, replaces publishers (the stream policy: one publisher per key),
 * ends sessions (by request, dead peer, failure or shutdown) and frees everything they held. One
 * 20 ms ticker drives all sessions' periodic work. Admission (admission.ts) and the streams'
 * SSE events (stream-events.ts) are their own modules.
 *
 * WHEP viewers live wherever the SubscriberHost puts them (this thread, or viewer workers that
 * server.ts starts): the manager keeps a HostedViewer per viewer and speaks to the host in
 * plain-data commands and snapshots (subscriber-host.ts), so nothing here knows which.
 */
import { counters, END_REASONS, FailureStage, histograms } from "../observability/counters.ts";
import { SessionTrace } from "../observability/tracing.ts";
import type { Logger } from "../observability/log.ts";
import { Router } from "../sfu/router.ts";
import { RouterError } from "../sfu/router-protocol.ts";
import type { SrtpBackend } from "../transport/srtp.ts";
import { Admission, CapacityError, NoSourceError } from "./admission.ts";
import {
  buildAnswer,
  type LocalTransport,
  type OfferPlan,
  planPublish,
  requireTransport,
} from "./negotiation.ts";
import { LocalSubscriberHost } from "./local-subscriber-host.ts";
import { type NetworkOptions, newIceCredentials, PeerTransport } from "./peer-transport.ts";
import { PublisherSession } from "./publisher-session.ts";
import { parseSdp, type SessionDescriptionInfo } from "./sdp.ts";
import type { EndReason } from "./session-base.ts";
import { type StreamEvent, StreamEvents } from "./stream-events.ts";
import {
  HostedViewer,
  type RoomSubscriberSpec,
  type SubscriberEvent,
  type SubscriberHost,
} from "./subscriber-host.ts";
import type { ViewerSession } from "./viewer-session.ts";

/** A session with its transport on this thread: a WHIP publisher or a room participant's peer. */
export type PeerSession = PublisherSession | ViewerSession;
/** Every session the manager counts: peers here, and WHEP viewers wherever they are hosted. */
export type Session = PeerSession | HostedViewer;

export { CapacityError, NoSourceError } from "./admission.ts";

/** What a room subscriber tells its room: an offer for its client, or bindings outside one. */
export type RoomSubscriberEvent = Extract<SubscriberEvent, { t: "offer" | "bound" }>;
export type { StreamEvent } from "./stream-events.ts";

export interface SessionManagerOptions {
  network: NetworkOptions;
  srtp: SrtpBackend;
  maxSessions: number;
  maxViewersPerStream: number;
  connectTimeoutMs: number;
  logger: Logger;
  /** Added to the publisher answer's video fmtp so Chromium ramps its layers up quickly. */
  startBitrateKbps?: number;
  /** Forwarded packets/s beyond which new viewers are refused (0 or absent: no limit). */
  maxForwardPps?: number;
  /** Resident set size (MiB) beyond which new sessions are refused (0 or absent: no limit). */
  maxRssMb?: number;
  /** Reads the process RSS in bytes (injectable for tests). */
  rssBytes?: () => number;
  /** Where WHEP viewers run (default: on this thread). */
  subscribers?: SubscriberHost;
}

const TICK_MS = 20;

export class SessionManager {
  /** One Router per stream key: a stream is a room with one publisher. */
  readonly routers: Map<string, Router> = new Map();
  readonly sessions: Map<string, Session> = new Map();
  readonly #publishers = new Map<string, PublisherSession>();
  readonly #events: StreamEvents;
  readonly #admission: Admission;
  readonly #options: SessionManagerOptions;
  readonly #log: Logger;
  #timer: ReturnType<typeof setInterval> | undefined;
  #pending = 0;
  readonly #tickers = new Set<(nowMs: number) => void>();
  #closed = false;
  readonly #subscribers: SubscriberHost;
  /** Room subscribers' owners (room-media.ts), told their offers and bindings. */
  readonly #roomListeners = new Map<string, (event: RoomSubscriberEvent) => void>();

  constructor(options: SessionManagerOptions) {
    this.#options = options;
    this.#log = options.logger;
    this.#events = new StreamEvents(options.logger);
    this.#admission = new Admission(options);
    this.#subscribers = options.subscribers ?? new LocalSubscriberHost(options);
    this.#subscribers.listen((event) => this.#onSubscriberEvent(event));
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
  }

  #onSubscriberEvent(event: SubscriberEvent): void {
    if (event.t === "offer" || event.t === "bound") {
      this.#roomListeners.get(event.id)?.(event);
      return;
    }
    const viewer = this.sessions.get(event.id);
    if (!(viewer instanceof HostedViewer)) return;
    if (event.t === "lifecycle") {
      viewer.trace?.mark(event.event);
      return;
    }
    if (event.error !== undefined) {
      this.#log.error("session tick failed", { session: viewer.id, error: event.error });
    }
    void this.end(viewer.id, event.reason);
  }

  /** Where WHEP viewers run. */
  get subscribers(): SubscriberHost {
    return this.#subscribers;
  }

  /** Packets forwarded to viewers per second, over the last full second (all threads). */
  get forwardedPps(): number {
    return this.#admission.forwardedPps;
  }

  /** Number of sessions of a role. */
  count(role: "publisher" | "viewer"): number {
    let n = 0;
    for (const s of this.sessions.values()) if (s.role === role) n++;
    return n;
  }

  /** Live streams (with a publisher). */
  get liveStreams(): number {
    return this.#publishers.size;
  }

  publisherOf(streamName: string): PublisherSession | undefined {
    return this.#publishers.get(streamName);
  }

  /** The WHEP viewers of a stream. */
  viewersOf(streamName: string): HostedViewer[] {
    return [...this.sessions.values()].filter((s): s is HostedViewer =>
      s instanceof HostedViewer && s.streamName === streamName
    );
  }

  /** ICE and DTLS are up on the session's transport (a worker's as of its last status). */
  connected(id: string): boolean {
    const session = this.sessions.get(id);
    if (!session) return false;
    return session instanceof HostedViewer ? session.snapshot().connected : session.peer.connected;
  }

  /**
   * ICE restart (WHIP/WHEP PATCH): the local credentials are chosen here so the answer can be
   * written now; a hosted viewer's host applies the same ones.
   */
  restartIce(
    session: Session,
    remoteUfrag: string,
    remotePwd: string,
  ): { iceUfrag: string; icePwd: string } {
    if (!(session instanceof HostedViewer)) return session.peer.restartIce(remoteUfrag, remotePwd);
    const local = newIceCredentials();
    session.command({ t: "restartIce", remoteUfrag, remotePwd, ...local });
    return local;
  }

  /** Where room peers bind and what they announce (the same as WHIP/WHEP sessions). */
  get network(): NetworkOptions {
    return this.#options.network;
  }

  get srtp(): SrtpBackend {
    return this.#options.srtp;
  }

  /**
   * Throws CapacityError when one more session (a room peer counts as one) would exceed
   * `--max-sessions` or the memory budget, or the server is shutting down.
   */
  admit(): void {
    this.#checkCapacity();
  }

  /**
   * A room participant's publish connection (its subscribe connection is hosted, see
   * `subscribeRoom`): counted, ticked and in the metrics like any session, ended on shutdown. It
   * has no connect deadline and no dead-peer end: it lives as long as its seat, and its room
   * ends it (`end`).
   */
  addRoomPeer(session: PeerSession): void {
    session.deadPeerMs = Infinity;
    session.trace?.mark("answer");
    session.onEnd = (reason) => {
      // A transport that failed for good (DTLS) ends; its room sees the peer closed.
      if (reason === "dtls_failed" || reason === "error") void this.end(session.id, reason);
    };
    this.sessions.set(session.id, session);
    counters.sessionsCreated[session.role === "publisher" ? 0 : 1]++;
  }

  /** Runs `tick` on this manager's ticker (every 20 ms) until the returned function is called. */
  addTicker(tick: (nowMs: number) => void): () => void {
    this.#tickers.add(tick);
    return () => this.#tickers.delete(tick);
  }

  /** Counts a negotiation in progress against the limits (room peers negotiate outside). */
  pending(delta: 1 | -1): void {
    this.#pending += delta;
  }

  #checkCapacity(): void {
    if (this.#closed) throw new CapacityError("the server is shutting down");
    this.#admission.checkSessions(this.sessions.size + this.#pending);
  }

  /** WHIP: negotiates a publisher; a live publisher of the same stream is replaced. */
  async publish(
    streamName: string,
    offerSdp: string,
  ): Promise<{ session: PublisherSession; answer: string }> {
    this.#checkCapacity();
    const { offer, plan, peer, local } = await this.#negotiate(
      offerSdp,
      "publish",
      (offer) => planPublish(offer),
    );
    const session = new PublisherSession(crypto.randomUUID(), streamName, peer, plan);
    session.trace = new SessionTrace("publisher", streamName, session.id, {
      logger: this.#log,
      histograms,
    });
    session.remoteIceUfrag = offer.media[plan.tracks[0].index].iceUfrag ?? "";
    const startKbps = this.#options.startBitrateKbps;
    const answer = buildAnswer(offer, plan, local, "publish", (track) => ({
      fmtpSuffix: track.kind === "video" && startKbps
        ? `x-google-start-bitrate=${startKbps}`
        : undefined,
    }));
    this.#register(session);
    session.onFirstPacket = () => session.trace?.mark("first_packet");
    const stream = this.#stream(streamName);
    const previous = this.#publishers.get(streamName);
    this.#publishers.set(streamName, session);
    // Viewers whose consumers the new producers cannot carry are ended by their host, which
    // hears the Router's event.
    stream.replaceProducers(session.producers);
    for (const producer of session.producers) {
      producer.onLayersChanged = () => this.#emit(streamName, { type: "layers" });
    }
    if (previous) {
      this.#log.info("publisher replaced", {
        stream: streamName,
        session: previous.id,
        by: session.id,
      });
      await this.end(previous.id, "replaced");
    }
    this.#emit(streamName, { type: "active" });
    return { session, answer };
  }

  /** WHEP: negotiates a viewer of a live stream, on whichever thread its host picks. */
  async play(
    streamName: string,
    offerSdp: string,
  ): Promise<{ session: HostedViewer; answer: string }> {
    this.#checkCapacity();
    const publisher = this.#publishers.get(streamName);
    const stream = this.routers.get(streamName);
    if (!publisher || !stream || !stream.live) {
      throw new NoSourceError(`nothing is being published on stream "${streamName}"`);
    }
    if (this.viewersOf(streamName).length >= this.#options.maxViewersPerStream) {
      throw new CapacityError(
        `stream "${streamName}" is at its limit of ${this.#options.maxViewersPerStream} viewers`,
      );
    }
    this.#admission.checkForwardBudget(this.count("viewer"));
    const id = crypto.randomUUID();
    this.#pending++;
    let created;
    try {
      created = await this.#subscribers.create(id, streamName, offerSdp);
    } catch (error) {
      if (
        error instanceof RouterError &&
        (error.code === "bad-request" || error.code === "unsupported")
      ) counters.sessionFailures[FailureStage.sdp]++;
      throw error;
    } finally {
      this.#pending--;
    }
    const viewer = new HostedViewer(id, streamName, created, this.#subscribers);
    viewer.trace = new SessionTrace("viewer", streamName, id, { logger: this.#log, histograms });
    viewer.trace.mark("answer");
    this.sessions.set(id, viewer);
    counters.sessionsCreated[1]++;
    this.#emit(streamName, { type: "viewercount", viewers: this.viewersOf(streamName).length });
    return { session: viewer, answer: created.answer };
  }

  /**
   * A room participant's subscribe connection, on whichever thread the host picks (counted
   * like a viewer; no connect deadline or dead-peer end: its room ends it with `end`). Its
   * offers and bindings go to `listener` until it ends. Errors: CapacityError, RouterError.
   */
  async subscribeRoom(
    spec: RoomSubscriberSpec,
    listener: (event: RoomSubscriberEvent) => void,
  ): Promise<HostedViewer> {
    this.#checkCapacity();
    const id = crypto.randomUUID();
    // Listening before it exists: its first offer may follow the creation closely.
    this.#roomListeners.set(id, listener);
    this.#pending++;
    try {
      await this.#subscribers.createRoom(id, spec);
    } catch (error) {
      this.#roomListeners.delete(id);
      throw error;
    } finally {
      this.#pending--;
    }
    const created = {
      answer: "",
      etag: "",
      remoteIceUfrag: "",
      snapshot: { id, stream: spec.stream, connected: false, estimateBps: 0, consumers: [] },
    };
    const subscriber = new HostedViewer(id, spec.stream, created, this.#subscribers);
    this.sessions.set(id, subscriber);
    counters.sessionsCreated[1]++;
    if (this.#closed) await this.end(id, "shutdown");
    return subscriber;
  }

  /** Parses and plans an offer (failures count as `sdp`), then builds the werift transport. */
  async #negotiate(
    offerSdp: string,
    role: "publish" | "play",
    planOffer: (offer: SessionDescriptionInfo) => OfferPlan,
  ): Promise<{
    offer: SessionDescriptionInfo;
    plan: OfferPlan;
    peer: PeerTransport;
    local: LocalTransport;
  }> {
    let offer: SessionDescriptionInfo, plan: OfferPlan;
    try {
      offer = parseSdp(offerSdp);
      plan = planOffer(offer);
      requireTransport(offer, plan);
    } catch (error) {
      counters.sessionFailures[FailureStage.sdp]++;
      throw error;
    }
    this.#pending++;
    try {
      const { peer, local } = await PeerTransport.create(
        offer,
        plan,
        role,
        this.#options.network,
        this.#options.srtp,
      );
      return { offer, plan, peer, local };
    } finally {
      this.#pending--;
    }
  }

  #register(session: PublisherSession): void {
    session.trace?.mark("answer");
    session.expectConnectionWithin(this.#options.connectTimeoutMs);
    session.onEnd = (reason) => void this.end(session.id, reason);
    this.sessions.set(session.id, session);
    counters.sessionsCreated[session.role === "publisher" ? 0 : 1]++;
  }

  #stream(name: string): Router {
    let router = this.routers.get(name);
    if (!router) {
      router = new Router(
        name,
        (error) =>
          this.#log.warn("router event listener failed", { stream: name, error: String(error) }),
      );
      this.routers.set(name, router);
      this.#subscribers.observe({
        router,
        codecOf: (producer) => this.#publishers.get(name)?.codecs.get(producer),
      });
    }
    return router;
  }

  get(id: string): Session | undefined {
    return this.sessions.get(id);
  }

  /** Ends a session and frees what it held; idempotent. */
  async end(id: string, reason: EndReason): Promise<boolean> {
    const session = this.sessions.get(id);
    if (!session) return false;
    this.sessions.delete(id);
    const role = session.role === "publisher" ? 0 : 1;
    const reasonIndex = END_REASONS.indexOf(reason === "connect_timeout" ? "ice_failed" : reason);
    counters.sessionsEnded[role][reasonIndex >= 0 ? reasonIndex : END_REASONS.length - 1]++;
    if (reason === "connect_timeout" || reason === "ice_failed") {
      counters.sessionFailures[FailureStage.ice]++;
    }
    if (reason === "dtls_failed") counters.sessionFailures[FailureStage.dtls]++;
    const name = session.streamName;
    const stream = this.routers.get(name);
    if (session instanceof HostedViewer) {
      this.#roomListeners.delete(id);
      session.closed = true;
      session.endReason = reason;
      session.trace?.end(reason === "connect_timeout" ? "ice_failed" : reason);
      if (stream) this.#emit(name, { type: "viewercount", viewers: this.viewersOf(name).length });
      await this.#subscribers.end(id, reason);
    } else {
      if (session.role === "publisher" && this.#publishers.get(name) === session) {
        this.#publishers.delete(name);
        stream?.removeProducers(session.producers.map((p) => p.id));
        this.#emit(name, { type: "inactive" });
      }
      await session.close(reason);
    }
    if (
      stream && this.routers.get(name) === stream && !this.#publishers.has(name) &&
      this.viewersOf(name).length === 0
    ) {
      this.routers.delete(name);
      stream.close();
    }
    return true;
  }

  /** Subscribes to a stream's events; returns the unsubscribe function. */
  subscribe(streamName: string, listener: (event: StreamEvent) => void): () => void {
    return this.#events.subscribe(streamName, listener);
  }

  #emit(streamName: string, event: StreamEvent): void {
    this.#events.emit(streamName, event);
  }

  #tick(): void {
    const now = performance.now();
    this.#admission.sample(now);
    this.#subscribers.tick(now);
    for (const tick of this.#tickers) {
      try {
        tick(now);
      } catch (error) {
        this.#log.error("room tick failed", { error: String(error) });
      }
    }
    for (const session of this.sessions.values()) {
      if (session instanceof HostedViewer) continue; // its host ticks it
      try {
        session.tick(now);
      } catch (error) {
        this.#log.error("session tick failed", { session: session.id, error: String(error) });
        void this.end(session.id, "error");
      }
    }
  }

  /** Graceful shutdown: tells viewers to reconnect, ends every session, stops the ticker. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#events.emitAll({ type: "reconnect" });
    await Promise.all([...this.sessions.keys()].map((id) => this.end(id, "shutdown")));
    // Room peers negotiated while closing register when their transport is up: wait for them
    // (a transport is made within 2 s, its gathering timeout) and end them too.
    for (let waited = 0; this.#pending > 0 && waited < 3000; waited += 10) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await Promise.all([...this.sessions.keys()].map((id) => this.end(id, "shutdown")));
    await this.#subscribers.close();
    clearInterval(this.#timer);
    this.#tickers.clear();
    this.#events.clear();
  }
}
