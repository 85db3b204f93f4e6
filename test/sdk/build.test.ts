/**
 * The committed SDK bundle is what `deno task sdk` builds from the TypeScript now, the server
 * serves it (and the call page) with the right types, and the SDK's wire types accept every
 * message the server's schemas allow.
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import type { ServerMessage as ServerSchemaMessage } from "../../src/signal/mod.ts";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { buildSdk } from "../../scripts/build-sdk.ts";
import type { ServerMessage as SdkServerMessage } from "../../web/sdk/wire.ts";
import { startLoopbackServer } from "../support/loopback-server.ts";

loadLibsrtp();

// Compile-time: every message the server may send is one the SDK's types describe.
const _serverMessagesFitTheSdk = (m: ServerSchemaMessage): SdkServerMessage => m;

Deno.test("sdk: the committed bundle is up to date (run `deno task sdk` if not)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "quetzal-sdk-" });
  try {
    await buildSdk(dir);
    for (const file of ["quetzal.js", "quetzal.d.ts"]) {
      const fresh = await Deno.readTextFile(`${dir}/${file}`);
      const committed = await Deno.readTextFile(
        new URL(`../../web/sdk/dist/${file}`, import.meta.url),
      );
      assert(fresh === committed, `web/sdk/dist/${file} is stale: run \`deno task sdk\``);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sdk: the server serves the SDK, its types and the call page", async () => {
  const server = await startLoopbackServer();
  try {
    const js = await fetch(`${server.url}/sdk/quetzal.js`);
    assertEquals(js.status, 200);
    assertStringIncludes(js.headers.get("content-type") ?? "", "text/javascript");
    assertStringIncludes(await js.text(), "export {");
    const dts = await fetch(`${server.url}/sdk/quetzal.d.ts`);
    assertEquals(dts.status, 200);
    assertStringIncludes(await dts.text(), "export declare function joinRoom(");
    const page = await fetch(`${server.url}/call/q3Vb7xT0mZ1rL9kA`);
    assertEquals(page.status, 200);
    assertStringIncludes(await page.text(), '<script type="module" src="/app/call.js">');
    for (const asset of ["/app/call.js", "/app/call.css"]) {
      const res = await fetch(`${server.url}${asset}`);
      assertEquals(res.status, 200, asset);
      await res.body?.cancel();
    }
    const missing = await fetch(`${server.url}/app/nope.js`);
    assertEquals(missing.status, 404);
    await missing.body?.cancel();
  } finally {
    await server.close();
  }
});
