/**
 * The signalling side of one room: the connection of each participant, and the room's events
 * turned into messages. Visible joins, leaves and updates are batched into one `participants`
 * message every 250 ms; hidden listeners only move a count, sent at most once a second
 * (per-join broadcasts are O(N²): livekit#4531). Messages meant for one participant (`removed`,
 * `roomEnded`) go to its connection, which is then closed.
 *
 * @example
 * const hub = new RoomHub(room);
 * hub.attach(participant.id, connection);
 */
import {
  type Participant,
  realTimers,
  type Room,
  type RoomEndReason,
  type Timers,
} from "../room/mod.ts";
import { CloseCode } from "./codes.ts";
import type { EventBody, ParticipantInfoMessage } from "./messages.ts";

/** What the hub needs of a connection. */
export interface HubConnection {
  push(event: EventBody): void;
  close(code: number, reason: string): void;
}

/** The timer functions the hub uses; tests pass fakes. */
export type HubTimers = Timers;

/** Visible changes are sent this often at most. */
export const PARTICIPANTS_BATCH_MS = 250;
/** A change of the hidden-listener count alone waits this long. */
export const LISTENER_COUNT_MS = 1000;

export class RoomHub {
  readonly room: Room;
  readonly #connections = new Map<string, HubConnection>();
  /** Participants others have been told about (joined and not left). */
  readonly #visible = new Set<string>();
  readonly #joined = new Map<string, Participant>();
  readonly #updated = new Map<string, Participant>();
  readonly #left = new Set<string>();
  #flushTimer: number | undefined;
  #flushAt = 0;
  readonly #timers: HubTimers;
  readonly #now: () => number;
  readonly #unobserve: () => void;
  #closed = false;

  constructor(room: Room, options: { timers?: HubTimers; now?: () => number } = {}) {
    this.room = room;
    this.#timers = options.timers ?? realTimers();
    this.#now = options.now ?? (() => performance.now());
    for (const p of room.visibleParticipants()) this.#visible.add(p.id);
    this.#unobserve = room.observe({
      joined: (p) => this.#onJoined(p),
      left: (p, reason) => this.#onLeft(p, reason),
      updated: (p) => this.#onUpdated(p),
      ended: (reason) => this.#onEnded(reason),
    });
  }

  /** The connection of participant `id` from now on; a joined participant is visible at once. */
  attach(id: string, connection: HubConnection): void {
    this.#connections.set(id, connection);
  }

  /** Forgets the connection of `id` (it closed). */
  detach(id: string, connection: HubConnection): void {
    if (this.#connections.get(id) === connection) this.#connections.delete(id);
  }

  /** Sends `event` to participant `id`, if connected. */
  sendTo(id: string, event: EventBody): void {
    this.#connections.get(id)?.push(event);
  }

  /** Detaches and returns the connection of `id` (to tell it something after it has left). */
  take(id: string): HubConnection | undefined {
    const connection = this.#connections.get(id);
    this.#connections.delete(id);
    return connection;
  }

  /** Sends `event` to participant `id` and closes its connection. */
  dismiss(id: string, event: EventBody, code: number, reason: string): void {
    const connection = this.#connections.get(id);
    if (!connection) return;
    this.#connections.delete(id);
    connection.push(event);
    connection.close(code, reason);
  }

  /** Connected participants. */
  get connections(): number {
    return this.#connections.size;
  }

  /** Stops observing and clears the batch timer; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unobserve();
    if (this.#flushTimer !== undefined) this.#timers.clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
  }

  #onJoined(p: Participant): void {
    if (p.hidden) {
      this.#schedule(LISTENER_COUNT_MS);
      return;
    }
    this.#visible.add(p.id);
    this.#left.delete(p.id);
    this.#joined.set(p.id, p);
    this.#schedule(PARTICIPANTS_BATCH_MS);
  }

  #onLeft(p: Participant, reason: string): void {
    if (reason === "replaced") {
      this.dismiss(
        p.id,
        { t: "removed", reason: "replaced", by: null },
        CloseCode.replaced,
        "joined elsewhere",
      );
    } else {
      this.#connections.delete(p.id);
    }
    if (!this.#visible.delete(p.id)) {
      this.#schedule(LISTENER_COUNT_MS);
      return;
    }
    this.#updated.delete(p.id);
    // Joined and left within one batch: nobody needs to hear of it.
    if (!this.#joined.delete(p.id)) this.#left.add(p.id);
    this.#schedule(PARTICIPANTS_BATCH_MS);
  }

  #onUpdated(p: Participant): void {
    if (p.hidden) return;
    if (!this.#visible.has(p.id)) {
      // A hidden listener promoted: others see it join.
      this.#onJoined(p);
      return;
    }
    if (!this.#joined.has(p.id)) this.#updated.set(p.id, p);
    this.#schedule(PARTICIPANTS_BATCH_MS);
  }

  #onEnded(reason: RoomEndReason): void {
    const connections = [...this.#connections.values()];
    this.#connections.clear();
    for (const connection of connections) {
      connection.push({ t: "roomEnded", reason });
      connection.close(CloseCode.roomEnded, "room ended");
    }
    this.close();
  }

  /** Flushes within `delayMs`, or sooner if a flush is already due sooner. */
  #schedule(delayMs: number): void {
    if (this.#closed) return;
    const at = this.#now() + delayMs;
    if (this.#flushTimer !== undefined) {
      if (this.#flushAt <= at) return;
      this.#timers.clearTimeout(this.#flushTimer);
    }
    this.#flushAt = at;
    this.#flushTimer = this.#timers.setTimeout(() => {
      this.#flushTimer = undefined;
      this.#flush();
    }, delayMs);
  }

  #flush(): void {
    if (this.#closed) return;
    const info = (m: Map<string, Participant>): ParticipantInfoMessage[] =>
      [...m.values()].map((p) => p.info());
    const event: EventBody = {
      t: "participants",
      joined: info(this.#joined),
      left: [...this.#left],
      updated: info(this.#updated),
      listeners: this.room.hiddenListeners,
    };
    this.#joined.clear();
    this.#updated.clear();
    this.#left.clear();
    for (const connection of this.#connections.values()) connection.push(event);
  }
}
