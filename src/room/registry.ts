/**
 * The rooms of one server: create, find, list, end, and the empty-room timeout. The registry
 * owns every room and every timer it starts; `close()` ends the rooms and clears the timers.
 *
 * @example
 * using rooms = new RoomRegistry({ maxRooms: 100 });
 * const room = rooms.create({ name: "Standup" });
 */
import { RoomError } from "./errors.ts";
import { newRoomId } from "./ids.ts";
import { Room, type RoomEndReason, type RoomMediaFactory, type RoomSettings } from "./room.ts";
import type { Role } from "./roles.ts";

/** The timer functions the registry uses; tests pass a fake clock. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): number;
  clearTimeout(id: number): void;
}

/** The runtime's timers behind numeric ids (the handle type differs between Deno and Node types). */
export function realTimers(): Timers {
  const handles = new Map<number, ReturnType<typeof setTimeout>>();
  let next = 1;
  return {
    setTimeout(fn, ms) {
      const id = next++;
      handles.set(
        id,
        setTimeout(() => {
          handles.delete(id);
          fn();
        }, ms),
      );
      return id;
    },
    clearTimeout(id) {
      clearTimeout(handles.get(id));
      handles.delete(id);
    },
  };
}

export interface RoomRegistryOptions {
  /** Rooms at once; beyond, `create` refuses with `over-capacity`. */
  maxRooms: number;
  /** Makes each room's media half (the Router); none until the media is wired. */
  media?: RoomMediaFactory;
  timers?: Timers;
  /** Milliseconds since the epoch (room creation times). */
  now?: () => number;
}

export class RoomRegistry {
  readonly #rooms = new Map<string, Room>();
  /** Empty-timeout timer of each room that is empty and not persistent. */
  readonly #emptyTimers = new Map<string, number>();
  readonly #options: RoomRegistryOptions;
  readonly #timers: Timers;
  #closed = false;

  constructor(options: RoomRegistryOptions) {
    this.#options = options;
    this.#timers = options.timers ?? realTimers();
  }

  get size(): number {
    return this.#rooms.size;
  }

  /** A new room with a fresh id; its empty timeout starts now (nobody has joined yet). */
  create(init: { name?: string; settings?: Partial<RoomSettings> } = {}): Room {
    if (this.#closed) throw new RoomError("over-capacity", "the server is shutting down");
    if (this.#rooms.size >= this.#options.maxRooms) {
      throw new RoomError(
        "over-capacity",
        `the server has its limit of ${this.#options.maxRooms} rooms`,
      );
    }
    let id = newRoomId();
    while (this.#rooms.has(id)) id = newRoomId();
    const room = new Room({ id, ...init }, { media: this.#options.media, now: this.#options.now });
    this.#rooms.set(id, room);
    room.observe({
      joined: () => this.#stopEmptyTimer(id),
      left: () => {
        if (room.size === 0) this.#startEmptyTimer(room);
      },
      ended: () => {
        this.#stopEmptyTimer(id);
        this.#rooms.delete(id);
      },
    });
    this.#startEmptyTimer(room);
    return room;
  }

  get(id: string): Room | undefined {
    return this.#rooms.get(id);
  }

  /** Rooms in creation order. */
  list(): Room[] {
    return [...this.#rooms.values()];
  }

  /** Ends room `id`; false if there is none. */
  delete(id: string, reason: RoomEndReason = "api"): boolean {
    const room = this.#rooms.get(id);
    if (!room) return false;
    room.end(reason);
    return true;
  }

  /** Participants in all rooms by role (for `quetzal_participants`). */
  participants(role: Role): number {
    let n = 0;
    for (const room of this.#rooms.values()) n += room.counts()[role];
    return n;
  }

  /** Ends every room and clears every timer; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const room of [...this.#rooms.values()]) room.end("shutdown");
    for (const timer of this.#emptyTimers.values()) this.#timers.clearTimeout(timer);
    this.#emptyTimers.clear();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #startEmptyTimer(room: Room): void {
    if (room.settings.persistent || this.#emptyTimers.has(room.id)) return;
    const timer = this.#timers.setTimeout(() => {
      this.#emptyTimers.delete(room.id);
      if (room.size === 0) room.end("emptyTimeout");
    }, room.settings.emptyTimeoutS * 1000);
    this.#emptyTimers.set(room.id, timer);
  }

  #stopEmptyTimer(id: string): void {
    const timer = this.#emptyTimers.get(id);
    if (timer === undefined) return;
    this.#timers.clearTimeout(timer);
    this.#emptyTimers.delete(id);
  }
}
