/**
 * Who may do what in a room: the permission table of rooms.md §9 as data. The Room checks it
 * on every operation (the Router below trusts the Room and never checks roles).
 *
 * @example can("listener", "raiseHand") // true
 */
import type { Source } from "./sources.ts";

export const ROLES = ["admin", "speaker", "listener"] as const;
export type Role = typeof ROLES[number];

/** Everything a participant may be allowed to do. */
export const ACTIONS = [
  "subscribe",
  "raiseHand",
  "microphone",
  "camera",
  "screen",
  "unmuteLocked",
  "promote",
  "demote",
  "muteParticipant",
  "remove",
  "endRoom",
  "createInvite",
  "resetInvites",
  "record",
] as const;
export type Action = typeof ACTIONS[number];

const ADMIN_ONLY: readonly Action[] = [
  "unmuteLocked",
  "promote",
  "demote",
  "muteParticipant",
  "remove",
  "endRoom",
  "createInvite",
  "resetInvites",
  "record",
];

/**
 * The table. A speaker's microphone is "self-unmute if allowed": `microphone` is granted, and
 * an admin's lock (`muteParticipant`) is lifted only by `unmuteLocked`. Camera and screen are
 * granted within the room's video limit, which the Room checks separately. Listeners raise
 * hands; admins and speakers already speak.
 */
export const PERMISSIONS: Readonly<Record<Role, ReadonlySet<Action>>> = {
  admin: new Set<Action>(["subscribe", "microphone", "camera", "screen", ...ADMIN_ONLY]),
  speaker: new Set<Action>(["subscribe", "microphone", "camera", "screen"]),
  listener: new Set<Action>(["subscribe", "raiseHand"]),
};

/** Which roles may be hidden (no join/leave events, only a count): listeners only. */
export const MAY_BE_HIDDEN: Readonly<Record<Role, boolean>> = {
  admin: false,
  speaker: false,
  listener: true,
};

/** The permission that publishing (or unmuting) a source needs. */
export const SOURCE_ACTION: Readonly<Record<Source, Action>> = {
  microphone: "microphone",
  camera: "camera",
  screen: "screen",
  screenAudio: "screen",
};

/** Whether `role` may do `action`. */
export function can(role: Role, action: Action): boolean {
  return PERMISSIONS[role].has(action);
}
