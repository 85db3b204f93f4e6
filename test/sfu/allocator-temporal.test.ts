import { assertEquals } from "@std/assert";
import { type AllocatorLayer, LayerAllocator } from "../../src/sfu/allocator.ts";
import { FakeLayer } from "../support/allocator-layers.ts";

/** A layer, stable for long, with three temporal layers carrying 30 %, 60 % and 100 % of its bitrate. */
class TemporalLayer extends FakeLayer {
  maxTemporalId = 2;
  override stableForMs(nowMs: number): number {
    return nowMs + 100_000;
  }
  temporalBitrateBps(tid: number): number {
    return this.meanBitrateBps * [0.3, 0.6, 1][Math.min(tid, 2)];
  }
}

const AUDIO = 100_000;
/** The estimate whose budget (95 % minus audio) is `budget`. */
const estimateFor = (budget: number) => (budget + AUDIO) / 0.95;

/** Runs the allocator every 100 ms; returns [t, rank, temporal] at each change. */
function drive(
  alloc: LayerAllocator,
  layers: AllocatorLayer[],
  from: number,
  to: number,
  budget: (t: number) => number,
): [number, number, number][] {
  const out: [number, number, number][] = [];
  let last = "";
  for (let t = from; t <= to; t += 100) {
    alloc.update(estimateFor(budget(t)), 0, AUDIO, layers, t);
    const now = `${alloc.targetRank}/${alloc.targetTemporal}`;
    if (now !== last) out.push([t, alloc.targetRank, alloc.targetTemporal]);
    last = now;
  }
  return out;
}

Deno.test("allocator: temporal layers trimmed to the budget (down after 500 ms, up after 2 s with headroom)", () => {
  const layer = new TemporalLayer(0, "q", 1_000_000, 640, 360);
  const alloc = new LayerAllocator();
  const changes = drive(alloc, [layer], 0, 8000, (t) => {
    if (t < 1000) return 2_000_000; // everything fits
    if (t < 4000) return 700_000; // TL0+TL1 (600k) fits, all (1M) does not
    if (t < 5000) return 200_000; // not even TL0 (300k): the base layer still goes
    return 1_200_000; // all of it, with 10 % headroom
  });
  assertEquals(changes, [
    [0, 0, -1],
    [1500, 0, 1],
    [4500, 0, 0],
    [7000, 0, -1],
  ]);
});

Deno.test("allocator: a mild shortfall trims the top layer's temporal layers before any spatial step", () => {
  const layers = [
    new TemporalLayer(0, "q", 150_000, 320, 180),
    new TemporalLayer(1, "f", 1_700_000, 1280, 720),
  ];
  const alloc = new LayerAllocator();
  const changes = drive(alloc, layers, 0, 3000, (t) => (t < 1000 ? 3_000_000 : 1_600_000));
  // 1.6 Mbit/s is 94 % of f: no spatial step within 10 s of the last change, but TL0+TL1 of f
  // (1.02 Mbit/s) fits at once after the 500 ms delay.
  assertEquals(changes, [[0, 1, -1], [1500, 1, 1]]);
});

Deno.test("allocator: a temporal pin holds whatever the estimate; the cap bounds trimming; spatial pins keep all layers", () => {
  const layer = new TemporalLayer(0, "q", 1_000_000, 640, 360);
  const alloc = new LayerAllocator();
  alloc.setTemporal(0);
  alloc.update(estimateFor(5_000_000), 0, AUDIO, [layer], 0);
  assertEquals(alloc.targetTemporal, 0);
  alloc.setTemporal(-1, 1);
  alloc.update(estimateFor(5_000_000), 0, AUDIO, [layer], 100);
  assertEquals(alloc.targetTemporal, 1, "maxTemporalLayerId caps automatic mode");
  alloc.setTemporal(5);
  alloc.update(estimateFor(100_000), 0, AUDIO, [layer], 200);
  assertEquals(alloc.targetTemporal, -1, "a pin above the top layer means all of them");
  alloc.setTemporal();
  alloc.pin("q");
  alloc.update(estimateFor(100_000), 0, AUDIO, [layer], 300);
  assertEquals(alloc.targetTemporal, -1, "a spatial pin ignores the estimate for TIDs too");
});
