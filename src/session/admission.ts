/**
 * Admission control for new sessions: `--max-sessions`, the memory budget and the forwarding
 * budget (`--max-forward-pps`), with the forwarded-rate measurement it needs. Refusals are
 * CapacityErrors (→ 503 + Retry-After).
 */
import { counters } from "../observability/counters.ts";

/** Nothing is being published on the stream (→ 409 + Retry-After for WHEP). */
export class NoSourceError extends Error {
  override name = "NoSourceError";
}

/** Over a configured limit (→ 503 + Retry-After). */
export class CapacityError extends Error {
  override name = "CapacityError";
}

export interface AdmissionOptions {
  maxSessions: number;
  /** Forwarded packets/s beyond which new viewers are refused (0 or absent: no limit). */
  maxForwardPps?: number;
  /** Resident set size (MiB) beyond which new sessions are refused (0 or absent: no limit). */
  maxRssMb?: number;
  /** Reads the process RSS in bytes (injectable for tests). */
  rssBytes?: () => number;
}

/** Window of the forwarded-rate measurement. */
const RATE_WINDOW_MS = 1000;

export class Admission {
  readonly #options: AdmissionOptions;
  #rateStartMs = performance.now();
  #rateStartPackets = 0;
  #forwardedPps = 0;

  constructor(options: AdmissionOptions) {
    this.#options = options;
  }

  /** Packets forwarded to viewers per second, over the last full second (all threads). */
  get forwardedPps(): number {
    return this.#forwardedPps;
  }

  /** Called on the manager's tick: closes a measurement window once a second. */
  sample(nowMs: number): void {
    if (nowMs - this.#rateStartMs < RATE_WINDOW_MS) return;
    const packets = counters.rtpPacketsOut[0] + counters.rtpPacketsOut[1];
    this.#forwardedPps = (packets - this.#rateStartPackets) * 1000 / (nowMs - this.#rateStartMs);
    this.#rateStartPackets = packets;
    this.#rateStartMs = nowMs;
  }

  /** Throws when one more session beside `sessions` (open or negotiating) is over a limit. */
  checkSessions(sessions: number): void {
    const max = this.#options.maxSessions;
    if (sessions >= max) throw new CapacityError(`the server is at its limit of ${max} sessions`);
    const maxRssMb = this.#options.maxRssMb ?? 0;
    if (maxRssMb > 0) {
      const rssMb = (this.#options.rssBytes ?? (() => Deno.memoryUsage().rss))() / (1 << 20);
      if (rssMb > maxRssMb) {
        throw new CapacityError(
          `the server uses ${Math.round(rssMb)} MiB, over its budget of ${maxRssMb} MiB`,
        );
      }
    }
  }

  /**
   * Admission of one more viewer under `maxForwardPps`: the measured forwarded rate plus what
   * an average viewer costs must stay under the limit (a viewer of a stream with no viewers
   * yet is admitted while the rate is under the limit).
   */
  checkForwardBudget(viewers: number): void {
    const max = this.#options.maxForwardPps ?? 0;
    if (max <= 0) return;
    const perViewer = viewers > 0 ? this.#forwardedPps / viewers : 0;
    if (this.#forwardedPps + perViewer > max) {
      throw new CapacityError(
        `forwarding ${Math.round(this.#forwardedPps)} packets/s, at its limit of ${max}`,
      );
    }
  }
}
