import { assertEquals } from "@std/assert";
import { DependencyDescriptorMunger } from "../../src/rtp/codecs/dependency-descriptor-munger.ts";

/** Mandatory DD fields (start, end, template id, frame_number) plus one byte of the rest. */
function dd(frameNumber: number, start = true): Uint8Array {
  return new Uint8Array([
    (start ? 0x80 : 0) | 0x40 | 5,
    frameNumber >> 8,
    frameNumber & 0xff,
    0xee,
  ]);
}
const frameNumberOf = (b: Uint8Array) => (b[1] << 8) | b[2];

Deno.test("dependency descriptor munger: frame_number continues at last + 1 after each switch, backwards or forwards, across the 16-bit wrap", () => {
  const m = new DependencyDescriptorMunger();
  const out: number[] = [];
  const send = (n: number) => {
    const b = dd(n);
    m.process(b, 0, b.length);
    assertEquals([b[0], b[3]], [0xc5, 0xee], "only frame_number changes");
    out.push(frameNumberOf(b));
  };
  // Source A near the wrap; source B far behind it (a key frame "older" than A's); source C
  // ahead by more than half the range (would unwrap backwards too).
  for (let i = 0; i < 10; i++) send((65530 + i) & 0xffff);
  m.switchSource();
  for (let i = 0; i < 10; i++) send(100 + i);
  m.switchSource();
  for (let i = 0; i < 10; i++) send(40000 + i);
  assertEquals(out[0], 65530, "the first source keeps its numbers");
  for (let i = 1; i < out.length; i++) {
    assertEquals(out[i], (out[i - 1] + 1) & 0xffff, `frame ${i}`);
  }
  assertEquals(m.lastFrameNumber, (65530 + 29) & 0xffff);
});

Deno.test("dependency descriptor munger: gaps within a source stay (dropped frames), late packets keep their number", () => {
  const m = new DependencyDescriptorMunger();
  const write = (n: number) => {
    const b = dd(n);
    m.process(b, 0, b.length);
    return frameNumberOf(b);
  };
  write(7);
  m.switchSource();
  assertEquals(write(3000), 8);
  assertEquals(write(3002), 10, "a frame the forwarder dropped leaves its gap");
  assertEquals(write(3001), 9, "a late packet of an earlier frame");
  assertEquals(m.lastFrameNumber, 10);
  assertEquals(m.process(new Uint8Array(2), 0, 2), false, "too short to carry frame_number");
});
