import { assert, assertEquals, assertThrows } from "@std/assert";
import { createLogger, type LogLevel } from "../../src/observability/log.ts";

function capture(level: LogLevel) {
  const lines: { line: string; level: string }[] = [];
  const log = createLogger(level, {
    sink: (line, lvl) => lines.push({ line, level: lvl }),
    clock: () => new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678)),
  });
  return { log, lines, parsed: () => lines.map((l) => JSON.parse(l.line)) };
}

Deno.test("logger writes one JSON object per line with time, level, msg, then fields", () => {
  const { log, lines, parsed } = capture("debug");
  log.info("publisher connected", { stream: "cam1", session: "s1", bitrateBps: 2_500_000 });
  assertEquals(lines.length, 1);
  assert(!lines[0].line.includes("\n"));
  assertEquals(parsed()[0], {
    time: "2026-01-02T03:04:05.678Z",
    level: "info",
    msg: "publisher connected",
    stream: "cam1",
    session: "s1",
    bitrateBps: 2_500_000,
  });
  assertEquals(Object.keys(parsed()[0]).slice(0, 3), ["time", "level", "msg"]);
});

Deno.test("logger filters by level; silent writes nothing", () => {
  const rows: [LogLevel, string[]][] = [
    ["debug", ["debug", "info", "warn", "error"]],
    ["info", ["info", "warn", "error"]],
    ["warn", ["warn", "error"]],
    ["error", ["error"]],
    ["silent", []],
  ];
  for (const [level, expected] of rows) {
    const { log, parsed } = capture(level);
    log.debug("d");
    log.info("i");
    log.warn("w");
    log.error("e");
    assertEquals(parsed().map((r) => r.level), expected, level);
    assertEquals(log.enabled("warn"), expected.includes("warn"), level);
  }
});

Deno.test("child loggers add fields and share the level", () => {
  const { log, parsed } = capture("info");
  const child = log.child({ stream: "cam1" }).child({ session: "s1" });
  child.info("ice connected", { elapsed_ms: 12 });
  log.level = "error";
  child.info("dropped");
  assertEquals(child.level, "error");
  assertEquals(parsed().length, 1);
  assertEquals(parsed()[0].stream, "cam1");
  assertEquals(parsed()[0].session, "s1");
  assertEquals(parsed()[0].elapsed_ms, 12);
});

Deno.test("logger keeps reserved keys, serialises errors and survives cycles", () => {
  const { log, parsed } = capture("info");
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  log.error("failed", { msg: "shadow", level: "x", err: new TypeError("bad sdp"), n: 10n });
  log.warn("cyclic", { cyclic });
  log.info("skip undefined", { a: undefined });
  const [first, second, third] = parsed();
  assertEquals(first.msg, "failed");
  assertEquals(first.level, "error");
  assertEquals(first["field.msg"], "shadow");
  assertEquals(first.err.name, "TypeError");
  assertEquals(first.err.message, "bad sdp");
  assertEquals(first.n, "10");
  assertEquals(second.msg, "cyclic");
  assert(typeof second.log_error === "string");
  assert(!("a" in third));
});

Deno.test("logger routes warn/error to the sink with their level and rejects unknown levels", () => {
  const { log, lines } = capture("debug");
  log.debug("a");
  log.error("b");
  assertEquals(lines.map((l) => l.level), ["debug", "error"]);
  assertThrows(() => createLogger("verbose" as LogLevel), RangeError);
  assertThrows(() => {
    log.level = "loud" as LogLevel;
  }, RangeError);
});
