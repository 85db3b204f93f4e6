/**
 * What the two synchronous {@link DatagramLink}s share ({@link SyscallLink} on a session's own
 * socket, {@link MuxLink} on the thread's shared one): outside a send batch a datagram is
 * written into one scratch buffer and sent at once; inside one it is written into the batch's
 * arena and queued in the link's run, which leaves when the batch ends or the run is full.
 * A full socket buffer (EAGAIN/ENOBUFS) drops and counts, as a queue limit would.
 *
 * @module
 */
import { counters, DropReason } from "../observability/counters.ts";
import type { DatagramLink } from "./datagram-link.ts";
import { EAGAIN, ENOBUFS } from "./libc.ts";
import { type BatchedLink, MAX_RUN, sendBatch } from "./send-batch.ts";
import { SLOT_SIZE } from "./send-pool.ts";

/**
 * One isolate sends one datagram at a time, so all links share one buffer. Larger than a slot
 * (and than the 1,600-byte buffers packets are rewritten in) so that SRTP copies a whole source
 * buffer in with one memcpy instead of a byte loop (see srtp-libsrtp.ts): 0.7 µs less per
 * forwarded packet (2.1 → 1.4 µs for a 1,200-byte GCM protect, 2026-12-07).
 */
const scratch = new Uint8Array(Math.max(SLOT_SIZE, 2048));
/** The slot number of `scratch` (the batch's slots are 0 … BATCH_SLOTS − 1). */
const SCRATCH = 0x7fffffff;

export abstract class QueuedLink implements DatagramLink, BatchedLink {
  dropped = 0;
  errors = 0;
  packetsSent = 0;
  bytesSent = 0;
  /** The last errno other than a full buffer, for diagnostics. */
  lastError = 0;
  /** Datagrams queued in the open batch: their slots and lengths (send-batch.ts). */
  readonly #runSlots = new Int32Array(MAX_RUN);
  readonly #runLengths = new Int32Array(MAX_RUN);
  #runCount = 0;

  /** Whether the link still sends. */
  protected abstract get open(): boolean;
  /** Sends scratch[0..length) at once; returns the bytes sent or -errno. */
  protected abstract sendNow(scratch: Uint8Array, length: number): number;
  /** Sends (or hands on) a run of batch slots; reports through sent() and failed(). */
  protected abstract sendRun(slots: Int32Array, lengths: Int32Array, count: number): void;

  acquire(): number {
    if (!this.open) return -1;
    return sendBatch.active ? sendBatch.acquire() : SCRATCH;
  }

  view(slot: number): Uint8Array {
    return slot === SCRATCH ? scratch : sendBatch.view(slot);
  }

  send(slot: number, length: number): void {
    if (!this.open) return;
    if (slot !== SCRATCH) {
      const i = this.#runCount++;
      this.#runSlots[i] = slot;
      this.#runLengths[i] = length;
      if (i === 0) sendBatch.markDirty(this);
      else if (i + 1 === MAX_RUN) this.flushRun();
      return;
    }
    const n = this.sendNow(scratch, length);
    if (n >= 0) this.sent(1, length);
    else this.failed(1, -n);
  }

  /** Sends the datagrams queued in the batch (called by the batch at its end). */
  flushRun(): void {
    const count = this.#runCount;
    if (count === 0) return;
    // Still marked dirty in the batch: an empty run there is a no-op.
    this.#runCount = 0;
    if (this.open) this.sendRun(this.#runSlots, this.#runLengths, count);
  }

  sent(datagrams: number, bytes: number): void {
    this.packetsSent += datagrams;
    this.bytesSent += bytes;
  }

  failed(datagrams: number, errno: number): void {
    if (isQueueFull(errno)) {
      this.dropped += datagrams;
      counters.packetsDropped[DropReason.queueFull] += datagrams;
    } else {
      this.errors += datagrams;
      this.lastError = errno;
      counters.packetsDropped[DropReason.sendError] += datagrams;
    }
  }

  discard(_slot: number): void {}

  get queued(): number {
    return 0;
  }

  abstract close(): void;
}

/** Whether an errno is a full queue (dropped, as a queue limit would) rather than an error. */
export function isQueueFull(errno: number): boolean {
  return errno === EAGAIN || errno === ENOBUFS;
}
