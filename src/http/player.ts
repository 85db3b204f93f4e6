/**
 * The built-in pages: plain HTML and ES modules from `src/http/player/`, read once at start
 * (no build step, no file access per request).
 */
import { Hono } from "hono";
import { Problem } from "./errors.ts";

const FILES: Record<string, string> = {
  "index.html": "text/html; charset=utf-8",
  "watch.html": "text/html; charset=utf-8",
  "publish.html": "text/html; charset=utf-8",
  "index.js": "text/javascript; charset=utf-8",
  "watch.js": "text/javascript; charset=utf-8",
  "publish.js": "text/javascript; charset=utf-8",
  "player.js": "text/javascript; charset=utf-8",
  "secure-context.js": "text/javascript; charset=utf-8",
  "style.css": "text/css; charset=utf-8",
};

async function loadAssets(): Promise<Map<string, Uint8Array>> {
  const assets = new Map<string, Uint8Array>();
  for (const name of Object.keys(FILES)) {
    try {
      assets.set(name, await Deno.readFile(new URL(`./player/${name}`, import.meta.url)));
    } catch {
      // A missing asset is served as 404; the server still runs.
    }
  }
  return assets;
}

export async function playerRoutes(): Promise<Hono> {
  const assets = await loadAssets();
  const app = new Hono();
  const serve = (name: string) => {
    const body = assets.get(name);
    if (!body) throw new Problem(404, "not-found", `no player asset "${name}"`);
    return new Response(body.slice(), {
      headers: { "Content-Type": FILES[name], "Cache-Control": "no-cache" },
    });
  };
  app.get("/", () => serve("index.html"));
  app.get("/publish", () => serve("publish.html"));
  app.get("/watch/:stream", () => serve("watch.html"));
  app.get("/player/:file", (c) => serve(c.req.param("file")));
  return app;
}
