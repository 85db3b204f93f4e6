/**
 * Rate limits per client address under `/whip/` and `/whep/`, against what RFC 9725 §5 asks a
 * server to resist: guessing (tokens, session URLs) and floods. Capacity is not their job: that is
 * `--max-sessions`, `--max-viewers-per-stream`, `--max-forward-pps` and `--max-rss-mb`, which
 * count what a session costs wherever it comes from. Two token buckets per address:
 *
 * - **failures** (strict, `--rate-limit-failures` a minute): charged by every response 4xx but
 *   409 (no source yet, retry) and 429 (our own refusal). While it is empty, the address gets 429
 *   on everything but its existing sessions and GET/HEAD/OPTIONS of an endpoint, so 1000 guesses
 *   of a token or a session URL end after 20.
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
  /** The client's address: the TCP peer, or its X-Forwarded-For behind a trusted proxy. */
  clientAddress: (req: Request) => string;
  /** Whether `/{kind}/{stream}/{id}` is a session that exists now. */
  isSession: (kind: "whip" | "whep", stream: string, id: string) => boolean;
  /** Milliseconds, monotonic. Default: `performance.now`. */
  clock?: () => number;
  /**
   * Most addresses tracked at once: beyond it the oldest is forgotten. 100 000 addresses hold
   * 14.5 MB of heap (measured, Deno 2.9); only addresses with a bucket below full are tracked,
   * about a minute after their last charge (longer after a burst of failures).
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

/** One address: the balance of each bucket at `atMs`. Three numbers, no objects per bucket. */
interface Client {
  joins: number;
  failures: number;
  atMs: number;
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
  const joins = joinsPerMinute > 0 ? new TokenBucket(joinsPerMinute, joinsPerMinute / 60) : null;
  const failures = failuresPerMinute > 0
    ? new TokenBucket(failuresPerMinute, failuresPerMinute / 60)
    : null;
  const clients = new Map<string, Client>();
  const refused = { joins: 0, failures: 0 };

  /** The address's balances brought up to `nowMs`; undefined when untracked (both full). */
  const known = (key: string, nowMs: number): Client | undefined => {
    const client = clients.get(key);
    if (client) refill(client, nowMs);
    return client;
  };

  const refill = (client: Client, nowMs: number) => {
    if (joins) client.joins = joins.balance(client.joins, client.atMs, nowMs);
    if (failures) client.failures = failures.balance(client.failures, client.atMs, nowMs);
    client.atMs = Math.max(client.atMs, nowMs);
  };

  const charge = (key: string, bucket: RateLimitBucket, nowMs: number) => {
    let client = known(key, nowMs);
    if (!client) {
      // Insertion order: the first key is the longest tracked. O(1), unlike a sweep.
      if (clients.size >= maxAddresses) clients.delete(clients.keys().next().value!);
      client = { joins: joins?.capacity ?? 0, failures: failures?.capacity ?? 0, atMs: nowMs };
      clients.set(key, client);
    }
    client[bucket] -= 1;
  };

  const refuse = (bucket: RateLimitBucket, rule: TokenBucket, tokens: number): never => {
    refused[bucket]++;
    const retry = String(Math.max(1, Math.ceil(rule.secondsUntilToken(tokens))));
    const detail = bucket === "failures"
      ? "too many failed requests from this address (wrong token, unknown session, bad body); " +
        "requests on its existing sessions still work"
      : `more than ${joinsPerMinute} sessions opened from this address in a minute`;
    throw new Problem(429, "rate-limited", detail, { "Retry-After": retry });
  };

  return {
    middleware: async function rateLimited(c, next) {
      const method = c.req.method;
      if (method === "OPTIONS") return await next();
      // ["", "whip" | "whep", stream, session?, extension...]
      const parts = c.req.path.split("/");
      const kind = parts[1] === "whip" || parts[1] === "whep" ? parts[1] : undefined;
      const stream = decodeSegment(parts[2]);
      const session = decodeSegment(parts[3]);
      // GET/HEAD of an endpoint change nothing and guess nothing secret (HEAD tells whether a
      // stream is live, which players may poll for); never limited, as before.
      if (session === undefined && (method === "GET" || method === "HEAD")) return await next();
      if (kind && stream !== undefined && session !== undefined) {
        if (options.isSession(kind, stream, session)) return await next();
      }
      const key = addressKey(options.clientAddress(c.req.raw));
      const now = clock();
      const client = known(key, now);
      if (client && failures && client.failures < 1) refuse("failures", failures, client.failures);
      const join = method === "POST" && parts.length === 3;
      if (client && joins && join && client.joins < 1) refuse("joins", joins, client.joins);
      // A session URL that does not exist can only fail: charge it now, so that guesses sent
      // all at once are cut off as early as guesses sent one by one.
      const guess = session !== undefined && failures !== null;
      if (guess) charge(key, "failures", now);
      await next();
      const status = c.res.status;
      if (join && status === 201 && joins) charge(key, "joins", clock());
      else if (!guess && isFailure(status) && failures) charge(key, "failures", clock());
    },
    sweep(nowMs: number) {
      for (const [key, client] of clients) {
        refill(client, nowMs);
        const full = (!joins || client.joins >= joins.capacity) &&
          (!failures || client.failures >= failures.capacity);
        if (full) clients.delete(key);
      }
    },
    refused,
    get size() {
      return clients.size;
    },
  };
}
