/**
 * Picks how media datagrams are sent, at start-up: `sendto` over FFI on the nominated socket
 * (see syscall-link.ts) when the C library loads, `node:dgram` otherwise.
 *
 * @module
 */
import type { DatagramLink } from "./datagram-link.ts";
import { type Libc, loadLibc, socketAddress } from "./libc.ts";
import { SyscallLink } from "./syscall-link.ts";
import { type DatagramSocket, UdpLink } from "./udp-link.ts";

// Loaded when this module is imported, not on the first session: the library lives as long as
// the process, and Deno's resource sanitizer would otherwise charge it to the first test that
// opens a transport.
loadLibc();

/** Configuration value. */
export type SendPathMode = "auto" | "syscall" | "dgram";

/** The parts of a bound `node:dgram` socket a link needs. */
export interface BoundSocket extends DatagramSocket {
  address(): { address: string; port: number; family: string | number };
}

export interface SendPath {
  readonly name: "syscall" | "dgram";
  /** A link sending from `socket` to (address, port). */
  link(socket: BoundSocket, address: string, port: number): DatagramLink;
}

const dgramPath: SendPath = {
  name: "dgram",
  link: (socket, address, port) => new UdpLink(socket, address, port),
};

/** One per isolate: every transport of the process (or worker) shares it. */
let syscallPath: SendPath | undefined;

/**
 * auto → syscall when libc loads (Linux, --allow-ffi), else dgram. "syscall" throws a clear
 * Error when unavailable. A syscall path whose socket cannot be found (never seen; it would
 * need the descriptor table to be unreadable) falls back to dgram for that link.
 */
export function selectSendPath(mode: SendPathMode): SendPath {
  if (mode === "dgram") return dgramPath;
  if (mode !== "auto" && mode !== "syscall") throw new Error(`unknown send path "${mode}"`);
  const status = loadLibc();
  if (!status.available) {
    if (mode === "auto") return dgramPath;
    throw new Error(
      `send path "syscall" is unavailable: ${status.reason}. Run on Linux with --allow-ffi ` +
        `and --allow-read, or choose "auto" or "dgram".`,
    );
  }
  return syscallPath ??= syscallPathOn(status.libc);
}

function syscallPathOn(libc: Libc): SendPath {
  return {
    name: "syscall",
    link(socket, address, port) {
      const local = socket.address();
      const family = local.family === "IPv6" || local.family === 6 ? 6 : 4;
      const to = socketAddress(family, address, port);
      const fd = to ? libc.findUdpSocketFd(local.address, local.port) : -1;
      if (!to || fd < 0) return new UdpLink(socket, address, port);
      return new SyscallLink(libc, fd, to);
    },
  };
}
