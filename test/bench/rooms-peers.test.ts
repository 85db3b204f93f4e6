/**
 * Keeps the room rows of `deno task bench` (bench/cases/rooms.ts, `quetzal-peers room`)
 * working end to end: the tiniest meeting (2 participants, each a simulcast camera and a
 * microphone, subscribed to each other) and voice chat (2 speakers, 2 listeners with the
 * listener token: one a full Pion receiver, one a light listener of bench/peers/light.go) in
 * real rooms over the room signalling. Skipped, with the reason, where Go or Pion's sources are
 * missing. No timing is asserted: only that everyone connected and media went through the rooms.
 */
import { assert, assertEquals } from "@std/assert";
import { buildPeers } from "../../bench/lib/pion-peers.ts";
import { ROOMS_SMOKE, runRooms } from "../../bench/cases/rooms.ts";

const peers = await buildPeers();
if (!peers.ok) console.log(`skipping room bench test: ${peers.reason}`);

Deno.test({
  name: "bench/peers: Pion participants drive a meeting and a voice chat over the room signalling",
  ignore: !peers.ok,
  fn: async () => {
    const { rows, notes } = await runRooms({ ...ROOMS_SMOKE, verbose: false }, () => {});
    assertEquals(notes.filter((n) => n.includes("failed")), []);
    assertEquals(rows.map((r) => r.case), ["rooms-meeting", "rooms-voice"]);
    const [meeting, voice] = rows;
    assertEquals(meeting.participants_connected, 2, "both meeting participants connected");
    assertEquals(voice.participants_connected, 4, "speakers and listeners connected");
    for (const row of rows) {
      assertEquals(row.connect_failures, 0, `${row.case}: no join failed`);
      assertEquals(row.subscribe_refused, 0, `${row.case}: every subscribe connection made`);
      assert((row.delivered_ratio ?? 0) > 0, `${row.case}: media reached the subscribers`);
      assert((row.delivered_audio as number) > 0, `${row.case}: voices in the audio slots`);
      assert((row.us_per_packet ?? 0) > 0, `${row.case}: server CPU per packet measured`);
    }
    assert((meeting.delivered_video as number) > 0, "the simulcast cameras reached each other");
    assertEquals(voice.delivered_video, null, "a voice chat has no video");
    assertEquals(
      [voice.full_listeners, voice.light_listeners],
      [1, 1],
      "one listener of each kind",
    );
    assert((voice.delivered_audio_full as number) > 0, "the full listener heard the voices");
    assert((voice.delivered_audio_light as number) > 0, "the light listener counted the voices");
    assertEquals(voice.light_listeners_silent, 0, "the light listener got media");
    assertEquals(voice.light_unmatched_packets, 0, "every media packet found its light listener");
  },
});
