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

/** The source a WHIP track is: one microphone, one camera. */
export function defaultSource(kind: "audio" | "video"): Source {
  return kind === "audio" ? "microphone" : "camera";
}

/**
 * Stable error codes shared by every adapter: WHIP/WHEP map them to HTTP statuses, signalling
 * sends them as they are, the worker boundary carries them instead of class names.
 */
export const ERROR_CODES = [
  "bad-request",
  "unauthorized",
  "forbidden",
  "not-found",
  "no-source",
  "room-full",
  "video-limit",
  "capacity",
  "conflict",
  "unsupported",
  "rate-limited",
  "e2ee-forbids",
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
