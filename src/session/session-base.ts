/**
 * What publisher and viewer sessions share: identity, the transport, liveness and closing.
 */
import type { SessionTrace } from "../observability/tracing.ts";
import type { PeerTransport } from "./peer-transport.ts";

/** Why a session ended; the `reason` label of `quetzal_sessions_ended_total`. */
export type EndReason =
  | "deleted"
  | "replaced"
  | "ice_failed"
  | "dtls_failed"
  | "consent_expired"
  | "connect_timeout"
  | "publisher_left"
  | "shutdown"
  | "error";

/** A peer that sent nothing (no SRTP, no SRTCP) this long is gone (RFC 7675 uses 30 s). */
export const DEAD_PEER_MS = 15_000;

export abstract class SessionBase {
  abstract readonly role: "publisher" | "viewer";
  readonly id: string;
  readonly streamName: string;
  readonly peer: PeerTransport;
  readonly createdAtMs = performance.now();
  readonly createdAt = new Date();
  /** SSRC used as the sender of our RTCP. */
  readonly rtcpSsrc = crypto.getRandomValues(new Uint32Array(1))[0];
  /** Strong entity tag of the current ICE session (RFC 9725 §4.3.1). */
  etag = `"${crypto.randomUUID()}"`;
  connectedAtMs = -1;
  /** The peer's current ICE username fragment (an ICE restart changes it). */
  remoteIceUfrag = "";
  closed = false;
  endReason: EndReason | undefined;
  /** Lifecycle span and log lines; set by the owner. */
  trace: SessionTrace | undefined;
  /** Called once when the session must end (dead peer, transport failure); set by the owner. */
  onEnd: (reason: EndReason) => void = () => {};
  /**
   * Silence after which the peer is taken for gone (\`consent_expired\`). Infinity for a room
   * participant's peers: they live as long as the seat, across network changes.
   */
  deadPeerMs = DEAD_PEER_MS;
  #connectDeadlineMs = Infinity;

  constructor(id: string, streamName: string, peer: PeerTransport) {
    this.id = id;
    this.streamName = streamName;
    this.peer = peer;
  }

  /** Sets how long the peer has to connect. */
  expectConnectionWithin(ms: number): void {
    this.#connectDeadlineMs = performance.now() + ms;
  }

  onConnected(): void {
    this.connectedAtMs = performance.now();
    // DTLS runs over the selected ICE pair: both are up when werift reports DTLS connected.
    this.trace?.mark("ice_connected");
    this.trace?.mark("dtls_connected");
  }

  onFailed(stage: "ice" | "dtls"): void {
    this.onEnd(stage === "ice" ? "ice_failed" : "dtls_failed");
  }

  /** Liveness checks; subclasses add their periodic RTCP. */
  tick(nowMs: number): void {
    if (this.closed) return;
    if (this.connectedAtMs < 0) {
      if (nowMs > this.#connectDeadlineMs) this.onEnd("connect_timeout");
      return;
    }
    const last = Math.max(this.peer.counters.lastReceiveMs, this.connectedAtMs);
    if (nowMs - last > this.deadPeerMs) this.onEnd("consent_expired");
  }

  /** Frees the transport; idempotent. The owner removes the session from its tables. */
  async close(reason: EndReason): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.endReason = reason;
    this.trace?.end(reason === "connect_timeout" ? "ice_failed" : reason);
    await this.peer.close();
  }
}
