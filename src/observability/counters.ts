/**
 * Plain numbers that the packet path increments.
 *
 * The hot path never touches prom-client: an increment here is one add on a field of a
 * stable-shaped object. `metrics.ts` reads these at scrape time through `collect()`.
 * Arrays indexed by `Kind` (0 = audio, 1 = video) keep labels out of the packet path.
 */

/** Index into per-kind arrays. */
export const Kind = { audio: 0, video: 1 } as const;
export type KindIndex = 0 | 1;

/** Why a packet was not forwarded; values of the `reason` label of `quetzal_packets_dropped_total`. */
export const DropReason = {
  /** SRTP/SRTCP authentication failed or replayed. */
  srtp: 0,
  /** Not a well-formed RTP/RTCP packet. */
  malformed: 1,
  /** A viewer waits for a key frame (join or layer switch). */
  waitingKeyframe: 2,
  /** A bounded send queue was full (overload). */
  queueFull: 3,
  /** Duplicate or too old to forward. */
  duplicate: 4,
  /** No route: unknown SSRC or payload type. */
  unroutable: 5,
  /** Padding-only packet, consumed by the server. */
  padding: 6,
  /** The socket refused the packet. */
  sendError: 7,
} as const;
export const DROP_REASONS = Object.keys(DropReason) as (keyof typeof DropReason)[];

/** All hot-path counters. Fields only; no methods run per packet. */
export class Counters {
  /** RTP packets received from publishers, by kind. */
  rtpPacketsIn: [number, number] = [0, 0];
  rtpBytesIn: [number, number] = [0, 0];
  /** RTP packets sent to viewers (retransmissions included), by kind. */
  rtpPacketsOut: [number, number] = [0, 0];
  rtpBytesOut: [number, number] = [0, 0];
  /** Dropped packets, indexed by `DropReason`. */
  packetsDropped: number[] = new Array(DROP_REASONS.length).fill(0);
  /** NACKed sequence numbers: [in = received from viewers, out = sent to publishers]. */
  nacks: [number, number] = [0, 0];
  /** Packets retransmitted to viewers from the cache. */
  retransmissions = 0;
  /** Key-frame requests: [pli in, pli out, fir in, fir out]; in = from viewers, out = to publishers. */
  pliIn = 0;
  pliOut = 0;
  firIn = 0;
  firOut = 0;
}

/** The process-wide counters. */
export const counters: Counters = new Counters();
