// End to end through real Chromium: one page publishes its fake camera and microphone over WHIP,
// another plays the stream over WHEP with the built-in player module. Runs on 127.0.0.1 only:
// Chromium gets --allow-loopback-in-peer-connection (see test/support/browser.ts).
import { assert, assertEquals } from "@std/assert";
import { configFrom } from "../../src/config.ts";
import { startServer } from "../../src/server.ts";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import {
  browserUnavailable,
  isPngNotBlank,
  launchBrowser,
  pngLumaStats,
} from "../support/browser.ts";
import {
  PLAYER_MODULE,
  pollUntil,
  publishFromPage,
  stopAndClose,
} from "../support/browser-media.ts";

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

// Load the native SRTP library outside the tests so the resource sanitizer does not count it.
loadLibsrtp();

const skipReason = browserUnavailable();
if (skipReason) console.log(`skipping WHIP/WHEP browser tests: ${skipReason}`);

for (const codec of ["H264", "VP8"] as const) {
  Deno.test({
    name: `browser: WHIP publish and WHEP play ${codec} through Chromium`,
    ignore: skipReason !== null,
    fn: () => publishAndPlay(codec, 1),
  });
}

// The default configuration forwards to viewers from workers (one per core).
Deno.test({
  name: "browser: WHIP publish and WHEP play VP8 through Chromium, viewers in two workers",
  ignore: skipReason !== null,
  fn: () => publishAndPlay("VP8", 2),
});

async function publishAndPlay(codec: "H264" | "VP8", workers: number): Promise<void> {
  await using browser = await launchBrowser();
  if (!browser) return;
  const server = await startServer(configFrom({
    port: 0,
    host: "127.0.0.1",
    publicIps: ["127.0.0.1"],
    workers,
    logLevel: "warn",
  }));
  try {
    const stream = `browser-${codec.toLowerCase()}-w${workers}`;
    const publisher = await browser.newPage(`${server.url}/`);
    const publishedCodec = await publishFromPage<string>(
      publisher,
      stream,
      { token: server.publishToken, codec },
      `sender.getParameters().codecs[0]?.mimeType ?? ""`,
    );
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

    const summary = await pollUntil<Summary | null>(
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
      MEDIA_DEADLINE_MS,
      [viewer],
      POLL_MS,
    );
    assertEquals(summary!.videoCodec, `video/${codec}`);
    assertEquals(summary!.audioCodec.toLowerCase(), "audio/opus");
    assert(summary!.width > 0 && summary!.height > 0, JSON.stringify(summary));
    assertEquals(await viewer.evaluate<string>("globalThis.player.status"), "playing");

    // The element is painting frames (not just decoding them): then the picture must show
    // the fake camera's pattern, not a black or grey box.
    await pollUntil(
      "the video element to play",
      () =>
        viewer.evaluate<number>(
          `(() => { const v = document.getElementById("test-video");
            return v.videoWidth > 0 && !v.paused ? v.currentTime : 0; })()`,
        ),
      (currentTime) => currentTime > 0.5,
      MEDIA_DEADLINE_MS,
      [viewer],
      POLL_MS,
    );
    const png = await viewer.screenshot({ x: 0, y: 0, width: 640, height: 360 });
    const stats = await pngLumaStats(png);
    assert(await isPngNotBlank(png), `blank video: ${JSON.stringify(stats)}`);

    await stopAndClose(publisher, viewer);
  } finally {
    await server.close();
  }
}
