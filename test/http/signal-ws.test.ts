/**
 * The room WebSocket on a real server: joining with room tokens, who hears what (batched
 * participant changes, hidden listeners as a count), moderation, and the room's end (media:
 * test/integration/rooms-*.test.ts).
 */
import { assert, assertEquals } from "@std/assert";
import type { CreatedRoom } from "../../src/http/rooms-api.ts";
import type { ServerMessage } from "../../src/signal/mod.ts";
import type { RunningServer } from "../../src/server.ts";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { startLoopbackServer } from "../support/loopback-server.ts";
import { SignalClient } from "../support/signal-client.ts";

loadLibsrtp();

const TOKEN = "publish-secret-token";

async function createRoom(server: RunningServer, body: unknown = {}): Promise<CreatedRoom> {
  const res = await fetch(`${server.url}/api/rooms`, {
    method: "POST",
    headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  assertEquals(res.status, 201);
  return await res.json();
}

function errorOf(m: ServerMessage): { code: string; message: string } {
  assert(m.t === "reply" && !m.ok, `expected a refusal, got ${JSON.stringify(m)}`);
  return m.error;
}

async function join(
  server: RunningServer,
  roomId: string,
  token: string,
  name?: string,
): Promise<{ client: SignalClient; self: string }> {
  const client = await SignalClient.open(server.url, roomId);
  const joined = await client.request({ t: "join", token, ...(name ? { name } : {}) });
  assert(joined.t === "joined", JSON.stringify(joined));
  return { client, self: joined.self.id };
}

Deno.test("join, see each other, moderate, and end the room over the WebSocket", async () => {
  const server = await startLoopbackServer({ publishToken: TOKEN });
  const clients: SignalClient[] = [];
  try {
    const room = await createRoom(server, { name: "Standup" });

    // A bad token is refused; the connection may then join properly.
    const admin = await SignalClient.open(server.url, room.id);
    clients.push(admin);
    const forged = await admin.request({
      t: "join",
      token: room.tokens.admin.slice(0, -4) + "AAAA",
    });
    assertEquals(errorOf(forged).code, "unauthorized");
    const early = await admin.request({ t: "raiseHand", raised: true });
    assertEquals(errorOf(early).message, "join first");
    const joined = await admin.request({ t: "join", token: room.tokens.admin, name: "Ada" });
    assert(joined.t === "joined");
    assertEquals([joined.self.role, joined.self.name, joined.room.name], [
      "admin",
      "Ada",
      "Standup",
    ]);
    assertEquals(joined.participants.map((p) => p.name), ["Ada"]);
    const adminId = joined.self.id;

    const speaker = await join(server, room.id, room.tokens.speaker, "Sam");
    clients.push(speaker.client);
    const seen = await admin.next(
      (m) => m.t === "participants" && m.joined.some((p) => p.name === "Sam"),
      "Sam's join",
    );
    assert(seen.t === "participants" && seen.listeners === 0);

    // A hidden listener is only a count.
    const hiddenToken = await server.roomTokens.sign({
      room: room.id,
      role: "listener",
      iv: 0,
      ttlS: 60,
      hidden: true,
      name: "Lurker",
    });
    const listener = await join(server, room.id, hiddenToken);
    clients.push(listener.client);
    const counted = await admin.next(
      (m) => m.t === "participants" && m.listeners === 1,
      "the listener count",
    );
    assert(counted.t === "participants");
    assertEquals(counted.joined, []);

    // Media messages reach the room's media half.
    const sub = await speaker.client.request({ t: "setSubscription", items: [] });
    assert(sub.t === "reply" && sub.ok, JSON.stringify(sub));

    // A raised hand, then a promotion: the listener becomes visible.
    await listener.client.request({ t: "raiseHand", raised: true });
    const promoted = await admin.request({ t: "promote", participant: listener.self });
    assert(promoted.t === "reply" && promoted.ok);
    const role = await listener.client.nextOf("roleChanged");
    assertEquals([role.role, role.by], ["speaker", adminId]);
    const visible = await speaker.client.next(
      (m) => m.t === "participants" && m.joined.some((p) => p.name === "Lurker"),
      "the promoted listener",
    );
    assert(visible.t === "participants" && visible.listeners === 0);
    const refusedPromote = await speaker.client.request({ t: "promote", participant: adminId });
    assertEquals(errorOf(refusedPromote).code, "forbidden");

    // An admin's mute locks the speaker's microphone.
    await admin.request({
      t: "muteParticipant",
      participant: speaker.self,
      source: "microphone",
    });
    const muted = await speaker.client.nextOf("muted");
    assertEquals([muted.source, muted.by], ["microphone", adminId]);
    const unmute = await speaker.client.request({ t: "mute", source: "microphone", muted: false });
    assertEquals(errorOf(unmute).code, "forbidden");

    // Invites: admins only; the token opens this room.
    const invite = await admin.request({ t: "createInvite", role: "listener", expiresInS: 600 });
    assert(invite.t === "invite");
    assertEquals(
      (await server.roomTokens.verify(invite.token, { room: room.id, iv: 0 })).role,
      "listener",
    );
    const noInvite = await speaker.client.request({
      t: "createInvite",
      role: "admin",
      expiresInS: 600,
    });
    assertEquals(errorOf(noInvite).code, "forbidden");

    // Removal: the speaker is told and closed; the others see it leave.
    await admin.request({ t: "remove", participant: speaker.self });
    const removed = await speaker.client.nextOf("removed");
    assertEquals([removed.reason, removed.by], ["removed", adminId]);
    assertEquals((await speaker.client.closed).code, 4001);
    await admin.next(
      (m) => m.t === "participants" && m.left.includes(speaker.self),
      "the removed speaker leaving",
    );

    // DELETE ends the room for everyone.
    const deleted = await fetch(`${server.url}/api/rooms/${room.id}`, {
      method: "DELETE",
      headers: { Authorization: `Bearer ${TOKEN}` },
    });
    assertEquals(deleted.status, 204);
    await deleted.body?.cancel();
    for (const client of [admin, listener.client]) {
      assertEquals((await client.nextOf("roomEnded")).reason, "api");
      assertEquals((await client.closed).code, 4002);
    }
    assertEquals(server.rooms.size, 0);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await server.close();
  }
});

Deno.test("a second seat of the same user replaces the first; leave frees the seat", async () => {
  const server = await startLoopbackServer({ publishToken: TOKEN });
  const clients: SignalClient[] = [];
  try {
    const room = await createRoom(server);
    const token = await server.roomTokens.sign({
      room: room.id,
      role: "speaker",
      iv: 0,
      ttlS: 60,
      sub: "user-1",
      name: "Phone",
    });
    const first = await join(server, room.id, token);
    clients.push(first.client);
    const second = await join(server, room.id, token);
    clients.push(second.client);
    assertEquals((await first.client.nextOf("removed")).reason, "replaced");
    assertEquals((await first.client.closed).code, 4003);
    assertEquals(server.rooms.get(room.id)!.size, 1);
    const left = await second.client.request({ t: "leave" });
    assertEquals(left.t, "reply");
    assertEquals((await second.client.closed).code, 1000);
    assertEquals(server.rooms.get(room.id)!.size, 0);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await server.close();
  }
});

Deno.test("the endpoint: unknown room 404, no upgrade 426, a closing server ends the room", async () => {
  const server = await startLoopbackServer({ publishToken: TOKEN });
  let client: SignalClient | undefined;
  try {
    const missing = await fetch(`${server.url}/rooms/AAAAAAAAAAAAAAAA/signal`);
    assertEquals(missing.status, 404);
    assertEquals((await missing.json()).type, "https://quetzal.dev/problems/unknown-room");
    const room = await createRoom(server);
    const plain = await fetch(`${server.url}/rooms/${room.id}/signal`);
    assertEquals([plain.status, plain.headers.get("Upgrade")], [426, "websocket"]);
    await plain.body?.cancel();
    client = (await join(server, room.id, room.tokens.listener)).client;
    const closing = server.close();
    assertEquals((await client.nextOf("roomEnded")).reason, "shutdown");
    assertEquals((await client.closed).code, 4002);
    await closing;
  } finally {
    await client?.close();
    await server.close();
  }
});
