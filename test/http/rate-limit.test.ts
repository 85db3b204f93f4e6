/**
 * The per-address rate limit (src/http/rate-limit.ts): first through the middleware in a small
 * Hono app with fake WHIP/WHEP handlers and a clock the test moves (hundreds of real sessions
 * would test the SFU's speed, not the limit), then against the real server on 127.0.0.1.
 */
import { assert, assertEquals, assertExists, assertMatch } from "@std/assert";
import { Hono } from "hono";
import { errorHandler, Problem } from "../../src/http/errors.ts";
import { rateLimit, type RateLimitOptions } from "../../src/http/rate-limit.ts";
import { createLogger } from "../../src/observability/log.ts";
import type { RunningServer } from "../../src/server.ts";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { startLoopbackServer } from "../support/loopback-server.ts";
import { CHROMIUM_WHEP, OBS_30 } from "../support/offers.ts";
import { parseExposition, sampleValue } from "../support/prom-parse.ts";

// Load the native SRTP library outside the tests so the resource sanitizer does not count it.
loadLibsrtp();

const SECRET = "publish-secret-token";

/**
 * The limiter in front of handlers shaped like Quetzal's: POST /{whip,whep}/:stream creates a
 * session (WHIP needs the token; body "garbage" is a 400; `X-Status` forces a status), and any
 * method on a session URL or below it answers 200 when the session exists, else 404.
 */
function fakeServer(options: Partial<RateLimitOptions> = {}) {
  const clock = { now: 0 };
  const sessions = new Set<string>();
  const reached = { count: 0 };
  const limiter = rateLimit({
    joinsPerMinute: 500,
    failuresPerMinute: 20,
    clientAddress: (req) => req.headers.get("X-Test-Address") ?? "192.0.2.1",
    isSession: (kind, stream, id) => sessions.has(`/${kind}/${stream}/${id}`),
    clock: () => clock.now,
    ...options,
  });
  const app = new Hono();
  app.use("/whip/*", limiter.middleware);
  app.use("/whep/*", limiter.middleware);
  app.onError(errorHandler(createLogger("silent")));
  app.post("/:kind/:stream", async (c) => {
    reached.count++;
    const forced = c.req.header("X-Status");
    if (forced) throw new Problem(Number(forced), "forced", "forced by the test");
    if (c.req.param("kind") === "whip" && c.req.header("Authorization") !== `Bearer ${SECRET}`) {
      throw new Problem(401, "unauthorized", "wrong token");
    }
    if (await c.req.text() === "garbage") throw new Problem(400, "bad-sdp", "not SDP");
    const location = `${c.req.path}/${crypto.randomUUID()}`;
    sessions.add(location);
    return c.body("answer", 201, { Location: location });
  });
  const onSession = (c: { req: { path: string; method: string } }) => {
    reached.count++;
    const location = c.req.path.split("/").slice(0, 4).join("/");
    if (!sessions.has(location)) throw new Problem(404, "unknown-session", "no such session");
    if (c.req.method === "DELETE" && location === c.req.path) sessions.delete(location);
    return new Response(null, { status: 200 });
  };
  app.all("/:kind/:stream/:session", onSession);
  app.all("/:kind/:stream/:session/*", onSession);
  const request = async (method: string, path: string, init: RequestInit = {}) =>
    await app.request(path, { method, ...init });
  return { app, limiter, clock, sessions, reached, request };
}

const join = (from = "192.0.2.1", stream = "/whep/live") => ({
  headers: { "X-Test-Address": from, Authorization: `Bearer ${SECRET}` },
  body: "offer",
  stream,
});

/** A 429 with Retry-After (whole seconds, at least 1) and the rate-limited problem type. */
async function assertRefused(res: Response): Promise<number> {
  const text = await res.text();
  assertEquals(res.status, 429, text);
  assertEquals(res.headers.get("Content-Type"), "application/problem+json");
  assertMatch(JSON.parse(text).type, /\/rate-limited$/);
  const retry = res.headers.get("Retry-After");
  assertExists(retry, "429 without Retry-After");
  assertMatch(retry, /^\d+$/);
  assert(Number(retry) >= 1, retry);
  return Number(retry);
}

async function statuses(responses: Promise<Response>[]): Promise<Map<number, number>> {
  const counts = new Map<number, number>();
  for (const res of await Promise.all(responses)) {
    counts.set(res.status, (counts.get(res.status) ?? 0) + 1);
    await res.body?.cancel();
  }
  return counts;
}

Deno.test("500 viewers joining at once from one address (one NAT) are not refused", async () => {
  const { request, limiter, reached } = fakeServer();
  const { headers, body, stream } = join();
  const joins = Array.from({ length: 500 }, () => request("POST", stream, { headers, body }));
  assertEquals(await statuses(joins), new Map([[201, 500]]));
  assertEquals(reached.count, 500);
  // The 501st in the same instant is over the burst; the bucket refills a token in 0.12 s.
  assertEquals(await assertRefused(await request("POST", stream, { headers, body })), 1);
  assertEquals(limiter.refused, { joins: 1, failures: 0 });
});

Deno.test("joins are a bucket, not a window: one every 120 ms goes on forever", async () => {
  const { request, clock } = fakeServer();
  const { headers, body, stream } = join();
  for (let i = 0; i < 500; i++) await (await request("POST", stream, { headers, body })).text();
  // Empty now; 500 a minute (8.3/s) come back, each usable as it arrives.
  for (let i = 0; i < 1000; i++) {
    clock.now += 120;
    const res = await request("POST", stream, { headers, body });
    assertEquals(res.status, 201, `join ${i}`);
    await res.body?.cancel();
  }
});

Deno.test("100 publish/unpublish cycles from one address are never refused", async () => {
  const { request } = fakeServer();
  const { headers, body } = join();
  for (let i = 0; i < 100; i++) {
    const res = await request("POST", "/whip/cam", { headers, body });
    assertEquals(res.status, 201);
    const del = await request("DELETE", res.headers.get("Location")!, { headers });
    assertEquals(del.status, 200);
  }
});

Deno.test("1000 guesses of session URLs from one address: 20 reach the handler, one by one or all at once", async () => {
  for (const together of [false, true]) {
    const { request, reached, limiter } = fakeServer();
    const guess = (i: number) =>
      request(["DELETE", "PATCH", "GET", "POST"][i % 4], `/whep/live/${crypto.randomUUID()}/sse`);
    const counts = new Map<number, number>();
    if (together) {
      for (const [status, n] of await statuses(Array.from({ length: 1000 }, (_, i) => guess(i)))) {
        counts.set(status, n);
      }
    } else {
      for (let i = 0; i < 1000; i++) {
        const res = await guess(i);
        counts.set(res.status, (counts.get(res.status) ?? 0) + 1);
        if (res.status === 429) await assertRefused(res);
        else await res.body?.cancel();
      }
    }
    assertEquals(reached.count, 20, together ? "together" : "one by one");
    assertEquals(counts, new Map([[404, 20], [429, 980]]));
    assertEquals(limiter.refused.failures, 980);
  }
});

Deno.test("1000 token guesses from one address are cut off after 20", async () => {
  const { request, reached, clock } = fakeServer();
  const wrong = { "Authorization": "Bearer guess" };
  let retry = 0;
  for (let i = 0; i < 1000; i++) {
    const res = await request("POST", "/whip/live", { headers: wrong, body: "offer" });
    if (i >= 20) retry = await assertRefused(res);
    else {
      await res.body?.cancel();
      assertEquals(res.status, 401, `guess ${i}`);
    }
  }
  assertEquals(reached.count, 20);
  assertEquals(retry, 3, "one failure comes back every 3 s");
  // Waiting as told buys exactly one more try.
  clock.now += retry * 1000;
  assertEquals((await request("POST", "/whip/live", { headers: wrong, body: "x" })).status, 401);
  await assertRefused(await request("POST", "/whip/live", { headers: wrong, body: "x" }));
  assertEquals(reached.count, 21);
});

Deno.test("token guesses sent all at once: the debt of those in flight keeps the address out longer", async () => {
  const { request, reached } = fakeServer();
  const wrong = { "Authorization": "Bearer guess" };
  const burst = await statuses(
    Array.from({ length: 50 }, () => request("POST", "/whip/live", { headers: wrong, body: "x" })),
  );
  // A POST's outcome is known only after it ran, so all 50 in flight together ran...
  assertEquals(burst.get(401), reached.count);
  assert(reached.count <= 50);
  // ...and each counted: 30 failures of debt, 3 s each, before the next try.
  const retry = await assertRefused(
    await request("POST", "/whip/live", { headers: wrong, body: "x" }),
  );
  assertEquals(retry, 3 * (reached.count - 20 + 1));
});

Deno.test("an address cut off for failures keeps its own sessions: PATCH, DELETE, SSE, layer", async () => {
  const { request, reached, limiter } = fakeServer();
  const { headers, body } = join();
  const created = await request("POST", "/whip/cam", { headers, body });
  assertEquals(created.status, 201);
  const location = created.headers.get("Location")!;
  for (let i = 0; i < 20; i++) {
    await (await request("POST", "/whip/cam", { headers, body: "garbage" })).text();
  }
  await assertRefused(await request("POST", "/whip/cam", { headers, body }));
  await assertRefused(await request("PATCH", "/whip/cam", { headers, body }));
  const before = reached.count;
  for (const [method, suffix] of [["PATCH", ""], ["GET", "/sse"], ["POST", "/layer"]]) {
    assertEquals((await request(method, location + suffix, { headers })).status, 200, method);
  }
  assertEquals((await request("DELETE", location, { headers })).status, 200);
  assertEquals(reached.count, before + 4);
  // Now gone: its URL is an unknown session like any other.
  await assertRefused(await request("DELETE", location, { headers }));
  // GET, HEAD and OPTIONS of an endpoint (stream info, liveness polls, preflights) are never
  // refused nor charged; this fake app has no route for them.
  for (let i = 0; i < 100; i++) {
    for (const method of ["GET", "HEAD", "OPTIONS"]) {
      assertEquals((await request(method, "/whep/cam")).status, 404, method);
    }
  }
  assertEquals(limiter.refused.failures, 3);
});

Deno.test("an address out of joins can still end and restart its sessions", async () => {
  const { request, sessions } = fakeServer({ joinsPerMinute: 3 });
  const { headers, body, stream } = join();
  const locations = [];
  for (let i = 0; i < 3; i++) {
    const res = await request("POST", stream, { headers, body });
    assertEquals(res.status, 201);
    locations.push(res.headers.get("Location")!);
  }
  await assertRefused(await request("POST", stream, { headers, body }));
  assertEquals((await request("PATCH", locations[0], { headers })).status, 200);
  for (const location of locations) {
    assertEquals((await request("DELETE", location, { headers })).status, 200);
  }
  assertEquals(sessions.size, 0);
});

Deno.test("no source yet (409), over capacity (503) and server errors are not failures", async () => {
  const { request, reached, limiter } = fakeServer();
  for (const status of ["409", "503", "500"]) {
    for (let i = 0; i < 100; i++) {
      const res = await request("POST", "/whep/live", { headers: { "X-Status": status } });
      assertEquals(res.status, Number(status));
      await res.body?.cancel();
    }
  }
  assertEquals(reached.count, 300);
  assertEquals(limiter.refused, { joins: 0, failures: 0 });
  assertEquals(limiter.size, 0, "nothing was charged, nothing is tracked");
});

Deno.test("addresses are counted apart; the addresses of one IPv6 /64 together", async () => {
  const { request } = fakeServer();
  const fail = (from: string) =>
    request("POST", "/whip/cam", { headers: { "X-Test-Address": from }, body: "x" });
  for (let i = 0; i < 20; i++) await (await fail(`2001:db8:1:2::${i.toString(16)}`)).text();
  await assertRefused(await fail("2001:db8:1:2:ffff:1:2:3"));
  assertEquals((await fail("2001:db8:1:3::1")).status, 401, "another /64");
  assertEquals((await fail("192.0.2.9")).status, 401, "another address");
  const { headers, body, stream } = join("192.0.2.9");
  assertEquals((await request("POST", stream, { headers, body })).status, 201);
});

Deno.test("0 turns a bucket off", async () => {
  const { request, reached, limiter } = fakeServer({ joinsPerMinute: 0, failuresPerMinute: 0 });
  const { headers, body, stream } = join();
  for (let i = 0; i < 1000; i++) {
    assertEquals((await request("POST", stream, { headers, body })).status, 201);
    assertEquals((await request("DELETE", `/whep/live/${i}`)).status, 404);
  }
  assertEquals(reached.count, 2000);
  assertEquals(limiter.size, 0);
});

Deno.test("memory: full buckets are swept, and the number of addresses is bounded", async () => {
  const { request, limiter, clock } = fakeServer({ maxAddresses: 3 });
  for (let i = 0; i < 5; i++) {
    const from = `192.0.2.${i}`;
    for (let j = 0; j < 20; j++) {
      await (await request("DELETE", "/whep/x/y", { headers: { "X-Test-Address": from } })).text();
    }
  }
  assertEquals(limiter.size, 3);
  // The oldest was forgotten (its failures with it); the newest is still cut off.
  const from = (i: number) => ({ headers: { "X-Test-Address": `192.0.2.${i}` } });
  assertEquals((await request("DELETE", "/whep/x/y", from(0))).status, 404);
  await assertRefused(await request("DELETE", "/whep/x/y", from(4)));
  limiter.sweep(clock.now + 30_000);
  assertEquals(limiter.size, 2, "the one charged once is full again; the emptied ones are not");
  limiter.sweep(clock.now + 60_000);
  assertEquals(limiter.size, 0);
});

// Against the real server (default limits unless stated), from 127.0.0.1.

async function withServer(
  config: Parameters<typeof startLoopbackServer>[0],
  fn: (server: RunningServer) => Promise<void>,
): Promise<void> {
  const server = await startLoopbackServer({ publishToken: SECRET, ...config });
  try {
    await fn(server);
  } finally {
    await server.close();
  }
}

function publish(server: RunningServer, stream: string, token = SECRET) {
  return fetch(`${server.url}/whip/${stream}`, {
    method: "POST",
    headers: { "Content-Type": "application/sdp", Authorization: `Bearer ${token}` },
    body: OBS_30,
  });
}

function remove(server: RunningServer, location: string) {
  return fetch(server.url + location, {
    method: "DELETE",
    headers: { Authorization: `Bearer ${SECRET}` },
  });
}

const sessionIdOf = (location: string) => location.split("/").pop()!;

Deno.test("real server: DELETE after a 429 still frees the session", async () => {
  await withServer({ rateLimitJoins: 2 }, async (server) => {
    const locations: string[] = [];
    for (const stream of ["one", "two"]) {
      const res = await publish(server, stream);
      assertEquals(res.status, 201, await res.text());
      locations.push(res.headers.get("Location")!);
    }
    await assertRefused(await publish(server, "three"));
    const first = server.manager.get(sessionIdOf(locations[0]));
    assertExists(first);
    const del = await remove(server, locations[0]);
    assertEquals(del.status, 200, await del.text());
    assert(first.closed);
    assertEquals(first.endReason, "deleted");
    assertEquals(server.manager.sessions.size, 1);
    const trickle = await fetch(server.url + locations[1], {
      method: "PATCH",
      headers: {
        "Content-Type": "application/trickle-ice-sdpfrag",
        "If-Match": "*",
        Authorization: `Bearer ${SECRET}`,
      },
      body: "a=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host\r\n",
    });
    assertEquals(trickle.status, 204, await trickle.text());
    const metrics = parseExposition(await (await fetch(server.url + "/metrics")).text());
    assertEquals(sampleValue(metrics, "quetzal_http_rate_limited_total", { bucket: "joins" }), 1);
    assertEquals(
      sampleValue(metrics, "quetzal_http_rate_limited_total", { bucket: "failures" }),
      0,
    );
  });
});

Deno.test("real server, viewers on workers: a viewer refused a join can still use and end its sessions", async () => {
  await withServer({ rateLimitJoins: 3, workers: "auto" }, async (server) => {
    const published = await publish(server, "live");
    assertEquals(published.status, 201, await published.text());
    const watch = () =>
      fetch(`${server.url}/whep/live`, {
        method: "POST",
        headers: { "Content-Type": "application/sdp" },
        body: CHROMIUM_WHEP,
      });
    const viewers: string[] = [];
    for (let i = 0; i < 2; i++) {
      const res = await watch();
      assertEquals(res.status, 201, await res.text());
      viewers.push(res.headers.get("Location")!);
    }
    await assertRefused(await watch());
    const sse = await fetch(`${server.url}${viewers[0]}/sse`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: '["viewercount"]',
    });
    assertEquals(sse.status, 201, await sse.text());
    const del = await fetch(server.url + viewers[0], { method: "DELETE" });
    assertEquals(del.status, 200, await del.text());
    assertEquals(server.manager.get(sessionIdOf(viewers[0])), undefined);
    assertEquals(server.manager.count("viewer"), 1);
  });
});

Deno.test("real server, default limits: 100 publish/unpublish cycles from one address", async () => {
  await withServer({}, async (server) => {
    for (let i = 0; i < 100; i++) {
      const res = await publish(server, "cycle");
      assertEquals(res.status, 201, `cycle ${i}: ${await res.text()}`);
      const del = await remove(server, res.headers.get("Location")!);
      assertEquals(del.status, 200, `cycle ${i}: ${await del.text()}`);
    }
    assertEquals(server.manager.sessions.size, 0);
  });
});

Deno.test("real server, default limits: wrong tokens are cut off after 20; the publisher's own session still ends", async () => {
  await withServer({}, async (server) => {
    const created = await publish(server, "live");
    assertEquals(created.status, 201, await created.text());
    const location = created.headers.get("Location")!;
    const seen = new Map<number, number>();
    for (let i = 0; i < 100; i++) {
      const res = await publish(server, "live", `guess-${i}-xxxxxxxx`);
      seen.set(res.status, (seen.get(res.status) ?? 0) + 1);
      if (res.status === 429) await assertRefused(res);
      else await res.body?.cancel();
    }
    assertEquals(seen, new Map([[401, 20], [429, 80]]));
    // Guessing session URLs is refused too, and so is a join with the right token, from here.
    await assertRefused(await remove(server, `/whip/live/${crypto.randomUUID()}`));
    await assertRefused(await publish(server, "other"));
    const session = server.manager.get(sessionIdOf(location));
    assertExists(session);
    const del = await remove(server, location);
    assertEquals(del.status, 200, await del.text());
    assert(session.closed);
    assertEquals(server.manager.sessions.size, 0);
  });
});

Deno.test("real server: behind a trusted proxy each X-Forwarded-For client has its own buckets", async () => {
  const from = (client: string) => ({
    "Content-Type": "application/sdp",
    "X-Forwarded-For": client,
  });
  const guesses = async (server: RunningServer, client: string) => {
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${server.url}/whip/live`, {
        method: "POST",
        headers: { ...from(client), Authorization: "Bearer guess-guess" },
        body: OBS_30,
      });
      assertEquals(res.status, 401);
      await res.body?.cancel();
    }
  };
  const joinAs = (server: RunningServer, client: string) =>
    fetch(`${server.url}/whip/live`, {
      method: "POST",
      headers: { ...from(client), Authorization: `Bearer ${SECRET}` },
      body: OBS_30,
    });
  await withServer({ trustedProxies: ["127.0.0.0/8"] }, async (server) => {
    await guesses(server, "198.51.100.1");
    await assertRefused(await joinAs(server, "198.51.100.1"));
    // A client that prepends a made-up address is still counted as itself.
    await assertRefused(await joinAs(server, "203.0.113.9, 198.51.100.1"));
    const other = await joinAs(server, "198.51.100.2");
    assertEquals(other.status, 201, await other.text());
  });
  // Without --trusted-proxy the header is the client's own words and changes nothing.
  await withServer({}, async (server) => {
    await guesses(server, "198.51.100.1");
    await assertRefused(await joinAs(server, "198.51.100.2"));
  });
});
