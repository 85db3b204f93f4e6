/**
 * A fixed-window rate limit per client address for the methods that create or change state
 * (POST, PATCH, DELETE): RFC 9725 §5 asks WHIP servers to resist flooding and guessing.
 */
import type { MiddlewareHandler } from "hono";
import { Problem } from "./errors.ts";

export interface RateLimiter {
  middleware: MiddlewareHandler;
  /** Forgets old windows; called by a timer owned by the server. */
  sweep(nowMs: number): void;
}

/** `clientAddress` returns the peer's address (Deno's connection info, from the server). */
export function rateLimit(
  perMinute: number,
  clientAddress: (req: Request) => string,
  clock: () => number = () => performance.now(),
): RateLimiter {
  const windows = new Map<string, { startMs: number; count: number }>();
  const limited = new Set(["POST", "PATCH", "DELETE"]);
  return {
    middleware: async function rateLimited(c, next) {
      if (limited.has(c.req.method)) {
        const key = clientAddress(c.req.raw);
        const now = clock();
        let window = windows.get(key);
        if (!window || now - window.startMs >= 60_000) {
          window = { startMs: now, count: 0 };
          windows.set(key, window);
        }
        if (++window.count > perMinute) {
          const retry = Math.max(1, Math.ceil((window.startMs + 60_000 - now) / 1000));
          throw new Problem(
            429,
            "rate-limited",
            `more than ${perMinute} requests a minute from this address`,
            {
              "Retry-After": String(retry),
            },
          );
        }
      }
      await next();
    },
    sweep(nowMs: number) {
      for (const [key, window] of windows) {
        if (nowMs - window.startMs >= 60_000) windows.delete(key);
      }
    },
  };
}
