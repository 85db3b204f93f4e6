/**
 * Reads what is queued on a transport's socket with `recvmmsg` over FFI, on a private `dup`,
 * right after node:dgram delivered one datagram of it: the rest of a burst (a video frame's
 * packets) is handled in the same turn, without node:dgram's op, promise and Buffer per
 * datagram and without werift's STUN parse of each, and the sends it causes are batched
 * (send-batch.ts).
 *
 * Deno's node:dgram reads one datagram per turn of the event loop (it does not read ahead: a
 * handler busy for 20 ms while 200 datagrams arrived got 9 through node:dgram and 191 through
 * recv on the dup, measured 2026-12-07), so taking the queued ones here loses nothing, and
 * its reader finds the socket empty or not, as after any read.
 *
 * Datagrams that are not RTP or RTCP (STUN consent checks, DTLS alerts) are handed to werift
 * as node:dgram would have: the socket's "message" event, with the sender's address.
 * IPv4 sockets only: an IPv6 sender's address would have to be written as node:dgram does.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { Libc } from "./libc.ts";
import { addressOf, IOVEC_SIZE, Mmsghdr, MMSGHDR_SIZE, writeWord } from "./mmsg.ts";
import { MAX_BATCH_INBOUND, sendBatch } from "./send-batch.ts";

/** Receives an RTP or RTCP datagram of a drain: views[i][0..length). */
export type DrainedMedia = (i: number, data: Uint8Array, length: number) => void;

/** Datagrams per recvmmsg. */
export const DRAIN_BATCH = 8;
/**
 * Bytes per receive slot: a 1,500-byte MTU datagram with room to spare; larger ones are cut
 * (MSG_TRUNC) and dropped. As long as PeerTransport's decrypt buffer, so that SRTP copies a
 * slot in with one memcpy.
 */
const SLOT = 1600;
/** Room for a sockaddr_in6 per datagram. */
const NAME = 32;
const MSG_TRUNC = 0x20;

/** The sender of a datagram handed to werift, as node:dgram describes it. */
interface RemoteInfo {
  address: string;
  family: "IPv4";
  port: number;
  size: number;
}

/** A node:dgram socket seen as an event emitter (werift listens for "message"). */
export interface MessageSocket {
  emit(event: "message", msg: Uint8Array, rinfo: RemoteInfo): boolean;
}

export class ReceiveDrain {
  readonly #libc: Libc;
  #fd: number;
  readonly #socket: MessageSocket;
  readonly #arena = new ArrayBuffer(DRAIN_BATCH * SLOT);
  /** One view per slot, as long as the slot (the datagram's length comes with it). */
  readonly views: Uint8Array[] = [];
  readonly #names = new Uint8Array(new ArrayBuffer(DRAIN_BATCH * NAME));
  readonly #headerBytes = new Uint8Array(new ArrayBuffer(DRAIN_BATCH * MMSGHDR_SIZE));
  readonly #headers = new Uint32Array(this.#headerBytes.buffer);
  readonly #iov = new Uint32Array(new ArrayBuffer(DRAIN_BATCH * IOVEC_SIZE));
  /** Datagrams read; the last error other than "nothing queued". */
  received = 0;
  lastError = 0;

  /** Takes ownership of `fd` (a private dup of the socket, closed by `close`). */
  constructor(libc: Libc, fd: number, socket: MessageSocket) {
    this.#libc = libc;
    this.#fd = fd;
    this.#socket = socket;
    const base = addressOf(this.#arena);
    const iovBase = addressOf(this.#iov.buffer);
    const names = addressOf(this.#names.buffer);
    for (let i = 0; i < DRAIN_BATCH; i++) {
      this.views.push(new Uint8Array(this.#arena, i * SLOT, SLOT));
      writeWord(this.#iov, i * IOVEC_SIZE, base + i * SLOT);
      writeWord(this.#iov, i * IOVEC_SIZE + 8, SLOT);
      const at = i * MMSGHDR_SIZE;
      writeWord(this.#headers, at + Mmsghdr.name, names + i * NAME);
      writeWord(this.#headers, at + Mmsghdr.iov, iovBase + i * IOVEC_SIZE);
      writeWord(this.#headers, at + Mmsghdr.iovLength, 1);
    }
  }

  /** Reads up to DRAIN_BATCH queued datagrams without waiting; returns how many (0: none). */
  read(): number {
    if (this.#fd < 0) return 0;
    const h = this.#headers;
    for (let i = 0; i < DRAIN_BATCH; i++) h[(i * MMSGHDR_SIZE + Mmsghdr.nameLength) >>> 2] = NAME;
    const n = this.#libc.recvmmsg(this.#fd, this.#headerBytes, DRAIN_BATCH);
    if (n < 0) {
      this.lastError = -n;
      return 0;
    }
    this.received += n;
    return n;
  }

  /**
   * Takes what is queued behind a turn's first datagram (already handled, so `total` starts at
   * 1): at most `limit` in all, so other sockets and timers get their turn (node:dgram delivers
   * what is left next). RTP and RTCP go to `media`, STUN and DTLS to werift (RFC 7983), and the
   * sends they cause leave every MAX_BATCH_INBOUND datagrams (the caller holds the batch open).
   * Stops early when `stopped()` says so (the transport closed).
   */
  takeQueued(limit: number, media: DrainedMedia, stopped: () => boolean): void {
    let inBatch = 1;
    let total = 1;
    for (let n = this.read(); n > 0 && !stopped(); n = total < limit ? this.read() : 0) {
      for (let i = 0; i < n; i++) {
        const len = this.length(i);
        if (len < 0) continue;
        const first = this.views[i][0];
        if (first >= 128 && first <= 191) media(i, this.views[i], len);
        else this.handOver(i, len);
      }
      inBatch += n;
      total += n;
      if (inBatch >= MAX_BATCH_INBOUND) {
        sendBatch.flush();
        inBatch = 0;
      }
    }
  }

  /** Length of datagram i of the last read; -1 when it was cut (larger than a slot). */
  length(i: number): number {
    const h = this.#headers;
    const at = i * MMSGHDR_SIZE;
    if ((h[(at + Mmsghdr.flags) >>> 2] & MSG_TRUNC) !== 0) return -1;
    return h[(at + Mmsghdr.length) >>> 2];
  }

  /**
   * The sender of datagram i of the last read as one number (IPv4 address × 65,536 + port,
   * see udp-mux.ts addressKey); -1 for another family.
   */
  sourceKey(i: number): number {
    const n = this.#names;
    const at = i * NAME;
    if ((n[at] | (n[at + 1] << 8)) !== 2) return -1;
    const ip = ((n[at + 4] * 256 + n[at + 5]) * 256 + n[at + 6]) * 256 + n[at + 7];
    return ip * 65536 + ((n[at + 2] << 8) | n[at + 3]);
  }

  /** Gives datagram i of the last read to werift, as node:dgram would have (allocates). */
  handOver(i: number, length: number): void {
    const name = this.#names.subarray(i * NAME, i * NAME + NAME);
    if ((name[0] | (name[1] << 8)) !== 2) return; // AF_INET only (see the module comment)
    const address = `${name[4]}.${name[5]}.${name[6]}.${name[7]}`;
    const port = (name[2] << 8) | name[3];
    const msg = Buffer.from(this.views[i].subarray(0, length));
    this.#socket.emit("message", msg, { address, family: "IPv4", port, size: length });
  }

  close(): void {
    if (this.#fd < 0) return;
    this.#libc.close(this.#fd);
    this.#fd = -1;
  }
}
