/**
 * The rule of a token bucket: up to `capacity` requests at once, then `refillPerSecond` of them a
 * second. Unlike a fixed window it has no boundary at which a whole allowance comes back at once,
 * and a client that keeps to the refill rate is never refused.
 *
 * The rule holds no balance: the caller keeps one number (the balance) and the time it was
 * last brought up to date, so one rule serves every client address at a few bytes each.
 *
 * The balance may go below zero: requests are charged after their response (only then is it
 * known whether they failed or opened a session), so several in flight when the bucket ran dry
 * all count, and the debt postpones the next token. Over any time T a bucket thus lets through at
 * most `capacity + refillPerSecond × T` plus the requests that were in flight together.
 *
 * @example
 * const rule = new TokenBucket(20, 20 / 60);
 * let tokens = rule.capacity, atMs = now;
 * tokens = rule.balance(tokens, atMs, later); atMs = later;
 * if (tokens < 1) refuse(rule.secondsUntilToken(tokens)); else tokens -= 1;
 */
export class TokenBucket {
  constructor(readonly capacity: number, readonly refillPerSecond: number) {}

  /** The balance at `nowMs` of a bucket that held `tokens` at `atMs`. */
  balance(tokens: number, atMs: number, nowMs: number): number {
    // A clock that steps back (it should not: performance.now) must not take tokens away.
    const elapsedMs = Math.max(0, nowMs - atMs);
    return Math.min(this.capacity, tokens + elapsedMs * this.refillPerSecond / 1000);
  }

  /** Seconds until a bucket holding `tokens` now has one token; 0 when it has one already. */
  secondsUntilToken(tokens: number): number {
    return tokens >= 1 ? 0 : (1 - tokens) / this.refillPerSecond;
  }
}
