import { assert, assertEquals, assertThrows } from "@std/assert";
import { PacketRing, RING_SLOT_BYTES, type RingSink } from "../../src/workers/packet-ring.ts";

/** Collects what the ring hands out (copies: the views are reused). */
class Collector implements RingSink {
  readonly seen: {
    first: number;
    len: number;
    trackId: number;
    ssrc: number;
    flags: number;
    at: number;
  }[] = [];
  onRingPacket(
    buf: Uint8Array,
    len: number,
    trackId: number,
    ssrc: number,
    flags: number,
    at: number,
  ): void {
    this.seen.push({ first: buf[0], len, trackId, ssrc, flags, at });
  }
}

function packet(first: number, len = 100): Uint8Array {
  const p = new Uint8Array(len);
  p[0] = first;
  return p;
}

Deno.test("ring: slots must be a power of two", () => {
  for (const slots of [0, 1, 3, 6, 1000]) assertThrows(() => new PacketRing(slots), RangeError);
});

Deno.test("ring: fills to capacity, refuses and counts the next, frees on drain", () => {
  const ring = new PacketRing(4);
  for (let i = 0; i < 4; i++) assert(ring.write(packet(i), 0, 100, 1, 2, 0, i));
  assertEquals(ring.fill, 4);
  assertEquals(ring.occupancy, 1);
  assertEquals(ring.write(packet(9), 0, 100, 1, 2, 0, 0), false);
  assertEquals(ring.dropped, 1);
  const sink = new Collector();
  assertEquals(ring.drain(sink, 2), 2);
  assertEquals(sink.seen.map((s) => s.first), [0, 1]);
  assert(ring.write(packet(4), 0, 100, 1, 2, 0, 4));
  assertEquals(ring.drain(sink), 3);
  assertEquals(sink.seen.map((s) => s.first), [0, 1, 2, 3, 4]);
  assertEquals(ring.fill, 0);
});

Deno.test("ring: metadata round-trips, SSRCs above 2^31 included", () => {
  const ring = new PacketRing(2);
  const rows = [
    { trackId: 7, ssrc: 0xffffffff, flags: 3, at: 1.7e12 + 0.125, len: 1200 },
    { trackId: 0, ssrc: 0, flags: 0, at: 0, len: 12 },
  ];
  const sink = new Collector();
  for (const row of rows) {
    assert(
      ring.write(
        packet(row.trackId, row.len),
        0,
        row.len,
        row.trackId,
        row.ssrc,
        row.flags,
        row.at,
      ),
    );
    ring.drain(sink);
  }
  assertEquals(
    sink.seen.map(({ trackId, ssrc, flags, at, len }) => ({ trackId, ssrc, flags, at, len })),
    rows,
  );
});

Deno.test("ring: head and tail wrap across many laps in order", () => {
  const ring = new PacketRing(8);
  const sink = new Collector();
  let written = 0;
  for (let lap = 0; lap < 1000; lap++) {
    const burst = 1 + (lap % 8);
    for (let i = 0; i < burst; i++) {
      assert(ring.write(packet(written++ & 0xff), 0, 100, 0, 0, 0, 0));
    }
    ring.drain(sink);
  }
  assertEquals(sink.seen.length, written);
  assert(sink.seen.every((s, i) => s.first === (i & 0xff)));
});

Deno.test("ring: the 32-bit head and tail counters wrap past 2^31 and 2^32", () => {
  const ring = new PacketRing(8);
  const sink = new Collector();
  for (const start of [0x7ffffffc, -4]) {
    // header Int32[0] = head, [1] = tail (see the layout in packet-ring.ts)
    const header = new Int32Array(ring.buffer, 0, 2);
    header[0] = start;
    header[1] = start;
    for (let i = 0; i < 8; i++) assert(ring.write(packet(i), 0, 100, 0, 0, 0, 0));
    assertEquals(ring.fill, 8);
    assertEquals(ring.write(packet(9), 0, 100, 0, 0, 0, 0), false);
    sink.seen.length = 0;
    assertEquals(ring.drain(sink), 8);
    assertEquals(sink.seen.map((s) => s.first), [0, 1, 2, 3, 4, 5, 6, 7]);
    assertEquals(ring.fill, 0);
  }
});

Deno.test("ring: a packet at an offset, a buffer larger than a slot, and one too large", () => {
  const ring = new PacketRing(4);
  const big = new Uint8Array(RING_SLOT_BYTES + 100);
  big[50] = 42;
  assert(ring.write(big, 50, 1000, 0, 0, 0, 0));
  assertEquals(ring.write(big, 0, RING_SLOT_BYTES + 1, 0, 0, 0, 0), false);
  const sink = new Collector();
  ring.drain(sink);
  assertEquals(sink.seen.map((s) => [s.first, s.len]), [[42, 1000]]);
});

Deno.test("ring: a second view of the buffer sees the same ring", () => {
  const writer = new PacketRing(16);
  const reader = new PacketRing(writer.buffer);
  assertEquals(reader.capacity, 16);
  writer.write(packet(5), 0, 100, 1, 1, 0, 0);
  const sink = new Collector();
  assertEquals(reader.drain(sink), 1);
  assertEquals(writer.fill, 0);
});

Deno.test("ring: waitForData resolves at once when data is there, and on wakeReader", async () => {
  const ring = new PacketRing(4);
  ring.write(packet(1), 0, 100, 0, 0, 0, 0);
  assertEquals(ring.waitForData(), undefined);
  assertEquals(ring.readerSleeping, false);
  ring.drain(new Collector());
  const wait = ring.waitForData(5_000);
  assert(wait !== undefined);
  assertEquals(ring.readerSleeping, true);
  // A write alone does not wake the reader: the writer decides when (coalescing).
  ring.write(packet(2), 0, 100, 0, 0, 0, 0);
  assertEquals(ring.readerSleeping, true);
  assertEquals(ring.wakeReader(), true);
  assertEquals(ring.readerSleeping, false);
  assertEquals(ring.wakeReader(), false, "a second wake has nobody to wake");
  assertEquals(await wait, "ok");
  assertEquals(ring.drain(new Collector()), 1);
});

Deno.test("ring: concurrent writer and reader in two workers, 50,000 packets through 256 slots", async () => {
  const ring = new PacketRing(256);
  const url = new URL("./fixtures/ring-worker.ts", import.meta.url);
  const reader = new Worker(url, { type: "module" });
  const writer = new Worker(url, { type: "module" });
  try {
    const count = 50_000;
    const read = new Promise<{ received: number; errors: number }>((resolve) => {
      reader.onmessage = (e) => resolve(e.data);
    });
    const wrote = new Promise<{ retries: number }>((resolve) => {
      writer.onmessage = (e) => resolve(e.data);
    });
    reader.postMessage({ role: "reader", buffer: ring.buffer, count });
    writer.postMessage({ role: "writer", buffer: ring.buffer, count });
    const [result] = await Promise.all([read, wrote]);
    assertEquals(result.received, count);
    assertEquals(result.errors, 0, "every packet in order with its metadata");
    assertEquals(ring.fill, 0);
  } finally {
    reader.terminate();
    writer.terminate();
  }
});
