/**
 * NACK repair end to end, over real ICE/DTLS/SRTP on 127.0.0.1, with induced loss:
 * - ingest loss: Quetzal detects gaps per publisher SSRC and NACKs the publisher, whose
 *   retransmissions fill the viewers' sequence space (RFC 4585 §6.2.1);
 * - egress loss: a viewer drops incoming packets before its NACK handler sees them, NACKs
 *   Quetzal, and Quetzal answers from its retransmission cache.
 */
import { assertEquals, assertGreater } from "@std/assert";
import { counters } from "../../src/observability/counters.ts";
import type { RunningServer } from "../../src/server.ts";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { startStunStub, type StunStub } from "../support/stun-stub.ts";
import {
  type ClientOptions,
  dropIncomingRtp,
  holesOf,
  play,
  publish,
  type Publisher,
  sendFrames,
  serverSideConnected,
  setKeepPercent,
  settleWeriftTimers,
  type Viewer,
  waitFor,
} from "../support/werift-client.ts";
import { startLoopbackServer } from "../support/loopback-server.ts";

// Load the native SRTP library outside the test so the resource sanitizer does not count it.
loadLibsrtp();
/** Liveness bound for a worker's counts to arrive (its status report comes every 250 ms). */
const STATUS_WAIT_MS = 5_000;

/** Every viewer has at least `min` distinct video packets and no hole in their range. */
function repaired(viewers: Viewer[], min: number): boolean {
  return viewers.every((v) => {
    const { unique, holes } = holesOf(v.videoSeqs);
    return unique >= min && holes === 0;
  });
}

interface Rig {
  stun: StunStub;
  server: RunningServer;
  publisher: Publisher;
  peers: { close(): Promise<void> }[];
  opts: ClientOptions;
}

/** A server, a connected publisher that has sent a first key frame, nothing lost yet. */
async function rig(stream: string): Promise<Rig> {
  const stun = await startStunStub();
  const server = await startLoopbackServer();
  const opts = { stunUrl: stun.url };
  const publisher = await publish(server.url, stream, server.publishToken, opts);
  await publisher.connected;
  await serverSideConnected(server.manager, publisher.location);
  return { stun, server, publisher, peers: [publisher], opts };
}

async function teardown(r: Rig): Promise<void> {
  for (const peer of r.peers) await peer.close();
  await r.server.close();
  await r.stun.close();
  await settleWeriftTimers();
}

/** A viewer whose transport is up on both sides and that has its first key frame. */
async function joinedViewer(
  r: Rig,
  stream: string,
  extra: Partial<ClientOptions> = {},
): Promise<Viewer> {
  const viewer = await play(r.server.url, stream, { ...r.opts, ...extra });
  r.peers.push(viewer);
  await viewer.connected;
  await serverSideConnected(r.server.manager, viewer.location);
  // Start clean so the viewer is past its first key frame before loss begins (a loss before
  // the first packet of an SSRC cannot be detected, by design).
  await sendFrames(r.publisher, 60);
  await waitFor(() => viewer.keyframes > 0, 10_000, "first key frame");
  return viewer;
}

Deno.test("NACK repair of ingest loss: Quetzal NACKs the publisher, viewers get a hole-free range", async () => {
  const r = await rig("ingest");
  try {
    const viewers = [await joinedViewer(r, "ingest"), await joinedViewer(r, "ingest")];
    const nacksOut = counters.nacks[1];
    // The publisher keeps ~90 % of what it sends, retransmissions included.
    setKeepPercent(r.publisher.pc, 90);
    await sendFrames(r.publisher, 300);
    // Loss off again, so the tail's gaps are revealed by the packets that follow.
    setKeepPercent(r.publisher.pc, undefined);
    await sendFrames(r.publisher, 30);
    await waitFor(() => repaired(viewers, 380), 30_000, "viewers' ranges repaired");
    assertGreater(counters.nacks[1] - nacksOut, 0, "NACKs sent to the publisher are counted");
    assertGreater(r.publisher.nackedSeqs, 0, "the publisher received NACKs");
    for (const v of viewers) {
      assertEquals(holesOf(v.videoSeqs).holes, 0, "hole-free after ingest repair");
      assertEquals(v.videoSsrcs.size, 1);
    }
  } finally {
    await teardown(r);
  }
});

Deno.test("NACK repair of egress loss: Quetzal retransmits what a viewer lost", async () => {
  const r = await rig("egress");
  try {
    const viewer = await joinedViewer(r, "egress");
    const nacksIn = counters.nacks[0];
    const retransmissions = counters.retransmissions;
    // Drop first transmissions only, every 10th packet plus a burst of 3 every 100: what is
    // tested is Quetzal's answer to NACKs, not werift's retry schedule.
    const seen = new Set<number>();
    let dropped = 0;
    let dropping = true;
    dropIncomingRtp(viewer.pc, (ssrc, seq) => {
      if (!dropping || !viewer.videoSsrcs.has(ssrc) || seen.has(seq)) return false;
      seen.add(seq);
      if (seq % 10 === 3 || seq % 100 >= 50 && seq % 100 < 53) {
        dropped++;
        return true;
      }
      return false;
    });
    await sendFrames(r.publisher, 300);
    // A few clean frames after the lossy ones: a drop at the very end is only a gap (and NACKed)
    // once a later packet arrives.
    dropping = false;
    await sendFrames(r.publisher, 10);
    await waitFor(() => repaired([viewer], 350), 15_000, "viewer's range repaired");
    assertGreater(dropped, 30);
    assertGreater(viewer.nacksSent, 0, "the viewer NACKed");
    // A worker's counts reach this thread with its next status report.
    await waitFor(
      () =>
        counters.nacks[0] - nacksIn > dropped - 1 &&
        counters.retransmissions - retransmissions > dropped - 1,
      STATUS_WAIT_MS,
      "NACKed sequence numbers counted, each retransmitted",
    );
    assertEquals(holesOf(viewer.videoSeqs).holes, 0, "hole-free after egress repair");
  } finally {
    await teardown(r);
  }
});

Deno.test({
  name: "NACK repair of egress loss that also hits retransmissions",
  async fn() {
    const r = await rig("lossy");
    try {
      const viewer = await joinedViewer(r, "lossy");
      const retransmissions = counters.retransmissions;
      // werift's own knob: ~10 % of every incoming packet is dropped, retransmissions too.
      setKeepPercent(viewer.pc, undefined, 90);
      await sendFrames(r.publisher, 300);
      setKeepPercent(viewer.pc, undefined, undefined);
      await sendFrames(r.publisher, 30);
      await waitFor(() => repaired([viewer], 380), 15_000, "lossy viewer's range repaired");
      assertGreater(counters.retransmissions - retransmissions, 0, "Quetzal retransmitted");
      assertEquals(holesOf(viewer.videoSeqs).holes, 0, "hole-free after egress repair");
    } finally {
      await teardown(r);
    }
  },
});
