/**
 * Quetzal's browser SDK for rooms: join a room, publish your camera, microphone and screen,
 * receive everyone else's. One ES module, no dependencies, served by the server at
 * `/sdk/quetzal.js` (types at `/sdk/quetzal.d.ts`). The guide is docs/sdk.md; the protocol
 * underneath is docs/signalling.md.
 *
 * @example
 * import { joinRoom } from "/sdk/quetzal.js";
 * const room = await joinRoom("https://sfu.example/rooms/q3Vb7xT0mZ1rL9kA", { token, name: "Ada" });
 * room.on("trackSubscribed", (track, participant) => room.attach(track, videoFor(participant)));
 * await room.publish("camera");
 * await room.publish("microphone");
 */
import { QuetzalError } from "./errors.ts";
import { type JoinOptions, Room, type RoomAddress } from "./room.ts";
import { Signal } from "./signal.ts";
import type { ServerMessage } from "./wire.ts";

export { QuetzalError } from "./errors.ts";
export { maxHeightFor, Room } from "./room.ts";
export type {
  ActiveSpeaker,
  DisconnectReason,
  JoinOptions,
  LocalParticipant,
  LocalTrack,
  Participant,
  PublishOptions,
  RemoteTrack,
  RoomEvent,
  RoomEvents,
  RoomStats,
  SubscriptionOptions,
  TrackStats,
} from "./room.ts";
export type { ErrorCode, MaxHeight, Role, Source } from "./wire.ts";
export { activeLayers, SIMULCAST_LAYERS } from "./publisher.ts";
/** The signalling connection under a Room (exported for its type). */
export type { Signal } from "./signal.ts";

/** The protocol version this SDK speaks. */
export const PROTOCOL_VERSION = 1;

/**
 * Joins the room at `url` (`http(s)://host/rooms/<id>`, or a `/call/<id>` link; a relative URL
 * is resolved against the page). Resolves once joined: `room.participants` holds everyone
 * present, and their tracks arrive as `trackSubscribed` events after this resolves. Rejects
 * with a {@linkcode QuetzalError} whose `code` is the server's ("unauthorized", "forbidden",
 * "room-full", "not-found", …) or `connection-failed`.
 */
export async function joinRoom(url: string, options: JoinOptions = {}): Promise<Room> {
  const address = roomAddress(url);
  const token = options.token ?? address.fragmentToken;
  if (!token) throw new QuetzalError("unauthorized", "joinRoom needs a token");
  // Events that come before the Room exists (none should: the server sends them after joined)
  // are kept and replayed in order.
  let room: Room | null = null;
  const early: ServerMessage[] = [];
  let closedEarly: number | null = null;
  const signal = await Signal.open(address.signalUrl, {
    onEvent: (message) => room ? room.handle(message) : early.push(message),
    onClose: (code) => room ? room.dropped(code) : (closedEarly = code),
  });
  let joined;
  try {
    joined = await signal.request({
      t: "join",
      token,
      ...(options.name ? { name: options.name } : {}),
    });
  } catch (error) {
    await signal.close();
    throw error;
  }
  room = new Room(address, options, token, signal, joined);
  for (const message of early) room.handle(message);
  if (closedEarly !== null) room.dropped(closedEarly);
  return room;
}

/** Where the room at `url` signals: `…/rooms/<id>/signal` on ws: or wss:. */
export function roomAddress(url: string): RoomAddress {
  const base = globalThis.location?.href;
  let parsed: URL;
  try {
    parsed = base ? new URL(url, base) : new URL(url);
  } catch {
    throw new QuetzalError("bad-request", `not a room URL: ${url}`);
  }
  const match = /\/(?:rooms|call)\/([A-Za-z0-9_-]{1,64})(?:\/signal)?\/?$/.exec(parsed.pathname);
  if (!match) {
    throw new QuetzalError("bad-request", `not a room URL (…/rooms/<id>): ${parsed.pathname}`);
  }
  const prefix = parsed.pathname.slice(0, match.index);
  const scheme = parsed.protocol === "https:" || parsed.protocol === "wss:" ? "wss:" : "ws:";
  const fragment = new URLSearchParams(parsed.hash.slice(1));
  return {
    signalUrl: `${scheme}//${parsed.host}${prefix}/rooms/${match[1]}/signal`,
    roomId: match[1],
    fragmentToken: fragment.get("token") ?? undefined,
  };
}
