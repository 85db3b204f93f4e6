import { assert, assertEquals } from "@std/assert";
import {
  type Attributes,
  type Context,
  type Span,
  type SpanOptions,
  SpanStatusCode,
  type Tracer,
} from "@opentelemetry/api";
import { Hono } from "hono";
import { Counters, FailureStage, Histograms, Role } from "../../src/observability/counters.ts";
import { createLogger } from "../../src/observability/log.ts";
import { httpSpanMiddleware, SessionTrace } from "../../src/observability/tracing.ts";

/** A span that remembers what was done to it. */
class RecordedSpan {
  attributes: Attributes = {};
  events: { name: string; attributes?: Attributes }[] = [];
  status: { code: SpanStatusCode; message?: string } = { code: SpanStatusCode.UNSET };
  exceptions: unknown[] = [];
  ended = 0;
  constructor(public name: string, options: SpanOptions, public parent?: Context) {
    Object.assign(this.attributes, options.attributes);
  }
  spanContext() {
    return { traceId: "0".repeat(32), spanId: "0".repeat(16), traceFlags: 0 };
  }
  setAttribute(key: string, value: unknown) {
    this.attributes[key] = value as never;
    return this;
  }
  setAttributes(attributes: Attributes) {
    Object.assign(this.attributes, attributes);
    return this;
  }
  addEvent(name: string, attributes?: Attributes) {
    this.events.push({ name, attributes });
    return this;
  }
  addLink() {
    return this;
  }
  addLinks() {
    return this;
  }
  setStatus(status: { code: SpanStatusCode; message?: string }) {
    this.status = status;
    return this;
  }
  updateName(name: string) {
    this.name = name;
    return this;
  }
  end() {
    this.ended++;
  }
  isRecording() {
    return true;
  }
  recordException(e: unknown) {
    this.exceptions.push(e);
  }
}

function recordingTracer() {
  const spans: RecordedSpan[] = [];
  const tracer = {
    startSpan(name: string, options: SpanOptions = {}, parent?: Context): Span {
      const span = new RecordedSpan(name, options, parent);
      spans.push(span);
      return span as unknown as Span;
    },
  } as unknown as Tracer;
  return { tracer, spans };
}

Deno.test("httpSpanMiddleware names the span by route and sets semantic-convention attributes", async () => {
  const { tracer, spans } = recordingTracer();
  const app = new Hono();
  app.use("*", httpSpanMiddleware({ tracer }));
  app.post("/whip/:stream", (c) => c.text("answer", 201));
  app.get("/boom", () => {
    throw new Error("boom");
  });
  app.onError((_e, c) => c.text("error", 500));

  await app.request("http://localhost/whip/cam1", {
    method: "POST",
    headers: { "user-agent": "obs/30" },
  }, { remoteAddr: { hostname: "192.0.2.7", port: 5000, transport: "tcp" } });
  await app.request("http://localhost/boom");
  await app.request("http://localhost/missing");

  assertEquals(spans.length, 3);
  const [whip, boom, missing] = spans;
  assertEquals(whip.name, "POST /whip/:stream");
  assertEquals(whip.attributes["http.request.method"], "POST");
  assertEquals(whip.attributes["http.route"], "/whip/:stream");
  assertEquals(whip.attributes["url.path"], "/whip/cam1");
  assertEquals(whip.attributes["http.response.status_code"], 201);
  assertEquals(whip.attributes["client.address"], "192.0.2.7");
  assertEquals(whip.attributes["user_agent.original"], "obs/30");
  assertEquals(whip.status.code, SpanStatusCode.UNSET);
  assertEquals(whip.ended, 1);

  assertEquals(boom.attributes["http.response.status_code"], 500);
  assertEquals(boom.attributes["error.type"], "500");
  assertEquals(boom.status.code, SpanStatusCode.ERROR);
  assertEquals(boom.exceptions.length, 1);

  assertEquals(missing.name, "GET unmatched");
  assertEquals(missing.attributes["http.response.status_code"], 404);
  assertEquals(missing.status.code, SpanStatusCode.UNSET); // 4xx is not a server error
});

Deno.test("SessionTrace records each step once, ends once, and logs with ids", () => {
  const { tracer, spans } = recordingTracer();
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger("info", { sink: (l) => lines.push(JSON.parse(l)) });
  let now = 0;
  const st = new SessionTrace("viewer", "cam1", "s-1", { tracer, logger, nowMs: () => now });
  now = 40;
  st.mark("answer");
  st.mark("answer");
  now = 90;
  st.mark("ice_connected");
  st.mark("dtls_connected");
  now = 300;
  st.mark("first_packet");
  st.end("deleted");
  st.end("error");
  st.mark("first_packet");

  const span = spans[0];
  assertEquals(span.name, "session");
  assertEquals(span.attributes["quetzal.session.role"], "viewer");
  assertEquals(span.attributes["quetzal.stream"], "cam1");
  assertEquals(span.attributes["quetzal.session.id"], "s-1");
  assertEquals(span.events.map((e) => e.name), [
    "offer",
    "answer",
    "ice.connected",
    "dtls.connected",
    "first_packet",
    "end",
  ]);
  assertEquals(span.attributes["quetzal.session.end_reason"], "deleted");
  assertEquals(span.ended, 1);
  assertEquals(span.status.code, SpanStatusCode.UNSET);
  assert(st.ended);

  assertEquals(lines.map((l) => l.event), [
    "offer",
    "answer",
    "ice_connected",
    "dtls_connected",
    "first_packet",
    "end",
  ]);
  for (const l of lines) {
    assertEquals([l.role, l.stream, l.session], ["viewer", "cam1", "s-1"]);
  }
  assertEquals(lines[4].elapsed_ms, 300);
});

Deno.test("SessionTrace counts created/ended/failures and the setup time when given sinks", () => {
  const rows: {
    name: string;
    marks: ("answer" | "ice_connected" | "dtls_connected" | "first_packet")[];
    reason: string;
    ended?: [number, number];
    failure?: number;
    created: number;
    setup: number;
    error: boolean;
  }[] = [
    {
      name: "normal publisher",
      marks: ["answer", "ice_connected", "dtls_connected", "first_packet"],
      reason: "deleted",
      ended: [Role.publisher, 0],
      created: 1,
      setup: 1,
      error: false,
    },
    {
      name: "offer rejected",
      marks: [],
      reason: "error",
      failure: FailureStage.sdp,
      created: 0,
      setup: 0,
      error: true,
    },
    {
      name: "ICE never connected",
      marks: ["answer"],
      reason: "ice_failed",
      ended: [Role.publisher, 2],
      failure: FailureStage.ice,
      created: 1,
      setup: 0,
      error: true,
    },
    {
      name: "DTLS failed after ICE",
      marks: ["answer", "ice_connected"],
      reason: "dtls_failed",
      ended: [Role.publisher, 3],
      failure: FailureStage.dtls,
      created: 1,
      setup: 0,
      error: true,
    },
    {
      name: "consent lost later is not a setup failure",
      marks: ["answer", "ice_connected", "dtls_connected", "first_packet"],
      reason: "consent_expired",
      ended: [Role.publisher, 4],
      created: 1,
      setup: 1,
      error: true,
    },
    {
      name: "unknown reason counts as error",
      marks: ["answer"],
      reason: "cosmic_ray",
      ended: [Role.publisher, 7],
      created: 1,
      setup: 0,
      error: true,
    },
  ];
  for (const row of rows) {
    const counters = new Counters();
    const histograms = new Histograms();
    const { tracer, spans } = recordingTracer();
    let now = 0;
    const st = new SessionTrace("publisher", "cam1", "s", {
      tracer,
      counters,
      histograms,
      nowMs: () => now,
    });
    for (const m of row.marks) {
      now += 100;
      st.mark(m);
    }
    st.end(row.reason);
    const ended = counters.sessionsEnded.flat().reduce((a, b) => a + b, 0);
    assertEquals(counters.sessionsCreated[Role.publisher], row.created, row.name);
    assertEquals(ended, row.ended ? 1 : 0, row.name);
    if (row.ended) assertEquals(counters.sessionsEnded[row.ended[0]][row.ended[1]], 1, row.name);
    const failures = counters.sessionFailures.reduce((a, b) => a + b, 0);
    assertEquals(failures, row.failure === undefined ? 0 : 1, row.name);
    if (row.failure !== undefined) assertEquals(counters.sessionFailures[row.failure], 1, row.name);
    assertEquals(histograms.sessionSetupSeconds.count, row.setup, row.name);
    if (row.setup) assertEquals(histograms.sessionSetupSeconds.sum, 0.4, row.name);
    assertEquals(spans[0].status.code === SpanStatusCode.ERROR, row.error, row.name);
  }
});

Deno.test("without a registered provider the default tracer is a silent no-op", () => {
  const st = new SessionTrace("viewer", "cam1", "s");
  assert(!st.span.isRecording());
  st.mark("answer");
  st.end("shutdown");
});
