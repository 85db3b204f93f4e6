import { assertEquals } from "@std/assert";
import { PacketRing, type RingSink } from "../../src/workers/packet-ring.ts";
import { WakeCoalescer, type WakeTimers } from "../../src/workers/wake-coalescer.ts";

/** Timers run by hand: `fire()` runs what is armed. */
class ManualTimers implements WakeTimers {
  armed = new Map<number, () => void>();
  armedTotal = 0;
  #next = 1;
  set(fn: () => void, _ms: number): number {
    this.armedTotal++;
    this.armed.set(this.#next, fn);
    return this.#next++;
  }
  clear(handle: unknown): void {
    this.armed.delete(handle as number);
  }
  fire(): void {
    const fns = [...this.armed.values()];
    this.armed.clear();
    for (const fn of fns) fn();
  }
}

const sink: RingSink = { onRingPacket() {} };
const packet = new Uint8Array(100);

/**
 * Awaits a reader's wait. Deno's event loop does not count a pending Atomics.waitAsync as work
 * and may finish a test before a same-thread notify is delivered; a timer keeps it turning.
 */
async function woken(wait: Promise<unknown>): Promise<unknown> {
  const keepAlive = setInterval(() => {}, 10);
  try {
    return await wait;
  } finally {
    clearInterval(keepAlive);
  }
}

/** A ring whose reader has drained and gone to sleep (its wait is pending). */
function sleepingRing(): { ring: PacketRing; woken: Promise<unknown> } {
  const ring = new PacketRing(16);
  const woken = ring.waitForData(5_000)!;
  return { ring, woken };
}

Deno.test("wake coalescer: one timer and one wake per sleeping ring for a burst", async () => {
  const timers = new ManualTimers();
  const wakes = new WakeCoalescer(1, timers);
  const a = sleepingRing();
  const b = sleepingRing();
  for (let i = 0; i < 5; i++) {
    for (const r of [a, b]) {
      r.ring.write(packet, 0, 100, 0, 0, 0, 0);
      wakes.packetWritten(r.ring);
    }
  }
  assertEquals(timers.armedTotal, 1);
  assertEquals([a.ring.readerSleeping, b.ring.readerSleeping], [true, true]);
  timers.fire();
  assertEquals([a.ring.readerSleeping, b.ring.readerSleeping], [false, false]);
  assertEquals(await woken(a.woken), "ok");
  assertEquals(await woken(b.woken), "ok");
  assertEquals(wakes.wakes, 2);
  assertEquals(wakes.coalesced, 8);
  assertEquals(a.ring.drain(sink), 5);
});

Deno.test("wake coalescer: an awake reader is neither queued nor woken", () => {
  const timers = new ManualTimers();
  const wakes = new WakeCoalescer(1, timers);
  const ring = new PacketRing(16);
  ring.write(packet, 0, 100, 0, 0, 0, 0);
  wakes.packetWritten(ring);
  assertEquals(timers.armedTotal, 0);
  assertEquals(wakes.wakes, 0);
});

Deno.test("wake coalescer: delay 0 wakes at once; close cancels the timer and wakes the queue", async () => {
  const now = sleepingRing();
  const immediate = new WakeCoalescer(0, new ManualTimers());
  now.ring.write(packet, 0, 100, 0, 0, 0, 0);
  immediate.packetWritten(now.ring);
  assertEquals(await woken(now.woken), "ok");
  assertEquals(immediate.wakes, 1);

  const timers = new ManualTimers();
  const wakes = new WakeCoalescer(1, timers);
  const later = sleepingRing();
  later.ring.write(packet, 0, 100, 0, 0, 0, 0);
  wakes.packetWritten(later.ring);
  assertEquals(timers.armed.size, 1);
  wakes.close();
  assertEquals(timers.armed.size, 0);
  assertEquals(await woken(later.woken), "ok");
});

Deno.test("wake coalescer: a ring that sleeps again after its wake is queued again", async () => {
  const timers = new ManualTimers();
  const wakes = new WakeCoalescer(1, timers);
  const first = sleepingRing();
  first.ring.write(packet, 0, 100, 0, 0, 0, 0);
  wakes.packetWritten(first.ring);
  timers.fire();
  await woken(first.woken);
  first.ring.drain(sink);
  const again = first.ring.waitForData(5_000)!;
  first.ring.write(packet, 0, 100, 0, 0, 0, 0);
  wakes.packetWritten(first.ring);
  assertEquals(timers.armedTotal, 2);
  timers.fire();
  assertEquals(await woken(again), "ok");
  assertEquals(wakes.wakes, 2);
});
