/**
 * Outbound packet buffers for UDP sends, shared by every transport.
 *
 * Deno's `node:dgram` reads the buffer after `send()` returns (measured 2026-11-23: a buffer
 * rewritten right after `send` arrived rewritten in 368 of 368 packets), so a send buffer
 * cannot be reused until its callback runs. One slab of MTU-sized slots with a free list
 * serves all sockets; each socket bounds how many of them it may hold (see UdpLink), which is
 * the per-viewer send queue: when it is full the packet is dropped and counted, never queued
 * without end.
 */

/** Bytes per slot: a 1500-byte MTU datagram plus room for the SRTP/SRTCP trailer. */
export const SLOT_SIZE = 1536;

export class SendPool {
  readonly #slab: Uint8Array;
  readonly #views: Uint8Array[];
  readonly #free: Int32Array;
  #freeCount: number;

  constructor(slots = 16384) {
    this.#slab = new Uint8Array(slots * SLOT_SIZE);
    this.#views = [];
    for (let i = 0; i < slots; i++) {
      this.#views.push(this.#slab.subarray(i * SLOT_SIZE, (i + 1) * SLOT_SIZE));
    }
    this.#free = new Int32Array(slots);
    for (let i = 0; i < slots; i++) this.#free[i] = slots - 1 - i;
    this.#freeCount = slots;
  }

  /** A free slot index, or -1 when every slot is in flight (overload). */
  acquire(): number {
    return this.#freeCount === 0 ? -1 : this.#free[--this.#freeCount];
  }

  release(slot: number): void {
    this.#free[this.#freeCount++] = slot;
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
