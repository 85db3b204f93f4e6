// Quetzal browser SDK, protocol v1. Generated from web/sdk/*.ts by `deno task sdk`:
// edit the TypeScript, not this file. Guide: docs/sdk.md.
/**
 * Every failure the SDK reports: `code` is the server's error code ("unauthorized",
 * "forbidden", "room-full", …) or the SDK's own ("connection-failed", "timeout", "closed").
 *
 * @example
 * try { await joinRoom(url, { token }); } catch (e) { if (e.code === "room-full") … }
 */
export declare class QuetzalError extends Error { name: string;
    readonly code: ErrorCode;
    constructor(code: ErrorCode, message: string);
}
/** You, in the room. */
export interface LocalParticipant { id: string;
    name: string;
    role: Role;
    /** Your sources the server counts as muted (by you, or by an admin: see `locked`). */
    muted: Source[];
    /** Sources an admin muted and locked: you cannot unmute them until an admin lifts the lock. */
    locked: Source[];
}
/** A track you receive. The same object until it is unsubscribed. */
export interface RemoteTrack { source: Source;
    kind: "audio" | "video";
    /**
     * The browser track. For a microphone it is an audio slot's track: when the slot starts
     * carrying someone else, this participant's track is unsubscribed and the same
     * MediaStreamTrack is subscribed for the new speaker.
     */
    mediaStreamTrack: MediaStreamTrack;
    /** Whose track it is. */
    participant: string;
    /** The subscribe PC's m-line. */
    mid: string;
}
/** Someone else in the room. The same object while they are in it; fields change in place. */
export interface Participant { id: string;
    name: string;
    role: Role;
    /** A raised hand (listeners). */
    hand: boolean;
    /** What they publish, whether or not you receive it. */
    publishing: Source[];
    muted: Source[];
    /** What you receive from them now. */
    tracks: Map<Source, RemoteTrack>;
}
/** A track you publish. */
export interface LocalTrack { source: Source;
    kind: "audio" | "video";
    mediaStreamTrack: MediaStreamTrack;
    muted: boolean;
    simulcast: boolean;
    /**
     * The server's last `senderConstraint` for it (dynacast): the largest height anyone watches,
     * 0 when nobody does; undefined until one came (every encoding is sent).
     */
    constraint: MaxHeight | undefined;
}
export interface ActiveSpeaker { /** A participant id (yours too, when you speak). */ participant: string;
    /** 0–1, loudest first. */
    level: number;
}
/**
 * Why the room ended for you: `left` (you called leave), `removed` (an admin removed you),
 * `replaced` (you joined elsewhere with the same user), `roomEnded`, `timeout` (no reconnect
 * within the departure timeout), or a join error code after a drop (`unauthorized`, …).
 */
export type DisconnectReason = "left" | "removed" | "replaced" | "roomEnded" | "timeout" | string;
/** Event names and their handlers. */
export interface RoomEvents { participantJoined: (participant: Participant) => void;
    participantLeft: (participant: Participant) => void;
    participantUpdated: (participant: Participant) => void;
    trackSubscribed: (track: RemoteTrack, participant: Participant) => void;
    trackUnsubscribed: (track: RemoteTrack, participant: Participant) => void;
    activeSpeakersChanged: (speakers: ActiveSpeaker[]) => void;
    reconnecting: () => void;
    reconnected: () => void;
    disconnected: (reason: DisconnectReason) => void;
    /** Your role, mutes or locks changed (a promotion, an admin's mute). */
    localParticipantUpdated: (participant: LocalParticipant) => void;
}
export type RoomEvent = keyof RoomEvents;
/** Options of `joinRoom`. */
export interface JoinOptions { /** A room token (a link's `#token=`); default: the URL's `#token=`. */
    token?: string;
    /** Your display name (1–64 characters); default: the token's name or the server's. */
    name?: string;
    /** Passed to both RTCPeerConnections (e.g. `iceServers`). */
    rtcConfig?: RTCConfiguration;
    /** Receive everyone's camera, screen and screen audio as they publish (default true). */
    autoSubscribe?: boolean;
    /** How long to try to reconnect after a drop (default 20 000 ms, the server's seat hold). */
    reconnectTimeoutMs?: number;
}
/** Options of {@linkcode Room.setSubscription}. */
export interface SubscriptionOptions { /** The tile's height in device pixels, as a step: 180, 360, 720 or 1080 (0 pauses). */ maxHeight?: MaxHeight;
    /** Receive nothing for now (kept as maxHeight 0). */
    paused?: boolean;
    /** Pin first in bandwidth order (a stage or spotlight). */
    stage?: boolean;
}
/** Options of {@linkcode Room.publish}. */
export interface PublishOptions { /** The track to send; default: captured from the camera, microphone or screen. */
    track?: MediaStreamTrack;
    /** Three encodings (q/h/f at 1/4, 1/2, 1); default true for the camera, else false. */
    simulcast?: boolean;
    /**
     * Constraints for the captured track when no `track` is given (default: camera 1280×720
     * ideal; microphone with echo cancellation, noise suppression and gain control).
     */
    capture?: MediaTrackConstraints;
}
/** What {@linkcode Room.getStats} returns. */
export interface RoomStats { publish: RTCStatsReport | null;
    subscribe: RTCStatsReport | null;
    /** One entry per received track, from the subscribe PC's inbound-rtp. */
    tracks: TrackStats[];
}
export interface TrackStats { participant: string;
    source: Source;
    kind: "audio" | "video";
    mid: string;
    packetsReceived: number;
    bytesReceived: number;
    packetsLost: number;
    /** Video only. */
    framesDecoded?: number;
    frameWidth?: number;
    frameHeight?: number;
    /** Audio only: grows while sound (not silence) arrives. */
    totalAudioEnergy?: number;
}
/** Where to connect: the signalling WebSocket URL, the room id, and a token from the fragment. */
export interface RoomAddress { signalUrl: string;
    roomId: string;
    fragmentToken: string | undefined;
}
export declare class Room { #private;
    readonly roomId: string;
    /** The room's name and limits, as of the last join. */
    info: ServerMessageOf<"joined">["room"];
    localParticipant: LocalParticipant;
    /** Everyone else present, by id. */
    readonly participants: Map<string, Participant>;
    /** Participants present but hidden (listeners counted, not listed). */
    hiddenListeners: number;
    /** The loudest speakers, loudest first. */
    activeSpeakers: ActiveSpeaker[];
    /** Use `joinRoom`. */
    constructor(address: RoomAddress, options: JoinOptions, token: string, signal: Signal, joined: ServerMessageOf<"joined">);
    /** `connected`, `reconnecting` or `closed`. */
    get state(): "connected" | "reconnecting" | "closed";
    /** Your published tracks, by source. */
    get localTracks(): Map<Source, LocalTrack>;
    /** The underlying peer connections (null until used), for diagnostics. */
    get peerConnections(): {
        publish: RTCPeerConnection | null;
        subscribe: RTCPeerConnection | null;
    };
    /** Calls `handler` on `event`; returns a function that removes it. */
    on<E extends RoomEvent>(event: E, handler: RoomEvents[E]): () => void;
    off<E extends RoomEvent>(event: E, handler: RoomEvents[E]): void;
    /**
     * Publishes `source`: the given track, or one captured (camera and microphone with
     * getUserMedia, screen with getDisplayMedia; a screen capture with sound also publishes
     * `screenAudio`). A track that ends (the browser's "stop sharing") is unpublished.
     */
    publish(source: Source, options?: PublishOptions): Promise<LocalTrack>;
    /** Stops publishing `source` (and stops the track if the SDK captured it). */
    unpublish(source: Source): Promise<void>;
    /**
     * Mutes or unmutes a published source: the track is disabled locally (no camera light
     * change; silence or black) and the server stops forwarding it. Unmuting after an admin's
     * mute rejects with `forbidden` until the lock is lifted.
     */
    setMuted(source: Source, muted: boolean): Promise<void>;
    /**
     * What to receive of one participant's camera, screen or screen audio: `maxHeight` is the
     * tile's height in device pixels rounded up to a step (see {@linkcode maxHeightFor}),
     * `paused` receives nothing. Changes are sent together after 100 ms. Microphones always
     * arrive in audio slots and are not subscribed one by one (mute their element instead).
     */
    setSubscription(participantId: string, source: Source, options: SubscriptionOptions): void;
    /**
     * Plays `track` in `element` and, for video, keeps its subscription fitted to the element:
     * maxHeight from its CSS height × devicePixelRatio, 0 while it is hidden or off screen.
     * Returns a function that detaches it.
     */
    attach(track: RemoteTrack, element: HTMLMediaElement): () => void;
    /** Raises or lowers your hand (listeners raise; anyone lowers). */
    raiseHand(raised: boolean): Promise<void>;
    /** Makes a participant a speaker (default) or an admin. */
    promote(participantId: string, role?: "speaker" | "admin"): Promise<void>;
    /** Makes a participant a listener (default) or a speaker; their sources stop. */
    demote(participantId: string, role?: "speaker" | "listener"): Promise<void>;
    /** Mutes and locks someone's source; `muted: false` lifts the lock (never unmutes). */
    muteParticipant(participantId: string, source: Source, muted?: boolean): Promise<void>;
    /** Removes a participant from the room. */
    remove(participantId: string): Promise<void>;
    /** Ends the room for everyone (you get `disconnected("roomEnded")` too). */
    endRoom(): Promise<void>;
    /** A new token for `role`, valid `expiresInS` seconds (60 s – 30 days). */
    createInvite(role: Role, expiresInS: number): Promise<{
        role: Role;
        token: string;
        expiresAt: number;
    }>;
    /** Voids every earlier token and link of the room (people inside stay). */
    resetInvites(): Promise<void>;
    /** Statistics of both connections, with a summary per received track. */
    getStats(): Promise<RoomStats>;
    /** Leaves the room: tells the server, closes both connections, stops captured tracks. */
    leave(): Promise<void>;
    /** @internal Every event of the signalling socket. */
    handle(message: ServerMessage): void;
    /** @internal The socket dropped without leave: hold on and rejoin with the resume token. */
    dropped(code: number): Promise<void>;
}
/**
 * A tile height in device pixels as the step to ask for: rounded up to 180, 360, 720 or 1080
 * (1080 above that); 0 for a hidden tile.
 *
 * @example maxHeightFor(240 * devicePixelRatio) // 360 at DPR 1.5
 */
export declare function maxHeightFor(devicePixels: number): MaxHeight;
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
export type ErrorCode = "bad-request" | "unsupported-version" | "unauthorized" | "forbidden" | "not-found" | "no-source" | "unsupported" | "room-full" | "video-limit" | "conflict" | "rate-limited" | "e2ee-forbids" | "over-capacity" | "internal" | "connection-failed" | "timeout" | "closed" | (string & Record<never, never>);
export interface WireParticipant { id: string;
    name: string;
    role: Role;
    hidden: boolean;
    hand: boolean;
    publishing: Source[];
    muted: Source[];
    locked: Source[];
}
export interface WireProducer { id: string;
    participant: string;
    source: Source;
    muted: boolean;
}
export interface WireBinding { mid: string;
    kind: "audio" | "video";
    participant: string | null;
    source: Source | null;
}
export interface WireSpeaker { participant: string;
    level: number;
}
export interface WireRoom { id: string;
    name: string;
    maxVideoPublishers: number;
    maxParticipants: number;
    maxScreenShares: number;
    audioSlots: number;
    e2ee: boolean;
    joinMuted: boolean;
}
export interface WireErrorBody { code: string;
    message: string;
}
/** Every message the server sends. */
export type ServerMessage = { v: 1;
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
} | {
    v: 1;
    t: "reply";
    re: number;
    ok: true;
} | {
    v: 1;
    t: "reply";
    re: number;
    ok: false;
    error: WireErrorBody;
} | {
    v: 1;
    t: "invite";
    re: number;
    role: Role;
    token: string;
    expiresAt: number;
} | {
    v: 1;
    t: "answer";
    re: number;
    pc: "pub";
    sdp: string;
} | {
    v: 1;
    t: "pong";
    re?: number;
} | {
    v: 1;
    t: "participants";
    joined: WireParticipant[];
    left: string[];
    updated: WireParticipant[];
    listeners: number;
} | {
    v: 1;
    t: "offer";
    pc: "sub";
    rev: number;
    sdp: string;
    bound: WireBinding[];
} | {
    v: 1;
    t: "candidate";
    pc: "pub" | "sub";
    candidate: string;
    sdpMid?: string | null;
    sdpMLineIndex?: number | null;
} | {
    v: 1;
    t: "producers";
    added: WireProducer[];
    removed: string[];
} | {
    v: 1;
    t: "bound";
    bound: WireBinding[];
} | {
    v: 1;
    t: "activeSpeakers";
    speakers: WireSpeaker[];
    slots: Record<string, string | null>;
} | {
    v: 1;
    t: "senderConstraint";
    source: Source;
    maxHeight: MaxHeight;
} | {
    v: 1;
    t: "roleChanged";
    participant: string;
    role: Role;
    by: string | null;
} | {
    v: 1;
    t: "muted";
    source: Source;
    by: string;
} | {
    v: 1;
    t: "removed";
    reason: "removed" | "replaced";
    by: string | null;
} | {
    v: 1;
    t: "roomEnded";
    reason: "admin" | "api" | "emptyTimeout" | "shutdown";
} | {
    v: 1;
    t: "error";
    code: string;
    message: string;
    about?: string;
};
export type ServerMessageOf<T extends ServerMessage["t"]> = Extract<ServerMessage, { t: T;
}>;
export interface SubscriptionItem { participant: string;
    source: "camera" | "screen" | "screenAudio";
    maxHeight: MaxHeight;
    stage?: boolean;
}
/** Every message the client sends, without the envelope (`v`, `id`). */
export type ClientMessage = { t: "join";
    token: string;
    name?: string;
    resume?: string;
} | {
    t: "offer";
    pc: "pub";
    sdp: string;
    sources: Record<string, Source>;
} | {
    t: "answer";
    pc: "sub";
    rev: number;
    sdp: string;
} | {
    t: "candidate";
    pc: "pub" | "sub";
    candidate: string;
    sdpMid?: string | null;
    sdpMLineIndex?: number | null;
    usernameFragment?: string | null;
} | {
    t: "setSubscription";
    items: SubscriptionItem[];
} | {
    t: "mute";
    source: Source;
    muted: boolean;
} | {
    t: "raiseHand";
    raised: boolean;
} | {
    t: "ping";
} | {
    t: "restartIce";
    pc: "sub";
} | {
    t: "leave";
} | {
    t: "promote";
    participant: string;
    role?: "speaker" | "admin";
} | {
    t: "demote";
    participant: string;
    role?: "speaker" | "listener";
} | {
    t: "muteParticipant";
    participant: string;
    source: Source;
    muted?: boolean;
} | {
    t: "remove";
    participant: string;
} | {
    t: "endRoom";
} | {
    t: "createInvite";
    role: Role;
    expiresInS: number;
} | {
    t: "resetInvites";
};
/** What a request of type `T` is answered with when it succeeds. */
export type AnswerOf<T extends ClientMessage["t"]> = T extends "join" ? ServerMessageOf<"joined"> : T extends "offer" ? ServerMessageOf<"answer"> : T extends "createInvite" ? ServerMessageOf<"invite"> : T extends "ping" ? ServerMessageOf<"pong"> : Extract<ServerMessageOf<"reply">, { ok: true;
}>;
/**
 * The publish PC: the client offers, the server answers. Each published source is one sending
 * transceiver; the offer's `sources` maps its mid to the source. Negotiations run one at a
 * time. `senderConstraint` (dynacast) turns simulcast encodings on and off.
 */
/** Simulcast layers, lowest first: rids q/h/f at 1/4, 1/2 and full resolution. */
export declare const SIMULCAST_LAYERS: readonly [{ readonly rid: "q";
    readonly scaleResolutionDownBy: 4;
}, {
    readonly rid: "h";
    readonly scaleResolutionDownBy: 2;
}, {
    readonly rid: "f";
    readonly scaleResolutionDownBy: 1;
}];
/** How long an offer or answer waits for ICE gathering before going without the rest. */
export declare const GATHER_TIMEOUT_MS = 2000;
export interface Published { source: Source;
    track: MediaStreamTrack;
    transceiver: RTCRtpTransceiver;
    simulcast: boolean;
    /** The SDK captured the track (so it stops it when unpublishing). */
    owned: boolean;
    muted: boolean;
    /** The last `senderConstraint` for this source; undefined: none yet (all layers on). */
    maxHeight: MaxHeight | undefined;
}
/** Sends the offer and returns the server's answer SDP. */
export type OfferSender = (sdp: string, sources: Record<string, Source>) => Promise<string>;
export declare class Publisher { #private;
    readonly pc: RTCPeerConnection;
    readonly published: Map<Source, Published>;
    constructor(config: RTCConfiguration, sendOffer: OfferSender);
    /** Adds `track` as `source` and negotiates; on refusal, the source is taken back out. */
    add(source: Source, track: MediaStreamTrack, simulcast: boolean, owned: boolean): Promise<Published>;
    /** Stops sending `source` and negotiates without it. */
    remove(source: Source): Promise<void>;
    /** A re-offer with new ICE credentials (after a network change or a failed connection). */
    restartIce(): Promise<void>;
    /**
     * Dynacast: keep the encodings up to the first whose height is at or above `maxHeight`,
     * the others `active: false`; 0 turns all off. Without simulcast, one encoding: on unless 0.
     */
    constrain(source: Source, maxHeight: MaxHeight): Promise<void>;
    close(): void;
}
/**
 * Which encodings to keep for a constraint: sorted by height, those up to the first at or above
 * `maxHeight` (all when none is); none for 0; all when no constraint came yet.
 *
 * @example activeLayers(720, [4, 2, 1], 360) // [true, true, false]
 */
export declare function activeLayers(trackHeight: number, scales: number[], maxHeight: MaxHeight | undefined): boolean[];
/** Resolves when ICE gathering completes or after {@linkcode GATHER_TIMEOUT_MS}. */
export declare function gathered(pc: RTCPeerConnection): Promise<void>;
/** The signalling connection under a Room (exported for its type). */
/** How often to ping (docs/signalling.md: every 10 s). */
export declare const PING_INTERVAL_MS = 10000;
/** The server's code as it came: a newer server may use codes this SDK does not list. */
export declare function errorCode(code: string): ErrorCode;
export interface SignalHandlers { /** A server message that answers no request of ours. */ onEvent(message: ServerMessage): void;
    /** The socket ended (not by {@linkcode Signal.close}); `code` is the WebSocket close code. */
    onClose(code: number): void;
}
export declare class Signal { #private;
    private constructor();
    /** Opens the socket at `url` (ws: or wss:); rejects with `connection-failed`. */
    static open(url: string, handlers: SignalHandlers): Promise<Signal>;
    get open(): boolean;
    /** Sends a request and resolves with its answer; a refusal rejects with the server's code. */
    request<T extends ClientMessage["t"]>(message: Extract<ClientMessage, {
        t: T;
    }>, timeoutMs?: number): Promise<AnswerOf<T>>;
    /** Sends a message that needs no answer (a refusal comes back as an `error` event). */
    send(message: ClientMessage): void;
    /**
     * Closes the socket (1000) and fails what still waits with `closed`; no `onClose`. Resolves
     * once the socket is closed (or after a second: a dead peer never answers the close).
     */
    close(): Promise<void>;
}
/** The protocol version this SDK speaks. */
export declare const PROTOCOL_VERSION = 1;
/**
 * Joins the room at `url` (`http(s)://host/rooms/<id>`, or a `/call/<id>` link; a relative URL
 * is resolved against the page). Resolves once joined: `room.participants` holds everyone
 * present, and their tracks arrive as `trackSubscribed` events after this resolves. Rejects
 * with a {@linkcode QuetzalError} whose `code` is the server's ("unauthorized", "forbidden",
 * "room-full", "not-found", …) or `connection-failed`.
 */
export declare function joinRoom(url: string, options?: JoinOptions): Promise<Room>;
/** Where the room at `url` signals: `…/rooms/<id>/signal` on ws: or wss:. */
export declare function roomAddress(url: string): RoomAddress;
