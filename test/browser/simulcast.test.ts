// Simulcast end to end through real Chromium: one page publishes its fake camera at 1280x720
// with three encodings (rids q/h/f at 1/4, 1/2 and full size) over WHIP; another plays over
// WHEP with the built-in player, pins layers through the WHEP layer extension and must decode
// the size it asked for. Runs on 127.0.0.1 only (see test/support/browser.ts).
import { assert, assertEquals, assertGreater } from "@std/assert";
import { startServer } from "../../src/server.ts";
import type { StreamInfo } from "../../src/http/api.ts";
import { createLogger } from "../../src/observability/log.ts";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { type Browser, browserUnavailable, launchBrowser, type Page } from "../support/browser.ts";

/** Liveness bounds so a broken build fails instead of hanging; not speed assertions. */
const LAYERS_DEADLINE_MS = 15_000;
const STEP_DEADLINE_MS = 15_000;
/** Back to the top layer in automatic mode: the allocator holds upgrades up to 10 s. */
const AUTO_UP_DEADLINE_MS = 25_000;
const POLL_MS = 200;
/** Frames a viewer must decode to count as playing. */
const MIN_FRAMES = 30;

const PLAYER_MODULE = "/player/player.js";

// Load the native SRTP library outside the tests so the resource sanitizer does not count it.
loadLibsrtp();

const skipReason = browserUnavailable();
if (skipReason) console.log(`skipping simulcast browser tests: ${skipReason}`);

interface Decoded {
  framesDecoded: number;
  width: number;
  height: number;
  codec: string;
}

interface ApiLayer {
  rid: string | null;
  width: number;
  height: number;
  active: boolean;
}

/** Polls `probe` until `done` holds or `deadlineMs` passes; the error shows the last value. */
async function waitFor<T>(
  what: string,
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  deadlineMs: number,
  pages: Page[] = [],
): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  let last = await probe();
  while (!done(last)) {
    if (Date.now() > deadline) {
      const logs = pages.map((p) => p.console.join("\n")).join("\n---\n");
      throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}\n${logs}`);
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
    last = await probe();
  }
  return last;
}

async function streamInfo(baseUrl: string, name: string): Promise<StreamInfo | null> {
  const response = await fetch(`${baseUrl}/api/streams/${name}`);
  if (response.status !== 200) {
    await response.body?.cancel();
    return null;
  }
  return await response.json();
}

function videoLayers(info: StreamInfo | null): ApiLayer[] {
  return info?.tracks.find((t) => t.kind === "video")?.layers ?? [];
}

/** What the viewer's decoder produces now (getStats inbound-rtp video). */
function decoded(viewer: Page): Promise<Decoded> {
  return viewer.evaluate<Decoded>(`(async () => {
    const pc = globalThis.player.pc;
    const none = { framesDecoded: 0, width: 0, height: 0, codec: "" };
    if (!pc) return none;
    const stats = [...(await pc.getStats()).values()];
    const video = stats.find((s) => s.type === "inbound-rtp" && s.kind === "video");
    if (!video) return none;
    const codec = stats.find((s) => s.id === video.codecId);
    return {
      framesDecoded: video.framesDecoded ?? 0,
      width: video.frameWidth ?? 0,
      height: video.frameHeight ?? 0,
      codec: codec?.mimeType ?? "",
    };
  })()`);
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

async function simulcast(codec: "VP8" | "H264", mode: Mode): Promise<void> {
  await using browser = await launchBrowser();
  if (!browser) return;
  const server = await startServer({
    port: 0,
    host: "127.0.0.1",
    publicIps: ["127.0.0.1"],
    logLevel: "silent",
  }, { logger: createLogger("silent") });
  try {
    await run(browser, server, codec, mode);
  } finally {
    await server.close();
  }
}

async function run(
  browser: Browser,
  server: Awaited<ReturnType<typeof startServer>>,
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
  const encodings = await publisher.evaluate<{ rid: string; active: boolean }[]>(`(async () => {
    const m = await import(${JSON.stringify(PLAYER_MODULE)});
    const pub = await m.whipPublish("/whip/${stream}", {
      token: ${JSON.stringify(server.publishToken)},
      codec: "${codec}",
      simulcast: true,
      video: { width: 1280, height: 720, frameRate: 30 },
    });
    globalThis.publisher = pub;
    await pub.connected;
    const sender = pub.pc.getTransceivers().find((t) => t.sender.track?.kind === "video").sender;
    globalThis.videoSender = sender;
    return sender.getParameters().encodings.map((e) => ({ rid: e.rid, active: e.active }));
  })()`);
  assertEquals(encodings.map((e) => e.rid), ["q", "h", "f"], "the page sends three encodings");

  // All three layers arrive and are measured: distinct sizes, "f" the largest, ranked by size.
  const info = await waitFor(
    "three layers with distinct measured sizes",
    () => streamInfo(server.url, stream),
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
  await waitFor(
    "ranks by measured size",
    () => Promise.resolve([0, 1, 2].map((r) => producer.layerOfRank(r)?.rid ?? null)),
    (ranks) => ranks.join() === "q,h,f",
    STEP_DEADLINE_MS,
  );
  const [small, , large] = layers;

  const viewer = await browser.newPage(`${server.url}/`);
  const pages = [publisher, viewer];
  await viewer.evaluate(`(async () => {
    const m = await import(${JSON.stringify(PLAYER_MODULE)});
    const video = document.createElement("video");
    video.muted = true;
    video.playsInline = true;
    document.body.append(video);
    globalThis.layerEvents = [];
    globalThis.player = m.whepPlay("/whep/${stream}", { video });
    globalThis.player.addEventListener("layers", (e) => globalThis.layerEvents.push(e.detail));
  })()`);
  const playing = await waitFor(
    "decoded video",
    () => decoded(viewer),
    (d) => d.framesDecoded > MIN_FRAMES && d.width > 0,
    STEP_DEADLINE_MS,
    pages,
  );
  assertEquals(playing.codec, `video/${codec}`);

  // SSE `layers` lists the three layers with their ranks and sizes.
  const listed = await waitFor(
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
  await waitFor(
    `decoded width ${small.width} after pinning q`,
    () => decoded(viewer),
    (d) => d.width === small.width,
    STEP_DEADLINE_MS,
    pages,
  );
  const pinned = await waitFor(
    "the API to show layer q",
    () => streamInfo(server.url, stream),
    (s) => s?.viewerLayers[0]?.layer === "q",
    STEP_DEADLINE_MS,
  );
  assertEquals(pinned!.viewerLayers[0].reason, "manual");

  if (mode === "auto-return") {
    // Automatic again (`{mediaId}` alone): on an unconstrained loopback link the viewer
    // returns to the top layer.
    await viewer.evaluate(`globalThis.player.selectLayer("")`);
    await waitFor(
      `decoded width ${large.width} in automatic mode`,
      () => decoded(viewer),
      (d) => d.width === large.width,
      AUTO_UP_DEADLINE_MS,
      pages,
    );
    await waitFor(
      "the API to show layer f",
      () => streamInfo(server.url, stream),
      (s) => s?.viewerLayers[0]?.layer === "f",
      STEP_DEADLINE_MS,
    );
    await close(publisher, viewer);
    return;
  }

  // Pin the top layer by rid: the size follows back up.
  await viewer.evaluate(`globalThis.player.selectLayer("f")`);
  await waitFor(
    `decoded width ${large.width} after pinning f`,
    () => decoded(viewer),
    (d) => d.width === large.width,
    STEP_DEADLINE_MS,
    pages,
  );
  await waitFor(
    "the API to show layer f",
    () => streamInfo(server.url, stream),
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
  const stopped = await decoded(viewer);
  const fallback = await waitFor(
    "decoding to continue on a lower layer after the top layer stopped",
    () => decoded(viewer),
    (d) =>
      d.width > 0 && d.width < large.width && d.framesDecoded > stopped.framesDecoded + MIN_FRAMES,
    STEP_DEADLINE_MS,
    pages,
  );
  assertGreater(fallback.framesDecoded, stopped.framesDecoded);
  const after = await waitFor(
    "the API to show the fallback",
    () => streamInfo(server.url, stream),
    (s) => s?.viewerLayers[0]?.layer !== "f" && s?.viewerLayers[0]?.layer !== null,
    STEP_DEADLINE_MS,
  );
  assert(["q", "h"].includes(after!.viewerLayers[0].layer!), JSON.stringify(after!.viewerLayers));

  assertEquals(after!.viewerLayers[0].reason, "layer_loss");

  // Back to automatic (`{mediaId}` alone) with the top layer gone: decoding goes on.
  await viewer.evaluate(`globalThis.player.selectLayer("")`);
  const auto = await decoded(viewer);
  await waitFor(
    "decoding to continue in automatic mode",
    () => decoded(viewer),
    (d) => d.framesDecoded > auto.framesDecoded + MIN_FRAMES,
    STEP_DEADLINE_MS,
    pages,
  );
  await close(publisher, viewer);
}

async function close(publisher: Page, viewer: Page): Promise<void> {
  await viewer.evaluate("globalThis.player.stop()");
  await publisher.evaluate("globalThis.publisher.stop()");
  await viewer.close();
  await publisher.close();
}
