// Simulcast through a viewer worker that joins a live stream: the worker's mirror of the
// producer has missed the key frames sent before it subscribed, so it must ask for every
// layer's, or a pin to an upper layer only succeeds once the encoder sends one on its own.
import { assertEquals } from "@std/assert";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { startStunStub } from "../support/stun-stub.ts";
import { selectLayer, waitForStreamInfo } from "../support/stream-api.ts";
import { serverSideConnected, settleWeriftTimers, waitFor } from "../support/werift-client.ts";
import { BROWSER_LAYERS, playRecording, publishSimulcast } from "../support/simulcast-publisher.ts";
import { startLoopbackServer } from "../support/loopback-server.ts";

loadLibsrtp();

const STEP_MS = 10_000;

Deno.test("workers: a worker viewer joining a live simulcast stream asks for every layer's key frame; a pin to the top layer is manual at once", async () => {
  const stun = await startStunStub();
  const server = await startLoopbackServer({ workers: 2 });
  const closers: (() => Promise<void>)[] = [];
  try {
    // Key frames at the start only (and on PLI): nothing periodic rescues a worker that
    // did not ask.
    const layers = BROWSER_LAYERS.map((l) => ({ ...l, keyframeInterval: 1_000_000 }));
    const publisher = await publishSimulcast(server.url, "live", server.publishToken, {
      stunUrl: stun.url,
      layers,
    });
    closers.push(() => publisher.close());
    await publisher.connected;
    await serverSideConnected(server.manager, publisher.location);
    publisher.start();
    await waitForStreamInfo(
      server.url,
      "live",
      (s) =>
        (s.tracks.find((t) => t.kind === "video")?.layers ?? []).filter((l) => l.width > 0)
          .length === 3,
      STEP_MS,
      "three measured layers",
    );
    // Past the server's 500 ms key-frame throttle, so the worker's requests are not absorbed.
    await new Promise((r) => setTimeout(r, 600));
    const plisBefore = publisher.layers.map((l) => l.plis);

    const viewer = await playRecording(server.url, "live", { stunUrl: stun.url });
    closers.push(() => viewer.close());
    await viewer.connected;
    await serverSideConnected(server.manager, viewer.location);
    await waitFor(
      () => publisher.layers.every((l, i) => l.plis > plisBefore[i]),
      STEP_MS,
      "a PLI for every layer after the worker viewer joined",
    );

    // Down to the lowest layer, then up to the top one: each a manual switch.
    for (const [rid, index] of [["q", 0], ["f", 2]] as const) {
      assertEquals(await selectLayer(viewer, { mediaId: "0", rid }), 200);
      const mark = viewer.packets.length;
      await waitFor(
        () => viewer.packets.slice(mark).filter((p) => p.layer === index).length >= 30,
        STEP_MS,
        `layer ${rid} packets after the pin`,
      );
    }
    const info = await waitForStreamInfo(
      server.url,
      "live",
      (s) => s.viewerLayers[0]?.layer === "f",
      STEP_MS,
      "the API shows layer f",
    );
    assertEquals(info.viewerLayers[0].reason, "manual", JSON.stringify(info.viewerLayers));
  } finally {
    for (const close of closers.reverse()) await close();
    await server.close();
    await stun.close();
    await settleWeriftTimers();
  }
});

// libwebrtc writes the mid and rid extensions only until a receiver report acknowledges an
// SSRC; a worker that starts reading the stream later sees none, so its mirror must learn
// the layers from the main thread (issue 12: Chromium simulcast, 0 frames at worker viewers).
Deno.test("workers: a worker viewer of a simulcast stream whose packets stopped carrying the rid gets every layer", async () => {
  const stun = await startStunStub();
  const server = await startLoopbackServer({ workers: 2 });
  const closers: (() => Promise<void>)[] = [];
  try {
    const publisher = await publishSimulcast(server.url, "live", server.publishToken, {
      stunUrl: stun.url,
      ridPackets: 10,
    });
    closers.push(() => publisher.close());
    await publisher.connected;
    await serverSideConnected(server.manager, publisher.location);
    publisher.start();
    await waitForStreamInfo(
      server.url,
      "live",
      (s) =>
        (s.tracks.find((t) => t.kind === "video")?.layers ?? []).filter((l) => l.width > 0)
          .length === 3,
      STEP_MS,
      "three measured layers",
    );
    // Every layer is past its rid-carrying packets before any worker reads the stream.
    await waitFor(
      () => publisher.layers.every((l) => l.frames * l.spec.packetsPerFrame > 10),
      STEP_MS,
      "packets without the rid extension on every layer",
    );

    const viewer = await playRecording(server.url, "live", { stunUrl: stun.url });
    closers.push(() => viewer.close());
    await viewer.connected;
    await serverSideConnected(server.manager, viewer.location);
    await waitFor(
      () => viewer.packets.length >= 30,
      STEP_MS,
      "video at the worker viewer in automatic mode",
    );
    for (const [rid, index] of [["q", 0], ["f", 2], ["h", 1]] as const) {
      assertEquals(await selectLayer(viewer, { mediaId: "0", rid }), 200);
      const mark = viewer.packets.length;
      await waitFor(
        () => viewer.packets.slice(mark).filter((p) => p.layer === index).length >= 30,
        STEP_MS,
        `layer ${rid} packets after the pin`,
      );
    }
    const info = await waitForStreamInfo(
      server.url,
      "live",
      (s) => s.viewerLayers[0]?.layer === "h",
      STEP_MS,
      "the API shows layer h",
    );
    assertEquals(info.viewerLayers[0].reason, "manual", JSON.stringify(info.viewerLayers));
  } finally {
    for (const close of closers.reverse()) await close();
    await server.close();
    await stun.close();
    await settleWeriftTimers();
  }
});
