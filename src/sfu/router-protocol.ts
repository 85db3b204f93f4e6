/**
 * The Router's plain-data vocabulary: what a producer is called from outside, the events a
 * Router reports and the snapshot that HTTP and the API read. Everything here survives
 * `structuredClone` (worker postMessage) and JSON (signalling, later the bus between machines)
 * unchanged, so the same types serve every adapter; `test/sfu/router-protocol.test.ts` checks it.
 */
import type { CodecName } from "../rtp/codecs/codec.ts";

/** What a track carries, from the participant's side (rooms.md §6). */
export const SOURCES = ["camera", "microphone", "screen", "screenAudio"] as const;
export type Source = typeof SOURCES[number];

/** Sources that carry video and count against a room's video limits. */
export const VIDEO_SOURCES: readonly Source[] = ["camera", "screen"];

export function isVideoSource(source: Source): boolean {
  return source === "camera" || source === "screen";
}

/** The source a WHIP track is: one microphone, one camera. */
export function defaultSource(kind: "audio" | "video"): Source {
  return kind === "audio" ? "microphone" : "camera";
}

/**
 * Stable error codes shared by every adapter: signalling sends them as they are, WHIP/WHEP map
 * them to HTTP statuses, the worker boundary carries them instead of class names. A code is for
 * programs; the message beside it is a sentence for people and may change.
 */
export const ERROR_CODES = [
  /** Malformed frame, message or offer, unknown type, or a message out of order ("join first"). */
  "bad-request",
  /** The frame's `v` is not a version this server speaks. */
  "unsupported-version",
  /** The token is missing, forged, expired, for another room or from before a link reset. */
  "unauthorized",
  /** The participant's role may not do this. */
  "forbidden",
  /** No such room (or it ended), participant, producer or session. */
  "not-found",
  /** Nothing is published where media was asked for (WHEP before the publisher: 409). */
  "no-source",
  /** The room has `maxParticipants` participants. */
  "room-full",
  /** The room has `maxVideoPublishers` video publishers or `maxScreenShares` screen shares. */
  "video-limit",
  /** The request contradicts the state: a second join, a stale `rev`, an id already in flight. */
  "conflict",
  /** Understood but not served: a codec or feature Quetzal does not forward (422). */
  "unsupported",
  /** More messages or requests than the rate limit allows. */
  "rate-limited",
  /** The room is end-to-end encrypted, which rules this out (recording). */
  "e2ee-forbids",
  /** The server is at a limit (sessions, rooms, forwarding) or shutting down. */
  "over-capacity",
  /** The server failed; the cause is logged. */
  "internal",
] as const;
export type ErrorCode = typeof ERROR_CODES[number];

/** An error with a stable code, thrown by the Router and the adapters below HTTP. */
export class RouterError extends Error {
  override name = "RouterError";
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** One published track, as the outside sees it. */
export interface ProducerInfo {
  /** Unique within the process (and the same in every worker that mirrors it). */
  id: string;
  /** Who publishes it: a room participant, or the WHIP session of a stream key. */
  participant: string;
  source: Source;
  kind: "audio" | "video";
  codec: CodecName;
  /** The publisher's m-line. */
  mid: string;
  /** Simulcast rids in offer order; empty for a single encoding. */
  rids: string[];
  /** Muted by its participant or a moderator: nothing is forwarded. */
  muted: boolean;
}

/** What a Router reports to its owner and to mirrors (workers; later other machines). */
export type RouterEvent =
  /** Producers joined or left the room (`replaced`: the removed ones' consumers were re-bound). */
  | { t: "producers"; router: string; added: ProducerInfo[]; removed: string[] }
  /** The room's media ended: every producer and consumer is gone. */
  | { t: "closed"; router: string };

/** A Router as HTTP and the API read it: no live media objects. */
export interface RouterSnapshot {
  id: string;
  /** When the current producers went live (ms since the epoch), or -1. */
  liveSinceMs: number;
  producers: ProducerInfo[];
  /** Consumers fed on this thread. */
  consumers: number;
}
