/**
 * NACK repair end to end, over real ICE/DTLS/SRTP on 127.0.0.1, with loss induced by werift's
 * debug knobs:
 * - ingest loss: Quetzal detects gaps per publisher SSRC and NACKs the publisher, whose
 *   retransmissions fill the viewers' sequence space (RFC 4585 §6.2.1);
 * - egress loss: a viewer drops incoming packets before its NACK handler sees them, NACKs
 *   Quetzal, and Quetzal answers from its retransmission cache.
 */
import { assertEquals, assertGreater } from "@std/assert";
import { counters } from "../../src/observability/counters.ts";
import { createLogger } from "../../src/observability/log.ts";
import { startServer } from "../../src/server.ts";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { startStunStub } from "../support/stun-stub.ts";
import {
  holesOf,
  play,
  publish,
  sendFrames,
  serverSideConnected,
  setKeepPercent,
  settleWeriftTimers,
  type Viewer,
  waitFor,
} from "../support/werift-client.ts";

// Load the native SRTP library outside the test so the resource sanitizer does not count it.
loadLibsrtp();
const quiet = createLogger("silent");

/** Every viewer has at least `min` distinct video packets and no hole in their range. */
function repaired(viewers: Viewer[], min: number): boolean {
  return viewers.every((v) => {
    const { unique, holes } = holesOf(v.videoSeqs);
    return unique >= min && holes === 0;
  });
}

Deno.test("NACK repair: ingest loss (Quetzal → publisher) and egress loss (viewer → Quetzal)", async () => {
  const stun = await startStunStub();
  const server = await startServer(
    { port: 0, host: "127.0.0.1", publicIps: ["127.0.0.1"], logLevel: "silent" },
    { logger: quiet },
  );
  const peers: { close(): Promise<void> }[] = [];
  try {
    const opts = { stunUrl: stun.url };
    const publisher = await publish(server.url, "lossy", server.publishToken, opts);
    peers.push(publisher);
    await publisher.connected;
    const viewers = [await play(server.url, "lossy", opts), await play(server.url, "lossy", opts)];
    peers.push(...viewers);
    await Promise.all(viewers.map((v) => v.connected));
    for (const v of viewers) await serverSideConnected(server.manager, v.location);

    // Start clean so every viewer is past its first key frame before loss begins (a key frame
    // lost before the first packet of an SSRC cannot be detected, by design).
    await sendFrames(publisher, 30);
    await waitFor(() => viewers.every((v) => v.keyframes > 0), 10_000, "first key frame");

    // Ingest loss: the publisher keeps ~90 % of what it sends (retransmissions included).
    const nacksOut = counters.nacks[1];
    setKeepPercent(publisher.pc, 90);
    await sendFrames(publisher, 300);
    // Loss is back to none, so the tail's gaps are detected by the packets that follow.
    setKeepPercent(publisher.pc, undefined);
    await sendFrames(publisher, 30);
    await waitFor(() => repaired(viewers, 340), 15_000, "viewers' ranges repaired");
    assertGreater(counters.nacks[1] - nacksOut, 0, "NACKs sent to the publisher are counted");
    assertGreater(publisher.nackedSeqs, 0, "the publisher received NACKs");
    for (const v of viewers) {
      assertEquals(holesOf(v.videoSeqs).holes, 0, "hole-free after ingest repair");
      assertEquals(v.videoSsrcs.size, 1);
    }

    // Egress loss: a new viewer keeps ~90 % of what arrives, before werift's NACK handler.
    const nacksIn = counters.nacks[0];
    const retransmissions = counters.retransmissions;
    const lossy = await play(server.url, "lossy", { ...opts, inboundKeepPercent: 90 });
    peers.push(lossy);
    await lossy.connected;
    await serverSideConnected(server.manager, lossy.location);
    await sendFrames(publisher, 60);
    await waitFor(() => lossy.keyframes > 0, 10_000, "key frame at the lossy viewer");
    await sendFrames(publisher, 300);
    // Clean tail: later packets reveal the last gaps to the viewer's NACK handler.
    setKeepPercent(lossy.pc, undefined, undefined);
    await sendFrames(publisher, 30);
    await waitFor(() => repaired([lossy], 300), 15_000, "lossy viewer's range repaired");
    assertGreater(lossy.nacksSent, 0, "the viewer NACKed");
    assertGreater(counters.nacks[0] - nacksIn, 0, "NACKs from viewers are counted");
    assertGreater(counters.retransmissions - retransmissions, 0, "Quetzal retransmitted");
    assertEquals(holesOf(lossy.videoSeqs).holes, 0, "hole-free after egress repair");
  } finally {
    for (const peer of peers) await peer.close();
    await server.close();
    await stun.close();
    await settleWeriftTimers();
  }
});
