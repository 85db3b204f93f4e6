/**
 * Rooms carry media (rooms.md §5, §7): werift participants in-process over the room WebSocket
 * of a loopback server, real ICE, DTLS and SRTP both ways, nothing mocked at the media layer.
 */
import { assertEquals, assertGreater } from "@std/assert";
import type { RunningServer } from "../../src/server.ts";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { startLoopbackServer } from "../support/loopback-server.ts";
import { startStunStub, type StunStub } from "../support/stun-stub.ts";
import { settleWeriftTimers } from "../support/werift-client.ts";
import { checkPayloads, createRoom, pumpUntil, RoomClient } from "../support/room-client.ts";

loadLibsrtp();

const TOKEN = "publish-secret-token";

async function withRoom(
  body: Record<string, unknown>,
  run: (ctx: {
    server: RunningServer;
    stun: StunStub;
    room: Awaited<ReturnType<typeof createRoom>>;
    join: (role?: "admin" | "speaker" | "listener", name?: string) => Promise<RoomClient>;
  }) => Promise<void>,
): Promise<void> {
  const server = await startLoopbackServer({ publishToken: TOKEN });
  const stun = await startStunStub();
  const clients: RoomClient[] = [];
  try {
    const room = await createRoom(server.url, TOKEN, body);
    await run({
      server,
      stun,
      room,
      join: async (role = "speaker", name) => {
        const client = await RoomClient.join(
          server.url,
          room.id,
          room.tokens[role],
          stun.url,
          name,
        );
        clients.push(client);
        return client;
      },
    });
    for (const c of clients) assertEquals(c.failures, []);
  } finally {
    for (const c of clients) await c.close().catch(() => {});
    await server.close();
    await stun.close();
    await settleWeriftTimers();
  }
}

Deno.test("three participants publish camera and microphone; each receives the other two intact", async () => {
  await withRoom({}, async ({ join, server }) => {
    const clients = [
      await join("speaker", "A"),
      await join("speaker", "B"),
      await join("speaker", "C"),
    ];
    await Promise.all(clients.map((c) => c.subscribed()));
    for (const c of clients) await c.publish("camera", "microphone");
    const flowing = () =>
      clients.every((rx) =>
        clients.every((tx) =>
          tx === rx ||
          (rx.packetsOn(rx.midOf(tx.self, "camera")) >= 10 &&
            rx.packetsOn(rx.slotOf(tx.self)) >= 10)
        )
      );
    await pumpUntil(clients, flowing, "every camera and voice at every other participant");
    for (const rx of clients) {
      for (const tx of clients) {
        if (tx === rx) continue;
        assertGreater(checkPayloads(rx, rx.midOf(tx.self, "camera")!, tx, "camera"), 0);
        assertGreater(checkPayloads(rx, rx.slotOf(tx.self)!, tx, "microphone"), 0);
      }
      // Nobody hears or sees itself.
      assertEquals(rx.midOf(rx.self, "camera"), undefined);
      assertEquals(rx.slotOf(rx.self), undefined);
    }
    // Six peers: a publish and a subscribe connection each.
    assertEquals(server.manager.count("publisher") + server.manager.count("viewer"), 6);
  });
});
