/**
 * A guard on werift's DTLS client (Quetzal is the DTLS client of every connection it answers:
 * WHIP, WHEP, a room's publish connection, `a=setup:active`; dtls-server-guard.ts covers the
 * connections it offers). When a retransmission of the peer's flight 4 (ServerHello …
 * ServerHelloDone) crosses werift's flight 5, werift handles it as a new flight 4: it makes a
 * new ECDHE key pair and, once the peer's Finished has arrived, runs flight 5 again, which
 * computes a new master secret. The peer keeps the first one, so both ends report DTLS
 * connected and every SRTP and SRTCP packet fails authentication in both directions: a viewer
 * that decodes nothing, ever (seen with Chromium under CPU load, 4 of 9 two-viewer runs on 2
 * busy cores, Chromium logging `Failed to unprotect RTP packet ... err=7`; a delayed or lossy
 * link makes the crossing likelier). Once flight 5 is out, a repeated flight 4 is dropped (and
 * a repeated flight 2 once flight 3 is out); werift's own flight timer retransmits its last
 * flight if it was lost.
 */
import { DtlsClient } from "werift";

/**
 * The flight (RFC 6347 §4.2.4) of each handshake message a DTLS server sends before its
 * Finished: HelloVerifyRequest is flight 2; ServerHello, Certificate, ServerKeyExchange,
 * CertificateRequest and ServerHelloDone are flight 4 (RFC 5246 §7.4 numbers the types).
 */
const SERVER_FLIGHT = new Map([[3, 2], [2, 4], [11, 4], [12, 4], [13, 4], [14, 4]]);
let installed = false;

/** Installs the guard on every werift DTLS client of this isolate; idempotent. */
export function guardDtlsClientFlight5(): void {
  if (installed) return;
  installed = true;
  const connect = DtlsClient.prototype.connect;
  DtlsClient.prototype.connect = function (this: DtlsClient): Promise<void> {
    const handle = this.onHandleHandshakes;
    // A message of a flight the client has already answered is a retransmission: werift
    // would answer it anew (a repeated HelloVerifyRequest also restarts its transcript).
    const answered = (type: number) => this.dtls.flight > (SERVER_FLIGHT.get(type) ?? 99);
    this.onHandleHandshakes = (assembled) => {
      const rest = assembled.filter((h) => !answered(h.msg_type));
      return rest.length === assembled.length
        ? handle(assembled)
        : rest.length === 0
        ? Promise.resolve()
        : handle(rest);
    };
    return connect.call(this);
  };
}
