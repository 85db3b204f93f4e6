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
 * Within a link's run, consecutive datagrams of one size (a video frame's packets: libwebrtc
 * and OBS packetize a frame into equal packets, the last one shorter) leave as one message
 * with UDP generic segmentation offload (`UDP_SEGMENT`): the kernel builds and routes one
 * buffer and cuts it into the datagrams at the device, or the NIC does. 8 datagrams of 1,216
 * bytes to one loopback socket cost 0.8 µs each so against 2.5 µs as 8 messages of one
 * sendmmsg (2026-12-07, same machine, 400,000 datagrams a round). The receiver sees the same
 * datagrams. A kernel or device that refuses it (EINVAL, EIO) turns it off for the isolate.
 *
 * @module
 */
import {
  addressOf,
  GSO_CMSG_SIZE,
  GSO_SIZE_OFFSET,
  IOVEC_SIZE,
  Mmsghdr,
  MMSGHDR_SIZE,
  writeGsoHeader,
  writeWord,
} from "./mmsg.ts";
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
/** The kernel's limit on segments in one UDP_SEGMENT message (UDP_MAX_SEGMENTS). */
const MAX_SEGMENTS = 64;
/** A UDP_SEGMENT message's payload stays below the 65,507-byte UDP maximum. */
const MAX_GSO_BYTES = 65_000;
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
  readonly #headerBytes = new Uint8Array(new ArrayBuffer(MAX_RUN * MMSGHDR_SIZE));
  readonly #headers = new Uint32Array(this.#headerBytes.buffer);
  /** struct iovec per datagram of the run being sent, in order (a message takes several). */
  readonly #runIov = new Uint32Array(new ArrayBuffer(MAX_RUN * IOVEC_SIZE));
  readonly #runIovBase: number;
  /** One UDP_SEGMENT control message per message of the run. */
  readonly #cmsg = new Uint8Array(new ArrayBuffer(MAX_RUN * GSO_CMSG_SIZE));
  readonly #cmsgBase: number;
  /** Datagrams in each message of the run being sent. */
  readonly #segments = new Int32Array(MAX_RUN);
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
    this.#runIovBase = addressOf(this.#runIov.buffer);
    this.#cmsgBase = addressOf(this.#cmsg.buffer);
    for (let i = 0; i < MAX_RUN; i++) writeGsoHeader(this.#cmsg, i * GSO_CMSG_SIZE);
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
    let done = 0;
    while (done < count) {
      const messages = this.#plan(slots, lengths, done, count, to.length);
      const n = libc.sendmmsg(fd, this.#headerBytes, messages);
      if (n <= 0) {
        if (this.gso && (n === -EINVAL || n === -EIO) && this.#segmented(messages)) {
          // This kernel or device does not take UDP_SEGMENT: one datagram per message from now.
          this.gso = false;
          this.gsoErrno = -n;
          reportSendPathFallback("no-gso", `sendmmsg with UDP_SEGMENT failed with errno ${-n}`);
          continue;
        }
        this.lastErrno = -n;
        return done;
      }
      for (let m = 0; m < n; m++) done += this.#segments[m];
    }
    return done;
  }

  /**
   * Writes the messages for datagrams [from, count): runs of one size (the last may be
   * shorter) share a message with UDP_SEGMENT; returns how many messages.
   */
  #plan(
    slots: Int32Array,
    lengths: Int32Array,
    from: number,
    count: number,
    nameLength: number,
  ): number {
    const h = this.#headers;
    const iov = this.#runIov;
    let messages = 0;
    let j = from;
    while (j < count) {
      const first = j;
      const size = lengths[j];
      let bytes = 0;
      // Equal sizes, then at most one shorter datagram closes the message.
      do {
        writeWord(iov, j * IOVEC_SIZE, this.#arenaBase + slots[j] * BATCH_SLOT_SIZE);
        writeWord(iov, j * IOVEC_SIZE + 8, lengths[j]);
        bytes += lengths[j];
        j++;
      } while (
        this.gso && j < count && j - first < MAX_SEGMENTS && bytes + lengths[j] <= MAX_GSO_BYTES &&
        lengths[j - 1] === size && lengths[j] <= size
      );
      const segments = j - first;
      const at = messages * MMSGHDR_SIZE;
      writeWord(h, at + Mmsghdr.name, this.#nameAddress);
      h[(at + Mmsghdr.nameLength) >>> 2] = nameLength;
      writeWord(h, at + Mmsghdr.iov, this.#runIovBase + first * IOVEC_SIZE);
      writeWord(h, at + Mmsghdr.iovLength, segments);
      if (segments > 1) {
        const c = messages * GSO_CMSG_SIZE;
        this.#cmsg[c + GSO_SIZE_OFFSET] = size & 0xff;
        this.#cmsg[c + GSO_SIZE_OFFSET + 1] = size >>> 8;
        writeWord(h, at + Mmsghdr.control, this.#cmsgBase + c);
        writeWord(h, at + Mmsghdr.controlLength, GSO_CMSG_SIZE);
      } else {
        writeWord(h, at + Mmsghdr.control, 0);
        writeWord(h, at + Mmsghdr.controlLength, 0);
      }
      this.#segments[messages++] = segments;
    }
    return messages;
  }

  /** Whether any of the first `messages` messages carries several datagrams. */
  #segmented(messages: number): boolean {
    for (let m = 0; m < messages; m++) if (this.#segments[m] > 1) return true;
    return false;
  }
}

/** The isolate's batch (each viewer worker has its own). */
export const sendBatch: SendBatch = new SendBatch();
