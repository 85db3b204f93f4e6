/**
 * Health, readiness, the JSON API and the player pages; every error here is problem+json too.
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { configFrom } from "../../src/config.ts";
import { type RunningServer, startServer } from "../../src/server.ts";
import { createLogger } from "../../src/observability/log.ts";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { CHROMIUM_WHEP, OBS_32_SIMULCAST } from "../support/offers.ts";

loadLibsrtp();

const TOKEN = "publish-secret-token";

async function withServer(fn: (server: RunningServer) => Promise<void>): Promise<void> {
  const server = await startServer(
    configFrom({
      port: 0,
      host: "127.0.0.1",
      publicIps: ["127.0.0.1"],
      // On the main thread: a server per test, checking the HTTP layer; two workers add about
      // 1 s per start (whip.test.ts: 21 s instead of 1 s).
      workers: 1,
      logLevel: "silent",
      publishToken: TOKEN,
    }),
    { logger: createLogger("silent") },
  );
  try {
    await fn(server);
  } finally {
    await server.close();
  }
}

async function problem(res: Response, status: number): Promise<void> {
  const text = await res.text();
  assertEquals(res.status, status, text);
  assertEquals(res.headers.get("Content-Type"), "application/problem+json");
  const body = JSON.parse(text);
  assertEquals(body.status, status);
  assert(body.type && body.title && body.detail, text);
}

Deno.test("/healthz and /readyz; readiness turns to 503 while draining", async () => {
  await withServer(async (server) => {
    const health = await fetch(server.url + "/healthz");
    assertEquals(await health.json(), { status: "ok" });
    const ready = await fetch(server.url + "/readyz");
    assertEquals([ready.status, await ready.json()], [200, { status: "ready" }]);
    server.drain();
    const draining = await fetch(server.url + "/readyz");
    assertEquals([draining.status, await draining.json()], [503, { status: "draining" }]);
    const stillHealthy = await fetch(server.url + "/healthz");
    assertEquals(stillHealthy.status, 200);
    await stillHealthy.body?.cancel();
  });
});

Deno.test("/api/streams lists each live stream with codecs, tracks, layers, viewers, bitrate, uptime", async () => {
  await withServer(async (server) => {
    const empty = await fetch(server.url + "/api/streams");
    assertEquals(await empty.json(), { streams: [] });
    const pub = await fetch(server.url + "/whip/live", {
      method: "POST",
      headers: { "Content-Type": "application/sdp", Authorization: `Bearer ${TOKEN}` },
      body: OBS_32_SIMULCAST,
    });
    assertEquals(pub.status, 201);
    await pub.body?.cancel();
    const view = await fetch(server.url + "/whep/live", {
      method: "POST",
      headers: { "Content-Type": "application/sdp" },
      body: CHROMIUM_WHEP,
    });
    assertEquals(view.status, 201);
    await view.body?.cancel();

    const res = await fetch(server.url + "/api/streams");
    assertStringIncludes(res.headers.get("Content-Type") ?? "", "application/json");
    const { streams } = await res.json();
    assertEquals(streams.length, 1);
    const [stream] = streams;
    assertEquals(stream.name, "live");
    assertEquals(stream.live, true);
    assertEquals(stream.codecs, ["opus", "h264"]);
    assertEquals(stream.tracks.map((t: { kind: string }) => t.kind), ["audio", "video"]);
    assertEquals(stream.viewers, 1);
    assertEquals(stream.viewerLayers.length, 1);
    assertEquals(typeof stream.bitrateBps, "number");
    assertEquals(typeof stream.uptimeSeconds, "number");
    for (const track of stream.tracks) {
      assert(Array.isArray(track.layers));
      for (const layer of track.layers) {
        assertEquals(
          Object.keys(layer).sort(),
          ["active", "bitrateBps", "height", "rid", "ssrc", "width"],
        );
      }
    }

    const one = await fetch(server.url + "/api/streams/live");
    assertEquals((await one.json()).name, "live");
    await problem(await fetch(server.url + "/api/streams/absent"), 404);
  });
});

Deno.test("the player pages are served; unknown routes and assets are problem+json 404s", async () => {
  await withServer(async (server) => {
    for (const path of ["/", "/watch/live", "/publish"]) {
      const res = await fetch(server.url + path);
      assertEquals(res.status, 200, path);
      assertStringIncludes(res.headers.get("Content-Type") ?? "", "text/html");
      assertStringIncludes(await res.text(), "<");
    }
    await problem(await fetch(server.url + "/player/nope.js"), 404);
    await problem(await fetch(server.url + "/no/such/route"), 404);
    await problem(await fetch(server.url + "/healthz", { method: "POST" }), 404);
  });
});
