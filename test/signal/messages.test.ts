import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import {
  CLIENT_MESSAGE_TYPES,
  type ClientMessageType,
  clientParser,
  type ParseResult,
  type ServerMessage,
  ServerMessageSchema,
  utf8Length,
} from "../../src/signal/mod.ts";

const SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";
const parse = clientParser({ maxSdpBytes: 2048 });

/** A valid example of every client message (the test checks that none is missing). */
const VALID: Record<ClientMessageType, Record<string, unknown>> = {
  join: { v: 1, t: "join", id: 1, token: "eyJ.x.y", name: " Ada ", resume: "r-token" },
  offer: {
    v: 1,
    t: "offer",
    id: 2,
    pc: "pub",
    sdp: SDP,
    sources: { "0": "microphone", "1": "camera" },
  },
  answer: { v: 1, t: "answer", pc: "sub", rev: 3, sdp: SDP },
  candidate: {
    v: 1,
    t: "candidate",
    pc: "pub",
    candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host",
    sdpMid: "0",
  },
  setSubscription: {
    v: 1,
    t: "setSubscription",
    id: 4,
    items: [
      { participant: "p2", source: "camera", maxHeight: 360 },
      { participant: "p2", source: "screen", maxHeight: 1080, stage: true },
      { participant: "p3", source: "camera", maxHeight: 0 },
    ],
  },
  mute: { v: 1, t: "mute", source: "microphone", muted: true },
  raiseHand: { v: 1, t: "raiseHand", raised: true },
  ping: { v: 1, t: "ping", id: 5 },
  restartIce: { v: 1, t: "restartIce", pc: "sub" },
  leave: { v: 1, t: "leave" },
  promote: { v: 1, t: "promote", participant: "p2" },
  demote: { v: 1, t: "demote", participant: "p2", role: "speaker" },
  muteParticipant: { v: 1, t: "muteParticipant", participant: "p2", source: "camera" },
  remove: { v: 1, t: "remove", participant: "p2" },
  endRoom: { v: 1, t: "endRoom", id: 6 },
  createInvite: { v: 1, t: "createInvite", id: 7, role: "listener", expiresInS: 3600 },
  resetInvites: { v: 1, t: "resetInvites" },
};

/** Invalid variants of every client message, with what the error must say. */
const INVALID: Record<ClientMessageType, [Record<string, unknown>, string][]> = {
  join: [
    [{ v: 1, t: "join", token: "x" }, "id"],
    [{ v: 1, t: "join", id: 1 }, "token"],
    [{ v: 1, t: "join", id: 1, token: "x", name: "   " }, "name"],
  ],
  offer: [
    [{ ...VALID.offer, pc: "sub" }, 'only on pc "pub"'],
    [{ ...VALID.offer, sdp: "hello" }, "v=0"],
    [{ ...VALID.offer, sdp: SDP + "a=x\r\n".repeat(500) }, "larger than 2048 bytes"],
    [{ ...VALID.offer, sources: { "0": "webcam" } }, "sources.0"],
    [{ ...VALID.offer, sources: { "bad mid": "camera" } }, "mid"],
    [{ ...VALID.offer, id: undefined }, "id"],
  ],
  answer: [
    [{ ...VALID.answer, pc: "pub" }, 'only on pc "sub"'],
    [{ ...VALID.answer, rev: 0 }, "rev"],
    [{ ...VALID.answer, rev: 1.5 }, "rev"],
  ],
  candidate: [
    [{ ...VALID.candidate, pc: "both" }, "pc"],
    [{ ...VALID.candidate, candidate: "x".repeat(1025) }, "candidate"],
  ],
  setSubscription: [
    [
      {
        ...VALID.setSubscription,
        items: [{ participant: "p2", source: "camera", maxHeight: 480 }],
      },
      "maxHeight of 0, 180",
    ],
    [{
      ...VALID.setSubscription,
      items: [{ participant: "p2", source: "microphone", maxHeight: 0 }],
    }, "audio slots"],
    [{
      ...VALID.setSubscription,
      items: [{ participant: "p2", source: "camera", maxHeight: 0 }, {
        participant: "p2",
        source: "camera",
        maxHeight: 180,
      }],
    }, "once"],
    [
      {
        ...VALID.setSubscription,
        items: [{ participant: "../x", source: "camera", maxHeight: 0 }],
      },
      "participant",
    ],
    [{ ...VALID.setSubscription, items: "all" }, "items"],
  ],
  mute: [[{ ...VALID.mute, muted: "yes" }, "muted"], [
    { ...VALID.mute, source: "voice" },
    "source",
  ]],
  raiseHand: [[{ v: 1, t: "raiseHand" }, "raised"]],
  ping: [[{ v: 1, t: "ping", id: -1 }, "id"]],
  restartIce: [[{ v: 1, t: "restartIce", pc: "pub" }, "re-offer"]],
  leave: [[{ v: 1, t: "leave", id: "one" }, "id"]],
  promote: [[{ v: 1, t: "promote" }, "participant"], [
    { ...VALID.promote, role: "listener" },
    "role",
  ]],
  demote: [[{ ...VALID.demote, role: "admin" }, "role"]],
  muteParticipant: [[{ v: 1, t: "muteParticipant", participant: "p2" }, "source"]],
  remove: [[{ v: 1, t: "remove", participant: "" }, "participant"]],
  endRoom: [[{ v: 1, t: "endRoom", id: 1.5 }, "id"]],
  createInvite: [
    [{ ...VALID.createInvite, expiresInS: 10 }, "expiresInS"],
    [{ ...VALID.createInvite, expiresInS: 31 * 86400 }, "expiresInS"],
    [{ ...VALID.createInvite, role: "owner" }, "role"],
  ],
  resetInvites: [[{ v: 1, t: "resetInvites", id: null }, "id"]],
};

function refusal(result: ParseResult): Exclude<ParseResult, { ok: true }> {
  assert(!result.ok, "expected a refusal");
  return result;
}

Deno.test("every client message type has valid and invalid examples", () => {
  assertEquals(Object.keys(VALID).sort(), [...CLIENT_MESSAGE_TYPES].sort());
  assertEquals(Object.keys(INVALID).sort(), [...CLIENT_MESSAGE_TYPES].sort());
});

Deno.test("valid client messages parse, with defaults and unknown keys stripped", () => {
  for (const [t, value] of Object.entries(VALID)) {
    const result = parse({ ...value, extra: "dropped" });
    assert(result.ok, `${t}: ${!result.ok && result.error.message}`);
    assertEquals(result.message.t, t);
    assert(!("extra" in result.message), `${t} kept an unknown key`);
  }
  const join = parse(VALID.join);
  assert(join.ok && join.message.t === "join" && join.message.name === "Ada");
  const sub = parse(VALID.setSubscription);
  assert(sub.ok && sub.message.t === "setSubscription");
  assertEquals(sub.message.items.map((i) => i.stage), [false, true, false]);
  const promote = parse(VALID.promote);
  assert(promote.ok && promote.message.t === "promote" && promote.message.role === "speaker");
  const mute = parse(VALID.muteParticipant);
  assert(mute.ok && mute.message.t === "muteParticipant" && mute.message.muted === true);
});

Deno.test("invalid client messages are bad-request naming the field, echoing a usable id", () => {
  for (const [t, cases] of Object.entries(INVALID)) {
    for (const [value, includes] of cases) {
      const result = refusal(parse(value));
      assertEquals(result.error.code, "bad-request", `${t}: ${result.error.message}`);
      assertStringIncludes(result.error.message, includes, `${t}`);
      assertStringIncludes(result.error.message, `${t}:`);
      assertEquals(result.about, t);
      const id = value.id;
      assertEquals(
        result.re,
        typeof id === "number" && Number.isInteger(id) && id >= 0 ? id : undefined,
      );
    }
  }
});

Deno.test("envelope: unknown type, missing or other version, not an object", () => {
  const unknown = refusal(parse({ v: 1, t: "subscribe", id: 9 }));
  assertEquals([unknown.error.code, unknown.re], ["bad-request", 9]);
  assertStringIncludes(unknown.error.message, 'unknown message type "subscribe"');
  const v2 = refusal(parse({ v: 2, t: "join", id: 1, token: "x" }));
  assertEquals([v2.error.code, v2.re], ["unsupported-version", 1]);
  assertStringIncludes(v2.error.message, "speaks v1");
  assertEquals(refusal(parse({ v: "1", t: "ping" })).error.code, "unsupported-version");
  assertStringIncludes(refusal(parse({ t: "ping" })).error.message, '"v": 1');
  assertStringIncludes(refusal(parse({ v: 1 })).error.message, '"t"');
  assertStringIncludes(refusal(parse({ v: 1, t: 7 })).error.message, '"t"');
  for (const value of [null, [], "join", 1]) {
    assertStringIncludes(refusal(parse(value)).error.message, "JSON object");
  }
  // A long unknown type is cut short in the reply.
  const long = refusal(parse({ v: 1, t: "x".repeat(1000) }));
  assert(long.error.message.length < 100);
});

Deno.test("utf8Length counts like TextEncoder", () => {
  for (const s of ["", "abc", "é", "€", "😀", "a😀é€", "\ud800", "\ud800x", "x\udc00", "\ud83d"]) {
    assertEquals(utf8Length(s), new TextEncoder().encode(s).length, JSON.stringify(s));
  }
});

const participant = {
  id: "p1",
  name: "Ada",
  role: "speaker" as const,
  hidden: false,
  hand: false,
  publishing: ["microphone" as const],
  muted: [],
  locked: [],
};

/** One example of every server message, typed: the compiler checks each is well formed. */
const SERVER_EXAMPLES: ServerMessage[] = [
  {
    v: 1,
    t: "joined",
    re: 1,
    self: participant,
    room: {
      id: "r1",
      name: "Standup",
      maxVideoPublishers: 30,
      maxParticipants: 1000,
      maxScreenShares: 2,
      audioSlots: 3,
      e2ee: false,
      joinMuted: false,
    },
    participants: [participant],
    listeners: 12,
    producers: [{ id: "c2", participant: "p2", source: "camera", muted: false }],
    speakers: [{ participant: "p2", level: 0.5 }],
    hands: [],
    resumeToken: "abc",
    resumed: false,
  },
  { v: 1, t: "reply", re: 2, ok: true },
  { v: 1, t: "reply", re: 3, ok: false, error: { code: "room-full", message: "full" } },
  { v: 1, t: "invite", re: 4, role: "listener", token: "eyJ", expiresAt: 1_800_000_000 },
  { v: 1, t: "answer", re: 5, pc: "pub", sdp: SDP },
  { v: 1, t: "pong", re: 6 },
  { v: 1, t: "pong" },
  { v: 1, t: "participants", joined: [participant], left: ["p9"], updated: [], listeners: 3 },
  {
    v: 1,
    t: "offer",
    pc: "sub",
    rev: 1,
    sdp: SDP,
    bound: [
      { mid: "a0", kind: "audio", participant: null, source: null },
      { mid: "v0", kind: "video", participant: "p2", source: "camera" },
    ],
  },
  {
    v: 1,
    t: "candidate",
    pc: "sub",
    candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host",
    sdpMid: "0",
  },
  { v: 1, t: "producers", added: [], removed: ["c2"] },
  { v: 1, t: "bound", bound: [{ mid: "v1", kind: "video", participant: "p3", source: "screen" }] },
  {
    v: 1,
    t: "activeSpeakers",
    speakers: [{ participant: "p2", level: 1 }],
    slots: { a0: "p2", a1: null },
  },
  { v: 1, t: "senderConstraint", source: "camera", maxHeight: 360 },
  { v: 1, t: "roleChanged", participant: "p1", role: "speaker", by: "p0" },
  { v: 1, t: "muted", source: "microphone", by: "p0" },
  { v: 1, t: "removed", reason: "removed", by: "p0" },
  { v: 1, t: "roomEnded", reason: "emptyTimeout" },
  { v: 1, t: "error", code: "rate-limited", message: "slow down", about: "mute" },
];

Deno.test("every server message type survives structuredClone and JSON unchanged, and validates", () => {
  const types = new Set(ServerMessageSchema.options.map((o) => o.shape.t.value));
  assertEquals(new Set(SERVER_EXAMPLES.map((m) => m.t)), types);
  for (const message of SERVER_EXAMPLES) {
    assertEquals(structuredClone(message), message, message.t);
    assertEquals(JSON.parse(JSON.stringify(message)), message, message.t);
    const parsed = ServerMessageSchema.safeParse(message);
    assert(parsed.success, `${message.t}: ${!parsed.success && parsed.error.message}`);
    assertEquals(parsed.data, message, message.t);
  }
});

Deno.test("the server schema rejects malformed server messages", () => {
  const bad: unknown[] = [
    { v: 1, t: "reply", re: 1, ok: false },
    { v: 1, t: "reply", ok: true },
    { v: 1, t: "senderConstraint", source: "camera", maxHeight: 480 },
    { v: 1, t: "error", code: "oops", message: "x" },
    { v: 2, t: "pong" },
  ];
  for (const value of bad) {
    assert(!ServerMessageSchema.safeParse(value).success, JSON.stringify(value));
  }
});
