/**
 * Messages between the main thread and viewer workers (structured clone over postMessage).
 * Media never travels here: packets go through each worker's PacketRing. Both directions are
 * discriminated unions on `t`, switched exhaustively on the other side (see `unreachable`).
 *
 * Nothing here is worker-specific vocabulary where a shared one exists: the main Routers'
 * `RouterEvent`s are forwarded as they are (with the transport details a mirror needs), the
 * subscriber seam's `SubscriberCommand`s, `SubscriberEvent`s and `SubscriberSnapshot`s cross
 * verbatim, and failures cross as a RouterError's `ErrorCode`.
 */
import type { SrtpMode } from "../transport/srtp-backend.ts";
import type { SendPathFallbackKind } from "../transport/send-path-fallback.ts";
import type { NetworkOptions } from "../session/peer-transport.ts";
import type { SdpCodec, SdpExtmap } from "../session/sdp.ts";
import type { EndReason } from "../session/session-base.ts";
import type {
  RoomSubscriberCommand,
  RoomSubscriberSpec,
  SubscriberCommand,
  SubscriberCreated,
  SubscriberEvent,
  SubscriberSnapshot,
} from "../session/subscriber-host.ts";
import type { ErrorCode, RouterEvent } from "../sfu/router-protocol.ts";

/** What a worker's mirror of one added producer needs beyond its ProducerInfo. */
export interface TrackMedia {
  /** The ProducerInfo id. */
  producer: string;
  /** The ring's track id of the producer's packets. */
  trackId: number;
  /** The publisher's codec (payload type, clock rate, fmtp) viewers are answered with. */
  codec: SdpCodec;
  /** The publisher's extension IDs. */
  extmaps: SdpExtmap[];
}

/** Settings a worker starts with. */
export interface WorkerInit {
  t: "init";
  index: number;
  ring: SharedArrayBuffer;
  network: NetworkOptions;
  srtp: SrtpMode;
  connectTimeoutMs: number;
  statusIntervalMs: number;
}

export type ToWorker =
  | WorkerInit
  /** A main-thread Router's event, with `media` for each producer it adds. */
  | { t: "router"; event: RouterEvent; media: TrackMedia[] }
  | { t: "create"; req: number; id: string; stream: string; offer: string }
  | { t: "command"; id: string; command: SubscriberCommand }
  /** A room subscriber (its offer follows as a `subscriber` event), its commands, its answers. */
  | { t: "createRoom"; req: number; id: string; spec: RoomSubscriberSpec }
  | { t: "room"; id: string; command: RoomSubscriberCommand }
  | { t: "answer"; req: number; id: string; rev: number; sdp: string }
  | { t: "end"; req: number; id: string; reason: EndReason }
  /** A publisher's sender report (lip sync and layer-switch alignment in the mirror). */
  | {
    t: "sr";
    trackId: number;
    ssrc: number;
    ntpSeconds: number;
    rtpTimestamp: number;
    arrivalEpochMs: number;
  }
  | { t: "close"; req: number };

/** Counter increments since the previous status (see observability/counters.ts). */
export interface CounterDelta {
  rtpPacketsOut: [number, number];
  rtpBytesOut: [number, number];
  packetsDropped: number[];
  nacksIn: number;
  retransmissions: number;
  pliIn: number;
  firIn: number;
  layerSwitches: number[];
  /** Change in open media links by send path (syscall, dgram). */
  sendLinks: [number, number, number];
  /** The worker's histograms since the previous status: per-bucket counts and sum, by name. */
  histograms: Record<string, { counts: number[]; sum: number }>;
}

export type FromWorker =
  /** `srtp`: the SRTP backend the worker runs (its own selection, see viewer-worker.ts). */
  | {
    t: "ready";
    index: number;
    srtp: string;
    /** The worker's shared UDP port (`--rtc-port`), when it has one. */
    rtcPort?: number;
    /** Why the worker cannot serve (its shared port could not be opened). */
    error?: string;
  }
  | { t: "reply"; req: number; ok: true; created?: SubscriberCreated }
  | { t: "reply"; req: number; ok: false; error: { code: ErrorCode; message: string } }
  /** A mirror wants a key frame of a layer: the publisher is on the main thread. */
  | { t: "keyframe"; trackId: number; ssrc: number }
  | { t: "subscriber"; event: SubscriberEvent }
  /** The worker's send path fell back (send-path-fallback.ts), once per kind. */
  | { t: "send-path-fallback"; kind: SendPathFallbackKind; reason: string }
  | {
    t: "status";
    subscribers: SubscriberSnapshot[];
    counters: CounterDelta;
    /** Packets read from the ring since the previous status. */
    ringPackets: number;
    /** Milliseconds the worker spent busy since the previous status (CPU proxy). */
    busyMs: number;
  };
