/**
 * Room policy (no media): participants, roles, tokens, limits and lifetime. Other folders import
 * only this file.
 */
export { ROOM_ERROR_CODES, RoomError, type RoomErrorCode } from "./errors.ts";
export { ID_PATTERN, newParticipantId, newRoomId, randomId } from "./ids.ts";
export { Participant, type ParticipantInfo } from "./participant.ts";
export {
  type Action,
  ACTIONS,
  can,
  MAY_BE_HIDDEN,
  PERMISSIONS,
  type Role,
  ROLES,
  SOURCE_ACTION,
} from "./roles.ts";
export { isVideoSource, type Source, SOURCES, VIDEO_SOURCES } from "./sources.ts";
export {
  generateRoomSecret,
  keyId,
  MIN_SECRET_LENGTH,
  type RoomKey,
  type RoomTokenClaims,
  RoomTokens,
  type SignInput,
} from "./tokens.ts";
export {
  DEFAULT_ROOM_SETTINGS,
  type JoinInput,
  type LeaveReason,
  Room,
  type RoomEndReason,
  type RoomInfo,
  type RoomListener,
  type RoomMedia,
  type RoomMediaFactory,
  type RoomSettings,
} from "./room.ts";
export { realTimers, RoomRegistry, type RoomRegistryOptions, type Timers } from "./registry.ts";
