import { assert, assertEquals, assertThrows } from "@std/assert";
import { RetransmissionCache } from "../../src/rtp/retransmission-cache.ts";

function packet(seq: number, len: number): Uint8Array {
  const p = new Uint8Array(len);
  for (let i = 0; i < len; i++) p[i] = (seq + i) & 0xff;
  return p;
}

Deno.test("RetransmissionCache: capacity must be a power of two", () => {
  for (const bad of [0, 3, 100, 65536, 1.5, -4]) {
    assertThrows(() => new RetransmissionCache(bad), RangeError);
  }
  assertThrows(() => new RetransmissionCache(8, 0), RangeError);
  assertThrows(() => new RetransmissionCache(8, 70000), RangeError);
  for (const good of [1, 2, 512, 32768]) {
    assertEquals(new RetransmissionCache(good, 64).capacity, good);
  }
});

Deno.test("RetransmissionCache: put/find/read back with tag and time", () => {
  const c = new RetransmissionCache(8, 100);
  const p = packet(7, 60);
  assert(c.put(7, p, 60, 0xdeadbeef, 1000));
  const slot = c.find(7);
  assert(slot >= 0);
  assertEquals(c.length(slot), 60);
  assertEquals(c.tag(slot), 0xdeadbeef);
  assertEquals(c.storedAtMs(slot), 1000);
  assertEquals(c.buffer(slot).subarray(0, 60), p);
  assertEquals(c.buffer(slot).length, 100);
  // The copy is independent of the caller's buffer.
  p[0] ^= 0xff;
  assertEquals(c.buffer(slot)[0], 7);
  assertEquals(c.find(8), -1);
  assertEquals(c.find(15), -1); // same slot, never stored
});

Deno.test("RetransmissionCache: a longer caller buffer copies only len bytes", () => {
  const c = new RetransmissionCache(4, 32);
  const scratch = packet(1, 1500);
  assert(c.put(1, scratch, 20, 0, 0));
  const slot = c.find(1);
  assertEquals(c.buffer(slot).subarray(0, 20), scratch.subarray(0, 20));
  assertEquals(c.buffer(slot)[20], 0);
});

Deno.test("RetransmissionCache: rows of puts → what is still found", () => {
  const rows: { name: string; puts: number[]; found: number[]; missing: number[] }[] = [
    { name: "last capacity kept", puts: [1, 2, 3, 4, 5], found: [2, 3, 4, 5], missing: [1] },
    {
      name: "wrap 65535 → 0",
      puts: [65533, 65534, 65535, 0, 1],
      found: [65534, 65535, 0, 1],
      missing: [65533],
    },
    { name: "reorder", puts: [10, 12, 11, 13], found: [10, 11, 12, 13], missing: [9, 14] },
    { name: "duplicate overwrites", puts: [20, 20], found: [20], missing: [24] },
    { name: "loss leaves holes", puts: [30, 33], found: [30, 33], missing: [31, 32, 34] },
  ];
  for (const row of rows) {
    const c = new RetransmissionCache(4, 64);
    for (const s of row.puts) c.put(s, packet(s, 10), 10, s, 0);
    for (const s of row.found) {
      const slot = c.find(s);
      assert(slot >= 0, `${row.name}: ${s} found`);
      assertEquals(c.tag(slot), s, row.name);
      assertEquals(c.buffer(slot)[0], s & 0xff, row.name);
    }
    for (const s of row.missing) assertEquals(c.find(s), -1, `${row.name}: ${s} missing`);
  }
});

Deno.test("RetransmissionCache: oversize packets are refused and empty the slot", () => {
  const c = new RetransmissionCache(4, 32);
  assert(c.put(5, packet(5, 10), 10, 0, 0));
  assertEquals(c.put(9, packet(9, 33), 33, 0, 0), false);
  assertEquals(c.find(9), -1);
  assertEquals(c.find(5), -1); // same slot: the stale packet must not be answered either
});

Deno.test("RetransmissionCache: markResent throttles per packet, reset by a new put", () => {
  const c = new RetransmissionCache(4, 32);
  c.put(1, packet(1, 4), 4, 0, 0);
  c.put(2, packet(2, 4), 4, 0, 0);
  const s1 = c.find(1);
  const s2 = c.find(2);
  assert(c.markResent(s1, 100, 50));
  assertEquals(c.markResent(s1, 120, 50), false);
  assert(c.markResent(s2, 120, 50)); // independent slot
  assert(c.markResent(s1, 150, 50));
  assertEquals(c.markResent(s1, 199, 50), false);
  c.put(5, packet(5, 4), 4, 0, 200); // evicts 1
  assert(c.markResent(c.find(5), 200, 50));
});

Deno.test("RetransmissionCache: clear empties everything", () => {
  const c = new RetransmissionCache(4, 32);
  for (let s = 0; s < 4; s++) c.put(s, packet(s, 4), 4, 0, 0);
  c.clear();
  for (let s = 0; s < 4; s++) assertEquals(c.find(s), -1);
});
