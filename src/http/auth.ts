/**
 * Bearer-token checks (RFC 6750) for publishing and playback. Tokens are compared in constant
 * time so that response timing does not reveal a prefix.
 */
import type { MiddlewareHandler } from "hono";
import { Problem } from "./errors.ts";

/** Middleware requiring `Authorization: Bearer <token>` when a token is configured. */
export function bearerAuth(
  options: { token: string | undefined; realm: string },
): MiddlewareHandler {
  return async function bearer(c, next) {
    const token = options.token;
    if (token !== undefined && c.req.method !== "OPTIONS") {
      const header = c.req.header("Authorization") ?? "";
      const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
      if (!match) {
        throw new Problem(
          401,
          "unauthorized",
          `this ${options.realm} endpoint requires a bearer token`,
          {
            "WWW-Authenticate": `Bearer realm="${options.realm}"`,
          },
        );
      }
      if (!timingSafeEqual(match[1], token)) {
        throw new Problem(401, "unauthorized", "the bearer token is not valid", {
          "WWW-Authenticate": `Bearer realm="${options.realm}", error="invalid_token"`,
        });
      }
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
