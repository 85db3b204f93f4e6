/**
 * WHEP over HTTP (draft-ietf-wish-whep, whip-whep.md §2): playback offers against a live
 * fixture publisher, 409 without one, HEAD, the viewer token, server-sent events and layer
 * selection. No media flows: the sessions only exist.
 */
import { assert, assertEquals, assertExists, assertMatch, assertStringIncludes } from "@std/assert";
import { type RunningServer, startServer } from "../../src/server.ts";
import { configFrom, type ConfigInput } from "../../src/config.ts";
import { createLogger } from "../../src/observability/log.ts";
import { parseSdp } from "../../src/session/sdp.ts";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { CHROMIUM, CHROMIUM_WHEP, OBS_30, weriftOffer } from "../support/offers.ts";
import { H264 } from "../support/werift-client.ts";
import { localViewer } from "../support/sessions.ts";

loadLibsrtp();

const TOKEN = "publish-secret-token";

async function withServer(
  overrides: Partial<ConfigInput>,
  fn: (server: RunningServer) => Promise<void>,
): Promise<void> {
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
      ...overrides,
    }),
    { logger: createLogger("silent") },
  );
  try {
    await fn(server);
  } finally {
    await server.close();
  }
}

function post(server: RunningServer, path: string, body: string, headers = {}) {
  return fetch(server.url + path, {
    method: "POST",
    headers: { "Content-Type": "application/sdp", ...headers },
    body,
  });
}

/** A JSON POST, as to a viewer's `/sse` and `/layer` resources. */
function postJson(server: RunningServer, path: string, body: string) {
  return post(server, path, body, { "Content-Type": "application/json" });
}

async function problem(res: Response, status: number): Promise<Record<string, unknown>> {
  const text = await res.text();
  assertEquals(res.status, status, text);
  assertEquals(res.headers.get("Content-Type"), "application/problem+json");
  const body = JSON.parse(text);
  assertEquals(body.status, status);
  assert(typeof body.type === "string" && typeof body.title === "string", text);
  assert(typeof body.detail === "string" && body.detail.length > 0, text);
  return body;
}

async function publishFixture(server: RunningServer, stream: string, offer = OBS_30) {
  const res = await post(server, `/whip/${stream}`, offer, { Authorization: `Bearer ${TOKEN}` });
  const text = await res.text();
  assertEquals(res.status, 201, text);
  return res.headers.get("Location")!;
}

async function playFixture(server: RunningServer, stream: string, offer = CHROMIUM_WHEP) {
  const res = await post(server, `/whep/${stream}`, offer);
  const answer = await res.text();
  assertEquals(res.status, 201, answer);
  return { res, answer, location: res.headers.get("Location")! };
}

/** Reads server-sent events until `count` have arrived, then cancels the stream. */
async function readEvents(
  res: Response,
  count: number,
): Promise<{ event: string; data: unknown }[]> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const events: { event: string; data: unknown }[] = [];
  let buffer = "";
  try {
    while (events.length < count) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1] ?? "message";
        const data = block.split("\n").filter((l) => l.startsWith("data: "));
        assertEquals(data.length, 1, "one data line per event");
        events.push({ event, data: JSON.parse(data[0].slice(6)) });
      }
    }
  } finally {
    await reader.cancel();
  }
  return events;
}

Deno.test("WHEP without a live publisher → 409 + Retry-After, never 406; HEAD → 404", async () => {
  await withServer({}, async (server) => {
    const res = await post(server, "/whep/nothing", CHROMIUM_WHEP);
    await problem(res, 409);
    assert(Number(res.headers.get("Retry-After")) >= 1);
    const head = await fetch(server.url + "/whep/nothing", { method: "HEAD" });
    assertEquals(head.status, 404);
    assertEquals(server.manager.sessions.size, 0);
  });
});

Deno.test("HEAD /whep/{stream} → 200 with application/sdp and no body when live", async () => {
  await withServer({}, async (server) => {
    await publishFixture(server, "live");
    const head = await fetch(server.url + "/whep/live", { method: "HEAD" });
    assertEquals(head.status, 200);
    assertEquals(head.headers.get("Content-Type"), "application/sdp");
    assertEquals(await head.text(), "");
  });
});

Deno.test("WHEP answer: sendonly, the viewer's payload type and extension IDs, a=ssrc, Links", async () => {
  await withServer({}, async (server) => {
    await publishFixture(server, "live"); // OBS: H264 42e01f pm=1 on PT 96, Opus on 111
    const { res, answer, location } = await playFixture(server, "live");
    assertMatch(location, /^\/whep\/live\/[0-9a-f-]{36}$/);
    assertMatch(res.headers.get("ETag") ?? "", /^"[^"]+"$/);
    assertEquals(res.headers.get("Content-Type"), "application/sdp");
    const parsed = parseSdp(answer);
    const [audio, video] = parsed.media;
    assertEquals(parsed.media.map((m) => m.direction), ["sendonly", "sendonly"]);
    assertEquals(audio.formats, ["111"]);
    // Chromium's 42e01f packetization-mode=1 entry is PT 106: the profile closest to the source.
    assertEquals(video.formats, ["106"]);
    assertEquals(video.codecs[0].name, "H264");
    assertStringIncludes(video.codecs[0].fmtp, "packetization-mode=1");
    assertEquals(
      video.extmaps.map((e) => e.id).sort((a, b) => a - b),
      [2, 3, 4],
      "abs-send-time 2, transport-cc 3, mid 4: the viewer's own IDs",
    );
    assertEquals(video.ssrcs.length, 1);
    assertEquals(audio.ssrcs.length, 1);
    const links = (res.headers.get("Link") ?? "").split(", ");
    assert(links.some((l) => l.includes('rel="urn:ietf:params:whep:ext:core:server-sent-events"')));
    assert(links.some((l) => l.includes('rel="urn:ietf:params:whep:ext:core:layer"')));
    assertEquals(server.manager.count("viewer"), 1);
  });
});

Deno.test("a viewer that cannot decode the stream's codec → 422 naming the codec", async () => {
  await withServer({}, async (server) => {
    await publishFixture(server, "h264"); // OBS: H264
    const vp8Only = await weriftOffer("whep");
    const detail = await problem(await post(server, "/whep/h264", vp8Only), 422);
    assertStringIncludes(String(detail.detail), "H264");

    await publishFixture(server, "vp8", CHROMIUM); // Chromium publishes its first codec, VP8
    const h264Only = await weriftOffer("whep", [H264]);
    const vp8Detail = await problem(await post(server, "/whep/vp8", h264Only), 422);
    assertStringIncludes(String(vp8Detail.detail), "VP8");
    assertEquals(server.manager.count("viewer"), 0);
  });
});

Deno.test("a sendonly offer to WHEP → 422; garbage → 400", async () => {
  await withServer({}, async (server) => {
    await publishFixture(server, "live");
    await problem(
      await post(server, "/whep/live", CHROMIUM_WHEP.replaceAll("a=recvonly", "a=sendonly")),
      422,
    );
    await problem(await post(server, "/whep/live", "v=0\r\nnot sdp\r\n"), 400);
    await problem(
      await post(server, "/whep/live", CHROMIUM_WHEP, { "Content-Type": "text/plain" }),
      415,
    );
    assertEquals(server.manager.count("viewer"), 0);
  });
});

Deno.test("optional viewer token: missing/wrong → 401 + WWW-Authenticate; right → 201", async () => {
  await withServer({ viewerToken: "watch-me" }, async (server) => {
    await publishFixture(server, "live");
    for (
      const headers of [{}, { Authorization: "Bearer nope" }, { Authorization: `Bearer ${TOKEN}` }]
    ) {
      const res = await post(server, "/whep/live", CHROMIUM_WHEP, headers);
      await problem(res, 401);
      assertMatch(res.headers.get("WWW-Authenticate") ?? "", /^Bearer\b/);
    }
    const ok = await post(server, "/whep/live", CHROMIUM_WHEP, {
      Authorization: "Bearer watch-me",
    });
    assertEquals(ok.status, 201);
    const location = ok.headers.get("Location")!;
    await ok.body?.cancel();
    // DELETE of a viewer session needs the viewer token too.
    await problem(await fetch(server.url + location, { method: "DELETE" }), 401);
    const del = await fetch(server.url + location, {
      method: "DELETE",
      headers: { Authorization: "Bearer watch-me" },
    });
    assertEquals(del.status, 200);
    await del.body?.cancel();
    assertEquals(server.manager.count("viewer"), 0);
  });
});

Deno.test("without a viewer token playback is open; DELETE → 200, then 404", async () => {
  await withServer({}, async (server) => {
    await publishFixture(server, "live");
    const { location } = await playFixture(server, "live");
    const patch = await fetch(server.url + location, {
      method: "PATCH",
      headers: { "Content-Type": "application/trickle-ice-sdpfrag", "If-Match": "*" },
      body: "a=ice-ufrag:pW2x\r\na=ice-pwd:nR5tQ8vX2zB4dF6hJ8kL0mN2\r\na=end-of-candidates\r\n",
    });
    assertEquals(patch.status, 204);
    await patch.body?.cancel();
    const del = await fetch(server.url + location, { method: "DELETE" });
    assertEquals(del.status, 200);
    await del.body?.cancel();
    await problem(await fetch(server.url + location, { method: "DELETE" }), 404);
    assertEquals(server.manager.count("viewer"), 0);
  });
});

Deno.test("SSE: event list POST → 201 + Location; the stream sends active and viewercount", async () => {
  await withServer({}, async (server) => {
    const publisher = await publishFixture(server, "live");
    const { location } = await playFixture(server, "live");
    const sse = await postJson(
      server,
      location + "/sse",
      JSON.stringify(["active", "inactive", "viewercount"]),
    );
    assertEquals(sse.status, 201);
    await sse.body?.cancel();
    const streamUrl = sse.headers.get("Location");
    assertExists(streamUrl);
    assert(streamUrl.startsWith(location + "/sse/"), streamUrl);

    const events = await fetch(server.url + streamUrl);
    assertEquals(events.status, 200);
    assertStringIncludes(events.headers.get("Content-Type") ?? "", "text/event-stream");
    // The stream stays open: a publisher leaving is sent as `inactive`.
    const reading = readEvents(events, 3);
    await new Promise((r) => setTimeout(r, 50));
    const del = await fetch(server.url + publisher, {
      method: "DELETE",
      headers: { Authorization: `Bearer ${TOKEN}` },
    });
    await del.body?.cancel();
    assertEquals(await reading, [
      { event: "active", data: {} },
      { event: "viewercount", data: { viewercount: 1 } },
      { event: "inactive", data: {} },
    ]);

    // DELETE drops the event stream; a later GET is 404.
    const drop = await fetch(server.url + streamUrl, { method: "DELETE" });
    assertEquals(drop.status, 200);
    await drop.body?.cancel();
    await problem(await fetch(server.url + streamUrl), 404);
  });
});

Deno.test("SSE: bad event lists → 400 naming the problem; empty body and direct GET work", async () => {
  await withServer({}, async (server) => {
    await publishFixture(server, "live");
    const { location } = await playFixture(server, "live");
    const sse = (body: string) => postJson(server, location + "/sse", body);
    const unknown = await problem(await sse('["active","fireworks"]'), 400);
    assertStringIncludes(String(unknown.detail), "fireworks");
    await problem(await sse('{"events":["active"]}'), 400);
    await problem(await sse("[1,2]"), 400);
    await problem(await sse("[not json"), 400);
    const empty = await sse("");
    assertEquals(empty.status, 201);
    await empty.body?.cancel();
    // Broadcast Box players GET the SSE URL without the POST step.
    const direct = await fetch(server.url + location + "/sse");
    assertEquals(direct.status, 200);
    const [first] = await readEvents(direct, 1);
    assertEquals(first.event, "active");
    const one = await sse('["active"]');
    assertEquals(one.status, 201);
    await one.body?.cancel();
    await problem(
      await fetch(server.url + "/whep/live/00000000-0000-0000-0000-000000000000/sse", {
        method: "POST",
        body: "[]",
      }),
      404,
    );
  });
});

Deno.test("layer selection: bad bodies → 400 with a reason; {mediaId} alone → 200", async () => {
  await withServer({}, async (server) => {
    await publishFixture(server, "live");
    const { location } = await playFixture(server, "live");
    const layer = (body: string) => postJson(server, location + "/layer", body);
    const rows: [string, RegExp][] = [
      ["not json", /JSON/],
      ['{"maxWidth":-5}', /maxWidth/],
      ['{"spatialLayerId":"high"}', /spatialLayerId/],
      ['{"mediaId":"7"}', /mediaId "7"/],
      ['{"mediaId":"0"}', /video/],
      ['{"rid":"nope"}', /nope/],
      ['{"surprise":true}', /surprise|unrecognized/i],
      ["[]", /./],
    ];
    for (const [body, reason] of rows) {
      const p = await problem(await layer(body), 400);
      assertMatch(String(p.detail), reason, body);
    }
    for (const body of ['{"mediaId":"1"}', '{mediaId:"1"}', "{}", '{"maxHeight":360}']) {
      const res = await layer(body);
      assertEquals(res.status, 200, `${body}: ${await res.text()}`);
    }
  });
});

Deno.test("layer selection: temporalLayerId pins a temporal layer, maxTemporalLayerId caps it, a request without them clears them", async () => {
  await withServer({}, async (server) => {
    await publishFixture(server, "live");
    const { location } = await playFixture(server, "live");
    const layer = (body: string) => postJson(server, location + "/layer", body);
    const id = location.split("/").pop()!;
    const viewer = localViewer(server.manager, id);
    const video = viewer.consumers.find((c) => c.kind === "video")!;
    const rows: [string, number | null][] = [
      ['{"temporalLayerId":0}', 0],
      ['{"mediaId":"1","temporalLayerId":1,"maxHeight":360}', 1],
      ["{}", null],
      ['{"maxTemporalLayerId":0}', null],
    ];
    for (const [body, pinned] of rows) {
      const res = await layer(body);
      assertEquals(res.status, 200, `${body}: ${await res.text()}`);
      assertEquals(video.pinnedTemporal, pinned, body);
    }
    await problem(await layer('{"temporalLayerId":-1}'), 400);
    await problem(await layer('{"temporalLayerId":"base"}'), 400);
  });
});

Deno.test("SSE and layer bodies are capped; a viewer keeps at most a few event streams", async () => {
  await withServer({}, async (server) => {
    await publishFixture(server, "live");
    const { location } = await playFixture(server, "live");
    const big = JSON.stringify(Array.from({ length: 2000 }, () => "active"));
    for (const path of ["/sse", "/layer"]) {
      await problem(await fetch(server.url + location + path, { method: "POST", body: big }), 413);
    }
    const locations: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await fetch(server.url + location + "/sse", { method: "POST", body: "[]" });
      assertEquals(res.status, 201);
      await res.body?.cancel();
      locations.push(res.headers.get("Location")!);
    }
    await problem(await fetch(server.url + locations[0]), 404);
    const newest = await fetch(server.url + locations[4]);
    assertEquals(newest.status, 200);
    await newest.body?.cancel();
  });
});
