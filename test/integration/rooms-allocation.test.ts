/**
 * Subscriptions and dynacast in a room (rooms.md §8): `setSubscription` caps and pauses a
 * subscriber's tracks, and the highest height anyone wants of a video track is sent to its
 * publisher as `senderConstraint` (0: nobody; up at once, down after 2 s).
 */
import { assert, assertEquals } from "@std/assert";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { pumpUntil, withRoom } from "../support/room-client.ts";
import { waitFor } from "../support/werift-client.ts";

loadLibsrtp();

Deno.test("dynacast pauses a layer nobody needs and resumes it when someone does", async () => {
  await withRoom({}, async ({ join }) => {
    const a = await join("speaker", "A");
    const b = await join("speaker", "B");
    await b.subscribed();
    await a.publish("camera");
    const seen = () => b.packetsOn(b.midOf(a.self, "camera"));
    await pumpUntil([a], () => seen() >= 10, "A's camera at B");
    // Before any setSubscription, B takes every track at any size.
    await waitFor(() => a.constraints.at(-1)?.maxHeight === 1080, 5000, "the first constraint");

    // B hides A's tile: its copy pauses at once, and after the down delay A is told that
    // nobody needs the camera (the SDK sets the encoding inactive).
    const hidden = await b.signal.request({
      t: "setSubscription",
      items: [{ participant: a.self, source: "camera", maxHeight: 0 }],
    });
    assert(hidden.t === "reply" && hidden.ok);
    await pumpUntil([a], () => a.constraints.at(-1)?.maxHeight === 0, "constraint 0");
    const paused = seen();
    const sentAtPause = a.sent("camera").size;
    await pumpUntil([a], () => a.sent("camera").size >= sentAtPause + 40, "40 more frames");
    assertEquals(seen(), paused);

    // Shown again at 360p: A is told at once, and B receives from the next key frame.
    const shown = await b.signal.request({
      t: "setSubscription",
      items: [{ participant: a.self, source: "camera", maxHeight: 360 }],
    });
    assert(shown.t === "reply" && shown.ok);
    await waitFor(() => a.constraints.at(-1)?.maxHeight === 360, 2000, "constraint 360");
    await pumpUntil([a], () => seen() >= paused + 10, "A's camera at B again");
    assertEquals(a.constraints.map((c) => c.source), a.constraints.map(() => "camera"));
  });
});
