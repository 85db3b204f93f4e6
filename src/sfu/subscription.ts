/**
 * What one room subscriber wants of each published track (rooms.md §8; signalling
 * `setSubscription`): a maximum picture height per (participant, source), 0 paused, and a
 * stage pin. Until the first `setSubscription` every track is wanted at any size, so a client
 * that never sends one still receives everything; from then on the set is whole, and a track
 * it does not list is paused (docs/signalling.md: "tracks not listed are not received").
 *
 * The same answers feed the subscriber's allocator (caps and priority per consumer) and the
 * publishers' dynacast (the highest height anyone wants, dynacast.ts).
 */
import type { Source } from "./router-protocol.ts";
import { TrackPriority, type TrackPriorityValue } from "./subscriber-allocator.ts";

/** The largest height a subscriber can ask for; "any" before the first setSubscription. */
export const ANY_HEIGHT = 1080;

export interface SubscriptionItem {
  participant: string;
  source: Source;
  maxHeight: number;
  stage: boolean;
}

export interface Want {
  maxHeight: number;
  stage: boolean;
}

const ANY: Want = { maxHeight: ANY_HEIGHT, stage: false };
const NONE: Want = { maxHeight: 0, stage: false };

export class Subscription {
  /** undefined until the first setSubscription. */
  #items: Map<string, Want> | undefined;

  /** Replaces the wanted set. */
  set(items: readonly SubscriptionItem[]): void {
    const next = new Map<string, Want>();
    for (const item of items) {
      next.set(key(item.participant, item.source), {
        maxHeight: item.maxHeight,
        stage: item.stage,
      });
    }
    this.#items = next;
  }

  /** What is wanted of `participant`'s `source`. */
  want(participant: string, source: Source): Want {
    if (this.#items === undefined) return ANY;
    return this.#items.get(key(participant, source)) ?? NONE;
  }
}

/**
 * A video track's rank in one subscriber's bandwidth order: pinned first, then screens, then
 * whoever is speaking, then the other cameras.
 */
export function trackPriority(
  source: Source,
  stage: boolean,
  speaking: boolean,
): TrackPriorityValue {
  if (stage) return TrackPriority.stage;
  if (source === "screen") return TrackPriority.screen;
  if (speaking) return TrackPriority.speaker;
  return TrackPriority.camera;
}

function key(participant: string, source: Source): string {
  return `${participant}\u0000${source}`;
}
