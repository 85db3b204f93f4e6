/**
 * Where a transport's outbound datagrams go: the nominated ICE pair's socket, seen as slots
 * to write into and send. Two implementations: {@link UdpLink} (`node:dgram`, asynchronous, a
 * slot stays busy until its completion) and {@link SyscallLink} (`sendto` over FFI,
 * synchronous, one scratch slot).
 *
 * @module
 */

export interface DatagramLink {
  /** A slot to write one datagram into; -1 when the link's queue (or the pool) is full. */
  acquire(): number;
  /** The buffer of a slot from `acquire`. */
  view(slot: number): Uint8Array;
  /** Sends slot[0..length). */
  send(slot: number, length: number): void;
  /** Gives back a slot from `acquire` that will not be sent. */
  discard(slot: number): void;
  /** Stops sending and frees what the link holds; idempotent. */
  close(): void;
  /** Packets refused because the queue (or the kernel's socket buffer) was full. */
  readonly dropped: number;
  /** Packets the socket reported as failed. */
  readonly errors: number;
  readonly packetsSent: number;
  readonly bytesSent: number;
  /** Sends accepted and not yet completed. */
  readonly queued: number;
}
