/**
 * A room's media (rooms.md §3, §5, §7, §8): the {@link RoomSessionMedia} that signalling hands
 * media messages to, owning the room's {@link Router} (one per room, closed when the room
 * ends), each participant's publish and subscribe connections, the speaker detector and the
 * audio slots, the subscriptions and dynacast.
 *
 * - Publishing: `offer` → {@link RoomPublisher} (first offer, then re-offers on the same
 *   connection); its producers join the Router and everyone hears `producers`.
 * - Subscribing: each participant gets a subscribe connection (room-subscriber.ts) at join.
 *   Every other participant's camera, screen and screen audio is bound to a track m-line of it
 *   (`bound`); microphones reach it through its audio slots, the loudest speakers (AudioSlots
 *   fed by the room's SpeakerDetector), or everyone when there are no more microphones than
 *   slots.
 * - `setSubscription` sets each consumer's height cap and priority (its allocator splits the
 *   subscriber's estimate), and the dynacast demand of each video producer (the highest height
 *   any subscriber wants) is sent to its publisher as `senderConstraint`.
 *
 * Publishers, speaker detection, audio slot choices, wants and dynacast stay on the main thread
 * (the room's tick runs on the SessionManager's 20 ms ticker). Subscribe connections run
 * wherever the manager's SubscriberHost puts them, like WHEP viewers (a viewer worker with
 * `--workers` ≥ 2): this class speaks to them only in plain-data RoomSubscriberCommands by
 * producer id, and hears their offers and bindings as events.
 */
import type { Participant, Room } from "../room/mod.ts";
import { AudioSlots } from "../sfu/audio-slots.ts";
import { Dynacast } from "../sfu/dynacast.ts";
import type { Producer } from "../sfu/producer.ts";
import { Router } from "../sfu/router.ts";
import type { Source } from "../sfu/router-protocol.ts";
import { SpeakerDetector, type SpeakerLevel } from "../sfu/speaker-detector.ts";
import { Subscription, trackPriority } from "../sfu/subscription.ts";
import { InvalidOfferError, UnsupportedOfferError } from "../session/negotiation.ts";
import { RoomPublisher } from "../session/room-publisher.ts";
import { audioSlotMids } from "../session/room-subscriber.ts";
import { SdpParseError } from "../session/sdp.ts";
import { CapacityError, type SessionManager } from "../session/session-manager.ts";
import type { HostedViewer, RoomSubscriberCommand } from "../session/subscriber-host.ts";
import { RouterError } from "../sfu/router-protocol.ts";
import type { TrackPriorityValue } from "../sfu/subscriber-allocator.ts";
import { roomCounters } from "../observability/counters.ts";
import { SignalError } from "./codes.ts";
import type { ProducerInfo as ProducerMessage, ReplyBody } from "./messages.ts";
import type { RoomHub } from "./room-hub.ts";
import type { MediaMessage, RoomSessionMedia } from "./room-session.ts";

/** Speakers are ranked (and `activeSpeakers` sent) at most this often: 2.5 per second. */
const SPEAKERS_INTERVAL_MS = 400;
/** Dynacast demand is recomputed this often. */
const DYNACAST_INTERVAL_MS = 100;

export interface RoomMediaOptions {
  manager: SessionManager;
  /** Logs a failure that has no client to tell (a subscriber that could not be created). */
  onError?(error: unknown, about: string): void;
}

export class RoomMedia implements RoomSessionMedia {
  readonly room: Room;
  readonly router: Router;
  readonly #hub: RoomHub;
  readonly #manager: SessionManager;
  readonly #onError: (error: unknown, about: string) => void;
  readonly #streamName: string;
  readonly #publishers = new Map<string, RoomPublisher>();
  /** Subscribe connections by participant id (hosted here or in a viewer worker). */
  readonly #subscribers = new Map<string, HostedViewer>();
  /** The last `want` told each subscriber, by participant and producer id. */
  readonly #told = new Map<
    string,
    Map<string, { maxHeight: number; priority: TrackPriorityValue }>
  >();
  /** Mids of every subscriber's audio slots (the same for all: the room's `audioSlots`). */
  readonly #slotMids: string[];
  /** Participants whose subscriber is being created (or exists): everyone in the media half. */
  readonly #members = new Set<string>();
  readonly #slots = new Map<string, AudioSlots>();
  readonly #wants = new Map<string, Subscription>();
  readonly #dynacast = new Map<string, Dynacast>();
  /** Ranks whenever asked: the room's tick asks every SPEAKERS_INTERVAL_MS. */
  readonly #detector = new SpeakerDetector({ intervalMs: 0 });
  /** Subscribers whose slots changed outside a ranking (a speaker left): told at the next. */
  readonly #speakersDirty = new Set<string>();
  #ranking: readonly SpeakerLevel[] = [];
  #lastDynacastMs = 0;
  readonly #untick: () => void;
  readonly #unobserve: () => void;
  #closed = false;

  constructor(room: Room, hub: RoomHub, options: RoomMediaOptions) {
    this.room = room;
    this.#hub = hub;
    this.#manager = options.manager;
    this.#onError = options.onError ?? (() => {});
    this.#streamName = `room:${room.id}`;
    this.router = new Router(this.#streamName, (error) => this.#onError(error, "router"));
    this.#slotMids = audioSlotMids(room.settings.audioSlots);
    // The subscribers' host follows the Router first: a worker's mirror must have a producer
    // before the commands that name it (sent from the listener below) arrive.
    this.#manager.subscribers.observe({
      router: this.router,
      codecOf: (producer) =>
        this.#publishers.get(producer.participant)?.session.codecs.get(producer),
    });
    this.router.on((event) => {
      if (event.t !== "producers") return;
      const added = event.added.map((p) => this.router.producer(p.id)).filter((p) =>
        p !== undefined
      );
      this.#broadcast({
        t: "producers",
        added: added.map(producerMessage),
        removed: event.removed,
      });
      for (const id of event.removed) this.#producerGone(id);
      for (const producer of added) this.#producerAdded(producer);
    });
    this.#untick = this.#manager.addTicker((now) => this.#tick(now));
    this.#unobserve = room.observe({ ended: () => this.close() });
  }

  /** Published tracks by source, added to `counts` (the publications gauge). */
  countPublications(counts: Record<Source, number>): void {
    for (const p of this.router.producers) counts[p.source]++;
  }

  /** Tracks being received by subscribers, by source, added to `counts`. */
  countSubscriptions(counts: Record<Source, number>): void {
    for (const subscriber of this.#subscribers.values()) {
      for (const c of subscriber.snapshot().consumers) {
        const source = this.router.producer(c.producer)?.source;
        if (source) counts[source]++;
      }
    }
  }

  /** Published tracks and the current speakers, for `joined`. */
  snapshot(): { producers: ProducerMessage[]; speakers: { participant: string; level: number }[] } {
    return {
      producers: this.router.producers.map(producerMessage),
      speakers: this.#speakers(),
    };
  }

  /**
   * `participant` joined (or resumed its seat): its subscribe connection is created and offered
   * after the `joined` answer; a resumed one gets the offer in flight again.
   */
  join(participant: Participant, resumed: boolean): void {
    if (this.#closed) return;
    const id = participant.id;
    if (resumed && this.#members.has(id)) {
      // Events sent while the socket was down are lost: what every m-line carries now, and
      // the offer still waiting for an answer.
      if (this.#subscribers.has(id)) {
        this.#command(id, { t: "resume" });
        this.#sendSpeakers(id);
      }
      return;
    }
    if (this.#members.has(id)) return;
    this.#members.add(id);
    this.#slots.set(id, new AudioSlots({ slots: this.room.settings.audioSlots, self: id }));
    this.#wants.set(id, new Subscription());
    void this.#subscribe(participant).catch((error) => {
      this.#onError(error, "subscribe connection");
      const full = isOverCapacity(error);
      this.#hub.sendTo(id, {
        t: "error",
        code: full ? "over-capacity" : "internal",
        message: full ? error.message : "the server could not create your subscribe connection",
        about: "offer",
      });
    });
  }

  async #subscribe(participant: Participant): Promise<void> {
    const id = participant.id;
    const subscriber = await this.#manager.subscribeRoom(
      { stream: this.#streamName, participant: id, audioSlots: this.room.settings.audioSlots },
      (event) => {
        if (event.t === "offer") {
          roomCounters.renegotiations[1]++;
          const { rev, sdp, bound } = event;
          this.#hub.sendTo(id, { t: "offer", pc: "sub", rev, sdp, bound });
        } else this.#hub.sendTo(id, { t: "bound", bound: event.bound });
      },
    );
    // The participant left, or the room ended, while the connection was made.
    if (this.#closed || !this.#members.has(id) || subscriber.closed) {
      await this.#manager.end(subscriber.id, "deleted");
      return;
    }
    this.#subscribers.set(id, subscriber);
    this.#told.set(id, new Map());
    for (const producer of this.router.producers) {
      if (producer.participant !== id && producer.source !== "microphone") {
        this.#command(id, { t: "bind", producer: producer.id });
      }
    }
    this.#applyWants(id);
    this.#updateSlots(id, performance.now());
    // Whose voice each slot carries: the tick only tells changes, and these slots were filled
    // before it ran, so without this a late joiner could not tell its slots' speakers apart.
    this.#sendSpeakers(id);
  }

  /** A command for `participant`'s subscribe connection, wherever it is hosted. */
  #command(participant: string, command: RoomSubscriberCommand): void {
    const subscriber = this.#subscribers.get(participant);
    if (subscriber && !subscriber.closed) {
      this.#manager.subscribers.roomCommand(subscriber.id, command);
    }
  }

  async handle(participant: Participant, message: MediaMessage): Promise<ReplyBody | void> {
    if (this.#closed) throw new SignalError("not-found", "the room has ended");
    switch (message.t) {
      case "offer":
        return await this.#publish(participant, message.sdp, message.sources);
      case "answer": {
        const subscriber = this.#subscribers.get(participant.id);
        if (!subscriber || subscriber.closed) {
          throw new SignalError("conflict", "no offer is waiting for an answer");
        }
        try {
          await this.#manager.subscribers.answer(subscriber.id, message.rev, message.sdp);
        } catch (error) {
          if (error instanceof RouterError) throw new SignalError(error.code, error.message);
          throw error;
        }
        return;
      }
      case "candidate":
        // ICE-lite (RFC 8445 §2.5): the server learns the client's addresses from its checks
        // (peer-reflexive), so trickled candidates are acknowledged and not needed; the
        // server's own candidates are all in its offers and answers.
        return;
      case "setSubscription":
        this.#setSubscription(participant.id, message.items);
        return;
      case "restartIce": {
        if (!this.#subscribers.has(participant.id)) {
          throw new SignalError("conflict", "the subscribe connection is not up yet");
        }
        this.#command(participant.id, { t: "restartIce" });
        return;
      }
    }
  }

  async #publish(
    participant: Participant,
    sdp: string,
    sources: Record<string, Source>,
  ): Promise<ReplyBody> {
    const id = participant.id;
    const existing = this.#publishers.get(id);
    try {
      if (existing && !existing.session.closed) {
        const { answer, added, removed } = existing.reoffer(sdp, sources);
        roomCounters.renegotiations[0]++;
        this.router.removeProducers(removed.map((p) => p.id));
        this.#adopt(added, participant);
        return { t: "answer", pc: "pub", sdp: answer };
      }
      if (existing) {
        // Its connection ended (a failed DTLS transport): a new one replaces it.
        this.#publishers.delete(id);
        this.router.removeProducers(existing.session.producers.map((p) => p.id));
      }
      const { publisher, answer } = await RoomPublisher.create(
        this.#manager,
        this.#streamName,
        id,
        sdp,
        sources,
      );
      if (this.#closed || this.room.participant(id) !== participant) {
        await this.#manager.end(publisher.session.id, "deleted");
        throw new SignalError("not-found", "you are no longer in this room");
      }
      this.#publishers.set(id, publisher);
      roomCounters.renegotiations[0]++;
      this.#adopt(publisher.session.producers, participant);
      return { t: "answer", pc: "pub", sdp: answer };
    } catch (error) {
      throw mediaError(error);
    }
  }

  /** New producers of `participant`: muted as the room says, then on the Router. */
  #adopt(producers: Producer[], participant: Participant): void {
    for (const p of producers) p.muted = participant.muted.has(p.source);
    this.router.addProducers(producers);
  }

  mute(participant: Participant, source: Source, muted: boolean): void {
    for (const p of this.router.producers) {
      if (p.participant === participant.id && p.source === source) p.muted = muted;
    }
  }

  unpublish(participant: Participant, sources: Source[]): void {
    const ids = this.router.producers
      .filter((p) => p.participant === participant.id && sources.includes(p.source))
      .map((p) => p.id);
    this.#publishers.get(participant.id)?.session.dropProducers(ids);
    this.router.removeProducers(ids);
  }

  leave(participant: Participant): void {
    const id = participant.id;
    this.#members.delete(id);
    this.#slots.delete(id);
    this.#wants.delete(id);
    this.#told.delete(id);
    const publisher = this.#publishers.get(id);
    this.#publishers.delete(id);
    const subscriber = this.#subscribers.get(id);
    this.#subscribers.delete(id);
    this.router.removeProducers(
      this.router.producers.filter((p) => p.participant === id).map((p) => p.id),
    );
    if (publisher) void this.#manager.end(publisher.session.id, "deleted");
    if (subscriber) void this.#manager.end(subscriber.id, "deleted");
  }

  /** Closes every peer and the Router; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#untick();
    this.#unobserve();
    for (const publisher of this.#publishers.values()) {
      void this.#manager.end(publisher.session.id, "deleted");
    }
    for (const subscriber of this.#subscribers.values()) {
      void this.#manager.end(subscriber.id, "deleted");
    }
    this.#publishers.clear();
    this.#subscribers.clear();
    this.#members.clear();
    this.router.close();
  }

  #producerAdded(producer: Producer): void {
    if (producer.kind === "video") this.#dynacast.set(producer.id, new Dynacast());
    if (producer.source === "microphone") return; // audio slots, at the next ranking
    for (const id of this.#subscribers.keys()) {
      if (id === producer.participant) continue;
      this.#command(id, { t: "bind", producer: producer.id });
      this.#applyWants(id);
    }
  }

  #producerGone(id: string): void {
    this.#dynacast.delete(id);
    for (const participant of this.#subscribers.keys()) {
      // Frees its track m-line or audio slot, whichever carries it.
      this.#command(participant, { t: "unbind", producer: id });
      this.#told.get(participant)?.delete(id);
      const slots = this.#slots.get(participant);
      if (slots?.remove(id, () => {})) this.#speakersDirty.add(participant);
    }
  }

  #setSubscription(
    id: string,
    items: { participant: string; source: Source; maxHeight: number; stage: boolean }[],
  ): void {
    const want = this.#wants.get(id);
    if (!want) throw new SignalError("conflict", "join first");
    want.set(items);
    this.#applyWants(id);
    // Dynacast follows at once when a layer is needed again (up immediately).
    this.#runDynacast(performance.now());
  }

  /**
   * Height caps and priorities of the video tracks `participant` receives: each change is told
   * to its subscribe connection as a `want`, which applies it whenever a consumer carries it.
   */
  #applyWants(participant: string): void {
    const want = this.#wants.get(participant);
    const told = this.#told.get(participant);
    if (!want || !told || !this.#subscribers.has(participant)) return;
    for (const producer of this.router.producers) {
      if (producer.kind !== "video" || producer.participant === participant) continue;
      const w = want.want(producer.participant, producer.source);
      const priority = trackPriority(producer.source, w.stage, this.#speaking(producer));
      const last = told.get(producer.id);
      if (last && last.maxHeight === w.maxHeight && last.priority === priority) continue;
      told.set(producer.id, { maxHeight: w.maxHeight, priority });
      this.#command(participant, {
        t: "want",
        producer: producer.id,
        maxHeight: w.maxHeight,
        priority,
      });
    }
  }

  #speaking(producer: Producer): boolean {
    return this.#ranking.some((r) => r.participant === producer.participant);
  }

  #tick(nowMs: number): void {
    if (this.#closed) return;
    // Speakers, slots and `activeSpeakers` once per interval: at most 2.5 messages a second.
    if (this.#slotsDue(nowMs)) {
      let ranked = false;
      this.#detector.tick(nowMs, this.router.producers, (ranking) => {
        ranked = true;
        if (ranking[0]?.participant !== this.#ranking[0]?.participant) {
          roomCounters.speakerChanges++;
        }
      });
      this.#ranking = this.#detector.ranking;
      for (const id of this.#subscribers.keys()) {
        const changed = this.#updateSlots(id, nowMs);
        const dirty = this.#speakersDirty.delete(id);
        if (changed || ranked || dirty) this.#sendSpeakers(id);
        if (ranked) this.#applyWants(id);
      }
    }
    if (nowMs - this.#lastDynacastMs >= DYNACAST_INTERVAL_MS) this.#runDynacast(nowMs);
  }

  #lastSlotsMs = -Infinity;

  #slotsDue(nowMs: number): boolean {
    if (nowMs - this.#lastSlotsMs < SPEAKERS_INTERVAL_MS) return false;
    this.#lastSlotsMs = nowMs;
    return true;
  }

  /**
   * Fills `subscriber`'s audio slots: the loudest other speakers, sticky (AudioSlots); and when
   * there are no more other unmuted microphones than slots, all of them, speaking or not, so a
   * small call hears everyone at once.
   */
  #updateSlots(self: string, nowMs: number): boolean {
    const slots = this.#slots.get(self);
    if (!slots) return false;
    const mics = this.router.producers.filter((p) =>
      p.source === "microphone" && p.participant !== self && !p.muted
    );
    let ranking: readonly SpeakerLevel[] = this.#ranking;
    if (mics.length <= slots.size) {
      const rest = mics.filter((p) => !ranking.some((r) => r.producer === p.id))
        .map((p) => ({ participant: p.participant, producer: p.id, level: 0 }));
      ranking = [...ranking, ...rest];
    }
    return slots.update(
      ranking,
      (id) => this.router.producer(id) !== undefined,
      nowMs,
      (slot, producerId) => {
        const producer = producerId !== null && this.router.producer(producerId)
          ? producerId
          : null;
        this.#command(self, { t: "slot", index: slot, producer });
      },
    );
  }

  #speakers(): { participant: string; level: number }[] {
    return this.#ranking.map((r) => ({ participant: r.participant, level: Math.min(1, r.level) }));
  }

  #sendSpeakers(participant: string): void {
    const slots = this.#slots.get(participant);
    if (!slots) return;
    const mids = this.#slotMids;
    const map: Record<string, string | null> = {};
    for (let i = 0; i < mids.length; i++) map[mids[i]] = slots.participants[i] ?? null;
    this.#hub.sendTo(participant, {
      t: "activeSpeakers",
      speakers: this.#speakers(),
      slots: map,
    });
  }

  /**
   * Per video producer, the highest height any other subscriber wants (0: nobody): told to
   * its publisher when it changes (up at once with a key-frame request, down after 2 s).
   */
  #runDynacast(nowMs: number): void {
    this.#lastDynacastMs = nowMs;
    for (const producer of this.router.producers) {
      const dynacast = this.#dynacast.get(producer.id);
      if (!dynacast) continue;
      let demand = 0;
      for (const [id, want] of this.#wants) {
        if (id === producer.participant || !this.#subscribers.has(id)) continue;
        demand = Math.max(demand, want.want(producer.participant, producer.source).maxHeight);
      }
      const before = dynacast.constraint;
      const told = dynacast.update(demand, nowMs);
      if (told < 0) continue;
      roomCounters.dynacast[told > before ? 0 : 1]++;
      if (told > before) {
        // The resumed layers start cleanly at a key frame.
        for (const layer of producer.layers) producer.requestKeyframe(layer, nowMs);
      }
      this.#hub.sendTo(producer.participant, {
        t: "senderConstraint",
        source: producer.source,
        maxHeight: told === 0
          ? 0
          : told >= 1080
          ? 1080
          : told >= 720
          ? 720
          : told >= 360
          ? 360
          : 180,
      });
    }
  }

  #broadcast(event: Parameters<RoomHub["sendTo"]>[1]): void {
    for (const id of this.#members) this.#hub.sendTo(id, event);
  }
}

function producerMessage(p: Producer): ProducerMessage {
  return { id: p.id, participant: p.participant, source: p.source, muted: p.muted };
}

/**
 * A limit refused it: a configured one, or a RouterError saying so (a full `--rtc-ports` range,
 * or the subscribers' host, wherever it runs).
 */
function isOverCapacity(error: unknown): error is Error {
  return error instanceof CapacityError ||
    (error instanceof RouterError && error.code === "over-capacity");
}

/** A media failure as a signalling error with a stable code. */
function mediaError(error: unknown): unknown {
  if (error instanceof SignalError) return error;
  if (isOverCapacity(error)) return new SignalError("over-capacity", error.message);
  if (
    error instanceof SdpParseError || error instanceof InvalidOfferError
  ) return new SignalError("bad-request", error.message);
  if (error instanceof UnsupportedOfferError) return new SignalError("unsupported", error.message);
  return error;
}
