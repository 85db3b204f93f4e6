/**
 * Event-loop lag, measured with a timer: how late each tick of a fixed interval fires.
 *
 * prom-client's default collector cannot do this on Deno: it relies on Node's
 * `perf_hooks.monitorEventLoopDelay`, which Deno stubs (min 9.2e9 s, mean NaN as of Deno 2.9),
 * and its fallback schedules a `setImmediate` per scrape that outlives the scrape. A 20 ms timer
 * costs next to nothing and sees exactly what a forwarded packet would see: time spent blocked.
 */

import { Buckets, FastHistogram } from "./fast-histogram.ts";

/** Timer functions, injectable so tests drive ticks by hand. */
export interface LagTimers {
  setInterval(fn: () => void, ms: number): TimerId;
  clearInterval(id: TimerId): void;
}

/** Whatever the timer functions return (a number on Deno; typed as Node's when node types load). */
export type TimerId = ReturnType<typeof setInterval>;

/** Options of {@link EventLoopLagMonitor}. */
export interface EventLoopLagOptions {
  /** Sampling interval; default 20 ms. */
  intervalMs?: number;
  /** Samples kept for `p99Seconds`/`maxSeconds`; default 250 (5 s at 20 ms). */
  windowSamples?: number;
  /** Monotonic clock in ms; default `performance.now`. */
  nowMs?: () => number;
  /** Default: the global timers, unref'd so the monitor never keeps the process alive. */
  timers?: LagTimers;
}

const defaultTimers: LagTimers = {
  setInterval(fn, ms) {
    const id = setInterval(fn, ms);
    Deno.unrefTimer(Number(id));
    return id;
  },
  clearInterval(id) {
    clearInterval(id);
  },
};

/**
 * Samples event-loop lag every `intervalMs`. `histogram` is cumulative since construction (it
 * backs `quetzal_event_loop_lag_seconds`); `p99Seconds` and `maxSeconds` cover the last
 * `windowSamples` ticks, for overload decisions (for example refusing new sessions).
 *
 * @example using lag = new EventLoopLagMonitor(); lag.start(); // … lag.p99Seconds
 */
export class EventLoopLagMonitor {
  /** Lag histogram, seconds, since construction. */
  readonly histogram: FastHistogram = new FastHistogram(Buckets.eventLoopLagSeconds);
  readonly intervalMs: number;
  readonly #window: Float64Array;
  readonly #scratch: Float64Array;
  #windowLength = 0;
  #windowNext = 0;
  readonly #nowMs: () => number;
  readonly #timers: LagTimers;
  #timer: TimerId | undefined;
  #lastMs = 0;
  readonly #tick = () => this.sample(this.#nowMs());

  constructor(opts: EventLoopLagOptions = {}) {
    this.intervalMs = opts.intervalMs ?? 20;
    if (!(this.intervalMs > 0)) throw new RangeError("intervalMs must be positive");
    const windowSamples = opts.windowSamples ?? 250;
    this.#window = new Float64Array(windowSamples);
    this.#scratch = new Float64Array(windowSamples);
    this.#nowMs = opts.nowMs ?? (() => performance.now());
    this.#timers = opts.timers ?? defaultTimers;
  }

  /** True between `start()` and `stop()`. */
  get running(): boolean {
    return this.#timer !== undefined;
  }

  /** Starts sampling; idempotent. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#lastMs = this.#nowMs();
    this.#timer = this.#timers.setInterval(this.#tick, this.intervalMs);
  }

  /** Stops sampling and releases the timer; idempotent. Samples already taken are kept. */
  stop(): void {
    if (this.#timer === undefined) return;
    this.#timers.clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Same as `stop()`, for `using`. */
  [Symbol.dispose](): void {
    this.stop();
  }

  /**
   * One tick at `nowMs`: the lag is how much later than `intervalMs` after the previous tick it
   * fired. Called by the timer; public so a caller with its own loop can feed it.
   */
  sample(nowMs: number): void {
    const lagMs = nowMs - this.#lastMs - this.intervalMs;
    this.#lastMs = nowMs;
    const lagSeconds = lagMs > 0 ? lagMs / 1000 : 0;
    this.histogram.observe(lagSeconds);
    this.#window[this.#windowNext] = lagSeconds;
    this.#windowNext = (this.#windowNext + 1) % this.#window.length;
    if (this.#windowLength < this.#window.length) this.#windowLength++;
  }

  /** 99th percentile of the recent window (nearest rank), seconds; 0 before the first sample. */
  get p99Seconds(): number {
    const n = this.#windowLength;
    if (n === 0) return 0;
    const sorted = this.#scratch.subarray(0, n);
    sorted.set(this.#window.subarray(0, n));
    sorted.sort();
    return sorted[Math.min(n - 1, Math.ceil(0.99 * n) - 1)];
  }

  /** Largest lag in the recent window, seconds; 0 before the first sample. */
  get maxSeconds(): number {
    let max = 0;
    for (let i = 0; i < this.#windowLength; i++) {
      if (this.#window[i] > max) max = this.#window[i];
    }
    return max;
  }
}
