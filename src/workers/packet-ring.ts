/**
 * A single-producer, single-consumer ring of RTP packets in a SharedArrayBuffer: the main
 * thread (publishers) writes each inbound packet once per worker, the worker reads it in place.
 *
 * Layout of the buffer (all little-endian, naturally aligned):
 *
 *   header  Int32[8]          head (packets written), tail (packets read), sleeping flag,
 *                              dropped (full or shed by the writer), capacity
 *   meta    Int32[4 × slots]  length, track id, SSRC, flags (RingFlag)
 *   arrival Float64[slots]    arrival time, ms since the Unix epoch (performance.timeOrigin +
 *                              performance.now(): each worker has its own time origin)
 *   data    Uint8[slots × SLOT_BYTES]
 *
 * head and tail are free-running 32-bit counters; `head - tail` (wrapping) is the fill. The
 * writer publishes a slot by storing head after the slot is written, the reader frees it by
 * storing tail after it is consumed (Atomics: sequentially consistent, so the slot bytes are
 * visible before the index that covers them).
 *
 * Waking: a reader that finds the ring empty sets `sleeping`, re-checks head and waits on it
 * with Atomics.waitAsync. `write` never wakes it: the writer calls `wakeReader` when it chooses
 * (WorkerPool coalesces wakes to one per ring per millisecond, see wake-coalescer.ts),
 * because a wake costs the reader's thread about 70 µs of CPU, several packets' worth of work.
 * A busy reader costs the writer one atomic load per packet and no notify.
 */

/**
 * Bytes per slot: the size of a transport's receive buffer, so that a writer can copy the
 * whole buffer with one `set` (a memcpy) instead of allocating a subarray for each packet.
 */
export const RING_SLOT_BYTES = 1600;

const HEAD = 0;
const TAIL = 1;
const SLEEPING = 2;
const DROPPED = 3;
const CAPACITY = 4;
const HEADER_INTS = 8;
const META_INTS = 4;

/**
 * Flags of a ring slot. Bits 2..4 hold 1 + the index of the packet's rid in its producer's
 * rids (0: no rid): the worker's mirror learns simulcast layers from them (Producer.learnLayer).
 */
export const RingFlag = {
  keyframe: 1,
  audio: 2,
  ridShift: 2,
  ridMask: 7,
} as const;

/** Receives packets from `PacketRing.drain`; the view is valid only during the call. */
export interface RingSink {
  onRingPacket(
    buf: Uint8Array,
    len: number,
    trackId: number,
    ssrc: number,
    flags: number,
    arrivalEpochMs: number,
  ): void;
}

/** Bytes a ring of `slots` slots needs. */
export function ringBytes(slots: number): number {
  return HEADER_INTS * 4 + slots * META_INTS * 4 + slots * 8 + slots * RING_SLOT_BYTES;
}

export class PacketRing {
  /** The shared memory; post it to the other side and `new PacketRing(buffer)` there. */
  readonly buffer: SharedArrayBuffer;
  readonly capacity: number;
  readonly #header: Int32Array;
  readonly #meta: Int32Array;
  readonly #arrival: Float64Array;
  readonly #views: Uint8Array[];
  readonly #mask: number;

  /**
   * Creates a ring of `slots` (a power of two) slots, or attaches to a ring another thread
   * created when given its buffer.
   */
  constructor(slotsOrBuffer: number | SharedArrayBuffer) {
    let buffer: SharedArrayBuffer;
    let slots: number;
    if (typeof slotsOrBuffer === "number") {
      slots = slotsOrBuffer;
      if (slots < 2 || (slots & (slots - 1)) !== 0) {
        throw new RangeError(`ring slots must be a power of two ≥ 2, got ${slots}`);
      }
      buffer = new SharedArrayBuffer(ringBytes(slots));
      new Int32Array(buffer, 0, HEADER_INTS)[CAPACITY] = slots;
    } else {
      buffer = slotsOrBuffer;
      slots = new Int32Array(buffer, 0, HEADER_INTS)[CAPACITY];
    }
    this.buffer = buffer;
    this.capacity = slots;
    this.#mask = slots - 1;
    let off = 0;
    this.#header = new Int32Array(buffer, off, HEADER_INTS);
    off += HEADER_INTS * 4;
    this.#meta = new Int32Array(buffer, off, slots * META_INTS);
    off += slots * META_INTS * 4;
    this.#arrival = new Float64Array(buffer, off, slots);
    off += slots * 8;
    this.#views = [];
    for (let i = 0; i < slots; i++) {
      this.#views.push(new Uint8Array(buffer, off + i * RING_SLOT_BYTES, RING_SLOT_BYTES));
    }
  }

  /** Packets written and not yet read. */
  get fill(): number {
    return (Atomics.load(this.#header, HEAD) - Atomics.load(this.#header, TAIL)) | 0;
  }

  /** fill / capacity, 0..1. */
  get occupancy(): number {
    return this.fill / this.capacity;
  }

  /** Packets the writer dropped or shed (ring full or over a priority threshold). */
  get dropped(): number {
    return Atomics.load(this.#header, DROPPED);
  }

  /** Counts a packet the writer chose not to write (shed by priority). */
  countDrop(): void {
    Atomics.add(this.#header, DROPPED, 1);
  }

  /**
   * Writer: copies buf[off..off+len) into the next slot. False (and counted) when the ring is
   * full or the packet does not fit a slot. Does not wake a sleeping reader: see `wakeReader`.
   */
  write(
    buf: Uint8Array,
    off: number,
    len: number,
    trackId: number,
    ssrc: number,
    flags: number,
    arrivalEpochMs: number,
  ): boolean {
    const header = this.#header;
    const head = Atomics.load(header, HEAD);
    if (((head - Atomics.load(header, TAIL)) | 0) >= this.capacity || len > RING_SLOT_BYTES) {
      Atomics.add(header, DROPPED, 1);
      return false;
    }
    const slot = head & this.#mask;
    // Whole-buffer copy when it fits: a memcpy of ≤ 1600 bytes beats allocating a subarray.
    if (off === 0 && buf.length <= RING_SLOT_BYTES) this.#views[slot].set(buf);
    else this.#views[slot].set(buf.subarray(off, off + len));
    const m = slot * META_INTS;
    const meta = this.#meta;
    meta[m] = len;
    meta[m + 1] = trackId;
    meta[m + 2] = ssrc | 0;
    meta[m + 3] = flags;
    this.#arrival[slot] = arrivalEpochMs;
    Atomics.store(header, HEAD, (head + 1) | 0);
    return true;
  }

  /** Writer: true when the reader sleeps in `waitForData` and needs `wakeReader` to go on. */
  get readerSleeping(): boolean {
    return Atomics.load(this.#header, SLEEPING) !== 0;
  }

  /**
   * Writer: wakes the reader if it sleeps (it then drains everything written so far). True
   * when it did. The reader announces sleep before its final check of head, so a packet written
   * after that check is never missed as long as the writer calls this after seeing the flag.
   */
  wakeReader(): boolean {
    const header = this.#header;
    if (Atomics.load(header, SLEEPING) === 0) return false;
    Atomics.store(header, SLEEPING, 0);
    Atomics.notify(header, HEAD);
    return true;
  }

  /**
   * Reader: hands up to `max` packets to the sink in order and frees their slots. Returns how
   * many were read.
   */
  drain(sink: RingSink, max = 0x7fffffff): number {
    const header = this.#header;
    const head = Atomics.load(header, HEAD);
    let tail = Atomics.load(header, TAIL);
    let n = 0;
    const meta = this.#meta;
    while (tail !== head && n < max) {
      const slot = tail & this.#mask;
      const m = slot * META_INTS;
      sink.onRingPacket(
        this.#views[slot],
        meta[m],
        meta[m + 1],
        meta[m + 2] >>> 0,
        meta[m + 3],
        this.#arrival[slot],
      );
      tail = (tail + 1) | 0;
      n++;
      // Free slots as we go so a writer near full sees room early.
      if ((n & 63) === 0) Atomics.store(header, TAIL, tail);
    }
    Atomics.store(header, TAIL, tail);
    return n;
  }

  /**
   * Reader: resolves when the ring may hold packets (immediately if it already does). Uses
   * Atomics.waitAsync; the writer's `wakeReader` ends it. `timeoutMs` bounds the wait.
   */
  waitForData(timeoutMs = Infinity): Promise<unknown> | undefined {
    const header = this.#header;
    const head = Atomics.load(header, HEAD);
    if (head !== Atomics.load(header, TAIL)) return undefined;
    Atomics.store(header, SLEEPING, 1);
    // Re-check after announcing sleep: a write between the two loads changed head, and the
    // wait below then returns "not-equal" at once instead of missing the wake-up.
    const result = Atomics.waitAsync(header, HEAD, head, timeoutMs);
    if (!result.async) {
      Atomics.store(header, SLEEPING, 0);
      return undefined;
    }
    return result.value;
  }

  /** Wakes a reader waiting in `waitForData` (used at shutdown). */
  wake(): void {
    Atomics.store(this.#header, SLEEPING, 0);
    Atomics.notify(this.#header, HEAD);
  }
}
