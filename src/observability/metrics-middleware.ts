/**
 * HTTP accounting: `quetzal_http_requests_total{route,method,status}` and
 * `quetzal_http_request_duration_seconds{route,method}`.
 */

import type { MiddlewareHandler } from "hono";
import type { Metrics } from "./metrics.ts";
import { handledRoutePattern } from "./route-pattern.ts";

/**
 * Records every request that passes through it. Register it first (`app.use("*", …)`) so the
 * duration covers the other middleware and errors rendered by `app.onError` are counted with
 * their status.
 *
 * @example app.use("*", metricsMiddleware(metrics));
 */
export function metricsMiddleware(
  metrics: Metrics,
  opts: { nowMs?: () => number } = {},
): MiddlewareHandler {
  const nowMs = opts.nowMs ?? (() => performance.now());
  return async function metricsMiddleware(c, next) {
    const startMs = nowMs();
    const ownIndex = c.req.routeIndex;
    // Hono renders handler errors inside next(); a throw here is one that escaped onError.
    let status = 500;
    try {
      await next();
      status = c.res.status;
    } finally {
      const route = handledRoutePattern(c, ownIndex);
      metrics.observeHttp(route, c.req.method, status, (nowMs() - startMs) / 1000);
    }
  };
}
