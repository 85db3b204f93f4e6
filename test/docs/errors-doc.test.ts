import { assert } from "@std/assert";

const root = new URL("../../", import.meta.url);

/** Every (status, type) pair that src/http constructs with `new Problem(status, "type", …)`. */
async function problemsInCode(): Promise<Set<string>> {
  const found = new Set<string>();
  for await (const entry of Deno.readDir(new URL("src/http/", root))) {
    if (!entry.isFile || !entry.name.endsWith(".ts")) continue;
    const source = await Deno.readTextFile(new URL(`src/http/${entry.name}`, root));
    for (const m of source.matchAll(/new Problem\(\s*(\d{3}),\s*"([a-z-]+)"/g)) {
      found.add(`${m[2]} ${m[1]}`);
    }
  }
  return found;
}

Deno.test("docs/errors.md lists every problem type src/http returns, with its status", async () => {
  const doc = await Deno.readTextFile(new URL("docs/errors.md", root));
  const documented = new Set(
    [...doc.matchAll(/^\| `([a-z-]+)` +\| (\d{3}) /gm)].map((m) => `${m[1]} ${m[2]}`),
  );
  const inCode = await problemsInCode();
  assert(inCode.size > 10, "no Problem constructions found: did src/http move?");
  const missing = [...inCode].filter((p) => !documented.has(p));
  const extra = [...documented].filter((p) => !inCode.has(p));
  assert(missing.length === 0, `not in docs/errors.md: ${missing.join(", ")}`);
  assert(extra.length === 0, `in docs/errors.md but not in src/http: ${extra.join(", ")}`);
});
