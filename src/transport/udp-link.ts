/**
 * The UDP 5-tuple werift's ICE agent nominated, used directly for media.
 *
 * werift's `connection.send` returns a promise per packet; its socket's `send` does not need
 * one. Slots from the SendPool are handed to the socket and released in the send callback.
 * Completions arrive in order per socket, so a ring of slot numbers is enough to know which
 * slot a completion frees, and the callback is bound once (no closure per packet).
 */
import { type SendPool, sendPool } from "./send-pool.ts";

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

export class UdpLink {
  readonly #socket: DatagramSocket;
  readonly #port: number;
  readonly #address: string;
  readonly #pool: SendPool;
  readonly #inFlight: Int32Array;
  #head = 0;
  #count = 0;
  #closed = false;
  readonly #onSent: (error: Error | null) => void;
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
    maxInFlight = 512,
    pool = sendPool,
  ) {
    this.#socket = socket;
    this.#address = address;
    this.#port = port;
    this.#pool = pool;
    this.#inFlight = new Int32Array(maxInFlight);
    this.#onSent = (error) => this.#complete(error);
  }

  /** Takes a buffer to write one datagram into; -1 when this link or the pool is full. */
  acquire(): number {
    if (this.#closed || this.#count === this.#inFlight.length) return -1;
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
    const capacity = this.#inFlight.length;
    this.#inFlight[(this.#head + this.#count) % capacity] = slot;
    this.#count++;
    this.packetsSent++;
    this.bytesSent += length;
    try {
      this.#socket.send(this.#pool.view(slot), 0, length, this.#port, this.#address, this.#onSent);
    } catch {
      // A closed socket throws synchronously; its callback never runs.
      this.#count--;
      this.#pool.release(slot);
      this.errors++;
    }
  }

  /** Gives back a slot from `acquire` that will not be sent. */
  discard(slot: number): void {
    this.#pool.release(slot);
  }

  #complete(error: Error | null): void {
    if (this.#count === 0) return;
    const slot = this.#inFlight[this.#head];
    this.#head = (this.#head + 1) % this.#inFlight.length;
    this.#count--;
    this.#pool.release(slot);
    if (error) this.errors++;
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
    while (this.#count > 0) {
      this.#pool.release(this.#inFlight[this.#head]);
      this.#head = (this.#head + 1) % this.#inFlight.length;
      this.#count--;
    }
  }
}
