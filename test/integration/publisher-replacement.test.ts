/**
 * A new authorised POST for a live stream key replaces its publisher (OBS reconnects without
 * DELETE): the old session ends as "replaced" and viewers carry on, on the same outbound SSRC,
 * with continuous sequence numbers and forward-moving timestamps, from the new publisher's
 * first key frame.
 */
import { assert, assertEquals, assertGreater, assertNotEquals } from "@std/assert";
import { counters, Role } from "../../src/observability/counters.ts";
import type { RunningServer } from "../../src/server.ts";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { startStunStub } from "../support/stun-stub.ts";
import {
  H264,
  holesOf,
  play,
  publish,
  type Publisher,
  sendFrames,
  serverSideConnected,
  sessionIdOf,
  settleWeriftTimers,
  waitFor,
} from "../support/werift-client.ts";
import { startLoopbackServer } from "../support/loopback-server.ts";

// Load the native SRTP library outside the test so the resource sanitizer does not count it.
loadLibsrtp();
const REPLACED = 1; // index of "replaced" in END_REASONS
const PUBLISHER_LEFT = 5;

function startQuietServer(): Promise<RunningServer> {
  return startLoopbackServer();
}

function videoSsrcOf(publisher: Publisher): number {
  return publisher.pc.getTransceivers().find((t) => t.kind === "video")!.sender.ssrc;
}

Deno.test("publisher replacement: viewers keep their session, SSRC and sequence space", async () => {
  const stun = await startStunStub();
  const server = await startQuietServer();
  const peers: { close(): Promise<void> }[] = [];
  try {
    const opts = { stunUrl: stun.url };
    const a = await publish(server.url, "obs", server.publishToken, opts);
    peers.push(a);
    await a.connected;
    await serverSideConnected(server.manager, a.location);
    const viewers = [await play(server.url, "obs", opts), await play(server.url, "obs", opts)];
    peers.push(...viewers);
    for (const v of viewers) {
      await v.connected;
      await serverSideConnected(server.manager, v.location);
    }
    await sendFrames(a, 120);
    await waitFor(
      () =>
        viewers.every((v) =>
          holesOf(v.videoSeqs).unique >= 115 && holesOf(v.videoSeqs).holes === 0
        ),
      10_000,
      "publisher A's media at the viewers",
    );
    const sessionA = server.manager.publisherOf("obs")!;
    assertEquals(sessionA.id, sessionIdOf(a.location));
    const fromA = viewers.map((v) => v.videoSeqs.length);
    const audioFromA = viewers.map((v) => v.audioPackets);
    const replacedBefore = counters.sessionsEnded[Role.publisher][REPLACED];
    const viewersEndedBefore = counters.sessionsEnded[Role.viewer].reduce((x, y) => x + y, 0);

    // Publisher B: same stream key, a new authorised POST, no DELETE of A.
    const b = await publish(server.url, "obs", server.publishToken, opts);
    peers.push(b);
    await b.connected;
    await serverSideConnected(server.manager, b.location);
    assertNotEquals(videoSsrcOf(b), videoSsrcOf(a), "B has its own SSRCs");
    assert(sessionA.closed, "A's session is closed");
    assertEquals(sessionA.endReason, "replaced");
    assertEquals(server.manager.get(sessionA.id), undefined);
    assertEquals(server.manager.publisherOf("obs")?.id, sessionIdOf(b.location));
    assertEquals(counters.sessionsEnded[Role.publisher][REPLACED] - replacedBefore, 1);
    assertEquals(server.manager.count("publisher"), 1);
    for (const v of viewers) assert(server.manager.get(sessionIdOf(v.location)), "viewer kept");
    assertEquals(
      counters.sessionsEnded[Role.viewer].reduce((x, y) => x + y, 0),
      viewersEndedBefore,
      "no viewer session ended",
    );

    // B starts with a key frame; viewers continue on the same outbound stream.
    await sendFrames(b, 120);
    await waitFor(
      () =>
        viewers.every((v, i) =>
          v.videoSeqs.length - fromA[i] >= 115 && holesOf(v.videoSeqs).holes === 0
        ),
      10_000,
      "publisher B's media at the viewers",
    );
    for (const [i, v] of viewers.entries()) {
      assertEquals(v.videoSsrcs.size, 1, "same outbound SSRC across the replacement");
      assertEquals(v.videoPayloadTypes.size, 1);
      assertEquals(holesOf(v.videoSeqs).holes, 0, "sequence numbers continue across publishers");
      assertGreater(v.audioPackets, audioFromA[i], "audio continues");
      // B's first packet is a key frame (VP8 P bit clear), and timestamps move forward.
      assertEquals(v.videoFirstBytes[fromA[i]], 0x10);
      const lastA = v.videoTimestamps[fromA[i] - 1];
      const firstB = v.videoTimestamps[fromA[i]];
      const step = (firstB - lastA) >>> 0;
      assert(step > 0 && step < 0x80000000, `timestamp moves forward across publishers (${step})`);
    }
  } finally {
    for (const peer of peers) await peer.close();
    await server.close();
    await stun.close();
    await settleWeriftTimers();
  }
});

Deno.test("publisher replacement with another codec ends viewers that cannot follow", async () => {
  const stun = await startStunStub();
  const server = await startQuietServer();
  const peers: { close(): Promise<void> }[] = [];
  try {
    const opts = { stunUrl: stun.url };
    const vp8 = await publish(server.url, "switch", server.publishToken, opts);
    peers.push(vp8);
    await vp8.connected;
    const viewer = await play(server.url, "switch", opts);
    peers.push(viewer);
    await viewer.connected;
    const leftBefore = counters.sessionsEnded[Role.viewer][PUBLISHER_LEFT];
    const h264 = await publish(server.url, "switch", server.publishToken, {
      ...opts,
      video: [H264],
    });
    peers.push(h264);
    // The VP8 viewer cannot be re-bound to H264: it must renegotiate (a new WHEP POST). Its
    // worker finds it orphaned when the new producers reach it, a message later.
    await waitFor(
      () => server.manager.get(sessionIdOf(viewer.location)) === undefined,
      5000,
      "the VP8 viewer ended",
    );
    assertEquals(counters.sessionsEnded[Role.viewer][PUBLISHER_LEFT] - leftBefore, 1);
    assertEquals(server.manager.count("viewer"), 0);
    assertEquals(server.manager.count("publisher"), 1);
    // Closed only once the server has the DTLS handshake too: closed earlier, the server's
    // flight 5 waits on werift's uncancellable retransmission timer past the test's end.
    await h264.connected;
    await serverSideConnected(server.manager, h264.location);
  } finally {
    for (const peer of peers) await peer.close();
    await server.close();
    await stun.close();
    await settleWeriftTimers();
  }
});
