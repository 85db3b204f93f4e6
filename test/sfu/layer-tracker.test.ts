import { assert, assertAlmostEquals, assertEquals } from "@std/assert";
import { LayerChange, type LayerState, LayerTracker } from "../../src/sfu/layer-tracker.ts";

interface Spec {
  rid: string;
  ssrc: number;
  bitrateBps: number;
  width: number;
  height: number;
  fps?: number;
}

/** Feeds `ms` of traffic: 30 fps frames of bitrate/fps bytes each, ticks every 100 ms. */
function feed(
  t: LayerTracker,
  layers: LayerState[],
  specs: Spec[],
  fromMs: number,
  ms: number,
  running: (i: number, now: number) => boolean = () => true,
): number {
  for (let now = fromMs; now < fromMs + ms; now += 10) {
    specs.forEach((s, i) => {
      const fps = s.fps ?? 30;
      const frameMs = 1000 / fps;
      if (Math.floor(now / frameMs) !== Math.floor((now - 10) / frameMs) && running(i, now)) {
        const frame = Math.floor(now / frameMs);
        t.onPacket(layers[i], s.bitrateBps / fps / 8, (frame * 90000 / fps) >>> 0, now);
      }
    });
    if (now % 100 === 0) t.tick(now);
  }
  return fromMs + ms;
}

function setup(specs: Spec[], opts = {}) {
  const t = new LayerTracker(opts);
  const layers = specs.map((s) => t.addLayer(s.ssrc, s.rid));
  return { t, layers };
}

const OBS: Spec[] = [
  { rid: "0", ssrc: 11, bitrateBps: 6_000_000, width: 1920, height: 1080 },
  { rid: "1", ssrc: 12, bitrateBps: 4_000_000, width: 1266, height: 712 },
  { rid: "2", ssrc: 13, bitrateBps: 2_000_000, width: 634, height: 356 },
];
const CHROME: Spec[] = [
  { rid: "q", ssrc: 21, bitrateBps: 150_000, width: 320, height: 180 },
  { rid: "h", ssrc: 22, bitrateBps: 500_000, width: 640, height: 360 },
  { rid: "f", ssrc: 23, bitrateBps: 1_700_000, width: 1280, height: 720 },
];

Deno.test("layer tracker: ranks by measurement, never by rid name", () => {
  const rows = [
    { name: "OBS 0/1/2 at 100/66/33 %", specs: OBS, ranks: [2, 1, 0] },
    { name: "browser q/h/f", specs: CHROME, ranks: [0, 1, 2] },
    { name: "browser order shuffled", specs: [CHROME[2], CHROME[0], CHROME[1]], ranks: [2, 0, 1] },
  ];
  for (const r of rows) {
    // Bitrate alone (no key frame yet) already ranks them.
    const { t, layers } = setup(r.specs);
    feed(t, layers, r.specs, 0, 3_100);
    assertEquals(layers.map((l) => l.rank), r.ranks, `${r.name}: by bitrate`);
    assert(t.takeChanges() & LayerChange.ranks);
    // Resolution from key frames confirms it.
    layers.forEach((l, i) => t.onKeyFrame(l, r.specs[i].width, r.specs[i].height, 3_100));
    assertEquals(layers.map((l) => l.rank), r.ranks, `${r.name}: by resolution`);
    assertEquals(t.byRank(0), layers[r.ranks.indexOf(0)]);
  }
});

Deno.test("layer tracker: resolution outranks bitrate", () => {
  // A 720p layer at a lower bitrate than a 360p one (a static scene) still ranks higher.
  const specs: Spec[] = [
    { rid: "a", ssrc: 1, bitrateBps: 900_000, width: 640, height: 360 },
    { rid: "b", ssrc: 2, bitrateBps: 400_000, width: 1280, height: 720 },
  ];
  const { t, layers } = setup(specs);
  feed(t, layers, specs, 0, 2_100);
  assertEquals(layers.map((l) => l.rank), [1, 0]);
  t.onKeyFrame(layers[0], 640, 360, 2_100);
  t.onKeyFrame(layers[1], 1280, 720, 2_100);
  assertEquals(layers.map((l) => l.rank), [0, 1]);
  assert(t.takeChanges() & LayerChange.resolution);
});

Deno.test("layer tracker: close bitrates do not flap", () => {
  const specs: Spec[] = [
    { rid: "x", ssrc: 1, bitrateBps: 500_000, width: 0, height: 0 },
    { rid: "y", ssrc: 2, bitrateBps: 520_000, width: 0, height: 0 },
  ];
  const { t, layers } = setup(specs);
  feed(t, layers, specs, 0, 5_100);
  assertEquals(layers.map((l) => l.rank), [0, 1], "insertion order kept within 20 %");
  t.takeChanges();
  specs[0].bitrateBps = 560_000;
  feed(t, layers, specs, 5_100, 5_000);
  assertEquals(t.takeChanges() & LayerChange.ranks, 0);
});

Deno.test("layer tracker: bitrate over 1 s windows and a 3-window mean", () => {
  const { t, layers } = setup([CHROME[1]]);
  let now = feed(t, layers, [CHROME[1]], 0, 3_050);
  assertAlmostEquals(layers[0].bitrateBps, 500_000, 25_000);
  assertAlmostEquals(layers[0].meanBitrateBps, 500_000, 25_000);
  // A key-frame spike moves the window but the mean less.
  t.onPacket(layers[0], 100_000, 123, now);
  now = feed(t, layers, [CHROME[1]], now, 1_000);
  assert(layers[0].bitrateBps > 1_200_000);
  assert(layers[0].meanBitrateBps < layers[0].bitrateBps * 0.7);
});

Deno.test("layer tracker: inactive after 1.5 s, stalled after 250 ms, stable-since restarts", () => {
  const { t, layers } = setup(CHROME);
  let now = feed(t, layers, CHROME, 0, 3_000);
  assert(layers.every((l) => l.active));
  assertEquals(layers[2].stableForMs(now), 3_000);
  t.takeChanges();
  let stalledAt = -1;
  let inactiveAt = -1;
  const stopAt = now;
  for (; now < stopAt + 3_000; now += 10) {
    feed(t, layers, CHROME, now, 10, (i) => i !== 2);
    if (stalledAt < 0 && layers[2].stalled) stalledAt = now - stopAt;
    if (inactiveAt < 0 && !layers[2].active) inactiveAt = now - stopAt;
  }
  assert(stalledAt >= 250 && stalledAt <= 400, `stalled after ${stalledAt}`);
  assert(inactiveAt >= 1_500 && inactiveAt <= 1_650, `inactive after ${inactiveAt}`);
  assert(t.takeChanges() & LayerChange.activity);
  assertEquals(layers[2].rank, 2, "a silent layer keeps its rank");
  assertEquals(layers[2].stableForMs(now), 0);
  now = feed(t, layers, CHROME, now, 2_000);
  assert(layers[2].active);
  assert(layers[2].stableForMs(now) >= 1_900 && layers[2].stableForMs(now) <= 2_000);
  assert(t.takeChanges() & LayerChange.activity);
});

Deno.test("layer tracker: low-frame-rate content gets max(1.5 s, 3 frames) ≤ 4 s", () => {
  const rows = [
    { fps: 1, want: 3_000 },
    { fps: 0.2, want: 4_000 },
    { fps: 5, want: 1_500 },
  ];
  for (const r of rows) {
    const spec = { ...CHROME[0], fps: r.fps };
    const { t, layers } = setup([spec]);
    let now = feed(t, layers, [spec], 0, 30_001);
    assert(layers[0].active, `fps ${r.fps}: active while sending`);
    const last = layers[0].lastPacketMs;
    for (let guard = 0; layers[0].active && guard < 1_000; guard++) {
      now += 10;
      t.tick(now);
    }
    const silent = now - last;
    assert(silent >= r.want && silent <= r.want + 200, `fps ${r.fps}: inactive after ${silent}`);
  }
});

Deno.test("layer tracker: key frames, lookups and removal", () => {
  const { t, layers } = setup(CHROME);
  assertEquals(layers[1].hasKeyFrame, false);
  t.onKeyFrame(layers[1], 640, 360, 1_000);
  t.onKeyFrame(layers[1], 640, 360, 3_000);
  assertEquals(layers[1].hasKeyFrame, true);
  assertEquals(layers[1].keyFrameIntervalMs, 2_000);
  assertEquals(t.bySsrc(23), layers[2]);
  assertEquals(t.byRid("q"), layers[0]);
  t.removeLayer(layers[0]);
  assertEquals(t.layers.map((l) => l.index), [0, 1]);
  assertEquals(t.layers.map((l) => l.rank), [0, 1]);
  assertEquals(t.bySsrc(21), undefined);
});

Deno.test("LayerTracker: temporal layers by TID — top TID, byte shares, frame rates; a missing top layer counts after three windows", () => {
  const tracker = new LayerTracker({ windowMs: 1000 });
  const l = tracker.addLayer(1, "f");
  let t = 0;
  let ts = 0;
  // 30 fps, TIDs 0,2,1,2; TID 0 pictures twice the size of the others.
  const second = (withTop: boolean) => {
    for (let i = 0; i < 30; i++) {
      const tid = [0, 2, 1, 2][i % 4];
      if (withTop || tid < 2) tracker.onPacket(l, tid === 0 ? 2000 : 1000, ts, t, tid);
      ts += 3000;
      t += 1000 / 30;
    }
    t = Math.round(t);
    tracker.tick(t);
  };
  tracker.tick(0);
  second(true);
  assertEquals(l.maxTemporalId, 2);
  assert(tracker.takeChanges() & LayerChange.temporal);
  for (let i = 0; i < 4; i++) second(true);
  // Bytes per 4 pictures: TID 0 2000, TID 1 1000, TID 2 2000 → shares 0.4, 0.6.
  assert(Math.abs(l.temporalShare[0] - 0.4) < 0.03, `${l.temporalShare[0]}`);
  assert(Math.abs(l.temporalShare[1] - 0.6) < 0.03, `${l.temporalShare[1]}`);
  assert(Math.abs(l.temporalFrameRate(0) - 7.5) < 1, `${l.temporalFrameRate(0)}`);
  assert(Math.abs(l.temporalFrameRate(1) - 15) < 1.5, `${l.temporalFrameRate(1)}`);
  assertEquals(l.temporalBitrateBps(2), l.meanBitrateBps);
  tracker.takeChanges();
  // The encoder drops its top layer for two windows: still reported; after a third, not.
  second(false);
  second(false);
  assertEquals(l.maxTemporalId, 2);
  assertEquals(tracker.takeChanges() & LayerChange.temporal, 0);
  second(false);
  assertEquals(l.maxTemporalId, 1);
  assert(tracker.takeChanges() & LayerChange.temporal);
  second(true);
  assertEquals(l.maxTemporalId, 2, "back up at once");
});
