// Simulcast end to end through real Chromium: one page publishes its fake camera at 1280x720
// with three encodings (rids q/h/f at 1/4, 1/2 and full size) over WHIP; another plays over
// WHEP with the built-in player, pins layers through the WHEP layer extension and must decode
// the size it asked for. Runs on 127.0.0.1 only (see test/support/browser.ts), with viewers in
// viewer workers (the default configuration; see test/support/loopback-server.ts).
import { assert, assertEquals, assertGreater } from "@std/assert";
import type { RunningServer } from "../../src/server.ts";
import type { StreamInfo } from "../../src/http/api.ts";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { type Browser, browserUnavailable } from "../support/browser.ts";
import {
  acknowledgedVideoSsrcs,
  decodedVideo,
  playInPage,
  pollUntil,
  publishFromPage,
  stopAndClose,
  withBrowserAndServer,
} from "../support/browser-media.ts";
import { streamInfoOrNull } from "../support/stream-api.ts";

/** Liveness bounds so a broken build fails instead of hanging; not speed assertions. */
const LAYERS_DEADLINE_MS = 15_000;
const STEP_DEADLINE_MS = 15_000;
/** Back to the top layer in automatic mode: the allocator holds upgrades up to 10 s. */
const AUTO_UP_DEADLINE_MS = 25_000;
/** Frames a viewer must decode to count as playing. */
const MIN_FRAMES = 30;

// Load the native SRTP library outside the tests so the resource sanitizer does not count it.
loadLibsrtp();

const skipReason = browserUnavailable();
if (skipReason) console.log(`skipping simulcast browser tests: ${skipReason}`);

interface ApiLayer {
  rid: string | null;
  width: number;
  height: number;
  active: boolean;
}

function videoLayers(info: StreamInfo | null): ApiLayer[] {
  return info?.tracks.find((t) => t.kind === "video")?.layers ?? [];
}

/** "pins": pin q, pin f, stop f at the publisher; "auto-return": pin q, then automatic. */
type Mode = "pins" | "auto-return";

for (const codec of ["VP8", "H264"] as const) {
  Deno.test({
    name:
      `browser: ${codec} simulcast from Chromium, layers pinned through the WHEP layer extension`,
    ignore: skipReason !== null,
    fn: () => simulcast(codec, "pins"),
  });
}

Deno.test({
  name: "browser: VP8 simulcast, automatic selection returns to the top layer after a pin",
  fn: () => simulcast("VP8", "auto-return"),
});

function simulcast(codec: "VP8" | "H264", mode: Mode): Promise<void> {
  return withBrowserAndServer((browser, server) => run(browser, server, codec, mode));
}

async function run(
  browser: Browser,
  server: RunningServer,
  codec: "VP8" | "H264",
  mode: Mode,
): Promise<void> {
  const stream = `simulcast-${codec.toLowerCase()}`;
  const publisher = await browser.newPage(`${server.url}/`);
  const canSend = await publisher.evaluate<boolean>(
    `RTCRtpSender.getCapabilities("video").codecs.some((c) => c.mimeType === "video/${codec}")`,
  );
  if (!canSend) {
    // Chromium builds without a software H264 encoder (no OpenH264) cannot publish it.
    console.log(`skipping ${codec} simulcast: this Chromium cannot encode ${codec}`);
    await publisher.close();
    return;
  }
  const encodings = await publishFromPage<{ rid: string; active: boolean }[]>(
    publisher,
    stream,
    {
      token: server.publishToken,
      codec,
      simulcast: true,
      video: { width: 1280, height: 720, frameRate: 30 },
    },
    "sender.getParameters().encodings.map((e) => ({ rid: e.rid, active: e.active }))",
  );
  assertEquals(encodings.map((e) => e.rid), ["q", "h", "f"], "the page sends three encodings");

  // All three layers arrive and are measured: distinct sizes, "f" the largest, ranked by size.
  const info = await pollUntil(
    "three layers with distinct measured sizes",
    () => streamInfoOrNull(server.url, stream),
    (s) => {
      const layers = videoLayers(s);
      return layers.length === 3 && layers.every((l) => l.active && l.width > 0) &&
        new Set(layers.map((l) => l.width)).size === 3;
    },
    LAYERS_DEADLINE_MS,
    [publisher],
  );
  const layers = videoLayers(info).sort((a, b) => a.width - b.width);
  assertEquals(layers.map((l) => l.rid), ["q", "h", "f"], JSON.stringify(layers));
  const producer = server.manager.publisherOf(stream)!.producers.find((p) => p.kind === "video")!;
  await pollUntil(
    "ranks by measured size",
    () => Promise.resolve([0, 1, 2].map((r) => producer.layerOfRank(r)?.rid ?? null)),
    (ranks) => ranks.join() === "q,h,f",
    STEP_DEADLINE_MS,
  );
  const [small, , large] = layers;
  // The viewer joins (in a viewer worker: the default configuration) once Chromium has had a
  // receiver report for every layer: from then on it writes no rid header extension, so the
  // worker must know the layers by SSRC (issue 12: no video at all before).
  await pollUntil(
    "receiver reports for the three layers at the publisher",
    () => acknowledgedVideoSsrcs(publisher),
    (n) => n === 3,
    STEP_DEADLINE_MS,
    [publisher],
  );

  const viewer = await browser.newPage(`${server.url}/`);
  const pages = [publisher, viewer];
  await playInPage(viewer, stream, { recordLayerEvents: true });
  const playing = await pollUntil(
    "decoded video",
    () => decodedVideo(viewer),
    (d) => d.framesDecoded > MIN_FRAMES && d.width > 0,
    STEP_DEADLINE_MS,
    pages,
  );
  assertEquals(playing.codec, `video/${codec}`);

  // SSE `layers` lists the three layers with their ranks and sizes.
  const listed = await pollUntil(
    "an SSE layers event with three measured layers",
    () =>
      viewer.evaluate<{ rid: string; spatialLayerId: number; width: number }[]>(
        `(globalThis.layerEvents.at(-1)?.layers ?? [])`,
      ),
    (l) => l.length === 3 && l.every((x) => x.width > 0),
    STEP_DEADLINE_MS,
    pages,
  );
  assertEquals(
    listed.map((l) => [l.rid, l.spatialLayerId, l.width]).sort((a, b) =>
      Number(a[1]) - Number(b[1])
    ),
    layers.map((l, rank) => [l.rid, rank, l.width]),
  );

  // Pin the lowest layer: the decoder's frame size follows, and the API shows the layer.
  await viewer.evaluate(`globalThis.player.selectLayer("q")`);
  await pollUntil(
    `decoded width ${small.width} after pinning q`,
    () => decodedVideo(viewer),
    (d) => d.width === small.width,
    STEP_DEADLINE_MS,
    pages,
  );
  const pinned = await pollUntil(
    "the API to show layer q",
    () => streamInfoOrNull(server.url, stream),
    (s) => s?.viewerLayers[0]?.layer === "q",
    STEP_DEADLINE_MS,
  );
  assertEquals(pinned!.viewerLayers[0].reason, "manual");

  if (mode === "auto-return") {
    // Automatic again (`{mediaId}` alone): on an unconstrained loopback link the viewer
    // returns to the top layer.
    await viewer.evaluate(`globalThis.player.selectLayer("")`);
    await pollUntil(
      `decoded width ${large.width} in automatic mode`,
      () => decodedVideo(viewer),
      (d) => d.width === large.width,
      AUTO_UP_DEADLINE_MS,
      pages,
    );
    await pollUntil(
      "the API to show layer f",
      () => streamInfoOrNull(server.url, stream),
      (s) => s?.viewerLayers[0]?.layer === "f",
      STEP_DEADLINE_MS,
    );
    await stopAndClose(publisher, viewer);
    return;
  }

  // Pin the top layer by rid: the size follows back up.
  await viewer.evaluate(`globalThis.player.selectLayer("f")`);
  await pollUntil(
    `decoded width ${large.width} after pinning f`,
    () => decodedVideo(viewer),
    (d) => d.width === large.width,
    STEP_DEADLINE_MS,
    pages,
  );
  await pollUntil(
    "the API to show layer f",
    () => streamInfoOrNull(server.url, stream),
    (s) => s?.viewerLayers[0]?.layer === "f",
    STEP_DEADLINE_MS,
  );

  // The publisher stops its top layer: the viewer falls back to a live layer and keeps decoding.
  await publisher.evaluate(`(async () => {
    const sender = globalThis.videoSender;
    const params = sender.getParameters();
    params.encodings[2].active = false;
    await sender.setParameters(params);
  })()`);
  const stopped = await decodedVideo(viewer);
  const fallback = await pollUntil(
    "decoding to continue on a lower layer after the top layer stopped",
    () => decodedVideo(viewer),
    (d) =>
      d.width > 0 && d.width < large.width && d.framesDecoded > stopped.framesDecoded + MIN_FRAMES,
    STEP_DEADLINE_MS,
    pages,
  );
  assertGreater(fallback.framesDecoded, stopped.framesDecoded);
  const after = await pollUntil(
    "the API to show the fallback",
    () => streamInfoOrNull(server.url, stream),
    (s) => s?.viewerLayers[0]?.layer !== "f" && s?.viewerLayers[0]?.layer !== null,
    STEP_DEADLINE_MS,
  );
  assert(["q", "h"].includes(after!.viewerLayers[0].layer!), JSON.stringify(after!.viewerLayers));

  assertEquals(after!.viewerLayers[0].reason, "layer_loss");

  // Back to automatic (`{mediaId}` alone) with the top layer gone: decoding goes on.
  await viewer.evaluate(`globalThis.player.selectLayer("")`);
  const auto = await decodedVideo(viewer);
  await pollUntil(
    "decoding to continue in automatic mode",
    () => decodedVideo(viewer),
    (d) => d.framesDecoded > auto.framesDecoded + MIN_FRAMES,
    STEP_DEADLINE_MS,
    pages,
  );
  await stopAndClose(publisher, viewer);
}
