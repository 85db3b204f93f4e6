/**
 * A {@link DatagramLink} on the thread's shared UDP socket (udp-mux.ts), to one client address.
 * Inside a send batch its datagrams join the mux's message list, so the sends of a receive turn
 * to every client on the port leave in a few `sendmmsg` calls; outside one, each is a `sendto`.
 *
 * @module
 */
import { counters, SendLinkPath } from "../observability/counters.ts";
import { type SocketAddress, socketAddress } from "./libc.ts";
import { addressOf } from "./mmsg.ts";
import { QueuedLink } from "./queued-link.ts";
import type { MuxSender, UdpMux } from "./udp-mux.ts";

export class MuxLink extends QueuedLink implements MuxSender {
  readonly #mux: UdpMux;
  readonly #to: SocketAddress;
  readonly name: number;
  readonly nameLength: number;
  #open = true;

  /** Throws when `address` is not an IPv4 address (the mux is IPv4). */
  constructor(mux: UdpMux, address: string, port: number) {
    super();
    const to = socketAddress(4, address, port);
    if (!to) throw new Error(`the shared UDP port cannot send to "${address}" (IPv4 only)`);
    this.#mux = mux;
    this.#to = to;
    // The sockaddr's own buffer, whose native address the mux's messages point at.
    this.name = addressOf(to.bytes.buffer) + to.bytes.byteOffset;
    this.nameLength = to.length;
    counters.sendLinks[SendLinkPath.mux]++;
  }

  protected get open(): boolean {
    return this.#open;
  }

  protected sendNow(scratch: Uint8Array, length: number): number {
    return this.#mux.sendNow(scratch, length, this.#to);
  }

  /** Hands the run to the mux's list; the mux sends it with everyone else's. */
  protected sendRun(slots: Int32Array, lengths: Int32Array, count: number): void {
    this.#mux.queue(this, slots, lengths, count);
  }

  close(): void {
    if (!this.#open) return;
    this.flushRun();
    this.#open = false;
    counters.sendLinks[SendLinkPath.mux]--;
  }
}
