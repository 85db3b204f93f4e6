import { assertEquals } from "@std/assert";
import { Hono } from "hono";
import type { Metrics } from "../../src/observability/metrics.ts";
import { metricsMiddleware } from "../../src/observability/metrics-middleware.ts";

type Call = { route: string; method: string; status: number; seconds: number };

function recorder(): Metrics & { calls: Call[] } {
  const calls: Call[] = [];
  return {
    calls,
    contentType: "text/plain",
    registry: undefined as never,
    render: () => Promise.resolve(""),
    observeHttp: (route, method, status, seconds) => calls.push({ route, method, status, seconds }),
    close: () => {},
  };
}

function app(metrics: Metrics, nowMs?: () => number) {
  const a = new Hono();
  a.use("*", metricsMiddleware(metrics, { nowMs }));
  a.use("/whip/*", async (c, next) => {
    if (c.req.header("authorization") !== "Bearer ok") return c.text("no", 401);
    await next();
  });
  a.post("/whip/:stream", (c) => c.text("answer", 201));
  a.delete("/whip/:stream/:session", (c) => c.body(null, 200));
  a.get("/boom", () => {
    throw new Error("boom");
  });
  a.onError((_err, c) => c.text("error", 500));
  return a;
}

Deno.test("metricsMiddleware records the route pattern, never the path", async () => {
  const rows: [path: string, init: RequestInit, route: string, status: number][] = [
    [
      "/whip/cam1",
      { method: "POST", headers: { authorization: "Bearer ok" } },
      "/whip/:stream",
      201,
    ],
    [
      "/whip/cam1/abc",
      { method: "DELETE", headers: { authorization: "Bearer ok" } },
      "/whip/:stream/:session",
      200,
    ],
    // Rejected by the auth middleware: the pattern of the middleware that answered.
    ["/whip/cam1", { method: "POST" }, "/whip/*", 401],
    // A handler error rendered by onError still counts, with its status.
    ["/boom", {}, "/boom", 500],
    // No route: a fixed placeholder instead of the raw path.
    ["/nothing/here", {}, "unmatched", 404],
  ];
  for (const [path, init, route, status] of rows) {
    const m = recorder();
    const res = await app(m).request(path, init);
    assertEquals(res.status, status, path);
    assertEquals(m.calls.length, 1, path);
    assertEquals(m.calls[0].route, route, path);
    assertEquals(m.calls[0].status, status, path);
    assertEquals(m.calls[0].method, init.method ?? "GET", path);
  }
});

Deno.test("metricsMiddleware measures duration with the injected clock", async () => {
  let now = 1000;
  const m = recorder();
  const a = new Hono();
  a.use("*", metricsMiddleware(m, { nowMs: () => now }));
  a.get("/slow", (c) => {
    now += 250;
    return c.text("ok");
  });
  await a.request("/slow");
  assertEquals(m.calls[0].seconds, 0.25);
});
