import { assert, assertEquals, assertRejects } from "@std/assert";
import {
  browserUnavailable,
  isPngNotBlank,
  launchBrowser,
  pngLumaStats,
} from "../support/browser.ts";

const PAGE = `<!doctype html><html><body style="margin:0;background:#fff">
<canvas id="c" width="200" height="100"></canvas>
<script>
  const ctx = document.getElementById("c").getContext("2d");
  ctx.fillStyle = "#000"; ctx.fillRect(0, 0, 100, 100);
  ctx.fillStyle = "#f00"; ctx.fillRect(100, 0, 100, 100);
  console.log("drawn");
</script></body></html>`;

Deno.test({
  name: "browser harness: evaluate, console, screenshots, clean close",
  ignore: browserUnavailable() !== null,
}, async () => {
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response(PAGE, { headers: { "content-type": "text/html" } }),
  );
  await using browser = await launchBrowser();
  if (!browser) return;
  const page = await browser.newPage(`http://127.0.0.1:${server.addr.port}/`);

  assertEquals(await page.evaluate<number>("1 + 2"), 3);
  assertEquals(
    await page.evaluate<{ a: number[] }>("new Promise((r) => setTimeout(() => r({ a: [1] }), 10))"),
    { a: [1] },
  );
  await assertRejects(() => page.evaluate("Promise.reject(new Error('boom'))"), Error, "boom");
  assert(page.console.includes("log: drawn"), page.console.join("\n"));

  // The canvas (black and red halves) is not blank; a white corner of the page is.
  const drawn = await page.screenshot({ x: 0, y: 0, width: 200, height: 100 });
  const stats = await pngLumaStats(drawn);
  assertEquals([stats.width, stats.height], [200, 100]);
  assert(await isPngNotBlank(drawn));
  assertEquals(
    await isPngNotBlank(await page.screenshot({ x: 300, y: 300, width: 50, height: 50 })),
    false,
  );
  await page.close();
});

Deno.test("browser harness: a missing executable means skip, not failure", async () => {
  const browser = await launchBrowser({ executablePath: "/nonexistent/chromium" });
  assertEquals(browser, null);
});
