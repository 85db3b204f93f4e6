/**
 * A joined room: the participants, their tracks, your own published tracks, events, and the
 * reconnect that keeps all of it across a dropped WebSocket.
 */
import { QuetzalError } from "./errors.ts";
import { Publisher } from "./publisher.ts";
import { Signal } from "./signal.ts";
import { type Carried, Subscriber } from "./subscriber.ts";
import type {
  MaxHeight,
  Role,
  ServerMessage,
  ServerMessageOf,
  Source,
  SubscriptionItem,
  WireParticipant,
  WireProducer,
} from "./wire.ts";

/** You, in the room. */
export interface LocalParticipant {
  id: string;
  name: string;
  role: Role;
  /** Your sources the server counts as muted (by you, or by an admin: see `locked`). */
  muted: Source[];
  /** Sources an admin muted and locked: you cannot unmute them until an admin lifts the lock. */
  locked: Source[];
}

/** A track you receive. The same object until it is unsubscribed. */
export interface RemoteTrack {
  source: Source;
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
export interface Participant {
  id: string;
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
export interface LocalTrack {
  source: Source;
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

export interface ActiveSpeaker {
  /** A participant id (yours too, when you speak). */
  participant: string;
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
export interface RoomEvents {
  participantJoined: (participant: Participant) => void;
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
export interface JoinOptions {
  /** A room token (a link's `#token=`); default: the URL's `#token=`. */
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
export interface SubscriptionOptions {
  /** The tile's height in device pixels, as a step: 180, 360, 720 or 1080 (0 pauses). */
  maxHeight?: MaxHeight;
  /** Receive nothing for now (kept as maxHeight 0). */
  paused?: boolean;
  /** Pin first in bandwidth order (a stage or spotlight). */
  stage?: boolean;
}

/** Options of {@linkcode Room.publish}. */
export interface PublishOptions {
  /** The track to send; default: captured from the camera, microphone or screen. */
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
export interface RoomStats {
  publish: RTCStatsReport | null;
  subscribe: RTCStatsReport | null;
  /** One entry per received track, from the subscribe PC's inbound-rtp. */
  tracks: TrackStats[];
}

export interface TrackStats {
  participant: string;
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
export interface RoomAddress {
  signalUrl: string;
  roomId: string;
  fragmentToken: string | undefined;
}

const DEFAULT_RECONNECT_TIMEOUT_MS = 20_000;
/** Subscription changes are sent together, at most every 100 ms (rooms.md §8, debounced). */
const SUBSCRIPTION_DEBOUNCE_MS = 100;
const DEFAULT_MAX_HEIGHT: Record<SubscriptionItem["source"], MaxHeight> = {
  camera: 360,
  screen: 1080,
  screenAudio: 180, // any height above 0 means "on" for screen audio
};
const TERMINAL_JOIN_CODES = new Set(["unauthorized", "forbidden", "not-found", "room-full"]);

type Handler = (...args: never[]) => void;

export class Room {
  readonly roomId: string;
  /** The room's name and limits, as of the last join. */
  info: ServerMessageOf<"joined">["room"];
  localParticipant: LocalParticipant;
  /** Everyone else present, by id. */
  readonly participants = new Map<string, Participant>();
  /** Participants present but hidden (listeners counted, not listed). */
  hiddenListeners: number;
  /** The loudest speakers, loudest first. */
  activeSpeakers: ActiveSpeaker[];

  #address: RoomAddress;
  #options: JoinOptions;
  #token: string;
  #signal: Signal;
  #resumeToken: string;
  #publisher: Publisher | null = null;
  #subscriber: Subscriber | null = null;
  #producers = new Map<string, WireProducer>();
  #reported = new Map<string, RemoteTrack>(); // by mid
  #wanted = new Map<string, SubscriptionOptions>(); // by "participant/source"
  #lastSubscription = "[]";
  #subscriptionTimer: ReturnType<typeof setTimeout> | undefined;
  #handlers = new Map<RoomEvent, Set<Handler>>();
  #state: "connected" | "reconnecting" | "closed" = "connected";
  #toldNoMedia = false;

  /** Use `joinRoom`. */
  constructor(
    address: RoomAddress,
    options: JoinOptions,
    token: string,
    signal: Signal,
    joined: ServerMessageOf<"joined">,
  ) {
    this.roomId = address.roomId;
    this.#address = address;
    this.#options = options;
    this.#token = token;
    this.#signal = signal;
    this.info = joined.room;
    this.#resumeToken = joined.resumeToken;
    this.localParticipant = localOf(joined.self);
    this.hiddenListeners = joined.listeners;
    this.activeSpeakers = joined.speakers;
    this.#applySnapshot(joined, false);
  }

  /** `connected`, `reconnecting` or `closed`. */
  get state(): "connected" | "reconnecting" | "closed" {
    return this.#state;
  }

  /** Your published tracks, by source. */
  get localTracks(): Map<Source, LocalTrack> {
    const out = new Map<Source, LocalTrack>();
    for (const p of this.#publisher?.published.values() ?? []) {
      out.set(p.source, {
        source: p.source,
        kind: p.track.kind === "audio" ? "audio" : "video",
        mediaStreamTrack: p.track,
        muted: p.muted,
        simulcast: p.simulcast,
        constraint: p.maxHeight,
      });
    }
    return out;
  }

  /** The underlying peer connections (null until used), for diagnostics. */
  get peerConnections(): {
    publish: RTCPeerConnection | null;
    subscribe: RTCPeerConnection | null;
  } {
    return { publish: this.#publisher?.pc ?? null, subscribe: this.#subscriber?.pc ?? null };
  }

  /** Calls `handler` on `event`; returns a function that removes it. */
  on<E extends RoomEvent>(event: E, handler: RoomEvents[E]): () => void {
    let set = this.#handlers.get(event);
    if (!set) this.#handlers.set(event, set = new Set());
    set.add(handler);
    return () => this.off(event, handler);
  }

  off<E extends RoomEvent>(event: E, handler: RoomEvents[E]): void {
    this.#handlers.get(event)?.delete(handler);
  }

  /**
   * Publishes `source`: the given track, or one captured (camera and microphone with
   * getUserMedia, screen with getDisplayMedia; a screen capture with sound also publishes
   * `screenAudio`). A track that ends (the browser's "stop sharing") is unpublished.
   */
  async publish(source: Source, options: PublishOptions = {}): Promise<LocalTrack> {
    this.#assertOpen("publish");
    let track = options.track;
    let owned = false;
    let extraAudio: MediaStreamTrack | undefined;
    if (!track) {
      owned = true;
      const captured = await capture(source, options.capture);
      track = captured.main;
      extraAudio = captured.audio;
    }
    const simulcast = options.simulcast ?? source === "camera";
    try {
      const local = await this.#publishTrack(source, track, simulcast, owned);
      if (extraAudio) {
        await this.#publishTrack("screenAudio", extraAudio, false, true).catch((error) => {
          extraAudio?.stop();
          console.warn(`quetzal: screen audio not published: ${error.message}`);
        });
      }
      return local;
    } catch (error) {
      if (owned) track.stop();
      extraAudio?.stop();
      throw error;
    }
  }

  /** Stops publishing `source` (and stops the track if the SDK captured it). */
  async unpublish(source: Source): Promise<void> {
    this.#assertOpen("unpublish");
    await this.#publisher?.remove(source);
    if (source === "screen" && this.#publisher?.published.has("screenAudio")) {
      const audio = this.#publisher.published.get("screenAudio");
      if (audio?.owned) await this.#publisher.remove("screenAudio");
    }
  }

  /**
   * Mutes or unmutes a published source: the track is disabled locally (no camera light
   * change; silence or black) and the server stops forwarding it. Unmuting after an admin's
   * mute rejects with `forbidden` until the lock is lifted.
   */
  async setMuted(source: Source, muted: boolean): Promise<void> {
    this.#assertOpen("setMuted");
    const entry = this.#publisher?.published.get(source);
    if (!entry) throw new QuetzalError("bad-request", `${source} is not published`);
    if (muted) {
      entry.track.enabled = false;
      entry.muted = true;
    }
    await this.#signal.request({ t: "mute", source, muted });
    if (!muted) {
      entry.track.enabled = true;
      entry.muted = false;
    }
    this.#setLocalMuted(source, muted);
  }

  /**
   * What to receive of one participant's camera, screen or screen audio: `maxHeight` is the
   * tile's height in device pixels rounded up to a step (see {@linkcode maxHeightFor}),
   * `paused` receives nothing. Changes are sent together after 100 ms. Microphones always
   * arrive in audio slots and are not subscribed one by one (mute their element instead).
   */
  setSubscription(participantId: string, source: Source, options: SubscriptionOptions): void {
    if (source === "microphone") return;
    const key = `${participantId}/${source}`;
    this.#wanted.set(key, { ...this.#wanted.get(key), ...options });
    this.#scheduleSubscription();
  }

  /**
   * Plays `track` in `element` and, for video, keeps its subscription fitted to the element:
   * maxHeight from its CSS height × devicePixelRatio, 0 while it is hidden or off screen.
   * Returns a function that detaches it.
   */
  attach(track: RemoteTrack, element: HTMLMediaElement): () => void {
    element.srcObject = new MediaStream([track.mediaStreamTrack]);
    element.autoplay = true;
    if (element instanceof HTMLVideoElement) element.playsInline = true;
    element.play().catch(() => {/* autoplay policy: the app shows a play button */});
    if (track.kind !== "video") return () => (element.srcObject = null);
    let visible = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const update = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        const height = visible ? element.clientHeight * (globalThis.devicePixelRatio || 1) : 0;
        this.setSubscription(track.participant, track.source, {
          maxHeight: maxHeightFor(height),
        });
      }, SUBSCRIPTION_DEBOUNCE_MS);
    };
    const resize = new ResizeObserver(update);
    resize.observe(element);
    const intersection = new IntersectionObserver((entries) => {
      visible = entries.some((e) => e.isIntersecting);
      update();
    });
    intersection.observe(element);
    update();
    return () => {
      clearTimeout(timer);
      resize.disconnect();
      intersection.disconnect();
      element.srcObject = null;
    };
  }

  /** Raises or lowers your hand (listeners raise; anyone lowers). */
  async raiseHand(raised: boolean): Promise<void> {
    this.#assertOpen("raiseHand");
    await this.#signal.request({ t: "raiseHand", raised });
  }

  // Admins (docs/rooms.md, roles): refused with `forbidden` for others.

  /** Makes a participant a speaker (default) or an admin. */
  async promote(participantId: string, role: "speaker" | "admin" = "speaker"): Promise<void> {
    await this.#signal.request({ t: "promote", participant: participantId, role });
  }

  /** Makes a participant a listener (default) or a speaker; their sources stop. */
  async demote(participantId: string, role: "speaker" | "listener" = "listener"): Promise<void> {
    await this.#signal.request({ t: "demote", participant: participantId, role });
  }

  /** Mutes and locks someone's source; `muted: false` lifts the lock (never unmutes). */
  async muteParticipant(participantId: string, source: Source, muted = true): Promise<void> {
    await this.#signal.request({ t: "muteParticipant", participant: participantId, source, muted });
  }

  /** Removes a participant from the room. */
  async remove(participantId: string): Promise<void> {
    await this.#signal.request({ t: "remove", participant: participantId });
  }

  /** Ends the room for everyone (you get `disconnected("roomEnded")` too). */
  async endRoom(): Promise<void> {
    this.#signal.send({ t: "endRoom" });
    await new Promise<void>((resolve) => {
      if (this.#state === "closed") return resolve();
      const off = this.on("disconnected", () => (off(), resolve()));
    });
  }

  /** A new token for `role`, valid `expiresInS` seconds (60 s – 30 days). */
  async createInvite(
    role: Role,
    expiresInS: number,
  ): Promise<{ role: Role; token: string; expiresAt: number }> {
    const { token, expiresAt } = await this.#signal.request({
      t: "createInvite",
      role,
      expiresInS,
    });
    return { role, token, expiresAt };
  }

  /** Voids every earlier token and link of the room (people inside stay). */
  async resetInvites(): Promise<void> {
    await this.#signal.request({ t: "resetInvites" });
  }

  /** Statistics of both connections, with a summary per received track. */
  async getStats(): Promise<RoomStats> {
    const publish = this.#publisher ? await this.#publisher.pc.getStats() : null;
    const subscribe = this.#subscriber?.pc ? await this.#subscriber.pc.getStats() : null;
    const tracks: TrackStats[] = [];
    subscribe?.forEach((s) => {
      if (s.type !== "inbound-rtp") return;
      const track = this.#reported.get(s.mid);
      if (!track) return;
      const entry: TrackStats = {
        participant: track.participant,
        source: track.source,
        kind: track.kind,
        mid: track.mid,
        packetsReceived: s.packetsReceived ?? 0,
        bytesReceived: s.bytesReceived ?? 0,
        packetsLost: s.packetsLost ?? 0,
      };
      if (track.kind === "video") {
        entry.framesDecoded = s.framesDecoded ?? 0;
        entry.frameWidth = s.frameWidth ?? 0;
        entry.frameHeight = s.frameHeight ?? 0;
      } else {
        entry.totalAudioEnergy = s.totalAudioEnergy ?? 0;
      }
      tracks.push(entry);
    });
    return { publish, subscribe, tracks };
  }

  /** Leaves the room: tells the server, closes both connections, stops captured tracks. */
  async leave(): Promise<void> {
    if (this.#state === "closed") return;
    const signal = this.#signal;
    const wasConnected = this.#state === "connected";
    this.#state = "closed";
    if (wasConnected) await signal.request({ t: "leave" }, 3_000).catch(() => {});
    await this.#teardown("left");
  }

  // ── Publishing ──────────────────────────────────────────────────────────────────────────

  async #publishTrack(
    source: Source,
    track: MediaStreamTrack,
    simulcast: boolean,
    owned: boolean,
  ): Promise<LocalTrack> {
    const publisher = this.#publisher ??= this.#newPublisher();
    if (publisher.published.has(source)) await publisher.remove(source);
    const entry = await publisher.add(source, track, simulcast, owned);
    if (this.localParticipant.muted.includes(source)) {
      // joinMuted, or an admin's mute from before: start muted like the server does.
      entry.muted = true;
      track.enabled = false;
    }
    track.addEventListener("ended", () => {
      if (this.#publisher?.published.get(source)?.track === track && this.#state !== "closed") {
        this.unpublish(source).catch(() => {});
      }
    }, { once: true });
    return {
      source,
      kind: track.kind === "audio" ? "audio" : "video",
      mediaStreamTrack: track,
      muted: entry.muted,
      simulcast,
      constraint: entry.maxHeight,
    };
  }

  #newPublisher(): Publisher {
    const publisher = new Publisher(this.#options.rtcConfig ?? {}, async (sdp, sources) => {
      const answer = await this.#signal.request({ t: "offer", pc: "pub", sdp, sources });
      return answer.sdp;
    });
    publisher.pc.addEventListener("connectionstatechange", () => {
      if (publisher.pc.connectionState === "failed" && this.#state === "connected") {
        publisher.restartIce().catch(() => {});
      }
    });
    return publisher;
  }

  // ── Subscribing ─────────────────────────────────────────────────────────────────────────

  #newSubscriber(): Subscriber {
    return new Subscriber(
      this.#options.rtcConfig ?? {},
      async (rev, sdp) => {
        await this.#signal.request({ t: "answer", pc: "sub", rev, sdp }).catch((error) => {
          // A stale rev: a newer offer is on its way and will be answered.
          if (!(error instanceof QuetzalError && error.code === "conflict")) throw error;
        });
      },
      () => {
        if (this.#state !== "connected") return;
        this.#signal.request({ t: "restartIce", pc: "sub" }).catch(() => {});
      },
    );
  }

  /** Reports what changed on the subscribe PC as trackUnsubscribed / trackSubscribed. */
  #reconcile(): void {
    const carried = new Map<string, Carried>();
    for (const c of this.#subscriber?.carried() ?? []) {
      if (this.participants.has(c.participant)) carried.set(c.mid, c);
    }
    for (const [mid, track] of this.#reported) {
      const now = carried.get(mid);
      if (
        now && now.participant === track.participant && now.source === track.source &&
        now.track === track.mediaStreamTrack
      ) continue;
      this.#unsubscribe(mid, track);
    }
    for (const [mid, c] of carried) {
      if (this.#reported.has(mid)) continue;
      const participant = this.participants.get(c.participant);
      if (!participant) continue;
      const track: RemoteTrack = {
        source: c.source,
        kind: c.kind,
        mediaStreamTrack: c.track,
        participant: c.participant,
        mid,
      };
      this.#reported.set(mid, track);
      participant.tracks.set(c.source, track);
      this.#emit("trackSubscribed", track, participant);
    }
  }

  #unsubscribe(mid: string, track: RemoteTrack): void {
    this.#reported.delete(mid);
    const participant = this.participants.get(track.participant);
    if (!participant) return;
    if (participant.tracks.get(track.source) === track) participant.tracks.delete(track.source);
    this.#emit("trackUnsubscribed", track, participant);
  }

  #scheduleSubscription(): void {
    if (this.#subscriptionTimer !== undefined || this.#state === "closed") return;
    this.#subscriptionTimer = setTimeout(() => {
      this.#subscriptionTimer = undefined;
      this.#sendSubscription();
    }, SUBSCRIPTION_DEBOUNCE_MS);
  }

  #sendSubscription(): void {
    if (this.#state !== "connected") return;
    const items: SubscriptionItem[] = [];
    const autoSubscribe = this.#options.autoSubscribe ?? true;
    const listed = new Set<string>();
    for (const producer of this.#producers.values()) {
      const source = producer.source;
      if (source === "microphone" || producer.participant === this.localParticipant.id) continue;
      // The protocol takes each (participant, source) once, whatever producers came and went.
      const key = `${producer.participant}/${source}`;
      if (listed.has(key)) continue;
      listed.add(key);
      const wanted = this.#wanted.get(key);
      if (!wanted && !autoSubscribe) continue;
      const maxHeight = wanted?.paused ? 0 : wanted?.maxHeight ?? DEFAULT_MAX_HEIGHT[source];
      const item: SubscriptionItem = { participant: producer.participant, source, maxHeight };
      if (wanted?.stage) item.stage = true;
      items.push(item);
    }
    const text = JSON.stringify(items);
    if (text === this.#lastSubscription) return;
    this.#lastSubscription = text;
    this.#signal.request({ t: "setSubscription", items }).catch((error) => {
      this.#lastSubscription = ""; // send again with the next change
      if (this.#state === "connected") console.warn(`quetzal: setSubscription: ${error.message}`);
    });
  }

  // ── Server messages ─────────────────────────────────────────────────────────────────────

  /** @internal Every event of the signalling socket. */
  handle(message: ServerMessage): void {
    switch (message.t) {
      case "participants":
        this.hiddenListeners = message.listeners;
        for (const p of message.joined) this.#upsert(p);
        for (const p of message.updated) this.#upsert(p);
        for (const id of message.left) this.#remove(id);
        break;
      case "producers":
        for (const id of message.removed) this.#producers.delete(id);
        for (const p of message.added) this.#producers.set(p.id, p);
        this.#scheduleSubscription();
        break;
      case "offer": {
        if (typeof RTCPeerConnection === "undefined") {
          // Signalling only (a bot or a tool in a runtime without WebRTC): no media, once said.
          if (!this.#toldNoMedia) console.warn("quetzal: no RTCPeerConnection here: no media");
          this.#toldNoMedia = true;
          break;
        }
        const subscriber = this.#subscriber ??= this.#newSubscriber();
        subscriber.offer(message.rev, message.sdp, message.bound)
          .catch((error) => console.warn(`quetzal: subscribe offer ${message.rev}: ${error}`))
          .finally(() => this.#reconcile());
        break;
      }
      case "bound": {
        const subscriber = this.#subscriber ??= this.#newSubscriber();
        subscriber.bind(message.bound);
        subscriber.settled().then(() => this.#reconcile());
        break;
      }
      case "activeSpeakers": {
        this.activeSpeakers = message.speakers;
        const subscriber = this.#subscriber ??= this.#newSubscriber();
        subscriber.setSlots(message.slots);
        subscriber.settled().then(() => this.#reconcile());
        this.#emit("activeSpeakersChanged", message.speakers);
        break;
      }
      case "senderConstraint":
        this.#publisher?.constrain(message.source, message.maxHeight).catch(() => {});
        break;
      case "roleChanged":
        if (message.participant !== this.localParticipant.id) break;
        this.localParticipant.role = message.role;
        if (message.role === "listener") this.#stopPublishing();
        this.#emit("localParticipantUpdated", this.localParticipant);
        break;
      case "muted": {
        const entry = this.#publisher?.published.get(message.source);
        if (entry) {
          entry.muted = true;
          entry.track.enabled = false;
        }
        this.#setLocalMuted(message.source, true, true);
        break;
      }
      case "removed":
        this.#state = "closed";
        this.#teardown(message.reason);
        break;
      case "roomEnded":
        this.#state = "closed";
        this.#teardown("roomEnded");
        break;
      case "candidate":
        // The server is ICE-lite: its candidates are in its SDP; nothing to add.
        break;
      case "error":
        console.warn(`quetzal: ${message.about ?? "server"}: ${message.code}: ${message.message}`);
        break;
    }
  }

  #upsert(info: WireParticipant): void {
    if (info.id === this.localParticipant.id) {
      const self = localOf(info);
      const local = this.localParticipant;
      if (JSON.stringify(self) !== JSON.stringify(local)) {
        Object.assign(local, self);
        this.#emit("localParticipantUpdated", local);
      }
      return;
    }
    if (info.hidden) return;
    const existing = this.participants.get(info.id);
    if (!existing) {
      const participant: Participant = { ...fieldsOf(info), tracks: new Map() };
      this.participants.set(info.id, participant);
      this.#emit("participantJoined", participant);
      this.#reconcile();
      return;
    }
    const fields = fieldsOf(info);
    const before = JSON.stringify(fieldsOf(existing));
    Object.assign(existing, fields);
    if (JSON.stringify(fieldsOf(existing)) !== before) this.#emit("participantUpdated", existing);
  }

  #remove(id: string): void {
    const participant = this.participants.get(id);
    if (!participant) return;
    for (const [mid, track] of this.#reported) {
      if (track.participant === id) this.#unsubscribe(mid, track);
    }
    this.participants.delete(id);
    this.#wanted.forEach((_, key) => key.startsWith(`${id}/`) && this.#wanted.delete(key));
    this.#emit("participantLeft", participant);
  }

  #applySnapshot(joined: ServerMessageOf<"joined">, emit: boolean): void {
    const present = new Set<string>();
    for (const p of joined.participants) {
      if (p.id === this.localParticipant.id || p.hidden) continue;
      present.add(p.id);
      if (emit) this.#upsert(p);
      else this.participants.set(p.id, { ...fieldsOf(p), tracks: new Map() });
    }
    for (const id of [...this.participants.keys()]) if (!present.has(id)) this.#remove(id);
    this.#producers.clear();
    for (const p of joined.producers) this.#producers.set(p.id, p);
    this.#lastSubscription = "[]";
    this.#scheduleSubscription();
  }

  #setLocalMuted(source: Source, muted: boolean, locked = false): void {
    const local = this.localParticipant;
    const has = local.muted.includes(source);
    if (muted && !has) local.muted = [...local.muted, source];
    if (!muted && has) local.muted = local.muted.filter((s) => s !== source);
    if (locked && !local.locked.includes(source)) local.locked = [...local.locked, source];
    this.#emit("localParticipantUpdated", local);
  }

  #stopPublishing(): void {
    const publisher = this.#publisher;
    if (!publisher) return;
    for (const source of [...publisher.published.keys()]) publisher.remove(source).catch(() => {});
  }

  // ── Connection ──────────────────────────────────────────────────────────────────────────

  /** @internal The socket dropped without leave: hold on and rejoin with the resume token. */
  async dropped(code: number): Promise<void> {
    if (this.#state !== "connected") return;
    if (code === 4001 || code === 4002 || code === 4003) {
      // removed / roomEnded / replaced arrive as messages first; a bare close means the same.
      this.#state = "closed";
      this.#teardown(code === 4002 ? "roomEnded" : code === 4003 ? "replaced" : "removed");
      return;
    }
    this.#state = "reconnecting";
    this.#emit("reconnecting");
    const deadline = Date.now() +
      (this.#options.reconnectTimeoutMs ?? DEFAULT_RECONNECT_TIMEOUT_MS);
    for (let attempt = 0; Date.now() < deadline; attempt++) {
      if (this.#state !== "reconnecting") return; // left meanwhile
      try {
        await this.#rejoin(Math.max(1_000, Math.min(5_000, deadline - Date.now())));
        return;
      } catch (error) {
        if (this.#state !== "reconnecting") return;
        if (error instanceof QuetzalError && TERMINAL_JOIN_CODES.has(error.code)) {
          this.#state = "closed";
          this.#teardown(error.code);
          return;
        }
      }
      const wait = Math.min(500 * 2 ** attempt, 4_000, Math.max(0, deadline - Date.now()));
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
    if (this.#state !== "reconnecting") return;
    this.#state = "closed";
    this.#teardown("timeout");
  }

  async #rejoin(timeoutMs: number): Promise<void> {
    const signal = await Signal.open(this.#address.signalUrl, {
      onEvent: (message) => this.handle(message),
      onClose: (code) => this.dropped(code),
    });
    let joined: ServerMessageOf<"joined">;
    try {
      joined = await signal.request({
        t: "join",
        token: this.#token,
        ...(this.#options.name ? { name: this.#options.name } : {}),
        resume: this.#resumeToken,
      }, timeoutMs);
    } catch (error) {
      await signal.close();
      throw error;
    }
    if (this.#state !== "reconnecting") {
      await signal.close();
      return;
    }
    this.#signal = signal;
    this.#resumeToken = joined.resumeToken;
    this.info = joined.room;
    this.#state = "connected";
    if (joined.resumed) {
      Object.assign(this.localParticipant, localOf(joined.self));
      this.#applySnapshot(joined, true);
      // The network may have changed under us: new ICE on both connections.
      this.#publisher?.restartIce().catch(() => {});
      if (this.#subscriber) signal.request({ t: "restartIce", pc: "sub" }).catch(() => {});
    } else {
      // The seat was gone: a new participant. Both connections start over.
      const republish = [...this.#publisher?.published.values() ?? []];
      this.#publisher?.pc.close();
      this.#publisher = null;
      this.#subscriber?.close();
      this.#subscriber = null;
      this.#reconcile();
      this.localParticipant = localOf(joined.self);
      this.#applySnapshot(joined, true);
      for (const p of republish) {
        this.#publishTrack(p.source, p.track, p.simulcast, p.owned).catch((error) =>
          console.warn(`quetzal: republishing ${p.source}: ${error.message}`)
        );
      }
    }
    this.activeSpeakers = joined.speakers;
    this.#emit("reconnected");
  }

  /** Ends everything; resolves once the socket is closed. */
  #teardown(reason: DisconnectReason): Promise<void> {
    clearTimeout(this.#subscriptionTimer);
    this.#subscriptionTimer = undefined;
    const closed = this.#signal.close();
    this.#publisher?.close();
    this.#subscriber?.close();
    for (const [mid, track] of [...this.#reported]) this.#unsubscribe(mid, track);
    this.#publisher = null;
    this.#subscriber = null;
    this.#emit("disconnected", reason);
    return closed;
  }

  #assertOpen(what: string): void {
    if (this.#state === "closed") throw new QuetzalError("closed", `${what}: the room was left`);
  }

  #emit<E extends RoomEvent>(event: E, ...args: Parameters<RoomEvents[E]>): void {
    for (const handler of [...this.#handlers.get(event) ?? []]) {
      try {
        (handler as (...a: Parameters<RoomEvents[E]>) => void)(...args);
      } catch (error) {
        // One app handler's bug must not stop the SDK's bookkeeping.
        console.error(`quetzal: a ${event} handler threw`, error);
      }
    }
  }
}

/**
 * A tile height in device pixels as the step to ask for: rounded up to 180, 360, 720 or 1080
 * (1080 above that); 0 for a hidden tile.
 *
 * @example maxHeightFor(240 * devicePixelRatio) // 360 at DPR 1.5
 */
export function maxHeightFor(devicePixels: number): MaxHeight {
  if (!(devicePixels > 0)) return 0;
  for (const step of [180, 360, 720] as const) if (devicePixels <= step) return step;
  return 1080;
}

function localOf(info: WireParticipant): LocalParticipant {
  return {
    id: info.id,
    name: info.name,
    role: info.role,
    muted: [...info.muted],
    locked: [...info.locked],
  };
}

function fieldsOf(info: Omit<Participant, "tracks"> | WireParticipant) {
  return {
    id: info.id,
    name: info.name,
    role: info.role,
    hand: info.hand,
    publishing: [...info.publishing],
    muted: [...info.muted],
  };
}

async function capture(
  source: Source,
  constraints: MediaTrackConstraints | undefined,
): Promise<{ main: MediaStreamTrack; audio?: MediaStreamTrack }> {
  const media = globalThis.navigator?.mediaDevices;
  if (!media) throw new QuetzalError("bad-request", "this page has no media devices (HTTPS?)");
  switch (source) {
    case "camera": {
      const stream = await media.getUserMedia({
        video: constraints ?? { width: { ideal: 1280 }, height: { ideal: 720 } },
      });
      return { main: stream.getVideoTracks()[0] };
    }
    case "microphone": {
      const stream = await media.getUserMedia({
        audio: constraints ??
          { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      });
      return { main: stream.getAudioTracks()[0] };
    }
    case "screen": {
      const stream = await media.getDisplayMedia({ video: constraints ?? true, audio: true });
      return { main: stream.getVideoTracks()[0], audio: stream.getAudioTracks()[0] };
    }
    case "screenAudio":
      throw new QuetzalError("bad-request", 'screenAudio comes with publish("screen") or a track');
  }
}
