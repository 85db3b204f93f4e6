import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { sign } from "hono/jwt";
import { RoomError, RoomTokens } from "../../src/room/mod.ts";

const SECRET = "a-room-secret-of-at-least-32-characters!";
const OTHER = "another-secret-that-is-32-characters-long";

/** A clock the test moves (ms since the epoch). */
function clock(start = 1_800_000_000_000) {
  let now = start;
  return { now: () => now, advanceS: (s: number) => (now += s * 1000) };
}

async function refused(promise: Promise<unknown>, includes: string): Promise<void> {
  const error = await assertRejects(() => promise, RoomError, includes);
  assertEquals((error as RoomError).code, "unauthorized");
}

Deno.test("a token verifies for its room and invite version, with its claims", async () => {
  const tokens = await RoomTokens.create([SECRET]);
  const token = await tokens.sign({
    room: "r1",
    role: "speaker",
    iv: 0,
    ttlS: 60,
    sub: "u-7",
    name: "Ada",
  });
  const claims = await tokens.verify(token, { room: "r1", iv: 0 });
  assertEquals(
    { room: claims.room, role: claims.role, iv: claims.iv, sub: claims.sub, name: claims.name },
    { room: "r1", role: "speaker", iv: 0, sub: "u-7", name: "Ada" },
  );
  assert(claims.jti.length >= 16);
  assertEquals(claims.exp, tokens.nowS() + 60);
  // The header names the key; the token carries no secret.
  const header = JSON.parse(atob(token.split(".")[0].replace(/-/g, "+").replace(/_/g, "/")));
  assertEquals(header.alg, "HS256");
  assert(typeof header.kid === "string" && !SECRET.includes(header.kid));
});

Deno.test("forged, tampered, expired, other-room and reset tokens are unauthorized", async () => {
  const time = clock();
  const tokens = await RoomTokens.create([SECRET], { now: time.now });
  const token = await tokens.sign({ room: "r1", role: "listener", iv: 2, ttlS: 60 });

  const forger = await RoomTokens.create([OTHER], { now: time.now });
  await refused(
    forger.sign({ room: "r1", role: "admin", iv: 2, ttlS: 60 }).then((t) =>
      tokens.verify(t, { room: "r1", iv: 2 })
    ),
    "unknown key",
  );
  // The same kid as ours but another secret: the signature fails.
  const [h, p] = token.split(".");
  const payload = JSON.parse(atob(p.replace(/-/g, "+").replace(/_/g, "/")));
  const elevated = btoa(JSON.stringify({ ...payload, role: "admin" })).replace(/\+/g, "-")
    .replace(/\//g, "_").replace(/=+$/, "");
  await refused(
    tokens.verify(`${h}.${elevated}.${token.split(".")[2]}`, { room: "r1", iv: 2 }),
    "signature",
  );
  await refused(tokens.verify("not a jwt", { room: "r1", iv: 2 }), "not a JWT");
  // An HS256 token without our claims (an app's token for something else).
  const foreign = await sign({ exp: 9_999_999_999 }, SECRET, "HS256");
  await refused(tokens.verify(foreign, { room: "r1", iv: 2 }), "room claims");

  await refused(tokens.verify(token, { room: "r2", iv: 2 }), "another room");
  await refused(tokens.verify(token, { room: "r1", iv: 3 }), "reset");
  time.advanceS(59);
  await tokens.verify(token, { room: "r1", iv: 2 });
  time.advanceS(1);
  await refused(tokens.verify(token, { room: "r1", iv: 2 }), "expired");
});

Deno.test("rotation: the first secret signs, older ones still verify", async () => {
  const old = await RoomTokens.create([OTHER]);
  const rotated = await RoomTokens.create([SECRET, OTHER]);
  const before = await old.sign({ room: "r", role: "admin", iv: 0, ttlS: 60 });
  assertEquals((await rotated.verify(before, { room: "r", iv: 0 })).role, "admin");
  const after = await rotated.sign({ room: "r", role: "admin", iv: 0, ttlS: 60 });
  await refused(old.verify(after, { room: "r", iv: 0 }), "unknown key");
});

Deno.test("error messages never contain the token; short secrets are refused", async () => {
  const tokens = await RoomTokens.create([SECRET]);
  const token = await tokens.sign({ room: "r1", role: "speaker", iv: 0, ttlS: 60 });
  for (const expect of [{ room: "r2", iv: 0 }, { room: "r1", iv: 1 }]) {
    const error = await assertRejects(() => tokens.verify(token, expect), RoomError);
    assert(!error.message.includes(token.split(".")[1]));
  }
  const tampered = token.slice(0, -2) + "xx";
  const error = await assertRejects(() => tokens.verify(tampered, { room: "r1", iv: 0 }));
  assert(!error.message.includes(tampered.split(".")[2]));
  assertThrows(() => new RoomTokens([{ kid: "k", secret: "short" }]), Error, "32");
});
