/**
 * A room participant's subscribe connection (rooms.md §5): the server offers, the client
 * answers. Its m-lines are slots: N audio slots (`a0`…, the loudest speakers, rebound as they
 * change), then track m-lines (`v0`… for video, more `a…` for screen audio) each carrying one
 * published track of another participant, bound and freed without renegotiating. A new offer
 * is needed only when no track m-line of a kind is idle (4 more video, 2 more audio) or for an
 * ICE restart: changes are coalesced 50 ms after the last one, with one offer in flight.
 *
 * The media half is a {@link ViewerSession} (the same class WHEP viewers use): RTCP, the
 * bandwidth estimate and its split across the video consumers, sender reports. Each m-line has
 * at most one {@link Consumer} for the connection's life: a freed m-line keeps it, and the next
 * track bound there continues its sequence and timestamps (`Consumer.rebind`).
 *
 * It runs wherever its host does (local-subscriber-host.ts, on the main thread or in a viewer
 * worker against a mirror of the room's Router): the room drives it through plain-data
 * commands (subscriber-host.ts), and it speaks only through its {@link SubscriberSink}.
 */
import { Consumer } from "../sfu/consumer.ts";
import type { Producer } from "../sfu/producer.ts";
import { RouterError } from "../sfu/router-protocol.ts";
import type { SrtpBackend } from "../transport/srtp.ts";
import type { LocalTransport, OfferPlan } from "./negotiation.ts";
import { type NetworkOptions, newIceCredentials, PeerTransport } from "./peer-transport.ts";
import { parseSdp } from "./sdp.ts";
import type { MlineBinding } from "./subscriber-host.ts";
import {
  InvalidAnswerError,
  readSubscribeAnswer,
  slotBinding,
  type SubscribeAnswer,
} from "./subscribe-answer.ts";
import {
  addSlots,
  newSubscribeDescription,
  type SubscribeDescription,
  writeSubscribeOffer,
} from "./subscribe-offer.ts";
import { ViewerSession } from "./viewer-session.ts";

/** Idle video m-lines in the first offer, and added when none is idle (rooms.md §5). */
export const VIDEO_MLINES_STEP = 4;
/** Screen-audio m-lines added when none is idle. */
const AUDIO_MLINES_STEP = 2;
/** Changes wait this long after the last one before an offer is sent. */
export const OFFER_COALESCE_MS = 50;

export type { MlineBinding } from "./subscriber-host.ts";

/** The mids of a subscriber's audio slots (what `activeSpeakers` maps), in slot order. */
export function audioSlotMids(audioSlots: number): string[] {
  return newSubscribeDescription(audioSlots, VIDEO_MLINES_STEP).slots
    .filter((s) => s.kind === "audio").map((s) => s.mid);
}

/** What a subscriber tells its client. */
export interface SubscriberSink {
  offer(rev: number, sdp: string, bound: MlineBinding[]): void;
  bound(bound: MlineBinding[]): void;
  /** A consumer now carries `producer` on an m-line (set its caps and priority). */
  consuming(consumer: Consumer): void;
}

interface Mline {
  mid: string;
  kind: "audio" | "video";
  /** An audio slot (loudest speakers) rather than a track m-line. */
  slot: boolean;
  producer: Producer | null;
  consumer: Consumer | undefined;
}

const NO_PLAN: OfferPlan = { tracks: [], inactive: [], rtcpRsize: false };

export class RoomSubscriber {
  readonly participant: string;
  readonly session: ViewerSession;
  readonly #sink: SubscriberSink;
  #local: LocalTransport;
  /** Our credentials for the next ICE restart (asked for, not yet offered or answered). */
  #restartLocal: { iceUfrag: string; icePwd: string } | undefined;
  /** The credentials the offer in flight restarts ICE with. */
  #offeredRestart: { iceUfrag: string; icePwd: string } | undefined;
  /** The latest description (what the next offer is written from). */
  #description: SubscribeDescription;
  /** The description of the offer in flight. */
  #offered: SubscribeDescription | undefined;
  #offeredSdp = "";
  #offeredBound: MlineBinding[] = [];
  #answered: SubscribeAnswer | undefined;
  readonly #mlines = new Map<string, Mline>();
  #dirty = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  /** Offers sent (the first included). */
  offers = 0;

  private constructor(
    participant: string,
    session: ViewerSession,
    local: LocalTransport,
    audioSlots: number,
    sink: SubscriberSink,
  ) {
    this.participant = participant;
    this.session = session;
    this.#local = local;
    this.#sink = sink;
    this.#description = newSubscribeDescription(audioSlots, VIDEO_MLINES_STEP);
    for (const slot of this.#description.slots) {
      this.#mlines.set(slot.mid, {
        mid: slot.mid,
        kind: slot.kind,
        slot: slot.kind === "audio",
        producer: null,
        consumer: undefined,
      });
    }
  }

  /**
   * Creates `participant`'s subscribe connection with session id `id` and sends the first offer
   * (`sink.offer`, right after the current turn). Its host (local-subscriber-host.ts) ticks and
   * ends it; it has no connect deadline and no dead-peer end (its room ends it).
   */
  static async create(
    transport: { network: NetworkOptions; srtp: SrtpBackend },
    id: string,
    streamName: string,
    participant: string,
    audioSlots: number,
    sink: SubscriberSink,
  ): Promise<RoomSubscriber> {
    const created = await PeerTransport.createOffer(transport.network, transport.srtp, {
      iceLossIsFatal: false,
    });
    const session = new ViewerSession(id, streamName, created.peer, NO_PLAN);
    session.deadPeerMs = Infinity;
    const subscriber = new RoomSubscriber(participant, session, created.local, audioSlots, sink);
    subscriber.#dirty = true;
    subscriber.#schedule(0);
    return subscriber;
  }

  /** Audio slots (their mids in order). */
  get slotMids(): string[] {
    return [...this.#mlines.values()].filter((m) => m.slot).map((m) => m.mid);
  }

  /** Consumers currently sending, by m-line. */
  get consumers(): Consumer[] {
    return this.session.consumers;
  }

  /** The consumer of a producer, if it is bound and answered. */
  consumerOf(producerId: string): Consumer | undefined {
    for (const m of this.#mlines.values()) {
      if (m.producer?.id === producerId && m.consumer && this.consumers.includes(m.consumer)) {
        return m.consumer;
      }
    }
    return undefined;
  }

  /** Whether a track m-line carries this producer. */
  has(producerId: string): boolean {
    for (const m of this.#mlines.values()) {
      if (!m.slot && m.producer?.id === producerId) return true;
    }
    return false;
  }

  /** Binds another participant's track (not a microphone) to an idle m-line of its kind. */
  bind(producer: Producer): void {
    if (this.#closed || this.has(producer.id)) return;
    let mline = [...this.#mlines.values()].find((m) =>
      !m.slot && m.kind === producer.kind && m.producer === null
    );
    if (!mline) {
      // None idle: more m-lines, offered with the next offer (rooms.md §5).
      const count = producer.kind === "video" ? VIDEO_MLINES_STEP : AUDIO_MLINES_STEP;
      const before = this.#description.slots.length;
      this.#description = {
        ...this.#description,
        slots: addSlots(this.#description.slots, producer.kind, count),
      };
      for (const slot of this.#description.slots.slice(before)) {
        this.#mlines.set(slot.mid, {
          mid: slot.mid,
          kind: slot.kind,
          slot: false,
          producer: null,
          consumer: undefined,
        });
      }
      mline = [...this.#mlines.values()].find((m) =>
        !m.slot && m.kind === producer.kind && m.producer === null
      )!;
      this.#changed();
    }
    mline.producer = producer;
    this.#realize(mline);
    this.#announce(mline);
  }

  /** Frees the m-line of a producer that is gone (its consumer stays for the next track). */
  unbind(producerId: string): void {
    for (const m of this.#mlines.values()) {
      if (m.producer?.id !== producerId) continue;
      m.producer = null;
      this.#realize(m);
      if (!m.slot) this.#announce(m);
    }
  }

  /** Audio slot `index` carries `producer` from now on (null: silent). */
  setSlot(index: number, producer: Producer | null): void {
    const mline = this.#mlines.get(this.slotMids[index]);
    if (!mline || this.#closed) return;
    mline.producer = producer;
    this.#realize(mline);
  }

  /** `restartIce`: the next offer carries new credentials; the answer's apply them. */
  restartIce(): void {
    if (this.#closed) return;
    this.#restartLocal ??= newIceCredentials();
    this.#changed();
  }

  /** The client answered offer `rev`; a refusal is a RouterError (`conflict`, `bad-request`). */
  async answer(rev: number, sdp: string): Promise<void> {
    const offered = this.#offered;
    if (!offered || rev !== offered.revision) {
      throw new RouterError(
        "conflict",
        offered
          ? `offer ${offered.revision} is waiting for its answer, not ${rev}`
          : `no offer is waiting for an answer (revision ${rev} was answered or replaced)`,
      );
    }
    let answer: SubscribeAnswer;
    try {
      answer = readSubscribeAnswer(parseSdp(sdp), offered);
    } catch (error) {
      if (error instanceof InvalidAnswerError) {
        throw new RouterError("bad-request", error.message);
      }
      throw new RouterError("bad-request", `the answer is not valid SDP: ${String(error)}`);
    }
    const restart = this.#offeredRestart;
    if (restart) {
      this.session.peer.restartIce(answer.transport.iceUfrag, answer.transport.icePwd, restart);
      this.session.remoteIceUfrag = answer.transport.iceUfrag;
    }
    try {
      await this.session.peer.acceptAnswer(answer.transport);
    } catch (error) {
      throw new RouterError(
        "bad-request",
        error instanceof Error ? error.message : String(error),
      );
    }
    if (restart) {
      this.#local = { ...this.#local, ...restart };
      if (this.#restartLocal === restart) this.#restartLocal = undefined;
    }
    this.#offered = undefined;
    this.#offeredRestart = undefined;
    this.#answered = answer;
    this.session.remoteIceUfrag ||= answer.transport.iceUfrag;
    for (const m of this.#mlines.values()) this.#realize(m);
    if (this.#dirty) this.#schedule(OFFER_COALESCE_MS);
  }

  /**
   * The client's socket resumed (events sent while it was down are lost): what every m-line
   * carries now, then the offer still waiting for an answer.
   */
  resume(): void {
    if (this.#closed) return;
    this.#sink.bound(this.bindings());
    this.resend();
  }

  /** The offer in flight again (a resumed socket may have missed it). */
  resend(): void {
    if (this.#offered) {
      this.#sink.offer(this.#offered.revision, this.#offeredSdp, this.#offeredBound);
    }
  }

  /** What every m-line carries now. */
  bindings(): MlineBinding[] {
    return [...this.#mlines.values()].map((m) => ({
      mid: m.mid,
      kind: m.kind,
      participant: m.slot ? null : m.producer?.participant ?? null,
      source: m.slot ? null : m.producer?.source ?? null,
    }));
  }

  /** Stops the timer and forgets the consumers; the host closes the session. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const m of this.#mlines.values()) {
      if (m.consumer) {
        this.session.removeConsumer(m.consumer);
        m.consumer.close();
      }
    }
  }

  /** Creates, rebinds or parks the consumer of an m-line to match its binding and the answer. */
  #realize(m: Mline): void {
    const track = this.#answered?.tracks.find((t) => t.mid === m.mid);
    const producer = m.producer;
    const binding = producer && track ? slotBinding(track, producer.codecName) : undefined;
    if (!producer || !binding) {
      if (m.consumer) this.session.removeConsumer(m.consumer);
      return;
    }
    let consumer = m.consumer;
    if (consumer && consumer.producer.codecName !== producer.codecName) {
      // Another codec needs another payload type: a new consumer on the same SSRC.
      this.session.removeConsumer(consumer);
      consumer.close();
      consumer = undefined;
    }
    if (!consumer) {
      consumer = new Consumer({ producer, link: this.session, ...binding });
      m.consumer = consumer;
    } else if (consumer.producer !== producer) {
      this.session.removeConsumer(consumer);
      consumer.rebind(producer);
    }
    this.#sink.consuming(consumer);
    this.session.addConsumer(consumer);
  }

  /** Tells the client what a track m-line carries, unless its next offer will. */
  #announce(m: Mline): void {
    const known = this.#offered ?? this.#answered;
    const offered = known &&
      ("slots" in known
        ? known.slots.some((s) => s.mid === m.mid)
        : known.tracks.some((t) => t.mid === m.mid));
    if (!offered) return;
    this.#sink.bound([{
      mid: m.mid,
      kind: m.kind,
      participant: m.producer?.participant ?? null,
      source: m.producer?.source ?? null,
    }]);
  }

  #changed(): void {
    this.#dirty = true;
    if (!this.#offered) this.#schedule(OFFER_COALESCE_MS);
  }

  #schedule(ms: number): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#flush();
    }, ms);
  }

  #flush(): void {
    if (this.#closed || this.#offered || !this.#dirty) return;
    this.#dirty = false;
    const revision = this.#description.revision + (this.offers === 0 ? 0 : 1);
    this.#description = { ...this.#description, revision };
    const restart = this.#restartLocal;
    const local = restart ? { ...this.#local, ...restart } : this.#local;
    this.#offered = this.#description;
    this.#offeredRestart = restart;
    this.#offeredSdp = writeSubscribeOffer(this.#description, local);
    this.#offeredBound = this.bindings();
    this.offers++;
    this.#sink.offer(revision, this.#offeredSdp, this.#offeredBound);
  }
}
