import { assertEquals } from "@std/assert";
import {
  AudioLevelStats,
  type LevelSource,
  SpeakerDetector,
  type SpeakerLevel,
} from "../../src/sfu/speaker-detector.ts";

class Mic implements LevelSource {
  readonly kind = "audio" as const;
  muted = false;
  readonly levels = new AudioLevelStats();
  constructor(readonly id: string, readonly participant: string) {}
  /** One interval of 20 packets: `loud` of them at `level` (−dBov), the rest silent (127). */
  speak(loud: number, level: number): void {
    for (let i = 0; i < 20; i++) this.levels.add(i < loud ? level : 127);
  }
}

function run(
  detector: SpeakerDetector,
  mics: Mic[],
  nowMs: number,
): readonly SpeakerLevel[] | null {
  let got: readonly SpeakerLevel[] | null = null;
  detector.tick(nowMs, mics, (r) => (got = r));
  return got;
}

Deno.test("speaker detector: ranks the loudest active microphone first", () => {
  const detector = new SpeakerDetector();
  const a = new Mic("pa", "alice");
  const b = new Mic("pb", "bob");
  const c = new Mic("pc", "carol");
  a.speak(16, 30); // 80 % loud at −30 dBov
  b.speak(16, 10); // 80 % loud at −10 dBov: louder
  c.speak(4, 5); // 20 % loud: below the 40 % activity share
  const ranking = run(detector, [a, b, c], 0)!;
  assertEquals(ranking.map((s) => s.participant), ["bob", "alice"]);
  // Smoothed over two intervals: half the first interval's loudness.
  assertEquals(ranking[0].level, Math.round(((127 - 10) / 127 / 2) * 1000) / 1000);
});

Deno.test("speaker detector: a pause of one interval keeps the speaker; two drop it", () => {
  const detector = new SpeakerDetector();
  const a = new Mic("pa", "alice");
  a.speak(20, 20);
  assertEquals(run(detector, [a], 0)!.length, 1);
  a.speak(0, 127);
  assertEquals(run(detector, [a], 400), null, "same ranking: not reported again");
  a.speak(0, 127);
  assertEquals(run(detector, [a], 800), [], "silent two intervals: gone");
});

Deno.test("speaker detector: muted microphones never speak; the interval is respected", () => {
  const detector = new SpeakerDetector();
  const a = new Mic("pa", "alice");
  a.muted = true;
  a.speak(20, 0);
  assertEquals(run(detector, [a], 0), null);
  a.muted = false;
  a.speak(20, 0);
  assertEquals(run(detector, [a], 100), null, "within the interval: no look");
  assertEquals(run(detector, [a], 400)!.map((s) => s.producer), ["pa"]);
});

Deno.test("speaker detector: the order changing is reported, levels alone are not", () => {
  const detector = new SpeakerDetector();
  const a = new Mic("pa", "alice");
  const b = new Mic("pb", "bob");
  a.speak(20, 10);
  b.speak(20, 30);
  assertEquals(run(detector, [a, b], 0)!.map((s) => s.participant), ["alice", "bob"]);
  a.speak(20, 12);
  b.speak(20, 28);
  assertEquals(run(detector, [a, b], 400), null);
  a.speak(20, 40);
  b.speak(20, 0);
  a.speak(0, 127);
  assertEquals(run(detector, [a, b], 800)!.map((s) => s.participant), ["bob", "alice"]);
});
