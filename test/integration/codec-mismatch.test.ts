/**
 * Each viewer receives the publisher's codec (no transcoding): a WHEP offer that cannot decode
 * it gets 422 with a problem body naming the codec, and leaves nothing behind.
 */
import { assertEquals, assertStringIncludes } from "@std/assert";
import { counters, FailureStage } from "../../src/observability/counters.ts";
import { createLogger } from "../../src/observability/log.ts";
import { startServer } from "../../src/server.ts";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { startStunStub } from "../support/stun-stub.ts";
import {
  createOffer,
  createPeer,
  H264,
  publish,
  settleWeriftTimers,
  VP8,
} from "../support/werift-client.ts";

// Load the native SRTP library outside the test so the resource sanitizer does not count it.
loadLibsrtp();
const quiet = createLogger("silent");

const cases = [
  { publisher: VP8, viewer: H264, named: "VP8" },
  { publisher: H264, viewer: VP8, named: "H264" },
];

Deno.test("a viewer that cannot decode the publisher's codec gets 422 naming it", async () => {
  const stun = await startStunStub();
  // Viewers in two workers: the default configuration as on two cores.
  const server = await startServer(
    { port: 0, host: "127.0.0.1", publicIps: ["127.0.0.1"], logLevel: "silent", workers: 2 },
    { logger: quiet },
  );
  const peers: { close(): Promise<void> }[] = [];
  try {
    for (const [i, row] of cases.entries()) {
      const stream = `mismatch${i}`;
      const publisher = await publish(server.url, stream, server.publishToken, {
        stunUrl: stun.url,
        video: [row.publisher],
      });
      peers.push(publisher);
      // Connected, so no DTLS flight is left retransmitting when the test ends.
      await publisher.connected;
      const pc = createPeer({ stunUrl: stun.url, video: [row.viewer] });
      peers.push(pc);
      pc.addTransceiver("video", { direction: "recvonly" });
      pc.addTransceiver("audio", { direction: "recvonly" });
      const sessions = server.manager.sessions.size;
      const sdpFailures = counters.sessionFailures[FailureStage.sdp];
      const response = await fetch(`${server.url}/whep/${stream}`, {
        method: "POST",
        headers: { "Content-Type": "application/sdp" },
        body: await createOffer(pc),
      });
      assertEquals(response.status, 422, `${row.named} publisher`);
      assertStringIncludes(response.headers.get("Content-Type") ?? "", "application/problem+json");
      const problem = await response.json();
      assertEquals(problem.status, 422);
      assertStringIncludes(problem.detail.toUpperCase(), row.named, "the detail names the codec");
      assertEquals(response.headers.get("Location"), null);
      assertEquals(server.manager.sessions.size, sessions, "no session left behind");
      assertEquals(counters.sessionFailures[FailureStage.sdp] - sdpFailures, 1);
    }
  } finally {
    for (const peer of peers) await peer.close();
    await server.close();
    await stun.close();
    await settleWeriftTimers();
  }
});
