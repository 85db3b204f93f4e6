/**
 * Room signalling without sockets: seats held after a drop, resume, the departure timeout, and
 * the media seam's calls. Timers are fakes fired by hand.
 */
import { assert, assertEquals } from "@std/assert";
import { RoomRegistry, RoomTokens, type Timers } from "../../src/room/mod.ts";
import {
  type MediaMessage,
  RoomSignalling,
  type ServerMessage,
  ServerMessageSchema,
  type SignalConnection,
  SignalError,
} from "../../src/signal/mod.ts";

const SECRET = "a-room-secret-of-at-least-32-characters!";

class FakeTimers implements Timers {
  #next = 1;
  readonly pending = new Map<number, { fn: () => void; ms: number }>();
  setTimeout(fn: () => void, ms: number): number {
    this.pending.set(this.#next, { fn, ms });
    return this.#next++;
  }
  clearTimeout(id: number): void {
    this.pending.delete(id);
  }
  /** Fires the pending timers of exactly `ms`. */
  fire(ms: number): void {
    for (const [id, t] of [...this.pending]) {
      if (t.ms !== ms) continue;
      this.pending.delete(id);
      t.fn();
    }
  }
}

async function setup(media = false) {
  const timers = new FakeTimers();
  const rooms = new RoomRegistry({ maxRooms: 10, timers });
  const tokens = await RoomTokens.create([SECRET]);
  const calls: string[] = [];
  const signalling = new RoomSignalling({
    rooms,
    tokens,
    maxSdpBytes: 4096,
    timers,
    media: media
      ? () => ({
        handle(p, m: MediaMessage) {
          if (m.t === "offer" && m.sdp.includes("m=nothing")) {
            return Promise.reject(new SignalError("bad-request", "no codec to forward"));
          }
          calls.push(`${m.t} ${p.name}`);
          return Promise.resolve(
            m.t === "offer"
              ? { t: "answer" as const, pc: "pub" as const, sdp: "v=0\r\n" }
              : undefined,
          );
        },
        mute: (p, source, muted) => calls.push(`mute ${p.name} ${source} ${muted}`),
        unpublish: (p, sources) => calls.push(`unpublish ${p.name} ${sources.join(",")}`),
        leave: (p) => calls.push(`leave ${p.name}`),
      })
      : undefined,
  });
  const room = rooms.create({ settings: { persistent: true } });
  const token = (role: "admin" | "speaker" | "listener", name: string) =>
    tokens.sign({ room: room.id, role, iv: 0, ttlS: 600, name });
  return { timers, rooms, tokens, signalling, room, token, calls };
}

/** A connection over an in-memory transport. */
function connect(signalling: RoomSignalling, roomId: string) {
  const out: ServerMessage[] = [];
  const closes: number[] = [];
  let id = 1;
  const conn: SignalConnection = signalling.connect(roomId, {
    send(frame) {
      const parsed = ServerMessageSchema.safeParse(JSON.parse(frame));
      assert(parsed.success, frame);
      out.push(parsed.data);
    },
    close: (code) => {
      closes.push(code);
    },
  });
  const request = async (message: Record<string, unknown>) => {
    const rid = id++;
    conn.receive(JSON.stringify({ v: 1, ...message, id: rid }));
    await conn.idle();
    const answer = out.find((m) => "re" in m && m.re === rid);
    assert(answer, `no answer to ${message.t}`);
    return answer;
  };
  /** The socket went away without `leave`. */
  const drop = () => conn.transportClosed(1006, "");
  return { conn, out, closes, request, drop };
}

Deno.test("a dropped socket's seat is held; join with resume takes it back with a new token", async () => {
  const { signalling, room, token, timers } = await setup();
  const a = connect(signalling, room.id);
  const joined = await a.request({ t: "join", token: await token("speaker", "Ada") });
  assert(joined.t === "joined" && !joined.resumed);
  a.drop();
  assertEquals([room.size, signalling.held], [1, 1]);
  assertEquals([...timers.pending.values()].map((t) => t.ms), [20_000]);

  const b = connect(signalling, room.id);
  const back = await b.request({
    t: "join",
    token: await token("speaker", "Ada"),
    resume: joined.resumeToken,
  });
  assert(back.t === "joined");
  assertEquals([back.resumed, back.self.id], [true, joined.self.id]);
  assert(back.resumeToken !== joined.resumeToken);
  assertEquals([room.size, signalling.held, timers.pending.size], [1, 0, 0]);

  // The old token is spent: it makes a fresh seat.
  const c = connect(signalling, room.id);
  const fresh = await c.request({
    t: "join",
    token: await token("listener", "Eve"),
    resume: joined.resumeToken,
  });
  assert(fresh.t === "joined" && !fresh.resumed && fresh.self.id !== joined.self.id);
  signalling.close();
});

Deno.test("resuming a seat whose socket is still open takes it over and closes the old one", async () => {
  const { signalling, room, token } = await setup();
  const a = connect(signalling, room.id);
  const joined = await a.request({ t: "join", token: await token("speaker", "Ada") });
  assert(joined.t === "joined");
  const b = connect(signalling, room.id);
  const back = await b.request({
    t: "join",
    token: await token("speaker", "Ada"),
    resume: joined.resumeToken,
  });
  assert(back.t === "joined" && back.resumed);
  assertEquals(a.closes, [4003]);
  assertEquals(a.out.at(-1), { v: 1, t: "removed", reason: "replaced", by: null });
  assertEquals([room.size, signalling.held], [1, 0]);
  // The seat works from the new connection.
  assertEquals((await b.request({ t: "mute", source: "microphone", muted: true })).t, "reply");
  signalling.close();
});

Deno.test("after the departure timeout the participant leaves and the others are told", async () => {
  const { signalling, room, token, timers } = await setup(true);
  const watcher = connect(signalling, room.id);
  await watcher.request({ t: "join", token: await token("admin", "Obs") });
  const a = connect(signalling, room.id);
  const joined = await a.request({ t: "join", token: await token("speaker", "Ada") });
  assert(joined.t === "joined");
  timers.fire(250);
  a.drop();
  timers.fire(250);
  // Nobody hears of a held seat.
  assert(!watcher.out.some((m) => m.t === "participants" && m.left.length > 0));
  timers.fire(20_000);
  assertEquals([room.size, signalling.held], [1, 0]);
  timers.fire(250);
  const batch = watcher.out.at(-1);
  assert(batch?.t === "participants");
  assertEquals(batch.left, [joined.self.id]);
  const late = connect(signalling, room.id);
  const fresh = await late.request({
    t: "join",
    token: await token("speaker", "Ada"),
    resume: joined.resumeToken,
  });
  assert(fresh.t === "joined" && !fresh.resumed);
  signalling.close();
});

Deno.test("the media seam: offers after the policy checks, unpublish on demotion, leave once", async () => {
  const { signalling, room, token, calls } = await setup(true);
  const admin = connect(signalling, room.id);
  await admin.request({ t: "join", token: await token("admin", "Obs") });
  const s = connect(signalling, room.id);
  const joined = await s.request({ t: "join", token: await token("speaker", "Sam") });
  assert(joined.t === "joined");
  const offer = {
    t: "offer",
    pc: "pub",
    sdp: "v=0\r\n",
    sources: { "0": "microphone", "1": "camera" },
  };
  assertEquals((await s.request(offer)).t, "answer");
  // A failed re-offer leaves what was published before.
  const failed = await s.request({
    ...offer,
    sdp: "v=0\r\nm=nothing\r\n",
    sources: { "0": "microphone", "1": "camera", "2": "screen" },
  });
  assert(failed.t === "reply" && !failed.ok && failed.error.message === "no codec to forward");
  assertEquals([...room.participant(joined.self.id)!.publishing], ["microphone", "camera"]);
  const l = connect(signalling, room.id);
  await l.request({ t: "join", token: await token("listener", "Lin") });
  const refused = await l.request(offer);
  assert(refused.t === "reply" && !refused.ok && refused.error.code === "forbidden");
  await s.request({ t: "mute", source: "camera", muted: true });
  await admin.request({ t: "muteParticipant", participant: joined.self.id, source: "microphone" });
  await admin.request({ t: "demote", participant: joined.self.id });
  await s.request({ t: "leave" });
  assertEquals(calls, [
    "offer Sam",
    "mute Sam camera true",
    "mute Sam microphone true",
    "unpublish Sam microphone,camera",
    "leave Sam",
  ]);
  assertEquals(s.closes, [1000]);
  signalling.close();
});
