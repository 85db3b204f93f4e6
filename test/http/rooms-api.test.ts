/**
 * The rooms API on a real server: create, list, inspect and end rooms; operator auth; bad bodies
 * as problems; the room metrics.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import type { CreatedRoom, RoomDetail } from "../../src/http/rooms-api.ts";
import type { RoomInfo } from "../../src/room/mod.ts";
import type { ConfigInput } from "../../src/config.ts";
import type { RunningServer } from "../../src/server.ts";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { startLoopbackServer } from "../support/loopback-server.ts";
import { parseExposition } from "../support/prom-parse.ts";

loadLibsrtp();

const TOKEN = "publish-secret-token";

async function withServer(
  config: Partial<ConfigInput>,
  fn: (
    server: RunningServer,
    api: (path: string, init?: RequestInit) => Promise<Response>,
  ) => Promise<void>,
): Promise<void> {
  const server = await startLoopbackServer({ publishToken: TOKEN, ...config });
  const api = (path: string, init: RequestInit = {}) =>
    fetch(server.url + path, {
      ...init,
      headers: { Authorization: `Bearer ${TOKEN}`, ...init.headers },
    });
  try {
    await fn(server, api);
  } finally {
    await server.close();
  }
}

async function problem(res: Response, status: number, type: string): Promise<string> {
  const text = await res.text();
  assertEquals(res.status, status, text);
  assertEquals(res.headers.get("Content-Type"), "application/problem+json");
  const body = JSON.parse(text);
  assertEquals(body.type, `https://quetzal.dev/problems/${type}`);
  return body.detail;
}

function post(body: unknown): RequestInit {
  return {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  };
}

Deno.test("create, list, inspect and end a room; its tokens and links are per role", async () => {
  await withServer({}, async (server, api) => {
    const res = await api("/api/rooms", post({ name: "Standup", maxParticipants: 50 }));
    assertEquals(res.status, 201);
    const created: CreatedRoom = await res.json();
    assertMatch(created.id, /^[A-Za-z0-9_-]{16}$/);
    assertEquals(res.headers.get("Location"), `/api/rooms/${created.id}`);
    assertEquals(created.name, "Standup");
    for (const role of ["admin", "speaker", "listener"] as const) {
      const claims = await server.roomTokens.verify(created.tokens[role], {
        room: created.id,
        iv: 0,
      });
      assertEquals(claims.role, role);
      assertEquals(claims.exp, created.expiresAt);
      // The token rides in the fragment: browsers never send it to a server.
      assertEquals(
        created.links[role],
        `${server.url}/call/${created.id}#token=${created.tokens[role]}`,
      );
    }

    const room = server.rooms.get(created.id)!;
    room.join({ role: "admin", name: "Ada" });
    room.join({ role: "listener", hidden: true });
    room.join({ role: "listener", name: "Lin" });

    const list: { rooms: RoomInfo[] } = await (await api("/api/rooms")).json();
    assertEquals(list.rooms.map((r) => [r.id, r.name, r.participantCount]), [[
      created.id,
      "Standup",
      3,
    ]]);
    assertEquals(list.rooms[0].settings.maxParticipants, 50);
    assertEquals(list.rooms[0].settings.maxVideoPublishers, 30);

    const detail: RoomDetail = await (await api(`/api/rooms/${created.id}`)).json();
    assertEquals(detail.counts, { admin: 1, speaker: 0, listener: 2 });
    assertEquals(detail.hiddenListeners, 1);
    assertEquals(detail.participants.map((p) => [p.name, p.role, p.tracks]), [
      ["Ada", "admin", []],
      ["Lin", "listener", []],
    ]);

    const ended = await api(`/api/rooms/${created.id}`, { method: "DELETE" });
    assertEquals(ended.status, 204);
    await ended.body?.cancel();
    assert(room.ended && server.rooms.size === 0);
    await problem(await api(`/api/rooms/${created.id}`), 404, "unknown-room");
    await problem(await api(`/api/rooms/${created.id}`, { method: "DELETE" }), 404, "unknown-room");
    await problem(await api("/api/rooms/not%20an%20id"), 404, "unknown-room");
  });
});

Deno.test("rooms need the publish token, not the viewer token", async () => {
  await withServer({ viewerToken: "viewer-token" }, async (server, api) => {
    const none = await fetch(server.url + "/api/rooms", post({}));
    await problem(none, 401, "unauthorized");
    const viewer = await fetch(server.url + "/api/rooms", {
      headers: { Authorization: "Bearer viewer-token" },
    });
    await problem(viewer, 401, "unauthorized");
    const created = await api("/api/rooms", post({}));
    assertEquals(created.status, 201);
    await created.body?.cancel();
    const list = await api("/api/rooms");
    assertEquals(list.status, 200);
    await list.body?.cancel();
    // The stream API still takes the viewer token.
    const streams = await fetch(server.url + "/api/streams", {
      headers: { Authorization: "Bearer viewer-token" },
    });
    assertEquals(streams.status, 200);
    await streams.body?.cancel();
  });
});

Deno.test("bad bodies are problems that say what is wrong; an empty body takes the defaults", async () => {
  await withServer({}, async (_server, api) => {
    await problem(await api("/api/rooms", post("{name:")), 400, "bad-json");
    const cases: [unknown, string][] = [
      [{ maxParticipant: 5 }, 'Unrecognized key: "maxParticipant"'],
      [{ maxParticipants: 0 }, "maxParticipants"],
      [{ maxVideoPublishers: "30" }, "maxVideoPublishers"],
      [{ e2ee: "yes" }, "e2ee"],
      [{ audioSlots: 11 }, "audioSlots"],
      [{ name: "" }, "name"],
      [[], "body"],
    ];
    for (const [body, includes] of cases) {
      const detail = await problem(await api("/api/rooms", post(body)), 400, "bad-room-request");
      assertStringIncludes(detail, includes, JSON.stringify(body));
    }
    await problem(
      await api("/api/rooms", post({ name: "x".repeat(20_000) })),
      413,
      "body-too-large",
    );
    const empty = await api("/api/rooms", { method: "POST" });
    assertEquals(empty.status, 201);
    const created: CreatedRoom = await empty.json();
    assertEquals(created.name, "");
  });
});

Deno.test("--max-rooms: beyond it, 503; --public-url sets the links' base", async () => {
  await withServer(
    { maxRooms: 1, publicUrl: "https://calls.example.org/" },
    async (_server, api) => {
      const first: CreatedRoom = await (await api("/api/rooms", post({}))).json();
      assert(first.links.speaker.startsWith(`https://calls.example.org/call/${first.id}#token=`));
      const second = await api("/api/rooms", post({}));
      assertEquals(second.headers.get("Retry-After"), "60");
      assertStringIncludes(await problem(second, 503, "over-capacity"), "1 rooms");
    },
  );
});

Deno.test("metrics: quetzal_rooms and quetzal_participants{role}, no room ids", async () => {
  await withServer({}, async (server, api) => {
    const created: CreatedRoom = await (await api("/api/rooms", post({}))).json();
    const room = server.rooms.get(created.id)!;
    room.join({ role: "speaker" });
    room.join({ role: "listener" });
    room.join({ role: "listener", hidden: true });
    const text = await (await fetch(server.url + "/metrics")).text();
    assert(!text.includes(created.id));
    const families = parseExposition(text);
    assertEquals(families.get("quetzal_rooms")!.samples.map((s) => s.value), [1]);
    const byRole = Object.fromEntries(
      families.get("quetzal_participants")!.samples.map((s) => [s.labels.role, s.value]),
    );
    assertEquals(byRole, { admin: 0, speaker: 1, listener: 2 });
  });
});
