/**
 * A joining viewer must start at a key frame: its consumer waits for one (requested on join),
 * and what it forwards first is that key frame, even when a key frame went by while the
 * viewer's transport was still connecting.
 */
import { assertEquals, assertGreater } from "@std/assert";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { startStunStub } from "../support/stun-stub.ts";
import {
  play,
  publish,
  sendFrames,
  serverSideConnected,
  sessionIdOf,
  settleWeriftTimers,
  waitFor,
} from "../support/werift-client.ts";
import { startLoopbackServer } from "../support/loopback-server.ts";

// Load the native SRTP library outside the test so the resource sanitizer does not count it.
loadLibsrtp();

Deno.test({
  name: "a viewer's first video packet is a key frame when one passed before its transport was up",
  async fn() {
    const stun = await startStunStub();
    const server = await startLoopbackServer();
    const peers: { close(): Promise<void> }[] = [];
    try {
      const opts = { stunUrl: stun.url };
      const publisher = await publish(server.url, "join", server.publishToken, opts);
      peers.push(publisher);
      await publisher.connected;
      await serverSideConnected(server.manager, publisher.location);
      await sendFrames(publisher, 10);
      // This publisher answers key-frame requests as an encoder would.
      let keyframeRequested = false;
      publisher.pc.getTransceivers()[0].sender.onPictureLossIndication.subscribe(() => {
        keyframeRequested = true;
      });

      const viewer = await play(server.url, "join", opts);
      peers.push(viewer);
      // The answer is out, the viewer's transport is not up yet: a key frame goes by.
      assertEquals(server.manager.connected(sessionIdOf(viewer.location)), false);
      publisher.sendVideo(true);
      publisher.sendVideo(false);
      await viewer.connected;
      await serverSideConnected(server.manager, viewer.location);
      for (let i = 0; i < 60; i++) {
        publisher.sendVideo(keyframeRequested);
        keyframeRequested = false;
        await new Promise((r) => setTimeout(r, 5));
      }
      await waitFor(() => viewer.videoSeqs.length >= 40, 10_000, "media at the viewer");
      assertGreater(viewer.keyframes, 0, "the viewer got a key frame");
      assertEquals(viewer.firstKeyframeAt, 0, "the first video packet is a key frame");
    } finally {
      for (const peer of peers) await peer.close();
      await server.close();
      await stun.close();
      await settleWeriftTimers();
    }
  },
});
