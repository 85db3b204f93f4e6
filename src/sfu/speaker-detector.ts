/**
 * Who is speaking in a room, from the audio level each microphone's packets carry (RFC 6464:
 * one byte, V flag and level 0..127 in −dBov). The packet path only adds integers on the
 * producer (`AudioLevelStats`); every interval the detector turns them into a ranking.
 *
 * Per interval (400 ms) and microphone: the share of packets louder than the threshold
 * (`AudioLevelStats`, 35: above −35 dBov) and their mean loudness. A microphone speaks when at least 40 % of its
 * packets were loud, smoothed over two intervals so a breath between words does not drop it
 * (LiveKit's defaults; Janus uses a 2 s window and an average of 25). A muted microphone scores
 * nothing. The ranking is reported only when its order or membership changes, so at most
 * 2.5 times a second.
 *
 * @example
 * const detector = new SpeakerDetector();
 * detector.tick(nowMs, router.producers, (ranking) => broadcast(ranking));
 */

/** Integers the producer adds per audio packet (no allocation on the packet path). */
export class AudioLevelStats {
  /** Levels at or below this (−dBov) count as loud (default 35, i.e. above −35 dBov). */
  readonly threshold: number;
  packets = 0;
  /** Packets louder than the threshold. */
  loudPackets = 0;
  /** Sum of (127 − level) over loud packets: loudness in dB above −127 dBov. */
  loudnessSum = 0;

  constructor(threshold = 35) {
    this.threshold = threshold;
  }

  /** Books one packet's RFC 6464 byte (V flag in the top bit, level in the low 7). */
  add(levelByte: number): void {
    this.packets++;
    const level = levelByte & 0x7f;
    if (level <= this.threshold) {
      this.loudPackets++;
      this.loudnessSum += 127 - level;
    }
  }

  reset(): void {
    this.packets = 0;
    this.loudPackets = 0;
    this.loudnessSum = 0;
  }
}

/** What the detector reads of a producer. */
export interface LevelSource {
  readonly id: string;
  readonly participant: string;
  readonly kind: "audio" | "video";
  readonly muted: boolean;
  readonly levels: AudioLevelStats;
}

/** One speaker in a ranking: loudness 0..1 (1 = 0 dBov), loudest first. */
export interface SpeakerLevel {
  participant: string;
  producer: string;
  level: number;
}

export interface SpeakerDetectorOptions {
  /** Interval between rankings (default 400 ms). */
  intervalMs?: number;
  /** Share of loud packets that makes an interval active (default 0.4). */
  activeShare?: number;
}

export class SpeakerDetector {
  readonly #intervalMs: number;
  readonly #activeShare: number;
  /** Per producer id: the previous interval's score (for the two-interval smoothing). */
  readonly #previous = new Map<string, number>();
  #lastMs = -Infinity;
  #ranking: SpeakerLevel[] = [];

  constructor(options: SpeakerDetectorOptions = {}) {
    this.#intervalMs = options.intervalMs ?? 400;
    this.#activeShare = options.activeShare ?? 0.4;
  }

  /** The latest ranking, loudest first. */
  get ranking(): readonly SpeakerLevel[] {
    return this.#ranking;
  }

  /**
   * Once per interval: scores every audio source, resets its counters, and calls `changed` when
   * the set or order of speakers differs from the last ranking.
   */
  tick(
    nowMs: number,
    sources: Iterable<LevelSource>,
    changed: (ranking: readonly SpeakerLevel[]) => void,
  ): void {
    if (nowMs - this.#lastMs < this.#intervalMs) return;
    this.#lastMs = nowMs;
    const next: SpeakerLevel[] = [];
    const seen = new Set<string>();
    for (const source of sources) {
      if (source.kind !== "audio") continue;
      seen.add(source.id);
      const stats = source.levels;
      const share = stats.packets > 0 ? stats.loudPackets / stats.packets : 0;
      const loudness = stats.loudPackets > 0 ? stats.loudnessSum / stats.loudPackets / 127 : 0;
      stats.reset();
      const now = source.muted || share < this.#activeShare ? 0 : loudness;
      const before = this.#previous.get(source.id) ?? 0;
      this.#previous.set(source.id, now);
      // Two intervals: a speaker stays while either was active, at the mean of both.
      const score = now > 0 || before > 0 ? (now + before) / 2 : 0;
      if (score > 0 && !source.muted) {
        next.push({ participant: source.participant, producer: source.id, level: round3(score) });
      }
    }
    for (const id of this.#previous.keys()) if (!seen.has(id)) this.#previous.delete(id);
    next.sort((a, b) => b.level - a.level);
    if (!sameOrder(next, this.#ranking)) {
      this.#ranking = next;
      changed(next);
    } else {
      this.#ranking = next;
    }
  }
}

function sameOrder(a: readonly SpeakerLevel[], b: readonly SpeakerLevel[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i].producer !== b[i].producer) return false;
  return true;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
