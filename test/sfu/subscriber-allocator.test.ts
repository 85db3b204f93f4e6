import { assert, assertEquals } from "@std/assert";
import { LayerAllocator } from "../../src/sfu/allocator.ts";
import {
  type AllocationTrack,
  SubscriberAllocator,
  TrackPriority,
  type TrackPriorityValue,
} from "../../src/sfu/subscriber-allocator.ts";
import { FakeLayer } from "../support/allocator-layers.ts";

/** A 3-layer simulcast camera: 180p 150k, 360p 500k, 720p 1.5M. */
function camera(): FakeLayer[] {
  return [
    new FakeLayer(0, "q", 150_000, 320, 180),
    new FakeLayer(1, "h", 500_000, 640, 360),
    new FakeLayer(2, "f", 1_500_000, 1280, 720),
  ];
}

function track(
  priority: TrackPriorityValue,
  maxHeight = Infinity,
  layers = camera(),
): AllocationTrack {
  return { priority, maxHeight, layers };
}

function split(estimate: number, audio: number, tracks: AllocationTrack[]) {
  const alloc = new SubscriberAllocator();
  const estimates = new Float64Array(tracks.length);
  const reserve = new Float64Array(1);
  alloc.split(estimate, audio, tracks, estimates, reserve);
  return { estimates: [...estimates], reserve: reserve[0], leftover: alloc.leftoverBps };
}

/** The rank each track's LayerAllocator picks from its share (no hysteresis at the first call). */
function ranks(estimate: number, audio: number, tracks: AllocationTrack[]): number[] {
  const { estimates, reserve } = split(estimate, audio, tracks);
  return tracks.map((t, i) => {
    if (estimates[i] === 0) return -1;
    const a = new LayerAllocator();
    a.update(estimates[i], 0, reserve, t.layers, 10_000);
    return a.targetRank;
  });
}

Deno.test("one video track gets the whole estimate and the audio reserve, as a WHEP viewer did", () => {
  const { estimates, reserve } = split(1_000_000, 128_000, [track(TrackPriority.camera)]);
  assertEquals(estimates, [1_000_000]);
  assertEquals(reserve, 128_000);
});

Deno.test("without feedback every wanted track may take any layer; unwanted ones pause", () => {
  const { estimates } = split(Infinity, 40_000, [
    track(TrackPriority.camera),
    track(TrackPriority.thumbnail, 0),
  ]);
  assertEquals(estimates, [Infinity, 0]);
});

Deno.test("constrained link: the pinned track high, thumbnails low", () => {
  // 2.2 Mbit/s: the stage camera at 720p, two thumbnails at 180p.
  const got = ranks(2_200_000, 80_000, [
    track(TrackPriority.thumbnail),
    track(TrackPriority.stage),
    track(TrackPriority.thumbnail),
  ]);
  assertEquals(got, [0, 2, 0]);
});

Deno.test("screen share is served before cameras, and is never paused for bandwidth", () => {
  const screen = [
    new FakeLayer(0, "l", 300_000, 960, 540),
    new FakeLayer(1, "h", 1_200_000, 1920, 1080),
  ];
  // 800 kbit/s: the screen's low layer fits, then one camera's 180p; the other camera pauses.
  const got = ranks(800_000, 40_000, [
    track(TrackPriority.camera),
    track(TrackPriority.screen, Infinity, screen),
    track(TrackPriority.camera),
    track(TrackPriority.camera),
  ]);
  assertEquals(got[1], 0, "the screen gets its low layer");
  assertEquals(got.filter((r) => r === 0).length, 3, "two cameras at 180p besides the screen");
  assertEquals(got.filter((r) => r === -1).length, 1, "what does not fit pauses");
  // Far too little: the screen still gets its lowest layer, the cameras pause.
  assertEquals(
    ranks(200_000, 40_000, [
      track(TrackPriority.camera),
      track(TrackPriority.screen, 1080, screen),
    ]),
    [-1, 0],
  );
});

Deno.test("receiver constraints: maxHeight caps the raise, 0 pauses", () => {
  const got = ranks(10_000_000, 40_000, [
    track(TrackPriority.camera, 360),
    track(TrackPriority.camera, 0),
    track(TrackPriority.speaker, 1080),
  ]);
  assertEquals(got, [1, -1, 2]);
});

Deno.test("audio is reserved before any video", () => {
  // 600 kbit/s with 3 audio slots at 40 kbit/s: 450 kbit/s for video → two 180p thumbnails
  // (330 kbit/s planned), not a 360p.
  const { estimates } = split(600_000, 120_000, [
    track(TrackPriority.camera),
    track(TrackPriority.camera),
  ]);
  const total = estimates.reduce((a, b) => a + b, 0) * 0.95;
  assert(total <= 600_000 * 0.95 - 120_000 + 1, `video gets at most the budget (${total})`);
  assertEquals(
    ranks(600_000, 120_000, [track(TrackPriority.camera), track(TrackPriority.camera)]),
    [
      0,
      0,
    ],
  );
});

Deno.test("layers that are not live are skipped; a track with none gets nothing", () => {
  const dead = camera();
  for (const l of dead) l.stop();
  const partial = camera();
  partial[1].stop();
  const got = split(5_000_000, 0, [
    track(TrackPriority.camera, Infinity, dead),
    track(TrackPriority.camera, Infinity, partial),
  ]);
  assertEquals(got.estimates[0], 0);
  assert(got.estimates[1] >= 1_500_000, "the live 720p is reached over the stopped 360p");
});
