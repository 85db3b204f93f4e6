// Temporal layers end to end without a browser: the synthetic simulcast publisher sends VP8
// with libwebrtc-style L1T3 temporal layers (TIDs 0,2,1,2, TL0PICIDX, Y bits) on every layer,
// and a recording werift viewer pins a temporal layer through the WHEP layer extension. What
// the viewer receives must stay one valid VP8 stream: only the pinned TIDs, sequence numbers
// without gaps, PictureID +1 per picture and TL0PICIDX +1 per TL0 picture.
import { assert, assertEquals, assertGreater } from "@std/assert";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { startStunStub } from "../support/stun-stub.ts";
import { selectLayer, streamInfo } from "../support/stream-api.ts";
import { serverSideConnected, settleWeriftTimers, waitFor } from "../support/werift-client.ts";
import {
  BROWSER_LAYERS,
  inSequenceOrder,
  type LayerSpec,
  playRecording,
  publishSimulcast,
  type ReceivedPacket,
} from "../support/simulcast-publisher.ts";
import { startLoopbackServer } from "../support/loopback-server.ts";

loadLibsrtp();

const STEP_MS = 10_000;
const LAYERS: LayerSpec[] = BROWSER_LAYERS.map((l) => ({ ...l, temporalLayers: 3 }));

interface LayerEntry {
  rid: string;
  temporalLayerId: number;
  active: boolean;
  temporalLayers: { temporalLayerId: number; bitrate: number; framerate: number }[];
  forwardedTemporalLayerId?: number;
}

/** The first `layers` event that satisfies `done`. */
async function layersEvent(
  url: string,
  done: (layers: LayerEntry[]) => boolean,
): Promise<LayerEntry[]> {
  const response = await fetch(url);
  assertEquals(response.status, 200);
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const deadline = Date.now() + STEP_MS;
  try {
    for (;;) {
      const { value, done: ended } = await reader.read();
      if (ended || Date.now() > deadline) throw new Error(`no matching layers event: ${text}`);
      text += value;
      for (const m of text.matchAll(/event: layers\ndata: (.*)\n\n/g)) {
        const layers = Object.values(JSON.parse(m[1]))[0] as LayerEntry[];
        if (done(layers)) return layers;
      }
    }
  } finally {
    await reader.cancel();
  }
}

/** Index (in `packets`) from which every packet of layer `layer` has TID ≤ `tid`. */
function settledFrom(packets: ReceivedPacket[], layer: number, tid: number): number {
  let from = packets.length;
  for (let i = packets.length - 1; i >= 0; i--) {
    const p = packets[i];
    if (p.layer === -1) continue; // a padding filler
    if (p.layer !== layer || p.tid > tid) break;
    from = i;
  }
  return from;
}

// With one viewer worker the viewer lives on the main thread; with two, in a worker (the pin
// travels by message and the API reads the worker's status reports).
for (const workers of [1, 2]) {
  Deno.test(`temporal layers (workers: ${workers}): a viewer pinned to temporalLayerId 0 gets only TID 0, gap-free, with continuous PictureID and TL0PICIDX; unpinned it gets all again`, () =>
    pinnedToBase(workers));
}

async function pinnedToBase(workers: number): Promise<void> {
  const stun = await startStunStub();
  const server = await startLoopbackServer({ workers });
  const closers: (() => Promise<void>)[] = [];
  try {
    const publisher = await publishSimulcast(server.url, "tl", server.publishToken, {
      stunUrl: stun.url,
      layers: LAYERS,
    });
    closers.push(() => publisher.close());
    await publisher.connected;
    await serverSideConnected(server.manager, publisher.location);
    publisher.start();

    const viewer = await playRecording(server.url, "tl", { stunUrl: stun.url });
    closers.push(() => viewer.close());
    await viewer.connected;
    await serverSideConnected(server.manager, viewer.location);
    await waitFor(() => viewer.packets.length >= 30, STEP_MS, "media at the viewer");

    // The middle layer at its base temporal layer.
    assertEquals(await selectLayer(viewer, { mediaId: "0", rid: "h", temporalLayerId: 0 }), 200);
    await waitFor(
      () => viewer.packets.length - settledFrom(viewer.packets, 1, 0) >= 40,
      STEP_MS,
      "40 packets of layer h at TID 0",
    );
    const pinnedFrom = settledFrom(viewer.packets, 1, 0);
    const framesBefore = publisher.layer("h").frames;
    await waitFor(
      () => publisher.layer("h").frames - framesBefore >= 60,
      STEP_MS,
      "60 more frames from the publisher",
    );

    // SSE: each layer lists TIDs 0–2 with rising frame rates; the active one says TID 0.
    const event = await layersEvent(
      viewer.eventsUrl!,
      (ls) => ls.some((l) => l.active && l.forwardedTemporalLayerId === 0),
    );
    for (const l of event) {
      assertEquals(l.temporalLayerId, 2, l.rid);
      assertEquals(l.temporalLayers.map((t) => t.temporalLayerId), [0, 1, 2]);
    }
    const h = event.find((l) => l.rid === "h")!;
    assert(h.active);
    const fps = h.temporalLayers.map((t) => t.framerate);
    assert(fps[0] > 0 && fps[0] < fps[1] && fps[1] < fps[2], `frame rates ${fps}`);
    assert(Math.abs(fps[2] / fps[0] - 4) < 1.5, `TL0 is about a quarter: ${fps}`);
    const info = await streamInfo(server.url, "tl");
    assertEquals(info.viewerLayers[0].temporalLayer, 0);
    assertEquals(info.viewerLayers[0].temporalTarget, 0);
    assertEquals(info.tracks[0].layers[0].temporalLayerId, 2);

    // Back to all temporal layers (pin h only): TIDs 1 and 2 arrive again.
    const mark = viewer.packets.length;
    assertEquals(await selectLayer(viewer, { mediaId: "0", rid: "h" }), 200);
    await waitFor(
      () => {
        const tids = new Set(viewer.packets.slice(mark).map((p) => p.tid));
        return tids.has(1) && tids.has(2);
      },
      STEP_MS,
      "TIDs 1 and 2 again",
    );
    publisher.stop();

    // Loopback loss is repaired by NACK: wait for a hole-free sequence space.
    await waitFor(
      () => holes(inSequenceOrder(viewer.packets.slice(pinnedFrom))) === 0,
      STEP_MS,
      "a hole-free sequence space",
    );
    // The pinned stretch, in sequence order: up to the first picture above TID 0.
    const ordered = inSequenceOrder(viewer.packets.slice(pinnedFrom));
    const upAt = ordered.findIndex((p) => p.tid > 0);
    assertGreater(upAt, 0);
    const pinned = ordered.slice(0, upAt);
    const media = pinned.filter((p) => p.layer >= 0);
    assert(media.every((p) => p.layer === 1 && p.tid === 0), "only TID 0 of layer h");
    assertEquals(holes(pinned), 0, "no sequence gap where TID 1 and 2 were dropped");
    let pictures = 1;
    for (let i = 1; i < media.length; i++) {
      if (media[i].timestamp === media[i - 1].timestamp) {
        assertEquals(media[i].pictureId, media[i - 1].pictureId);
        continue;
      }
      pictures++;
      assertEquals(
        (media[i].pictureId - media[i - 1].pictureId) & 0x7fff,
        1,
        `PictureID +1 at seq ${media[i].seq}`,
      );
      assertEquals(
        (media[i].tl0PicIdx - media[i - 1].tl0PicIdx) & 0xff,
        1,
        `TL0PICIDX +1 at seq ${media[i].seq}`,
      );
    }
    // About a quarter of the publisher's pictures: count them against the RTP time they span
    // (3000 ticks a frame at 30 fps), not against wall-clock time.
    const spanFrames = ((media[media.length - 1].timestamp - media[0].timestamp) >>> 0) / 3000;
    const ratio = (pictures - 1) / spanFrames;
    assertGreater(pictures, 10);
    assert(ratio > 0.15 && ratio < 0.4, `share of pictures forwarded: ${ratio}`);
    // The first picture above TID 0 is where the decoder may join: a Y-bit picture or a key frame.
    const up = ordered[upAt];
    assert(up.keyframe || up.sync, `up-switch at seq ${up.seq} without Y or key frame`);
  } finally {
    for (const close of closers.reverse()) await close();
    await server.close();
    await stun.close();
    await settleWeriftTimers();
  }
}

/** Missing sequence numbers in packets sorted by sequence number. */
function holes(packets: ReceivedPacket[]): number {
  if (packets.length === 0) return 0;
  let span = 0;
  for (let i = 1; i < packets.length; i++) span += (packets[i].seq - packets[i - 1].seq) & 0xffff;
  return span + 1 - packets.length;
}
