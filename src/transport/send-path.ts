/**
 * Picks how media datagrams are sent, at start-up: `sendto` over FFI on the nominated socket
 * (see syscall-link.ts) when the C library loads, `node:dgram` otherwise.
 *
 * @module
 */
import { counters, SendLinkPath } from "../observability/counters.ts";
import type { DatagramLink } from "./datagram-link.ts";
import { type Libc, loadLibc, socketAddress } from "./libc.ts";
import { SyscallLink } from "./syscall-link.ts";
import { type MessageSocket, ReceiveDrain } from "./receive-drain.ts";
import { type DatagramSocket, UdpLink } from "./udp-link.ts";
import { reportSendPathFallback } from "./send-path-fallback.ts";

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
  /**
   * A reader of what is queued on `socket` (receive-drain.ts), or undefined where there is
   * none: the dgram path, an IPv6 socket, a socket that cannot be found.
   */
  drain(socket: BoundSocket & MessageSocket): ReceiveDrain | undefined;
}

/** A node:dgram link counted in `quetzal_send_links{path="dgram"}` while it is open. */
class CountedUdpLink extends UdpLink {
  #open = true;

  constructor(socket: DatagramSocket, address: string, port: number) {
    super(socket, address, port);
    counters.sendLinks[SendLinkPath.dgram]++;
  }

  override close(): void {
    if (this.#open) {
      this.#open = false;
      counters.sendLinks[SendLinkPath.dgram]--;
    }
    super.close();
  }
}

const dgramPath: SendPath = {
  name: "dgram",
  link: (socket, address, port) => new CountedUdpLink(socket, address, port),
  drain: () => undefined,
};

function fallBack(socket: BoundSocket, address: string, port: number, reason: string) {
  reportSendPathFallback("dgram", reason);
  return new CountedUdpLink(socket, address, port);
}

/**
 * Receive buffer asked for on every media socket the syscall path links to (the kernel
 * doubles it; net.core.rmem_max caps it). Deno's node:dgram reads one datagram per turn of the
 * event loop, so while a publisher's packet is fanned out to every viewer the socket's own
 * buffer is the only queue: the default 208 KiB holds 92 datagrams of 1,200 bytes (measured
 * on loopback), and at 100 Pion viewers (one core, 82 % busy) bursts overflowed it, the
 * server NACKed the publisher 17,694 times in 10 s and delivered 90 % (2026-12-07).
 * 512 KiB (1 MiB counted, ~450 such datagrams, ~0.8 s of a 2.5 Mbit/s stream) rides out the
 * bursts without hiding a sustained overload behind seconds of queue.
 */
export const RECEIVE_BUFFER_BYTES = 512 * 1024;

/** One per isolate: every transport of the process (or worker) shares it. */
let syscallPath: SendPath | undefined;

/**
 * auto → syscall when libc loads (Linux, --allow-ffi), else dgram. "syscall" throws a clear
 * Error when unavailable. A syscall link whose socket cannot be found falls back to dgram for
 * that link: counted in `quetzal_send_links{path="dgram"}` and reported once per isolate to
 * the send-path-fallback.ts listener.
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
      const found = libc.findUdpSocket(local.address, local.port);
      if (!("fd" in found)) return fallBack(socket, address, port, found.reason);
      // The copy shares werift's socket: the buffer is the socket's. A refusal (rmem_max
      // below the request) leaves what the kernel granted, which is still a working socket.
      libc.setReceiveBuffer(found.fd, RECEIVE_BUFFER_BYTES);
      // The destination in the family of the socket itself, whatever node:dgram reports.
      const to = socketAddress(found.family, address, port);
      if (!to) {
        libc.close(found.fd);
        return fallBack(
          socket,
          address,
          port,
          `cannot send to "${address}" from an IPv${found.family} socket`,
        );
      }
      return new SyscallLink(libc, found.fd, to);
    },
    drain(socket) {
      const local = socket.address();
      if (local.family !== "IPv4" && local.family !== 4) return undefined;
      const found = libc.findUdpSocket(local.address, local.port);
      if (!("fd" in found)) return undefined;
      if (found.family !== 4) {
        libc.close(found.fd);
        return undefined;
      }
      return new ReceiveDrain(libc, found.fd, socket);
    },
  };
}
