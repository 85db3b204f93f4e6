// End to end through real Chromium: one page publishes its fake camera and microphone over WHIP,
// another plays the stream over WHEP with the built-in player module. Runs on 127.0.0.1 only:
// Chromium gets --allow-loopback-in-peer-connection (see test/support/browser.ts).
import { assert, assertEquals } from "@std/assert";
import { startServer } from "../../src/server.ts";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import {
  browserUnavailable,
  isPngNotBlank,
  launchBrowser,
  type Page,
  pngLumaStats,
} from "../support/browser.ts";

/** An upper bound so a broken build fails instead of hanging; not a speed assertion. */
const MEDIA_DEADLINE_MS = 45_000;
const POLL_MS = 250;

const MIN_FRAMES_DECODED = 30;
const MIN_AUDIO_PACKETS = 50;

interface Summary {
  framesDecoded: number;
  audioPacketsReceived: number;
  videoCodec: string;
  audioCodec: string;
  width: number;
  height: number;
}

/** Polls `probe` until `done` holds for its result or the deadline passes. */
async function waitFor<T>(
  what: string,
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  page: Page,
): Promise<T> {
  const deadline = Date.now() + MEDIA_DEADLINE_MS;
  let last: T = await probe();
  while (!done(last)) {
    if (Date.now() > deadline) {
      throw new Error(
        `timed out waiting for ${what}; last: ${JSON.stringify(last)}\npage console:\n${
          page.console.join("\n")
        }`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    last = await probe();
  }
  return last;
}

const PLAYER_MODULE = "/player/player.js";

// Load the native SRTP library outside the tests so the resource sanitizer does not count it.
loadLibsrtp();

const skipReason = browserUnavailable();
if (skipReason) console.log(`skipping WHIP/WHEP browser tests: ${skipReason}`);

for (const codec of ["H264", "VP8"] as const) {
  Deno.test({
    name: `browser: WHIP publish and WHEP play ${codec} through Chromium`,
    ignore: skipReason !== null,
    fn: () => publishAndPlay(codec),
  });
}

async function publishAndPlay(codec: "H264" | "VP8"): Promise<void> {
  await using browser = await launchBrowser();
  if (!browser) return;
  const server = await startServer({
    port: 0,
    host: "127.0.0.1",
    publicIps: ["127.0.0.1"],
    logLevel: "warn",
  });
  try {
    const stream = `browser-${codec.toLowerCase()}`;
    const publisher = await browser.newPage(`${server.url}/`);
    const publishedCodec = await publisher.evaluate<string>(`(async () => {
      const m = await import(${JSON.stringify(PLAYER_MODULE)});
      const pub = await m.whipPublish("/whip/${stream}", {
        token: ${JSON.stringify(server.publishToken)},
        codec: "${codec}",
      });
      globalThis.publisher = pub;
      await pub.connected;
      const sender = pub.pc.getTransceivers().find((t) => t.sender.track?.kind === "video").sender;
      return sender.getParameters().codecs[0]?.mimeType ?? "";
    })()`);
    assertEquals(publishedCodec, `video/${codec}`);

    const viewer = await browser.newPage(`${server.url}/`);
    await viewer.evaluate(`(async () => {
      const m = await import(${JSON.stringify(PLAYER_MODULE)});
      globalThis.playerModule = m;
      const video = document.createElement("video");
      video.id = "test-video";
      video.muted = true;
      video.playsInline = true;
      video.style = "position:fixed;left:0;top:0;width:640px;height:360px;z-index:9;background:#000";
      document.body.append(video);
      globalThis.player = m.whepPlay("/whep/${stream}", { video });
    })()`);

    const summary = await waitFor<Summary | null>(
      "decoded video and received audio",
      () =>
        viewer.evaluate(`(async () => {
          const pc = globalThis.player.pc;
          if (!pc) return null;
          return globalThis.playerModule.summarizeInboundStats(await pc.getStats(), null, 0);
        })()`),
      (s) =>
        s !== null && s.framesDecoded > MIN_FRAMES_DECODED &&
        s.audioPacketsReceived > MIN_AUDIO_PACKETS,
      viewer,
    );
    assertEquals(summary!.videoCodec, `video/${codec}`);
    assertEquals(summary!.audioCodec.toLowerCase(), "audio/opus");
    assert(summary!.width > 0 && summary!.height > 0, JSON.stringify(summary));
    assertEquals(await viewer.evaluate<string>("globalThis.player.status"), "playing");

    // The element is painting frames (not just decoding them): then the picture must show
    // the fake camera's pattern, not a black or grey box.
    await waitFor(
      "the video element to play",
      () =>
        viewer.evaluate<number>(
          `(() => { const v = document.getElementById("test-video");
            return v.videoWidth > 0 && !v.paused ? v.currentTime : 0; })()`,
        ),
      (currentTime) => currentTime > 0.5,
      viewer,
    );
    const png = await viewer.screenshot({ x: 0, y: 0, width: 640, height: 360 });
    const stats = await pngLumaStats(png);
    assert(await isPngNotBlank(png), `blank video: ${JSON.stringify(stats)}`);

    await viewer.evaluate("globalThis.player.stop()");
    await publisher.evaluate("globalThis.publisher.stop()");
    await viewer.close();
    await publisher.close();
  } finally {
    await server.close();
  }
}
