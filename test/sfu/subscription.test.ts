import { assertEquals } from "@std/assert";
import { ANY_HEIGHT, Subscription, trackPriority } from "../../src/sfu/subscription.ts";
import { TrackPriority } from "../../src/sfu/subscriber-allocator.ts";

Deno.test("subscription: everything at any size until the first set, then the set is whole", () => {
  const s = new Subscription();
  assertEquals(s.want("p1", "camera"), { maxHeight: ANY_HEIGHT, stage: false });
  s.set([{ participant: "p1", source: "camera", maxHeight: 360, stage: true }]);
  assertEquals(s.want("p1", "camera"), { maxHeight: 360, stage: true });
  // Not listed: paused (docs/signalling.md), another source of the same participant included.
  assertEquals(s.want("p1", "screen"), { maxHeight: 0, stage: false });
  assertEquals(s.want("p2", "camera"), { maxHeight: 0, stage: false });
  s.set([]);
  assertEquals(s.want("p1", "camera").maxHeight, 0);
});

Deno.test("track priority: stage, then screens, then speakers, then cameras", () => {
  assertEquals(trackPriority("camera", true, false), TrackPriority.stage);
  assertEquals(trackPriority("screen", false, true), TrackPriority.screen);
  assertEquals(trackPriority("camera", false, true), TrackPriority.speaker);
  assertEquals(trackPriority("camera", false, false), TrackPriority.camera);
});
