import { assertEquals, assertGreater } from "@std/assert";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { startStunStub } from "../support/stun-stub.ts";
import {
  holesOf,
  play,
  publish,
  serverSideConnected,
  settleWeriftTimers,
  waitFor,
} from "../support/werift-client.ts";
import { startLoopbackServer } from "../support/loopback-server.ts";

// Load the native SRTP library outside the test so the resource sanitizer does not count it.
loadLibsrtp();

Deno.test("werift publisher → Quetzal → two werift viewers over ICE/DTLS/SRTP", async () => {
  const stun = await startStunStub();
  const server = await startLoopbackServer();
  try {
    const publisher = await publish(server.url, "live", server.publishToken, { stunUrl: stun.url });
    await publisher.connected;
    const viewers = [
      await play(server.url, "live", { stunUrl: stun.url }),
      await play(server.url, "live", { stunUrl: stun.url }),
    ];
    await Promise.all(viewers.map((v) => v.connected));
    // Media flows to a viewer once the server's side of its transport is up too.
    await Promise.all(viewers.map((v) => serverSideConnected(server.manager, v.location)));
    for (let i = 0; i < 300; i++) {
      publisher.sendVideo(i % 60 === 0);
      if (i % 3 === 0) publisher.sendAudio();
      if (i % 5 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    // Loss on loopback is repaired by NACK: wait until every viewer has a hole-free range.
    await waitFor(
      () =>
        viewers.every((v) =>
          v.audioPackets >= 50 && holesOf(v.videoSeqs).unique >= 250 &&
          holesOf(v.videoSeqs).holes === 0
        ),
      10_000,
      "media at viewers",
    );
    for (const viewer of viewers) {
      assertEquals(viewer.videoSsrcs.size, 1, "one outbound SSRC per track");
      assertGreater(viewer.keyframes, 0);
      // Continuity of the output sequence space: after unwrapping and de-duplicating, the
      // numbers received form one range with no hole (arrival order is the network's business).
      assertEquals(holesOf(viewer.videoSeqs).holes, 0, "sequence numbers are continuous");
    }
    // A viewer's PLI reaches the publisher.
    const before = publisher.plis;
    viewers[0].sendPli();
    await waitFor(() => publisher.plis > before, 5_000, "PLI at the publisher");

    // DELETE frees the publisher; viewers' consumers go idle, sessions remain until they leave.
    const del = await fetch(server.url + publisher.location, {
      method: "DELETE",
      headers: { Authorization: `Bearer ${server.publishToken}` },
    });
    assertEquals(del.status, 200);
    await del.body?.cancel();
    assertEquals(server.manager.count("publisher"), 0);
    for (const v of viewers) {
      const r = await fetch(server.url + v.location, { method: "DELETE" });
      assertEquals(r.status, 200);
      await r.body?.cancel();
      await v.close();
    }
    assertEquals(server.manager.sessions.size, 0);
    await publisher.close();
  } finally {
    await server.close();
    await stun.close();
    await settleWeriftTimers();
  }
});
