/**
 * Bearer-token checks (RFC 6750) for publishing and playback. Tokens are compared in constant
 * time so that response timing does not reveal a prefix.
 */
import type { MiddlewareHandler } from "hono";
import { Problem } from "./errors.ts";

/**
 * Throws a 401 Problem unless `req` carries `Authorization: Bearer <token>`; does nothing when
 * no token is configured. `what` names the protected thing in the message.
 */
export function requireBearer(
  req: Request,
  token: string | undefined,
  realm: string,
  what: string,
): void {
  if (token === undefined) return;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.get("Authorization") ?? "");
  if (!match) {
    throw new Problem(401, "unauthorized", `${what} requires a bearer token`, {
      "WWW-Authenticate": `Bearer realm="${realm}"`,
    });
  }
  if (!timingSafeEqual(match[1], token)) {
    throw new Problem(401, "unauthorized", "the bearer token is not valid", {
      "WWW-Authenticate": `Bearer realm="${realm}", error="invalid_token"`,
    });
  }
}

/** Middleware form of {@link requireBearer}; preflights (OPTIONS) pass. */
export function bearerAuth(
  options: { token: string | undefined; realm: string; what: string },
): MiddlewareHandler {
  return async function bearer(c, next) {
    if (c.req.method !== "OPTIONS") {
      requireBearer(c.req.raw, options.token, options.realm, options.what);
    }
    await next();
  };
}

/** Compares two strings without an early exit. */
export function timingSafeEqual(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}
