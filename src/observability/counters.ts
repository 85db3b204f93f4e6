/**
 * Plain numbers that the packet path increments.
 *
 * The hot path never touches prom-client: an increment here is one add on a field of a
 * stable-shaped object. `metrics.ts` reads these at scrape time through `collect()`.
 * Arrays indexed by `Kind` (0 = audio, 1 = video) keep labels out of the packet path.
 */

import { Buckets, FastHistogram } from "./fast-histogram.ts";

/** Index into per-kind arrays. */
export const Kind = { audio: 0, video: 1 } as const;
export type KindIndex = 0 | 1;
/** Label values of `Kind`, in index order. */
export const KINDS = ["audio", "video"] as const;
/** Values of the `direction` label: in = toward the SFU, out = from the SFU. */
export const DIRECTIONS = ["in", "out"] as const;
/** Values of the `type` label of `quetzal_keyframe_requests_total` (RFC 4585 PLI, RFC 5104 FIR). */
export const KEYFRAME_REQUEST_TYPES = ["pli", "fir"] as const;

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
  /** A picture above the viewer's temporal-layer target (pinned, capped or trimmed to fit). */
  temporalLayer: 8,
  /** The producer is muted (by its participant or a moderator): nothing is fanned out. */
  muted: 9,
  /** The consumer is paused: hidden by its receiver or no room in its subscriber's budget. */
  paused: 10,
  /** From an address no transport on the shared UDP port (--rtc-port) owns. */
  unknownSource: 11,
} as const;
export const DROP_REASONS = Object.keys(DropReason) as (keyof typeof DropReason)[];
/** Label values of `DropReason`, in index order (snake_case, as Prometheus label values are). */
export const DROP_REASON_LABELS: readonly string[] = DROP_REASONS.map(snakeCase);

/** How a link sends media; index into `Counters.sendLinks`, values of the `path` label. */
export const SendLinkPath = { syscall: 0, dgram: 1, mux: 2 } as const;
/** Label values of `SendLinkPath`, in index order. */
export const SEND_LINK_PATHS = ["syscall", "dgram", "mux"] as const;

/** Index into per-role arrays; values of the `role` label. */
export const Role = { publisher: 0, viewer: 1 } as const;
export type RoleIndex = 0 | 1;
/** Label values of `Role`, in index order. */
export const ROLES = ["publisher", "viewer"] as const;
export type RoleName = typeof ROLES[number];

/** Why a session ended; values of the `reason` label of `quetzal_sessions_ended_total`. */
export const EndReason = {
  /** The client sent HTTP DELETE on its session resource. */
  deleted: 0,
  /** A new publisher took the stream key over. */
  replaced: 1,
  /** ICE never connected, or consent freshness was lost before DTLS (RFC 7675). */
  iceFailed: 2,
  /** The DTLS handshake failed or timed out. */
  dtlsFailed: 3,
  /** ICE consent expired after the session was up (RFC 7675 §5.1). */
  consentExpired: 4,
  /** Viewer only: the stream's publisher went away. */
  publisherLeft: 5,
  /** The server is shutting down. */
  shutdown: 6,
  /** Anything else (a bug or an unexpected exception). */
  error: 7,
} as const;
/** Label values of `EndReason`, in index order. */
export const END_REASONS = [
  "deleted",
  "replaced",
  "ice_failed",
  "dtls_failed",
  "consent_expired",
  "publisher_left",
  "shutdown",
  "error",
] as const;
export type EndReasonName = typeof END_REASONS[number];

/** Where session setup failed; values of the `stage` label of `quetzal_session_failures_total`. */
export const FailureStage = { sdp: 0, ice: 1, dtls: 2 } as const;
/** Label values of `FailureStage`, in index order. */
export const FAILURE_STAGES = ["sdp", "ice", "dtls"] as const;
export type FailureStageName = typeof FAILURE_STAGES[number];

/** Why a viewer's simulcast layer changed; values of `quetzal_layer_switches_total{reason}`. */
export const SwitchReason = {
  /** The allocator moved up or down with the bandwidth estimate. */
  bandwidth: 0,
  /** The viewer asked for a layer (API or data channel). */
  manual: 1,
  /** The layer being forwarded stopped arriving. */
  layerLoss: 2,
  /** The viewer paused or resumed the track. */
  pause: 3,
} as const;
/** Label values of `SwitchReason`, in index order. */
export const SWITCH_REASONS = ["bandwidth", "manual", "layer_loss", "pause"] as const;

/** Maps a label value back to its index; -1 when it is not one of `labels`. */
export function labelIndex(labels: readonly string[], value: string): number {
  return labels.indexOf(value);
}

function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase());
}

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
  /** Sessions created, indexed by `Role`. */
  sessionsCreated: [number, number] = [0, 0];
  /** Sessions ended, indexed by `Role` then `EndReason`. */
  sessionsEnded: [number[], number[]] = [
    new Array(END_REASONS.length).fill(0),
    new Array(END_REASONS.length).fill(0),
  ];
  /** Session setups that failed, indexed by `FailureStage`. */
  sessionFailures: number[] = new Array(FAILURE_STAGES.length).fill(0);
  /** Simulcast layer switches, indexed by `SwitchReason`. */
  layerSwitches: number[] = new Array(SWITCH_REASONS.length).fill(0);
  /** Media links open, indexed by `SendLinkPath` (a level: +1 on open, -1 on close). */
  sendLinks: [number, number, number] = [0, 0, 0];
}

/** The process-wide counters. */
export const counters: Counters = new Counters();

export { Buckets, FastHistogram } from "./fast-histogram.ts";

/** Hot-path histograms: `observe()` only; `metrics.ts` renders them at scrape time. */
export class Histograms {
  /** RTP packet receive → send to a viewer, seconds (µs-scale buckets). */
  forwardLatencySeconds: FastHistogram = new FastHistogram(Buckets.forwardLatencySeconds);
  /** Offer received → first media packet, seconds. */
  sessionSetupSeconds: FastHistogram = new FastHistogram(Buckets.sessionSetupSeconds);
  /**
   * Viewer bandwidth estimates in bits per second, one sample per allocator run; exposed as
   * `quetzal_bandwidth_estimate_bytes_per_second` (divided by 8).
   */
  bandwidthEstimateBits: FastHistogram = new FastHistogram(Buckets.bandwidthEstimateBits);
  /** RTT computed from RTCP SR/RR, seconds. */
  rttSeconds: FastHistogram = new FastHistogram(Buckets.rttSeconds);
  /** Interarrival jitter from RTCP RR, seconds. */
  jitterSeconds: FastHistogram = new FastHistogram(Buckets.jitterSeconds);
  /** RTCP RR fraction lost, as a ratio 0..1. */
  packetLossRatio: FastHistogram = new FastHistogram(Buckets.packetLossRatio);
  /** Key-frame request → key frame forwarded to the viewer, seconds. */
  keyframeWaitSeconds: FastHistogram = new FastHistogram(Buckets.keyframeWaitSeconds);
}

/** The process-wide histograms. */
export const histograms: Histograms = new Histograms();

/** Track sources of room media, values of the `source` label (src/sfu/router-protocol.ts). */
export const ROOM_SOURCES = ["camera", "microphone", "screen", "screenAudio"] as const;
/** A room participant's two connections, values of the `pc` label. */
export const ROOM_PCS = ["pub", "sub"] as const;
/** Which way a dynacast constraint moved, values of the `direction` label. */
export const DYNACAST_DIRECTIONS = ["up", "down"] as const;

/** Client message types of signalling v1 (src/signal/messages.ts; a test keeps them equal). */
export const SIGNAL_MESSAGE_TYPES = [
  "join",
  "offer",
  "answer",
  "candidate",
  "setSubscription",
  "mute",
  "raiseHand",
  "ping",
  "restartIce",
  "leave",
  "promote",
  "demote",
  "muteParticipant",
  "remove",
  "endRoom",
  "createInvite",
  "resetInvites",
] as const;

/** Error codes (src/sfu/router-protocol.ts ERROR_CODES; a test keeps them equal). */
export const SIGNAL_ERROR_CODES = [
  "bad-request",
  "unsupported-version",
  "unauthorized",
  "forbidden",
  "not-found",
  "no-source",
  "room-full",
  "video-limit",
  "conflict",
  "unsupported",
  "rate-limited",
  "e2ee-forbids",
  "over-capacity",
  "internal",
] as const;

/** Room media and signalling events, bumped by src/signal. */
export class RoomCounters {
  /** Client messages handled, by type (SIGNAL_MESSAGE_TYPES order). */
  readonly signalMessages = new Float64Array(SIGNAL_MESSAGE_TYPES.length);
  /** Refusals sent (`reply` with ok false, or `error`), by code (SIGNAL_ERROR_CODES order). */
  readonly signalErrors = new Float64Array(SIGNAL_ERROR_CODES.length);
  /** Offers answered on publish connections (by the client) and sent on subscribe ones. */
  readonly renegotiations = new Float64Array(2);
  /** The loudest speaker of a room changed. */
  speakerChanges = 0;
  /** Dynacast constraints sent to publishers, by direction. */
  readonly dynacast = new Float64Array(2);
}

export const roomCounters: RoomCounters = new RoomCounters();
