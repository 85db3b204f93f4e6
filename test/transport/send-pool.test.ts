import { assertEquals } from "@std/assert";
import { DEFAULT_SLOTS, SendPool, sendPool, SLOT_SIZE } from "../../src/transport/send-pool.ts";

Deno.test("SendPool: the process-wide pool is the bounded default (the server's whole send queue)", () => {
  assertEquals(sendPool.capacity, DEFAULT_SLOTS);
  assertEquals(sendPool.view(0).byteLength, SLOT_SIZE);
  // Preallocated slab stays small: the bound exists to keep overload memory a few MB.
  assertEquals(DEFAULT_SLOTS * SLOT_SIZE <= 8 * 1024 * 1024, true);
});

Deno.test("SendPool: refuses past capacity and serves again after completions, in any order", () => {
  const pool = new SendPool(3);
  const owner = {
    completed: 0,
    onSendComplete() {
      this.completed++;
    },
  };
  const slots = [pool.acquire(), pool.acquire(), pool.acquire()];
  assertEquals(slots.every((s) => s >= 0), true);
  assertEquals(new Set(slots).size, 3);
  assertEquals(pool.acquire(), -1);
  const callbacks = slots.map((s) => pool.sending(s, owner));
  callbacks[2](null);
  callbacks[0](null);
  callbacks[0](null); // a duplicate completion frees nothing twice
  assertEquals(owner.completed, 2);
  assertEquals(pool.available, 2);
  const a = pool.acquire(), b = pool.acquire();
  assertEquals(new Set([a, b]), new Set([slots[0], slots[2]]));
  assertEquals(pool.acquire(), -1);
  assertEquals(pool.abandon(owner), 1);
  assertEquals(pool.available, 1);
});
