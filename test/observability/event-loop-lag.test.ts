import { assert, assertAlmostEquals, assertEquals } from "@std/assert";
import { EventLoopLagMonitor, type TimerId } from "../../src/observability/event-loop-lag.ts";

/** Timers driven by hand: `fire()` runs the interval callback. */
function manualTimers() {
  let callback: (() => void) | undefined;
  let cleared = 0;
  return {
    timers: {
      setInterval(fn: () => void, _ms: number): TimerId {
        callback = fn;
        return 1 as unknown as TimerId;
      },
      clearInterval(_id: TimerId) {
        callback = undefined;
        cleared++;
      },
    },
    fire: () => callback?.(),
    get armed() {
      return callback !== undefined;
    },
    get cleared() {
      return cleared;
    },
  };
}

Deno.test("EventLoopLagMonitor measures how late each tick fires", () => {
  let now = 1000;
  const t = manualTimers();
  const lag = new EventLoopLagMonitor({ intervalMs: 20, nowMs: () => now, timers: t.timers });
  lag.start();
  // Ticks 20 ms apart (on time), then 70 ms (50 ms late), then early (clamped to 0).
  for (const stepMs of [20, 20, 70, 15]) {
    now += stepMs;
    t.fire();
  }
  assertEquals(lag.histogram.count, 4);
  assertAlmostEquals(lag.histogram.sum, 0.05, 1e-9);
  assertAlmostEquals(lag.maxSeconds, 0.05, 1e-9);
  assertAlmostEquals(lag.p99Seconds, 0.05, 1e-9);
  lag.stop();
});

Deno.test("EventLoopLagMonitor window forgets old samples; the histogram does not", () => {
  let now = 0;
  const lag = new EventLoopLagMonitor({ intervalMs: 10, windowSamples: 4, nowMs: () => now });
  now = 110; // 100 ms late
  lag.sample(now);
  for (let i = 0; i < 4; i++) {
    now += 10;
    lag.sample(now);
  }
  assertEquals(lag.maxSeconds, 0);
  assertEquals(lag.p99Seconds, 0);
  assertEquals(lag.histogram.count, 5);
});

Deno.test("EventLoopLagMonitor p99 picks the nearest rank", () => {
  let now = 0;
  const lag = new EventLoopLagMonitor({ intervalMs: 10, windowSamples: 100, nowMs: () => now });
  // 98 on-time ticks, two ticks 5 ms and 30 ms late.
  for (let i = 0; i < 98; i++) lag.sample(now += 10);
  lag.sample(now += 15);
  lag.sample(now += 40);
  assertAlmostEquals(lag.p99Seconds, 0.005, 1e-9);
  assertAlmostEquals(lag.maxSeconds, 0.03, 1e-9);
});

Deno.test("EventLoopLagMonitor start/stop are idempotent and release the timer", () => {
  const t = manualTimers();
  const lag = new EventLoopLagMonitor({ timers: t.timers });
  lag.start();
  lag.start();
  assert(lag.running && t.armed);
  lag.stop();
  lag.stop();
  assert(!lag.running && !t.armed);
  assertEquals(t.cleared, 1);
});

Deno.test("EventLoopLagMonitor with real timers leaves nothing behind (sanitizers)", async () => {
  {
    using lag = new EventLoopLagMonitor({ intervalMs: 1 });
    lag.start();
    await new Promise((resolve) => setTimeout(resolve, 15));
    assert(lag.histogram.count > 0);
  }
  // `using` stopped it; the op/resource sanitizers fail this test if the interval survived.
});
