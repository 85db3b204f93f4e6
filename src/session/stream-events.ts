/**
 * Events a stream key reports to whoever watches it (WHEP server-sent events): publisher up or
 * down, viewer count, layers, reconnect on shutdown. A throwing listener is logged, and the
 * others still hear the event.
 */
import type { Logger } from "../observability/log.ts";

export type StreamEvent =
  | { type: "active" }
  | { type: "inactive" }
  | { type: "viewercount"; viewers: number }
  | { type: "layers" }
  | { type: "reconnect" };

export type StreamListener = (event: StreamEvent) => void;

export class StreamEvents {
  readonly #listeners = new Map<string, Set<StreamListener>>();
  readonly #log: Logger;

  constructor(log: Logger) {
    this.#log = log;
  }

  /** Subscribes to a stream's events; returns the unsubscribe function. */
  subscribe(stream: string, listener: StreamListener): () => void {
    let set = this.#listeners.get(stream);
    if (!set) {
      set = new Set();
      this.#listeners.set(stream, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.#listeners.delete(stream);
    };
  }

  emit(stream: string, event: StreamEvent): void {
    for (const listener of this.#listeners.get(stream) ?? []) {
      try {
        listener(event);
      } catch (error) {
        this.#log.warn("stream event listener failed", { stream, error: String(error) });
      }
    }
  }

  /** Every watched stream hears `event`. */
  emitAll(event: StreamEvent): void {
    for (const stream of [...this.#listeners.keys()]) this.emit(stream, event);
  }

  clear(): void {
    this.#listeners.clear();
  }
}
