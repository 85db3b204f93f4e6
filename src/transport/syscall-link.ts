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
import { counters, SendLinkPath } from "../observability/counters.ts";
import type { Libc, SocketAddress } from "./libc.ts";
import { QueuedLink } from "./queued-link.ts";
import { sendBatch } from "./send-batch.ts";

export class SyscallLink extends QueuedLink {
  readonly #libc: Libc;
  #fd: number;
  readonly #to: SocketAddress;

  /** Takes ownership of `fd` (a private dup, closed by `close`). */
  constructor(libc: Libc, fd: number, to: SocketAddress) {
    super();
    this.#libc = libc;
    this.#fd = fd;
    this.#to = to;
    counters.sendLinks[SendLinkPath.syscall]++;
  }

  protected get open(): boolean {
    return this.#fd >= 0;
  }

  protected sendNow(scratch: Uint8Array, length: number): number {
    return this.#libc.sendto(this.#fd, scratch, length, this.#to);
  }

  /** One sendmmsg (or as few as the kernel takes) to this link's socket. */
  protected sendRun(slots: Int32Array, lengths: Int32Array, count: number): void {
    const sent = sendBatch.sendRun(this.#libc, this.#fd, this.#to, slots, lengths, count);
    let bytes = 0;
    for (let i = 0; i < sent; i++) bytes += lengths[i];
    this.sent(sent, bytes);
    if (sent < count) this.failed(count - sent, sendBatch.lastErrno);
  }

  close(): void {
    if (this.#fd < 0) return;
    this.flushRun();
    this.#libc.close(this.#fd);
    this.#fd = -1;
    counters.sendLinks[SendLinkPath.syscall]--;
  }
}
