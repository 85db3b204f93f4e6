/**
 * Dynacast: a publisher encodes only the simulcast layers somebody needs (rooms.md §8; LiveKit's
 * dynacast, tgcalls' per-participant quality requests). Per video producer, the demand is the
 * highest `maxHeight` any subscriber asks for: receiver constraints, not bandwidth, since one
 * congested subscriber must not turn layers off for everyone. The publisher is told a
 * `maxHeight`; it keeps each encoding up to the first at or above it (the SDK sets the others'
 * `active` to false), and 0 keeps none.
 *
 * Up at once (with a key-frame request by the owner, so the resumed layer starts cleanly), down
 * only after the demand has stayed lower for `downDelayMs` (2 s as tgcalls; LiveKit waits 5 s),
 * so a tile resized back and forth does not restart an encoder each time.
 *
 * WHIP publishers cannot be told (no signalling channel back): the Router skips them.
 */

export interface DynacastOptions {
  /** A lower demand must last this long before the publisher is told (default 2000 ms). */
  downDelayMs?: number;
}

/** The constraint state of one video producer. */
export class Dynacast {
  readonly #downDelayMs: number;
  /** What the publisher was last told (-1: nothing yet; Infinity: no limit). */
  #constraint = -1;
  #lowerSinceMs = -1;

  constructor(options: DynacastOptions = {}) {
    this.#downDelayMs = options.downDelayMs ?? 2000;
  }

  /** The max height in force (-1 before the first update). */
  get constraint(): number {
    return this.#constraint;
  }

  /**
   * Feeds the current demand (highest height wanted; 0 none; Infinity any). Returns the new
   * constraint when the publisher must be told, else -1.
   */
  update(demandHeight: number, nowMs: number): number {
    const current = this.#constraint;
    if (demandHeight === current) {
      this.#lowerSinceMs = -1;
      return -1;
    }
    if (current < 0 || demandHeight > current) {
      this.#constraint = demandHeight;
      this.#lowerSinceMs = -1;
      return demandHeight;
    }
    if (this.#lowerSinceMs < 0) this.#lowerSinceMs = nowMs;
    if (nowMs - this.#lowerSinceMs < this.#downDelayMs) return -1;
    this.#constraint = demandHeight;
    this.#lowerSinceMs = -1;
    return demandHeight;
  }
}
