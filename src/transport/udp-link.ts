/**
 * The UDP 5-tuple werift's ICE agent nominated, used directly for media.
 *
 * werift's `connection.send` returns a promise per packet; its socket's `send` does not need
 * one. Slots from the SendPool are handed to the socket and come back through the slot's own
 * completion callback (completions may arrive out of order). A link holds at most
 * `maxInFlight` slots: its bounded send queue. When it is full the packet is dropped and
 * counted, so one slow viewer can never exhaust the pool or block the event loop. 128 slots
 * hold a key frame burst (~50 packets at 2.5 Mbit/s) twice over, and are 1/32 of the pool.
 */
import { counters, DropReason } from "../observability/counters.ts";
import type { DatagramLink } from "./datagram-link.ts";
import { type SendPool, sendPool, type SlotOwner } from "./send-pool.ts";

/** The parts of a node:dgram socket this module uses. */
export interface DatagramSocket {
  send(
    msg: Uint8Array,
    offset: number,
    length: number,
    port: number,
    address: string,
    callback: (error: Error | null) => void,
  ): void;
}

export class UdpLink implements SlotOwner, DatagramLink {
  readonly #socket: DatagramSocket;
  readonly #port: number;
  readonly #address: string;
  readonly #pool: SendPool;
  readonly #maxInFlight: number;
  #count = 0;
  #closed = false;
  /** Packets refused because this link's queue was full. */
  dropped = 0;
  /** Packets the socket reported as failed. */
  errors = 0;
  packetsSent = 0;
  bytesSent = 0;

  constructor(
    socket: DatagramSocket,
    address: string,
    port: number,
    maxInFlight = 128,
    pool = sendPool,
  ) {
    this.#socket = socket;
    this.#address = address;
    this.#port = port;
    this.#pool = pool;
    this.#maxInFlight = maxInFlight;
  }

  /** Takes a buffer to write one datagram into; -1 when this link or the pool is full. */
  acquire(): number {
    if (this.#closed) return -1;
    if (this.#count >= this.#maxInFlight) {
      this.dropped++;
      return -1;
    }
    return this.#pool.acquire();
  }

  /** The buffer of a slot from `acquire`. */
  view(slot: number): Uint8Array {
    return this.#pool.view(slot);
  }

  /** Sends slot[0..length) and gives the slot back when the socket is done with it. */
  send(slot: number, length: number): void {
    if (this.#closed) {
      this.#pool.release(slot);
      return;
    }
    this.#count++;
    this.packetsSent++;
    this.bytesSent += length;
    const done = this.#pool.sending(slot, this);
    try {
      this.#socket.send(this.#pool.view(slot), 0, length, this.#port, this.#address, done);
    } catch {
      // A closed socket throws synchronously; its callback never runs.
      done(new Error("socket closed"));
    }
  }

  /** Gives back a slot from `acquire` that will not be sent. */
  discard(slot: number): void {
    this.#pool.release(slot);
  }

  onSendComplete(error: Error | null): void {
    this.#count--;
    if (error) {
      this.errors++;
      counters.packetsDropped[DropReason.sendError]++;
    }
  }

  /** Sends in flight. */
  get queued(): number {
    return this.#count;
  }

  /**
   * Stops sending and returns every slot still in flight to the pool: a closing socket may
   * never call back, and a late callback finds nothing left to release.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#pool.abandon(this);
    this.#count = 0;
  }
}
