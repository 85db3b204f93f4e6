/**
 * The messages of signalling protocol v1 as the browser sees them (docs/signalling.md). Plain
 * types, no runtime: the server's zod schemas are the authority, and a test checks that every
 * server message type is assignable to these, so the two cannot drift apart silently.
 */

/** A kind of published media. Microphones arrive in audio slots, the rest in bound m-lines. */
export type Source = "camera" | "microphone" | "screen" | "screenAudio";
/** What a participant may do (docs/rooms.md, roles). */
export type Role = "admin" | "speaker" | "listener";
/** Tile heights a subscriber may ask for; 0 pauses the track. */
export type MaxHeight = 0 | 180 | 360 | 720 | 1080;

/**
 * Error codes of the server (docs/signalling.md, error codes), plus the SDK's own:
 * `connection-failed` (no WebSocket to the server), `timeout` (no answer in time), `closed`
 * (the room was left or the connection ended while waiting). Codes a newer server adds come
 * through unchanged.
 */
export type ErrorCode =
  | "bad-request"
  | "unsupported-version"
  | "unauthorized"
  | "forbidden"
  | "not-found"
  | "no-source"
  | "unsupported"
  | "room-full"
  | "video-limit"
  | "conflict"
  | "rate-limited"
  | "e2ee-forbids"
  | "over-capacity"
  | "internal"
  | "connection-failed"
  | "timeout"
  | "closed"
  // A code of a newer server, passed on unchanged.
  | (string & Record<never, never>);

export interface WireParticipant {
  id: string;
  name: string;
  role: Role;
  hidden: boolean;
  hand: boolean;
  publishing: Source[];
  muted: Source[];
  locked: Source[];
}

export interface WireProducer {
  id: string;
  participant: string;
  source: Source;
  muted: boolean;
}

export interface WireBinding {
  mid: string;
  kind: "audio" | "video";
  participant: string | null;
  source: Source | null;
}

export interface WireSpeaker {
  participant: string;
  level: number;
}

export interface WireRoom {
  id: string;
  name: string;
  maxVideoPublishers: number;
  maxParticipants: number;
  maxScreenShares: number;
  audioSlots: number;
  e2ee: boolean;
  joinMuted: boolean;
}

export interface WireErrorBody {
  code: string;
  message: string;
}

/** Every message the server sends. */
export type ServerMessage =
  | {
    v: 1;
    t: "joined";
    re: number;
    self: WireParticipant;
    room: WireRoom;
    participants: WireParticipant[];
    listeners: number;
    producers: WireProducer[];
    speakers: WireSpeaker[];
    hands: string[];
    resumeToken: string;
    resumed: boolean;
  }
  | { v: 1; t: "reply"; re: number; ok: true }
  | { v: 1; t: "reply"; re: number; ok: false; error: WireErrorBody }
  | { v: 1; t: "invite"; re: number; role: Role; token: string; expiresAt: number }
  | { v: 1; t: "answer"; re: number; pc: "pub"; sdp: string }
  | { v: 1; t: "pong"; re?: number }
  | {
    v: 1;
    t: "participants";
    joined: WireParticipant[];
    left: string[];
    updated: WireParticipant[];
    listeners: number;
  }
  | { v: 1; t: "offer"; pc: "sub"; rev: number; sdp: string; bound: WireBinding[] }
  | {
    v: 1;
    t: "candidate";
    pc: "pub" | "sub";
    candidate: string;
    sdpMid?: string | null;
    sdpMLineIndex?: number | null;
  }
  | { v: 1; t: "producers"; added: WireProducer[]; removed: string[] }
  | { v: 1; t: "bound"; bound: WireBinding[] }
  | { v: 1; t: "activeSpeakers"; speakers: WireSpeaker[]; slots: Record<string, string | null> }
  | { v: 1; t: "senderConstraint"; source: Source; maxHeight: MaxHeight }
  | { v: 1; t: "roleChanged"; participant: string; role: Role; by: string | null }
  | { v: 1; t: "muted"; source: Source; by: string }
  | { v: 1; t: "removed"; reason: "removed" | "replaced"; by: string | null }
  | { v: 1; t: "roomEnded"; reason: "admin" | "api" | "emptyTimeout" | "shutdown" }
  | { v: 1; t: "error"; code: string; message: string; about?: string };

export type ServerMessageOf<T extends ServerMessage["t"]> = Extract<ServerMessage, { t: T }>;

export interface SubscriptionItem {
  participant: string;
  source: "camera" | "screen" | "screenAudio";
  maxHeight: MaxHeight;
  stage?: boolean;
}

/** Every message the client sends, without the envelope (`v`, `id`). */
export type ClientMessage =
  | { t: "join"; token: string; name?: string; resume?: string }
  | { t: "offer"; pc: "pub"; sdp: string; sources: Record<string, Source> }
  | { t: "answer"; pc: "sub"; rev: number; sdp: string }
  | {
    t: "candidate";
    pc: "pub" | "sub";
    candidate: string;
    sdpMid?: string | null;
    sdpMLineIndex?: number | null;
    usernameFragment?: string | null;
  }
  | { t: "setSubscription"; items: SubscriptionItem[] }
  | { t: "mute"; source: Source; muted: boolean }
  | { t: "raiseHand"; raised: boolean }
  | { t: "ping" }
  | { t: "restartIce"; pc: "sub" }
  | { t: "leave" }
  | { t: "promote"; participant: string; role?: "speaker" | "admin" }
  | { t: "demote"; participant: string; role?: "speaker" | "listener" }
  | { t: "muteParticipant"; participant: string; source: Source; muted?: boolean }
  | { t: "remove"; participant: string }
  | { t: "endRoom" }
  | { t: "createInvite"; role: Role; expiresInS: number }
  | { t: "resetInvites" };

/** What a request of type `T` is answered with when it succeeds. */
export type AnswerOf<T extends ClientMessage["t"]> = T extends "join" ? ServerMessageOf<"joined">
  : T extends "offer" ? ServerMessageOf<"answer">
  : T extends "createInvite" ? ServerMessageOf<"invite">
  : T extends "ping" ? ServerMessageOf<"pong">
  : Extract<ServerMessageOf<"reply">, { ok: true }>;
