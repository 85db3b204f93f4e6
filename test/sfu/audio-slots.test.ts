import { assertEquals } from "@std/assert";
import { AudioSlots } from "../../src/sfu/audio-slots.ts";
import type { SpeakerLevel } from "../../src/sfu/speaker-detector.ts";

const speaker = (participant: string, level = 0.5): SpeakerLevel => ({
  participant,
  producer: `mic-${participant}`,
  level,
});

function rig(slots = 3, self = "me") {
  const room = new Set(["mic-a", "mic-b", "mic-c", "mic-d", "mic-e", "mic-me"]);
  const audio = new AudioSlots({ slots, self });
  const binds: [number, string | null][] = [];
  const update = (ranking: SpeakerLevel[], nowMs: number) =>
    audio.update(ranking, (p) => room.has(p), nowMs, (s, p) => binds.push([s, p]));
  return { audio, binds, update, room };
}

Deno.test("audio slots: the loudest others fill the slots, never the subscriber itself", () => {
  const { audio, binds, update } = rig(3, "me");
  update([speaker("me", 0.9), speaker("a"), speaker("b"), speaker("c"), speaker("d")], 0);
  assertEquals(audio.producers, ["mic-a", "mic-b", "mic-c"]);
  assertEquals(audio.participants, ["a", "b", "c"]);
  assertEquals(binds, [[0, "mic-a"], [1, "mic-b"], [2, "mic-c"]]);
});

Deno.test("audio slots: sticky; a newcomer waits until a slot's speaker was silent 1 s", () => {
  const { audio, update } = rig(2);
  update([speaker("a"), speaker("b")], 0);
  // b stops; d starts. b's slot is not taken before b has been silent 1 s.
  assertEquals(update([speaker("a"), speaker("d")], 400), false);
  assertEquals(audio.producers, ["mic-a", "mic-b"]);
  assertEquals(update([speaker("d"), speaker("a")], 1000), false, "600 ms of silence");
  assertEquals(update([speaker("d"), speaker("a")], 1400), true);
  assertEquals(audio.producers, ["mic-a", "mic-d"], "a keeps its slot though d is louder now");
});

Deno.test("audio slots: a speaker who left frees the slot at once", () => {
  const { audio, update, room } = rig(2);
  update([speaker("a"), speaker("b")], 0);
  room.delete("mic-b");
  assertEquals(update([speaker("a"), speaker("c")], 100), true);
  assertEquals(audio.producers, ["mic-a", "mic-c"]);
});

Deno.test("audio slots: unpublish frees a slot; sizes are bounded to 1..10", () => {
  const { audio, binds, update } = rig(2);
  update([speaker("a")], 0);
  assertEquals(audio.remove("mic-a", (s, p) => binds.push([s, p])), true);
  assertEquals(audio.remove("mic-a", () => {}), false);
  assertEquals(audio.producers, [null, null]);
  assertEquals(binds.at(-1), [0, null]);
  assertEquals(new AudioSlots({ slots: 0, self: "x" }).size, 1);
  assertEquals(new AudioSlots({ slots: 50, self: "x" }).size, 10);
});
