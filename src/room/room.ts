/**
 * A room: participants, roles, hands, mutes and limits (rooms.md §9). It decides who may do
 * what and refuses with a RoomError code; it holds no media. Its media half (the Router) plugs
 * in through the small {@link RoomMedia} seam, which the Room owns and closes.
 *
 * @example
 * const room = new Room({ id: newRoomId(), name: "Standup" });
 * const { participant } = room.join({ role: "speaker", name: "Ada" });
 */
import { RoomError } from "./errors.ts";
import { newParticipantId } from "./ids.ts";
import { Participant, type ParticipantInfo } from "./participant.ts";
import { type Action, can, MAY_BE_HIDDEN, type Role, ROLES, SOURCE_ACTION } from "./roles.ts";
import type { Source } from "./sources.ts";

/** A room's limits and switches. */
export interface RoomSettings {
  /** Participants publishing video (camera or screen) at once (Telegram: unmuted_video_limit). */
  maxVideoPublishers: number;
  /** Seats, hidden listeners included; admins may always join. */
  maxParticipants: number;
  /** Screen shares at once. */
  maxScreenShares: number;
  /** Media is end-to-end encrypted: no recording, no WHIP (coming with the media). */
  e2ee: boolean;
  /** Microphones start muted; each participant unmutes themselves. */
  joinMuted: boolean;
  /** Every listener is hidden: no join/leave events, only a count. */
  listenersHidden: boolean;
  /** Audio slots (loudest speakers) each subscriber receives, 1–10. */
  audioSlots: number;
  /** Seconds an empty room lives before it ends (unless persistent). */
  emptyTimeoutS: number;
  /** The room does not end when empty, only by `endRoom` or DELETE. */
  persistent: boolean;
}

export const DEFAULT_ROOM_SETTINGS: Readonly<RoomSettings> = {
  maxVideoPublishers: 30,
  maxParticipants: 1000,
  maxScreenShares: 2,
  e2ee: false,
  joinMuted: false,
  listenersHidden: false,
  audioSlots: 3,
  emptyTimeoutS: 300,
  persistent: false,
};

/**
 * The media half of a room, as the Room sees it: the Router (src/sfu) will implement it. The
 * Room only closes it; signalling drives the Router with its own commands.
 */
export interface RoomMedia {
  close(): void;
}

/** Makes a room's media when the room is created. */
export type RoomMediaFactory = (
  room: { id: string; settings: Readonly<RoomSettings> },
) => RoomMedia;

/** Why a room ended. */
export type RoomEndReason = "admin" | "api" | "emptyTimeout" | "shutdown";

/** Why a participant left. */
export type LeaveReason = "left" | "removed" | "replaced" | "departureTimeout";

/** What the Room tells its observers (the registry, later the signalling fan-out). */
export interface RoomListener {
  joined?(participant: Participant): void;
  left?(participant: Participant, reason: LeaveReason): void;
  updated?(participant: Participant): void;
  ended?(reason: RoomEndReason): void;
}

/** A room as `/api/rooms` lists it (plain data). */
export interface RoomInfo {
  id: string;
  name: string;
  /** ISO 8601. */
  createdAt: string;
  settings: RoomSettings;
  /** Participants by role, hidden listeners included. */
  counts: Record<Role, number>;
  /** All seats (the sum of `counts`). */
  participantCount: number;
  hiddenListeners: number;
  /** Participants publishing video. */
  videoPublishers: number;
}

/** What {@link Room.join} needs: the verified token's role and name, or an app's. */
export interface JoinInput {
  role: Role;
  name?: string;
  /** The token asks for a hidden seat (honoured for listeners only). */
  hidden?: boolean;
  /** The app's user id: a second join with it replaces the first seat. */
  userId?: string;
}

export class Room {
  readonly id: string;
  readonly name: string;
  readonly settings: Readonly<RoomSettings>;
  readonly createdAt: number;
  /** Invite version: tokens signed with another `iv` are refused ("reset links"). */
  inviteVersion = 0;
  readonly #participants = new Map<string, Participant>();
  readonly #listeners = new Set<RoomListener>();
  readonly #now: () => number;
  #media: RoomMedia | undefined;
  #ended = false;

  constructor(
    init: { id: string; name?: string; settings?: Partial<RoomSettings> },
    options: { media?: RoomMediaFactory; now?: () => number } = {},
  ) {
    this.id = init.id;
    this.name = init.name ?? "";
    this.settings = Object.freeze({ ...DEFAULT_ROOM_SETTINGS, ...init.settings });
    this.#now = options.now ?? Date.now;
    this.createdAt = this.#now();
    this.#media = options.media?.({ id: this.id, settings: this.settings });
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Seats taken, hidden listeners included. */
  get size(): number {
    return this.#participants.size;
  }

  /** Adds an observer; returns the function that removes it. */
  observe(listener: RoomListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  participant(id: string): Participant | undefined {
    return this.#participants.get(id);
  }

  /** Participants others see (hidden listeners left out), in join order. */
  visibleParticipants(): ParticipantInfo[] {
    const out: ParticipantInfo[] = [];
    for (const p of this.#participants.values()) if (!p.hidden) out.push(p.info());
    return out;
  }

  /** Seats by role, hidden listeners included. */
  counts(): Record<Role, number> {
    const counts = { admin: 0, speaker: 0, listener: 0 };
    for (const p of this.#participants.values()) counts[p.role]++;
    return counts;
  }

  get hiddenListeners(): number {
    let n = 0;
    for (const p of this.#participants.values()) if (p.hidden) n++;
    return n;
  }

  /** Participants publishing camera or screen. */
  get videoPublishers(): number {
    let n = 0;
    for (const p of this.#participants.values()) if (p.publishesVideo) n++;
    return n;
  }

  /** Raised hands, first raised first (galene#278: first come, first served). */
  hands(): string[] {
    return [...this.#participants.values()]
      .filter((p) => p.handRaisedAt !== null)
      .sort((a, b) => a.handRaisedAt! - b.handRaisedAt!)
      .map((p) => p.id);
  }

  info(): RoomInfo {
    return {
      id: this.id,
      name: this.name,
      createdAt: new Date(this.createdAt).toISOString(),
      settings: { ...this.settings },
      counts: this.counts(),
      participantCount: this.size,
      hiddenListeners: this.hiddenListeners,
      videoPublishers: this.videoPublishers,
    };
  }

  /**
   * Seats a participant. Refuses with `room-full` at `maxParticipants` (admins excepted) and
   * `not-found` once the room has ended. A second seat for the same user id replaces the first
   * (returned as `replaced`, already gone).
   */
  join(input: JoinInput): { participant: Participant; replaced?: Participant } {
    this.#checkOpen();
    let replaced: Participant | undefined;
    if (input.userId !== undefined) {
      for (const p of this.#participants.values()) {
        if (p.userId === input.userId) replaced = p;
      }
      if (replaced) this.leave(replaced.id, "replaced");
    }
    if (input.role !== "admin" && this.size >= this.settings.maxParticipants) {
      throw new RoomError(
        "room-full",
        `the room has its ${this.settings.maxParticipants} participants`,
      );
    }
    const hidden = MAY_BE_HIDDEN[input.role] &&
      (this.settings.listenersHidden || input.hidden === true);
    let id = newParticipantId();
    while (this.#participants.has(id)) id = newParticipantId();
    const participant = new Participant({
      id,
      name: input.name ?? "Guest",
      role: input.role,
      hidden,
      userId: input.userId,
    }, this.#now());
    if (this.settings.joinMuted) participant.muted.add("microphone");
    this.#participants.set(id, participant);
    for (const l of this.#listeners) l.joined?.(participant);
    return { participant, replaced };
  }

  /** Frees a seat; false if there was none. */
  leave(id: string, reason: LeaveReason): boolean {
    const participant = this.#participants.get(id);
    if (!participant) return false;
    this.#participants.delete(id);
    for (const l of this.#listeners) l.left?.(participant, reason);
    return true;
  }

  /**
   * Sets what a participant publishes (its publish offer lists every source, so this replaces
   * the set). Refuses with `forbidden` for a source the role may not send, `bad-request` for a
   * source twice, and `video-limit` when a participant not yet sending video would exceed
   * `maxVideoPublishers`, or a new screen share `maxScreenShares`.
   */
  setPublishing(id: string, sources: readonly Source[]): { added: Source[]; removed: Source[] } {
    this.#checkOpen();
    const p = this.#member(id);
    const wanted = new Set(sources);
    if (wanted.size !== sources.length) {
      throw new RoomError("bad-request", "each source may be published once");
    }
    for (const source of wanted) {
      if (!can(p.role, SOURCE_ACTION[source])) {
        throw new RoomError("forbidden", `a ${p.role} may not publish ${source}`);
      }
    }
    const wantsVideo = wanted.has("camera") || wanted.has("screen");
    if (wantsVideo && !p.publishesVideo) {
      if (this.videoPublishers >= this.settings.maxVideoPublishers) {
        throw new RoomError(
          "video-limit",
          `the room has its ${this.settings.maxVideoPublishers} video publishers`,
        );
      }
    }
    if (wanted.has("screen") && !p.publishing.has("screen")) {
      let screens = 0;
      for (const other of this.#participants.values()) {
        if (other.publishing.has("screen")) screens++;
      }
      if (screens >= this.settings.maxScreenShares) {
        throw new RoomError(
          "video-limit",
          `the room has its ${this.settings.maxScreenShares} screen shares`,
        );
      }
    }
    const added = [...wanted].filter((s) => !p.publishing.has(s));
    const removed = [...p.publishing].filter((s) => !wanted.has(s));
    p.publishing.clear();
    for (const s of wanted) p.publishing.add(s);
    if (added.length > 0 || removed.length > 0) this.#updated(p);
    return { added, removed };
  }

  /**
   * A participant mutes or unmutes its own source. Unmuting needs the source's permission and,
   * after an admin's mute, `unmuteLocked` (only admins have it): the muted speaker raises a hand
   * or asks.
   */
  mute(id: string, source: Source, muted: boolean): void {
    this.#checkOpen();
    const p = this.#member(id);
    if (!muted) {
      if (!can(p.role, SOURCE_ACTION[source])) {
        throw new RoomError("forbidden", `a ${p.role} may not unmute ${source}`);
      }
      if (p.locked.has(source) && !can(p.role, "unmuteLocked")) {
        throw new RoomError("forbidden", `an admin muted your ${source}`);
      }
    }
    if (muted === p.muted.has(source)) return;
    if (muted) p.muted.add(source);
    else p.muted.delete(source);
    this.#updated(p);
  }

  /** Raises or lowers the participant's own hand (raising: listeners only). */
  raiseHand(id: string, raised: boolean): void {
    this.#checkOpen();
    const p = this.#member(id);
    if (raised && !can(p.role, "raiseHand")) {
      throw new RoomError("forbidden", `a ${p.role} already speaks; hands are for listeners`);
    }
    if (raised === (p.handRaisedAt !== null)) return;
    p.handRaisedAt = raised ? this.#now() : null;
    this.#updated(p);
  }

  /**
   * An admin raises `targetId` to `role` (default speaker): the hand goes down and a hidden
   * listener becomes visible.
   */
  promote(actorId: string, targetId: string, role: "speaker" | "admin" = "speaker"): void {
    this.#checkOpen();
    this.#allow(actorId, "promote");
    const target = this.#target(targetId);
    if (ROLES.indexOf(role) >= ROLES.indexOf(target.role)) {
      throw new RoomError("conflict", `${target.id} is already ${article(target.role)}`);
    }
    target.role = role;
    target.hidden = false;
    target.handRaisedAt = null;
    this.#updated(target);
  }

  /**
   * An admin lowers `targetId` to `role` (default listener). Returns the sources the target
   * may no longer publish, already taken off `publishing`: the media half unpublishes them.
   */
  demote(actorId: string, targetId: string, role: "speaker" | "listener" = "listener"): Source[] {
    this.#checkOpen();
    this.#allow(actorId, "demote");
    const target = this.#target(targetId);
    if (ROLES.indexOf(role) <= ROLES.indexOf(target.role)) {
      throw new RoomError("conflict", `${target.id} is already ${article(target.role)}`);
    }
    target.role = role;
    const stopped = [...target.publishing].filter((s) => !can(role, SOURCE_ACTION[s]));
    for (const s of stopped) target.publishing.delete(s);
    this.#updated(target);
    return stopped;
  }

  /**
   * An admin mutes another participant's source and locks it (the target cannot unmute), or
   * with `muted: false` lifts the lock: nobody's microphone is ever turned on remotely.
   */
  muteParticipant(actorId: string, targetId: string, source: Source, muted: boolean): void {
    this.#checkOpen();
    this.#allow(actorId, "muteParticipant");
    const target = this.#target(targetId);
    if (muted) {
      target.muted.add(source);
      target.locked.add(source);
    } else {
      target.locked.delete(source);
    }
    this.#updated(target);
  }

  /** An admin removes a participant. */
  remove(actorId: string, targetId: string): void {
    this.#checkOpen();
    this.#allow(actorId, "remove");
    this.#target(targetId);
    this.leave(targetId, "removed");
  }

  /** An admin voids every link and token made so far ("reset links"); returns the new version. */
  resetInvites(actorId: string): number {
    this.#checkOpen();
    this.#allow(actorId, "resetInvites");
    return ++this.inviteVersion;
  }

  /** Checks that `actorId` may do `action` (for handlers that act outside the Room, e.g. invites). */
  require(actorId: string, action: Action): Participant {
    this.#checkOpen();
    return this.#allow(actorId, action);
  }

  /**
   * Ends the room: seats are dropped without `left` events (observers get one `ended`), and the
   * media half is closed. Idempotent.
   */
  end(reason: RoomEndReason): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#participants.clear();
    const media = this.#media;
    this.#media = undefined;
    media?.close();
    for (const l of this.#listeners) l.ended?.(reason);
    this.#listeners.clear();
  }

  [Symbol.dispose](): void {
    this.end("shutdown");
  }

  #checkOpen(): void {
    if (this.#ended) throw new RoomError("not-found", "the room has ended");
  }

  #member(id: string): Participant {
    const p = this.#participants.get(id);
    if (!p) throw new RoomError("not-found", "you are not in this room");
    return p;
  }

  #target(id: string): Participant {
    const p = this.#participants.get(id);
    if (!p) throw new RoomError("not-found", `no participant ${id} in this room`);
    return p;
  }

  #allow(actorId: string, action: Action): Participant {
    const actor = this.#member(actorId);
    if (!can(actor.role, action)) {
      throw new RoomError("forbidden", `a ${actor.role} may not ${action}`);
    }
    return actor;
  }

  #updated(p: Participant): void {
    for (const l of this.#listeners) l.updated?.(p);
  }
}

function article(role: Role): string {
  return role === "admin" ? "an admin" : `a ${role}`;
}
