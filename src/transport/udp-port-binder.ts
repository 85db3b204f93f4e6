/**
 * Binds werift's media sockets inside `--rtc-ports` without a race. werift picks a port by
 * binding a probe socket, closing it, and binding the real socket to that port later; two
 * negotiations in flight at once (two people joining a room, a worker and the main thread)
 * can both pick the same port, and the second bind then fails with EADDRINUSE on a socket
 * that has no error listener: an uncaught error that ended the whole server (seen with two
 * Chromium pages joining a room under the Dockerfile's `QUETZAL_RTC_PORTS`). Here the bind
 * itself is the test: each port is tried on the real socket, the next one on EADDRINUSE, so
 * threads and processes sharing a range need no coordination (mediasoup's port manager works
 * the same way). A range with no free port fails that negotiation (PeerTransport turns it into
 * the `over-capacity` RouterError: 503 for WHIP/WHEP, `over-capacity` in a room) instead of
 * crashing.
 *
 * The same hook puts a transport on the thread's shared port instead (udp-mux.ts), when werift
 * carries that mux's marker as its port range.
 */
import type { Socket } from "node:dgram";
import { UdpTransport } from "werift";
import { muxOfRange } from "./udp-mux.ts";

/** Every port of `--rtc-ports` is bound already. */
export class RtcPortsExhaustedError extends Error {
  override name = "RtcPortsExhaustedError";
}

/** What werift's UdpTransport keeps of its options (werift declares them private). */
interface BindOptions {
  port?: number;
  portRange?: [number, number];
  interfaceAddresses?: { udp4?: string; udp6?: string };
}

let installed = false;
/** Searches that found no free port in this isolate, and the latest one's error. */
let exhaustions = 0;
let lastExhaustion: RtcPortsExhaustedError | undefined;
/**
 * Where the next search starts, relative to the range's first port. Each isolate starts at a
 * random place and moves past the port it took, so threads rarely try the same port and a
 * closed session's port is not reused at once (a late packet for it finds nobody).
 */
let cursor = -1;

/** Installs the binder on every werift UDP transport of this isolate; idempotent. */
export function bindRtcPortsWithoutRace(): void {
  if (installed) return;
  installed = true;
  const proto = UdpTransport.prototype;
  const werift = proto["init"];
  proto["init"] = async function (this: UdpTransport): Promise<void> {
    const options: BindOptions = this["options"];
    const range = options.portRange;
    // A transport on the thread's shared port (--rtc-port) gets no socket of its own.
    const mux = muxOfRange(range);
    if (mux) {
      mux.adopt(this);
      return;
    }
    if (!range || options.port) return await werift.call(this);
    const family: "udp4" | "udp6" = this["socketType"];
    await bindInRange(this.socket, range, options.interfaceAddresses?.[family]);
  };
}

async function bindInRange(socket: Socket, [min, max]: [number, number], address?: string) {
  const size = max - min + 1;
  // Each search walks the whole range once from its own start; the next search (perhaps one
  // running at the same time) starts one further, not behind the ports this one is trying.
  const start = cursor < 0 ? Math.floor(Math.random() * size) : cursor % size;
  cursor = start + 1;
  for (let i = 0; i < size; i++) {
    const offset = (start + i) % size;
    const error = await bind(socket, min + offset, address);
    if (!error) {
      cursor = Math.max(cursor, start + i + 1);
      return;
    }
    if (!isTaken(error)) throw error;
  }
  exhaustions++;
  lastExhaustion = new RtcPortsExhaustedError(
    `no free UDP port in --rtc-ports ${min}-${max}: all ${size} are in use; widen the range`,
  );
  throw lastExhaustion;
}

/** A mark to pass to `exhaustedSince`. */
export function exhaustionMark(): number {
  return exhaustions;
}

/**
 * The error of a port search that failed after `mark`, if one did. werift catches what its
 * socket's bind throws and goes on to describe a connection without a candidate; a
 * negotiation that ends that way asks here whether the port range was the cause.
 */
export function exhaustedSince(mark: number): RtcPortsExhaustedError | undefined {
  return exhaustions > mark ? lastExhaustion : undefined;
}

/** One bind attempt on the socket itself; a failed bind leaves it unbound for the next. */
function bind(socket: Socket, port: number, address?: string): Promise<Error | undefined> {
  return new Promise((resolve) => {
    const failed = (error: Error) => {
      socket.off("listening", bound);
      resolve(error);
    };
    const bound = () => {
      socket.off("error", failed);
      resolve(undefined);
    };
    socket.once("error", failed);
    socket.once("listening", bound);
    socket.bind({ port, address });
  });
}

function isTaken(error: Error): boolean {
  const code = "code" in error ? error.code : undefined;
  return code === "EADDRINUSE" || code === "EACCES";
}
