/**
 * A {@link DatagramLink} on the thread's shared UDP socket (udp-mux.ts), to one client address.
 * Inside a send batch its datagrams join the mux's message list, so the sends of a receive turn
 * to every client on the port leave in a few `sendmmsg` calls; outside one, each is a `sendto`.
 *
 * @module
 */
import { counters, DropReason, SendLinkPath } from "../observability/counters.ts";
import type { DatagramLink } from "./datagram-link.ts";
import { type SocketAddress, socketAddress } from "./libc.ts";
import { addressOf } from "./mmsg.ts";
import { type BatchedLink, MAX_RUN, sendBatch } from "./send-batch.ts";
import { SLOT_SIZE } from "./send-pool.ts";
import { isQueueFull, type MuxSender, type UdpMux } from "./udp-mux.ts";

/** As in syscall-link.ts: one scratch buffer per isolate for sends outside a batch. */
const scratch = new Uint8Array(Math.max(SLOT_SIZE, 2048));
const SCRATCH = 0x7fffffff;

export class MuxLink implements DatagramLink, BatchedLink, MuxSender {
  readonly #mux: UdpMux;
  readonly #to: SocketAddress;
  readonly name: number;
  readonly nameLength: number;
  #open = true;
  dropped = 0;
  errors = 0;
  packetsSent = 0;
  bytesSent = 0;
  lastError = 0;
  readonly #runSlots = new Int32Array(MAX_RUN);
  readonly #runLengths = new Int32Array(MAX_RUN);
  #runCount = 0;

  /** Throws when `address` is not an IPv4 address (the mux is IPv4). */
  constructor(mux: UdpMux, address: string, port: number) {
    const to = socketAddress(4, address, port);
    if (!to) throw new Error(`the shared UDP port cannot send to "${address}" (IPv4 only)`);
    this.#mux = mux;
    this.#to = to;
    // The sockaddr's own buffer, whose native address the mux's messages point at.
    this.name = addressOf(to.bytes.buffer) + to.bytes.byteOffset;
    this.nameLength = to.length;
    counters.sendLinks[SendLinkPath.mux]++;
  }

  acquire(): number {
    if (!this.#open) return -1;
    return sendBatch.active ? sendBatch.acquire() : SCRATCH;
  }

  view(slot: number): Uint8Array {
    return slot === SCRATCH ? scratch : sendBatch.view(slot);
  }

  send(slot: number, length: number): void {
    if (!this.#open) return;
    if (slot !== SCRATCH) {
      const i = this.#runCount++;
      this.#runSlots[i] = slot;
      this.#runLengths[i] = length;
      if (i === 0) sendBatch.markDirty(this);
      else if (i + 1 === MAX_RUN) this.flushRun();
      return;
    }
    const n = this.#mux.sendNow(scratch, length, this.#to);
    if (n >= 0) this.sent(1, length);
    else this.failed(1, -n);
  }

  /** Hands the run to the mux's list; the mux sends it with everyone else's. */
  flushRun(): void {
    const count = this.#runCount;
    if (count === 0) return;
    this.#runCount = 0;
    if (this.#open) this.#mux.queue(this, this.#runSlots, this.#runLengths, count);
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

  close(): void {
    if (!this.#open) return;
    this.flushRun();
    this.#open = false;
    counters.sendLinks[SendLinkPath.mux]--;
  }
}
