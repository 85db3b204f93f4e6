/**
 * The rooms API (docs/rooms.md): create, list, inspect and end rooms. Operator-only: every route
 * needs the publish token. Creating a room returns a token and a join link per role; links carry
 * the token in the fragment (`#token=`), which browsers never send, so it stays out of access
 * logs.
 */
import type { ProducerInfo, Source } from "../sfu/router-protocol.ts";
import { Hono } from "hono";
import { z } from "zod";
import {
  DEFAULT_ROOM_SETTINGS,
  ID_PATTERN,
  type ParticipantInfo,
  type Role,
  ROLES,
  type Room,
  RoomError,
  type RoomInfo,
  type RoomRegistry,
  type RoomTokens,
} from "../room/mod.ts";
import { bearerAuth } from "./auth.ts";
import { Problem } from "./errors.ts";
import { readText } from "./sdp-body.ts";

/** Largest accepted body of `POST /api/rooms`. */
const BODY_LIMIT_BYTES = 16 * 1024;

/** Lifetime of the tokens in a new room's links unless the body says otherwise: 7 days. */
export const DEFAULT_LINK_TTL_S = 7 * 24 * 3600;

const CreateRoom = z.object({
  name: z.string().trim().min(1).max(100).optional(),
  maxVideoPublishers: z.number().int().min(0).max(100).default(
    DEFAULT_ROOM_SETTINGS.maxVideoPublishers,
  ),
  maxParticipants: z.number().int().min(1).max(10_000).default(
    DEFAULT_ROOM_SETTINGS.maxParticipants,
  ),
  maxScreenShares: z.number().int().min(0).max(10).default(DEFAULT_ROOM_SETTINGS.maxScreenShares),
  e2ee: z.boolean().default(false),
  joinMuted: z.boolean().default(false),
  listenersHidden: z.boolean().default(false),
  audioSlots: z.number().int().min(1).max(10).default(DEFAULT_ROOM_SETTINGS.audioSlots),
  emptyTimeoutS: z.number().int().min(10).max(86_400).default(DEFAULT_ROOM_SETTINGS.emptyTimeoutS),
  persistent: z.boolean().default(false),
  /** Lifetime of the returned tokens, in seconds (at most 30 days). */
  linkTtlS: z.number().int().min(60).max(30 * 24 * 3600).default(DEFAULT_LINK_TTL_S),
}).strict();

/** One published track in `GET /api/rooms/{id}`. */
export interface TrackDetail {
  source: Source;
  kind: "audio" | "video";
  codec: string;
  /** Sent as several simulcast layers. */
  simulcast: boolean;
  muted: boolean;
}

/** `GET /api/rooms/{id}`: the room, its visible participants and their tracks. */
export interface RoomDetail extends RoomInfo {
  /** Visible participants (hidden listeners are only counted). */
  participants: (ParticipantInfo & { tracks: TrackDetail[] })[];
  /** Raised hands, first raised first. */
  hands: string[];
}

/** `POST /api/rooms`'s answer. */
export interface CreatedRoom {
  id: string;
  name: string;
  /** Seconds since the Unix epoch when the tokens and links expire. */
  expiresAt: number;
  tokens: Record<Role, string>;
  links: Record<Role, string>;
}

export interface RoomsApiDeps {
  rooms: RoomRegistry;
  tokens: RoomTokens;
  publishToken: string | undefined;
  /** Base of join links; default: the origin the request came to. */
  publicUrl?: string;
  /** The published tracks of a room, from its Router's snapshot (none without media). */
  tracksOf?: (roomId: string) => readonly ProducerInfo[];
}

/** Routes mounted at `/api/rooms`, before the viewer-token middleware of `/api/*`. */
export function roomsApiRoutes(deps: RoomsApiDeps): Hono {
  const { rooms, tokens } = deps;
  const routes = new Hono();
  routes.use("*", bearerAuth({ token: deps.publishToken, realm: "rooms", what: "/api/rooms" }));

  routes.post("/", async (c) => {
    const text = await readText(c.req.raw, BODY_LIMIT_BYTES);
    let json: unknown = {};
    if (text.trim() !== "") {
      try {
        json = JSON.parse(text);
      } catch {
        throw new Problem(400, "bad-json", "the body must be a JSON object");
      }
    }
    const parsed = CreateRoom.safeParse(json);
    if (!parsed.success) {
      throw new Problem(
        400,
        "bad-room-request",
        parsed.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; "),
      );
    }
    const { name, linkTtlS, ...settings } = parsed.data;
    let room: Room;
    try {
      room = rooms.create({ name, settings });
    } catch (error) {
      if (error instanceof RoomError && error.code === "over-capacity") {
        throw new Problem(503, "over-capacity", error.message, { "Retry-After": "60" });
      }
      throw error;
    }
    const base = (deps.publicUrl ?? new URL(c.req.url).origin).replace(/\/+$/, "");
    const signed = await Promise.all(
      ROLES.map((role) =>
        tokens.sign({ room: room.id, role, iv: room.inviteVersion, ttlS: linkTtlS })
      ),
    );
    const body: CreatedRoom = {
      id: room.id,
      name: room.name,
      expiresAt: tokens.nowS() + linkTtlS,
      tokens: { admin: signed[0], speaker: signed[1], listener: signed[2] },
      links: {
        admin: `${base}/call/${room.id}#token=${signed[0]}`,
        speaker: `${base}/call/${room.id}#token=${signed[1]}`,
        listener: `${base}/call/${room.id}#token=${signed[2]}`,
      },
    };
    return c.json(body, 201, { Location: `/api/rooms/${room.id}` });
  });

  routes.get("/", (c) => c.json({ rooms: rooms.list().map((r) => r.info()) }));

  routes.get("/:id", (c) => {
    const room = roomOf(rooms, c.req.param("id"));
    const detail: RoomDetail = {
      ...room.info(),
      participants: room.visibleParticipants().map((p) => ({
        ...p,
        // Plain data from the room's Router: HTTP never walks live media objects.
        tracks: (deps.tracksOf?.(room.id) ?? []).filter((t) => t.participant === p.id).map((t) => ({
          source: t.source,
          kind: t.kind,
          codec: t.codec,
          simulcast: t.rids.length > 0,
          muted: t.muted,
        })),
      })),
      hands: room.hands(),
    };
    return c.json(detail);
  });

  routes.delete("/:id", (c) => {
    const room = roomOf(rooms, c.req.param("id"));
    room.end("api");
    return c.body(null, 204);
  });

  return routes;
}

function roomOf(rooms: RoomRegistry, id: string): Room {
  const room = ID_PATTERN.test(id) ? rooms.get(id) : undefined;
  if (!room) throw new Problem(404, "unknown-room", "no room with this id (ended, or never made)");
  return room;
}
