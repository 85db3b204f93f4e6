/**
 * The seam between the owner of WHEP viewers (SessionManager, HTTP) and wherever their sessions
 * run: on this thread (local-subscriber-host.ts) or in a viewer worker (src/workers). Everything
 * that crosses it is plain data that survives `structuredClone` and JSON: commands in, events
 * and snapshots out, errors as a RouterError's code. So the owner never holds a session object
 * of another thread (no stand-in objects, no casts), and a new subscriber control is one
 * `SubscriberCommand` member plus its case in `applySubscriberCommand`: both hosts run that
 * function, and the worker protocol carries commands verbatim.
 */
import type { SessionEvent } from "../observability/tracing.ts";
import type { Source } from "../sfu/router-protocol.ts";
import type { SwitchReason } from "../sfu/consumer.ts";
import type { Producer } from "../sfu/producer.ts";
import type { Router } from "../sfu/router.ts";
import { RouterError } from "../sfu/router-protocol.ts";
import type { TrackPriorityValue } from "../sfu/subscriber-allocator.ts";
import { InvalidOfferError, UnsupportedOfferError } from "./negotiation.ts";
import { type SdpCodec, SdpParseError } from "./sdp.ts";
import type { EndReason, SessionLifecycle } from "./session-base.ts";
import type { ViewerSession } from "./viewer-session.ts";

/** What an owner asks of one subscriber; `mid` names the consumer's m-line. */
export type SubscriberCommand =
  /** Pins a simulcast layer by rid ("" for a layer without one); null: automatic. */
  | { t: "pin"; mid: string; rid: string | null }
  /** Temporal layer pin (null: automatic) and cap (absent: none). */
  | { t: "temporal"; mid: string; pinned: number | null; max?: number }
  /** Caps for automatic selection; clears a pin. */
  | { t: "caps"; mid: string; maxWidth?: number; maxHeight?: number; maxSpatial?: number }
  /** Highest picture height the receiver shows (0 pauses the track; Infinity: any). */
  | { t: "maxHeight"; mid: string; maxHeight: number }
  /** Rank when the subscriber's bandwidth is split across its video tracks. */
  | { t: "priority"; mid: string; priority: TrackPriorityValue }
  /** ICE restart with the local credentials the owner already answered with. */
  | {
    t: "restartIce";
    remoteUfrag: string;
    remotePwd: string;
    iceUfrag: string;
    icePwd: string;
  };

/**
 * What a room's owner (signalling, room-media.ts) asks of one room subscriber
 * (room-subscriber.ts). Producers are named by id: the subscriber's host resolves them in its
 * own Router (the room's, or a worker's mirror of it, which has the same ids).
 */
export type RoomSubscriberCommand =
  /** Another participant's track (not a microphone) on an idle m-line of its kind. */
  | { t: "bind"; producer: string }
  /** The producer is gone: its m-line (track or audio slot) is free. */
  | { t: "unbind"; producer: string }
  /** Audio slot `index` carries `producer` from now on (null: silent). */
  | { t: "slot"; index: number; producer: string | null }
  /**
   * How the subscriber wants a video track: its height cap and its rank in the bandwidth split.
   * Keyed by producer rather than by m-line (unlike SubscriberCommand): the owner decides it
   * before the track has a consumer, and the host applies it whenever one starts carrying it.
   */
  | { t: "want"; producer: string; maxHeight: number; priority: TrackPriorityValue }
  /** The next offer restarts ICE with new credentials of the host's choosing. */
  | { t: "restartIce" }
  /** The client's socket resumed: what every m-line carries now, and the offer in flight again. */
  | { t: "resume" };

/** What an m-line of a room subscriber carries, as signalling describes it. */
export interface MlineBinding {
  mid: string;
  kind: "audio" | "video";
  participant: string | null;
  source: Source | null;
}

/** A layer as a snapshot names it. */
export interface LayerRef {
  ssrc: number;
  rid: string | null;
}

/** One consumer of a subscriber, as plain data. */
export interface ConsumerSnapshot {
  mid: string;
  mlineIndex: number;
  kind: "audio" | "video";
  /** Outbound SSRC. */
  ssrc: number;
  /** Id of the producer it forwards (the same on the main thread and in every mirror). */
  producer: string;
  current: LayerRef | null;
  target: LayerRef | null;
  reason: SwitchReason | null;
  packetsSent: number;
  /** Temporal layer wanted and forwarded (-1: all). */
  temporalTarget: number;
  temporalCurrent: number;
}

/** A subscriber as HTTP and the API read it. */
export interface SubscriberSnapshot {
  id: string;
  stream: string;
  /** ICE and DTLS are up. */
  connected: boolean;
  estimateBps: number;
  consumers: ConsumerSnapshot[];
}

/** What a host reports about its subscribers. */
export type SubscriberEvent =
  /**
   * A subscriber must end on its own (dead peer, ICE/DTLS failure, publisher gone); `error`:
   * what a tick that failed threw.
   */
  | { t: "ended"; id: string; reason: EndReason; error?: string }
  /** A lifecycle step (ICE and DTLS up, first packet), for the SessionTrace its owner keeps. */
  | { t: "lifecycle"; id: string; event: SessionEvent }
  /** A room subscriber's offer for its client (`rev` to answer). */
  | { t: "offer"; id: string; rev: number; sdp: string; bound: MlineBinding[] }
  /** What m-lines of a room subscriber carry now, outside an offer. */
  | { t: "bound"; id: string; bound: MlineBinding[] };

/** A room participant's subscribe connection to create (room-subscriber.ts). */
export interface RoomSubscriberSpec {
  /** The room's Router id (`room:<id>`), observed by the host beforehand. */
  stream: string;
  participant: string;
  audioSlots: number;
}

/** A negotiated subscriber: what the HTTP answer needs. */
export interface SubscriberCreated {
  answer: string;
  etag: string;
  remoteIceUfrag: string;
  snapshot: SubscriberSnapshot;
}

/** A stream's Router and the publisher's codecs of its producers (for answers). */
export interface StreamSource {
  router: Router;
  codecOf(producer: Producer): SdpCodec | undefined;
}

/** Where WHEP viewers' sessions live. Errors thrown by `create` are RouterErrors. */
export interface SubscriberHost {
  /** Follows a stream's Router from now until it closes (its events say what changed). */
  observe(source: StreamSource): void;
  /** Negotiates a subscriber of `stream` with the given id. */
  create(id: string, stream: string, offer: string): Promise<SubscriberCreated>;
  command(id: string, command: SubscriberCommand): void;
  /**
   * Creates a room subscriber with the given id; its first offer follows as an `offer` event.
   * It has no connect deadline: its room ends it. Errors are RouterErrors.
   */
  createRoom(id: string, spec: RoomSubscriberSpec): Promise<void>;
  roomCommand(id: string, command: RoomSubscriberCommand): void;
  /** The client answered a room subscriber's offer `rev`; refusals are RouterErrors (`conflict`, `bad-request`). */
  answer(id: string, rev: number, sdp: string): Promise<void>;
  /** The latest snapshot (a worker's is as of its last status report, ≤ 250 ms old). */
  snapshot(id: string): SubscriberSnapshot | undefined;
  /** Ends a subscriber (idempotent) and waits until its transport is freed. */
  end(id: string, reason: EndReason): Promise<void>;
  /** The owner's 20 ms tick. */
  tick(nowMs: number): void;
  /** The one listener of this host's events (its owner). */
  listen(listener: (event: SubscriberEvent) => void): void;
  close(): Promise<void>;
}

/**
 * A WHEP viewer as its owner keeps it, wherever it is hosted: the HTTP resource (id, ETag,
 * current ICE ufrag), its lifecycle trace and, through its host, commands and snapshots.
 */
export class HostedViewer {
  readonly role = "viewer" as const;
  readonly id: string;
  readonly streamName: string;
  readonly createdAt = new Date();
  /** Strong entity tag of the current ICE session (RFC 9725 §4.3.1). */
  etag: string;
  /** The peer's current ICE username fragment (an ICE restart changes it). */
  remoteIceUfrag: string;
  closed = false;
  endReason: EndReason | undefined;
  trace: SessionLifecycle | undefined;
  readonly #host: SubscriberHost;

  constructor(id: string, streamName: string, created: SubscriberCreated, host: SubscriberHost) {
    this.id = id;
    this.streamName = streamName;
    this.etag = created.etag;
    this.remoteIceUfrag = created.remoteIceUfrag;
    this.#host = host;
  }

  snapshot(): SubscriberSnapshot {
    return this.#host.snapshot(this.id) ??
      { id: this.id, stream: this.streamName, connected: false, estimateBps: 0, consumers: [] };
  }

  command(command: SubscriberCommand): void {
    if (!this.closed) this.#host.command(this.id, command);
  }
}

/** Applies a command to a subscriber session: the one place each control is implemented. */
export function applySubscriberCommand(session: ViewerSession, command: SubscriberCommand): void {
  if (command.t === "restartIce") {
    const { remoteUfrag, remotePwd, iceUfrag, icePwd } = command;
    session.peer.restartIce(remoteUfrag, remotePwd, { iceUfrag, icePwd });
    session.remoteIceUfrag = remoteUfrag;
    return;
  }
  const consumer = session.consumers.find((c) => c.mid === command.mid);
  if (!consumer) return;
  switch (command.t) {
    case "pin":
      consumer.pin(command.rid);
      break;
    case "temporal":
      consumer.setTemporal(command.pinned, command.max);
      break;
    case "caps":
      consumer.setCaps(command.maxWidth, command.maxHeight, command.maxSpatial);
      break;
    case "maxHeight":
      consumer.maxHeight = command.maxHeight;
      break;
    case "priority":
      consumer.priority = command.priority;
      break;
    default:
      unreachable(command);
  }
  // Acted on now, not at the next selection round (the subscriber's tick re-splits later).
  consumer.select(performance.now());
}

/** A subscriber session as plain data. */
export function snapshotOf(session: ViewerSession, nowMs: number): SubscriberSnapshot {
  const ref = (layer: { ssrc: number; rid: string | undefined } | null): LayerRef | null =>
    layer ? { ssrc: layer.ssrc, rid: layer.rid ?? null } : null;
  return {
    id: session.id,
    stream: session.streamName,
    connected: session.peer.connected,
    estimateBps: Math.round(session.bandwidth.estimateAt(nowMs)),
    consumers: session.consumers.map((c) => ({
      mid: c.mid,
      mlineIndex: c.mlineIndex,
      kind: c.kind,
      ssrc: c.ssrc,
      producer: c.producer.id,
      current: ref(c.current),
      target: ref(c.target),
      reason: c.lastSwitchReason,
      packetsSent: c.packetsSent,
      temporalTarget: c.temporalTarget,
      temporalCurrent: c.temporalCurrent,
    })),
  };
}

/** A negotiation failure as the RouterError every host throws (codes cross the worker boundary). */
export function subscriberError(error: unknown): RouterError {
  if (error instanceof RouterError) return error;
  if (error instanceof SdpParseError || error instanceof InvalidOfferError) {
    return new RouterError("bad-request", error.message);
  }
  if (error instanceof UnsupportedOfferError) return new RouterError("unsupported", error.message);
  return new RouterError("internal", error instanceof Error ? error.message : String(error));
}

/** Exhaustiveness: a new union member without a case fails type checking here. */
export function unreachable(value: never): never {
  throw new Error(`unhandled message: ${JSON.stringify(value)}`);
}
