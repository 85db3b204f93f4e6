/**
 * Messages between the main thread and viewer workers (structured clone over postMessage).
 * Media never travels here: packets go through each worker's PacketRing. These carry
 * signalling (offers, answers, ends), rare events (key-frame requests, sender reports) and a
 * periodic status report.
 */
import type { CodecName } from "../rtp/codecs/codec.ts";
import type { SrtpMode } from "../transport/srtp-backend.ts";
import type { NetworkOptions } from "../session/peer-transport.ts";
import type { SdpCodec, SdpExtmap } from "../session/sdp.ts";
import type { EndReason } from "../session/session-base.ts";
import type { SwitchReason } from "../sfu/consumer.ts";
import type { SessionEvent } from "../observability/tracing.ts";

/** One published track as a worker needs it to build its mirror Producer and plan answers. */
export interface TrackInfo {
  /** Process-wide id of the main thread's Producer (the ring's track id). */
  trackId: number;
  kind: "audio" | "video";
  mid: string;
  codecName: CodecName;
  codec: SdpCodec;
  rids: string[];
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
  /** A publisher went live or was replaced on `name`. */
  | { t: "stream"; name: string; tracks: TrackInfo[] }
  /** The publisher of `name` left (consumers stay, idle). */
  | { t: "unstream"; name: string; trackIds: number[] }
  | { t: "play"; req: number; id: string; name: string; offer: string }
  | { t: "end"; req: number; id: string; reason: EndReason }
  | {
    t: "restartIce";
    id: string;
    remoteUfrag: string;
    remotePwd: string;
    iceUfrag: string;
    icePwd: string;
  }
  | { t: "pin"; id: string; mid: string; rid: string | null }
  /** WHEP temporal pin (null: automatic) and cap. */
  | { t: "temporal"; id: string; mid: string; pinned: number | null; max?: number }
  | {
    t: "caps";
    id: string;
    mid: string;
    maxWidth?: number;
    maxHeight?: number;
    maxSpatial?: number;
  }
  | {
    t: "sr";
    trackId: number;
    ssrc: number;
    ntpSeconds: number;
    rtpTimestamp: number;
    arrivalEpochMs: number;
  }
  | { t: "close"; req: number };

/** What a worker reports about one viewer. */
export interface ViewerStatus {
  id: string;
  /** ICE and DTLS are up on the worker's transport. */
  connected: boolean;
  estimateBps: number;
  consumers: {
    mid: string;
    currentSsrc: number;
    targetSsrc: number;
    reason: SwitchReason | null;
    packetsSent: number;
    /** Temporal layer target and the one forwarded (-1: all). */
    temporalTarget: number;
    temporalCurrent: number;
  }[];
}

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
  sendLinks: [number, number];
  /** The worker's histograms since the previous status: per-bucket counts and sum, by name. */
  histograms: Record<string, { counts: number[]; sum: number }>;
}

export type FromWorker =
  /** `srtp`: the SRTP backend the worker runs (its own selection, see viewer-worker.ts). */
  | { t: "ready"; index: number; srtp: string }
  | { t: "reply"; req: number; ok: true; result?: PlayResult }
  | { t: "reply"; req: number; ok: false; error: { name: string; message: string } }
  | { t: "keyframe"; trackId: number; ssrc: number }
  | { t: "ended"; id: string; reason: EndReason }
  /** A lifecycle step of a viewer (ICE and DTLS up, first packet sent), for its SessionTrace. */
  | { t: "session"; id: string; event: SessionEvent }
  /** A link of the worker sends through node:dgram instead of the syscall path (once). */
  | { t: "send-path-fallback"; reason: string }
  | {
    t: "status";
    viewers: ViewerStatus[];
    counters: CounterDelta;
    /** Packets read from the ring since the previous status. */
    ringPackets: number;
    /** Milliseconds the worker spent busy since the previous status (CPU proxy). */
    busyMs: number;
  };

/** The worker's answer to a play request. */
export interface PlayResult {
  answer: string;
  etag: string;
  remoteIceUfrag: string;
  consumers: { mid: string; kind: "audio" | "video"; ssrc: number; trackId: number }[];
}
