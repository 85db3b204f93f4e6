/**
 * 100 joins and leaves of a room with media leave nothing behind: no sessions (peers), no
 * sockets or timers (the test's resource and op sanitizers), and no growing memory.
 */
import { assert, assertEquals, assertLess } from "@std/assert";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { SignalClient } from "../support/signal-client.ts";
import { createRoom, TOKEN } from "../support/room-client.ts";
import { startLoopbackServer } from "../support/loopback-server.ts";
import { waitFor } from "../support/werift-client.ts";

loadLibsrtp();

Deno.test("100 join/leave cycles leave no sessions, sockets, timers or memory behind", async () => {
  const server = await startLoopbackServer({ publishToken: TOKEN });
  try {
    const room = await createRoom(server.url, TOKEN);
    // One participant stays, so the room lives through the cycles.
    const host = await SignalClient.open(server.url, room.id);
    const joined = await host.request({ t: "join", token: room.tokens.admin });
    assert(joined.t === "joined");
    await host.nextOf("offer");
    const cycle = async () => {
      const client = await SignalClient.open(server.url, room.id);
      const reply = await client.request({ t: "join", token: room.tokens.speaker });
      assert(reply.t === "joined");
      // The server made its subscribe connection and offered it.
      await client.nextOf("offer");
      client.send({ t: "leave" }, { id: false });
      await client.closed;
    };
    for (let i = 0; i < 10; i++) await cycle();
    await waitFor(() => server.manager.sessions.size === 1, 5000, "the warm-up peers gone");
    const heap = Deno.memoryUsage().heapUsed;
    for (let i = 0; i < 100; i++) await cycle();
    await waitFor(() => server.manager.sessions.size === 1, 5000, "every peer but the host's");
    assertEquals(server.rooms.get(room.id)?.size, 1);
    // The subscribe connections ran in the viewer workers: only the host's is left there, and
    // no worker still counts a departed one (its ring would keep carrying the room's media).
    assertEquals(server.workers?.placements().size, 1);
    assertEquals(server.workers?.loads().reduce((n, load) => n + load.viewers, 0), 1);
    if (server.workers) {
      const workers = server.workers;
      const hosted = () => workers.loads().reduce((n, load) => n + load.hosted, 0);
      await waitFor(() => hosted() === 1, 5000, "the workers' own count of room subscribers at 1");
    }
    // Loose: a leaked peer holds werift's state (hundreds of KiB); 100 of them would show.
    assertLess(Deno.memoryUsage().heapUsed - heap, 24 * 1024 * 1024);
    await host.close();
  } finally {
    await server.close();
  }
});
