/**
 * Batched sends for the syscall path: while a batch is open (a receive turn, see
 * receive-drain.ts), each link queues its datagrams in one arena shared by the isolate, and
 * the batch's end sends every link's queue with one `sendmmsg` per link.
 *
 * Why: a `sendto` over FFI costs 3.5–3.75 µs of CPU for a 1,200-byte datagram on loopback;
 * `sendmmsg` of 8 to one socket 2.55–2.6 µs each (measured 2026-12-07, Deno 2.9.6, 2-core AMD
 * EPYC, 200,000 datagrams a round): the syscall entry and exit, the descriptor lookup and the
 * FFI crossing are paid once per call. Each viewer has its own socket, so one publisher packet
 * fanned out gives each socket one datagram: a batch pays off only when several publisher
 * packets are handled in one turn, which the receive drain does (a video frame arrives as a
 * burst). The cost is latency: a viewer's first datagram of the batch waits for the batch's
 * end, so a batch is closed after at most {@link MAX_BATCH_INBOUND} inbound datagrams.
 *
 * @module
 */
import { addressOf, IOVEC_SIZE, Mmsghdr, MMSGHDR_SIZE, writeWord } from "./mmsg.ts";
import type { Libc, SocketAddress } from "./libc.ts";

/**
 * Bytes per arena slot: at least the 1,600-byte buffers packets are rewritten in, so that
 * SRTP copies a whole source buffer in with one memcpy (see syscall-link.ts).
 */
export const BATCH_SLOT_SIZE = 1664;
/** Slots in the arena (3.4 MB): a full arena is sent at once and reused. */
export const BATCH_SLOTS = 2048;
/** Datagrams one link queues before it sends them (one sendmmsg). */
export const MAX_RUN = 32;
/** Inbound datagrams handled in one batch before it is sent (bounds the added latency). */
export const MAX_BATCH_INBOUND = 8;

/** A link that queues datagrams in the batch. */
export interface BatchedLink {
  /** Sends what it queued (one sendmmsg), called by the batch at its end. */
  flushRun(): void;
}

export class SendBatch {
  readonly #arena = new ArrayBuffer(BATCH_SLOTS * BATCH_SLOT_SIZE);
  readonly #views: Uint8Array[] = [];
  /** struct iovec per slot: the base is fixed, the length written per datagram. */
  readonly #iov = new Uint32Array(new ArrayBuffer(BATCH_SLOTS * IOVEC_SIZE));
  readonly #iovBase: number;
  readonly #headerBytes = new Uint8Array(new ArrayBuffer(MAX_RUN * MMSGHDR_SIZE));
  readonly #headers = new Uint32Array(this.#headerBytes.buffer);
  /** The destination of the run being sent (every header of a run points here). */
  readonly #name = new Uint8Array(new ArrayBuffer(32));
  readonly #nameAddress: number;
  #next = 0;
  #depth = 0;
  readonly #dirty: (BatchedLink | undefined)[] = [];
  #dirtyCount = 0;
  /** errno of the last run that did not leave whole. */
  lastErrno = 0;

  constructor() {
    const base = addressOf(this.#arena);
    for (let i = 0; i < BATCH_SLOTS; i++) {
      this.#views.push(new Uint8Array(this.#arena, i * BATCH_SLOT_SIZE, BATCH_SLOT_SIZE));
      writeWord(this.#iov, i * IOVEC_SIZE, base + i * BATCH_SLOT_SIZE);
    }
    this.#iovBase = addressOf(this.#iov.buffer);
    this.#nameAddress = addressOf(this.#name.buffer);
  }

  /** Whether links queue (inside begin … end) rather than send at once. */
  get active(): boolean {
    return this.#depth > 0;
  }

  begin(): void {
    this.#depth++;
  }

  /** Closes a begin(); the outermost sends everything queued. */
  end(): void {
    if (this.#depth > 0 && --this.#depth === 0) this.flush();
  }

  /** A slot to write a datagram into; a full arena is sent first. */
  acquire(): number {
    if (this.#next === BATCH_SLOTS) this.flush();
    return this.#next++;
  }

  view(slot: number): Uint8Array {
    return this.#views[slot];
  }

  /** `link` queued its first datagram since the last flush. */
  markDirty(link: BatchedLink): void {
    this.#dirty[this.#dirtyCount++] = link;
  }

  /** Sends every link's queue now; the arena is free again afterwards. */
  flush(): void {
    const dirty = this.#dirty;
    for (let i = 0; i < this.#dirtyCount; i++) {
      dirty[i]?.flushRun();
      dirty[i] = undefined; // the batch keeps no link alive
    }
    this.#dirtyCount = 0;
    this.#next = 0;
  }

  /**
   * Sends slots[0..count) with their lengths to `to` on `fd`, one sendmmsg per call the kernel
   * takes whole; returns how many left (the rest failed with {@link lastErrno}).
   */
  sendRun(
    libc: Libc,
    fd: number,
    to: SocketAddress,
    slots: Int32Array,
    lengths: Int32Array,
    count: number,
  ): number {
    this.#name.set(to.bytes);
    const h = this.#headers;
    let done = 0;
    while (done < count) {
      for (let j = done; j < count; j++) {
        const at = (j - done) * MMSGHDR_SIZE;
        const slot = slots[j];
        writeWord(h, at + Mmsghdr.name, this.#nameAddress);
        h[(at + Mmsghdr.nameLength) >>> 2] = to.length;
        writeWord(h, at + Mmsghdr.iov, this.#iovBase + slot * IOVEC_SIZE);
        writeWord(h, at + Mmsghdr.iovLength, 1);
        writeWord(this.#iov, slot * IOVEC_SIZE + 8, lengths[j]);
      }
      const n = libc.sendmmsg(fd, this.#headerBytes, count - done);
      if (n <= 0) {
        this.lastErrno = -n;
        return done;
      }
      done += n;
    }
    return done;
  }
}

/** The isolate's batch (each viewer worker has its own). */
export const sendBatch: SendBatch = new SendBatch();
