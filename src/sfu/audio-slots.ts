/**
 * A subscriber's audio: N fixed slots (m-lines with fixed SSRCs) that carry the loudest N
 * speakers other than the subscriber itself, so people starting and stopping to speak never
 * renegotiate (rooms.md §7; Jitsi and tgcalls do the same with SSRC rewriting). Opus needs no
 * key frame, so a slot changes speaker at the next packet (`Consumer.rebind`).
 *
 * Sticky: a speaker keeps its slot while it ranks; a newcomer takes a free slot, else one whose
 * speaker has been silent for `silentMs` (default 1 s), the longest silent first, else waits.
 * A slot whose speaker left (producer gone) is free at once.
 *
 * This file only decides; the subscriber binds consumers through `bind(slot, producerId)`.
 */
import type { SpeakerLevel } from "./speaker-detector.ts";

export interface AudioSlotsOptions {
  /** Number of slots (rooms.md: default 3, 1–10: a tgcalls client mixes about 10). */
  slots: number;
  /** The subscriber's own participant id: never sent its own voice. */
  self: string;
  /** A slot's speaker must be silent this long before a newcomer takes it (default 1000 ms). */
  silentMs?: number;
}

/** A slot's producer changed: `producer` null empties it. */
export type SlotBinder = (
  slot: number,
  producer: string | null,
  participant: string | null,
) => void;

export class AudioSlots {
  readonly size: number;
  readonly #self: string;
  readonly #silentMs: number;
  readonly #producer: (string | null)[];
  readonly #participant: (string | null)[];
  /** When the slot's speaker left the ranking (-1: speaking or empty). */
  readonly #silentSince: Float64Array;

  constructor(options: AudioSlotsOptions) {
    this.size = Math.max(1, Math.min(10, options.slots));
    this.#self = options.self;
    this.#silentMs = options.silentMs ?? 1000;
    this.#producer = new Array(this.size).fill(null);
    this.#participant = new Array(this.size).fill(null);
    this.#silentSince = new Float64Array(this.size).fill(-1);
  }

  /** Producer id carried by each slot (null: none). */
  get producers(): readonly (string | null)[] {
    return this.#producer;
  }

  /** Participant heard in each slot (null: none). */
  get participants(): readonly (string | null)[] {
    return this.#participant;
  }

  /**
   * Applies the current ranking (loudest first). `exists(id)` tells whether a producer is still
   * in the room. Returns true when any slot changed; each change goes through `bind`.
   */
  update(
    ranking: readonly SpeakerLevel[],
    exists: (producer: string) => boolean,
    nowMs: number,
    bind: SlotBinder,
  ): boolean {
    let changed = false;
    const size = this.size;
    // Slots whose speaker is gone are free now.
    for (let s = 0; s < size; s++) {
      const p = this.#producer[s];
      if (p !== null && !exists(p)) {
        this.#set(s, null, null, bind);
        changed = true;
      }
    }
    // Silence clocks.
    for (let s = 0; s < size; s++) {
      const p = this.#producer[s];
      if (p === null) continue;
      const speaking = ranking.some((r) => r.producer === p);
      if (speaking) this.#silentSince[s] = -1;
      else if (this.#silentSince[s] < 0) this.#silentSince[s] = nowMs;
    }
    // The top N others, in rank order; those already in a slot stay where they are.
    let wanted = 0;
    for (const speaker of ranking) {
      if (wanted >= size) break;
      if (speaker.participant === this.#self) continue;
      wanted++;
      if (this.#producer.includes(speaker.producer)) continue;
      const slot = this.#freeSlot(nowMs);
      if (slot < 0) continue;
      this.#set(slot, speaker.producer, speaker.participant, bind);
      changed = true;
    }
    return changed;
  }

  /** Forgets a producer (unpublished); its slot is free at once. */
  remove(producer: string, bind: SlotBinder): boolean {
    const s = this.#producer.indexOf(producer);
    if (s < 0) return false;
    this.#set(s, null, null, bind);
    return true;
  }

  #freeSlot(nowMs: number): number {
    let best = -1;
    let bestSince = Infinity;
    for (let s = 0; s < this.size; s++) {
      if (this.#producer[s] === null) return s;
      const since = this.#silentSince[s];
      if (since >= 0 && nowMs - since >= this.#silentMs && since < bestSince) {
        best = s;
        bestSince = since;
      }
    }
    return best;
  }

  #set(slot: number, producer: string | null, participant: string | null, bind: SlotBinder) {
    this.#producer[slot] = producer;
    this.#participant[slot] = participant;
    this.#silentSince[slot] = -1;
    bind(slot, producer, participant);
  }
}
