import { assertEquals } from "@std/assert";
import { Dynacast } from "../../src/sfu/dynacast.ts";

Deno.test("dynacast: up at once, down after the demand stayed lower 2 s", () => {
  const d = new Dynacast();
  assertEquals(d.update(360, 0), 360, "the first demand is told at once");
  assertEquals(d.update(360, 100), -1);
  assertEquals(d.update(1080, 200), 1080, "up at once");
  assertEquals(d.update(180, 300), -1);
  assertEquals(d.update(180, 2200), -1, "1.9 s lower");
  assertEquals(d.update(180, 2300), 180, "2 s lower: down");
  assertEquals(d.constraint, 180);
});

Deno.test("dynacast: a demand that comes back before 2 s changes nothing", () => {
  const d = new Dynacast();
  d.update(720, 0);
  assertEquals(d.update(0, 100), -1);
  assertEquals(d.update(720, 1500), -1);
  assertEquals(d.update(0, 1600), -1, "the lower demand starts over");
  assertEquals(d.update(0, 3500), -1);
  assertEquals(d.update(0, 3600), 0, "nobody watches: no layer");
  assertEquals(d.update(Infinity, 3700), Infinity);
});
