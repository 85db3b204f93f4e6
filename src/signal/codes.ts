/**
 * Error codes of signalling protocol v1 and the error type handlers throw. A code is stable and
 * for programs; the message is a sentence for people and may change. Room policy refuses with
 * the same codes (`RoomError`), carried to the client unchanged.
 */
import { ROOM_ERROR_CODES, RoomError } from "../room/mod.ts";

// One list for every adapter, kept with the Router (the lowest layer that refuses anything).
export { ERROR_CODES, type ErrorCode } from "../sfu/router-protocol.ts";
import type { ErrorCode } from "../sfu/router-protocol.ts";

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
