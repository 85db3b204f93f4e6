/**
 * Room audio (rooms.md §7): the loudest speakers from the audio-level header extension
 * (RFC 6464), announced in `activeSpeakers`, and the fixed audio slots that carry them, rebound
 * on stable SSRCs without renegotiating. werift participants over real connections.
 */
import { assert, assertEquals, assertGreater } from "@std/assert";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { pumpUntil, type RoomClient, withRoom } from "../support/room-client.ts";

loadLibsrtp();

const LOUD = 10;
const SILENT = 127;

function loudest(c: RoomClient): string | undefined {
  return c.speakerEvents.at(-1)?.speakers[0]?.participant;
}

Deno.test("the active speaker follows the loudest audio level", async () => {
  await withRoom({}, async ({ join }) => {
    const a = await join("speaker", "A");
    const b = await join("speaker", "B");
    const c = await join("listener", "C");
    await c.subscribed();
    await a.publish("microphone");
    await b.publish("microphone");
    await pumpUntil([a, b], () => loudest(c) === a.self, "A as the active speaker", {
      levels: { [a.self]: LOUD, [b.self]: SILENT },
    });
    await pumpUntil([a, b], () => loudest(c) === b.self, "B as the active speaker", {
      levels: { [a.self]: SILENT, [b.self]: LOUD },
    });
    // Everyone hears about it, not only listeners.
    await pumpUntil([a, b], () => loudest(a) === b.self, "A told that B speaks", {
      levels: { [a.self]: SILENT, [b.self]: LOUD },
    });
    // Each announcement names every slot of the listener's subscribe connection.
    assertEquals(Object.keys(c.speakerEvents.at(-1)!.slots), ["a0", "a1", "a2"]);
  });
});

Deno.test("top-N audio slots switch speakers without renegotiation, on one SSRC", async () => {
  await withRoom({ audioSlots: 1 }, async ({ join }) => {
    const a = await join("speaker", "A");
    const b = await join("speaker", "B");
    const c = await join("listener", "C");
    await c.subscribed();
    await a.publish("microphone");
    await b.publish("microphone");
    // Two voices, one slot: the louder one gets it.
    await pumpUntil([a, b], () => c.slots.a0 === a.self && c.packetsOn("a0") >= 10, "A in a0", {
      levels: { [a.self]: LOUD, [b.self]: SILENT },
    });
    const answered = c.answered.length;
    await pumpUntil([a, b], () => c.slots.a0 === b.self, "B takes a0", {
      levels: { [a.self]: SILENT, [b.self]: LOUD },
    });
    const fromB = () => {
      const tags = c.received.get("a0")?.tags ?? [];
      return tags.filter((t) => b.sent("microphone").has(t)).length;
    };
    await pumpUntil([a, b], () => fromB() >= 10, "B's voice on a0", {
      levels: { [a.self]: SILENT, [b.self]: LOUD },
    });
    // No new offer, the same SSRC, and every payload is one A or B sent, intact.
    assertEquals(c.answered.length, answered);
    const got = c.received.get("a0")!;
    assertEquals(got.ssrcs.size, 1);
    let checked = 0;
    for (const [tag, payload] of got.payloads) {
      const sent = a.sent("microphone").get(tag) ?? b.sent("microphone").get(tag);
      assert(sent, `tag ${tag.toString(16)} was never sent`);
      assertEquals(payload, sent);
      checked++;
    }
    assertGreater(checked, 20);
    // The last voice on the slot is B's.
    assert(b.sent("microphone").has(got.tags.at(-1)!));
  });
});
