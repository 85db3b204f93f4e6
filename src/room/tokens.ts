/**
 * Room join and invite tokens: HS256 JWTs (RFC 7519) signed with the server's room secret,
 * via `hono/jwt`. A token names its room in `aud` ("room:<id>"), a role, an expiry, a token id
 * (`jti`) and the room's invite version (`iv`): "reset links" bumps the room's version, which
 * voids every token signed before. Apps may sign join tokens the same way, adding `sub` (their
 * user id) and `name`.
 *
 * The header carries a `kid` (a fingerprint of the secret, not the secret), so a server can
 * accept tokens of an older secret while it signs with a new one.
 *
 * Tokens are credentials: nothing here logs them or puts them in an error message.
 *
 * @example
 * const tokens = await RoomTokens.create([secret]);
 * const token = await tokens.sign({ room: "r1", role: "speaker", iv: 0, ttlS: 3600 });
 * const claims = await tokens.verify(token, { room: "r1", iv: 0 });
 */
import { decode, sign, verify } from "hono/jwt";
import { z } from "zod";
import { RoomError } from "./errors.ts";
import { randomId } from "./ids.ts";
import { type Role, ROLES } from "./roles.ts";

/** What a verified token says. */
export interface RoomTokenClaims {
  room: string;
  role: Role;
  /** Expiry, seconds since the Unix epoch. */
  exp: number;
  jti: string;
  /** The room's invite version when the token was signed. */
  iv: number;
  /** The app's user id, if the app signed the token. */
  sub?: string;
  /** Display name the app chose for this participant. */
  name?: string;
  /** A listener who should join hidden. */
  hidden?: boolean;
}

/** What {@link RoomTokens.sign} needs. */
export interface SignInput {
  room: string;
  role: Role;
  iv: number;
  /** Lifetime in seconds from now. */
  ttlS: number;
  sub?: string;
  name?: string;
  hidden?: boolean;
}

/** One signing secret and its key id. */
export interface RoomKey {
  kid: string;
  secret: string;
}

/** Shortest secret accepted: 32 characters (HS256 wants at least 256 bits of key). */
export const MIN_SECRET_LENGTH = 32;

const Claims = z.object({
  aud: z.string().regex(/^room:/),
  role: z.enum(ROLES),
  exp: z.number().int(),
  jti: z.string().min(1).max(64),
  iv: z.number().int().min(0),
  sub: z.string().min(1).max(256).optional(),
  name: z.string().min(1).max(64).optional(),
  hidden: z.boolean().optional(),
});

/** A 32-byte secret as base64url, for servers started without `--room-secret`. */
export function generateRoomSecret(): string {
  return randomId(32);
}

/** The key id of a secret: 8 base64url characters of its SHA-256 (reveals nothing usable). */
export async function keyId(secret: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(secret));
  return btoa(String.fromCharCode(...new Uint8Array(digest).slice(0, 6)))
    .replace(/\+/g, "-").replace(/\//g, "_");
}

/** A JWK for HMAC: hono/jwt writes a JWK's `kid` into the token header. */
function jwk(key: RoomKey): JsonWebKey & { alg: "HS256"; kid: string } {
  const bytes = new TextEncoder().encode(key.secret);
  const k = btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
  return { kty: "oct", k, alg: "HS256", kid: key.kid };
}

/** Signs and verifies room tokens with the first key; verifies with any key. */
export class RoomTokens {
  readonly #keys: RoomKey[];
  readonly #now: () => number;

  /**
   * `secrets[0]` signs; the others still verify (rotation). `now` returns milliseconds since
   * the epoch (injected in tests).
   */
  static async create(
    secrets: readonly string[],
    options: { now?: () => number } = {},
  ): Promise<RoomTokens> {
    const keys = await Promise.all(
      secrets.map(async (secret) => ({ kid: await keyId(secret), secret })),
    );
    return new RoomTokens(keys, options);
  }

  constructor(keys: readonly RoomKey[], options: { now?: () => number } = {}) {
    if (keys.length === 0) throw new Error("RoomTokens needs at least one key");
    for (const key of keys) {
      if (key.secret.length < MIN_SECRET_LENGTH) {
        throw new Error(`a room secret must be at least ${MIN_SECRET_LENGTH} characters`);
      }
    }
    this.#keys = [...keys];
    this.#now = options.now ?? Date.now;
  }

  /** Seconds since the epoch by this object's clock. */
  nowS(): number {
    return Math.floor(this.#now() / 1000);
  }

  /** A signed token for `input`, expiring `input.ttlS` seconds from now. */
  async sign(input: SignInput): Promise<string> {
    const payload: Record<string, string | number | boolean> = {
      aud: `room:${input.room}`,
      role: input.role,
      exp: this.nowS() + input.ttlS,
      jti: randomId(12),
      iv: input.iv,
    };
    if (input.sub !== undefined) payload.sub = input.sub;
    if (input.name !== undefined) payload.name = input.name;
    if (input.hidden) payload.hidden = true;
    return await sign(payload, jwk(this.#keys[0]), "HS256");
  }

  /**
   * The claims of `token` if it is ours, unexpired, for `expect.room` and not of another
   * invite version than the room's; otherwise a RoomError `unauthorized` saying which (never the token).
   */
  async verify(token: string, expect: { room: string; iv: number }): Promise<RoomTokenClaims> {
    let kid: string | undefined;
    try {
      kid = decode(token).header.kid;
    } catch {
      throw new RoomError("unauthorized", "the token is not a JWT");
    }
    const key = kid === undefined ? this.#keys[0] : this.#keys.find((k) => k.kid === kid);
    if (!key) throw new RoomError("unauthorized", "the token was signed with an unknown key");
    let payload: unknown;
    try {
      // Expiry is checked below against the injected clock, audience against the room.
      payload = await verify(token, jwk(key), { alg: "HS256", exp: false, nbf: true, iat: false });
    } catch {
      throw new RoomError("unauthorized", "the token's signature or header is not valid");
    }
    const parsed = Claims.safeParse(payload);
    if (!parsed.success) {
      throw new RoomError("unauthorized", "the token lacks room claims (aud, role, exp, jti, iv)");
    }
    const claims = parsed.data;
    if (claims.aud !== `room:${expect.room}`) {
      throw new RoomError("unauthorized", "the token is for another room");
    }
    if (claims.exp <= this.nowS()) throw new RoomError("unauthorized", "the token has expired");
    if (claims.iv !== expect.iv) {
      throw new RoomError("unauthorized", "the room's links were reset after this token was made");
    }
    const { aud: _aud, ...rest } = claims;
    return { room: expect.room, ...rest };
  }
}
