/**
 * A token bucket: up to `capacity` requests at once, then `refillPerSecond` of them a second.
 * Unlike a fixed window it has no boundary at which a full allowance comes back at once, and a
 * client that slows to the refill rate is never refused.
 *
 * The balance may go below zero: requests are charged after their response (only then is it
 * known whether they failed or created a session), so several in flight when the bucket ran dry
 * all count, and the debt postpones the next token. Over any time T a bucket thus lets through at
 * most `capacity + refillPerSecond × T` plus the requests that were in flight together.
 *
 * @example
 * const bucket = new TokenBucket(20, 20 / 60, performance.now());
 * if (bucket.tokens(performance.now()) < 1) refuse(bucket.secondsUntilToken(performance.now()));
 */
export class TokenBucket {
  #tokens: number;
  #atMs: number;

  constructor(
    readonly capacity: number,
    readonly refillPerSecond: number,
    nowMs: number,
  ) {
    this.#tokens = capacity;
    this.#atMs = nowMs;
  }

  /** The balance at `nowMs` (below 1: a request would be refused). */
  tokens(nowMs: number): number {
    this.#refill(nowMs);
    return this.#tokens;
  }

  /** Charges `n` tokens; the balance may go negative (see the module comment). */
  take(nowMs: number, n = 1): void {
    this.#refill(nowMs);
    this.#tokens -= n;
  }

  /** Seconds from `nowMs` until the balance reaches one token; 0 when it has one now. */
  secondsUntilToken(nowMs: number): number {
    const missing = 1 - this.tokens(nowMs);
    return missing <= 0 ? 0 : missing / this.refillPerSecond;
  }

  /** True when the bucket is full: it then says nothing a new bucket would not. */
  full(nowMs: number): boolean {
    return this.tokens(nowMs) >= this.capacity;
  }

  #refill(nowMs: number): void {
    // A clock that steps back (it should not: performance.now) must not mint tokens.
    const elapsedMs = Math.max(0, nowMs - this.#atMs);
    this.#tokens = Math.min(this.capacity, this.#tokens + elapsedMs * this.refillPerSecond / 1000);
    this.#atMs = Math.max(this.#atMs, nowMs);
  }
}
