import { assert, assertEquals } from "@std/assert";
import { Hono } from "hono";
import { Counters, Histograms } from "../../src/observability/counters.ts";
import {
  createMetrics,
  LABEL_NAMES,
  METRICS,
  UNMATCHED_ROUTE,
} from "../../src/observability/metrics.ts";
import { metricsMiddleware } from "../../src/observability/metrics-middleware.ts";
import { parseExposition } from "../support/prom-parse.ts";

/** Labels whose values are bounded by code rather than listed in the catalogue. */
const CODE_BOUNDED = new Set(["route", "status"]);

Deno.test("every catalogue label is allowed and, unless code-bounded, has a fixed value set", () => {
  for (const spec of METRICS) {
    assert(/^(quetzal|process)_[a-z0-9_]+$/.test(spec.name), spec.name);
    if (spec.type === "counter") assert(spec.name.endsWith("_total"), spec.name);
    else assert(!spec.name.endsWith("_total"), spec.name);
    for (const label of spec.labels) {
      assert((LABEL_NAMES as readonly string[]).includes(label), `${spec.name}: ${label}`);
      if (!CODE_BOUNDED.has(label)) {
        const values = spec.values?.[label];
        assert(values && values.length > 0, `${spec.name}{${label}} has no fixed values`);
      }
    }
  }
});

Deno.test("no rendered label can carry a stream key, session id or raw path", async () => {
  const metrics = createMetrics({ streams: () => 1, sessions: () => 1 }, {
    counters: new Counters(),
    histograms: new Histograms(),
    eventLoopLag: false,
  });
  const app = new Hono();
  app.use("*", metricsMiddleware(metrics));
  app.post("/whip/:stream", (c) => c.text("answer", 201));
  app.delete("/whip/:stream/:session", (c) => c.body(null, 200));
  app.get("/api/streams/:stream", (c) => c.json({}));
  const routes = new Set(["/whip/:stream", "/whip/:stream/:session", "/api/streams/:stream"]);

  const secrets = ["cam-secret-1", "sess-9f8e7d", "unknown-path-x"];
  await app.request("/whip/cam-secret-1", { method: "POST" });
  await app.request("/whip/cam-secret-1/sess-9f8e7d", { method: "DELETE" });
  await app.request("/api/streams/cam-secret-1");
  await app.request("/unknown-path-x");
  await app.request("/whip/cam-secret-1", { method: "PROPFIND" });

  const families = parseExposition(await metrics.render());
  metrics.close();
  let checked = 0;
  for (const spec of METRICS) {
    for (const sample of families.get(spec.name)!.samples) {
      for (const [name, value] of Object.entries(sample.labels)) {
        checked++;
        for (const secret of secrets) assert(!value.includes(secret), `${spec.name}: ${value}`);
        if (name === "le") {
          assert(spec.type === "histogram" && sample.name.endsWith("_bucket"));
          continue;
        }
        assert(spec.labels.includes(name as never), `${spec.name} has undeclared label ${name}`);
        const fixed = spec.values?.[name as keyof typeof spec.values];
        if (fixed) assert(fixed.includes(value), `${spec.name}{${name}="${value}"}`);
        else if (name === "route") assert(routes.has(value) || value === UNMATCHED_ROUTE, value);
        else if (name === "status") assert(/^([1-5]\d\d|0)$/.test(value), value);
        else throw new Error(`${spec.name}{${name}} is not bounded`);
      }
    }
  }
  assert(checked > 100);
  const http = families.get("quetzal_http_requests_total")!.samples;
  assertEquals(http.length, 5);
});
