import dgram from "node:dgram";
import { assert, assertEquals } from "@std/assert";
import { RECEIVE_BUFFER_BYTES, selectSendPath } from "../../src/transport/send-path.ts";
import { onSendPathFallback } from "../../src/transport/send-path-fallback.ts";
import { counters, DropReason, SendLinkPath } from "../../src/observability/counters.ts";
import { loadLibc, socketAddress } from "../../src/transport/libc.ts";
import { SyscallLink } from "../../src/transport/syscall-link.ts";
import { UdpLink } from "../../src/transport/udp-link.ts";

const onLinux = Deno.build.os === "linux";

async function boundSocket(type: "udp4" | "udp6" = "udp4"): Promise<dgram.Socket> {
  const socket = dgram.createSocket(type);
  await new Promise<void>((resolve) =>
    socket.bind(0, type === "udp4" ? "127.0.0.1" : "::1", () => resolve())
  );
  return socket;
}

function close(socket: dgram.Socket): Promise<void> {
  return new Promise((resolve) => socket.close(() => resolve()));
}

function openFds(): number {
  return [...Deno.readDirSync("/proc/self/fd")].length;
}

/** Sends `count` numbered datagrams through `send` and collects what `receiver` gets. */
async function exchange(
  receiver: dgram.Socket,
  count: number,
  send: (i: number) => void,
): Promise<{ payloads: Uint8Array[]; ports: Set<number> }> {
  const payloads: Uint8Array[] = [];
  const ports = new Set<number>();
  const done = Promise.withResolvers<void>();
  receiver.on("message", (msg, rinfo) => {
    payloads.push(new Uint8Array(msg));
    ports.add(rinfo.port);
    if (payloads.length === count) done.resolve();
  });
  for (let i = 0; i < count; i++) {
    send(i);
    // Let the receiver drain now and then: loopback drops what overflows its buffer.
    if (i % 32 === 31) await new Promise((r) => setTimeout(r, 1));
  }
  const timer = setTimeout(() => done.resolve(), 2000);
  await done.promise;
  clearTimeout(timer);
  receiver.removeAllListeners("message");
  return { payloads, ports };
}

Deno.test({
  name: "send path: auto picks syscall on Linux; datagrams leave from werift's socket, intact",
  ignore: !onLinux,
  fn: async () => {
    const path = selectSendPath("auto");
    assertEquals(path.name, "syscall");
    const fdsBefore = openFds();
    const socket = await boundSocket();
    const receiver = await boundSocket();
    const link = path.link(socket, "127.0.0.1", receiver.address().port);
    assert(link instanceof SyscallLink, "a syscall link, not the dgram fallback");
    const { payloads, ports } = await exchange(receiver, 500, (i) => {
      const slot = link.acquire();
      const buf = link.view(slot);
      const length = 100 + (i % 1000);
      for (let k = 0; k < length; k++) buf[k] = (i + k) & 0xff;
      link.send(slot, length);
    });
    assertEquals(payloads.length, 500);
    assertEquals([...ports], [socket.address().port], "same 5-tuple as the ICE socket");
    for (const [i, p] of payloads.entries()) {
      assertEquals(p.length, 100 + (i % 1000));
      assert(p.every((b, k) => b === ((i + k) & 0xff)), `datagram ${i} intact`);
    }
    assertEquals(link.packetsSent, 500);
    assertEquals(link.errors + link.dropped, 0);
    // werift keeps using its socket for STUN/DTLS on the same 5-tuple.
    const viaDgram = await exchange(receiver, 1, () => {
      socket.send(new Uint8Array([1, 2, 3]), receiver.address().port, "127.0.0.1");
    });
    assertEquals([...viaDgram.ports], [socket.address().port]);
    // werift closing its socket first: the link still owns a descriptor until it closes.
    await close(socket);
    link.send(link.acquire(), 10);
    link.close();
    assertEquals(link.acquire(), -1, "a closed link takes nothing");
    await close(receiver);
    assertEquals(openFds(), fdsBefore, "the private descriptor is closed with the link");
  },
});

Deno.test({
  name: "send path: IPv6 sockets and IPv4-mapped destinations",
  ignore: !onLinux,
  fn: async () => {
    let socket: dgram.Socket;
    try {
      socket = await boundSocket("udp6");
    } catch {
      return; // no IPv6 loopback here
    }
    const receiver = await boundSocket("udp6");
    const link = selectSendPath("syscall").link(socket, "::1", receiver.address().port);
    assert(link instanceof SyscallLink);
    const { payloads } = await exchange(receiver, 3, () => {
      const slot = link.acquire();
      link.view(slot).set([9, 8, 7]);
      link.send(slot, 3);
    });
    assertEquals(payloads.map((p) => [...p]), [[9, 8, 7], [9, 8, 7], [9, 8, 7]]);
    link.close();
    await close(socket);
    await close(receiver);
  },
});

Deno.test({
  name: "send path: a datagram the kernel refuses is counted as send_error, not sent",
  ignore: !onLinux,
  fn: async () => {
    const socket = await boundSocket();
    const link = selectSendPath("syscall").link(socket, "127.0.0.1", 0); // port 0: EINVAL
    const before = counters.packetsDropped[DropReason.sendError];
    link.send(link.acquire(), 20);
    assertEquals(link.packetsSent, 0);
    assertEquals(link.errors, 1);
    assertEquals(counters.packetsDropped[DropReason.sendError], before + 1);
    link.close();
    await close(socket);
  },
});

Deno.test("send path: dgram mode keeps node:dgram links", async () => {
  const path = selectSendPath("dgram");
  assertEquals(path.name, "dgram");
  const socket = await boundSocket();
  const link = path.link(socket, "127.0.0.1", 9);
  assert(link instanceof UdpLink);
  link.close();
  await close(socket);
});

Deno.test("socketAddress: C layouts for IPv4, IPv6 and IPv4 on an IPv6 socket; junk refused", () => {
  const v4 = socketAddress(4, "10.1.2.3", 0x1234)!;
  assertEquals(v4.length, 16);
  assertEquals([...v4.bytes.subarray(0, 8)], [2, 0, 0x12, 0x34, 10, 1, 2, 3]);
  const v6 = socketAddress(6, "2001:db8::1", 443)!;
  assertEquals(v6.length, 28);
  assertEquals([v6.bytes[0], v6.bytes[2], v6.bytes[3]], [10, 1, 187]);
  assertEquals([...v6.bytes.subarray(8, 24)], [
    0x20,
    0x01,
    0x0d,
    0xb8,
    ...new Array(11).fill(0),
    1,
  ]);
  const mapped = socketAddress(6, "192.0.2.7", 5)!;
  assertEquals([...mapped.bytes.subarray(18, 24)], [0xff, 0xff, 192, 0, 2, 7]);
  assertEquals(socketAddress(4, "2001:db8::1", 1), undefined);
  assertEquals(socketAddress(4, "300.1.1.1", 1), undefined);
  assertEquals(socketAddress(6, "1::2::3", 1), undefined);
  assertEquals(socketAddress(6, "not an address", 1), undefined);
});

Deno.test({
  name: "libc: finds no descriptor for a port nothing is bound to",
  ignore: !onLinux,
  fn: () => {
    const status = loadLibc();
    assert(status.available);
    assertEquals(status.libc.findUdpSocketFd("127.0.0.1", 1), -1);
  },
});

Deno.test({
  name: "send path: links are counted by path; a socket it cannot find falls back, reported once",
  ignore: !onLinux,
  fn: async () => {
    const path = selectSendPath("syscall");
    const reasons: string[] = [];
    onSendPathFallback((kind, reason) => reasons.push(`${kind}: ${reason}`));
    const socket = await boundSocket();
    const [syscall0, dgram0, mux0] = counters.sendLinks;
    const good = path.link(socket, "127.0.0.1", 9);
    assert(good instanceof SyscallLink);
    assertEquals(counters.sendLinks[SendLinkPath.syscall], syscall0 + 1);
    // A socket whose port no descriptor of this process is bound to (port 1 needs root and
    // nothing here binds it): the syscall path cannot find it.
    const ghost = { address: () => ({ address: "127.0.0.1", port: 1, family: "IPv4" }), send() {} };
    const lost = [path.link(ghost, "127.0.0.1", 9), path.link(ghost, "127.0.0.1", 9)];
    assert(lost.every((l) => l instanceof UdpLink), "the dgram fallback");
    assertEquals(counters.sendLinks[SendLinkPath.dgram], dgram0 + 2);
    assertEquals(reasons.length, 1, "reported once per isolate");
    assert(reasons[0].startsWith("dgram: ") && reasons[0].includes("127.0.0.1:1"), reasons[0]);
    for (const link of [good, ...lost]) {
      link.close();
      link.close(); // idempotent: counted down once
    }
    assertEquals([...counters.sendLinks], [syscall0, dgram0, mux0]);
    onSendPathFallback(undefined);
    await close(socket);
  },
});

Deno.test({
  name: "send path: a syscall link widens its socket's receive buffer (what a busy loop queues)",
  ignore: !onLinux,
  fn: async () => {
    const libc = loadLibc();
    assert(libc.available);
    const socket = await boundSocket();
    const { port } = socket.address();
    const probe = libc.libc.findUdpSocketFd("127.0.0.1", port);
    assert(probe >= 0);
    const before = libc.libc.receiveBuffer(probe);
    const link = selectSendPath("auto").link(socket, "127.0.0.1", 9);
    try {
      const after = libc.libc.receiveBuffer(probe);
      const rmemMax = Number(Deno.readTextFileSync("/proc/sys/net/core/rmem_max"));
      // The kernel doubles the request and caps the request at rmem_max.
      const expected = 2 * Math.min(RECEIVE_BUFFER_BYTES, rmemMax);
      assertEquals(after, Math.max(before, expected), `before ${before}, rmem_max ${rmemMax}`);
    } finally {
      link.close();
      libc.libc.close(probe);
      await close(socket);
    }
  },
});
