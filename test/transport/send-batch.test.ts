/**
 * The batched send path (send-batch.ts) and the receive drain (receive-drain.ts) on real
 * loopback sockets. The drain reads synchronously, so what has arrived is checked without
 * waiting: sendmmsg has queued a datagram in the receiver's socket when it returns.
 */
import dgram from "node:dgram";
import { assert, assertEquals } from "@std/assert";
import { selectSendPath } from "../../src/transport/send-path.ts";
import { SyscallLink } from "../../src/transport/syscall-link.ts";
import { MAX_RUN, SendBatch, sendBatch } from "../../src/transport/send-batch.ts";
import { Mmsghdr, MMSGHDR_SIZE } from "../../src/transport/mmsg.ts";
import { onSendPathFallback } from "../../src/transport/send-path-fallback.ts";
import type { ReceiveDrain } from "../../src/transport/receive-drain.ts";

const onLinux = Deno.build.os === "linux";

async function boundSocket(): Promise<dgram.Socket> {
  const socket = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
  return socket;
}

function close(socket: dgram.Socket): Promise<void> {
  return new Promise((resolve) => socket.close(() => resolve()));
}

/** A syscall-path link from one loopback socket to another, and a drain on the receiver. */
async function loopbackLink() {
  const path = selectSendPath("auto");
  const sender = await boundSocket();
  const receiver = await boundSocket();
  const drain = path.drain(receiver)!;
  const link = path.link(sender, "127.0.0.1", receiver.address().port);
  return {
    link,
    drain,
    async close() {
      drain.close();
      await close(sender);
      await close(receiver);
    },
  };
}

/** Everything queued on the drain's socket now, as copies. */
function readAll(drain: ReceiveDrain): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let n = drain.read(); n > 0; n = drain.read()) {
    for (let i = 0; i < n; i++) out.push(drain.views[i].slice(0, drain.length(i)));
  }
  return out;
}

function datagram(i: number): Uint8Array {
  const b = new Uint8Array(60 + (i * 37) % 1200);
  b[0] = 0x80;
  for (let k = 1; k < b.length; k++) b[k] = (i + k) & 0xff;
  return b;
}

Deno.test({
  name: "send batch: datagrams queue until the batch ends, then leave whole and in order",
  ignore: !onLinux,
  fn: async () => {
    const path = selectSendPath("auto");
    const sender = await boundSocket();
    const other = await boundSocket();
    const receiver = await boundSocket();
    const drain = path.drain(receiver);
    assert(drain, "a drain on an IPv4 socket of the syscall path");
    const port = receiver.address().port;
    const a = path.link(sender, "127.0.0.1", port);
    const b = path.link(other, "127.0.0.1", port);
    assert(a instanceof SyscallLink && b instanceof SyscallLink);
    try {
      const count = 3 * MAX_RUN + 5; // runs that fill up are sent before the end
      sendBatch.begin();
      for (let i = 0; i < count; i++) {
        const link = i % 2 === 0 ? a : b;
        const slot = link.acquire();
        const d = datagram(i);
        link.view(slot).set(d);
        link.send(slot, d.length);
      }
      const early = readAll(drain);
      assert(early.length < count, "some datagrams wait for the end");
      sendBatch.end();
      const all = early.concat(readAll(drain));
      assertEquals(all.length, count);
      assertEquals(a.packetsSent + b.packetsSent, count);
      assertEquals(a.dropped + a.errors + b.dropped + b.errors, 0);
      // Whole, and each link's datagrams (even indexes: a, odd: b) in the order they were sent.
      const indexes = all.map(indexOf);
      for (const [k, d] of all.entries()) assertEquals(d, datagram(indexes[k]));
      for (const parity of [0, 1]) {
        const mine = indexes.filter((i) => i % 2 === parity);
        assertEquals(mine, [...mine].sort((x, y) => x - y));
        assertEquals(mine.length, parity === 0 ? Math.ceil(count / 2) : Math.floor(count / 2));
      }
      // Outside a batch a send leaves at once.
      const slot = a.acquire();
      a.view(slot).set(datagram(1));
      a.send(slot, datagram(1).length);
      assertEquals(readAll(drain), [datagram(1)]);
    } finally {
      a.close();
      b.close();
      drain.close();
      await close(sender);
      await close(other);
      await close(receiver);
    }
  },
});

/** The index a datagram was built from (its second byte is index + 1). */
function indexOf(d: Uint8Array): number {
  for (let i = 0; i < 4096; i++) {
    if (datagram(i).length === d.length && ((i + 1) & 0xff) === d[1]) return i;
  }
  return -1;
}

Deno.test({
  name: "send batch: a link closed inside a batch sends what it queued first",
  ignore: !onLinux,
  fn: async () => {
    const { link, drain, close } = await loopbackLink();
    try {
      sendBatch.begin();
      for (let i = 0; i < 3; i++) {
        const slot = link.acquire();
        link.view(slot).set(datagram(i));
        link.send(slot, datagram(i).length);
      }
      link.close();
      assertEquals(link.acquire(), -1);
      sendBatch.end();
      assertEquals(readAll(drain), [datagram(0), datagram(1), datagram(2)]);
    } finally {
      await close();
    }
  },
});

Deno.test({
  name: "receive drain: STUN and DTLS go to the socket's listeners; oversized datagrams are cut",
  ignore: !onLinux,
  fn: async () => {
    const path = selectSendPath("auto");
    const sender = await boundSocket();
    const receiver = await boundSocket();
    const drain = path.drain(receiver)!;
    const seen: { first: number; port: number; address: string; size: number }[] = [];
    receiver.on("message", (msg, rinfo) => {
      seen.push({ first: msg[0], port: rinfo.port, address: rinfo.address, size: rinfo.size });
    });
    const link = path.link(sender, "127.0.0.1", receiver.address().port);
    try {
      for (const d of [new Uint8Array([0, 1, 2, 3]), new Uint8Array(1700).fill(0x90)]) {
        const slot = link.acquire();
        link.view(slot).set(d);
        link.send(slot, d.length);
      }
      const n = drain.read();
      assertEquals(n, 2);
      assertEquals(drain.length(0), 4);
      assertEquals(drain.length(1), -1, "cut: larger than a slot");
      drain.handOver(0, drain.length(0));
      assertEquals(seen, [{
        first: 0,
        port: sender.address().port,
        address: "127.0.0.1",
        size: 4,
      }]);
      assertEquals(drain.read(), 0, "nothing left");
    } finally {
      link.close();
      drain.close();
      receiver.removeAllListeners("message");
      await close(sender);
      await close(receiver);
    }
  },
});

/** A datagram of `size` bytes whose content says which one it is. */
function sized(i: number, size: number): Uint8Array {
  const b = new Uint8Array(size);
  b[0] = 0x80;
  b[1] = i;
  for (let k = 2; k < size; k++) b[k] = (i * 7 + k) & 0xff;
  return b;
}

Deno.test({
  name:
    "send batch: a frame's equal packets leave as one segmented message (UDP_SEGMENT) and arrive as the same datagrams",
  ignore: !onLinux,
  fn: async () => {
    const { link, drain, close } = await loopbackLink();
    // Two frames (equal packets, a shorter last one), a longer packet that starts a message
    // of its own, audio-sized ones: every way a run is cut into messages.
    const sizes = [1216, 1216, 1216, 1216, 700, 1216, 1216, 1300, 1300, 90, 90, 95, 1216];
    const sent = sizes.map((size, i) => sized(i, size));
    try {
      assert(sendBatch.gso, "UDP_SEGMENT is on unless the kernel refused it");
      sendBatch.begin();
      for (const d of sent) {
        const slot = link.acquire();
        link.view(slot).set(d);
        link.send(slot, d.length);
      }
      sendBatch.end();
      assertEquals(readAll(drain), sent);
      assert(link instanceof SyscallLink);
      assertEquals(link.packetsSent, sizes.length);
      assertEquals(sendBatch.gsoErrno, 0, "this kernel takes UDP_SEGMENT on loopback");
    } finally {
      link.close();
      await close();
    }
  },
});

Deno.test("send batch: a kernel that refuses UDP_SEGMENT gets one datagram per message from then on", () => {
  const batch = new SendBatch();
  const messages: number[][] = [];
  // sendmmsg as a kernel without UDP_SEGMENT answers: EINVAL for any message of several
  // datagrams; otherwise every message leaves.
  const libc = {
    sendmmsg(_fd: number, headers: Uint8Array, count: number): number {
      const words = new Uint32Array(headers.buffer);
      const iovLengths = [];
      for (let m = 0; m < count; m++) {
        iovLengths.push(words[(m * MMSGHDR_SIZE + Mmsghdr.iovLength) >>> 2]);
      }
      messages.push(iovLengths);
      return iovLengths.some((n) => n > 1) ? -22 : count;
    },
  };
  const slots = new Int32Array(MAX_RUN);
  const lengths = new Int32Array(MAX_RUN);
  for (let i = 0; i < 6; i++) {
    slots[i] = batch.acquire();
    lengths[i] = 1200;
  }
  const to = { bytes: new Uint8Array(16), length: 16 };
  const reported: string[] = [];
  onSendPathFallback((kind, reason) => reported.push(`${kind}: ${reason}`));
  // A stand-in for Libc: only sendmmsg is called by sendRun.
  const sent = batch.sendRun(Object.assign(Object.create(null), libc), 3, to, slots, lengths, 6);
  onSendPathFallback(undefined);
  assertEquals(sent, 6);
  assertEquals(reported, ["no-gso: sendmmsg with UDP_SEGMENT failed with errno 22"], "logged once");
  assertEquals(messages, [[6], [1, 1, 1, 1, 1, 1]]);
  assertEquals(batch.gso, false);
  assertEquals(batch.gsoErrno, 22);
});
