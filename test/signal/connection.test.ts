import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { RoomError } from "../../src/room/mod.ts";
import {
  type ClientMessage,
  CloseCode,
  MAX_FRAME_BYTES,
  type ReplyBody,
  type ServerMessage,
  ServerMessageSchema,
  SignalConnection,
  type SignalHandler,
} from "../../src/signal/mod.ts";

const JOINED: ReplyBody = {
  t: "joined",
  self: {
    id: "p1",
    name: "Ada",
    role: "speaker",
    hidden: false,
    hand: false,
    publishing: [],
    muted: [],
    locked: [],
  },
  room: {
    id: "r1",
    name: "",
    maxVideoPublishers: 30,
    maxParticipants: 1000,
    maxScreenShares: 2,
    audioSlots: 3,
    e2ee: false,
    joinMuted: false,
  },
  participants: [],
  listeners: 0,
  producers: [],
  speakers: [],
  hands: [],
  resumeToken: "t",
  resumed: false,
};

/** A connection over an in-memory "socket": frames out are parsed and schema-checked. */
function harness(
  handle: (m: ClientMessage) => ReplyBody | void | Promise<ReplyBody | void> = (m) =>
    m.t === "join" ? JOINED : undefined,
  clock = { now: 0 },
) {
  const out: ServerMessage[] = [];
  const closes: [number, string][] = [];
  const handled: ClientMessage[] = [];
  const errors: unknown[] = [];
  let closedCalls = 0;
  const handler: SignalHandler = {
    handle(m) {
      handled.push(m);
      return handle(m);
    },
    closed: () => closedCalls++,
  };
  const conn = new SignalConnection({
    send(frame) {
      const parsed = ServerMessageSchema.safeParse(JSON.parse(frame));
      assert(parsed.success, `the server sent a malformed message: ${frame}`);
      out.push(parsed.data);
    },
    close: (code, reason) => closes.push([code, reason]),
    handler,
    maxSdpBytes: 4096,
    now: () => clock.now,
    onError: (e) => errors.push(e),
  });
  const send = (value: unknown) => conn.receive(JSON.stringify(value));
  const join = async () => {
    send({ v: 1, t: "join", id: 0, token: "tok" });
    await conn.idle();
  };
  return { conn, out, closes, handled, errors, send, join, clock, closedCalls: () => closedCalls };
}

function last(out: ServerMessage[]): ServerMessage {
  assert(out.length > 0, "nothing was sent");
  return out[out.length - 1];
}

function errorOf(m: ServerMessage): { code: string; message: string } {
  if (m.t === "reply" && !m.ok) return m.error;
  if (m.t === "error") return m;
  throw new Error(`not an error: ${JSON.stringify(m)}`);
}

Deno.test("bad JSON and unknown types are refused; the connection stays usable", async () => {
  const h = harness();
  h.conn.receive("{not json");
  await h.conn.idle();
  assertEquals(last(h.out), {
    v: 1,
    t: "error",
    code: "bad-request",
    message: "the frame is not JSON",
  });
  h.send({ v: 1, t: "dance", id: 3 });
  await h.conn.idle();
  assertEquals(last(h.out).t, "reply");
  assertEquals((last(h.out) as { re: number }).re, 3);
  assertStringIncludes(errorOf(last(h.out)).message, 'unknown message type "dance"');
  h.send({ v: 1, t: "dance" });
  await h.conn.idle();
  assertEquals(last(h.out).t, "error");
  assertEquals((last(h.out) as { about?: string }).about, "dance");
  await h.join();
  assertEquals(last(h.out).t, "joined");
  assertEquals(h.closes, []);
});

Deno.test("a wrong version is unsupported-version, echoing the id", async () => {
  const h = harness();
  h.send({ v: 2, t: "join", id: 8, token: "x" });
  await h.conn.idle();
  assertEquals(last(h.out), {
    v: 1,
    t: "reply",
    re: 8,
    ok: false,
    error: {
      code: "unsupported-version",
      message: "version 2 is not supported; this server speaks v1",
    },
  });
});

Deno.test("oversized and binary frames close the connection", () => {
  const big = harness();
  big.conn.receive(JSON.stringify({ v: 1, t: "ping", pad: "x".repeat(MAX_FRAME_BYTES) }));
  assertStringIncludes(errorOf(last(big.out)).message, "at most 65536 bytes");
  assertEquals(big.closes, [[CloseCode.messageTooBig, "frame too big"]]);
  // Multi-byte characters count in bytes: 30k "€" are 90 KB though 30k UTF-16 units.
  const wide = harness();
  wide.conn.receive(JSON.stringify({ v: 1, t: "ping", pad: "€".repeat(30_000) }));
  assertEquals(wide.closes[0][0], CloseCode.messageTooBig);
  const binary = harness();
  binary.conn.receive(new Uint8Array([1, 2, 3]));
  assertEquals(binary.closes, [[CloseCode.unsupportedData, "binary frame"]]);
  assertEquals(binary.closedCalls(), 1);
  // After closing, nothing is handled or sent.
  binary.send({ v: 1, t: "ping", id: 1 });
  assertEquals(binary.out.length, 1);
});

Deno.test("order: ping before join, nothing else; one join; a refused join may be retried", async () => {
  let allow = false;
  const h = harness((m) => {
    if (m.t === "join" && !allow) throw new RoomError("unauthorized", "the token has expired");
    return m.t === "join" ? JOINED : undefined;
  });
  h.send({ v: 1, t: "ping", id: 1 });
  h.send({ v: 1, t: "mute", id: 2, source: "microphone", muted: true });
  h.send({ v: 1, t: "raiseHand", raised: true });
  h.send({ v: 1, t: "join", id: 3, token: "old" });
  await h.conn.idle();
  assertEquals(h.out.map((m) => m.t), ["pong", "reply", "error", "reply"]);
  assertEquals(h.out[0], { v: 1, t: "pong", re: 1 });
  assertEquals(errorOf(h.out[1]), { code: "bad-request", message: "join first" });
  assertEquals(errorOf(h.out[2]).message, "join first");
  assertEquals(errorOf(h.out[3]), { code: "unauthorized", message: "the token has expired" });
  assertEquals(h.handled.map((m) => m.t), ["join"]);
  assert(!h.conn.joined);
  allow = true;
  h.send({ v: 1, t: "join", id: 4, token: "new" });
  await h.conn.idle();
  assertEquals(last(h.out).t, "joined");
  assert(h.conn.joined);
  h.send({ v: 1, t: "join", id: 5, token: "new" });
  h.send({ v: 1, t: "mute", id: 6, source: "microphone", muted: true });
  await h.conn.idle();
  assertEquals(errorOf(h.out[h.out.length - 2]).code, "conflict");
  assertEquals(last(h.out), { v: 1, t: "reply", re: 6, ok: true });
});

Deno.test("messages are handled one at a time, in order; a reply echoes its request's id", async () => {
  const order: string[] = [];
  const h = harness(async (m) => {
    order.push(`start ${m.t}`);
    if (m.t === "offer") await new Promise((r) => setTimeout(r, 5));
    order.push(`end ${m.t}`);
    if (m.t === "offer") return { t: "answer", pc: "pub", sdp: "v=0\r\n" };
    return m.t === "join" ? JOINED : undefined;
  });
  await h.join();
  h.send({ v: 1, t: "offer", id: 10, pc: "pub", sdp: "v=0\r\n", sources: { "0": "camera" } });
  h.send({ v: 1, t: "candidate", pc: "pub", candidate: "" });
  // The same id while the first is still in flight.
  h.send({ v: 1, t: "setSubscription", id: 10, items: [] });
  await h.conn.idle();
  assertEquals(order.slice(2), ["start offer", "end offer", "start candidate", "end candidate"]);
  // Answers leave in the order the messages came: the answer, then the conflict.
  const replies = h.out.slice(1);
  assertEquals(replies[0], { v: 1, t: "answer", re: 10, pc: "pub", sdp: "v=0\r\n" });
  assertEquals(errorOf(replies[1]), {
    code: "conflict",
    message: "request id 10 is still in flight",
  });
  // The id is free again once answered.
  h.send({ v: 1, t: "setSubscription", id: 10, items: [] });
  await h.conn.idle();
  assertEquals(last(h.out), { v: 1, t: "reply", re: 10, ok: true });
});

Deno.test("a handler failure is internal (reported, not leaked); leave closes normally", async () => {
  const h = harness((m) => {
    if (m.t === "endRoom") throw new TypeError("secret detail");
    return m.t === "join" ? JOINED : undefined;
  });
  await h.join();
  h.send({ v: 1, t: "endRoom", id: 1 });
  h.send({ v: 1, t: "endRoom" });
  await h.conn.idle();
  assertEquals(errorOf(h.out[1]), {
    code: "internal",
    message: "the server failed to handle this message",
  });
  assertEquals(h.out[2].t, "error");
  assertEquals(h.errors.length, 2);
  h.send({ v: 1, t: "leave", id: 2 });
  await h.conn.idle();
  assertEquals(last(h.out), { v: 1, t: "reply", re: 2, ok: true });
  assertEquals(h.closes, [[CloseCode.normal, "left"]]);
  h.conn.push({ t: "roomEnded", reason: "api" });
  assertEquals(last(h.out).t, "reply");
  assertEquals(h.closedCalls(), 1);
});

Deno.test("a flood is throttled without harming another connection, then closed", async () => {
  const clock = { now: 0 };
  const flooder = harness(undefined, clock);
  const calm = harness(undefined, clock);
  await flooder.join();
  await calm.join();
  // The burst (40 with the join) passes; the next is refused with its id.
  for (let i = 1; i < 40; i++) flooder.send({ v: 1, t: "raiseHand", raised: false });
  await flooder.conn.idle();
  assertEquals(flooder.out.filter((m) => m.t === "error").length, 0);
  flooder.send({ v: 1, t: "ping", id: 77 });
  await flooder.conn.idle();
  assertEquals(last(flooder.out), {
    v: 1,
    t: "reply",
    re: 77,
    ok: false,
    error: { code: "rate-limited", message: "more than 20 messages per second" },
  });
  // The other connection is untouched.
  calm.send({ v: 1, t: "ping", id: 1 });
  await calm.conn.idle();
  assertEquals(last(calm.out), { v: 1, t: "pong", re: 1 });
  // 100 ms later two tokens have come back (20/s).
  clock.now = 100;
  flooder.send({ v: 1, t: "ping", id: 78 });
  flooder.send({ v: 1, t: "ping", id: 79 });
  flooder.send({ v: 1, t: "ping", id: 80 });
  await flooder.conn.idle();
  assertEquals(flooder.out.slice(-3).map((m) => m.t), ["pong", "pong", "reply"]);
  // Keeping on floods: closed with 1008 at the 100th refusal.
  for (let i = 0; i < 200 && flooder.closes.length === 0; i++) {
    flooder.send({ v: 1, t: "raiseHand", raised: false });
  }
  await flooder.conn.idle();
  assertEquals(flooder.closes, [[CloseCode.policyViolation, "rate limit exceeded"]]);
  const refused = flooder.out.filter((m) => m.t === "error" || (m.t === "reply" && !m.ok));
  // The flood's refusals were still queued at the close, and nothing is sent after it: the
  // two refusals are the ones before (ids 77 and 80).
  assertEquals(refused.length, 2);
  assertEquals(calm.closes, []);
});

Deno.test("a client that slows down is not closed: refusals count until its bucket is full", async () => {
  const clock = { now: 0 };
  const h = harness(undefined, clock);
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < 80; i++) h.send({ v: 1, t: "ping" });
    clock.now += 2_000; // a quiet 2 s refills the 40-message bucket
  }
  await h.conn.idle();
  assertEquals(h.closes, []);
});
