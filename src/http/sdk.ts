/**
 * The browser SDK and the call page: `/sdk/quetzal.js` (and its types, `/sdk/quetzal.d.ts`),
 * built from web/sdk/ by `deno task sdk` and committed; `/call/{room}`, the page room links
 * open (the token stays in the link's fragment, which browsers never send), with its script
 * and style under `/app/`. Read once at start, like the player pages.
 */
import { Hono } from "hono";
import { Problem } from "./errors.ts";

const ASSETS: Record<string, { file: URL; type: string }> = {
  "sdk/quetzal.js": {
    file: new URL("../../web/sdk/dist/quetzal.js", import.meta.url),
    type: "text/javascript; charset=utf-8",
  },
  "sdk/quetzal.d.ts": {
    file: new URL("../../web/sdk/dist/quetzal.d.ts", import.meta.url),
    type: "application/typescript; charset=utf-8",
  },
  "call.html": {
    file: new URL("../../web/app/call.html", import.meta.url),
    type: "text/html; charset=utf-8",
  },
  "app/call.js": {
    file: new URL("../../web/app/call.js", import.meta.url),
    type: "text/javascript; charset=utf-8",
  },
  "app/call.css": {
    file: new URL("../../web/app/call.css", import.meta.url),
    type: "text/css; charset=utf-8",
  },
};

export async function sdkRoutes(): Promise<Hono> {
  const bodies = new Map<string, Uint8Array>();
  for (const [name, asset] of Object.entries(ASSETS)) {
    try {
      bodies.set(name, await Deno.readFile(asset.file));
    } catch {
      // Missing (a trimmed install): served as 404; the server still runs.
    }
  }
  const serve = (name: string) => {
    const body = bodies.get(name);
    if (!body) throw new Problem(404, "not-found", `no asset "${name}"`);
    return new Response(body.slice(), {
      headers: {
        "Content-Type": ASSETS[name].type,
        "Cache-Control": "no-cache",
        // Pages and apps on other origins import the SDK as a module (a CORS request).
        "Access-Control-Allow-Origin": "*",
      },
    });
  };
  const app = new Hono();
  app.get("/sdk/quetzal.js", () => serve("sdk/quetzal.js"));
  app.get("/sdk/quetzal.d.ts", () => serve("sdk/quetzal.d.ts"));
  app.get("/call/:room", () => serve("call.html"));
  app.get("/app/:file", (c) => serve(`app/${c.req.param("file")}`));
  return app;
}
