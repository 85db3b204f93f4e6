import { assert, assertEquals, assertThrows } from "@std/assert";
import { RoomError, RoomRegistry, type Timers } from "../../src/room/mod.ts";

/** Timers the test fires by hand. */
class FakeTimers implements Timers {
  #next = 1;
  readonly pending = new Map<number, { fn: () => void; ms: number }>();
  setTimeout(fn: () => void, ms: number): number {
    this.pending.set(this.#next, { fn, ms });
    return this.#next++;
  }
  clearTimeout(id: number): void {
    this.pending.delete(id);
  }
  /** Fires every pending timer. */
  fireAll(): void {
    const due = [...this.pending.entries()];
    this.pending.clear();
    for (const [, t] of due) t.fn();
  }
}

Deno.test("create, get, list, delete; ids are 96-bit base64url", () => {
  const timers = new FakeTimers();
  using rooms = new RoomRegistry({ maxRooms: 2, timers });
  const a = rooms.create({ name: "A" });
  const b = rooms.create({ settings: { maxParticipants: 5 } });
  assert(/^[A-Za-z0-9_-]{16}$/.test(a.id) && a.id !== b.id);
  assertEquals(rooms.get(a.id)?.name, "A");
  assertEquals(b.settings.maxParticipants, 5);
  assertEquals(b.settings.maxVideoPublishers, 30);
  assertEquals(rooms.list().map((r) => r.id), [a.id, b.id]);
  const error = assertThrows(() => rooms.create(), RoomError, "2 rooms");
  assertEquals((error as RoomError).code, "over-capacity");
  assert(rooms.delete(a.id));
  assert(!rooms.delete(a.id));
  assert(a.ended && rooms.get(a.id) === undefined);
  // Ending a room stops its timer.
  assertEquals(timers.pending.size, 1);
});

Deno.test("an empty room ends after emptyTimeoutS; a join stops the clock, the last leave restarts it", () => {
  const timers = new FakeTimers();
  using rooms = new RoomRegistry({ maxRooms: 10, timers });
  const room = rooms.create({ settings: { emptyTimeoutS: 30 } });
  assertEquals([...timers.pending.values()].map((t) => t.ms), [30_000]);
  const p = room.join({ role: "speaker" }).participant;
  const q = room.join({ role: "listener" }).participant;
  assertEquals(timers.pending.size, 0);
  room.leave(p.id, "left");
  assertEquals(timers.pending.size, 0);
  room.leave(q.id, "left");
  assertEquals(timers.pending.size, 1);
  timers.fireAll();
  assert(room.ended);
  assertEquals(rooms.size, 0);
});

Deno.test("persistent rooms have no empty timeout; close ends rooms and clears timers", () => {
  const timers = new FakeTimers();
  const rooms = new RoomRegistry({ maxRooms: 10, timers });
  const kept = rooms.create({ settings: { persistent: true } });
  const other = rooms.create();
  assertEquals(timers.pending.size, 1);
  other.join({ role: "admin" });
  assertEquals(timers.pending.size, 0);
  const p = kept.join({ role: "admin" }).participant;
  kept.leave(p.id, "left");
  assertEquals(timers.pending.size, 0);
  rooms.create();
  rooms.close();
  rooms.close();
  assertEquals([timers.pending.size, rooms.size, kept.ended, other.ended], [0, 0, true, true]);
  assertThrows(() => rooms.create(), RoomError, "shutting down");
});

Deno.test("participants by role across rooms; the real timers are cleared on close", () => {
  // Real timers: the op sanitizer fails the test if one is left behind.
  using rooms = new RoomRegistry({ maxRooms: 10 });
  const a = rooms.create();
  const b = rooms.create();
  a.join({ role: "admin" });
  b.join({ role: "listener" });
  b.join({ role: "listener" });
  assertEquals([rooms.participants("admin"), rooms.participants("listener")], [1, 2]);
});
