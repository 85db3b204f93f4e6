/**
 * One seat in a room: identity, role, visibility, raised hand and the state of each source.
 * The Room changes it; everything outside reads `info()`, plain data.
 */
import type { Role } from "./roles.ts";
import type { Source } from "./sources.ts";

/** A participant as the API and signalling show it (JSON- and structuredClone-safe). */
export interface ParticipantInfo {
  id: string;
  name: string;
  role: Role;
  /** The listener makes no join/leave events and is only counted (rooms.md §9). */
  hidden: boolean;
  /** The hand is raised. Admins also get the order (`RoomInfo.hands`). */
  hand: boolean;
  /** Sources being published. */
  publishing: Source[];
  /** Sources muted (by the participant or an admin). */
  muted: Source[];
  /** Sources an admin muted: the participant may not unmute them. */
  locked: Source[];
}

export class Participant {
  readonly id: string;
  name: string;
  role: Role;
  hidden: boolean;
  /** The app's user id from the token (`sub`), if any: one seat per user id. */
  readonly userId: string | undefined;
  /** When the hand was raised (room clock, ms), or null. */
  handRaisedAt: number | null = null;
  readonly publishing = new Set<Source>();
  readonly muted = new Set<Source>();
  readonly locked = new Set<Source>();
  readonly joinedAt: number;

  constructor(
    init: { id: string; name: string; role: Role; hidden: boolean; userId?: string },
    joinedAt: number,
  ) {
    this.id = init.id;
    this.name = init.name;
    this.role = init.role;
    this.hidden = init.hidden;
    this.userId = init.userId;
    this.joinedAt = joinedAt;
  }

  /** Publishes any video (camera or screen): counts against the room's video limit. */
  get publishesVideo(): boolean {
    return this.publishing.has("camera") || this.publishing.has("screen");
  }

  info(): ParticipantInfo {
    return {
      id: this.id,
      name: this.name,
      role: this.role,
      hidden: this.hidden,
      hand: this.handRaisedAt !== null,
      publishing: [...this.publishing],
      muted: [...this.muted],
      locked: [...this.locked],
    };
  }
}
