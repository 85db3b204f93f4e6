/**
 * WHIP over HTTP (RFC 9725, whip-whep.md §1): every status code a publisher can meet, against a
 * real server on 127.0.0.1 fed with fixture offers (no media flows: the sessions only exist).
 */
import { assert, assertEquals, assertExists, assertMatch, assertNotEquals } from "@std/assert";
import { type RunningServer, startServer } from "../../src/server.ts";
import { configFrom, type ConfigInput } from "../../src/config.ts";
import { createLogger } from "../../src/observability/log.ts";
import { parseSdp } from "../../src/session/sdp.ts";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import {
  CHROMIUM_SIMULCAST,
  NO_FORWARDABLE_VIDEO,
  OBS_30,
  OBS_32_SIMULCAST,
  TWO_VIDEO_TRACKS,
  WHIP_OFFERS,
  WHIP_RECVONLY,
  withIceCredentials,
} from "../support/offers.ts";

// Load the native SRTP library outside the tests so the resource sanitizer does not count it.
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

const auth = { Authorization: `Bearer ${TOKEN}` };

function post(server: RunningServer, path: string, body: string, headers = {}) {
  return fetch(server.url + path, {
    method: "POST",
    headers: { "Content-Type": "application/sdp", ...auth, ...headers },
    body,
  });
}

/** Asserts an RFC 9457 problem response with the given status; returns its body. */
async function problem(res: Response, status: number): Promise<Record<string, unknown>> {
  const text = await res.text();
  assertEquals(res.status, status, text);
  assertEquals(res.headers.get("Content-Type"), "application/problem+json");
  const body = JSON.parse(text);
  assertEquals(body.status, status);
  assertMatch(String(body.type), /^https:\/\/\S+$/);
  assert(typeof body.title === "string" && body.title.length > 0, "title");
  assert(typeof body.detail === "string" && body.detail.length > 0, "detail");
  return body;
}

async function created(res: Response): Promise<{ location: string; etag: string; answer: string }> {
  const answer = await res.text();
  assertEquals(res.status, 201, answer);
  const location = res.headers.get("Location");
  const etag = res.headers.get("ETag");
  assertExists(location);
  assertExists(etag);
  return { location, etag, answer };
}

Deno.test("POST offer → 201, absolute query-less Location, strong quoted ETag, SDP answer", async () => {
  await withServer({}, async (server) => {
    const res = await post(server, "/whip/live", OBS_30);
    const { location, etag, answer } = await created(res);
    assertMatch(location, /^\/whip\/live\/[0-9a-f-]{36}$/);
    assertMatch(etag, /^"[^"]+"$/, "strong (no W/) and quoted");
    assertEquals(res.headers.get("Content-Type"), "application/sdp");
    assertEquals(res.headers.get("Link"), null, "no ice-server Link without configured servers");
    const parsed = parseSdp(answer);
    assertEquals(parsed.media.map((m) => m.direction), ["recvonly", "recvonly"]);
    assertEquals(server.manager.count("publisher"), 1);
    // Session IDs are not sequential: a second one shares nothing recognisable.
    const second = await created(await post(server, "/whip/other", OBS_30));
    assertNotEquals(second.location.split("/")[3], location.split("/")[3]);
  });
});

Deno.test("every client fixture is accepted with 201", async () => {
  await withServer({}, async (server) => {
    for (const [client, offer] of Object.entries(WHIP_OFFERS)) {
      const res = await post(server, `/whip/${client.replace(/[^a-z0-9]/gi, "")}`, offer);
      const { answer } = await created(res);
      assert(answer.includes("a=end-of-candidates"), client);
    }
    assertEquals(server.manager.count("publisher"), Object.keys(WHIP_OFFERS).length);
  });
});

Deno.test("simulcast offers are answered with every rid and one simulcast:recv in offer order", async () => {
  await withServer({}, async (server) => {
    for (const [offer, rids] of [[OBS_32_SIMULCAST, "0;1;2"], [CHROMIUM_SIMULCAST, "q;h;f"]]) {
      const { answer } = await created(await post(server, "/whip/sim", offer));
      assertEquals(answer.match(/^a=simulcast:.*$/gm), [`a=simulcast:recv ${rids}`]);
      assertEquals(answer.match(/^a=rid:.*$/gm), rids.split(";").map((r) => `a=rid:${r} recv`));
    }
  });
});

Deno.test("DELETE → 200 and the session is gone; again → 404", async () => {
  await withServer({}, async (server) => {
    const { location } = await created(await post(server, "/whip/live", OBS_30));
    const del = await fetch(server.url + location, { method: "DELETE", headers: auth });
    assertEquals(del.status, 200);
    await del.body?.cancel();
    assertEquals(server.manager.sessions.size, 0);
    assertEquals(server.manager.routers.size, 0, "the stream is freed with its only publisher");
    await problem(await fetch(server.url + location, { method: "DELETE", headers: auth }), 404);
    await problem(await fetch(server.url + location, { method: "GET" }), 404);
  });
});

Deno.test("GET on endpoint and session → 2xx without a body; OPTIONS carries Accept-Post", async () => {
  await withServer({}, async (server) => {
    const { location } = await created(await post(server, "/whip/live", OBS_30));
    for (const path of ["/whip/live", location]) {
      const res = await fetch(server.url + path);
      assert(res.status >= 200 && res.status < 300, `GET ${path} → ${res.status}`);
      assertEquals(await res.text(), "");
    }
    const options = await fetch(server.url + "/whip/live", { method: "OPTIONS" });
    assert(options.ok);
    assertEquals(options.headers.get("Accept-Post"), "application/sdp");
    await options.body?.cancel();
  });
});

Deno.test("CORS preflight needs no auth and lists headers explicitly", async () => {
  await withServer({}, async (server) => {
    for (const path of ["/whip/live", "/whip/live/00000000-0000-0000-0000-000000000000"]) {
      const res = await fetch(server.url + path, {
        method: "OPTIONS",
        headers: {
          "Origin": "https://player.example",
          "Access-Control-Request-Method": path.endsWith("live") ? "POST" : "PATCH",
          "Access-Control-Request-Headers": "authorization, content-type, if-match",
        },
      });
      assert(res.status === 200 || res.status === 204, `${res.status}`);
      await res.body?.cancel();
      const allow = (res.headers.get("Access-Control-Allow-Headers") ?? "").toLowerCase();
      for (const h of ["authorization", "content-type", "if-match"]) assert(allow.includes(h), h);
      assert(!allow.includes("*"), "* never covers Authorization");
      const methods = res.headers.get("Access-Control-Allow-Methods") ?? "";
      for (const m of ["POST", "PATCH", "DELETE"]) assert(methods.includes(m), m);
      assertEquals(res.headers.get("Access-Control-Allow-Origin"), "*");
      assertEquals(res.headers.get("Accept-Post"), "application/sdp");
    }
    // Actual responses expose Location, Link and ETag to scripts.
    const res = await post(server, "/whip/live", OBS_30, { Origin: "https://player.example" });
    await created(res);
    const exposed = (res.headers.get("Access-Control-Expose-Headers") ?? "").split(/,\s*/);
    for (const h of ["Location", "Link", "ETag"]) assert(exposed.includes(h), h);
  });
});

Deno.test("configured ICE servers → one Link rel=ice-server each, TURN with credentials", async () => {
  await withServer({
    iceServers: ["stun:stun.example.org:3478", "turn:turn.example.org:3478?transport=udp"],
    iceUsername: "user",
    iceCredential: "pass",
  }, async (server) => {
    const res = await post(server, "/whip/live", OBS_30);
    await created(res);
    const links = res.headers.get("Link")!.split(", ");
    assertEquals(links, [
      '<stun:stun.example.org:3478>; rel="ice-server"',
      '<turn:turn.example.org:3478?transport=udp>; rel="ice-server"; username="user"; ' +
      'credential="pass"; credential-type="password"',
    ]);
  });
});

Deno.test("bearer auth: missing or wrong token → 401 + WWW-Authenticate on POST, PATCH, DELETE", async () => {
  await withServer({}, async (server) => {
    const { location, etag } = await created(await post(server, "/whip/live", OBS_30));
    const wrong = { Authorization: "Bearer not-the-token" };
    const cases: [string, string, Record<string, string>, string | undefined][] = [
      ["POST", "/whip/live", { "Content-Type": "application/sdp" }, OBS_30],
      ["POST", "/whip/live", { "Content-Type": "application/sdp", ...wrong }, OBS_30],
      [
        "POST",
        "/whip/live",
        { "Content-Type": "application/sdp", Authorization: "Basic eDp5" },
        OBS_30,
      ],
      [
        "POST",
        "/whip/live",
        { "Content-Type": "application/sdp", Authorization: "Bearer" },
        OBS_30,
      ],
      [
        "PATCH",
        location,
        { "Content-Type": "application/trickle-ice-sdpfrag", "If-Match": etag },
        "a=end-of-candidates\r\n",
      ],
      [
        "PATCH",
        location,
        { "Content-Type": "application/trickle-ice-sdpfrag", "If-Match": etag, ...wrong },
        "a=end-of-candidates\r\n",
      ],
      ["DELETE", location, {}, undefined],
      ["DELETE", location, wrong, undefined],
    ];
    for (const [method, path, headers, body] of cases) {
      const res = await fetch(server.url + path, { method, headers, body });
      await problem(res, 401);
      assertMatch(res.headers.get("WWW-Authenticate") ?? "", /^Bearer\b/, `${method} ${path}`);
    }
    assertEquals(server.manager.count("publisher"), 1, "nothing was created or deleted");
  });
});

Deno.test("PATCH: trickle → 204; ICE restart → 200 with new credentials and ETag; stale → 412", async () => {
  await withServer({}, async (server) => {
    const { location, etag } = await created(await post(server, "/whip/live", OBS_30));
    const patch = (body: string, headers: Record<string, string>) =>
      fetch(server.url + location, {
        method: "PATCH",
        headers: { "Content-Type": "application/trickle-ice-sdpfrag", ...auth, ...headers },
        body,
      });
    const trickle = [
      "a=ice-ufrag:Qz7e",
      "a=ice-pwd:v1yPB8kGq1uDjN0dYtAm3f",
      "m=audio 9 UDP/TLS/RTP/SAVPF 111",
      "a=mid:0",
      "a=candidate:1 1 udp 2130706431 192.0.2.8 50000 typ host",
      "a=end-of-candidates",
      "",
    ].join("\r\n");
    const t = await patch(trickle, { "If-Match": etag });
    assertEquals(t.status, 204);
    assertEquals(await t.text(), "");
    assertEquals(t.headers.get("ETag"), null, "a trickle answer carries no ETag");

    await problem(await patch(trickle, {}), 428);
    await problem(await patch(trickle, { "If-Match": '"not-the-etag"' }), 412);

    const restart = trickle.replace("Qz7e", "N3wU").replace(
      "v1yPB8kGq1uDjN0dYtAm3f",
      "n3wPasswordForRestart0",
    );
    const r = await patch(restart, { "If-Match": "*" });
    const fragment = await r.text();
    assertEquals(r.status, 200, fragment);
    assertEquals(r.headers.get("Content-Type"), "application/trickle-ice-sdpfrag");
    const newEtag = r.headers.get("ETag");
    assertExists(newEtag);
    assertMatch(newEtag, /^"[^"]+"$/);
    assertNotEquals(newEtag, etag);
    const ufrag = /^a=ice-ufrag:(\S+)$/m.exec(fragment)?.[1];
    const pwd = /^a=ice-pwd:(\S+)$/m.exec(fragment)?.[1];
    assertExists(ufrag);
    assertExists(pwd);
    assert(pwd.length >= 22, "RFC 8839 §5.4: at least 128 bits of password");
    assertMatch(fragment, /^a=end-of-candidates$/m);
    assertMatch(
      fragment,
      /^a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 \d+ typ host/m,
      "same candidates",
    );
    // RFC 8840 §4.3: the mid belongs to a media description, so the fragment carries the m= line.
    assertMatch(fragment, /^m=audio .*\r\na=mid:0\r\n/m);

    // The old ETag is stale now; the new one works for trickling in the new ICE session.
    await problem(await patch(trickle, { "If-Match": etag }), 412);
    const again = await patch(restart, { "If-Match": newEtag });
    assertEquals(again.status, 204, "same credentials again: a trickle, not a restart");
    await again.body?.cancel();
  });
});

Deno.test("PATCH with a wrong type → 415, a garbled fragment → 400, unknown session → 404", async () => {
  await withServer({}, async (server) => {
    const { location, etag } = await created(await post(server, "/whip/live", OBS_30));
    const send = (type: string, body: string, path = location) =>
      fetch(server.url + path, {
        method: "PATCH",
        headers: { "Content-Type": type, "If-Match": etag, ...auth },
        body,
      });
    await problem(await send("application/sdp", "a=end-of-candidates\r\n"), 415);
    await problem(await send("application/trickle-ice-sdpfrag", "\u0000\u0001 garbage"), 400);
    await problem(await send("application/trickle-ice-sdpfrag", ""), 400);
    await problem(
      await send("application/trickle-ice-sdpfrag", "a=end-of-candidates\r\n", "/whip/live/nope"),
      404,
    );
    // A session of another stream, or of the other role, is not found either.
    const other = location.replace("/whip/live/", "/whip/elsewhere/");
    await problem(
      await send("application/trickle-ice-sdpfrag", "a=end-of-candidates\r\n", other),
      404,
    );
    const asWhep = location.replace("/whip/", "/whep/");
    await problem(await fetch(server.url + asWhep, { method: "DELETE" }), 404);
    assertEquals(server.manager.count("publisher"), 1);
  });
});

Deno.test("a new authorised POST for a live stream key replaces the publisher", async () => {
  await withServer({}, async (server) => {
    const first = await created(await post(server, "/whip/live", OBS_30));
    const second = await created(
      await post(
        server,
        "/whip/live",
        withIceCredentials(OBS_30, "Rcn1", "reconnectPassword12345"),
      ),
    );
    assertNotEquals(first.location, second.location);
    assertEquals(server.manager.count("publisher"), 1);
    await problem(await fetch(server.url + first.location), 404);
    const res = await fetch(server.url + second.location);
    assertEquals(res.status, 204);
    await res.body?.cancel();
    // An unauthorised POST does not take the stream over.
    const intruder = await post(server, "/whip/live", OBS_30, { Authorization: "Bearer nope" });
    await problem(intruder, 401);
    assertEquals(server.manager.publisherOf("live")?.id, second.location.split("/")[3]);
  });
});

Deno.test("bad input → 415 / 400 / 422 / 413 with problem bodies, allocating nothing", async () => {
  await withServer({}, async (server) => {
    const rows: [string, Record<string, string>, BodyInit, number, RegExp?][] = [
      ["no content type", { "Content-Type": "" }, OBS_30, 415],
      ["text/plain", { "Content-Type": "text/plain" }, OBS_30, 415],
      ["json", { "Content-Type": "application/json" }, "{}", 415],
      ["empty", {}, "", 400],
      ["whitespace", {}, "\r\n \r\n", 400],
      ["garbled", {}, "this is not SDP at all", 400],
      ["no m-lines", {}, "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n", 400],
      [
        "no ICE credentials",
        {},
        OBS_30.replace(/^a=ice-(ufrag|pwd):.*\r\n/gm, ""),
        400,
        /ice-ufrag/,
      ],
      ["no fingerprint", {}, OBS_30.replace(/^a=fingerprint:.*\r\n/gm, ""), 400, /fingerprint/],
      ["no mid", {}, OBS_30.replace(/^a=mid:.*\r\n/gm, ""), 400, /mid/],
      ["invalid UTF-8", {}, new Uint8Array([0x76, 0x3d, 0x30, 0x0d, 0x0a, 0xff, 0xfe]), 400],
      ["two video tracks", {}, TWO_VIDEO_TRACKS, 422, /more than one video track/],
      ["no forwardable codec", {}, NO_FORWARDABLE_VIDEO, 422, /H264, MP4V-ES/],
      ["recvonly offer", {}, WHIP_RECVONLY, 422, /recvonly/],
      [
        "RTP/AVP",
        {},
        OBS_30.replaceAll("UDP/TLS/RTP/SAVPF", "RTP/AVP"),
        422,
        /UDP\/TLS\/RTP\/SAVPF/,
      ],
      ["over 64 KiB", {}, OBS_30 + `a=x-padding:${"p".repeat(64 * 1024)}\r\n`, 413],
    ];
    for (const [what, headers, body, status, detail] of rows) {
      const res = await fetch(server.url + "/whip/live", {
        method: "POST",
        headers: { "Content-Type": "application/sdp", ...auth, ...headers },
        body,
      });
      const p = await problem(res, status).catch((e) => {
        throw new Error(`${what}: ${e.message}`);
      });
      if (detail) assertMatch(String(p.detail), detail, what);
    }
    // Chunked (no Content-Length): the body is cut off at the limit.
    const big = new TextEncoder().encode(OBS_30 + "a=x:" + "q".repeat(70_000) + "\r\n");
    const chunked = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let off = 0; off < big.length; off += 8192) {
          controller.enqueue(big.slice(off, off + 8192));
        }
        controller.close();
      },
    });
    await problem(
      await fetch(server.url + "/whip/live", {
        method: "POST",
        headers: { "Content-Type": "application/sdp", ...auth },
        body: chunked,
      }),
      413,
    );
    // A bad stream name is a 400, not a crash or a session.
    await problem(await post(server, `/whip/${"x".repeat(200)}`, OBS_30), 400);
    assertEquals(server.manager.sessions.size, 0);
    assertEquals(server.manager.routers.size, 0);
  });
});

Deno.test("Content-Type parameters and case are tolerated", async () => {
  await withServer({}, async (server) => {
    await created(
      await post(server, "/whip/a", OBS_30, { "Content-Type": "application/SDP; charset=utf-8" }),
    );
  });
});

Deno.test("over capacity → 503 + Retry-After", async () => {
  await withServer({ maxSessions: 1 }, async (server) => {
    await created(await post(server, "/whip/one", OBS_30));
    const res = await post(server, "/whip/two", OBS_30);
    await problem(res, 503);
    assertExists(res.headers.get("Retry-After"));
    assertEquals(server.manager.sessions.size, 1);
  });
});

Deno.test("unknown methods on WHIP resources → 405 with Allow", async () => {
  await withServer({}, async (server) => {
    const { location } = await created(await post(server, "/whip/live", OBS_30));
    for (
      const [path, method] of [
        ["/whip/live", "PUT"],
        ["/whip/live", "DELETE"],
        [location, "POST"],
        [location, "PUT"],
      ]
    ) {
      const res = await fetch(server.url + path, { method, headers: auth });
      await problem(res, 405);
      assertExists(res.headers.get("Allow"), `${method} ${path}`);
    }
  });
});

Deno.test("the answer carries a candidate for every announced address and end-of-candidates", async () => {
  await withServer({ publicIps: ["127.0.0.1", "192.0.2.77"] }, async (server) => {
    const { answer } = await created(await post(server, "/whip/live", OBS_30));
    for (const media of parseSdp(answer).media) {
      assertEquals(media.candidates.map((c) => c.split(" ")[4]), ["127.0.0.1", "192.0.2.77"]);
    }
    assertEquals(answer.match(/^a=end-of-candidates$/gm)?.length, 2);
  });
});

Deno.test("strictEtag off: a PATCH without If-Match is accepted (clients that never send it)", async () => {
  await withServer({ strictEtag: false }, async (server) => {
    const { location } = await created(await post(server, "/whip/live", OBS_30));
    const res = await fetch(server.url + location, {
      method: "PATCH",
      headers: { "Content-Type": "application/trickle-ice-sdpfrag", ...auth },
      body: "a=ice-ufrag:Qz7e\r\na=ice-pwd:v1yPB8kGq1uDjN0dYtAm3f\r\na=end-of-candidates\r\n",
    });
    assertEquals(res.status, 204);
    await res.body?.cancel();
  });
});
