/**
 * Owns every session and the Router of each stream key: creates sessions from offers, ties
 * viewers to the live publisher, replaces publishers (the stream policy: one publisher per key),
 * ends sessions (by request, dead peer, failure or shutdown) and frees everything they held. One
 * 20 ms ticker drives all sessions' periodic work.
 */
import { RemoteError, WorkerPool } from "../workers/worker-pool.ts";
import { RemoteViewer } from "../workers/remote-viewer.ts";
import { counters, END_REASONS, FailureStage, histograms } from "../observability/counters.ts";
import { SessionTrace } from "../observability/tracing.ts";
import type { Logger } from "../observability/log.ts";
import { Router } from "../sfu/router.ts";
import type { SrtpBackend } from "../transport/srtp.ts";
import type { SrtpMode } from "../transport/srtp-backend.ts";
import {
  buildAnswer,
  InvalidOfferError,
  type LocalTransport,
  type OfferPlan,
  planPlay,
  planPublish,
  requireTransport,
  type SourceTrack,
  UnsupportedOfferError,
} from "./negotiation.ts";
import { type NetworkOptions, PeerTransport } from "./peer-transport.ts";
import { PublisherSession } from "./publisher-session.ts";
import { parseSdp, SdpParseError, type SessionDescriptionInfo } from "./sdp.ts";
import type { EndReason } from "./session-base.ts";
import { ViewerSession } from "./viewer-session.ts";

export type Session = PublisherSession | ViewerSession;

/** Nothing is being published on the stream (→ 409 + Retry-After for WHEP). */
export class NoSourceError extends Error {
  override name = "NoSourceError";
}

/** Over a configured limit (→ 503 + Retry-After). */
export class CapacityError extends Error {
  override name = "CapacityError";
}

/** Events a stream reports to its viewers (WHEP server-sent events). */
export type StreamEvent =
  | { type: "active" }
  | { type: "inactive" }
  | { type: "viewercount"; viewers: number }
  | { type: "layers" }
  | { type: "reconnect" };

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
}

const TICK_MS = 20;
/** Window of the forwarded-rate measurement used by admission control. */
const RATE_WINDOW_MS = 1000;

export class SessionManager {
  /** One Router per stream key: a stream is a room with one publisher. */
  readonly routers: Map<string, Router> = new Map();
  readonly sessions: Map<string, Session> = new Map();
  readonly #publishers = new Map<string, PublisherSession>();
  readonly #listeners = new Map<string, Set<(event: StreamEvent) => void>>();
  readonly #options: SessionManagerOptions;
  readonly #log: Logger;
  #timer: ReturnType<typeof setInterval> | undefined;
  #pending = 0;
  readonly #tickers = new Set<(nowMs: number) => void>();
  #closed = false;
  #workerPool: WorkerPool | undefined;
  #rateStartMs = performance.now();
  #rateStartPackets = 0;
  #forwardedPps = 0;

  constructor(options: SessionManagerOptions) {
    this.#options = options;
    this.#log = options.logger;
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
  }

  /**
   * Moves viewers to `count` worker threads (count ≥ 2; 0 or 1 keeps everything on this
   * thread). Publishers stay here; see src/workers/worker-pool.ts.
   */
  async startWorkers(count: number, srtp: SrtpMode): Promise<void> {
    if (count < 2 || this.#workerPool || this.#closed) return;
    this.#workerPool = await WorkerPool.start({
      workers: count,
      network: this.#options.network,
      srtp,
      connectTimeoutMs: this.#options.connectTimeoutMs,
      logger: this.#log,
      onEnded: (viewer, reason) => void this.end(viewer.id, reason),
    });
    // A publisher already live (none in practice: workers start before HTTP) is mirrored.
    for (const [name, publisher] of this.#publishers) {
      this.#workerPool.publish(name, publisher.producers, publisher.codecs);
    }
  }

  /** The viewer workers, when running with more than one thread. */
  get workerPool(): WorkerPool | undefined {
    return this.#workerPool;
  }

  /** Packets forwarded to viewers per second, over the last full second (all threads). */
  get forwardedPps(): number {
    return this.#forwardedPps;
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

  viewersOf(streamName: string): ViewerSession[] {
    return [...this.sessions.values()].filter((s): s is ViewerSession =>
      s.role === "viewer" && s.streamName === streamName
    );
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
   * A room participant's peer (its publish or subscribe connection): counted, ticked and in
   * the metrics like any session, ended on shutdown. It has no connect deadline and no
   * dead-peer end: it lives as long as its seat, and its room ends it (`end`).
   */
  addRoomPeer(session: Session): void {
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
    if (this.sessions.size + this.#pending >= this.#options.maxSessions) {
      throw new CapacityError(
        `the server is at its limit of ${this.#options.maxSessions} sessions`,
      );
    }
    const maxRssMb = this.#options.maxRssMb ?? 0;
    if (maxRssMb > 0) {
      const rssMb = (this.#options.rssBytes ?? (() => Deno.memoryUsage().rss))() / (1 << 20);
      if (rssMb > maxRssMb) {
        throw new CapacityError(
          `the server uses ${Math.round(rssMb)} MiB, over its budget of ${maxRssMb} MiB`,
        );
      }
    }
  }

  /**
   * Admission of one more viewer under `maxForwardPps`: the measured forwarded rate plus what
   * an average viewer costs must stay under the limit (a viewer of a stream with no viewers
   * yet is admitted while the rate is under the limit).
   */
  #checkForwardBudget(): void {
    const max = this.#options.maxForwardPps ?? 0;
    if (max <= 0) return;
    const viewers = this.count("viewer");
    const perViewer = viewers > 0 ? this.#forwardedPps / viewers : 0;
    if (this.#forwardedPps + perViewer > max) {
      throw new CapacityError(
        `forwarding ${Math.round(this.#forwardedPps)} packets/s, at its limit of ${max}`,
      );
    }
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
    const orphans = stream.replaceProducers(session.producers);
    this.#workerPool?.publish(streamName, session.producers, session.codecs);
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
    for (const consumer of orphans) {
      const viewer = this.viewersOf(streamName).find((v) => v.consumers.includes(consumer));
      if (viewer) await this.end(viewer.id, "publisher_left");
    }
    this.#emit(streamName, { type: "active" });
    return { session, answer };
  }

  /** WHEP: negotiates a viewer of a live stream. */
  async play(
    streamName: string,
    offerSdp: string,
  ): Promise<{ session: ViewerSession; answer: string }> {
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
    this.#checkForwardBudget();
    if (this.#workerPool) return await this.#playRemote(this.#workerPool, streamName, offerSdp);
    const sources: SourceTrack[] = stream.producers.map((p) => ({
      kind: p.kind,
      codec: publisher.codecs.get(p)!,
      codecName: p.codecName,
    }));
    const { offer, plan, peer, local } = await this.#negotiate(
      offerSdp,
      "play",
      (offer) => planPlay(offer, sources),
    );
    const session = new ViewerSession(crypto.randomUUID(), streamName, peer, plan);
    session.trace = new SessionTrace("viewer", streamName, session.id, {
      logger: this.#log,
      histograms,
    });
    session.remoteIceUfrag = offer.media[plan.tracks[0].index].iceUfrag ?? "";
    const answer = buildAnswer(offer, plan, local, "play", (track) => ({
      ssrc: session.ssrcByMid.get(track.mid),
      cname: session.cname,
      msid: `quetzal-${streamName.replace(/[^A-Za-z0-9_-]/g, "")} ${track.kind}`,
    }));
    // The stream may have changed while negotiating; attach to what is live now.
    session.attach(plan, this.routers.get(streamName)?.producers ?? []);
    for (const c of session.consumers) stream.consumers.add(c);
    this.#register(session);
    this.#emit(streamName, { type: "viewercount", viewers: this.viewersOf(streamName).length });
    return { session, answer };
  }

  /** WHEP on a viewer worker: the worker negotiates; this thread keeps a RemoteViewer. */
  async #playRemote(
    cluster: WorkerPool,
    streamName: string,
    offerSdp: string,
  ): Promise<{ session: ViewerSession; answer: string }> {
    const index = cluster.pick();
    if (index === undefined) throw new CapacityError("every viewer worker is saturated");
    this.#pending++;
    let viewer: RemoteViewer;
    try {
      viewer = await cluster.play(index, streamName, offerSdp);
    } catch (error) {
      throw this.#localError(error);
    } finally {
      this.#pending--;
    }
    const answer = viewer.answer;
    // Logged, traced and timed here like a local viewer (#register); the worker relays the
    // later steps (WorkerPool, "session" messages).
    viewer.trace = new SessionTrace("viewer", streamName, viewer.id, {
      logger: this.#log,
      histograms,
    });
    viewer.trace.mark("answer");
    viewer.onEnd = (reason) => void this.end(viewer.id, reason);
    // The HTTP layer reads the same fields on local and remote viewers (see remote-viewer.ts).
    this.sessions.set(viewer.id, viewer as unknown as ViewerSession);
    counters.sessionsCreated[1]++;
    this.#emit(streamName, { type: "viewercount", viewers: this.viewersOf(streamName).length });
    return { session: viewer as unknown as ViewerSession, answer };
  }

  /** A worker's error as the class the HTTP layer maps to a status. */
  #localError(error: unknown): unknown {
    if (!(error instanceof RemoteError)) return error;
    const sdp = (e: Error) => {
      counters.sessionFailures[FailureStage.sdp]++;
      return e;
    };
    switch (error.name) {
      case "NoSourceError":
        return new NoSourceError(error.message);
      case "CapacityError":
      case "RtcPortsExhaustedError":
        return new CapacityError(error.message);
      case "SdpParseError":
        return sdp(new SdpParseError(error.message));
      case "InvalidOfferError":
        return sdp(new InvalidOfferError(error.message));
      case "UnsupportedOfferError":
        return sdp(new UnsupportedOfferError(error.message));
      default:
        return new Error(error.message);
    }
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

  #register(session: Session): void {
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
    const stream = this.routers.get(session.streamName);
    const remote = (session as unknown) instanceof RemoteViewer
      ? session as unknown as RemoteViewer
      : undefined;
    if (session.role === "publisher") {
      if (this.#publishers.get(session.streamName) === session) {
        this.#publishers.delete(session.streamName);
        this.#workerPool?.unpublish(session.streamName, session.producers);
        stream?.removeProducers(session.producers.map((p) => p.id));
        this.#emit(session.streamName, { type: "inactive" });
      }
    } else if (stream) {
      if (!remote) { for (const c of session.consumers) stream.consumers.delete(c); }
      this.#emit(session.streamName, {
        type: "viewercount",
        viewers: this.viewersOf(session.streamName).length,
      });
    }
    if (remote) await this.#workerPool?.end(remote, reason);
    else await session.close(reason);
    if (
      stream && !this.#publishers.has(stream.id) && stream.consumers.size === 0 &&
      this.viewersOf(stream.id).length === 0
    ) {
      this.routers.delete(stream.id);
      stream.close();
    }
    return true;
  }

  /** Subscribes to a stream's events; returns the unsubscribe function. */
  subscribe(streamName: string, listener: (event: StreamEvent) => void): () => void {
    let set = this.#listeners.get(streamName);
    if (!set) {
      set = new Set();
      this.#listeners.set(streamName, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.#listeners.delete(streamName);
    };
  }

  #emit(streamName: string, event: StreamEvent): void {
    for (const listener of this.#listeners.get(streamName) ?? []) {
      try {
        listener(event);
      } catch (error) {
        this.#log.warn("stream event listener failed", {
          stream: streamName,
          error: String(error),
        });
      }
    }
  }

  #tick(): void {
    const now = performance.now();
    if (now - this.#rateStartMs >= RATE_WINDOW_MS) {
      const packets = counters.rtpPacketsOut[0] + counters.rtpPacketsOut[1];
      this.#forwardedPps = (packets - this.#rateStartPackets) * 1000 / (now - this.#rateStartMs);
      this.#rateStartPackets = packets;
      this.#rateStartMs = now;
    }
    this.#workerPool?.forwardSenderReports();
    for (const tick of this.#tickers) {
      try {
        tick(now);
      } catch (error) {
        this.#log.error("room tick failed", { error: String(error) });
      }
    }
    for (const session of this.sessions.values()) {
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
    for (const name of this.#listeners.keys()) this.#emit(name, { type: "reconnect" });
    await Promise.all([...this.sessions.keys()].map((id) => this.end(id, "shutdown")));
    // Room peers negotiated while closing register when their transport is up: wait for them
    // (a transport is made within 2 s, its gathering timeout) and end them too.
    for (let waited = 0; this.#pending > 0 && waited < 3000; waited += 10) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await Promise.all([...this.sessions.keys()].map((id) => this.end(id, "shutdown")));
    await this.#workerPool?.close();
    clearInterval(this.#timer);
    this.#tickers.clear();
    this.#listeners.clear();
  }
}
