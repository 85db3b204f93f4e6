/**
 * Outbound packet buffers for UDP sends, shared by every transport.
 *
 * Deno's `node:dgram` reads the buffer after `send()` returns (measured 2026-11-23: a buffer
 * rewritten right after `send` arrived rewritten in 368 of 368 packets), so a send buffer
 * cannot be reused until its callback runs. One slab of MTU-sized slots with a free list
 * serves all sockets. Each slot has its own completion callback, made once at start: a
 * completion frees exactly the slot it belongs to, in whatever order completions arrive
 * (they are not FIFO under load), and no closure is made per packet.
 */

/** Bytes per slot: a 1500-byte MTU datagram plus room for the SRTP/SRTCP trailer. */
export const SLOT_SIZE = 1536;

/**
 * Slots in the process-wide pool: every datagram handed to the socket and not yet completed.
 *
 * This is the server's whole send queue, so it bounds memory under overload. Deno's
 * `node:dgram` copies each datagram into a fresh buffer and keeps it, with a promise, until
 * its I/O thread has sent it; with 16384 slots an overloaded server (twice its clean load,
 * measured 2026-11-23 on 2 cores) kept the pool exhausted, so 16384 copies waited in Deno's
 * queue (about 0.7 s of sending), outlived young-generation GCs and piled up as external
 * memory until a full GC: RSS peaked at 450 MB. With 2048 slots the same load peaked at
 * 362 MB with the same delivery. At a clean load the pool never held more than a few dozen
 * slots at the 250 ms samples; 4096 leaves room for a key frame fanned out to every viewer
 * (about 90 packets × 40 viewers) while keeping the queue, and its copies, a few MB.
 */
export const DEFAULT_SLOTS = 4096;

/** Who sent a slot; told when its send completes. */
export interface SlotOwner {
  onSendComplete(error: Error | null): void;
}

export class SendPool {
  readonly #slab: Uint8Array;
  readonly #views: Uint8Array[];
  readonly #free: Int32Array;
  #freeCount: number;
  /** The link a slot was sent for, while the socket may still read it; null otherwise. */
  readonly #owners: (SlotOwner | null)[];
  readonly #callbacks: ((error: Error | null) => void)[];

  constructor(slots = DEFAULT_SLOTS) {
    this.#slab = new Uint8Array(slots * SLOT_SIZE);
    this.#views = [];
    this.#callbacks = [];
    this.#owners = new Array(slots).fill(null);
    for (let i = 0; i < slots; i++) {
      this.#views.push(this.#slab.subarray(i * SLOT_SIZE, (i + 1) * SLOT_SIZE));
      this.#callbacks.push((error) => this.#complete(i, error));
    }
    this.#free = new Int32Array(slots);
    for (let i = 0; i < slots; i++) this.#free[i] = slots - 1 - i;
    this.#freeCount = slots;
  }

  /** A free slot index, or -1 when every slot is in flight (overload). */
  acquire(): number {
    return this.#freeCount === 0 ? -1 : this.#free[--this.#freeCount];
  }

  /** Gives back a slot that was acquired but not sent. */
  release(slot: number): void {
    this.#owners[slot] = null;
    this.#free[this.#freeCount++] = slot;
  }

  /** Marks a slot as handed to a socket; returns the callback to pass to `send`. */
  sending(slot: number, owner: SlotOwner): (error: Error | null) => void {
    this.#owners[slot] = owner;
    return this.#callbacks[slot];
  }

  #complete(slot: number, error: Error | null): void {
    const owner = this.#owners[slot];
    if (owner === null) return;
    this.release(slot);
    owner.onSendComplete(error);
  }

  /**
   * Frees every slot still in flight for `owner` (its socket closed and may never call back).
   * A completion arriving later finds the slot free and does nothing.
   */
  abandon(owner: SlotOwner): number {
    let freed = 0;
    for (let slot = 0; slot < this.#owners.length; slot++) {
      if (this.#owners[slot] === owner) {
        this.release(slot);
        freed++;
      }
    }
    return freed;
  }

  /** The slot's buffer (a stable view; no allocation per call). */
  view(slot: number): Uint8Array {
    return this.#views[slot];
  }

  get available(): number {
    return this.#freeCount;
  }

  get capacity(): number {
    return this.#views.length;
  }
}

/** The process-wide pool. */
export const sendPool: SendPool = new SendPool();
