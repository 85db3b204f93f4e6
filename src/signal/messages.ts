/**
 * Signalling protocol v1 (rooms.md §6; the reference is docs/signalling.md): zod schemas for
 * every message in both directions, and the parser that turns a decoded frame into a typed
 * client message or a typed refusal.
 *
 * Envelope: `{ v: 1, t, id?, re? }`. A client message with `id` is a request and gets exactly
 * one message with `re` equal to it (`joined`, `answer`, `invite`, `pong` or `reply`); `join`,
 * `offer` and `createInvite` must have one. Unknown keys are stripped; an unknown `t` is
 * `bad-request`, another `v` `unsupported-version`. A breaking change is `v: 2`, served beside v1.
 *
 * @example
 * const parse = clientParser({ maxSdpBytes: 65536 });
 * const result = parse(JSON.parse(frame));
 */
import { z } from "zod";
import { ID_PATTERN, ROLES, SOURCES } from "../room/mod.ts";
import { ERROR_CODES, SignalError } from "./codes.ts";

export const PROTOCOL_VERSION = 1;

/** Largest frame accepted, in bytes (UTF-8). */
export const MAX_FRAME_BYTES = 64 * 1024;

/** Tile heights a subscriber may ask for; 0 pauses the track (rooms.md §8). */
export const MAX_HEIGHTS = [0, 180, 360, 720, 1080] as const;
export type MaxHeight = typeof MAX_HEIGHTS[number];

/** Most items in one `setSubscription`: 30 cameras + 2 screens with audio, with room to spare. */
export const MAX_SUBSCRIPTION_ITEMS = 256;

/** Longest accepted invite lifetime: 30 days. */
export const MAX_INVITE_TTL_S = 30 * 24 * 3600;

// ── Shared parts ────────────────────────────────────────────────────────────────────────────

const Id = z.string().regex(ID_PATTERN, "expected an id of 1–64 characters A–Z a–z 0–9 _ -");
/** RFC 8843 §15 allows more token characters; browsers use digits, ours are short too. */
const Mid = z.string().regex(/^[A-Za-z0-9_.~-]{1,32}$/, "expected a mid of 1–32 characters");
const Source = z.enum(SOURCES);
const Role = z.enum(ROLES);
const RequestId = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const MaxHeightSchema = z.literal(MAX_HEIGHTS, {
  error: `expected a maxHeight of ${MAX_HEIGHTS.join(", ")}`,
});
const Pc = z.enum(["pub", "sub"]);
const Name = z.string().trim().min(1).max(64);

function sdp(maxSdpBytes: number) {
  return z.string().refine((s) => s.startsWith("v=0"), "an SDP starts with v=0").refine(
    (s) => utf8Length(s) <= maxSdpBytes,
    `the SDP is larger than ${maxSdpBytes} bytes`,
  );
}

/** UTF-8 length, as TextEncoder would encode `s` (a lone surrogate becomes U+FFFD), without encoding. */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

// ── Client → server ─────────────────────────────────────────────────────────────────────────

const request = { v: z.literal(1), id: RequestId };
const message = { v: z.literal(1), id: RequestId.optional() };

const SubscriptionItem = z.object({
  participant: Id,
  source: z.enum(["camera", "screen", "screenAudio"], {
    error: "expected camera, screen or screenAudio (microphones arrive in audio slots)",
  }),
  maxHeight: MaxHeightSchema,
  /** Pinned: first in bandwidth order, never paused for bandwidth. */
  stage: z.boolean().default(false),
});

/** The client-message schema for a server whose SDP limit is `maxSdpBytes`. */
export function clientMessageSchema(maxSdpBytes: number) {
  const Sdp = sdp(maxSdpBytes);
  return z.discriminatedUnion("t", [
    z.object({
      ...request,
      t: z.literal("join"),
      token: z.string().min(1).max(8192),
      name: Name.optional(),
      /** The resume token of a seat held after a drop: resumes it if still held. */
      resume: z.string().min(1).max(64).optional(),
    }),
    z.object({
      ...request,
      t: z.literal("offer"),
      pc: z.literal("pub", { error: 'the client offers only on pc "pub"' }),
      sdp: Sdp,
      sources: z.record(Mid, Source).refine(
        (r) => Object.keys(r).length <= 8,
        "at most 8 m-lines are published",
      ),
    }),
    z.object({
      ...message,
      t: z.literal("answer"),
      pc: z.literal("sub", { error: 'the client answers only on pc "sub"' }),
      rev: z.number().int().min(1),
      sdp: Sdp,
    }),
    z.object({
      ...message,
      t: z.literal("candidate"),
      pc: Pc,
      /** An a=candidate value without "a="; empty: end of candidates. */
      candidate: z.string().max(1024),
      sdpMid: Mid.nullable().optional(),
      sdpMLineIndex: z.number().int().min(0).max(255).nullable().optional(),
      usernameFragment: z.string().max(256).nullable().optional(),
    }),
    z.object({
      ...message,
      t: z.literal("setSubscription"),
      items: z.array(SubscriptionItem).max(MAX_SUBSCRIPTION_ITEMS).refine(
        (items) => new Set(items.map((i) => `${i.participant}/${i.source}`)).size === items.length,
        "each participant and source may appear once",
      ),
    }),
    z.object({ ...message, t: z.literal("mute"), source: Source, muted: z.boolean() }),
    z.object({ ...message, t: z.literal("raiseHand"), raised: z.boolean() }),
    z.object({ ...message, t: z.literal("ping") }),
    z.object({
      ...message,
      t: z.literal("restartIce"),
      pc: z.literal("sub", { error: 'restartIce is for pc "sub"; re-offer to restart "pub"' }),
    }),
    z.object({ ...message, t: z.literal("leave") }),
    // Admins (rooms.md §9); the Room checks the role.
    z.object({
      ...message,
      t: z.literal("promote"),
      participant: Id,
      role: z.enum(["speaker", "admin"]).default("speaker"),
    }),
    z.object({
      ...message,
      t: z.literal("demote"),
      participant: Id,
      role: z.enum(["speaker", "listener"]).default("listener"),
    }),
    z.object({
      ...message,
      t: z.literal("muteParticipant"),
      participant: Id,
      source: Source,
      /** false lifts the lock (the participant may unmute); nobody is unmuted remotely. */
      muted: z.boolean().default(true),
    }),
    z.object({ ...message, t: z.literal("remove"), participant: Id }),
    z.object({ ...message, t: z.literal("endRoom") }),
    z.object({
      ...request,
      t: z.literal("createInvite"),
      role: Role,
      expiresInS: z.number().int().min(60).max(MAX_INVITE_TTL_S),
    }),
    z.object({ ...message, t: z.literal("resetInvites") }),
  ]);
}

export type ClientMessageSchema = ReturnType<typeof clientMessageSchema>;
/** A parsed client message (defaults applied, unknown keys gone). */
export type ClientMessage = z.output<ClientMessageSchema>;
export type ClientMessageType = ClientMessage["t"];
/** The client message of type `T`. */
export type ClientMessageOf<T extends ClientMessageType> = Extract<ClientMessage, { t: T }>;

/** Every client message type, in the order of the schema. */
export const CLIENT_MESSAGE_TYPES: readonly ClientMessageType[] = clientMessageSchema(1024)
  .options.map((o) => o.shape.t.value);

// ── Server → client ─────────────────────────────────────────────────────────────────────────

export const ParticipantInfoSchema = z.object({
  id: Id,
  name: z.string(),
  role: Role,
  hidden: z.boolean(),
  hand: z.boolean(),
  publishing: z.array(Source),
  muted: z.array(Source),
  locked: z.array(Source),
});

/** A published track. */
export const ProducerInfoSchema = z.object({
  id: Id,
  participant: Id,
  source: Source,
  muted: z.boolean(),
});

/** What an m-line of the subscribe PC carries; `participant` null: idle (or an audio slot). */
export const BindingSchema = z.object({
  mid: Mid,
  kind: z.enum(["audio", "video"]),
  participant: Id.nullable(),
  source: Source.nullable(),
});

const SpeakerSchema = z.object({ participant: Id, level: z.number().min(0).max(1) });

export const ErrorBodySchema = z.object({ code: z.enum(ERROR_CODES), message: z.string() });

const server = { v: z.literal(1) };
const reply = { v: z.literal(1), re: RequestId };

export const ServerMessageSchema = z.union([
  z.object({
    ...reply,
    t: z.literal("joined"),
    self: ParticipantInfoSchema,
    room: z.object({
      id: Id,
      name: z.string(),
      maxVideoPublishers: z.number().int(),
      maxParticipants: z.number().int(),
      maxScreenShares: z.number().int(),
      audioSlots: z.number().int(),
      e2ee: z.boolean(),
      joinMuted: z.boolean(),
    }),
    /** Visible participants, self included. */
    participants: z.array(ParticipantInfoSchema),
    /** Hidden listeners (a count only). */
    listeners: z.number().int().min(0),
    producers: z.array(ProducerInfoSchema),
    speakers: z.array(SpeakerSchema),
    /** Raised hands in order; admins only (empty for others). */
    hands: z.array(Id),
    /** Send as `join.resume` on a new socket to keep this seat (single use, rotated). */
    resumeToken: z.string(),
    /** This join resumed a held seat (the PCs may still be up). */
    resumed: z.boolean(),
  }),
  z.object({ ...reply, t: z.literal("reply"), ok: z.literal(true) }),
  z.object({ ...reply, t: z.literal("reply"), ok: z.literal(false), error: ErrorBodySchema }),
  z.object({
    ...reply,
    t: z.literal("invite"),
    role: Role,
    token: z.string(),
    /** Seconds since the Unix epoch. */
    expiresAt: z.number().int(),
  }),
  z.object({ ...reply, t: z.literal("answer"), pc: z.literal("pub"), sdp: z.string() }),
  z.object({ ...server, t: z.literal("pong"), re: RequestId.optional() }),
  z.object({
    ...server,
    t: z.literal("participants"),
    joined: z.array(ParticipantInfoSchema),
    left: z.array(Id),
    updated: z.array(ParticipantInfoSchema),
    listeners: z.number().int().min(0),
  }),
  z.object({
    ...server,
    t: z.literal("offer"),
    pc: z.literal("sub"),
    rev: z.number().int().min(1),
    sdp: z.string(),
    bound: z.array(BindingSchema),
  }),
  z.object({
    ...server,
    t: z.literal("candidate"),
    pc: Pc,
    candidate: z.string(),
    sdpMid: Mid.nullable().optional(),
    sdpMLineIndex: z.number().int().min(0).nullable().optional(),
  }),
  z.object({
    ...server,
    t: z.literal("producers"),
    added: z.array(ProducerInfoSchema),
    removed: z.array(Id),
  }),
  z.object({ ...server, t: z.literal("bound"), bound: z.array(BindingSchema) }),
  z.object({
    ...server,
    t: z.literal("activeSpeakers"),
    speakers: z.array(SpeakerSchema),
    /** Audio slot mid → whose voice it carries now. */
    slots: z.record(Mid, Id.nullable()),
  }),
  z.object({
    ...server,
    t: z.literal("senderConstraint"),
    source: Source,
    maxHeight: MaxHeightSchema,
  }),
  z.object({
    ...server,
    t: z.literal("roleChanged"),
    participant: Id,
    role: Role,
    by: Id.nullable(),
  }),
  z.object({ ...server, t: z.literal("muted"), source: Source, by: Id }),
  z.object({
    ...server,
    t: z.literal("removed"),
    reason: z.enum(["removed", "replaced"]),
    by: Id.nullable(),
  }),
  z.object({
    ...server,
    t: z.literal("roomEnded"),
    reason: z.enum(["admin", "api", "emptyTimeout", "shutdown"]),
  }),
  z.object({
    ...server,
    t: z.literal("error"),
    ...ErrorBodySchema.shape,
    /** The type of the message this is about, when known. */
    about: z.string().optional(),
  }),
]);

export type ServerMessage = z.output<typeof ServerMessageSchema>;
export type ServerMessageType = ServerMessage["t"];
export type ServerMessageOf<T extends ServerMessageType> = Extract<ServerMessage, { t: T }>;
export type ErrorBody = z.output<typeof ErrorBodySchema>;
export type ParticipantInfoMessage = z.output<typeof ParticipantInfoSchema>;
export type ProducerInfo = z.output<typeof ProducerInfoSchema>;
export type Binding = z.output<typeof BindingSchema>;

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** A server message without `v`, as handlers build them; the connection adds `v`. */
export type ServerBody = DistributiveOmit<ServerMessage, "v">;
/** Messages that answer a request (they carry `re`, set by the connection). */
export type ReplyBody = DistributiveOmit<
  Extract<ServerMessage, { t: "joined" | "invite" | "answer" }>,
  "v" | "re"
>;
/** Messages the server sends on its own (no `re`). */
export type EventBody = Exclude<ServerBody, { re: number }>;

// ── Parsing ────────────────────────────────────────────────────────────────────────────────

/** What the parser makes of one decoded frame. */
export type ParseResult =
  | { ok: true; message: ClientMessage }
  | {
    ok: false;
    error: SignalError;
    /** The frame's `id`, when it had a usable one: the error reply echoes it. */
    re?: number;
    /** The frame's `t`, when it had a string one. */
    about?: string;
  };

/**
 * Returns a parser of decoded client frames (the JSON value of one frame). The schema is built
 * once per server (it embeds the SDP limit).
 */
export function clientParser(options: { maxSdpBytes: number }): (value: unknown) => ParseResult {
  const schema = clientMessageSchema(options.maxSdpBytes);
  const known = new Set<string>(CLIENT_MESSAGE_TYPES);
  return function parseClientMessage(value) {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      return refuse("bad-request", "a message is a JSON object");
    }
    const record = value as Record<string, unknown>;
    const id = RequestId.safeParse(record.id);
    const re = id.success ? id.data : undefined;
    const about = typeof record.t === "string" ? record.t.slice(0, 32) : undefined;
    if (record.v !== PROTOCOL_VERSION) {
      return record.v === undefined
        ? refuse("bad-request", 'a message needs "v": 1', re, about)
        : refuse(
          "unsupported-version",
          `version ${
            JSON.stringify(record.v).slice(0, 16)
          } is not supported; this server speaks v1`,
          re,
          about,
        );
    }
    if (about === undefined) return refuse("bad-request", 'a message needs a string "t"', re);
    if (!known.has(record.t as string)) {
      return refuse("bad-request", `unknown message type ${JSON.stringify(about)}`, re, about);
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      const detail = parsed.error.issues.slice(0, 3).map((issue) => {
        const path = issue.path.join(".");
        return path ? `${path}: ${issue.message}` : issue.message;
      }).join("; ");
      return refuse("bad-request", `${about}: ${detail}`, re, about);
    }
    return { ok: true, message: parsed.data };
  };
}

function refuse(
  code: SignalError["code"],
  message: string,
  re?: number,
  about?: string,
): ParseResult {
  const result: ParseResult = { ok: false, error: new SignalError(code, message) };
  if (re !== undefined) result.re = re;
  if (about !== undefined) result.about = about;
  return result;
}
