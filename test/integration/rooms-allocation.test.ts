/**
 * Subscriptions and dynacast in a room (rooms.md §8): `setSubscription` caps and pauses a
 * subscriber's tracks, and the highest height anyone wants of a video track is sent to its
 * publisher as `senderConstraint` (0: nobody; up at once, down after 2 s).
 */
import { assert, assertEquals } from "@std/assert";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { pumpUntil, type RoomClient, withRoom } from "../support/room-client.ts";
import { BROWSER_LAYERS, type LayerSpec } from "../support/simulcast-publisher.ts";
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

/** About 130, 400 and 830 kbit/s at 33 frames a second (payload only). */
const LAYERS: LayerSpec[] = [
  { ...BROWSER_LAYERS[0], packetsPerFrame: 1, payloadBytes: 500, keyframeInterval: 60 },
  { ...BROWSER_LAYERS[1], packetsPerFrame: 2, payloadBytes: 750, keyframeInterval: 60 },
  { ...BROWSER_LAYERS[2], packetsPerFrame: 3, payloadBytes: 1050, keyframeInterval: 60 },
];
/** The subscriber's link: room for the middle layer and a thumbnail, not the top layer. */
const LINK_BPS = 700_000;

/** The layer (index) of the last `n` packets `rx` got on `mid`, if they all agree. */
function layerOn(rx: RoomClient, mid: string | undefined, n = 20): number | undefined {
  const last = mid === undefined ? [] : rx.received.get(mid)?.lastBytes.slice(-n) ?? [];
  return last.length === n && last.every((b) => b === last[0]) ? last[0] : undefined;
}

Deno.test("a subscriber on a constrained link gets its pinned track high and thumbnails low", async () => {
  await withRoom({}, async ({ join }) => {
    const pinned = await join("speaker", "Pinned");
    const thumb = await join("speaker", "Thumb");
    const viewer = await join("listener", "Viewer");
    await viewer.subscribed();
    await pinned.publishSimulcastCamera(LAYERS);
    await thumb.publishSimulcastCamera(LAYERS);
    const set = await viewer.signal.request({
      t: "setSubscription",
      items: [
        { participant: pinned.self, source: "camera", maxHeight: 720, stage: true },
        { participant: thumb.self, source: "camera", maxHeight: 720 },
      ],
    });
    assert(set.t === "reply" && set.ok);
    let sent = 0;
    const settled = () => {
      // The viewer's receiver says how much its link carries (REMB caps the estimate).
      if (sent++ % 10 === 0) viewer.sendRemb(LINK_BPS);
      const high = layerOn(viewer, viewer.midOf(pinned.self, "camera"));
      const low = layerOn(viewer, viewer.midOf(thumb.self, "camera"));
      return high !== undefined && high >= 1 && low === 0;
    };
    // The allocator changes a track's layer at most every 10 s (allocator.ts): the pinned
    // camera starts low and climbs once; a liveness bound, not a timing assertion.
    await pumpUntil([pinned, thumb], settled, "the pinned camera high, the thumbnail low", {
      timeoutMs: 30_000,
    });
  });
});
