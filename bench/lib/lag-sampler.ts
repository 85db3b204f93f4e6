/**
 * Event-loop lag of a child process: a 10 ms interval timer records how late each tick fires.
 * The window is reset by the orchestrator at the start of each measurement.
 */
import { percentile } from "./latency-histogram.ts";

export class LagSampler {
  readonly #intervalMs: number;
  #samples: number[] = [];
  #expected = 0;
  #timer: ReturnType<typeof setInterval>;

  constructor(intervalMs = 10) {
    this.#intervalMs = intervalMs;
    this.#expected = performance.now() + intervalMs;
    this.#timer = setInterval(() => {
      const now = performance.now();
      this.#samples.push(Math.max(0, now - this.#expected));
      this.#expected = now + this.#intervalMs;
      if (this.#samples.length > 100_000) this.#samples.splice(0, 50_000);
    }, intervalMs);
  }

  reset(): void {
    this.#samples = [];
  }

  /** p99 and max lag (ms) since the last reset. */
  summary(): { p99Ms: number; maxMs: number } {
    return {
      p99Ms: percentile(this.#samples, 0.99),
      maxMs: this.#samples.reduce((a, b) => Math.max(a, b), 0),
    };
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
