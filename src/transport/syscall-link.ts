/**
 * A {@link DatagramLink} that sends with one synchronous `sendto` per datagram on a private
 * `dup` of the socket werift's ICE agent nominated: the same 5-tuple, so consent checks and
 * DTLS (still sent by werift through `node:dgram`) and media share it, as ICE requires.
 *
 * Why: `node:dgram` on Deno costs 9.5–21 µs of CPU per datagram (an op, a promise and a copy
 * per send) and must keep each buffer until its completion; `sendto` over FFI costs about
 * 3.4 µs on loopback (measured 2026-11-23, Deno 2.9.6, 2-core AMD EPYC, 1200-byte datagrams),
 * and the kernel has copied the datagram when it returns, so one scratch buffer serves every
 * link in the isolate and nothing waits for a completion. Inside a send batch (a receive turn
 * that drained several publisher packets, see send-batch.ts) a link queues its datagrams in
 * the batch's arena instead and sends them with one `sendmmsg` at the batch's end.
 *
 * A full socket buffer (EAGAIN/ENOBUFS) drops the datagram and counts it, as a queue limit
 * would: the kernel's buffer is this link's bounded queue.
 *
 * @module
 */
import { counters, DropReason, SendLinkPath } from "../observability/counters.ts";
import type { DatagramLink } from "./datagram-link.ts";
import { EAGAIN, ENOBUFS, type Libc, type SocketAddress } from "./libc.ts";
import { SLOT_SIZE } from "./send-pool.ts";
import { type BatchedLink, MAX_RUN, sendBatch } from "./send-batch.ts";

/**
 * One isolate sends one datagram at a time, so all links share one buffer. Larger than a slot
 * (and than the 1,600-byte buffers packets are rewritten in) so that SRTP copies a whole source
 * buffer in with one memcpy instead of a byte loop (see srtp-libsrtp.ts): 0.7 µs less per
 * forwarded packet (2.1 → 1.4 µs for a 1,200-byte GCM protect, 2026-12-07).
 */
const scratch = new Uint8Array(Math.max(SLOT_SIZE, 2048));
/** The slot number of `scratch` (the batch's slots are 0 … BATCH_SLOTS − 1). */
const SCRATCH = 0x7fffffff;

export class SyscallLink implements DatagramLink, BatchedLink {
  readonly #libc: Libc;
  #fd: number;
  readonly #to: SocketAddress;
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

  /** Takes ownership of `fd` (a private dup, closed by `close`). */
  constructor(libc: Libc, fd: number, to: SocketAddress) {
    this.#libc = libc;
    this.#fd = fd;
    this.#to = to;
    counters.sendLinks[SendLinkPath.syscall]++;
  }

  acquire(): number {
    if (this.#fd < 0) return -1;
    return sendBatch.active ? sendBatch.acquire() : SCRATCH;
  }

  view(slot: number): Uint8Array {
    return slot === SCRATCH ? scratch : sendBatch.view(slot);
  }

  send(slot: number, length: number): void {
    if (this.#fd < 0) return;
    if (slot !== SCRATCH) {
      const i = this.#runCount++;
      this.#runSlots[i] = slot;
      this.#runLengths[i] = length;
      if (i === 0) sendBatch.markDirty(this);
      else if (i + 1 === MAX_RUN) this.flushRun();
      return;
    }
    const n = this.#libc.sendto(this.#fd, scratch, length, this.#to);
    if (n >= 0) {
      this.packetsSent++;
      this.bytesSent += length;
    } else {
      this.#failed(1, -n);
    }
  }

  /** Sends the datagrams queued in the batch with one sendmmsg (or as few as the kernel takes). */
  flushRun(): void {
    const count = this.#runCount;
    if (count === 0) return;
    // Still marked dirty in the batch: an empty run there is a no-op.
    this.#runCount = 0;
    if (this.#fd < 0) return;
    const sent = sendBatch.sendRun(
      this.#libc,
      this.#fd,
      this.#to,
      this.#runSlots,
      this.#runLengths,
      count,
    );
    for (let i = 0; i < sent; i++) this.bytesSent += this.#runLengths[i];
    this.packetsSent += sent;
    if (sent < count) this.#failed(count - sent, sendBatch.lastErrno);
  }

  #failed(count: number, errno: number): void {
    if (errno === EAGAIN || errno === ENOBUFS) {
      this.dropped += count;
      counters.packetsDropped[DropReason.queueFull] += count;
    } else {
      this.errors += count;
      this.lastError = errno;
      counters.packetsDropped[DropReason.sendError] += count;
    }
  }

  discard(_slot: number): void {}

  get queued(): number {
    return 0;
  }

  close(): void {
    if (this.#fd < 0) return;
    this.flushRun();
    this.#libc.close(this.#fd);
    this.#fd = -1;
    counters.sendLinks[SendLinkPath.syscall]--;
  }
}
