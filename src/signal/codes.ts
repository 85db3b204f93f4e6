/**
 * Error codes of signalling protocol v1 and the error type handlers throw. A code is stable and
 * for programs; the message is a sentence for people and may change. Room policy refuses with
 * the same codes (`RoomError`), carried to the client unchanged.
 */
import { ROOM_ERROR_CODES, RoomError } from "../room/mod.ts";

export const ERROR_CODES = [
  /** Malformed frame or message, unknown type, or a message out of order ("join first"). */
  "bad-request",
  /** The frame's `v` is not a version this server speaks. */
  "unsupported-version",
  /** The token is missing, forged, expired, for another room or from before a link reset. */
  "unauthorized",
  /** The participant's role may not do this. */
  "forbidden",
  /** No such room (or it ended) or participant. */
  "not-found",
  /** The room has `maxParticipants` participants. */
  "room-full",
  /** The room has `maxVideoPublishers` video publishers or `maxScreenShares` screen shares. */
  "video-limit",
  /** The request contradicts the state: a second join, a stale `rev`, an id already in flight. */
  "conflict",
  /** More messages than the rate limit allows. */
  "rate-limited",
  /** The room is end-to-end encrypted, which rules this out (recording). */
  "e2ee-forbids",
  /** The server is at a limit (sessions, rooms) or shutting down. */
  "over-capacity",
  /** The server failed; the cause is logged. */
  "internal",
] as const;
export type ErrorCode = typeof ERROR_CODES[number];

// Every room code is a signalling code (checked by the compiler).
const _roomCodesAreSignalCodes: readonly ErrorCode[] = ROOM_ERROR_CODES;

/**
 * A refused message: becomes a `reply` with `ok: false` (or an `error` message when the request
 * had no id).
 *
 * @example throw new SignalError("bad-request", "join first");
 */
export class SignalError extends Error {
  override name = "SignalError";
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
  }

  /** A SignalError for anything thrown: RoomErrors keep their code, the rest is `internal`. */
  static from(error: unknown): SignalError {
    if (error instanceof SignalError) return error;
    if (error instanceof RoomError) return new SignalError(error.code, error.message);
    return new SignalError("internal", "the server failed to handle this message");
  }
}

/**
 * WebSocket close codes the server uses (RFC 6455 §7.4.1; 4000–4999 are the application's).
 */
export const CloseCode = {
  /** `leave`, or the server shut the room down. */
  normal: 1000,
  /** The server is going away (shutdown). */
  goingAway: 1001,
  /** A binary frame: the protocol is JSON text. */
  unsupportedData: 1003,
  /** Kept flooding past the rate limit. */
  policyViolation: 1008,
  /** A frame larger than 64 KiB. */
  messageTooBig: 1009,
  /** The server failed. */
  internalError: 1011,
  /** Removed by an admin. */
  removed: 4001,
  /** The room ended. */
  roomEnded: 4002,
  /** The same user joined from elsewhere. */
  replaced: 4003,
} as const;
export type CloseCode = typeof CloseCode[keyof typeof CloseCode];
