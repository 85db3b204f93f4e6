/**
 * One inbound encoding of a producer: an SSRC (and rid, under simulcast) with its receive
 * state. NACK tracking, receiver statistics and the retransmission cache are per SSRC, never
 * per receiver (werift's per-receiver NACK handler sends bogus NACKs under simulcast).
 */
import { NackGenerator } from "../rtp/nack-generator.ts";
import { ReceiveStats } from "../rtp/receive-stats.ts";
import { RetransmissionCache } from "../rtp/retransmission-cache.ts";

/** About 1 s of 2.5 Mbit/s video or 10 s of Opus (LiveKit keeps 500/200 packets). */
const VIDEO_CACHE = 1024;
const AUDIO_CACHE = 256;

export class Layer {
  readonly ssrc: number;
  readonly rid: string | undefined;
  readonly stats: ReceiveStats;
  readonly nack: NackGenerator;
  readonly cache: RetransmissionCache;
  packets = 0;
  bytes = 0;
  lastPacketMs = -1;
  lastKeyframeMs = -1;
  width = 0;
  height = 0;
  /** Bits per second over the last completed 1 s window. */
  bitrateBps = 0;
  #windowStartMs = -1;
  #windowBytes = 0;
  /** Latest sender report: NTP (seconds, as a float) ↔ RTP, and when it arrived. */
  srNtpSeconds = -1;
  srRtpTimestamp = 0;
  srArrivalMs = -1;

  constructor(ssrc: number, rid: string | undefined, kind: "audio" | "video", clockRate: number) {
    this.ssrc = ssrc;
    this.rid = rid;
    this.stats = new ReceiveStats(clockRate);
    this.nack = new NackGenerator();
    this.cache = new RetransmissionCache(kind === "video" ? VIDEO_CACHE : AUDIO_CACHE);
  }

  /** Books one packet of `length` bytes. */
  count(length: number, nowMs: number): void {
    this.packets++;
    this.bytes += length;
    this.lastPacketMs = nowMs;
    if (this.#windowStartMs < 0) this.#windowStartMs = nowMs;
    this.#windowBytes += length;
    const elapsed = nowMs - this.#windowStartMs;
    if (elapsed >= 1000) {
      this.bitrateBps = Math.round(this.#windowBytes * 8000 / elapsed);
      this.#windowBytes = 0;
      this.#windowStartMs = nowMs;
    }
  }

  /** Active: a packet within the last 1.5 s (mediasoup's inactivity threshold). */
  isActive(nowMs: number): boolean {
    return this.lastPacketMs >= 0 && nowMs - this.lastPacketMs < 1500;
  }
}
