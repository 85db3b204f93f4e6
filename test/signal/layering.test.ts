/**
 * Imports go down only (architecture.md): http → signal → room → sfu → rtp → transport. This
 * checks the two folders of the rooms' policy layers; a repository-wide layout test can absorb it.
 */
import { assertEquals } from "@std/assert";

const SRC = new URL("../../src/", import.meta.url);

/** Folders each may import from (besides itself and npm packages). */
const ALLOWED: Record<string, readonly string[]> = {
  // The room media adapter (room-media.ts) drives the peers of src/session, beside src/sfu.
  signal: ["room", "sfu", "session", "rtp", "transport", "observability"],
  room: ["sfu", "rtp", "transport", "observability"],
};

Deno.test("src/signal and src/room import only downward (never http or workers; signal may drive session)", async () => {
  const violations: string[] = [];
  let seen = 0;
  for (const [folder, allowed] of Object.entries(ALLOWED)) {
    for await (const entry of Deno.readDir(new URL(`${folder}/`, SRC))) {
      if (!entry.isFile || !entry.name.endsWith(".ts")) continue;
      const source = await Deno.readTextFile(new URL(`${folder}/${entry.name}`, SRC));
      for (const m of source.matchAll(/from\s+"(\.[^"]+)"/g)) {
        seen++;
        const target = new URL(m[1], new URL(`${folder}/${entry.name}`, SRC)).href;
        const into = target.slice(SRC.href.length).split("/")[0];
        if (into !== folder && !allowed.includes(into)) {
          violations.push(`src/${folder}/${entry.name} → ${m[1]}`);
        }
      }
    }
  }
  assertEquals(violations, []);
  assertEquals(seen > 10, true, "no relative imports found: did the folders move?");
});
