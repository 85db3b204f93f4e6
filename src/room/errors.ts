/**
 * The one error type of room policy: a stable `code` for programs and a sentence for people.
 * Signalling (src/signal) carries the code unchanged to the client; HTTP maps it to a status.
 */

/** Codes a room decision can fail with: a subset of the signalling codes (src/signal/codes.ts). */
export const ROOM_ERROR_CODES = [
  "bad-request",
  "unauthorized",
  "forbidden",
  "not-found",
  "room-full",
  "video-limit",
  "conflict",
  "e2ee-forbids",
  "over-capacity",
] as const;
export type RoomErrorCode = typeof ROOM_ERROR_CODES[number];

/**
 * A refused room operation.
 *
 * @example throw new RoomError("room-full", "the room has its 1000 participants");
 */
export class RoomError extends Error {
  override name = "RoomError";
  readonly code: RoomErrorCode;

  constructor(code: RoomErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}
