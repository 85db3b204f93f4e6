/**
 * The C library's UDP socket calls over Deno FFI (Linux): what the syscall send path needs to
 * send on a socket that Deno opened for werift.
 *
 * Deno gives a `node:dgram` socket no file descriptor, so {@link Libc.findUdpSocket} finds it
 * by asking open descriptors for their type and local address, then `dup`s it: the copy keeps
 * the socket (and its 5-tuple) alive even if werift closes its side first, so a send can never
 * land on a descriptor number the process has reused for something else.
 *
 * The descriptors are listed from /proc/self/fd when the process may read it, and otherwise
 * probed through the C library itself: a server started without --allow-read (a hand-written
 * `deno run --cpu-prof …` line) once loaded the library, announced the syscall path, and then
 * sent every link through node:dgram because the listing threw (issue 14).
 *
 * Loaded once per isolate (each viewer worker loads its own); every failure becomes a reason
 * string so the caller can fall back to `node:dgram`. Without the ffi permission it is not
 * tried at all (no permission prompt).
 *
 * @module
 */

const SYMBOLS = {
  // ssize_t read as i32: a datagram's length or -1 fits, and an isize result would be a BigInt,
  // allocated per call.
  sendto: {
    parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"],
    result: "i32",
  },
  // (fd, struct mmsghdr*, vlen, flags): several datagrams in one call (send-batch.ts).
  sendmmsg: { parameters: ["i32", "buffer", "u32", "i32"], result: "i32" },
  // (fd, struct mmsghdr*, vlen, flags, struct timespec* = NULL) (receive-drain.ts).
  recvmmsg: { parameters: ["i32", "buffer", "u32", "i32", "pointer"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  dup: { parameters: ["i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

type Symbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

// Linux values (asm-generic and x86/arm64 agree).
const AF_INET = 2;
const AF_INET6 = 10;
const SOL_SOCKET = 1;
const SO_TYPE = 3;
const SO_SNDBUF = 7;
const SO_RCVBUF = 8;
const SOCK_DGRAM = 2;
/** Never block (the socket is non-blocking anyway: Deno's reactor set it) and never SIGPIPE. */
const MSG_DONTWAIT = 0x40;
const SEND_FLAGS = MSG_DONTWAIT | 0x4000; // | MSG_NOSIGNAL
const EBADF = 9;
export const EAGAIN = 11;
export const ENOBUFS = 105;

/** What {@link loadLibc} found. */
export type LibcStatus =
  | { available: true; libc: Libc }
  | { available: false; reason: string };

let status: LibcStatus | undefined;

/** Loads the C library once; later calls return the same status. */
export function loadLibc(): LibcStatus {
  status ??= open();
  return status;
}

function open(): LibcStatus {
  if (Deno.build.os !== "linux") {
    return { available: false, reason: `the syscall send path is Linux-only (${Deno.build.os})` };
  }
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
    return { available: false, reason: "FFI is not permitted (run with --allow-ffi)" };
  }
  try {
    const lib = Deno.dlopen("libc.so.6", SYMBOLS);
    return { available: true, libc: new Libc(lib.symbols) };
  } catch (error) {
    return { available: false, reason: error instanceof Error ? error.message : String(error) };
  }
}

/** A socket address in C layout (sockaddr_in or sockaddr_in6), built once per destination. */
export interface SocketAddress {
  bytes: Uint8Array;
  length: number;
}

export class Libc {
  readonly #sym: Symbols;
  readonly #addr = new Uint8Array(128);
  readonly #addrLen = new Uint32Array(1);
  readonly #int = new Int32Array(1);
  readonly #intLen = new Uint32Array(1);
  #errno: Deno.UnsafePointerView | null | undefined;

  constructor(symbols: Symbols) {
    this.#sym = symbols;
  }

  /**
   * Sends buf[0..length) to `to` on `fd`; returns the bytes sent or -errno. One synchronous
   * call: the kernel has copied the datagram when it returns, so `buf` may be reused at once.
   */
  sendto(fd: number, buf: Uint8Array, length: number, to: SocketAddress): number {
    // Deno accepts a number for a usize argument; the declared type is bigint only.
    const size = length as unknown as bigint;
    const n = this.#sym.sendto(fd, buf, size, SEND_FLAGS, to.bytes, to.length);
    return n >= 0 ? n : -this.errno();
  }

  /**
   * Sends `count` datagrams described by the struct mmsghdr array in `headers` (whose
   * pointers the caller wrote: send-batch.ts); returns how many left, or -errno.
   */
  sendmmsg(fd: number, headers: Uint8Array, count: number): number {
    const n = this.#sym.sendmmsg(fd, headers, count, SEND_FLAGS);
    return n >= 0 ? n : -this.errno();
  }

  /**
   * Receives up to `count` queued datagrams into the struct mmsghdr array in `headers`
   * without waiting; returns how many, 0 when none is queued, or -errno.
   */
  recvmmsg(fd: number, headers: Uint8Array, count: number): number {
    const n = this.#sym.recvmmsg(fd, headers, count, MSG_DONTWAIT, null);
    if (n >= 0) return n;
    const errno = this.errno();
    return errno === EAGAIN ? 0 : -errno;
  }

  /**
   * The calling thread's errno. Its address is fixed per thread and an isolate runs on one, so
   * the view is made once: a full socket buffer fails every send, and allocates nothing here.
   */
  errno(): number {
    if (this.#errno === undefined) {
      const p = this.#sym.__errno_location();
      this.#errno = p === null ? null : new Deno.UnsafePointerView(p);
    }
    return this.#errno === null ? 0 : this.#errno.getInt32();
  }

  /**
   * Asks for a receive buffer of `bytes` on the socket (the kernel doubles the request for its
   * bookkeeping and caps it at net.core.rmem_max); returns what the socket has afterwards, or
   * -errno when the request failed.
   */
  setReceiveBuffer(fd: number, bytes: number): number {
    this.#int[0] = bytes;
    if (this.#sym.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, this.#int, 4) !== 0) return -this.errno();
    return this.receiveBuffer(fd);
  }

  /**
   * Asks for a send buffer of `bytes` (doubled by the kernel, capped at net.core.wmem_max);
   * returns 0 or -errno.
   */
  setSendBuffer(fd: number, bytes: number): number {
    this.#int[0] = bytes;
    return this.#sym.setsockopt(fd, SOL_SOCKET, SO_SNDBUF, this.#int, 4) !== 0 ? -this.errno() : 0;
  }

  /** The socket's receive buffer in bytes as the kernel counts it, or -errno. */
  receiveBuffer(fd: number): number {
    this.#intLen[0] = 4;
    if (this.#sym.getsockopt(fd, SOL_SOCKET, SO_RCVBUF, this.#int, this.#intLen) !== 0) {
      return -this.errno();
    }
    return this.#int[0];
  }

  dup(fd: number): number {
    return this.#sym.dup(fd);
  }

  close(fd: number): void {
    this.#sym.close(fd);
  }

  /** The local address of a UDP socket descriptor, or undefined for anything else. */
  udpLocalAddress(fd: number): { family: 4 | 6; host: Uint8Array; port: number } | undefined {
    this.#intLen[0] = 4;
    const t = this.#sym.getsockopt(fd, SOL_SOCKET, SO_TYPE, this.#int, this.#intLen);
    if (t !== 0 || this.#int[0] !== SOCK_DGRAM) return undefined;
    this.#addrLen[0] = this.#addr.length;
    if (this.#sym.getsockname(fd, this.#addr, this.#addrLen) !== 0) return undefined;
    return decodeSocketAddress(this.#addr);
  }

  /**
   * A private descriptor for the UDP socket bound to (address, port), with the socket's own
   * family (what the destination's sockaddr must be), or why there is none. Scans this
   * process's descriptors: the socket is Deno's, opened for werift, and Deno does not say
   * which descriptor it is. A wildcard bind (0.0.0.0 or ::) matches any `address`.
   */
  findUdpSocket(address: string, port: number): FoundSocket | { reason: string } {
    const listed = listedDescriptors();
    const fds = listed ?? this.#probeDescriptors();
    for (const fd of fds) {
      const local = this.udpLocalAddress(fd);
      if (!local || local.port !== port || !sameHost(local.family, local.host, address)) continue;
      const copy = this.dup(fd);
      if (copy < 0) return { reason: `dup(${fd}) failed with errno ${this.errno()}` };
      // The descriptor may have been closed and reused between the check and the dup.
      const again = this.udpLocalAddress(copy);
      if (again && again.port === port) return { fd: copy, family: again.family };
      this.close(copy);
    }
    return {
      reason: `no UDP socket bound to ${address}:${port} among the process's ${fds.length} ` +
        `descriptors (${listed ? "listed from /proc/self/fd" : "probed"})`,
    };
  }

  /** The descriptor form of {@link findUdpSocket}: the private copy, or -1. */
  findUdpSocketFd(address: string, port: number): number {
    const found = this.findUdpSocket(address, port);
    return "fd" in found ? found.fd : -1;
  }

  /**
   * Open descriptors found by asking each number in turn, without /proc: the kernel hands out
   * the lowest free number, so open descriptors are dense and a run of PROBE_GAP closed ones
   * ends the table in practice (a hole that wide needs that many closes below a socket made
   * moments ago). One getsockopt per number: ~1 ms for a thousand descriptors, once per link.
   */
  #probeDescriptors(): number[] {
    const fds: number[] = [];
    let closedRun = 0;
    for (let fd = 0; closedRun < PROBE_GAP; fd++) {
      this.#intLen[0] = 4;
      if (this.#sym.getsockopt(fd, SOL_SOCKET, SO_TYPE, this.#int, this.#intLen) === 0) {
        fds.push(fd);
        closedRun = 0;
      } else if (this.errno() === EBADF) {
        closedRun++;
      } else {
        closedRun = 0; // open, but not a socket
      }
    }
    return fds;
  }
}

/** A private descriptor for a socket, and the socket's address family. */
export interface FoundSocket {
  fd: number;
  family: 4 | 6;
}

/** Closed descriptor numbers in a row after which {@link Libc} stops probing. */
const PROBE_GAP = 1024;

/**
 * This process's descriptors from /proc/self/fd, or undefined when it cannot be read. The
 * permission is queried first: reading without it would throw, or prompt on a terminal.
 */
function listedDescriptors(): number[] | undefined {
  try {
    const read = Deno.permissions.querySync({ name: "read", path: "/proc/self/fd" });
    if (read.state !== "granted") return undefined;
    return [...Deno.readDirSync("/proc/self/fd")].map((e) => Number(e.name));
  } catch {
    return undefined;
  }
}

/** Whether a socket bound to `bound` (host bytes of its family) serves `wanted`. */
function sameHost(family: 4 | 6, bound: Uint8Array, wanted: string): boolean {
  if (bound.every((b) => b === 0)) return true; // wildcard bind
  const want = socketAddress(family, wanted, 0);
  if (!want) return false;
  const offset = family === 4 ? 4 : 8;
  return bound.every((b, i) => b === want.bytes[offset + i]);
}

function decodeSocketAddress(
  a: Uint8Array,
): { family: 4 | 6; host: Uint8Array; port: number } | undefined {
  const family = a[0] | (a[1] << 8);
  const port = (a[2] << 8) | a[3];
  if (family === AF_INET) return { family: 4, host: a.slice(4, 8), port };
  if (family === AF_INET6) return { family: 6, host: a.slice(8, 24), port };
  return undefined;
}

/**
 * The C sockaddr for (address, port) as seen from a socket of `family`: an IPv4 destination on
 * an IPv6 socket becomes an IPv4-mapped address. Undefined when the address cannot be parsed.
 */
export function socketAddress(
  family: 4 | 6,
  address: string,
  port: number,
): SocketAddress | undefined {
  const v4 = parseIpv4(address.startsWith("::ffff:") ? address.slice(7) : address);
  if (family === 4) {
    if (!v4) return undefined;
    const bytes = new Uint8Array(16);
    bytes[0] = AF_INET;
    bytes[2] = port >> 8;
    bytes[3] = port & 255;
    bytes.set(v4, 4);
    return { bytes, length: 16 };
  }
  const v6 = v4 ? mappedIpv6(v4) : parseIpv6(address);
  if (!v6) return undefined;
  const bytes = new Uint8Array(28);
  bytes[0] = AF_INET6;
  bytes[2] = port >> 8;
  bytes[3] = port & 255;
  bytes.set(v6, 8);
  return { bytes, length: 28 };
}

function parseIpv4(text: string): number[] | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const bytes = parts.map((p) => (/^\d{1,3}$/.test(p) ? Number(p) : 256));
  return bytes.every((b) => b < 256) ? bytes : undefined;
}

function mappedIpv6(v4: number[]): Uint8Array {
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  out.set(v4, 12);
  return out;
}

function parseIpv6(text: string): Uint8Array | undefined {
  const zone = text.indexOf("%");
  const body = zone >= 0 ? text.slice(0, zone) : text;
  const halves = body.split("::");
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(":") : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const missing = 8 - head.length - tail.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return undefined;
  const words = [...head, ...new Array(missing).fill("0"), ...tail];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(words[i])) return undefined;
    const w = parseInt(words[i], 16);
    out[i * 2] = w >> 8;
    out[i * 2 + 1] = w & 255;
  }
  return out;
}
