/**
 * Steps shared by the browser tests that publish a page's fake camera over WHIP and play it in
 * another page over WHEP with the built-in player module (`/player/player.js`), against a
 * Quetzal server on 127.0.0.1 (see browser.ts for the Chromium harness).
 */
import type { RunningServer } from "../../src/server.ts";
import { type Browser, launchBrowser, type Page } from "./browser.ts";
import { startLoopbackServer } from "./loopback-server.ts";

/** The player module the server serves, imported by the pages. */
export const PLAYER_MODULE = "/player/player.js";

/** What a viewer page's decoder produces now (getStats inbound-rtp video). */
export interface DecodedVideo {
  framesDecoded: number;
  width: number;
  height: number;
  codec: string;
}

/**
 * Polls `probe` until `done` holds or `deadlineMs` passes; the error shows the last value and
 * the console of `pages`, where a failing page says why.
 */
export async function pollUntil<T>(
  what: string,
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  deadlineMs: number,
  pages: Page[] = [],
  pollMs = 200,
): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  let last = await probe();
  while (!done(last)) {
    if (Date.now() > deadline) {
      const logs = pages.map((p) => p.console.join("\n")).join("\n---\n");
      throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}\n${logs}`);
    }
    await new Promise((r) => setTimeout(r, pollMs));
    last = await probe();
  }
  return last;
}

/** Runs `fn` with Chromium and a silent server on 127.0.0.1; returns at once without Chromium. */
export async function withBrowserAndServer(
  fn: (browser: Browser, server: RunningServer) => Promise<void>,
): Promise<void> {
  await using browser = await launchBrowser();
  if (!browser) return;
  const server = await startLoopbackServer();
  try {
    await fn(browser, server);
  } finally {
    await server.close();
  }
}

/**
 * Publishes the page's camera to `stream` with the player module's `whipPublish(options)`
 * (kept as `globalThis.publisher`, its video sender as `globalThis.videoSender`) and, once
 * connected, returns `result`: a script expression over that `sender`.
 */
export function publishFromPage<T>(
  page: Page,
  stream: string,
  options: Record<string, unknown>,
  result: string,
): Promise<T> {
  return page.evaluate<T>(`(async () => {
    const m = await import(${JSON.stringify(PLAYER_MODULE)});
    const pub = await m.whipPublish(${JSON.stringify(`/whip/${stream}`)}, ${
    JSON.stringify(options)
  });
    globalThis.publisher = pub;
    await pub.connected;
    const sender = pub.pc.getTransceivers().find((t) => t.sender.track?.kind === "video").sender;
    globalThis.videoSender = sender;
    return ${result};
  })()`);
}

/**
 * Plays `stream` in a new muted `<video>` with the player module's `whepPlay`, kept as
 * `globalThis.player`; with `recordLayerEvents`, its `layers` events go to
 * `globalThis.layerEvents`.
 */
export async function playInPage(
  page: Page,
  stream: string,
  { recordLayerEvents = false } = {},
): Promise<void> {
  await page.evaluate(`(async () => {
    const m = await import(${JSON.stringify(PLAYER_MODULE)});
    const video = document.createElement("video");
    video.muted = true;
    video.playsInline = true;
    document.body.append(video);
    globalThis.layerEvents = [];
    globalThis.player = m.whepPlay(${JSON.stringify(`/whep/${stream}`)}, { video });
    if (${recordLayerEvents}) {
      globalThis.player.addEventListener("layers", (e) => globalThis.layerEvents.push(e.detail));
    }
  })()`);
}

/**
 * What the player's decoder in `viewer` produces now; zeros before it has a connection.
 * `player`: the expression of the page's player (the /watch page keeps its own as
 * `globalThis.quetzalPlayer`).
 */
export function decodedVideo(viewer: Page, player = "globalThis.player"): Promise<DecodedVideo> {
  return viewer.evaluate<DecodedVideo>(`(async () => {
    const pc = ${player}?.pc;
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

/**
 * Video SSRCs of the page's publisher (`globalThis.publisher`) that a receiver report has
 * acknowledged: from then on libwebrtc sends their packets without the mid and rid header
 * extensions, so a server must know each layer by its SSRC.
 */
export function acknowledgedVideoSsrcs(publisher: Page): Promise<number> {
  return publisher.evaluate<number>(`(async () => {
    const stats = [...(await globalThis.publisher.pc.getStats()).values()];
    return stats.filter((s) => s.type === "remote-inbound-rtp" && s.kind === "video").length;
  })()`);
}

/** Stops the viewer's player and the publisher, then closes both pages. */
export async function stopAndClose(publisher: Page, viewer: Page): Promise<void> {
  await viewer.evaluate("globalThis.player.stop()");
  await publisher.evaluate("globalThis.publisher.stop()");
  await viewer.close();
  await publisher.close();
}
