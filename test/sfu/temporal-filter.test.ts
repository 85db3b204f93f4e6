import { assertEquals } from "@std/assert";
import { ALL_TEMPORAL_LAYERS, TemporalFilter } from "../../src/sfu/temporal-filter.ts";

/** TIDs 0,2,1,2; Y on the first TID 2 and the TID 1 after each TL0 (libwebrtc L1T3 style). */
const pattern = (i: number) => {
  const tid = [0, 2, 1, 2][i % 4];
  return { tid, sync: i % 4 === 1 || i % 4 === 2 ? tid : -1 };
};

Deno.test("temporal filter: a base-layer target drops TID > 0 from the next picture; all pictures by default", () => {
  const f = new TemporalFilter();
  const kept: number[] = [];
  for (let i = 0; i < 16; i++) {
    const { tid, sync } = pattern(i);
    if (i === 6) f.target = 0; // mid-stream, between pictures 5 and 6
    if (f.accept(i * 3000, tid, sync, i === 0)) kept.push(i);
  }
  assertEquals(kept, [0, 1, 2, 3, 4, 5, 8, 12]);
  assertEquals(f.current, 0);
});

Deno.test("temporal filter: up only at a layer-sync picture or a key frame", () => {
  const rows = [
    // Non-sync TID 1 pictures: wait for a sync one.
    {
      sync: (i: number) => (i === 10 ? 1 : -1),
      key: -1,
      target: 1,
      want: [0, 4, 8, 9, 10, 12, 14],
    },
    // No sync at all: only the key frame at 9 lifts the target.
    {
      sync: (_i: number) => -1,
      key: 9,
      target: ALL_TEMPORAL_LAYERS,
      want: [0, 4, 8, 9, 10, 11, 12, 13, 14, 15],
    },
  ];
  for (const r of rows) {
    const f = new TemporalFilter();
    f.target = 0;
    const kept: number[] = [];
    for (let i = 0; i < 16; i++) {
      if (i === 5) f.target = r.target;
      const tid = i === 9 ? 0 : pattern(i).tid;
      const tidAt = i === 10 ? 1 : tid; // picture 10 is TID 1
      if (f.accept(i * 3000, tidAt, r.sync(i), i === 0 || i === r.key)) kept.push(i);
    }
    assertEquals(kept, r.want);
  }
});

Deno.test("temporal filter: a picture is forwarded whole — its late packets follow its first packet's decision", () => {
  const f = new TemporalFilter();
  f.accept(0, 0, -1, true);
  f.accept(3000, 2, 2, false); // forwarded (all layers)
  f.target = 0;
  f.accept(6000, 1, 1, false); // dropped: new picture after the target fell
  f.accept(9000, 2, -1, false); // dropped
  // A second packet of picture 3000 arrives late: still forwarded, as its first packet was.
  assertEquals(f.accept(3000, 2, 2, false), true);
  assertEquals(f.accept(6000, 1, 1, false), false);
  assertEquals(f.accept(12000, 0, -1, false), true);
  // An unknown old picture: by the current layer.
  assertEquals(f.accept(100, 1, -1, false), false);
  assertEquals(f.accept(100, 0, -1, false), true);
});

Deno.test("temporal filter: without temporal ids everything flows; back to all layers ends filtering", () => {
  const f = new TemporalFilter();
  f.target = 0;
  assertEquals(f.accept(0, -1, -1, false), true);
  for (let i = 0; i < 8; i++) f.accept(i * 3000, pattern(i).tid, pattern(i).sync, i === 0);
  assertEquals(f.active, true);
  f.target = ALL_TEMPORAL_LAYERS;
  // TID 2 sync at picture 9 is the top layer seen: everything from there on.
  const kept: number[] = [];
  for (let i = 8; i < 16; i++) {
    if (f.accept(i * 3000, pattern(i).tid, pattern(i).sync, false)) kept.push(i);
  }
  assertEquals(kept, [8, 9, 10, 11, 12, 13, 14, 15]);
  assertEquals(f.active, false);
});

Deno.test("temporal filter: timestamps wrap at 2^32", () => {
  const f = new TemporalFilter();
  f.target = 0;
  const kept: number[] = [];
  for (let i = 0; i < 8; i++) {
    const ts = (0xffffe000 + i * 3000) >>> 0;
    if (f.accept(ts, pattern(i).tid, pattern(i).sync, i === 0)) kept.push(i);
  }
  assertEquals(kept, [0, 4]);
});

Deno.test("temporal filter: a dependency-descriptor switch point opens the layers of its decode target at once", () => {
  // libwebrtc L1T3: TL0 frames switch every decode target ("SSS": up to 2), TL1 frames
  // switch the top one ("-DS": up to 2), TL2 frames switch none.
  const f = new TemporalFilter();
  f.target = 0;
  const syncOf = (tid: number) => (tid === 2 ? -1 : 2);
  const kept: number[] = [];
  for (let i = 0; i < 12; i++) {
    const tid = [0, 2, 1, 2][i % 4];
    if (i === 5) f.target = 1;
    if (i === 9) f.target = ALL_TEMPORAL_LAYERS;
    if (f.accept(i * 3000, tid, syncOf(tid), i === 0)) kept.push(i);
  }
  // TL0 only; from picture 6 (a TL1 switch point, capped at target 1) TL0+TL1; from the TL1
  // at 10 (switching up to 2) all of them.
  assertEquals(kept, [0, 4, 6, 8, 10, 11]);
});
