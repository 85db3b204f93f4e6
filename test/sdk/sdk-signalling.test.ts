/**
 * The browser SDK's signalling half (the committed bundle users load), run in Deno (which has WebSocket and fetch) against a real
 * server on 127.0.0.1: join errors carry the server's codes, `participants` is complete when
 * joinRoom resolves, events come in order, and a dropped socket resumes the same seat. Nothing
 * here needs media (no RTCPeerConnection): the media paths are tested in Chromium
 * (test/browser/rooms-sdk.test.ts).
 */
import { assert, assertEquals } from "@std/assert";
import type { CreatedRoom } from "../../src/http/rooms-api.ts";
import type { RunningServer } from "../../src/server.ts";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { startLoopbackServer } from "../support/loopback-server.ts";
import { loadSdk, type SdkError, type SdkRoom as Room } from "../support/sdk-module.ts";

loadLibsrtp();
const { activeLayers, joinRoom, maxHeightFor, QuetzalError, roomAddress } = await loadSdk();

const TOKEN = "publish-secret-token";
/** A guard so a broken build fails instead of hanging; not a speed assertion. */
const WAIT_MS = 10_000;

async function createRoom(server: RunningServer, body: unknown = {}): Promise<CreatedRoom> {
  const res = await fetch(`${server.url}/api/rooms`, {
    method: "POST",
    headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  assertEquals(res.status, 201);
  return await res.json();
}

/** Resolves with the arguments of the next `event` that `match`es. */
function next<T extends unknown[]>(
  subscribe: (handler: (...args: T) => void) => () => void,
  what: string,
  match: (...args: T) => boolean = () => true,
): Promise<T> {
  const { promise, resolve, reject } = Promise.withResolvers<T>();
  const timer = setTimeout(() => reject(new Error(`no ${what} in ${WAIT_MS} ms`)), WAIT_MS);
  const off = subscribe((...args) => {
    if (!match(...args)) return;
    clearTimeout(timer);
    off();
    resolve(args);
  });
  return promise;
}

/** The QuetzalError `fn` rejects with (fails the test if it resolves or throws another error). */
async function rejection(fn: () => Promise<unknown>): Promise<SdkError> {
  try {
    await fn();
  } catch (error) {
    assert(error instanceof QuetzalError, `expected a QuetzalError, got ${error}`);
    return error;
  }
  throw new Error("expected a rejection");
}

async function withServer(fn: (server: RunningServer) => Promise<void>): Promise<void> {
  const server = await startLoopbackServer({ publishToken: TOKEN });
  try {
    await fn(server);
  } finally {
    await server.close();
  }
}

Deno.test("sdk: joinRoom rejects with the server's error code", async () => {
  await withServer(async (server) => {
    const room = await createRoom(server, { maxParticipants: 1 });
    const url = `${server.url}/rooms/${room.id}`;

    const forged = await rejection(() =>
      joinRoom(url, { token: room.tokens.speaker.slice(0, -4) + "AAAA" })
    );
    assertEquals(forged.code, "unauthorized");
    assert(forged instanceof Error);

    const other = await createRoom(server);
    const wrongRoom = await rejection(() => joinRoom(url, { token: other.tokens.admin }));
    assertEquals(wrongRoom.code, "unauthorized");

    const unknown = await rejection(() =>
      joinRoom(`${server.url}/rooms/AAAAAAAAAAAAAAAA`, { token: room.tokens.speaker })
    );
    assertEquals(unknown.code, "not-found");

    const first = await joinRoom(url, { token: room.tokens.speaker, name: "Ada" });
    const full = await rejection(() => joinRoom(url, { token: room.tokens.speaker, name: "Bob" }));
    assertEquals(full.code, "room-full");

    const noToken = await rejection(() => joinRoom(url, {}));
    assertEquals(noToken.code, "unauthorized");

    // A refused request after the join rejects with its code too.
    const notPublished = await rejection(() => first.setMuted("camera", true));
    assertEquals(notPublished.code, "bad-request");
    await first.leave();
    assertEquals(first.state, "closed");
  });
});

Deno.test("sdk: participants at join, then joined/updated/left events in order", async () => {
  await withServer(async (server) => {
    const created = await createRoom(server, { name: "Standup" });
    const url = `${server.url}/rooms/${created.id}`;
    const ada = await joinRoom(url, { token: created.tokens.admin, name: "Ada" });
    const rooms: Room[] = [ada];
    try {
      assertEquals(ada.localParticipant.name, "Ada");
      assertEquals(ada.localParticipant.role, "admin");
      assertEquals(ada.info.name, "Standup");
      assertEquals(ada.participants.size, 0, "participants are the others");

      const events: string[] = [];
      ada.on("participantJoined", (p) => events.push(`joined ${p.name}`));
      ada.on("participantUpdated", (p) => events.push(`updated ${p.name} ${p.hand}`));
      ada.on("participantLeft", (p) => events.push(`left ${p.name}`));

      // Each wait is set up before the join it waits for: the event may beat joinRoom's answer.
      const bobJoined = next<[{ name: string }]>(
        (h) => ada.on("participantJoined", h),
        "Bob's join",
      );
      const bob = await joinRoom(url, { token: created.tokens.speaker, name: "Bob" });
      rooms.push(bob);
      // Everyone present is there when joinRoom resolves (from the joined snapshot).
      assertEquals([...bob.participants.values()].map((p) => [p.name, p.role]), [
        ["Ada", "admin"],
      ]);
      assertEquals(bob.participants.get(ada.localParticipant.id)?.tracks.size, 0);

      await bobJoined;
      const bobSeen = ada.participants.get(bob.localParticipant.id);
      assertEquals(bobSeen?.name, "Bob");

      const cyJoined = next<[{ name: string }]>(
        (h) => ada.on("participantJoined", h),
        "Cy's join",
        (p) => p.name === "Cy",
      );
      const cy = await joinRoom(url, { token: created.tokens.listener, name: "Cy" });
      rooms.push(cy);
      assertEquals([...cy.participants.values()].map((p) => p.name).sort(), ["Ada", "Bob"]);
      await cyJoined;
      const cyHand = next<[{ name: string; hand: boolean }]>(
        (h) => ada.on("participantUpdated", h),
        "Cy's hand",
        (p) => p.name === "Cy" && p.hand,
      );
      await cy.raiseHand(true);
      await cyHand;
      const bobLeft = next<[{ name: string }]>((h) => ada.on("participantLeft", h), "Bob's leave");
      await bob.leave();
      await bobLeft;
      assertEquals(events, ["joined Bob", "joined Cy", "updated Cy true", "left Bob"]);
      assertEquals(ada.participants.has(bob.localParticipant.id), false);
    } finally {
      for (const room of rooms) await room.leave();
    }
  });
});

Deno.test("sdk: the room's end and a removal disconnect with their reason", async () => {
  await withServer(async (server) => {
    const created = await createRoom(server);
    const url = `${server.url}/rooms/${created.id}`;
    const ada = await joinRoom(url, { token: created.tokens.admin, name: "Ada" });
    const bob = await joinRoom(url, { token: created.tokens.speaker, name: "Bob" });
    const removed = next<[string]>((h) => bob.on("disconnected", h), "Bob's removal");
    await next((h) => ada.on("participantJoined", h), "Bob's join");
    await ada.remove(bob.localParticipant.id);
    assertEquals(await removed, ["removed"]);
    assertEquals(bob.state, "closed");

    const ended = next<[string]>((h) => ada.on("disconnected", h), "the room's end");
    const res = await fetch(`${server.url}/api/rooms/${created.id}`, {
      method: "DELETE",
      headers: { Authorization: `Bearer ${TOKEN}` },
    });
    assertEquals(res.status, 204);
    assertEquals(await ended, ["roomEnded"]);
    await ada.leave(); // a no-op now
  });
});

Deno.test("sdk: a dropped socket resumes the same seat, unseen by the others", async () => {
  await withServer(async (server) => {
    const created = await createRoom(server);
    await using proxy = await TcpProxy.start(server.port);
    const ada = await joinRoom(`${server.url}/rooms/${created.id}`, {
      token: created.tokens.admin,
      name: "Ada",
    });
    const bob = await joinRoom(`http://127.0.0.1:${proxy.port}/rooms/${created.id}`, {
      token: created.tokens.speaker,
      name: "Bob",
    });
    try {
      await next((h) => ada.on("participantJoined", h), "Bob's join");
      const adaSaw: string[] = [];
      ada.on("participantLeft", (p) => adaSaw.push(`left ${p.name}`));
      ada.on("participantJoined", (p) => adaSaw.push(`joined ${p.name}`));
      const order: string[] = [];
      bob.on("reconnecting", () => order.push("reconnecting"));
      const reconnected = next((h) => bob.on("reconnected", h), "Bob's reconnect");
      bob.on("reconnected", () => order.push("reconnected"));
      const id = bob.localParticipant.id;

      proxy.cut();
      await reconnected;
      assertEquals(order, ["reconnecting", "reconnected"]);
      assertEquals(bob.localParticipant.id, id, "the same seat");
      assertEquals(bob.state, "connected");
      assertEquals([...bob.participants.values()].map((p) => p.name), ["Ada"]);
      // The resumed connection works: a hand goes through it.
      await bob.raiseHand(false);
      await ada.remove(id);
      await next((h) => ada.on("participantLeft", h), "Bob's removal");
      assertEquals(adaSaw, ["left Bob"], "no leave and join while Bob was away");
    } finally {
      await bob.leave();
      await ada.leave();
    }
  });
});

Deno.test("sdk: no way back within the reconnect timeout is disconnected(timeout)", async () => {
  await withServer(async (server) => {
    const created = await createRoom(server);
    await using proxy = await TcpProxy.start(server.port);
    const bob = await joinRoom(`http://127.0.0.1:${proxy.port}/rooms/${created.id}`, {
      token: created.tokens.speaker,
      reconnectTimeoutMs: 1_500,
    });
    const gone = next<[string]>((h) => bob.on("disconnected", h), "the disconnect", undefined);
    proxy.refuse = true;
    proxy.cut();
    assertEquals(await gone, ["timeout"]);
    assertEquals(bob.state, "closed");
  });
});

Deno.test("sdk: URLs, tile heights and dynacast layers", () => {
  assertEquals(
    roomAddress("http://h:8080/rooms/abc_-1").signalUrl,
    "ws://h:8080/rooms/abc_-1/signal",
  );
  assertEquals(
    roomAddress("https://h/base/call/abc#token=t.k&name=x"),
    { signalUrl: "wss://h/base/rooms/abc/signal", roomId: "abc", fragmentToken: "t.k" },
  );
  const bad = (() => {
    try {
      roomAddress("http://h/streams/abc");
    } catch (e) {
      return e;
    }
  })();
  assert(bad instanceof QuetzalError && bad.code === "bad-request");
  assertEquals([0, 1, 180, 181, 360, 500, 720, 721, 4000].map(maxHeightFor), [
    0,
    180,
    180,
    360,
    360,
    720,
    720,
    1080,
    1080,
  ]);
  // 720p camera, q/h/f at 180/360/720.
  assertEquals(activeLayers(720, [4, 2, 1], undefined), [true, true, true]);
  assertEquals(activeLayers(720, [4, 2, 1], 0), [false, false, false]);
  assertEquals(activeLayers(720, [4, 2, 1], 180), [true, false, false]);
  assertEquals(activeLayers(720, [4, 2, 1], 360), [true, true, false]);
  assertEquals(activeLayers(720, [4, 2, 1], 1080), [true, true, true]);
  // 480p: h is 240, so 360 needs f.
  assertEquals(activeLayers(480, [4, 2, 1], 360), [true, true, true]);
  assertEquals(activeLayers(480, [1], 180), [true]);
});

/**
 * A TCP proxy on 127.0.0.1 in front of the server, so a test can drop a client's connection the
 * way a network change does (the server sees the socket end without a close frame).
 */
class TcpProxy implements AsyncDisposable {
  readonly port: number;
  /** Refuse new connections (accept and drop them at once). */
  refuse = false;
  #listener: Deno.Listener;
  #pairs = new Set<{ client: Deno.Conn; upstream: Deno.Conn; done: Promise<unknown> }>();
  #accepting: Promise<void>;

  private constructor(listener: Deno.Listener, target: number) {
    this.#listener = listener;
    this.port = (listener.addr as Deno.NetAddr).port;
    this.#accepting = this.#accept(target);
  }

  static start(target: number): Promise<TcpProxy> {
    return Promise.resolve(new TcpProxy(Deno.listen({ hostname: "127.0.0.1", port: 0 }), target));
  }

  /** Ends every proxied connection. */
  cut(): void {
    for (const pair of this.#pairs) {
      closeQuietly(pair.client);
      closeQuietly(pair.upstream);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#listener.close();
    await this.#accepting;
    this.cut();
    await Promise.all([...this.#pairs].map((p) => p.done));
  }

  async #accept(target: number): Promise<void> {
    try {
      for await (const client of this.#listener) {
        if (this.refuse) {
          closeQuietly(client);
          continue;
        }
        const upstream = await Deno.connect({ hostname: "127.0.0.1", port: target });
        const pair = {
          client,
          upstream,
          done: Promise.allSettled([
            client.readable.pipeTo(upstream.writable),
            upstream.readable.pipeTo(client.writable),
          ]),
        };
        this.#pairs.add(pair);
        pair.done.then(() => {
          closeQuietly(client);
          closeQuietly(upstream);
          this.#pairs.delete(pair);
        });
      }
    } catch {
      // The listener closed.
    }
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}
