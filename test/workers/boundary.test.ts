// The worker boundary's shape, checked on the source: src/session depends on the
// SubscriberHost seam only, never on src/workers (workers build on session, not the reverse),
// and neither folder bends types with `as unknown as`.
import { assertEquals } from "@std/assert";

const root = new URL("../../src/", import.meta.url);

async function sources(folder: string): Promise<{ name: string; text: string }[]> {
  const out = [];
  for await (const entry of Deno.readDir(new URL(`${folder}/`, root))) {
    if (!entry.isFile || !entry.name.endsWith(".ts")) continue;
    out.push({
      name: `${folder}/${entry.name}`,
      text: await Deno.readTextFile(new URL(`${folder}/${entry.name}`, root)),
    });
  }
  return out;
}

Deno.test("boundary: src/session imports nothing from src/workers", async () => {
  const upward = (await sources("session"))
    .filter((f) => /from "\.\.\/workers\//.test(f.text))
    .map((f) => f.name);
  assertEquals(upward, []);
});

Deno.test("boundary: no `as unknown as` in src/workers and the session seam", async () => {
  // peer-transport.ts reads werift's DTLS transport, which werift does not type (its own case).
  const files = [...await sources("workers"), ...await sources("session")]
    .filter((f) => f.name !== "session/peer-transport.ts");
  assertEquals(files.filter((f) => f.text.includes("as unknown as")).map((f) => f.name), []);
});
