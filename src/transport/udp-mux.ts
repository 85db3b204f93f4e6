/**
 * One UDP port for every WebRTC transport of a thread (`--rtc-port`): mediasoup's WebRtcServer,
 * LiveKit's single-port mode. The main thread binds the port given, viewer worker i the port
 * plus i, and every transport the thread makes announces that port in its candidate.
 *
 * Why: with a socket per transport, one speaker's packet to 1,000 listeners is 1,000
 * `sendmmsg` calls of one datagram each, and the kernel half of that dominated the voice-chat
 * bench (40 % of each worker's CPU in the kernel, 2026-12-07). On one socket a receive turn's
 * sends to every listener leave in a few `sendmmsg` calls (a {@link MessageList} holds a
 * message per destination). It also means one firewall rule and one Docker port mapping per
 * thread instead of a range.
 *
 * Demultiplexing, as RFC 8445 lets an ICE-lite server do it:
 * - A datagram from a known source address (IPv4 address and port, one number) goes to the
 *   transport that address was routed to: RTP and RTCP straight to its media handler, STUN and
 *   DTLS to werift.
 * - A STUN Binding request from an unknown address (a new client, a network switch, an ICE
 *   restart) goes to the transport whose ICE agent owns the local ufrag in its USERNAME, once
 *   its MESSAGE-INTEGRITY checks out with that transport's password (werift 0.25 answers
 *   requests without checking it). werift's success response then routes the address, so a
 *   forged request routes nothing. Local ufrags are 48 random bits (PeerTransport): werift's
 *   own are 16 bits, and among 150 transports on one port two collided in about one run of
 *   six, which sent one client's checks to another transport (a join that never connected).
 * - Anything else from an unknown address is dropped and counted.
 *
 * werift keeps its ICE agent: each of its UDP transports made with this mux's port range (see
 * udp-port-binder.ts) becomes a {@link MuxEndpoint} instead of a socket of its own.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createHmac, timingSafeEqual } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { counters, DropReason } from "../observability/counters.ts";
import { type Libc, loadLibc, type SocketAddress, socketAddress } from "./libc.ts";
import { MessageList } from "./message-list.ts";
import { MMSGHDR_SIZE } from "./mmsg.ts";
import { type DrainedMedia, ReceiveDrain } from "./receive-drain.ts";
import { BATCH_SLOT_SIZE, type BatchedLink, isGsoRefusal, sendBatch } from "./send-batch.ts";

/** Datagrams one receive turn takes from the socket before other work gets a turn. */
const MAX_DRAIN_PER_TURN = 64;
/** Messages (destinations × runs) one sendmmsg carries at most. */
const LIST_CAPACITY = 512;
/**
 * Socket buffers asked for (the kernel doubles them, net.core.{r,w}mem_max caps them): every
 * transport of the thread queues here, so the per-transport 512 KiB of send-path.ts times a
 * few.
 */
const RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024;
const SEND_BUFFER_BYTES = 4 * 1024 * 1024;
/** Addresses one transport keeps routed (a client's candidates, old and new networks). */
const MAX_ROUTES_PER_ENDPOINT = 16;

/** What werift's UdpTransport is to this module (werift 0.25.2, fields it declares private). */
export interface WeriftUdpTransport {
  send: (data: Buffer, addr?: [string, number]) => Promise<void>;
  close: () => Promise<void>;
  closed: boolean;
  onData: (data: Buffer, addr: [string, number]) => void;
}

/** The ICE agent behind an endpoint: the password of a local ufrag that is its (current or past). */
export interface MuxOwner {
  passwordOf(ufrag: string): string | undefined;
}

/** Receives a transport's RTP and RTCP, still encrypted: data[0..length). */
export type MediaHandler = (data: Uint8Array, length: number) => void;

/** One transport's share of the mux: its routed addresses, its handlers. */
export class MuxEndpoint {
  readonly mux: UdpMux;
  /** Set by the transport once its ICE agent exists. */
  owner: MuxOwner | undefined;
  /** Set once SRTP is keyed; until then media is dropped. */
  media: MediaHandler | undefined;
  readonly #transport: WeriftUdpTransport;
  readonly #keys: number[] = [];
  #last: [string, number] | undefined;
  closed = false;

  constructor(mux: UdpMux, transport: WeriftUdpTransport) {
    this.mux = mux;
    this.#transport = transport;
  }

  /** A STUN or DTLS datagram for werift's ICE agent. */
  deliver(data: Buffer, address: string, port: number): void {
    this.#last = [address, port];
    this.#transport.onData(data, this.#last);
  }

  /** werift sends (STUN responses, DTLS): a Binding success response routes its address. */
  send(data: Uint8Array, addr: [string, number] | undefined): void {
    const to = addr ?? this.#last;
    if (this.closed || !to) return;
    if (data.length >= 20 && data[0] === 0x01 && data[1] === 0x01) {
      this.mux.route(addressKey(to[0], to[1]), this);
    }
    this.mux.sendControl(data, to[0], to[1]);
  }

  /** Records a routed address; the oldest goes past MAX_ROUTES_PER_ENDPOINT. */
  routed(key: number): void {
    if (this.#keys.includes(key)) return;
    this.#keys.push(key);
    if (this.#keys.length > MAX_ROUTES_PER_ENDPOINT) this.mux.unroute(this.#keys.shift()!, this);
  }

  /** The address went to another transport. */
  unrouted(key: number): void {
    const i = this.#keys.indexOf(key);
    if (i >= 0) this.#keys.splice(i, 1);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.media = undefined;
    for (const key of this.#keys) this.mux.unroute(key, this);
    this.#keys.length = 0;
    this.mux.detach(this);
  }
}

/** Datagrams the mux dropped, by cause (diagnostics and tests). */
export interface MuxStats {
  /** From an address no transport was routed to (not a STUN request with a known ufrag). */
  unrouted: number;
  /** RTP or RTCP for a transport whose SRTP is not keyed yet. */
  early: number;
  /** Queued datagrams the kernel refused (full send buffer, unreachable destination). */
  sendFailed: number;
}

export class UdpMux implements BatchedLink {
  readonly port: number;
  /** The address the socket is bound to ("0.0.0.0": every interface). */
  readonly address: string;
  /** The marker werift carries as `icePortRange` for transports on this mux. */
  readonly portRange: [number, number];
  readonly stats: MuxStats = { unrouted: 0, early: 0, sendFailed: 0 };
  readonly #libc: Libc;
  readonly #socket: Socket;
  readonly #fd: number;
  readonly #drain: ReceiveDrain;
  readonly #routes = new Map<number, MuxEndpoint>();
  readonly #endpoints = new Set<MuxEndpoint>();
  #draining = false;
  #closed = false;
  // The queued sends of the open batch: one message list, each message's link.
  readonly #list = new MessageList(LIST_CAPACITY);
  readonly #links: (MuxSender | undefined)[] = new Array(LIST_CAPACITY);
  #dirty = false;

  private constructor(libc: Libc, socket: Socket, fd: number, address: string, port: number) {
    this.#libc = libc;
    this.#socket = socket;
    this.#fd = fd;
    this.address = address;
    this.port = port;
    // werift refuses a range of one port; the marker is never bound, only recognised.
    this.portRange = [port, port + 1];
    this.#drain = new ReceiveDrain(libc, libc.dup(fd), socket);
    socket.on("message", (msg: Buffer, rinfo: { address: string; port: number }) => {
      this.#onMessage(msg, rinfo.address, rinfo.port);
    });
  }

  /**
   * Binds `port` on `address` (0 picks a free port). Rejects with a message naming the port
   * when it is taken or the socket cannot be found for the syscall path.
   */
  static async open(libc: Libc, port: number, address = "0.0.0.0"): Promise<UdpMux> {
    const socket = createSocket("udp4");
    await new Promise<void>((resolve, reject) => {
      socket.once("error", (error) => {
        reject(new Error(`cannot bind UDP ${address}:${port} for --rtc-port: ${error.message}`));
      });
      socket.bind({ port, address }, () => resolve());
    });
    socket.removeAllListeners("error");
    // A socket error after the bind (none is expected for UDP) must not end the process.
    socket.on("error", () => {});
    const bound = socket.address().port;
    const found = libc.findUdpSocket(address, bound);
    if (!("fd" in found)) {
      socket.close();
      throw new Error(`--rtc-port ${bound}: cannot reach the socket (${found.reason})`);
    }
    libc.setReceiveBuffer(found.fd, RECEIVE_BUFFER_BYTES);
    libc.setSendBuffer(found.fd, SEND_BUFFER_BYTES);
    const mux = new UdpMux(libc, socket, found.fd, address, bound);
    muxes.set(mux.portRange, mux);
    return mux;
  }

  /** Transports on the mux. */
  get size(): number {
    return this.#endpoints.size;
  }

  /** Turns a werift UDP transport into an endpoint of this mux (udp-port-binder.ts). */
  adopt(transport: WeriftUdpTransport): MuxEndpoint {
    if (this.#closed) throw new Error(`the UDP mux on port ${this.port} is closed`);
    const endpoint = new MuxEndpoint(this, transport);
    this.#endpoints.add(endpoint);
    endpoints.set(transport, endpoint);
    const local = { address: this.address, port: this.port, family: "IPv4" };
    transport.send = (data, addr) => {
      endpoint.send(data, addr);
      return Promise.resolve();
    };
    transport.close = () => {
      transport.closed = true;
      endpoint.close();
      return Promise.resolve();
    };
    Object.defineProperty(transport, "address", { get: () => local });
    Object.defineProperty(transport, "host", { get: () => local.address });
    Object.defineProperty(transport, "port", { get: () => local.port });
    return endpoint;
  }

  /** Called by an endpoint when it closes. */
  detach(endpoint: MuxEndpoint): void {
    this.#endpoints.delete(endpoint);
  }

  route(key: number, endpoint: MuxEndpoint): void {
    const previous = this.#routes.get(key);
    if (previous === endpoint) return;
    previous?.unrouted(key);
    this.#routes.set(key, endpoint);
    endpoint.routed(key);
  }

  unroute(key: number, endpoint: MuxEndpoint): void {
    if (this.#routes.get(key) === endpoint) this.#routes.delete(key);
  }

  /** Routed addresses (tests: every one goes when its transport does). */
  get routes(): number {
    return this.#routes.size;
  }

  /** A control datagram (STUN, DTLS) from werift: one sendto, off the batch. */
  sendControl(data: Uint8Array, address: string, port: number): void {
    if (this.#closed) return;
    const to = socketAddress(4, address, port);
    if (to) this.#libc.sendto(this.#fd, data, data.length, to);
  }

  /** One media datagram now (outside a batch): one sendto. Returns bytes sent or -errno. */
  sendNow(data: Uint8Array, length: number, to: SocketAddress): number {
    if (this.#closed) return -9; // EBADF
    return this.#libc.sendto(this.#fd, data, length, to);
  }

  /**
   * Queues a sender's run of batch slots for the next sendmmsg; a full list is sent first.
   * The mux sends its list when the batch ends (it is a link of the batch itself).
   */
  queue(sender: MuxSender, slots: Int32Array, lengths: Int32Array, count: number): void {
    const list = this.#list;
    let from = 0;
    while (from < count) {
      const m = list.messages;
      from = list.append(
        sendBatch.arenaBase,
        BATCH_SLOT_SIZE,
        slots,
        lengths,
        from,
        count,
        sender.name,
        sender.nameLength,
        sendBatch.gso,
      );
      for (let i = m; i < list.messages; i++) this.#links[i] = sender;
      if (from < count) this.flushRun();
    }
    if (!this.#dirty && list.messages > 0) {
      this.#dirty = true;
      sendBatch.markDirty(this);
    }
  }

  /** Sends the queued messages (a batch's end, or a full list). */
  flushRun(): void {
    this.#dirty = false;
    const list = this.#list;
    const total = list.messages;
    let m = 0;
    while (m < total && !this.#closed) {
      const headers = m === 0 ? list.headerBytes : list.headerBytes.subarray(m * MMSGHDR_SIZE);
      const n = this.#libc.sendmmsg(this.#fd, headers, total - m);
      if (n > 0) {
        for (let i = m; i < m + n; i++) this.#links[i]!.sent(list.segments[i], list.bytes[i]);
        m += n;
        continue;
      }
      // Message m failed alone: drop it and go on with the next (other destinations).
      if (sendBatch.gso && isGsoRefusal(n) && list.segments[m] > 1) sendBatch.refuseGso(-n);
      const errno = -n;
      const failed = list.segments[m];
      this.stats.sendFailed += failed;
      this.#links[m]!.failed(failed, errno);
      m++;
    }
    for (let i = 0; i < total; i++) this.#links[i] = undefined;
    list.clear();
  }

  #onMessage(msg: Buffer, address: string, port: number): void {
    if (this.#draining) {
      // A datagram the drain handed over (not RTP or RTCP): werift's.
      this.#control(msg, address, port);
      return;
    }
    this.#draining = true;
    sendBatch.begin();
    try {
      const first = msg[0];
      if (first >= 128 && first <= 191) this.#media(addressKey(address, port), msg, msg.length);
      else this.#control(msg, address, port);
      this.#drain.takeQueued(MAX_DRAIN_PER_TURN, this.#drained, this.#isClosed);
    } finally {
      this.#draining = false;
      sendBatch.end();
    }
  }

  // Made once: the drain calls them per datagram.
  readonly #drained: DrainedMedia = (i, data, length) =>
    this.#media(this.#drain.sourceKey(i), data, length);
  readonly #isClosed = (): boolean => this.#closed;

  #media(key: number, data: Uint8Array, length: number): void {
    const endpoint = this.#routes.get(key);
    if (endpoint === undefined) {
      this.stats.unrouted++;
      counters.packetsDropped[DropReason.unknownSource]++;
      return;
    }
    const media = endpoint.media;
    if (media === undefined) this.stats.early++;
    else media(data, length);
  }

  #control(msg: Buffer, address: string, port: number): void {
    const key = addressKey(address, port);
    let endpoint = this.#routes.get(key);
    // A Binding request names the transport by its ufrag: a new address, or one that a
    // closed-and-reopened client port now uses for another transport.
    if (msg.length >= 20 && msg[0] === 0x00 && msg[1] === 0x01) {
      const ufrag = localUfrag(msg);
      if (ufrag === undefined) endpoint = undefined;
      else if (endpoint?.owner?.passwordOf(ufrag) === undefined) {
        endpoint = this.#owning(ufrag);
        const password = endpoint?.owner?.passwordOf(ufrag);
        if (password === undefined || !integrityHolds(msg, password)) endpoint = undefined;
      }
    }
    if (endpoint === undefined) {
      this.stats.unrouted++;
      counters.packetsDropped[DropReason.unknownSource]++;
      return;
    }
    endpoint.deliver(msg, address, port);
  }

  #owning(ufrag: string): MuxEndpoint | undefined {
    for (const endpoint of this.#endpoints) {
      if (endpoint.owner?.passwordOf(ufrag) !== undefined) return endpoint;
    }
    return undefined;
  }

  /** Closes the socket; transports still on it stop receiving. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    muxes.delete(this.portRange);
    this.#drain.close();
    this.#libc.close(this.#fd);
    for (const endpoint of [...this.#endpoints]) endpoint.close();
    return new Promise((resolve) => this.#socket.close(() => resolve()));
  }
}

/** A link's part in the mux's send list: its destination and what happened to its datagrams. */
export interface MuxSender {
  /** Native address of its sockaddr. */
  readonly name: number;
  readonly nameLength: number;
  sent(datagrams: number, bytes: number): void;
  failed(datagrams: number, errno: number): void;
}

/** This thread's open muxes by the port asked for (0: any), with how many servers use each. */
const opened = new Map<
  number,
  { mux: Promise<UdpMux>; users: number; resolved?: UdpMux }
>();

/**
 * This thread's mux on `port` (0: a free port), opened on first use; each call needs one
 * {@link releaseUdpMux}. Two servers in one process (tests) that ask for the same port share
 * it: transports are told apart by their ICE credentials.
 */
export function acquireUdpMux(libc: Libc, port: number, address?: string): Promise<UdpMux> {
  let entry = opened.get(port);
  if (!entry) {
    const mux = UdpMux.open(libc, port, address);
    entry = { mux, users: 0 };
    opened.set(port, entry);
    const e = entry;
    mux.then((m) => e.resolved = m, () => opened.delete(port));
  }
  entry.users++;
  return entry.mux;
}

/**
 * Opens this thread's shared port for `--rtc-port` (see {@link acquireUdpMux}); rejects with a
 * message that says why when the syscall send path is unavailable or the port is taken.
 */
export function openSharedPort(port: number, address?: string): Promise<UdpMux> {
  const status = loadLibc();
  if (!status.available) {
    return Promise.reject(
      new Error(`--rtc-port needs the syscall send path (Linux, --allow-ffi): ${status.reason}`),
    );
  }
  return acquireUdpMux(status.libc, port, address);
}

/** The mux this thread opened for `port`, once open. */
export function udpMuxOn(port: number): UdpMux | undefined {
  return opened.get(port)?.resolved;
}

/** Gives back one {@link acquireUdpMux}; the last closes the socket. */
export async function releaseUdpMux(port: number): Promise<void> {
  const entry = opened.get(port);
  if (!entry || --entry.users > 0) return;
  opened.delete(port);
  await (await entry.mux.catch(() => undefined))?.close();
}

const muxes = new WeakMap<object, UdpMux>();
const endpoints = new WeakMap<object, MuxEndpoint>();

/** The mux whose `portRange` marker werift passed on, if `range` is one. */
export function muxOfRange(range: object | undefined): UdpMux | undefined {
  return range === undefined ? undefined : muxes.get(range);
}

/** The endpoint a werift UDP transport became, if it is on a mux. */
export function endpointOf(transport: object | undefined): MuxEndpoint | undefined {
  return transport === undefined ? undefined : endpoints.get(transport);
}

/** One number for an IPv4 address and port (address × 65,536 + port, below 2^48). */
export function addressKey(address: string, port: number): number {
  let ip = 0;
  let part = 0;
  for (let i = 0; i < address.length; i++) {
    const c = address.charCodeAt(i);
    if (c === 46) {
      ip = ip * 256 + part;
      part = 0;
    } else {
      part = part * 10 + (c - 48);
    }
  }
  return (ip * 256 + part) * 65536 + port;
}

/**
 * Whether a STUN message's MESSAGE-INTEGRITY (RFC 8489 §14.5: HMAC-SHA1 keyed with the
 * short-term password, over the message up to the attribute, with the header's length
 * counting up to its end) holds. False without one.
 */
export function integrityHolds(msg: Uint8Array, password: string): boolean {
  const end = Math.min(msg.length, 20 + ((msg[2] << 8) | msg[3]));
  let at = 20;
  while (at + 4 <= end) {
    const type = (msg[at] << 8) | msg[at + 1];
    const length = (msg[at + 2] << 8) | msg[at + 3];
    if (type === 0x0008) {
      if (length !== 20 || at + 24 > end) return false;
      const covered = new Uint8Array(msg.subarray(0, at));
      const declared = at + 24 - 20;
      covered[2] = declared >> 8;
      covered[3] = declared & 0xff;
      const mac = createHmac("sha1", password).update(covered).digest();
      return timingSafeEqual(mac, msg.subarray(at + 4, at + 24));
    }
    at += 4 + ((length + 3) & ~3);
  }
  return false;
}

const utf8 = new TextDecoder();

/** The local ufrag of a STUN request's USERNAME ("ours:theirs"), if it has one. */
export function localUfrag(msg: Uint8Array): string | undefined {
  const end = Math.min(msg.length, 20 + ((msg[2] << 8) | msg[3]));
  let at = 20;
  while (at + 4 <= end) {
    const type = (msg[at] << 8) | msg[at + 1];
    const length = (msg[at + 2] << 8) | msg[at + 3];
    const value = at + 4;
    if (value + length > end) return undefined;
    if (type === 0x0006) {
      const text = utf8.decode(msg.subarray(value, value + length));
      const colon = text.indexOf(":");
      return colon > 0 ? text.slice(0, colon) : undefined;
    }
    at = value + ((length + 3) & ~3);
  }
  return undefined;
}
