/**
 * `--rtc-port`: one shared UDP port per thread instead of a port per session (udp-mux.ts). In
 * the default configuration (two viewer workers): the publisher's candidate is the main
 * thread's port, every viewer's is its worker's, media flows both ways through the shared
 * sockets, and when the sessions end nothing stays routed. A port that is taken stops the start
 * with a message naming it; datagrams from addresses no session owns are dropped.
 */
import { assert, assertEquals, assertRejects } from "@std/assert";
import { counters, SendLinkPath } from "../../src/observability/counters.ts";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { udpMuxOn } from "../../src/transport/udp-mux.ts";
import { startLoopbackServer } from "../support/loopback-server.ts";
import { candidatePort } from "../support/offers.ts";
import { startStunStub } from "../support/stun-stub.ts";
import {
  play,
  publish,
  sendFrames,
  serverSideConnected,
  settleWeriftTimers,
  type Viewer,
  waitFor,
} from "../support/werift-client.ts";

loadLibsrtp();

Deno.test({
  name: "--rtc-port: the publisher and every viewer share their thread's one port",
  async fn() {
    const stun = await startStunStub();
    const server = await startLoopbackServer({ rtcPort: 0 });
    const peers: { close(): Promise<void> }[] = [];
    try {
      const main = udpMuxOn(0);
      assert(main, "the main thread opened its shared port");
      const workerPorts = server.workers?.rtcPorts ?? [];
      assertEquals(workerPorts.length, 2, "each worker reports its port");
      assertEquals(new Set([main.port, ...workerPorts]).size, 3, "three distinct ports");

      const opts = { stunUrl: stun.url };
      const publisher = await publish(server.url, "shared", server.publishToken, opts);
      peers.push(publisher);
      assertEquals(candidatePort(publisher.pc.remoteDescription!.sdp), main.port);
      await publisher.connected;
      await serverSideConnected(server.manager, publisher.location);
      await sendFrames(publisher, 5);

      const viewers: Viewer[] = await Promise.all(
        Array.from({ length: 6 }, () => play(server.url, "shared", opts)),
      );
      peers.push(...viewers);
      for (const viewer of viewers) {
        const port = candidatePort(viewer.pc.remoteDescription!.sdp);
        assert(workerPorts.includes(port), `viewer on a worker's port (${port} of ${workerPorts})`);
      }
      await Promise.all(viewers.map((v) => v.connected));
      const sending = setInterval(() => {
        publisher.sendVideo(true);
        publisher.sendAudio();
      }, 20);
      try {
        await waitFor(
          () => viewers.every((v) => v.videoSeqs.length > 20 && v.audioPackets > 5),
          15_000,
          "video and audio at every viewer",
        );
      } finally {
        clearInterval(sending);
      }
      // RTCP from the viewers reached their sessions through the workers' shared sockets.
      assertEquals(main.size, 1, "one transport (the publisher) on the main thread's port");
    } finally {
      for (const peer of peers) await peer.close();
      await server.close();
      await stun.close();
      await settleWeriftTimers();
    }
    assertEquals(udpMuxOn(0), undefined, "the port closes with the server");
    assertEquals(counters.sendLinks[SendLinkPath.mux], 0, "no link left open");
  },
});

Deno.test({
  name: "--rtc-port: sessions that end leave nothing routed; strangers' datagrams are dropped",
  async fn() {
    const stun = await startStunStub();
    // Viewers on the main thread, so that its mux shows every transport.
    const server = await startLoopbackServer({ rtcPort: 0, workers: 1 });
    const stranger = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    try {
      const mux = udpMuxOn(0)!;
      const opts = { stunUrl: stun.url };
      const publisher = await publish(server.url, "leave", server.publishToken, opts);
      await publisher.connected;
      await serverSideConnected(server.manager, publisher.location);
      const viewers = await Promise.all([1, 2, 3].map(() => play(server.url, "leave", opts)));
      await Promise.all(viewers.map((v) => v.connected));
      let frame = 0;
      const sending = setInterval(() => publisher.sendVideo(frame++ % 10 === 0), 20);
      try {
        await waitFor(() => viewers.every((v) => v.videoSeqs.length > 0), 10_000, "video");
      } finally {
        clearInterval(sending);
      }
      assertEquals(mux.size, 4);
      assertEquals(mux.routes, 4, "each client's address routed");

      // RTP and a STUN request with nobody's ufrag, from an address no session owns.
      const before = mux.stats.unrouted;
      const target = { transport: "udp" as const, hostname: "127.0.0.1", port: mux.port };
      const rtp = new Uint8Array(40);
      rtp[0] = 0x80;
      rtp[1] = 96;
      await stranger.send(rtp, target);
      await stranger.send(stunRequest("nobody:me"), target);
      // A check naming a real transport's ufrag, without its password: werift would answer
      // it (it does not check integrity), and the answer would route the stranger's address.
      const ufrag = /a=ice-ufrag:(\S+)/.exec(viewers[0].pc.remoteDescription!.sdp)![1];
      await stranger.send(stunRequest(`${ufrag}:intruder`), target);
      await waitFor(() => mux.stats.unrouted >= before + 3, 5000, "all three dropped");
      assertEquals(mux.routes, 4, "the stranger's address routes nowhere");

      for (const viewer of viewers) {
        await fetch(`${server.url}${viewer.location}`, { method: "DELETE" }).then((r) =>
          r.body?.cancel()
        );
        await viewer.close();
      }
      await fetch(`${server.url}${publisher.location}`, {
        method: "DELETE",
        headers: { Authorization: `Bearer ${server.publishToken}` },
      }).then((r) => r.body?.cancel());
      await publisher.close();
      await waitFor(() => mux.size === 0, 5000, "every transport left the port");
      assertEquals(mux.routes, 0, "no address stays routed");
    } finally {
      stranger.close();
      await server.close();
      await stun.close();
      await settleWeriftTimers();
    }
  },
});

Deno.test({
  name: "--rtc-port: a worker's port that is taken stops the start, naming the port",
  async fn() {
    const base = 41300;
    const held = Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port: base + 2 });
    try {
      const error = await assertRejects(() => startLoopbackServer({ rtcPort: base }));
      assert(String(error).includes(`${base + 2}`), String(error));
      // Nothing of the failed start holds its ports.
      assertEquals(udpMuxOn(base), undefined);
      const again = Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port: base });
      again.close();
    } finally {
      held.close();
    }
    const server = await startLoopbackServer({ rtcPort: base });
    try {
      assertEquals(udpMuxOn(base)?.port, base);
      assertEquals(server.workers?.rtcPorts, [base + 1, base + 2]);
    } finally {
      await server.close();
    }
  },
});

/** A STUN Binding request with a USERNAME and nothing else (no integrity: nobody checks it). */
function stunRequest(username: string): Uint8Array {
  const name = new TextEncoder().encode(username);
  const padded = (name.length + 3) & ~3;
  const out = new Uint8Array(20 + 4 + padded);
  const view = new DataView(out.buffer);
  view.setUint16(0, 0x0001);
  view.setUint16(2, 4 + padded);
  view.setUint32(4, 0x2112a442);
  crypto.getRandomValues(out.subarray(8, 20));
  view.setUint16(20, 0x0006);
  view.setUint16(22, name.length);
  out.set(name, 24);
  return out;
}
