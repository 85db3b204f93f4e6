/**
 * One stream key: the live publisher's producers and the consumers fed from them.
 *
 * A stream outlives its publishers: when OBS reconnects (a new POST, often without DELETE) the
 * new producers replace the old ones and every consumer is re-bound, keeping its output SSRC,
 * sequence and timestamp space, so viewers carry on at the new publisher's first key frame.
 */
import type { Consumer } from "./consumer.ts";
import type { Producer } from "./producer.ts";

export class Stream {
  readonly name: string;
  producers: Producer[] = [];
  readonly consumers: Set<Consumer> = new Set();
  /** When the current publisher went live (ms since epoch), or -1. */
  liveSinceMs = -1;

  constructor(name: string) {
    this.name = name;
  }

  get live(): boolean {
    return this.producers.length > 0;
  }

  producer(kind: "audio" | "video"): Producer | undefined {
    return this.producers.find((p) => p.kind === kind);
  }

  /**
   * Installs a new publisher's producers. Consumers whose kind and codec the new publisher
   * still carries are re-bound; the others are returned (their viewers must renegotiate).
   */
  replaceProducers(producers: Producer[]): Consumer[] {
    const orphans: Consumer[] = [];
    for (const old of this.producers) old.close();
    this.producers = producers;
    this.liveSinceMs = producers.length > 0 ? Date.now() : -1;
    for (const consumer of this.consumers) {
      const next = producers.find((p) => p.kind === consumer.kind);
      if (next && next.codecName === consumer.producer.codecName) consumer.rebind(next);
      else if (producers.length > 0) orphans.push(consumer);
    }
    return orphans;
  }

  /** The publisher left: producers close, consumers stay (idle) until their viewers leave. */
  clearProducers(producers: Producer[]): boolean {
    if (this.producers !== producers) return false;
    for (const p of producers) p.close();
    this.producers = [];
    this.liveSinceMs = -1;
    return true;
  }
}
