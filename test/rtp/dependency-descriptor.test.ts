import { assert, assertEquals } from "@std/assert";
import { DependencyTemplates } from "../../src/rtp/codecs/dependency-descriptor.ts";
import { deltaDd, l1t3KeyFrameDd } from "../support/dependency-descriptor.ts";

Deno.test("dependency descriptor templates: temporal ids and switch levels from an L1T3 structure, template ids wrapping at 64", () => {
  const t = new DependencyTemplates();
  assert(t.read(deltaDd(5, 1), 0, 3));
  assertEquals([t.tid, t.syncUpTo, t.maxTemporalId], [-1, -1, -1], "no structure yet");
  const key = l1t3KeyFrameDd(61, 100);
  assert(t.read(key, 0, key.length));
  assertEquals([t.tid, t.syncUpTo, t.maxTemporalId], [0, 2, 2]);
  const rows: [number, number, number][] = [
    [61, 0, 2], // T0 "SSS"
    [62, 0, 2], // T0 "SSS"
    [63, 1, 2], // T1 "-DS": switches the all-layers target
    [0, 2, -1], // T2 "--D"
    [1, 2, -1], // T2 "--D"
    [2, -1, -1], // not in the structure
  ];
  for (const [id, tid, up] of rows) {
    assert(t.read(deltaDd(id, 101), 0, 3));
    assertEquals([t.tid, t.syncUpTo], [tid, up], `template ${id}`);
  }
  assertEquals(t.read(new Uint8Array([0x80, 0]), 0, 2), false, "shorter than the mandatory fields");
  assertEquals(t.read(key, 0, 5), false, "a truncated structure");
});
