import { assert, assertEquals, assertThrows } from "@std/assert";
import { SendHistory } from "../../src/sfu/send-history.ts";

Deno.test("send history: records and finds by sequence, across 65535→0", () => {
  const h = new SendHistory(64);
  const rows = [
    { seq: 65534, us: 1_000, size: 1200, probe: false },
    { seq: 65535, us: 2_000, size: 300, probe: true },
    { seq: 0, us: 3_000, size: 1100, probe: false },
    { seq: 1, us: 4_000, size: 50, probe: false },
  ];
  for (const r of rows) h.onSent(r.seq, r.us, r.size, r.probe);
  for (const r of rows) {
    const i = h.find(r.seq);
    assert(i >= 0, `found ${r.seq}`);
    assertEquals([h.sendUs(i), h.sizeBytes(i), h.isProbe(i)], [r.us, r.size, r.probe]);
  }
  assertEquals(h.find(2), -1, "never sent");
  assertEquals(h.packetsSent, 4);
  assertEquals(h.bytesSent, 2650);
  assertEquals(h.lastSeq, 1);
});

Deno.test("send history: overwritten slots are not found; acks count once", () => {
  const h = new SendHistory(16);
  for (let s = 0; s < 40; s++) h.onSent(s, s * 10, 100, false);
  assertEquals(h.find(5), -1, "overwritten by 21 and 37");
  assertEquals(h.find(21), -1);
  const i = h.find(37);
  assert(i >= 0);
  assertEquals(h.isAcked(i), false);
  assertEquals(h.markAcked(i), true);
  assertEquals(h.markAcked(i), false);
  h.onSent(53, 999, 10, false); // reuses the slot, clears the ack
  assertEquals(h.find(37), -1);
  assertEquals(h.isAcked(h.find(53)), false);
});

Deno.test("send history: capacity is validated", () => {
  assertThrows(() => new SendHistory(100), RangeError);
  assertThrows(() => new SendHistory(65536), RangeError);
});
