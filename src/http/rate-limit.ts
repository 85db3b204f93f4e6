/**
 * Rate limits per client address under `/whip/` and `/whep/`, against what RFC 9725 §5 asks a
 * server to resist: guessing (tokens, session URLs) and floods. Capacity is not their job: that is
 * `--max-sessions`, `--max-viewers-per-stream`, `--max-forward-pps` and `--max-rss-mb`, which
 * count what a session costs wherever it comes from. Two token buckets per address:
 *
 * - **failures** (strict, `--rate-limit-failures` a minute): charged by every response 4xx but
 *   409 (no source yet, retry) and 429 (our own refusal). While it is empty, the address gets 429
 *   on everything but its existing sessions, so 1000 guesses of a token or a session URL end
 *   after about 20.
 * - **joins** (generous, `--rate-limit-joins` a minute, all of it at once): charged by each POST
 *   that created a session (201). A room of viewers behind one NAT (an office, a school, a
 *   carrier, a watch party) joins at once.
 *
 * A request on an existing session's own URL (PATCH, DELETE, GET and the WHEP extensions under
 * it) is never refused nor charged: a client that was refused a join can still end or restart
 * the sessions it has. This needs no check that the session "belongs" to the address (a phone
 * changes address on the move): the session id is a random UUID (122 bits) handed only to the
 * client that created it, so knowing the URL is the credential, and guessing one is a failure.
 */
import type { MiddlewareHandler } from "hono";
import type { RateLimitBucket } from "../observability/metrics.ts";
import { addressKey } from "./client-address.ts";
import { Problem } from "./errors.ts";
import { TokenBucket } from "./token-bucket.ts";

export interface RateLimitOptions {
  /** Sessions an address may open at once; refilled at this many a minute. 0: no limit. */
  joinsPerMinute: number;
  /** Failed requests an address may make at once; refilled at this many a minute. 0: no limit. */
  failuresPerMinute: number;
  /** The peer's address (Deno's connection info, from the server). */
  clientAddress: (req: Request) => string;
  /** Whether `/{kind}/{stream}/{id}` is a session that exists now. */
  isSession: (kind: "whip" | "whep", stream: string, id: string) => boolean;
  /** Milliseconds, monotonic. Default: `performance.now`. */
  clock?: () => number;
  /**
   * Most addresses tracked at once: beyond it the oldest is forgotten. 100 000 addresses hold
   * about 20 MB; only addresses with a bucket below full are tracked, for at most a minute.
   */
  maxAddresses?: number;
}

export interface RateLimiter {
  middleware: MiddlewareHandler;
  /** Forgets addresses whose buckets are full again; called by a timer owned by the server. */
  sweep(nowMs: number): void;
  /** Requests refused so far, by bucket (`quetzal_http_rate_limited_total`). */
  readonly refused: Readonly<Record<RateLimitBucket, number>>;
  /** Addresses tracked now. */
  readonly size: number;
}

interface Client {
  joins?: TokenBucket;
  failures?: TokenBucket;
}

/** Statuses that charge the failures bucket: the client's fault, and not "retry later". */
function isFailure(status: number): boolean {
  return status >= 400 && status < 500 && status !== 409 && status !== 429;
}

function decodeSegment(segment: string | undefined): string | undefined {
  if (segment === undefined || segment === "") return undefined;
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

export function rateLimit(options: RateLimitOptions): RateLimiter {
  const { joinsPerMinute, failuresPerMinute } = options;
  const clock = options.clock ?? (() => performance.now());
  const maxAddresses = options.maxAddresses ?? 100_000;
  const clients = new Map<string, Client>();
  const refused = { joins: 0, failures: 0 };

  const clientOf = (key: string, nowMs: number): Client => {
    let client = clients.get(key);
    if (!client) {
      // Insertion order: the first key is the longest tracked. O(1), unlike a sweep.
      if (clients.size >= maxAddresses) clients.delete(clients.keys().next().value!);
      client = {
        joins: joinsPerMinute > 0
          ? new TokenBucket(joinsPerMinute, joinsPerMinute / 60, nowMs)
          : undefined,
        failures: failuresPerMinute > 0
          ? new TokenBucket(failuresPerMinute, failuresPerMinute / 60, nowMs)
          : undefined,
      };
      clients.set(key, client);
    }
    return client;
  };

  const refuse = (bucket: RateLimitBucket, tokens: TokenBucket, nowMs: number): never => {
    refused[bucket]++;
    const retry = String(Math.max(1, Math.ceil(tokens.secondsUntilToken(nowMs))));
    const detail = bucket === "failures"
      ? "too many failed requests from this address (wrong token, unknown session, bad body); " +
        "requests on its existing sessions still work"
      : `more than ${joinsPerMinute} sessions opened from this address in a minute`;
    throw new Problem(429, "rate-limited", detail, { "Retry-After": retry });
  };

  return {
    middleware: async function rateLimited(c, next) {
      if (c.req.method === "OPTIONS") return await next();
      // ["", "whip" | "whep", stream, session?, extension...]
      const parts = c.req.path.split("/");
      const kind = parts[1] === "whip" || parts[1] === "whep" ? parts[1] : undefined;
      const stream = decodeSegment(parts[2]);
      const session = decodeSegment(parts[3]);
      if (kind && stream !== undefined && session !== undefined) {
        if (options.isSession(kind, stream, session)) return await next();
      }
      const key = addressKey(options.clientAddress(c.req.raw));
      const now = clock();
      const known = clients.get(key);
      if (known?.failures && known.failures.tokens(now) < 1) {
        refuse("failures", known.failures, now);
      }
      const join = c.req.method === "POST" && parts.length === 3;
      if (join && known?.joins && known.joins.tokens(now) < 1) refuse("joins", known.joins, now);
      // A session URL that does not exist can only fail: charge it now, so that guesses sent
      // all at once are cut off as early as guesses sent one by one.
      const guess = session !== undefined && failuresPerMinute > 0;
      if (guess) clientOf(key, now).failures!.take(now);
      await next();
      const status = c.res.status;
      const after = clock();
      if (join && status === 201 && joinsPerMinute > 0) {
        clientOf(key, after).joins!.take(after);
      } else if (!guess && isFailure(status) && failuresPerMinute > 0) {
        clientOf(key, after).failures!.take(after);
      }
    },
    sweep(nowMs: number) {
      for (const [key, client] of clients) {
        if ((client.joins?.full(nowMs) ?? true) && (client.failures?.full(nowMs) ?? true)) {
          clients.delete(key);
        }
      }
    },
    refused,
    get size() {
      return clients.size;
    },
  };
}
