/**
 * A test client of the room WebSocket (docs/signalling.md): sends messages, checks that every
 * server message is well formed, and waits for the next message that matches.
 */
import { assert } from "@std/assert";
import { type ServerMessage, ServerMessageSchema } from "../../src/signal/mod.ts";

/** How long {@link SignalClient.next} waits before failing the test (a guard, not a measure). */
const WAIT_MS = 10_000;

export class SignalClient {
  readonly socket: WebSocket;
  readonly received: ServerMessage[] = [];
  /** Called with every server message as it arrives (room-client.ts answers offers here). */
  readonly listeners: Set<(message: ServerMessage) => void> = new Set();
  /** The close event's code and reason, once closed. */
  readonly closed: Promise<{ code: number; reason: string }>;
  #nextId = 1;
  #unread = 0;
  #wake: (() => void) | undefined;

  private constructor(socket: WebSocket) {
    this.socket = socket;
    const closed = Promise.withResolvers<{ code: number; reason: string }>();
    this.closed = closed.promise;
    socket.onmessage = (event) => {
      const parsed = ServerMessageSchema.safeParse(JSON.parse(event.data));
      assert(parsed.success, `malformed server message: ${event.data}`);
      this.received.push(parsed.data);
      for (const listener of this.listeners) listener(parsed.data);
      this.#wake?.();
    };
    socket.onclose = (event) => {
      closed.resolve({ code: event.code, reason: event.reason });
      this.#wake?.();
    };
  }

  /** Opens a socket to room `roomId` of the server at `baseUrl`. */
  static async open(baseUrl: string, roomId: string): Promise<SignalClient> {
    const socket = new WebSocket(`${baseUrl.replace(/^http/, "ws")}/rooms/${roomId}/signal`);
    const opened = Promise.withResolvers<void>();
    socket.onopen = () => opened.resolve();
    socket.onerror = () => opened.reject(new Error("the WebSocket did not open"));
    const client = new SignalClient(socket);
    await opened.promise;
    return client;
  }

  /** Sends a message; a request id is added unless `id: false`. Returns the id used. */
  send(message: Record<string, unknown>, options: { id?: boolean } = {}): number | undefined {
    const id = options.id === false ? undefined : this.#nextId++;
    this.socket.send(JSON.stringify({ v: 1, ...message, ...(id === undefined ? {} : { id }) }));
    return id;
  }

  /** Sends a request and waits for its answer (the message with `re` equal to its id). */
  async request(message: Record<string, unknown>): Promise<ServerMessage> {
    const id = this.send(message);
    return await this.next((m) => "re" in m && m.re === id, `the answer to ${message.t}`);
  }

  /** The next message from now on that matches `match` (earlier ones are skipped). */
  async next(match: (m: ServerMessage) => boolean, what: string): Promise<ServerMessage> {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      while (this.#unread < this.received.length) {
        const message = this.received[this.#unread++];
        if (match(message)) return message;
      }
      if (this.socket.readyState === WebSocket.CLOSED) {
        throw new Error(`closed while waiting for ${what}`);
      }
      const woken = Promise.withResolvers<void>();
      this.#wake = woken.resolve;
      const timer = setTimeout(woken.resolve, Math.max(0, deadline - Date.now()));
      await woken.promise;
      clearTimeout(timer);
      this.#wake = undefined;
      if (Date.now() >= deadline) throw new Error(`no ${what} within ${WAIT_MS} ms`);
    }
  }

  /** The next message of type `t`. */
  async nextOf<T extends ServerMessage["t"]>(
    t: T,
    what: string = t,
  ): Promise<Extract<ServerMessage, { t: T }>> {
    const m = await this.next((m) => m.t === t, what);
    assert(m.t === t);
    return m as Extract<ServerMessage, { t: T }>;
  }

  /** Closes the socket (if open) and waits for the close. */
  async close(): Promise<void> {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.close(1000);
    await this.closed;
  }
}
