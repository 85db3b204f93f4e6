/**
 * A guard on werift's DTLS client (Quetzal is the DTLS client of every session: ICE-lite,
 * `a=setup:active`). When a retransmission of the peer's flight 4 (ServerHello …
 * ServerHelloDone) crosses werift's flight 5, werift handles it as a new flight 4: it makes a
 * new ECDHE key pair and, once the peer's Finished has arrived, runs flight 5 again, which
 * computes a new master secret. The peer keeps the first one, so both ends report DTLS
 * connected and every SRTP and SRTCP packet fails authentication in both directions: a viewer
 * that decodes nothing, ever (seen with Chromium under CPU load, 4 of 9 two-viewer runs on 2
 * busy cores, Chromium logging `Failed to unprotect RTP packet ... err=7`; a delayed or lossy
 * link makes the crossing likelier). Once flight 5 is out, a repeated flight 4 is dropped;
 * werift's own flight timer retransmits flight 5 if it was lost.
 */
import { DtlsClient } from "werift";

/** Handshake types of a DTLS server's flight 4 (RFC 6347 §4.2.4, RFC 5246 §7.4). */
const FLIGHT_4 = new Set([2, 11, 12, 13, 14]);
let installed = false;

/** Installs the guard on every werift DTLS client of this isolate; idempotent. */
export function guardDtlsClientFlight5(): void {
  if (installed) return;
  installed = true;
  const connect = DtlsClient.prototype.connect;
  DtlsClient.prototype.connect = function (this: DtlsClient): Promise<void> {
    const handle = this.onHandleHandshakes;
    this.onHandleHandshakes = (assembled) => {
      if (this.dtls.flight < 5) return handle(assembled);
      const rest = assembled.filter((h) => !FLIGHT_4.has(h.msg_type));
      return rest.length === assembled.length
        ? handle(assembled)
        : rest.length === 0
        ? Promise.resolve()
        : handle(rest);
    };
    return connect.call(this);
  };
}
