/**
 * One inbound encoding of a producer: an SSRC (and rid, under simulcast) with its receive
 * state. NACK tracking, receiver statistics and the retransmission cache are per SSRC, never
 * per receiver (werift's per-receiver NACK handler sends bogus NACKs under simulcast).
 */
import { NackGenerator } from "../rtp/nack-generator.ts";
import { ReceiveStats } from "../rtp/receive-stats.ts";
import { RetransmissionCache } from "../rtp/retransmission-cache.ts";
import type { LayerState } from "./layer-tracker.ts";
import { DependencyTemplates } from "../rtp/codecs/dependency-descriptor.ts";

/** About 1 s of 2.5 Mbit/s video or 10 s of Opus (LiveKit keeps 500/200 packets). */
const VIDEO_CACHE = 1024;
const AUDIO_CACHE = 256;

export class Layer {
  readonly ssrc: number;
  readonly rid: string | undefined;
  /** Index of `rid` in the producer's rids (-1: no rid), carried to viewer workers. */
  readonly ridIndex: number;
  readonly stats: ReceiveStats;
  readonly nack: NackGenerator;
  readonly cache: RetransmissionCache;
  /** Latest sender report: NTP (seconds, as a float) ↔ RTP, and when it arrived. */
  srNtpSeconds = -1;
  srRtpTimestamp = 0;
  srArrivalMs = -1;

  /** Activity, bitrate, resolution and rank, kept by the producer's LayerTracker. */
  readonly state: LayerState;
  /** Temporal layers from the dependency descriptor's templates (AV1 carries no TID in-band). */
  readonly templates = new DependencyTemplates();
  /**
   * Temporal id of the packet being fanned out and the highest temporal layer it opens an
   * up-switch to (-1: unknown, none). Set once per packet by the producer, read by every
   * consumer: from the dependency descriptor when its templates give one, else from the
   * payload descriptor (VP8 Y, VP9 U bit).
   */
  packetTid = -1;
  packetSyncUpTo = -1;

  constructor(
    ssrc: number,
    rid: string | undefined,
    kind: "audio" | "video",
    clockRate: number,
    state: LayerState,
    ridIndex = -1,
  ) {
    this.state = state;
    this.ridIndex = ridIndex;
    this.ssrc = ssrc;
    this.rid = rid;
    this.stats = new ReceiveStats(clockRate);
    this.nack = new NackGenerator();
    this.cache = new RetransmissionCache(kind === "video" ? VIDEO_CACHE : AUDIO_CACHE);
  }

  get bitrateBps(): number {
    return this.state.bitrateBps;
  }

  get width(): number {
    return this.state.width;
  }

  get height(): number {
    return this.state.height;
  }

  get lastKeyframeMs(): number {
    return this.state.lastKeyFrameMs;
  }

  /** Active: packets within the tracker's inactivity timeout (1.5 s; longer for slow content). */
  isActive(_nowMs?: number): boolean {
    return this.state.active;
  }
}
