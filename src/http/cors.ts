/**
 * CORS for browser players and publishers (whip-whep.md §1.5): explicit header lists, because
 * `*` never covers Authorization, and exposed Location/Link/ETag, without which a browser
 * cannot read them. Preflights never require auth.
 */
import type { MiddlewareHandler } from "hono";

const ALLOW_HEADERS = "Authorization, Content-Type, If-Match";
const EXPOSE_HEADERS = "Location, Link, ETag, Accept-Post, Accept-Patch, Retry-After";
const ALLOW_METHODS = "GET, HEAD, POST, PATCH, DELETE, OPTIONS";

export function cors(origin: string): MiddlewareHandler {
  const allowed = origin.split(",").map((o) => o.trim()).filter(Boolean);
  return async function corsHeaders(c, next) {
    const requestOrigin = c.req.header("Origin");
    const allowOrigin = allowed.includes("*")
      ? "*"
      : requestOrigin && allowed.includes(requestOrigin)
      ? requestOrigin
      : undefined;
    if (c.req.method === "OPTIONS" && c.req.header("Access-Control-Request-Method")) {
      const headers = new Headers({
        "Access-Control-Allow-Methods": ALLOW_METHODS,
        "Access-Control-Allow-Headers": ALLOW_HEADERS,
        "Access-Control-Max-Age": "600",
        "Accept-Post": "application/sdp",
        "Accept-Patch": "application/trickle-ice-sdpfrag",
      });
      if (allowOrigin) headers.set("Access-Control-Allow-Origin", allowOrigin);
      if (allowOrigin && allowOrigin !== "*") headers.set("Vary", "Origin");
      return new Response(null, { status: 204, headers });
    }
    await next();
    if (allowOrigin) {
      c.res.headers.set("Access-Control-Allow-Origin", allowOrigin);
      c.res.headers.set("Access-Control-Expose-Headers", EXPOSE_HEADERS);
      if (allowOrigin !== "*") c.res.headers.append("Vary", "Origin");
    }
  };
}
