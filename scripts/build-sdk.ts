/**
 * Builds the browser SDK: web/sdk/quetzal.ts → web/sdk/dist/quetzal.js and quetzal.d.ts, the
 * files the server serves at /sdk/. `deno task sdk` runs it; test/sdk/build.test.ts fails when
 * the committed files are not what this would write.
 *
 * Why a committed build and not a transpile at server start: Deno has no runtime API that
 * strips types, and the TypeScript compiler as a dependency is ~23 MB for one file. `deno
 * bundle` (esbuild, fetched once into Deno's cache) is a development-time tool only: the server
 * just reads two files, and users load plain JS with no build step.
 *
 * @example deno task sdk            # rebuild into web/sdk/dist/
 * @example deno run -A scripts/build-sdk.ts build/sdk   # build elsewhere (the test does)
 */

const ENTRY = new URL("../web/sdk/quetzal.ts", import.meta.url);
const CONFIG = new URL("../web/sdk/bundle.json", import.meta.url);
const DIST = new URL("../web/sdk/dist/", import.meta.url);

const HEADER =
  "// Quetzal browser SDK, protocol v1. Generated from web/sdk/*.ts by `deno task sdk`:\n" +
  "// edit the TypeScript, not this file. Guide: docs/sdk.md.\n";

/** Bundles the SDK into `outDir` (quetzal.js, quetzal.d.ts); throws with deno's output. */
export async function buildSdk(outDir: string): Promise<void> {
  const js = `${outDir}/quetzal.js`;
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--quiet",
      "--config",
      CONFIG.pathname,
      "--platform",
      "browser",
      "--format",
      "esm",
      "--declaration",
      "--output",
      js,
      ENTRY.pathname,
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) throw new Error(`deno bundle failed:\n${new TextDecoder().decode(stderr)}`);
  for (const file of [js, `${outDir}/quetzal.d.ts`]) {
    await Deno.writeTextFile(file, HEADER + await Deno.readTextFile(file));
  }
}

if (import.meta.main) {
  const outDir = Deno.args[0] ?? DIST.pathname.replace(/\/$/, "");
  await Deno.mkdir(outDir, { recursive: true });
  await buildSdk(outDir);
  console.log(`wrote ${outDir}/quetzal.js and quetzal.d.ts`);
}
