/**
 * Key-frame requests (PLI, or FIR where only `ccm fir` is negotiated) toward a publisher, per
 * layer SSRC and shared by every viewer of the producer (simulcast.md §2.2): one request per
 * throttle interval however many viewers switch at once, repeated while the key frame is still
 * pending. Intervals: 500 ms for the lowest layer, 1 s for the others (LiveKit
 * `DefaultPLIThrottleConfig`; Janus sends at most one per second).
 *
 * The sink is bound once at construction; `request` and `tick` allocate nothing after a
 * layer's entry exists (entries are made by `addLayer`, or on the first request for an SSRC).
 *
 * @module
 */

/** Sends one PLI (or FIR when `useFir`) for `ssrc`; the RTCP writer owns FIR sequence numbers. */
export type KeyframeSink = (ssrc: number, useFir: boolean) => void;

/** Options of {@link KeyframeRequester}. */
export interface KeyframeRequesterOptions {
  /** Throttle for the lowest layer (default 500 ms). */
  lowestIntervalMs?: number;
  /** Throttle for the other layers (default 1000 ms). */
  otherIntervalMs?: number;
}

class Entry {
  lastSentMs = -Infinity;
  pending = false;
  pendingSinceMs = -1;
  constructor(public lowest: boolean, public useFir: boolean) {}
}

/**
 * Throttled, shared key-frame requests for one producer.
 *
 * @example
 * const kf = new KeyframeRequester((ssrc, fir) => rtcp.sendPli(ssrc, fir));
 * kf.addLayer(ssrc, { lowest: true });
 * kf.request(ssrc, nowMs);   // any number of viewers
 * kf.onKeyFrame(ssrc);       // from the ingest path
 * kf.tick(nowMs);            // every ~100 ms: repeats pending requests
 */
export class KeyframeRequester {
  readonly #send: KeyframeSink;
  readonly #lowestMs: number;
  readonly #otherMs: number;
  readonly #layers = new Map<number, Entry>();

  /** Requests sent to the publisher. */
  requestsSent = 0;
  /** Requests asked for (by viewers, layer switches, NACK resets). */
  requestsAsked = 0;

  constructor(send: KeyframeSink, opts: KeyframeRequesterOptions = {}) {
    this.#send = send;
    this.#lowestMs = opts.lowestIntervalMs ?? 500;
    this.#otherMs = opts.otherIntervalMs ?? 1000;
  }

  /** Registers a layer. `lowest` picks the shorter throttle; `useFir` sends FIR instead of PLI. */
  addLayer(ssrc: number, opts: { lowest?: boolean; useFir?: boolean } = {}): void {
    const e = this.#layers.get(ssrc);
    if (e !== undefined) {
      e.lowest = opts.lowest ?? e.lowest;
      e.useFir = opts.useFir ?? e.useFir;
      return;
    }
    this.#layers.set(ssrc, new Entry(opts.lowest ?? false, opts.useFir ?? false));
  }

  /** Forgets a layer (its SSRC is gone). */
  removeLayer(ssrc: number): void {
    this.#layers.delete(ssrc);
  }

  /** Whether a request for `ssrc` is waiting for its key frame. */
  isPending(ssrc: number): boolean {
    return this.#layers.get(ssrc)?.pending ?? false;
  }

  /** Asks for a key frame on `ssrc`. Returns true if a request went out now. */
  request(ssrc: number, nowMs: number): boolean {
    this.requestsAsked++;
    let e = this.#layers.get(ssrc);
    if (e === undefined) {
      e = new Entry(false, false);
      this.#layers.set(ssrc, e);
    }
    if (!e.pending) {
      e.pending = true;
      e.pendingSinceMs = nowMs;
    }
    return this.#maybeSend(ssrc, e, nowMs);
  }

  /** A key frame arrived on `ssrc`: stop repeating. */
  onKeyFrame(ssrc: number): void {
    const e = this.#layers.get(ssrc);
    if (e !== undefined) {
      e.pending = false;
      e.pendingSinceMs = -1;
    }
  }

  /** Nobody waits any more (the viewers switched elsewhere or left). */
  cancel(ssrc: number): void {
    this.onKeyFrame(ssrc);
  }

  /** Repeats pending requests whose throttle interval has passed. */
  tick(nowMs: number): void {
    for (const [ssrc, e] of this.#layers) if (e.pending) this.#maybeSend(ssrc, e, nowMs);
  }

  #maybeSend(ssrc: number, e: Entry, nowMs: number): boolean {
    const interval = e.lowest ? this.#lowestMs : this.#otherMs;
    if (nowMs - e.lastSentMs < interval) return false;
    e.lastSentMs = nowMs;
    this.requestsSent++;
    this.#send(ssrc, e.useFir);
    return true;
  }
}
