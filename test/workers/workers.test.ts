import { assert, assertEquals, assertGreater } from "@std/assert";
import { counters, histograms } from "../../src/observability/counters.ts";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { startStunStub } from "../support/stun-stub.ts";
import {
  holesOf,
  play,
  publish,
  sendFrames,
  serverSideConnected,
  settleWeriftTimers,
  type Viewer,
  waitFor,
} from "../support/werift-client.ts";
import { startLoopbackServer } from "../support/loopback-server.ts";

// Load the native SRTP library outside the test so the resource sanitizer does not count it.
loadLibsrtp();

Deno.test("workers: 2 — viewers spread over two workers get continuous media, PLI, DELETE, clean shutdown", async () => {
  const stun = await startStunStub();
  const server = await startLoopbackServer({ workers: 2 });
  try {
    const cluster = server.workers;
    assert(cluster, "a viewer cluster runs");
    assertEquals(cluster.size, 2);
    // Each worker reports the SRTP backend it selected for itself.
    assertEquals(cluster.workerSrtp.length, 2);
    assert(cluster.workerSrtp.every((name) => name === "ts" || name === "libsrtp"));
    const publisher = await publish(server.url, "live", server.publishToken, { stunUrl: stun.url });
    await publisher.connected;
    const viewers: Viewer[] = [];
    for (let i = 0; i < 4; i++) viewers.push(await play(server.url, "live", { stunUrl: stun.url }));
    await Promise.all(viewers.map((v) => v.connected));
    await Promise.all(viewers.map((v) => serverSideConnected(server.manager, v.location)));
    assertEquals(cluster.loads().map((l) => l.viewers), [2, 2], "least-loaded placement");
    const outBefore = counters.rtpPacketsOut[1];
    const latencyBefore = histograms.forwardLatencySeconds.count;

    await sendFrames(publisher, 300);
    await waitFor(
      () =>
        viewers.every((v) =>
          v.audioPackets >= 50 && holesOf(v.videoSeqs).unique >= 250 &&
          holesOf(v.videoSeqs).holes === 0
        ),
      15_000,
      "media at every viewer",
    );
    for (const viewer of viewers) {
      assertEquals(viewer.videoSsrcs.size, 1, "one outbound SSRC per track");
      assertGreater(viewer.keyframes, 0);
      assertEquals(holesOf(viewer.videoSeqs).holes, 0, "sequence numbers are continuous");
    }
    // Workers' counters reach the main thread's metrics with their status reports.
    await waitFor(() => counters.rtpPacketsOut[1] - outBefore >= 4 * 250, 5_000, "worker counters");
    // And their histograms: the main thread forwards nothing to viewers here, so every
    // forward-latency sample (one packet in 16) comes from a worker.
    await waitFor(
      () => histograms.forwardLatencySeconds.count - latencyBefore >= (4 * 250) / 16,
      5_000,
      "worker forward-latency samples",
    );

    // The API sees remote viewers and their layers.
    const api = await (await fetch(`${server.url}/api/streams/live`)).json();
    assertEquals(api.viewers, 4);

    // A viewer's PLI (in a worker) reaches the publisher (on the main thread).
    await new Promise((r) => setTimeout(r, 600)); // past the 500 ms key-frame throttle
    const before = publisher.plis;
    viewers[3].sendPli();
    await waitFor(() => publisher.plis > before, 5_000, "PLI at the publisher");

    // DELETE frees a remote viewer in its worker.
    const r = await fetch(server.url + viewers[0].location, { method: "DELETE" });
    assertEquals(r.status, 200);
    await r.body?.cancel();
    await viewers[0].close();
    assertEquals(server.manager.count("viewer"), 3);
    assertEquals(cluster.loads().reduce((n, l) => n + l.viewers, 0), 3);
    const gone = await fetch(server.url + viewers[0].location, { method: "DELETE" });
    assertEquals(gone.status, 404);
    await gone.body?.cancel();

    // The others keep receiving.
    const counts = viewers.slice(1).map((v) => v.videoSeqs.length);
    await sendFrames(publisher, 60);
    await waitFor(
      () => viewers.slice(1).every((v, i) => v.videoSeqs.length >= counts[i] + 50),
      10_000,
      "media after a DELETE",
    );
    for (const v of viewers.slice(1)) await v.close();
    await publisher.close();
  } finally {
    await server.close();
    await stun.close();
    await settleWeriftTimers();
  }
  // Shutdown ended every session and every worker (the sanitizers check timers and sockets).
  assertEquals(server.manager.sessions.size, 0);
});
