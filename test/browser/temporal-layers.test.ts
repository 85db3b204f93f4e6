// Temporal layers through real Chromium: one page publishes its fake camera with
// `scalabilityMode: "L1T3"` (three temporal layers in one encoding) over WHIP; another plays over
// WHEP with the built-in player and pins temporal layer 0 through the WHEP layer extension. Its
// decoder must go on decoding, at about a quarter of the frame rate, and come back to the full
// rate when unpinned: libwebrtc's reference finder accepts what the munger made of the stream.
// Ratios only, no timing assertions. Runs on 127.0.0.1 only (see test/support/browser.ts).
import { assert, assertEquals } from "@std/assert";
import type { RunningServer } from "../../src/server.ts";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { Ext } from "../../src/rtp/header-extensions.ts";
import { type Browser, browserUnavailable, type Page } from "../support/browser.ts";
import {
  decodedVideo,
  playInPage,
  pollUntil,
  publishFromPage,
  stopAndClose,
  withBrowserAndServer,
} from "../support/browser-media.ts";
import { streamInfoOrNull } from "../support/stream-api.ts";

const STEP_DEADLINE_MS = 20_000;
/** How long each frame-rate sample spans (page time); the result is a ratio of two samples. */
const SAMPLE_MS = 3000;

loadLibsrtp();

const skipReason = browserUnavailable();
if (skipReason) console.log(`skipping temporal-layer browser tests: ${skipReason}`);

/** Frames decoded per second over `SAMPLE_MS` of page time, from getStats. */
function decodeRate(viewer: Page): Promise<{ fps: number; framesDecoded: number }> {
  return viewer.evaluate(`(async () => {
    const read = async () => {
      const stats = [...(await globalThis.player.pc.getStats()).values()];
      const v = stats.find((s) => s.type === "inbound-rtp" && s.kind === "video");
      return { frames: v?.framesDecoded ?? 0, at: performance.now() };
    };
    const a = await read();
    await new Promise((r) => setTimeout(r, ${SAMPLE_MS}));
    const b = await read();
    return { fps: (b.frames - a.frames) * 1000 / (b.at - a.at), framesDecoded: b.frames };
  })()`);
}

/**
 * Unpins `viewer` back to every temporal layer, waits until the API shows it, lets the switch
 * settle and returns the decode rate then.
 */
async function unpinAndMeasure(
  server: RunningServer,
  stream: string,
  viewer: Page,
  pages: Page[],
  what: string,
): Promise<{ fps: number; framesDecoded: number }> {
  await viewer.evaluate(`globalThis.player.selectLayer("")`);
  await pollUntil(
    what,
    () => streamInfoOrNull(server.url, stream),
    (s) => s?.viewerLayers[0]?.temporalLayer === null,
    STEP_DEADLINE_MS,
    pages,
  );
  await new Promise((r) => setTimeout(r, 500));
  return await decodeRate(viewer);
}

/**
 * Publishes the fake camera from a new page with every one of its `encodings` encodings in L1T3.
 * Returns null, with the page closed and the reason logged, when this Chromium ignored
 * scalabilityMode L1T3: there is nothing to test then.
 */
async function publishL1T3(
  browser: Browser,
  server: RunningServer,
  stream: string,
  encodings: number,
  options: { codec: string; simulcast?: true; video: Record<string, number> },
): Promise<Page | null> {
  const publisher = await browser.newPage(`${server.url}/`);
  const modes = await publishFromPage<string[]>(publisher, stream, {
    token: server.publishToken,
    ...options,
    scalabilityMode: "L1T3",
    audio: false,
  }, `sender.getParameters().encodings.map((e) => e.scalabilityMode ?? "")`);
  if (modes.length >= encodings && modes.slice(0, encodings).every((m) => m === "L1T3")) {
    return publisher;
  }
  console.log(`skipping ${options.codec}: this Chromium sends ${JSON.stringify(modes)}, not L1T3`);
  await publisher.evaluate("globalThis.publisher.stop()");
  await publisher.close();
  return null;
}

/** Plays `stream` in a new page and waits until it has decoded 30 frames. */
async function playUntilDecoding(
  browser: Browser,
  server: RunningServer,
  stream: string,
  publisher: Page,
): Promise<Page> {
  const viewer = await browser.newPage(`${server.url}/`);
  await playInPage(viewer, stream);
  await pollUntil(
    "decoded video",
    () => decodedVideo(viewer),
    (d) => d.framesDecoded > 30,
    STEP_DEADLINE_MS,
    [publisher, viewer],
  );
  return viewer;
}

for (const codec of ["VP8", "VP9", "AV1"] as const) {
  Deno.test({
    name:
      `browser: ${codec} L1T3 from Chromium; a viewer pinned to temporal layer 0 decodes at about a quarter of the frame rate`,
    ignore: skipReason !== null,
    fn: () => withBrowserAndServer((browser, server) => run(browser, server, codec)),
  });
}

async function run(
  browser: Browser,
  server: RunningServer,
  codec: "VP8" | "VP9" | "AV1",
): Promise<void> {
  const stream = `temporal-${codec.toLowerCase()}`;
  const publisher = await publishL1T3(browser, server, stream, 1, {
    codec,
    video: { width: 640, height: 360, frameRate: 30 },
  });
  if (!publisher) return;

  // The server sees three temporal layers in the one layer.
  const info = await pollUntil(
    "a video layer with temporal layers 0–2",
    () => streamInfoOrNull(server.url, stream),
    (s) => s?.tracks.find((t) => t.kind === "video")?.layers[0]?.temporalLayerId === 2,
    STEP_DEADLINE_MS,
    [publisher],
  );
  const layer = info!.tracks.find((t) => t.kind === "video")!.layers[0];
  assertEquals(layer.temporalLayers.map((t) => t.temporalLayerId), [0, 1, 2]);

  const viewer = await playUntilDecoding(browser, server, stream, publisher);
  const pages = [publisher, viewer];
  const full = await decodeRate(viewer);

  // Temporal layer 0 only (the layer's rid is its SSRC: no simulcast).
  const rid = layer.rid ?? String(layer.ssrc);
  await viewer.evaluate(`globalThis.player.selectLayer(${JSON.stringify(rid)}, 0)`);
  await pollUntil(
    "the API to show temporal layer 0 forwarded",
    () => streamInfoOrNull(server.url, stream),
    (s) => s?.viewerLayers[0]?.temporalLayer === 0,
    STEP_DEADLINE_MS,
    pages,
  );
  // Let the switch settle, then measure.
  await new Promise((r) => setTimeout(r, 500));
  const base = await decodeRate(viewer);

  const back = await unpinAndMeasure(
    server,
    stream,
    viewer,
    pages,
    "the API to show all temporal layers again",
  );

  const ratio = base.fps / full.fps;
  console.log(
    `${codec} L1T3: ${full.fps.toFixed(1)} fps all layers, ${base.fps.toFixed(1)} fps at TL0 ` +
      `(ratio ${ratio.toFixed(2)}), ${back.fps.toFixed(1)} fps after unpinning`,
  );
  assert(full.fps > 10, `the full stream decodes: ${full.fps} fps`);
  assert(base.fps > 0, "TL0 only still decodes (no freeze)");
  assert(ratio > 0.1 && ratio < 0.45, `TL0 is about a quarter of the frames: ratio ${ratio}`);
  assert(back.fps > 2 * base.fps, `the frame rate comes back: ${back.fps} vs ${base.fps}`);

  await stopAndClose(publisher, viewer);
}

for (const codec of ["VP8", "VP9"] as const) {
  Deno.test({
    name:
      `browser: ${codec} simulcast with L1T3 layers; spatial switches while pinned to temporal layer 0 keep decoding`,
    ignore: skipReason !== null,
    fn: () => withBrowserAndServer((browser, server) => runSimulcast(browser, server, codec)),
  });
}

async function runSimulcast(
  browser: Browser,
  server: RunningServer,
  codec: "VP8" | "VP9",
): Promise<void> {
  const stream = `temporal-sim-${codec.toLowerCase()}`;
  const publisher = await publishL1T3(browser, server, stream, 3, {
    codec,
    simulcast: true,
    video: { width: 1280, height: 720, frameRate: 30 },
  });
  if (!publisher) return;
  const info = await pollUntil(
    "three layers with measured sizes and temporal layers",
    () => streamInfoOrNull(server.url, stream),
    (s) => {
      const layers = s?.tracks.find((t) => t.kind === "video")?.layers ?? [];
      return layers.length === 3 && new Set(layers.map((l) => l.width)).size === 3 &&
        layers.every((l) => l.active && l.width > 0 && l.temporalLayerId === 2);
    },
    STEP_DEADLINE_MS,
    [publisher],
  );
  const layers = info!.tracks.find((t) => t.kind === "video")!.layers.sort((a, b) =>
    a.width - b.width
  );
  const [small, , large] = layers;
  // Chromium sends the dependency descriptor when the answer accepts it: then the viewer's
  // receiver orders frames by its frame_number, which must keep increasing across switches.
  const producer = server.manager.publisherOf(stream)!.producers.find((p) => p.kind === "video")!;
  const dd = producer.extensions.idOf(Ext.dependencyDescriptor) !== 0;
  console.log(`${codec} simulcast: dependency descriptor ${dd ? "negotiated" : "absent"}`);

  const viewer = await playUntilDecoding(browser, server, stream, publisher);
  const pages = [publisher, viewer];

  // The small layer at TL0, then the large one at TL0: a spatial switch while filtering.
  for (const target of [small, large]) {
    await viewer.evaluate(`globalThis.player.selectLayer(${JSON.stringify(target.rid)}, 0)`);
    await pollUntil(
      `decoded width ${target.width} at temporal layer 0`,
      () => decodedVideo(viewer),
      (d) => d.width === target.width,
      STEP_DEADLINE_MS,
      pages,
    );
    await pollUntil(
      "the API to show the layer at temporal layer 0",
      () => streamInfoOrNull(server.url, stream),
      (s) => s?.viewerLayers[0]?.layer === target.rid && s?.viewerLayers[0]?.temporalLayer === 0,
      STEP_DEADLINE_MS,
      pages,
    );
    const rate = await decodeRate(viewer);
    const fps = layers.find((l) => l.rid === target.rid)!.temporalLayers;
    console.log(
      `${codec} simulcast, ${target.rid} at TL0: ${rate.fps.toFixed(1)} fps decoded ` +
        `(publisher's TL0 ${fps[0].framerate} of ${fps[2].framerate} fps)`,
    );
    assert(rate.fps > 0, `layer ${target.rid} at TL0 still decodes`);
    assert(rate.fps < 0.5 * fps[2].framerate, `fewer frames than the full rate: ${rate.fps}`);
  }
  // Unpinned: the full frame rate again.
  const back = await unpinAndMeasure(server, stream, viewer, pages, "all temporal layers again");
  assert(back.fps > 0, "decoding goes on in automatic mode");

  await stopAndClose(publisher, viewer);
}
