// Chromium simulcast in the configuration users run: viewers in viewer workers (the loopback
// server's default, as `--workers auto` on two cores). Issue 12: with a Chromium 3-layer
// publisher, viewers hosted in workers decoded no video at all (the /watch page spun on
// "Frames decoded 0") because Chromium stops writing the rid header extension once a receiver
// report acknowledges an SSRC, and a worker subscribes to a stream when its first viewer
// arrives: so the viewers here join only after every layer has been acknowledged.
import { assert, assertEquals, assertGreater } from "@std/assert";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { browserUnavailable } from "../support/browser.ts";
import {
  acknowledgedVideoSsrcs,
  decodedVideo,
  playInPage,
  pollUntil,
  publishFromPage,
  withBrowserAndServer,
} from "../support/browser-media.ts";
import { streamInfoOrNull } from "../support/stream-api.ts";

/** Liveness bounds so a broken build fails instead of hanging; not speed assertions. */
const STEP_DEADLINE_MS = 15_000;
/** Frames a viewer must decode to count as playing. */
const MIN_FRAMES = 30;

loadLibsrtp();

const skipReason = browserUnavailable();
if (skipReason) console.log(`skipping simulcast worker browser tests: ${skipReason}`);

Deno.test({
  name:
    "browser: Chromium 3-layer simulcast, default worker configuration: a player page and the /watch page decode in their workers; a pin from the /watch menu reaches the worker",
  ignore: skipReason !== null,
  fn: () =>
    withBrowserAndServer(async (browser, server) => {
      const pool = server.workers;
      assertEquals(pool?.size, 2, "viewers are hosted in two workers");
      const stream = "live";
      const publisher = await browser.newPage(`${server.url}/`);
      await publishFromPage(publisher, stream, {
        token: server.publishToken,
        codec: "VP8",
        simulcast: true,
        video: { width: 1280, height: 720, frameRate: 30 },
      }, "null");
      await pollUntil(
        "three measured layers",
        () => streamInfoOrNull(server.url, stream),
        (s) =>
          (s?.tracks.find((t) => t.kind === "video")?.layers ?? []).filter((l) => l.width > 0)
            .length === 3,
        STEP_DEADLINE_MS,
        [publisher],
      );
      await pollUntil(
        "receiver reports for the three layers at the publisher",
        () => acknowledgedVideoSsrcs(publisher),
        (n) => n === 3,
        STEP_DEADLINE_MS,
        [publisher],
      );

      const viewer = await browser.newPage(`${server.url}/`);
      await playInPage(viewer, stream);
      const watch = await browser.newPage(`${server.url}/watch/${stream}`);
      const pages = [publisher, viewer, watch];
      for (
        const [page, player] of [[viewer, "globalThis.player"], [
          watch,
          "globalThis.quetzalPlayer",
        ]] as const
      ) {
        await pollUntil(
          `decoded video at ${player}`,
          () => decodedVideo(page, player),
          (d) => d.framesDecoded > MIN_FRAMES && d.width > 0,
          STEP_DEADLINE_MS,
          pages,
        );
      }
      // One viewer per worker: both workers' mirrors learnt the layers.
      const workers = [...pool!.placements().values()].sort();
      assertEquals(workers, [0, 1]);
      // What the /watch page shows the user.
      const shown = await pollUntil(
        "the /watch page's frame count",
        () =>
          watch.evaluate<number>(
            `Number(document.querySelector('[data-stat="frames"]').textContent)`,
          ),
        (n) => n > MIN_FRAMES,
        STEP_DEADLINE_MS,
        pages,
      );
      assertGreater(shown, MIN_FRAMES);

      // The quality menu pins the lowest layer through the WHEP layer extension.
      await pollUntil(
        "the quality menu to list the three layers",
        () =>
          watch.evaluate<string[]>(
            `[...document.getElementById("quality").options].map((o) => o.value)`,
          ),
        (values) => ["q", "h", "f"].every((rid) => values.includes(rid)),
        STEP_DEADLINE_MS,
        pages,
      );
      await watch.evaluate(`(() => {
        const select = document.getElementById("quality");
        select.value = "q";
        select.dispatchEvent(new Event("change"));
      })()`);
      await pollUntil(
        "decoded width 320 after choosing q",
        () => decodedVideo(watch, "globalThis.quetzalPlayer"),
        (d) => d.width === 320,
        STEP_DEADLINE_MS,
        pages,
      );
      const info = await pollUntil(
        "the API to show the pin",
        () => streamInfoOrNull(server.url, stream),
        (s) => s?.viewerLayers.some((v) => v.layer === "q" && v.reason === "manual") === true,
        STEP_DEADLINE_MS,
      );
      assert(info!.viewerLayers.length === 2, JSON.stringify(info!.viewerLayers));

      await viewer.evaluate("globalThis.player.stop()");
      await watch.evaluate("globalThis.quetzalPlayer.stop()");
      await publisher.evaluate("globalThis.publisher.stop()");
      for (const page of pages) await page.close();
    }),
});
