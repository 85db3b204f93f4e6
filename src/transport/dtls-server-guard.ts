/**
 * A guard on werift's DTLS server, the mirror of dtls-client-guard.ts. werift is the DTLS server
 * of every connection Quetzal offers (a room's subscribe connection: browsers answer
 * `a=setup:active`) and of the werift peers the tests use as clients. A DTLS client retransmits
 * a flight that got no answer in time (Chromium's first timeout follows the ICE round trip:
 * tens of milliseconds on loopback), so an event-loop stall of the server puts copies of the
 * client's flights in its socket behind the original, and Deno's UDP receive path can deliver the
 * first datagrams of a
 * socket out of order (werift-notes.md §3c). werift handles copies that arrive late badly:
 *
 * - A copy of the first ClientHello (no cookie) after flight 4 went out makes werift run flight 2
 *   again, which draws a new server random and a new ECDHE key pair. Before the client's key
 *   exchange, the master secret no longer matches the client's: the handshake never completes
 *   (a connection that sits in "connecting"). After it, werift's Finished is still right, so both
 *   ends say connected, but the SRTP keys are exported with the new random: the browser drops
 *   every packet Quetzal sends (no inbound stream at all) and, receiving nothing, sends no RTCP,
 *   so Quetzal counts no SRTP error either.
 * - A ClientHello once connected makes werift "renegotiate": it drops its keys and handshake
 *   state (`connected` turns false), and a copy of flight 5 arriving after that throws and fails
 *   the transport. WebRTC never renegotiates DTLS.
 *
 * The guard drops both. (A copy of the client's Finished once connected is answered by werift
 * with its flight 6 again, as RFC 6347 §4.2.4 asks: a client that lost it still connects.)
 */
import { DtlsServer, RTCDtlsTransport } from "werift";

/** RFC 5246 §7.4's number of the ClientHello handshake message. */
const CLIENT_HELLO = 1;

/** What the wrapped handler takes: werift's assembled handshake messages. */
type Assembled = Parameters<DtlsServer["onHandleHandshakes"]>[0];

let installed = false;

/** Installs the guard on every DTLS server werift makes in this isolate; idempotent. */
export function guardDtlsServers(): void {
  if (installed) return;
  installed = true;
  const start = RTCDtlsTransport.prototype.start;
  RTCDtlsTransport.prototype.start = function (this: RTCDtlsTransport): Promise<void> {
    const started = start.call(this);
    // werift makes its DTLS socket synchronously in `start` (before its first await) and only
    // reads datagrams on later turns of the event loop: the guard is in place before any.
    if (this.dtls instanceof DtlsServer) guardDtlsServer(this.dtls);
    return started;
  };
}

/** Guards one werift DTLS server (exported for the test, which makes servers directly). */
export function guardDtlsServer(server: DtlsServer): void {
  const handle = server.onHandleHandshakes;
  server.onHandleHandshakes = (assembled: Assembled) => {
    const keep = assembled.filter((h) => !stale(server, h));
    return keep.length === assembled.length
      ? handle(assembled)
      : keep.length === 0
      ? Promise.resolve()
      : handle(keep);
  };
}

/** A copy of a ClientHello werift has already answered (see the module comment). */
function stale(server: DtlsServer, h: Assembled[number]): boolean {
  if (h.msg_type !== CLIENT_HELLO) return false;
  return server.connected || (server.dtls.flight >= 4 && !hasCookie(h.fragment));
}

/**
 * Whether a ClientHello body carries a cookie (RFC 6347 §4.2.1: version 2 bytes, random 32,
 * session id with a 1-byte length, then the cookie with a 1-byte length). A body too short to
 * tell counts as having one (werift then handles it as it would unguarded).
 */
function hasCookie(body: Uint8Array): boolean {
  const sessionIdLength = body[34];
  if (sessionIdLength === undefined) return true;
  const cookieLength = body[35 + sessionIdLength];
  return cookieLength === undefined || cookieLength > 0;
}
