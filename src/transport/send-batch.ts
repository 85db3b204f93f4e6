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
 * Within a link's run, equal-size datagrams leave as one message with UDP generic segmentation
 * offload (message-list.ts). A kernel or device that refuses it (EINVAL, EIO) turns it off for
 * the isolate.
 *
 * @module
 */
import { addressOf } from "./mmsg.ts";
import { MessageList } from "./message-list.ts";
import type { Libc, SocketAddress } from "./libc.ts";
import { reportSendPathFallback } from "./send-path-fallback.ts";

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
const EIO = 5;
const EINVAL = 22;

/** A link that queues datagrams in the batch. */
export interface BatchedLink {
  /** Sends what it queued (one sendmmsg), called by the batch at its end. */
  flushRun(): void;
}

export class SendBatch {
  readonly #arena = new ArrayBuffer(BATCH_SLOTS * BATCH_SLOT_SIZE);
  readonly #arenaBase: number;
  readonly #views: Uint8Array[] = [];
  /** The messages of the run being sent. */
  readonly #list = new MessageList(MAX_RUN);
  /** Whether runs use UDP_SEGMENT (off after the kernel refused it once). */
  gso = true;
  /** errno with which the kernel refused UDP_SEGMENT, 0 if it never did. */
  gsoErrno = 0;
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
    this.#arenaBase = addressOf(this.#arena);
    for (let i = 0; i < BATCH_SLOTS; i++) {
      this.#views.push(new Uint8Array(this.#arena, i * BATCH_SLOT_SIZE, BATCH_SLOT_SIZE));
    }
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

  /** The native address of the arena, for lists that point into it (udp-mux.ts). */
  get arenaBase(): number {
    return this.#arenaBase;
  }

  /** The kernel refused UDP_SEGMENT with `errno`: one datagram per message from now on. */
  refuseGso(errno: number): void {
    if (!this.gso) return;
    this.gso = false;
    this.gsoErrno = errno;
    reportSendPathFallback("no-gso", `sendmmsg with UDP_SEGMENT failed with errno ${errno}`);
  }

  /**
   * Sends slots[0..count) with their lengths to `to` on `fd`, one sendmmsg per call the kernel
   * takes whole; returns how many datagrams left (the rest failed with {@link lastErrno}).
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
    const list = this.#list;
    let done = 0;
    while (done < count) {
      list.clear();
      const arena = this.#arenaBase;
      list.append(
        arena,
        BATCH_SLOT_SIZE,
        slots,
        lengths,
        done,
        count,
        this.#nameAddress,
        to.length,
        this.gso,
      );
      const n = libc.sendmmsg(fd, list.headerBytes, list.messages);
      if (n <= 0) {
        if (this.gso && isGsoRefusal(n) && list.segmented(0)) {
          this.refuseGso(-n);
          continue;
        }
        this.lastErrno = -n;
        return done;
      }
      for (let m = 0; m < n; m++) done += list.segments[m];
    }
    return done;
  }
}

/** Whether a sendmmsg result is the kernel refusing UDP_SEGMENT (or the device it routes to). */
export function isGsoRefusal(result: number): boolean {
  return result === -EINVAL || result === -EIO;
}

/** The isolate's batch (each viewer worker has its own). */
export const sendBatch: SendBatch = new SendBatch();
