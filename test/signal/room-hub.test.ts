import { assertEquals } from "@std/assert";
import { Room } from "../../src/room/mod.ts";
import { type EventBody, type HubTimers, RoomHub } from "../../src/signal/mod.ts";

/** Timers fired by hand, with a clock they advance. */
class FakeTimers implements HubTimers {
  now = 0;
  #next = 1;
  readonly pending = new Map<number, { fn: () => void; at: number }>();
  setTimeout(fn: () => void, ms: number): number {
    this.pending.set(this.#next, { fn, at: this.now + ms });
    return this.#next++;
  }
  clearTimeout(id: number): void {
    this.pending.delete(id);
  }
  /** Moves the clock to `t`, firing what is due. */
  advanceTo(t: number): void {
    this.now = t;
    for (const [id, timer] of [...this.pending].sort((a, b) => a[1].at - b[1].at)) {
      if (timer.at > t) continue;
      this.pending.delete(id);
      timer.fn();
    }
  }
}

function setup() {
  const timers = new FakeTimers();
  const room = new Room({ id: "r" });
  const hub = new RoomHub(room, { timers, now: () => timers.now });
  const inbox: EventBody[] = [];
  const closes: number[] = [];
  const observer = room.join({ role: "admin", name: "Obs" }).participant;
  hub.attach(observer.id, { push: (e) => inbox.push(e), close: (code) => closes.push(code) });
  // The observer's own join goes out first.
  timers.advanceTo(1000);
  inbox.length = 0;
  return { timers, room, hub, inbox, closes };
}

Deno.test("visible changes are batched every 250 ms; a join and leave within a batch cancel out", () => {
  const { timers, room, hub, inbox } = setup();
  const a = room.join({ role: "speaker", name: "A" }).participant;
  const b = room.join({ role: "speaker", name: "B" }).participant;
  room.raiseHand(a.id, false); // no change: no event
  room.mute(a.id, "microphone", true);
  room.leave(b.id, "left");
  assertEquals(inbox, []);
  timers.advanceTo(1249);
  assertEquals(inbox, []);
  timers.advanceTo(1250);
  assertEquals(inbox.length, 1);
  const batch = inbox[0];
  assertEquals(batch.t, "participants");
  if (batch.t !== "participants") return;
  // A's mute is folded into its join; B came and went unseen.
  assertEquals(batch.joined.map((p) => [p.name, p.muted]), [["A", ["microphone"]]]);
  assertEquals([batch.left, batch.updated, batch.listeners], [[], [], 0]);
  room.mute(a.id, "microphone", false);
  room.leave(a.id, "left");
  timers.advanceTo(1500);
  const second = inbox[1];
  if (second.t !== "participants") throw new Error(second.t);
  assertEquals([second.joined, second.updated, second.left], [[], [], [a.id]]);
  hub.close();
});

Deno.test("hidden listeners move only the count, at most once a second", () => {
  const { timers, room, hub, inbox } = setup();
  for (let i = 0; i < 50; i++) room.join({ role: "listener", hidden: true });
  timers.advanceTo(1999);
  assertEquals(inbox, []);
  timers.advanceTo(2000);
  assertEquals(inbox.length, 1);
  const batch = inbox[0];
  if (batch.t !== "participants") throw new Error(batch.t);
  assertEquals([batch.joined, batch.listeners], [[], 50]);
  // A visible change due sooner takes the count along.
  room.join({ role: "listener", hidden: true });
  room.join({ role: "speaker", name: "S" });
  timers.advanceTo(2250);
  const next = inbox[1];
  if (next.t !== "participants") throw new Error(next.t);
  assertEquals([next.joined.map((p) => p.name), next.listeners], [["S"], 51]);
  assertEquals(timers.pending.size, 0);
  hub.close();
});

Deno.test("the room's end reaches every connection and closes it; the hub stops its timers", () => {
  const { timers, room, inbox, closes } = setup();
  room.join({ role: "speaker" });
  room.end("emptyTimeout");
  assertEquals(inbox, [{ t: "roomEnded", reason: "emptyTimeout" }]);
  assertEquals(closes, [4002]);
  assertEquals(timers.pending.size, 0);
});
