/**
 * Owns every session and stream: creates them from offers, ties viewers to the live publisher,
 * replaces publishers, ends sessions (by request, dead peer, failure or shutdown) and frees
 * everything they held. One 20 ms ticker drives all sessions' periodic work.
 */
import { counters, END_REASONS, FailureStage, histograms } from "../observability/counters.ts";
import { SessionTrace } from "../observability/tracing.ts";
import type { Logger } from "../observability/log.ts";
import { Stream } from "../sfu/stream.ts";
import type { SrtpBackend } from "../transport/srtp.ts";
import { buildAnswer, planPlay, planPublish, requireTransport, type SourceTrack } from "./negotiation.ts";
import { type NetworkOptions, PeerTransport } from "./peer-transport.ts";
import { PublisherSession } from "./publisher-session.ts";
import { parseSdp } from "./sdp.ts";
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
}

const TICK_MS = 20;

export class SessionManager {
  readonly streams: Map<string, Stream> = new Map();
  readonly sessions: Map<string, Session> = new Map();
  readonly #publishers = new Map<string, PublisherSession>();
  readonly #listeners = new Map<string, Set<(event: StreamEvent) => void>>();
  readonly #options: SessionManagerOptions;
  readonly #log: Logger;
  #timer: ReturnType<typeof setInterval> | undefined;
  #pending = 0;
  #closed = false;

  constructor(options: SessionManagerOptions) {
    this.#options = options;
    this.#log = options.logger;
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
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

  #checkCapacity(): void {
    if (this.#closed) throw new CapacityError("the server is shutting down");
    if (this.sessions.size + this.#pending >= this.#options.maxSessions) {
      throw new CapacityError(`the server is at its limit of ${this.#options.maxSessions} sessions`);
    }
  }

  /** WHIP: negotiates a publisher; a live publisher of the same stream is replaced. */
  async publish(streamName: string, offerSdp: string): Promise<{ session: PublisherSession; answer: string }> {
    this.#checkCapacity();
    let offer, plan;
    try {
      offer = parseSdp(offerSdp);
      plan = planPublish(offer);
      requireTransport(offer, plan);
    } catch (error) {
      counters.sessionFailures[FailureStage.sdp]++;
      throw error;
    }
    this.#pending++;
    let peer: PeerTransport, local;
    try {
      ({ peer, local } = await PeerTransport.create(offer, plan, "publish", this.#options.network, this.#options.srtp));
    } finally {
      this.#pending--;
    }
    const session = new PublisherSession(crypto.randomUUID(), streamName, peer, plan);
    session.trace = new SessionTrace("publisher", streamName, session.id, { logger: this.#log, histograms });
    session.remoteIceUfrag = offer.media[plan.tracks[0].index].iceUfrag ?? "";
    const startKbps = this.#options.startBitrateKbps;
    const answer = buildAnswer(offer, plan, local, "publish", (track) => ({
      fmtpSuffix: track.kind === "video" && startKbps ? `x-google-start-bitrate=${startKbps}` : undefined,
    }));
    this.#register(session);
    session.onFirstPacket = () => session.trace?.mark("first_packet");
    const stream = this.#stream(streamName);
    const previous = this.#publishers.get(streamName);
    this.#publishers.set(streamName, session);
    const orphans = stream.replaceProducers(session.producers);
    for (const producer of session.producers) {
      producer.onLayersChanged = () => this.#emit(streamName, { type: "layers" });
    }
    if (previous) {
      this.#log.info("publisher replaced", { stream: streamName, session: previous.id, by: session.id });
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
  async play(streamName: string, offerSdp: string): Promise<{ session: ViewerSession; answer: string }> {
    this.#checkCapacity();
    const publisher = this.#publishers.get(streamName);
    const stream = this.streams.get(streamName);
    if (!publisher || !stream || !stream.live) {
      throw new NoSourceError(`nothing is being published on stream "${streamName}"`);
    }
    if (this.viewersOf(streamName).length >= this.#options.maxViewersPerStream) {
      throw new CapacityError(
        `stream "${streamName}" is at its limit of ${this.#options.maxViewersPerStream} viewers`,
      );
    }
    const sources: SourceTrack[] = stream.producers.map((p) => ({
      kind: p.kind,
      codec: publisher.codecs.get(p)!,
      codecName: p.codecName,
    }));
    let offer, plan;
    try {
      offer = parseSdp(offerSdp);
      plan = planPlay(offer, sources);
      requireTransport(offer, plan);
    } catch (error) {
      counters.sessionFailures[FailureStage.sdp]++;
      throw error;
    }
    this.#pending++;
    let peer: PeerTransport, local;
    try {
      ({ peer, local } = await PeerTransport.create(offer, plan, "play", this.#options.network, this.#options.srtp));
    } finally {
      this.#pending--;
    }
    const session = new ViewerSession(crypto.randomUUID(), streamName, peer, plan);
    session.trace = new SessionTrace("viewer", streamName, session.id, { logger: this.#log, histograms });
    session.remoteIceUfrag = offer.media[plan.tracks[0].index].iceUfrag ?? "";
    const answer = buildAnswer(offer, plan, local, "play", (track) => ({
      ssrc: session.ssrcByMid.get(track.mid),
      cname: session.cname,
      msid: `quetzal-${streamName.replace(/[^A-Za-z0-9_-]/g, "")} ${track.kind}`,
    }));
    // The stream may have changed while negotiating; attach to what is live now.
    session.attach(plan, this.streams.get(streamName)?.producers ?? []);
    for (const c of session.consumers) stream.consumers.add(c);
    this.#register(session);
    this.#emit(streamName, { type: "viewercount", viewers: this.viewersOf(streamName).length });
    return { session, answer };
  }

  #register(session: Session): void {
    session.trace?.mark("answer");
    session.expectConnectionWithin(this.#options.connectTimeoutMs);
    session.onEnd = (reason) => void this.end(session.id, reason);
    this.sessions.set(session.id, session);
    counters.sessionsCreated[session.role === "publisher" ? 0 : 1]++;
  }

  #stream(name: string): Stream {
    let stream = this.streams.get(name);
    if (!stream) {
      stream = new Stream(name);
      this.streams.set(name, stream);
    }
    return stream;
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
    if (reason === "connect_timeout" || reason === "ice_failed") counters.sessionFailures[FailureStage.ice]++;
    if (reason === "dtls_failed") counters.sessionFailures[FailureStage.dtls]++;
    const stream = this.streams.get(session.streamName);
    if (session.role === "publisher") {
      if (this.#publishers.get(session.streamName) === session) {
        this.#publishers.delete(session.streamName);
        stream?.clearProducers(session.producers);
        this.#emit(session.streamName, { type: "inactive" });
      }
    } else if (stream) {
      for (const c of session.consumers) stream.consumers.delete(c);
      this.#emit(session.streamName, { type: "viewercount", viewers: this.viewersOf(session.streamName).length });
    }
    await session.close(reason);
    if (stream && !this.#publishers.has(stream.name) && stream.consumers.size === 0) {
      this.streams.delete(stream.name);
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
        this.#log.warn("stream event listener failed", { stream: streamName, error: String(error) });
      }
    }
  }

  #tick(): void {
    const now = performance.now();
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
    clearInterval(this.#timer);
    this.#listeners.clear();
  }
}

