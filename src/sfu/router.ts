/**
 * One room's media: its producers by id and the consumers fed from them. A WHIP/WHEP stream key
 * is a room with one publisher (the stream policy: a new publisher replaces the producers and
 * every consumer is re-bound); a group call's room has producers from many participants.
 *
 * Media objects stay inside: owners and mirrors learn what changed from plain-data
 * {@link RouterEvent}s and read {@link RouterSnapshot}s (router-protocol.ts). The main thread's
 * Router holds the publishers' producers; a viewer worker's Router holds mirrors of them, kept in
 * step by the same events.
 *
 * Like mediasoup's Router, it owns its children: `close()` closes every producer, and a Router
 * outlives a publisher so that viewers stay attached while OBS reconnects.
 */
import type { Consumer } from "./consumer.ts";
import type { Producer } from "./producer.ts";
import type { RouterEvent, RouterSnapshot } from "./router-protocol.ts";

export type RouterListener = (event: RouterEvent) => void;

export class Router {
  readonly id: string;
  /** Consumers fed on this thread, whatever their producer. */
  readonly consumers: Set<Consumer> = new Set();
  /** When the current producers went live (ms since the epoch), or -1. */
  liveSinceMs = -1;
  readonly #producers = new Map<string, Producer>();
  readonly #listeners = new Set<RouterListener>();
  readonly #onListenerError: (error: unknown) => void;
  #closed = false;

  /** `onListenerError` hears a listener that threw (the others still run). */
  constructor(id: string, onListenerError: (error: unknown) => void = () => {}) {
    this.id = id;
    this.#onListenerError = onListenerError;
  }

  /** Producers in the order they were added. */
  get producers(): Producer[] {
    return [...this.#producers.values()];
  }

  get live(): boolean {
    return this.#producers.size > 0;
  }

  get closed(): boolean {
    return this.#closed;
  }

  producer(id: string): Producer | undefined {
    return this.#producers.get(id);
  }

  /** The first producer of a kind (WHEP binds its m-lines by kind). */
  producerOfKind(kind: "audio" | "video"): Producer | undefined {
    for (const p of this.#producers.values()) if (p.kind === kind) return p;
    return undefined;
  }

  /** Adds producers (a participant publishing more tracks). */
  addProducers(producers: Producer[]): void {
    if (this.#closed || producers.length === 0) return;
    if (this.#producers.size === 0) this.liveSinceMs = Date.now();
    for (const p of producers) this.#producers.set(p.id, p);
    this.#emit({
      t: "producers",
      router: this.id,
      added: producers.map((p) => p.info),
      removed: [],
    });
  }

  /**
   * Removes and closes producers; their consumers stay (idle) until their subscribers leave or
   * are re-bound. Returns false when none of the ids was here.
   */
  removeProducers(ids: string[]): boolean {
    const removed: string[] = [];
    for (const id of ids) {
      const producer = this.#producers.get(id);
      if (!producer) continue;
      producer.close();
      this.#producers.delete(id);
      removed.push(id);
    }
    if (removed.length === 0) return false;
    if (this.#producers.size === 0) this.liveSinceMs = -1;
    this.#emit({ t: "producers", router: this.id, added: [], removed });
    return true;
  }

  /**
   * The stream policy's publisher change: every producer is replaced by `producers`, and each
   * consumer whose kind and codec the new set still carries is re-bound (same output SSRC,
   * sequence and timestamp space: viewers carry on at the new source's first key frame). The
   * others are returned: their subscribers must renegotiate.
   */
  replaceProducers(producers: Producer[]): Consumer[] {
    const removed = [...this.#producers.keys()];
    for (const old of this.#producers.values()) old.close();
    this.#producers.clear();
    for (const p of producers) this.#producers.set(p.id, p);
    this.liveSinceMs = producers.length > 0 ? Date.now() : -1;
    const orphans: Consumer[] = [];
    for (const consumer of this.consumers) {
      const next = producers.find((p) => p.kind === consumer.kind);
      if (next && next.codecName === consumer.producer.codecName) consumer.rebind(next);
      else if (producers.length > 0) orphans.push(consumer);
    }
    this.#emit({ t: "producers", router: this.id, added: producers.map((p) => p.info), removed });
    return orphans;
  }

  /** Subscribes to this Router's events; returns the unsubscribe function. */
  on(listener: RouterListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  snapshot(): RouterSnapshot {
    return {
      id: this.id,
      liveSinceMs: this.liveSinceMs,
      producers: this.producers.map((p) => p.info),
      consumers: this.consumers.size,
    };
  }

  /** Closes every producer and forgets the consumers (their subscribers close them); idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const p of this.#producers.values()) p.close();
    this.#producers.clear();
    this.consumers.clear();
    this.liveSinceMs = -1;
    this.#emit({ t: "closed", router: this.id });
    this.#listeners.clear();
  }

  #emit(event: RouterEvent): void {
    // A throwing listener must not stop the others, nor the change that caused the event.
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        this.#onListenerError(error);
      }
    }
  }
}
