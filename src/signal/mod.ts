/** Signalling protocol v1 (docs/signalling.md); other folders import only this file. */
export { CloseCode, ERROR_CODES, type ErrorCode, SignalError } from "./codes.ts";
export * from "./messages.ts";
export {
  DEFAULT_RATE_LIMIT,
  MAX_QUEUED,
  type RateLimit,
  SignalConnection,
  type SignalConnectionOptions,
  type SignalHandler,
} from "./connection.ts";
export { type HubConnection, type HubTimers, RoomHub } from "./room-hub.ts";
export {
  type MediaMessage,
  RoomSession,
  type RoomSessionMedia,
  RoomSignalling,
  type RoomSignallingOptions,
  type SignalTransport,
} from "./room-session.ts";
export { RoomMedia, type RoomMediaOptions } from "./room-media.ts";
