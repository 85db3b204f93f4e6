/**
 * `--rtc-ports` (the Docker image sets it): sessions negotiated at the same time, on the main
 * thread and in the viewer workers, each get their own port of the range; a port another
 * process holds is skipped; a range with no free port refuses the session with 503
 * `over-capacity` and the server carries on. Before, werift probed a port, closed it and bound
 * it later, and two negotiations in flight could pick the same one: an uncaught EADDRINUSE
 * ended the server.
 */
import { assert, assertEquals } from "@std/assert";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { startLoopbackServer } from "../support/loopback-server.ts";
import { candidatePort } from "../support/offers.ts";
import { startStunStub } from "../support/stun-stub.ts";
import {
  createOffer,
  createPeer,
  play,
  publish,
  sendFrames,
  serverSideConnected,
  settleWeriftTimers,
  type Viewer,
  waitFor,
} from "../support/werift-client.ts";

// Load the native SRTP library outside the test so the resource sanitizer does not count it.
loadLibsrtp();

Deno.test({
  name: "twelve viewers negotiating at once each get their own port of --rtc-ports",
  async fn() {
    const [min, max] = [41200, 41239];
    const stun = await startStunStub();
    const server = await startLoopbackServer({ rtcPorts: `${min}-${max}` });
    const peers: { close(): Promise<void> }[] = [];
    try {
      const opts = { stunUrl: stun.url };
      const publisher = await publish(server.url, "ports", server.publishToken, opts);
      peers.push(publisher);
      await publisher.connected;
      await serverSideConnected(server.manager, publisher.location);
      await sendFrames(publisher, 5);

      const viewers: Viewer[] = await Promise.all(
        Array.from({ length: 12 }, () => play(server.url, "ports", opts)),
      );
      peers.push(...viewers);
      const ports = viewers.map((v) => candidatePort(v.pc.remoteDescription!.sdp));
      ports.push(candidatePort(publisher.pc.remoteDescription!.sdp));
      for (const port of ports) assert(min <= port && port <= max, `port ${port} in the range`);
      assertEquals(new Set(ports).size, ports.length, `distinct ports: ${ports}`);

      await Promise.all(viewers.map((v) => v.connected));
      const sending = setInterval(() => publisher.sendVideo(true), 20);
      try {
        await waitFor(
          () => viewers.every((v) => v.videoSeqs.length > 5),
          15_000,
          "video at every viewer",
        );
      } finally {
        clearInterval(sending);
      }
    } finally {
      for (const peer of peers) await peer.close();
      await server.close();
      await stun.close();
      await settleWeriftTimers();
    }
  },
});

Deno.test({
  name: "a port another process holds is skipped; a full --rtc-ports range is a 503, then frees",
  async fn() {
    const [min, max] = [41250, 41252];
    // Another program on this machine holds two of the three ports.
    const held = [min, min + 1].map((port) =>
      Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port })
    );
    const stun = await startStunStub();
    const server = await startLoopbackServer({ rtcPorts: `${min}-${max}` });
    const peers: { close(): Promise<void> }[] = [];
    try {
      const opts = { stunUrl: stun.url };
      const publisher = await publish(server.url, "full", server.publishToken, opts);
      peers.push(publisher);
      assertEquals(candidatePort(publisher.pc.remoteDescription!.sdp), max);

      const refused = createPeer(opts);
      peers.push(refused);
      refused.addTransceiver("video", { direction: "recvonly" });
      const response = await fetch(`${server.url}/whep/full`, {
        method: "POST",
        headers: { "Content-Type": "application/sdp" },
        body: await createOffer(refused),
      });
      const problem = await response.json();
      assertEquals(response.status, 503);
      assert(String(problem.type).endsWith("over-capacity"), problem.type);
      assert(String(problem.detail).includes(`--rtc-ports ${min}-${max}`), problem.detail);
      assert(response.headers.has("Retry-After"));

      held[0].close();
      const viewer = await play(server.url, "full", opts);
      peers.push(viewer);
      assertEquals(candidatePort(viewer.pc.remoteDescription!.sdp), min);
      await viewer.connected;
      const health = await fetch(`${server.url}/healthz`);
      await health.body?.cancel();
      assertEquals(health.status, 200);
    } finally {
      for (const peer of peers) await peer.close();
      held[1].close();
      await server.close();
      await stun.close();
      await settleWeriftTimers();
    }
  },
});
