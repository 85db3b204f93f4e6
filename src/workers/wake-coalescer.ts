/**
 * Coalesces the writer's wake-ups of sleeping ring readers (issue 6: a wake costs a worker
 * about 70 µs of CPU, and at a few hundred inbound packets/s a worker that is woken for every
 * packet spends more on waking than on forwarding).
 *
 * `packetWritten(ring)` after each write: when the ring's reader sleeps, the ring is queued and
 * one timer, armed at most once per `delayMs`, wakes every queued reader. A frame's packets
 * arrive in a burst, so a worker wakes about once per frame per millisecond instead of once
 * per packet; packets wait at most `delayMs` (plus timer slack) longer. A reader that is awake
 * (draining) needs no wake: it finds the new packets when it next checks head.
 */
import type { PacketRing } from "./packet-ring.ts";

/** setTimeout/clearTimeout, injectable for tests. */
export interface WakeTimers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

const SYSTEM_TIMERS: WakeTimers = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (handle) => clearTimeout(handle as number),
};

export class WakeCoalescer {
  /** Milliseconds between the first packet for a sleeping reader and its wake-up; 0 = at once. */
  readonly delayMs: number;
  readonly #timers: WakeTimers;
  readonly #pending: PacketRing[] = [];
  readonly #flush: () => void;
  #timer: unknown = undefined;
  /** Wake-ups sent and wake-ups saved (packets written to a sleeping reader already queued). */
  wakes = 0;
  coalesced = 0;

  constructor(delayMs = 1, timers: WakeTimers = SYSTEM_TIMERS) {
    this.delayMs = delayMs;
    this.#timers = timers;
    this.#flush = () => {
      this.#timer = undefined;
      this.flush();
    };
  }

  /** After writing to `ring`: schedules a wake of its reader if it sleeps. */
  packetWritten(ring: PacketRing): void {
    if (!ring.readerSleeping) return;
    if (this.delayMs <= 0) {
      if (ring.wakeReader()) this.wakes++;
      return;
    }
    const pending = this.#pending;
    for (let i = 0; i < pending.length; i++) {
      if (pending[i] === ring) {
        this.coalesced++;
        return;
      }
    }
    pending.push(ring);
    if (this.#timer === undefined) this.#timer = this.#timers.set(this.#flush, this.delayMs);
  }

  /** Wakes every queued reader now. */
  flush(): void {
    const pending = this.#pending;
    for (let i = 0; i < pending.length; i++) {
      if (pending[i].wakeReader()) this.wakes++;
    }
    pending.length = 0;
  }

  /** Cancels the timer and wakes what is queued (nothing is left waiting). */
  close(): void {
    if (this.#timer !== undefined) this.#timers.clear(this.#timer);
    this.#timer = undefined;
    this.flush();
  }
}
