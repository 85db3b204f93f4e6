/**
 * The room side of signalling: one {@link RoomSession} per connection handles its checked
 * messages against the Room (policy) and the room's {@link RoomHub} (who hears what), and
 * {@link RoomSignalling} ties the rooms, their hubs and the connections of a server together.
 *
 * Media messages (`offer`, `answer`, `candidate`, `setSubscription`, `restartIce`) go to a
 * {@link RoomSessionMedia}, the seam the Router's adapter will fill; without one they are
 * refused, after the policy checks that do not need media.
 *
 * @example
 * const signalling = new RoomSignalling({ rooms, tokens, maxSdpBytes: 65536 });
 * const conn = signalling.connect(roomId, { send: (f) => ws.send(f), close: (c, r) => ws.close(c, r) });
 */
import {
  type Participant,
  randomId,
  realTimers,
  type Room,
  type RoomRegistry,
  type RoomTokens,
  type Source,
} from "../room/mod.ts";
import { CloseCode, SignalError } from "./codes.ts";
import { type HubTimers, RoomHub } from "./room-hub.ts";
import {
  type ClientMessage,
  type ClientMessageOf,
  clientParser,
  type ParseResult,
  type ProducerInfo as ProducerInfoMessage,
  type ReplyBody,
} from "./messages.ts";
import { type RateLimit, SignalConnection, type SignalHandler } from "./connection.ts";

/** The media messages a session hands to the media half. */
export type MediaMessage = ClientMessageOf<
  "offer" | "answer" | "candidate" | "setSubscription" | "restartIce"
>;

/**
 * The media half of a room as signalling sees it (the Router adapter, coming). Policy has been
 * checked when it is called: an `offer`'s sources are allowed and within the limits.
 */
export interface RoomSessionMedia {
  /** A media message of `participant`; an `offer` answers with `{t: "answer", …}`. */
  handle(participant: Participant, message: MediaMessage): Promise<ReplyBody | void>;
  /** A source of `participant` is muted (its packets dropped) or unmuted, by itself or an admin. */
  mute(participant: Participant, source: Source, muted: boolean): void;
  /** `participant` may no longer publish these (demoted). */
  unpublish(participant: Participant, sources: Source[]): void;
  /** `participant` left: close its peers. */
  leave(participant: Participant): void;
  /**
   * `participant` joined, or took its held seat back (`resumed`), and has its `joined` answer:
   * its subscribe connection is offered (again, when an offer was in flight).
   */
  join?(participant: Participant, resumed: boolean): void;
  /** What `joined` reports of the media: the published tracks and the current speakers. */
  snapshot?(): {
    producers: ProducerInfoMessage[];
    speakers: { participant: string; level: number }[];
  };
}

/** A participant's seat as signalling keeps it: across sockets while it is resumable. */
export interface Seat {
  room: Room;
  participant: Participant;
  hub: RoomHub;
  media: RoomSessionMedia | undefined;
  /** The session whose connection has the seat now; undefined while held. */
  session: RoomSession | undefined;
  /** The current resume token (128 random bits). */
  resumeToken: string;
  /** The departure timer while held. */
  holdTimer: number | undefined;
}

/** How a transport (a WebSocket) plugs into a connection. */
export interface SignalTransport {
  send(frame: string): void;
  close(code: number, reason: string): void;
}

export interface RoomSignallingOptions {
  rooms: RoomRegistry;
  tokens: RoomTokens;
  /** The server's SDP limit (`--max-sdp-bytes`). */
  maxSdpBytes: number;
  /** Makes the media half of a room (given its hub, to push media events); none: refused. */
  media?: (room: Room, hub: RoomHub) => RoomSessionMedia;
  rateLimit?: RateLimit;
  /**
   * Seconds a seat is held after its socket drops without `leave`, for `join` with `resume`
   * (rooms.md §6, LiveKit's DepartureTimeout). Default 20.
   */
  departureTimeoutS?: number;
  /** Injected in tests. */
  timers?: HubTimers;
  /** A handler failed (an `internal` error). */
  onError?(error: unknown, about: string): void;
}

/** The signalling of all rooms of a server. */
export class RoomSignalling {
  readonly #options: RoomSignallingOptions;
  readonly #parse: (value: unknown) => ParseResult;
  readonly #hubs = new Map<string, { hub: RoomHub; media: RoomSessionMedia | undefined }>();
  /** Every seat by its current resume token. */
  readonly #seats = new Map<string, Seat>();
  /** Every seat by its participant. */
  readonly #seatOf = new Map<Participant, Seat>();
  readonly #timers: HubTimers;

  constructor(options: RoomSignallingOptions) {
    this.#options = options;
    this.#parse = clientParser({ maxSdpBytes: options.maxSdpBytes });
    this.#timers = options.timers ?? realTimers();
  }

  /** A new connection to room `roomId` (checked when the client joins). */
  connect(roomId: string, transport: SignalTransport): SignalConnection {
    const session = new RoomSession(this, roomId);
    const connection = new SignalConnection({
      send: transport.send,
      close: transport.close,
      handler: session,
      parse: this.#parse,
      rateLimit: this.#options.rateLimit,
      onError: this.#options.onError,
    });
    session.connection = connection;
    return connection;
  }

  /** Hubs that exist (rooms someone connected to). */
  get hubs(): number {
    return this.#hubs.size;
  }

  /** Seats held for a participant whose socket dropped. */
  get held(): number {
    let n = 0;
    for (const seat of this.#seats.values()) if (seat.holdTimer !== undefined) n++;
    return n;
  }

  /** Stops every hub's and seat's timers; rooms are ended by their registry. Idempotent. */
  close(): void {
    for (const { hub } of this.#hubs.values()) hub.close();
    this.#hubs.clear();
    for (const seat of this.#seats.values()) this.#stopHold(seat);
    this.#seats.clear();
    this.#seatOf.clear();
  }

  /** @internal A new seat, with a fresh resume token (after `hubOf` for its room). */
  seat(init: Omit<Seat, "resumeToken" | "holdTimer">): Seat {
    const seat: Seat = { ...init, resumeToken: "", holdTimer: undefined };
    this.rotate(seat);
    this.#seatOf.set(seat.participant, seat);
    return seat;
  }

  /** @internal Gives `seat` a new resume token (single use: the old one stops working). */
  rotate(seat: Seat): void {
    this.#seats.delete(seat.resumeToken);
    seat.resumeToken = randomId(16);
    this.#seats.set(seat.resumeToken, seat);
  }

  /**
   * @internal The seat `resumeToken` names in room `roomId`, taken over by `session`: its
   * hold ends, and a connection still holding it is closed. Undefined if there is none.
   */
  resume(resumeToken: string, roomId: string, session: RoomSession): Seat | undefined {
    const seat = this.#seats.get(resumeToken);
    if (!seat || seat.room.id !== roomId) return undefined;
    this.#stopHold(seat);
    const previous = seat.session;
    seat.session = session;
    previous?.displace();
    return seat;
  }

  /** @internal Keeps `seat` for the departure timeout; then the participant leaves. */
  hold(seat: Seat): void {
    seat.session = undefined;
    if (seat.holdTimer !== undefined) return;
    const ms = (this.#options.departureTimeoutS ?? 20) * 1000;
    seat.holdTimer = this.#timers.setTimeout(() => {
      seat.holdTimer = undefined;
      seat.room.leave(seat.participant.id, "departureTimeout");
    }, ms);
  }

  /** Forgets `seat` (its participant left the room, or the room ended). */
  #drop(seat: Seat): void {
    this.#stopHold(seat);
    if (this.#seats.get(seat.resumeToken) === seat) this.#seats.delete(seat.resumeToken);
    this.#seatOf.delete(seat.participant);
  }

  #stopHold(seat: Seat): void {
    if (seat.holdTimer === undefined) return;
    this.#timers.clearTimeout(seat.holdTimer);
    seat.holdTimer = undefined;
  }

  /** @internal */
  get options(): RoomSignallingOptions {
    return this.#options;
  }

  /** @internal The hub of `room`, made on first use and dropped when the room ends. */
  hubOf(room: Room): { hub: RoomHub; media: RoomSessionMedia | undefined } {
    let entry = this.#hubs.get(room.id);
    if (!entry) {
      const hub = new RoomHub(room, { timers: this.#options.timers });
      const made = { hub, media: this.#options.media?.(room, hub) };
      entry = made;
      this.#hubs.set(room.id, made);
      room.observe({
        // However a participant leaves (left, removed, replaced, departure timeout), its seat
        // goes and its peers close.
        left: (participant) => {
          const seat = this.#seatOf.get(participant);
          if (!seat) return;
          this.#drop(seat);
          seat.media?.leave(participant);
        },
        // The room's media closes as a whole (RoomMedia).
        ended: () => {
          this.#hubs.delete(room.id);
          for (const seat of [...this.#seats.values()]) if (seat.room === room) this.#drop(seat);
        },
      });
    }
    return entry;
  }
}

/** One connection's participant: what its messages do to the room. */
export class RoomSession implements SignalHandler {
  /** Set by {@link RoomSignalling.connect} right after construction. */
  connection: SignalConnection | undefined;
  readonly #signalling: RoomSignalling;
  readonly #roomId: string;
  #seat: Seat | undefined;

  constructor(signalling: RoomSignalling, roomId: string) {
    this.#signalling = signalling;
    this.#roomId = roomId;
  }

  async handle(message: ClientMessage): Promise<ReplyBody | void> {
    if (message.t === "join") return await this.#join(message);
    const seat = this.#seat;
    if (!seat) throw new SignalError("not-found", "you are no longer in this room");
    const { room, participant: self, hub } = seat;
    switch (message.t) {
      case "mute":
        room.mute(self.id, message.source, message.muted);
        seat.media?.mute(self, message.source, self.muted.has(message.source));
        return;
      case "raiseHand":
        room.raiseHand(self.id, message.raised);
        return;
      case "promote":
        room.promote(self.id, message.participant, message.role);
        hub.sendTo(message.participant, {
          t: "roleChanged",
          participant: message.participant,
          role: message.role,
          by: self.id,
        });
        return;
      case "demote": {
        const stopped = room.demote(self.id, message.participant, message.role);
        const target = room.participant(message.participant);
        if (target && stopped.length > 0) seat.media?.unpublish(target, stopped);
        hub.sendTo(message.participant, {
          t: "roleChanged",
          participant: message.participant,
          role: message.role,
          by: self.id,
        });
        return;
      }
      case "muteParticipant":
        room.muteParticipant(self.id, message.participant, message.source, message.muted);
        if (message.muted) {
          const target = room.participant(message.participant);
          if (target) seat.media?.mute(target, message.source, true);
          hub.sendTo(message.participant, { t: "muted", source: message.source, by: self.id });
        }
        return;
      case "remove": {
        room.require(self.id, "remove");
        if (!room.participant(message.participant)) {
          throw new SignalError("not-found", `no participant ${message.participant} in this room`);
        }
        // Detached first: the removal must not look like the target leaving on its own.
        const gone = hub.take(message.participant);
        room.remove(self.id, message.participant);
        gone?.push({ t: "removed", reason: "removed", by: self.id });
        gone?.close(CloseCode.removed, "removed");
        return;
      }
      case "endRoom":
        // Everyone, the sender included, gets `roomEnded` and a close (no `reply`).
        room.require(self.id, "endRoom");
        room.end("admin");
        return;
      case "createInvite": {
        room.require(self.id, "createInvite");
        const tokens = this.#signalling.options.tokens;
        const token = await tokens.sign({
          room: room.id,
          role: message.role,
          iv: room.inviteVersion,
          ttlS: message.expiresInS,
        });
        return {
          t: "invite",
          role: message.role,
          token,
          expiresAt: tokens.nowS() + message.expiresInS,
        };
      }
      case "resetInvites":
        room.resetInvites(self.id);
        return;
      case "leave":
        this.#vacate();
        return;
      case "ping":
        return;
      case "offer": {
        if (!seat.media) throw mediaComing();
        const before = [...self.publishing];
        room.setPublishing(self.id, Object.values(message.sources));
        try {
          return await seat.media.handle(self, message);
        } catch (error) {
          // The offer failed: the participant publishes what it did before. (Restoring cannot
          // exceed a limit: it only gives back what the participant had.)
          try {
            room.setPublishing(self.id, before);
          } catch {
            // The participant left while the offer was handled.
          }
          throw error;
        }
      }
      case "answer":
      case "candidate":
      case "setSubscription":
      case "restartIce":
        if (!seat.media) throw mediaComing();
        return await seat.media.handle(self, message);
    }
  }

  /**
   * The connection closed. Without `leave` the seat is held for the departure timeout (the
   * participant stays in the room, for `join` with `resume`).
   */
  closed(): void {
    const seat = this.#seat;
    if (!seat) return;
    this.#seat = undefined;
    if (this.connection) seat.hub.detach(seat.participant.id, this.connection);
    if (seat.session !== this) return; // resumed elsewhere
    // Gone already (removed, replaced, room ended): the room observer dropped the seat.
    if (seat.room.participant(seat.participant.id) === seat.participant && !seat.room.ended) {
      this.#signalling.hold(seat);
    }
  }

  /** @internal Another connection resumed this seat: let go of it and close. */
  displace(): void {
    const seat = this.#seat;
    this.#seat = undefined;
    if (seat && this.connection) seat.hub.detach(seat.participant.id, this.connection);
    this.connection?.push({ t: "removed", reason: "replaced", by: null });
    this.connection?.close(CloseCode.replaced, "resumed elsewhere");
  }

  async #join(message: ClientMessageOf<"join">): Promise<ReplyBody> {
    const { rooms, tokens } = this.#signalling.options;
    const room = rooms.get(this.#roomId);
    if (!room) throw new SignalError("not-found", "no such room (it ended, or never existed)");
    // Resuming needs a valid room token too: a reset link or an expired token ends the seat.
    const claims = await tokens.verify(message.token, { room: room.id, iv: room.inviteVersion });
    const connection = this.connection;
    // The socket may have closed, or the room ended, while the token was checked.
    if (!connection || connection.closed) {
      throw new SignalError("conflict", "the connection closed");
    }
    const resumed = message.resume === undefined
      ? undefined
      : this.#signalling.resume(message.resume, room.id, this);
    let seat: Seat;
    if (resumed) {
      seat = resumed;
      this.#signalling.rotate(seat);
    } else {
      const { participant } = room.join({
        role: claims.role,
        // A name the app signed wins over one the client chose.
        name: claims.name ?? message.name,
        hidden: claims.hidden,
        userId: claims.sub,
      });
      const { hub, media } = this.#signalling.hubOf(room);
      seat = this.#signalling.seat({ room, participant, hub, media, session: this });
    }
    seat.hub.attach(seat.participant.id, connection);
    this.#seat = seat;
    const participant = seat.participant;
    const settings = room.settings;
    const media = seat.media?.snapshot?.() ?? { producers: [], speakers: [] };
    // After the answer is written: the subscribe connection's offer follows `joined`.
    if (seat.media?.join) {
      const join = seat.media.join.bind(seat.media);
      const again = resumed !== undefined;
      setTimeout(() => {
        if (this.#seat === seat) join(participant, again);
      }, 0);
    }
    return {
      t: "joined",
      self: participant.info(),
      room: {
        id: room.id,
        name: room.name,
        maxVideoPublishers: settings.maxVideoPublishers,
        maxParticipants: settings.maxParticipants,
        maxScreenShares: settings.maxScreenShares,
        audioSlots: settings.audioSlots,
        e2ee: settings.e2ee,
        joinMuted: settings.joinMuted,
      },
      participants: room.visibleParticipants(),
      listeners: room.hiddenListeners,
      producers: media.producers,
      speakers: media.speakers,
      hands: participant.role === "admin" ? room.hands() : [],
      resumeToken: seat.resumeToken,
      resumed: resumed !== undefined,
    };
  }

  /** Frees the seat now (`leave`): no hold. */
  #vacate(): void {
    const seat = this.#seat;
    if (!seat) return;
    this.#seat = undefined;
    if (this.connection) seat.hub.detach(seat.participant.id, this.connection);
    seat.room.leave(seat.participant.id, "left");
  }
}

function mediaComing(): SignalError {
  return new SignalError("bad-request", "this server does not carry media in rooms");
}
