/**
 * The route pattern that handled a request, for labels and span names.
 *
 * Labels take the registered pattern (`/whip/:stream`), never the raw path: a path carries stream
 * keys and session IDs, which would make one series per stream (and leak the keys).
 */

import type { Context } from "hono";
import { routePath } from "hono/route";
import { UNMATCHED_ROUTE } from "./metrics.ts";

/**
 * Call after `await next()` in a middleware, with the `c.req.routeIndex` read before it. Hono's
 * compose (compose.ts) sets `routeIndex` to each handler it dispatches, so afterwards it points at
 * the innermost handler that ran; if that is still this middleware, no route matched.
 */
export function handledRoutePattern(c: Context, ownRouteIndex: number): string {
  if (c.req.routeIndex === ownRouteIndex) return UNMATCHED_ROUTE;
  return routePath(c) || UNMATCHED_ROUTE;
}
