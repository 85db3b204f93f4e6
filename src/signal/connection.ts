/**
 * One signalling connection, without the socket: frames in (`receive`), frames out (`send`),
 * and `close(code, reason)`. It checks everything that does not need the room: frame size,
 * JSON, schema and version (messages.ts), a per-connection rate limit, request ids, and order
 * (nothing but `ping` before `join`; one `join`). Messages reach the handler one at a time, in
 * order, so an `offer` is handled before the `candidate` that follows it.
 *
 * @example
 * const conn = new SignalConnection({ send: (f) => ws.send(f), close: (c, r) => ws.close(c, r),
 *   handler, maxSdpBytes: 65536 });
 * ws.onmessage = (e) => conn.receive(e.data);
 */
import {
  roomCounters,
  SIGNAL_ERROR_CODES,
  SIGNAL_MESSAGE_TYPES,
} from "../observability/counters.ts";
import { CloseCode, SignalError } from "./codes.ts";
import {
  type ClientMessage,
  clientParser,
  type EventBody,
  MAX_FRAME_BYTES,
  type ParseResult,
  type ReplyBody,
  type ServerBody,
  utf8Length,
} from "./messages.ts";

/** What the room side does with a checked message. */
export interface SignalHandler {
  /**
   * Handles one message. The result of a request is its reply (`joined` for join, `answer` for
   * offer, `invite` for createInvite); nothing means `reply ok`. Throw a SignalError or
   * RoomError to refuse; anything else is an `internal` error (and reported to `onError`).
   */
  handle(message: ClientMessage): ReplyBody | void | Promise<ReplyBody | void>;
  /** The connection closed, by either side; called once. */
  closed?(code: number, reason: string): void;
}

/** Token bucket of one connection (rooms.md §6: ≤ 20 messages/s). */
export interface RateLimit {
  /** Messages per second, refilled continuously. */
  perSecond: number;
  /** Messages allowed at once after a quiet period. */
  burst: number;
  /** Refused messages, counted until the bucket is full again, before the socket is closed. */
  closeAfter: number;
}

export const DEFAULT_RATE_LIMIT: Readonly<RateLimit> = {
  perSecond: 20,
  burst: 40,
  closeAfter: 100,
};

/** Messages waiting for the handler at once; beyond, refused as `rate-limited`. */
export const MAX_QUEUED = 64;

export interface SignalConnectionOptions {
  send(frame: string): void;
  close(code: number, reason: string): void;
  handler: SignalHandler;
  /** The server's `maxSdpBytes`; or pass a shared `parse`. */
  maxSdpBytes?: number;
  /** A parser from `clientParser`, shared by the connections of a server. */
  parse?: (value: unknown) => ParseResult;
  rateLimit?: RateLimit;
  /** Milliseconds, monotonic (injected in tests). */
  now?: () => number;
  /** An `internal` error: the handler threw something that is not a refusal. */
  onError?(error: unknown, about: string): void;
}

type State = "new" | "joining" | "joined" | "closed";

export class SignalConnection {
  readonly #options: SignalConnectionOptions;
  readonly #parse: (value: unknown) => ParseResult;
  readonly #rate: RateLimit;
  readonly #now: () => number;
  #state: State = "new";
  #tokens: number;
  #refilledAt: number;
  #strikes = 0;
  #queued = 0;
  #tail: Promise<void> = Promise.resolve();
  readonly #pending = new Set<number>();

  constructor(options: SignalConnectionOptions) {
    this.#options = options;
    this.#parse = options.parse ?? clientParser({ maxSdpBytes: options.maxSdpBytes ?? 65536 });
    this.#rate = options.rateLimit ?? DEFAULT_RATE_LIMIT;
    this.#now = options.now ?? (() => performance.now());
    this.#tokens = this.#rate.burst;
    this.#refilledAt = this.#now();
  }

  get closed(): boolean {
    return this.#state === "closed";
  }

  /** The participant has joined (a `join` succeeded). */
  get joined(): boolean {
    return this.#state === "joined";
  }

  /** Resolves when every message received so far has been handled. */
  idle(): Promise<void> {
    return this.#tail;
  }

  /** One frame from the socket. */
  receive(data: string | ArrayBuffer | Uint8Array): void {
    if (this.#state === "closed") return;
    if (typeof data !== "string") {
      this.#sendError("bad-request", "frames are JSON text; binary frames are not accepted");
      this.close(CloseCode.unsupportedData, "binary frame");
      return;
    }
    // UTF-16 length ≤ UTF-8 length, so a long string is surely too big without counting.
    if (data.length > MAX_FRAME_BYTES || utf8Length(data) > MAX_FRAME_BYTES) {
      this.#sendError("bad-request", `a frame may have at most ${MAX_FRAME_BYTES} bytes`);
      this.close(CloseCode.messageTooBig, "frame too big");
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(data);
    } catch {
      value = undefined;
    }
    const allowed = this.#take();
    const result: ParseResult = value === undefined
      ? { ok: false, error: new SignalError("bad-request", "the frame is not JSON") }
      : this.#parse(value);
    if (!allowed || this.#queued >= MAX_QUEUED) {
      const re = result.ok ? result.message.id : result.re;
      const about = result.ok ? result.message.t : result.about;
      this.#refuseInOrder(
        new SignalError("rate-limited", `more than ${this.#rate.perSecond} messages per second`),
        re,
        about,
      );
      if (++this.#strikes >= this.#rate.closeAfter) {
        this.close(CloseCode.policyViolation, "rate limit exceeded");
      }
      return;
    }
    if (!result.ok) {
      this.#refuseInOrder(result.error, result.re, result.about);
      return;
    }
    const message = result.message;
    if (message.id !== undefined) {
      if (this.#pending.has(message.id)) {
        this.#refuseInOrder(
          new SignalError("conflict", `request id ${message.id} is still in flight`),
          message.id,
          message.t,
        );
        return;
      }
      this.#pending.add(message.id);
    }
    this.#queued++;
    this.#tail = this.#tail.then(() => this.#dispatch(message));
  }

  /** Sends a server event (no `re`); dropped once closed. */
  push(event: EventBody): void {
    this.#write(event);
  }

  /** Closes the connection (and, through the transport, the socket); idempotent. */
  close(code: number, reason: string): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#options.close(code, reason);
    this.#options.handler.closed?.(code, reason);
  }

  /** The socket closed from the other side. */
  transportClosed(code: number, reason: string): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#options.handler.closed?.(code, reason);
  }

  async #dispatch(message: ClientMessage): Promise<void> {
    this.#queued--;
    const typeIndex = (SIGNAL_MESSAGE_TYPES as readonly string[]).indexOf(message.t);
    if (typeIndex >= 0) roomCounters.signalMessages[typeIndex]++;
    try {
      if (this.#state === "closed") return;
      if (message.t === "ping") {
        this.#write(message.id === undefined ? { t: "pong" } : { t: "pong", re: message.id });
        return;
      }
      if (message.t === "join") {
        if (this.#state !== "new") {
          throw new SignalError("conflict", "this connection has already joined");
        }
        this.#state = "joining";
      } else if (this.#state !== "joined") {
        throw new SignalError("bad-request", "join first");
      }
      let result: ReplyBody | void;
      try {
        result = await this.#options.handler.handle(message);
      } catch (error) {
        if (message.t === "join" && this.#state === "joining") this.#state = "new";
        throw error;
      }
      if (message.t === "join" && this.#state === "joining") this.#state = "joined";
      if (message.id !== undefined) {
        this.#write(
          result ? { ...result, re: message.id } : { t: "reply", re: message.id, ok: true },
        );
      }
      if (message.t === "leave") this.close(CloseCode.normal, "left");
    } catch (error) {
      const refusal = SignalError.from(error);
      if (refusal.code === "internal") this.#options.onError?.(error, message.t);
      this.#refuse(refusal, message.id, message.t);
    } finally {
      if (message.id !== undefined) this.#pending.delete(message.id);
    }
  }

  /** Takes a token from the bucket; false when empty. */
  #take(): boolean {
    const now = this.#now();
    const { perSecond, burst } = this.#rate;
    this.#tokens = Math.min(burst, this.#tokens + (now - this.#refilledAt) * perSecond / 1000);
    this.#refilledAt = now;
    if (this.#tokens >= burst) this.#strikes = 0;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Refuses after what came before has been answered: answers leave in the order messages came. */
  #refuseInOrder(error: SignalError, re: number | undefined, about: string | undefined): void {
    this.#tail = this.#tail.then(() => this.#refuse(error, re, about));
  }

  #refuse(error: SignalError, re: number | undefined, about: string | undefined): void {
    const codeIndex = (SIGNAL_ERROR_CODES as readonly string[]).indexOf(error.code);
    if (codeIndex >= 0) roomCounters.signalErrors[codeIndex]++;
    const body = { code: error.code, message: error.message };
    if (re !== undefined) this.#write({ t: "reply", re, ok: false, error: body });
    else {this.#write(
        about === undefined ? { t: "error", ...body } : { t: "error", ...body, about },
      );}
  }

  #sendError(code: SignalError["code"], message: string): void {
    this.#write({ t: "error", code, message });
  }

  #write(body: ServerBody): void {
    if (this.#state === "closed") return;
    this.#options.send(JSON.stringify({ v: 1, ...body }));
  }
}
