/**
 * One signalling WebSocket: requests matched to answers by id, pings every 10 s, events handed
 * on in order. A socket that misses a pong for a whole ping interval counts as dropped: browsers
 * notice a dead network only after minutes otherwise.
 */
import { QuetzalError } from "./errors.ts";
import type { AnswerOf, ClientMessage, ErrorCode, ServerMessage } from "./wire.ts";

/** How often to ping (docs/signalling.md: every 10 s). */
export const PING_INTERVAL_MS = 10_000;
/** How long a request waits for its answer before failing with `timeout`. */
const REQUEST_TIMEOUT_MS = 15_000;
/** The server's code as it came: a newer server may use codes this SDK does not list. */
export function errorCode(code: string): ErrorCode {
  return code;
}

/**
 * Why a WebSocket could not open. Browsers hide the HTTP status of a refused upgrade, so a
 * plain GET asks: 404 is an unknown (or ended) room. Cross-origin without CORS it cannot be
 * read, and the answer stays `connection-failed`.
 */
async function refusal(url: string): Promise<QuetzalError> {
  try {
    const res = await fetch(url.replace(/^ws/, "http"), { signal: AbortSignal.timeout(5_000) });
    await res.body?.cancel();
    if (res.status === 404) return new QuetzalError("not-found", "no such room (or it ended)");
  } catch {
    // Unreachable or unreadable: fall through.
  }
  return new QuetzalError("connection-failed", `no WebSocket to ${url}`);
}

interface Pending {
  resolve(message: ServerMessage): void;
  reject(error: QuetzalError): void;
  timer: ReturnType<typeof setTimeout>;
}

export interface SignalHandlers {
  /** A server message that answers no request of ours. */
  onEvent(message: ServerMessage): void;
  /** The socket ended (not by {@linkcode Signal.close}); `code` is the WebSocket close code. */
  onClose(code: number): void;
}

export class Signal {
  #socket: WebSocket;
  #handlers: SignalHandlers;
  #nextId = 1;
  #pending = new Map<number, Pending>();
  #pingTimer: ReturnType<typeof setInterval> | undefined;
  #awaitingPong = false;
  #closed = false;

  private constructor(socket: WebSocket, handlers: SignalHandlers) {
    this.#socket = socket;
    this.#handlers = handlers;
    socket.addEventListener("message", (event) => this.#onMessage(event.data));
    socket.addEventListener("close", (event) => this.#end(event.code, true));
    this.#pingTimer = setInterval(() => this.#ping(), PING_INTERVAL_MS);
  }

  /** Opens the socket at `url` (ws: or wss:); rejects with `connection-failed`. */
  static open(url: string, handlers: SignalHandlers): Promise<Signal> {
    return new Promise((resolve, reject) => {
      let socket: WebSocket;
      try {
        socket = new WebSocket(url);
      } catch (error) {
        reject(new QuetzalError("connection-failed", `cannot open ${url}: ${error}`));
        return;
      }
      let failed = false;
      const fail = () => {
        socket.removeEventListener("open", ok);
        if (failed) return;
        failed = true;
        refusal(url).then(reject);
      };
      const ok = () => {
        socket.removeEventListener("error", fail);
        socket.removeEventListener("close", fail);
        resolve(new Signal(socket, handlers));
      };
      socket.addEventListener("open", ok, { once: true });
      socket.addEventListener("error", fail, { once: true });
      socket.addEventListener("close", fail, { once: true });
    });
  }

  get open(): boolean {
    return !this.#closed;
  }

  /** Sends a request and resolves with its answer; a refusal rejects with the server's code. */
  request<T extends ClientMessage["t"]>(
    message: Extract<ClientMessage, { t: T }>,
    timeoutMs = REQUEST_TIMEOUT_MS,
  ): Promise<AnswerOf<T>> {
    if (this.#closed) {
      return Promise.reject(new QuetzalError("closed", `${message.t}: not connected`));
    }
    const id = this.#nextId++;
    const { promise, resolve, reject } = Promise.withResolvers<ServerMessage>();
    const timer = setTimeout(() => {
      this.#pending.delete(id);
      reject(new QuetzalError("timeout", `${message.t}: no answer after ${timeoutMs} ms`));
    }, timeoutMs);
    this.#pending.set(id, { resolve, reject, timer });
    this.#socket.send(JSON.stringify({ v: 1, id, ...message }));
    return promise.then((answer) => {
      if (answer.t === "reply" && !answer.ok) {
        throw new QuetzalError(errorCode(answer.error.code), answer.error.message);
      }
      // The server answers a request type with one message type (docs/signalling.md).
      return answer as AnswerOf<T>;
    });
  }

  /** Sends a message that needs no answer (a refusal comes back as an `error` event). */
  send(message: ClientMessage): void {
    if (!this.#closed) this.#socket.send(JSON.stringify({ v: 1, ...message }));
  }

  /**
   * Closes the socket (1000) and fails what still waits with `closed`; no `onClose`. Resolves
   * once the socket is closed (or after a second: a dead peer never answers the close).
   */
  close(): Promise<void> {
    if (this.#socket.readyState === WebSocket.CLOSED) {
      this.#end(1000, false);
      return Promise.resolve();
    }
    const { promise, resolve } = Promise.withResolvers<void>();
    const timer = setTimeout(resolve, 1_000);
    this.#socket.addEventListener("close", () => {
      clearTimeout(timer);
      resolve();
    });
    this.#end(1000, false);
    try {
      this.#socket.close(1000);
    } catch {
      // Already closing.
    }
    return promise;
  }

  #ping(): void {
    if (this.#awaitingPong) {
      // A whole interval without a pong: the path is dead even if the socket says open.
      this.#end(4900, true);
      try {
        this.#socket.close(4000, "no pong");
      } catch {
        // Already closing.
      }
      return;
    }
    this.#awaitingPong = true;
    this.send({ t: "ping" });
  }

  #onMessage(data: unknown): void {
    if (typeof data !== "string") return;
    let message: ServerMessage;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    if (message.t === "pong") this.#awaitingPong = false;
    const re = "re" in message ? message.re : undefined;
    if (re !== undefined) {
      const pending = this.#pending.get(re);
      if (pending) {
        this.#pending.delete(re);
        clearTimeout(pending.timer);
        pending.resolve(message);
        return;
      }
    }
    if (message.t === "pong") return;
    try {
      this.#handlers.onEvent(message);
    } catch (error) {
      // One message the room could not apply must not stop the ones after it.
      console.error(`quetzal: handling ${message.t}`, error);
    }
  }

  #end(code: number, notify: boolean): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#pingTimer);
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(new QuetzalError("closed", "the connection to the room closed"));
    }
    this.#pending.clear();
    if (notify) this.#handlers.onClose(code);
  }
}
