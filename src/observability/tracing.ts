/**
 * OpenTelemetry spans for HTTP requests and session lifecycles.
 *
 * Only `@opentelemetry/api` is a dependency: until an application registers a tracer provider
 * (see docs/operations.md, "Tracing"), every call here is a no-op on a non-recording span.
 * Attribute names follow the OpenTelemetry HTTP semantic conventions (v1.23+, stable);
 * session attributes have no convention and use the `quetzal.` namespace.
 */

import {
  type Context,
  context,
  propagation,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  trace,
  type Tracer,
} from "@opentelemetry/api";
import type { MiddlewareHandler } from "hono";
import denoJson from "../../deno.json" with { type: "json" };
import {
  type Counters,
  END_REASONS,
  type EndReasonName,
  FailureStage,
  type Histograms,
  Role,
  type RoleName,
} from "./counters.ts";
import type { Logger } from "./log.ts";
import { handledRoutePattern } from "./route-pattern.ts";

/**
 * Quetzal's tracer. `trace.getTracer` returns a proxy, so a provider registered after this module
 * loads still receives the spans.
 */
export const tracer: Tracer = trace.getTracer("quetzal", denoJson.version);

const headersGetter: TextMapGetter<Headers> = {
  get: (carrier, key) => carrier.get(key) ?? undefined,
  keys: (carrier) => [...carrier.keys()],
};

/** The peer address Deno.serve passes as Hono's `c.env` (`Deno.ServeHandlerInfo`). */
function clientAddress(env: unknown): string | undefined {
  const info = env as { remoteAddr?: { hostname?: string } } | undefined;
  return info?.remoteAddr?.hostname;
}

/**
 * One SERVER span per HTTP request, named `"{method} {route}"` once the route is known. Incoming
 * W3C `traceparent` headers are honoured when a propagator is registered. Handlers run inside the
 * span's context, so a `SessionTrace` created there becomes its child.
 *
 * @example app.use("*", httpSpanMiddleware());
 */
export function httpSpanMiddleware(opts: { tracer?: Tracer } = {}): MiddlewareHandler {
  const t = opts.tracer ?? tracer;
  return async function httpSpan(c, next) {
    const method = c.req.method;
    const parent = propagation.extract(context.active(), c.req.raw.headers, headersGetter);
    const url = new URL(c.req.url);
    const span = t.startSpan(method, {
      kind: SpanKind.SERVER,
      attributes: {
        "http.request.method": method,
        "url.path": url.pathname,
        "url.scheme": url.protocol.replace(":", ""),
        "client.address": clientAddress(c.env),
        "user_agent.original": c.req.header("user-agent"),
      },
    }, parent);
    const ownIndex = c.req.routeIndex;
    let status = 500;
    try {
      await context.with(trace.setSpan(parent, span), next);
      status = c.res.status;
      if (c.error) span.recordException(c.error);
    } catch (err) {
      span.recordException(err as Error);
      throw err;
    } finally {
      const route = handledRoutePattern(c, ownIndex);
      span.setAttribute("http.route", route);
      span.setAttribute("http.response.status_code", status);
      span.updateName(`${method} ${route}`);
      // Semantic conventions: server spans are errors on 5xx only; 4xx is the client's fault.
      if (status >= 500) {
        span.setAttribute("error.type", String(status));
        span.setStatus({ code: SpanStatusCode.ERROR });
      }
      span.end();
    }
  };
}

/** Lifecycle steps after the offer, in the order they normally happen. */
export type SessionEvent = "answer" | "ice_connected" | "dtls_connected" | "first_packet";

const EVENT_NAMES: Record<SessionEvent, string> = {
  answer: "answer",
  ice_connected: "ice.connected",
  dtls_connected: "dtls.connected",
  first_packet: "first_packet",
};

/** End reasons that mean something went wrong (span status ERROR, log level warn). */
const FAILED_REASONS: ReadonlySet<string> = new Set([
  "ice_failed",
  "dtls_failed",
  "consent_expired",
  "error",
]);

/** Options of {@link SessionTrace}. */
export interface SessionTraceOptions {
  /** Default: Quetzal's `tracer`. */
  tracer?: Tracer;
  /** Parent context; default: the active one (the HTTP request's span inside a handler). */
  parent?: Context;
  /** Writes one line per lifecycle step, with `role`, `stream` and `session`. */
  logger?: Logger;
  /**
   * When given: `answer` counts `sessionsCreated`; `end()` counts `sessionsEnded` (or an `sdp`
   * setup failure if no answer was sent) and ICE/DTLS setup failures.
   */
  counters?: Counters;
  /** When given: `first_packet` observes `sessionSetupSeconds` (offer → first packet). */
  histograms?: Histograms;
  /** Monotonic clock in ms; default `performance.now`. */
  nowMs?: () => number;
}

/**
 * The lifecycle of one WHIP or WHEP session: a span `"session"` with an event per step, plus
 * (optionally) log lines, counters and the setup-time histogram, so the session code makes one
 * call per step. Construct it when the offer arrives. Steps are recorded once; calls after
 * `end()` are ignored.
 *
 * @example const st = new SessionTrace("viewer", "cam1", id, { logger, counters, histograms });
 */
export class SessionTrace {
  /** The session span (non-recording unless a tracer provider is registered). */
  readonly span: Span;
  readonly role: RoleName;
  readonly #startMs: number;
  readonly #nowMs: () => number;
  readonly #log: Logger | undefined;
  readonly #counters: Counters | undefined;
  readonly #histograms: Histograms | undefined;
  readonly #seen = new Set<SessionEvent>();
  #ended = false;

  constructor(role: RoleName, stream: string, sessionId: string, opts: SessionTraceOptions = {}) {
    this.role = role;
    this.#nowMs = opts.nowMs ?? (() => performance.now());
    this.#startMs = this.#nowMs();
    this.#counters = opts.counters;
    this.#histograms = opts.histograms;
    this.span = (opts.tracer ?? tracer).startSpan("session", {
      kind: SpanKind.INTERNAL,
      attributes: {
        "quetzal.session.role": role,
        "quetzal.session.id": sessionId,
        "quetzal.stream": stream,
      },
    }, opts.parent ?? context.active());
    this.span.addEvent("offer");
    this.#log = opts.logger?.child({ role, stream, session: sessionId });
    this.#log?.info("session offer", { event: "offer" });
  }

  /** True once `end()` ran. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Records a lifecycle step (the first time only). */
  mark(event: SessionEvent): void {
    if (this.#ended || this.#seen.has(event)) return;
    this.#seen.add(event);
    const elapsedMs = this.#nowMs() - this.#startMs;
    this.span.addEvent(EVENT_NAMES[event], { "quetzal.elapsed_ms": elapsedMs });
    this.#log?.info(`session ${EVENT_NAMES[event]}`, { event, elapsed_ms: round(elapsedMs) });
    if (event === "answer" && this.#counters) this.#counters.sessionsCreated[Role[this.role]]++;
    if (event === "first_packet") this.#histograms?.sessionSetupSeconds.observe(elapsedMs / 1000);
  }

  /**
   * Ends the session span with `reason` (one of `END_REASONS`; anything else is counted as
   * `error`). Idempotent.
   */
  end(reason: EndReasonName | string): void {
    if (this.#ended) return;
    this.#ended = true;
    const known = (END_REASONS as readonly string[]).includes(reason);
    const label = known ? reason as EndReasonName : "error";
    const elapsedMs = this.#nowMs() - this.#startMs;
    const failed = FAILED_REASONS.has(label);
    this.#count(label);
    this.span.setAttribute("quetzal.session.end_reason", reason);
    this.span.addEvent("end", { "quetzal.session.end_reason": reason });
    if (failed) this.span.setStatus({ code: SpanStatusCode.ERROR, message: reason });
    this.span.end();
    const fields = { event: "end", reason, elapsed_ms: round(elapsedMs) };
    if (failed) this.#log?.warn("session end", fields);
    else this.#log?.info("session end", fields);
  }

  #count(reason: EndReasonName): void {
    const c = this.#counters;
    if (!c) return;
    if (!this.#seen.has("answer")) {
      // Never answered: the offer was rejected or negotiation failed.
      c.sessionFailures[FailureStage.sdp]++;
      return;
    }
    c.sessionsEnded[Role[this.role]][END_REASONS.indexOf(reason)]++;
    if (
      (reason === "ice_failed" || reason === "consent_expired") && !this.#seen.has("ice_connected")
    ) {
      c.sessionFailures[FailureStage.ice]++;
    } else if (reason === "dtls_failed" && !this.#seen.has("dtls_connected")) {
      c.sessionFailures[FailureStage.dtls]++;
    }
  }
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
