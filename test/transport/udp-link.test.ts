import { assertEquals } from "@std/assert";
import { SendPool } from "../../src/transport/send-pool.ts";
import { type DatagramSocket, UdpLink } from "../../src/transport/udp-link.ts";

/** A socket that holds on to each send until the test completes it. */
class HeldSocket implements DatagramSocket {
  pending: { buf: Uint8Array; first: number; done: (e: Error | null) => void }[] = [];
  send(
    msg: Uint8Array,
    _o: number,
    _l: number,
    _p: number,
    _a: string,
    cb: (e: Error | null) => void,
  ) {
    this.pending.push({ buf: msg, first: msg[0], done: cb });
  }
}

Deno.test("UdpLink: completions in any order free exactly their own slots; in-flight bytes are never reused", () => {
  const pool = new SendPool(8);
  const socket = new HeldSocket();
  const link = new UdpLink(socket, "127.0.0.1", 9, 4, pool);
  for (let i = 0; i < 4; i++) {
    const slot = link.acquire();
    link.view(slot)[0] = 100 + i;
    link.send(slot, 1);
  }
  assertEquals(link.acquire(), -1, "the link's queue is bounded");
  assertEquals(link.dropped, 1);
  // Complete the third send first (out of order), then send more: its slot is the only one free
  // to this link, and the others still hold their bytes.
  socket.pending[2].done(null);
  const slot = link.acquire();
  link.view(slot)[0] = 200;
  link.send(slot, 1);
  for (const [i, p] of socket.pending.entries()) {
    if (i !== 2 && i < 4) assertEquals(p.buf[0], p.first, `send ${i} kept its bytes`);
  }
  for (const p of socket.pending.slice().reverse()) p.done(null);
  assertEquals(link.queued, 0);
  assertEquals(pool.available, 8);
});

Deno.test("UdpLink: close returns slots whose callbacks never come; late callbacks are ignored", () => {
  const pool = new SendPool(4);
  const socket = new HeldSocket();
  const link = new UdpLink(socket, "127.0.0.1", 9, 4, pool);
  for (let i = 0; i < 3; i++) link.send(link.acquire(), 1);
  assertEquals(pool.available, 1);
  link.close();
  assertEquals(pool.available, 4);
  socket.pending[0].done(null);
  assertEquals(pool.available, 4, "no double release");
  assertEquals(link.acquire(), -1, "a closed link sends nothing");
});
