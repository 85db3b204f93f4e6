/**
 * Per viewer transport: what was sent under each transport-wide sequence number, for the
 * bandwidth estimator to pair with the viewer's TWCC feedback (simulcast.md §3.1).
 *
 * Hot path: `onSent` runs for every packet sent to the viewer (media, RTX, padding): four
 * typed-array stores, no allocation. Memory is a fixed ring indexed by `seq & mask`; a slot is
 * valid only while it still holds that sequence number, so a lookup never returns a packet
 * 65536 sequence numbers old.
 *
 * @module
 */

const VALID = 1;
const PROBE = 2;
const ACKED = 4;

/**
 * Ring of (TWCC seq → send time µs, size bytes, probe flag, acknowledged flag).
 *
 * @example
 * const history = new SendHistory();
 * history.onSent(twccSeq, nowUs, packetBytes, false);
 * const i = history.find(seqFromFeedback); if (i >= 0) history.sendUs(i);
 */
export class SendHistory {
  readonly #mask: number;
  readonly #seq: Uint16Array;
  readonly #sendUs: Float64Array;
  readonly #size: Uint32Array;
  readonly #flags: Uint8Array;

  /** Packets recorded. */
  packetsSent = 0;
  /** Bytes recorded. */
  bytesSent = 0;
  /** Sequence number of the last packet recorded (-1 before the first). */
  lastSeq = -1;

  /** @param capacity ring size, a power of two ≤ 32768 (default 4096: > 2 s at 1500 pkt/s). */
  constructor(capacity = 4096) {
    if (capacity < 16 || capacity > 32768 || (capacity & (capacity - 1)) !== 0) {
      throw new RangeError("capacity must be a power of two between 16 and 32768");
    }
    this.#mask = capacity - 1;
    this.#seq = new Uint16Array(capacity);
    this.#sendUs = new Float64Array(capacity);
    this.#size = new Uint32Array(capacity);
    this.#flags = new Uint8Array(capacity);
  }

  /** Records one sent packet. `sizeBytes` counts the RTP packet (header + payload + padding). */
  onSent(twccSeq: number, sendUs: number, sizeBytes: number, isProbe: boolean): void {
    const seq = twccSeq & 0xffff;
    const slot = seq & this.#mask;
    this.#seq[slot] = seq;
    this.#sendUs[slot] = sendUs;
    this.#size[slot] = sizeBytes;
    this.#flags[slot] = isProbe ? VALID | PROBE : VALID;
    this.packetsSent++;
    this.bytesSent += sizeBytes;
    this.lastSeq = seq;
  }

  /** Slot index of `twccSeq`, or -1 if it was never recorded or has been overwritten. */
  find(twccSeq: number): number {
    const seq = twccSeq & 0xffff;
    const slot = seq & this.#mask;
    return (this.#flags[slot] & VALID) !== 0 && this.#seq[slot] === seq ? slot : -1;
  }

  /** Send time in µs of the packet at `index` (from {@link find}). */
  sendUs(index: number): number {
    return this.#sendUs[index];
  }

  /** Size in bytes of the packet at `index`. */
  sizeBytes(index: number): number {
    return this.#size[index];
  }

  /** Whether the packet at `index` was a probe (padding or RTX copy sent to measure). */
  isProbe(index: number): boolean {
    return (this.#flags[index] & PROBE) !== 0;
  }

  /**
   * Marks the packet at `index` as reported received. Returns false if it already was:
   * feedback may report a packet twice (a late arrival rewinds the receiver's window).
   */
  markAcked(index: number): boolean {
    const f = this.#flags[index];
    if ((f & ACKED) !== 0) return false;
    this.#flags[index] = f | ACKED;
    return true;
  }

  /** Whether the packet at `index` has been reported received. */
  isAcked(index: number): boolean {
    return (this.#flags[index] & ACKED) !== 0;
  }
}
