/**
 * Copies of RTP packets by sequence number, for answering NACKs: one preallocated slab of
 * `capacity` MTU-sized slots plus struct-of-arrays metadata, indexed by `seq & (capacity − 1)`
 * (the shape of LiveKit's `sequencer.go` ring and pion's power-of-two `receive_log.go`).
 *
 * Hot path: `put` is one copy and five array stores; `find` is one compare. Nothing allocates
 * after construction. A slot is overwritten by the packet `capacity` numbers
 * later, so the cache holds the last `capacity` sequence numbers; callers that need an age limit
 * check `storedAtMs`.
 *
 * @module
 */

/**
 * Ring of recently sent (or received) packets keyed by 16-bit sequence number.
 *
 * @example
 * const cache = new RetransmissionCache(512);
 * cache.put(seq, buf, len, tag, nowMs);
 * const slot = cache.find(nackedSeq);
 * if (slot >= 0 && cache.markResent(slot, nowMs, rttMs)) send(cache.buffer(slot));
 */
export class RetransmissionCache {
  /** Number of slots (a power of two). */
  readonly capacity: number;
  /** Largest packet a slot holds, in bytes. */
  readonly mtu: number;

  #mask: number;
  #slab: Uint8Array;
  #views: Uint8Array[];
  /** Sequence number stored in each slot, or -1 if empty. */
  #seqs: Int32Array;
  #lengths: Uint16Array;
  #tags: Uint32Array;
  #storedAtMs: Float64Array;
  #resentAtMs: Float64Array;

  /**
   * @param capacity Slots, a power of two from 1 to 32768 (else RangeError); at most half the
   * sequence space so that an old slot can never be mistaken for a number one wrap later.
   * @param mtu Largest packet in bytes (1..65535), default 1500.
   */
  constructor(capacity: number, mtu = 1500) {
    if (
      !Number.isInteger(capacity) || capacity < 1 || capacity > 32768 ||
      (capacity & (capacity - 1)) !== 0
    ) {
      throw new RangeError(`capacity must be a power of two in [1, 32768], got ${capacity}`);
    }
    if (!Number.isInteger(mtu) || mtu < 1 || mtu > 65535) {
      throw new RangeError(`mtu must be an integer in [1, 65535], got ${mtu}`);
    }
    this.capacity = capacity;
    this.mtu = mtu;
    this.#mask = capacity - 1;
    this.#slab = new Uint8Array(capacity * mtu);
    this.#views = new Array(capacity);
    this.#seqs = new Int32Array(capacity).fill(-1);
    this.#lengths = new Uint16Array(capacity);
    this.#tags = new Uint32Array(capacity);
    this.#storedAtMs = new Float64Array(capacity);
    this.#resentAtMs = new Float64Array(capacity).fill(-Infinity);
    // One view per slot, made once, so buffer() never allocates.
    for (let i = 0; i < capacity; i++) this.#views[i] = this.#slab.subarray(i * mtu, (i + 1) * mtu);
  }

  /**
   * Copies `buf[0..len)` in under `seq` (16-bit), with one 32-bit user value (for example the
   * source sequence number or SSRC) and the time it was stored. Returns false, and leaves the
   * slot empty, if `len` exceeds the MTU.
   */
  put(seq: number, buf: Uint8Array, len: number, tag: number, nowMs: number): boolean {
    const slot = seq & this.#mask;
    if (len > this.mtu || len < 0) {
      this.#seqs[slot] = -1;
      return false;
    }
    const start = slot * this.mtu;
    if (len === buf.length) {
      this.#slab.set(buf, start);
    } else {
      // A byte loop rather than buf.subarray(0, len), which would allocate a view per packet.
      const slab = this.#slab;
      for (let i = 0; i < len; i++) slab[start + i] = buf[i];
    }
    this.#seqs[slot] = seq & 0xffff;
    this.#lengths[slot] = len;
    this.#tags[slot] = tag;
    this.#storedAtMs[slot] = nowMs;
    this.#resentAtMs[slot] = -Infinity;
    return true;
  }

  /** Slot index for `seq`, or -1 if not cached (evicted or never stored). */
  find(seq: number): number {
    const slot = seq & this.#mask;
    return this.#seqs[slot] === (seq & 0xffff) ? slot : -1;
  }

  /**
   * The slot's whole MTU-sized view into the slab; the packet is its first `length(slot)` bytes.
   * Valid until the next `put` into the same slot.
   */
  buffer(slot: number): Uint8Array {
    return this.#views[slot];
  }

  /** Bytes stored in the slot. */
  length(slot: number): number {
    return this.#lengths[slot];
  }

  /** The user value stored with the packet. */
  tag(slot: number): number {
    return this.#tags[slot];
  }

  /** `nowMs` given to `put`. */
  storedAtMs(slot: number): number {
    return this.#storedAtMs[slot];
  }

  /**
   * Per-packet resend throttle: true, and records `nowMs`, if this slot was not resent within
   * `minIntervalMs`. Answer each NACKed packet at most once per RTT: repeated NACKs for one
   * packet must not multiply the retransmission rate into a viewer that is already congested.
   */
  markResent(slot: number, nowMs: number, minIntervalMs: number): boolean {
    if (nowMs - this.#resentAtMs[slot] < minIntervalMs) return false;
    this.#resentAtMs[slot] = nowMs;
    return true;
  }

  /** Empties every slot. */
  clear(): void {
    this.#seqs.fill(-1);
    this.#lengths.fill(0);
    this.#resentAtMs.fill(-Infinity);
  }
}
