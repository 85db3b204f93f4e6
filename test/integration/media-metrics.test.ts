/**
 * `/metrics` after a publish/play cycle with induced loss, parsed as Prometheus would parse it:
 * packet and byte counters grow both ways, NACKs (both directions), retransmissions and PLIs
 * are counted, and the session gauges and counters move the right way.
 */
import { assertEquals, assertGreater, assertGreaterOrEqual } from "@std/assert";
import { counters } from "../../src/observability/counters.ts";
import type { RunningServer } from "../../src/server.ts";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { parseExposition, type PromFamily, sampleValue } from "../support/prom-parse.ts";
import { startStunStub } from "../support/stun-stub.ts";
import {
  dropIncomingRtp,
  holesOf,
  play,
  publish,
  sendFrames,
  serverSideConnected,
  setKeepPercent,
  settleWeriftTimers,
  waitFor,
} from "../support/werift-client.ts";
import { startLoopbackServer } from "../support/loopback-server.ts";

// Load the native SRTP library outside the test so the resource sanitizer does not count it.
loadLibsrtp();

async function scrape(server: RunningServer): Promise<Map<string, PromFamily>> {
  const response = await fetch(`${server.url}/metrics`);
  assertEquals(response.status, 200);
  return parseExposition(await response.text());
}

/** Reads one series; a missing series is a test failure, not a zero. */
function value(
  families: Map<string, PromFamily>,
  name: string,
  labels: Record<string, string> = {},
): number {
  const v = sampleValue(families, name, labels);
  if (v === undefined) throw new Error(`no series ${name}${JSON.stringify(labels)}`);
  return v;
}

/** Resolves once `read` has not changed for a full second (four worker status reports). */
async function settled(read: () => number): Promise<void> {
  let last = read();
  for (let still = 0; still < 4;) {
    await new Promise((r) => setTimeout(r, 250));
    const now = read();
    still = now === last ? still + 1 : 0;
    last = now;
  }
}

Deno.test("/metrics counts packets, NACKs, retransmissions, PLIs and sessions of a lossy cycle", async () => {
  const stun = await startStunStub();
  const server = await startLoopbackServer();
  const peers: { close(): Promise<void> }[] = [];
  try {
    const before = await scrape(server);
    const delta = (
      now: Map<string, PromFamily>,
      name: string,
      labels: Record<string, string> = {},
    ) => value(now, name, labels) - value(before, name, labels);

    const opts = { stunUrl: stun.url };
    const publisher = await publish(server.url, "metrics", server.publishToken, opts);
    peers.push(publisher);
    await publisher.connected;
    await serverSideConnected(server.manager, publisher.location);
    const viewers = [
      await play(server.url, "metrics", opts),
      await play(server.url, "metrics", opts),
    ];
    peers.push(...viewers);
    for (const v of viewers) {
      await v.connected;
      await serverSideConnected(server.manager, v.location);
    }
    await sendFrames(publisher, 60);
    await waitFor(() => viewers.every((v) => v.keyframes > 0), 10_000, "first key frame");

    const live = await scrape(server);
    assertEquals(value(live, "quetzal_streams"), 1);
    assertEquals(value(live, "quetzal_sessions", { role: "publisher" }), 1);
    assertEquals(value(live, "quetzal_sessions", { role: "viewer" }), 2);

    // Loss both ways: ~10 % of the publisher's packets, and every 10th first transmission
    // at the second viewer.
    // Only packets that arrive in order: one the server forwards late (repaired at ingest)
    // would be lost twice for this viewer, and werift stops NACKing a sequence number after
    // ten tries 5 ms apart, before the repair reaches it: a hole the test made, not the server.
    const seen = new Set<number>();
    let newest = -1;
    dropIncomingRtp(viewers[1].pc, (ssrc, seq) => {
      if (!viewers[1].videoSsrcs.has(ssrc) || seen.has(seq)) return false;
      seen.add(seq);
      const inOrder = newest < 0 || ((seq - newest) & 0xffff) < 0x8000;
      if (inOrder) newest = seq;
      return inOrder && seq % 10 === 7;
    });
    setKeepPercent(publisher.pc, 90);
    await sendFrames(publisher, 200);
    setKeepPercent(publisher.pc, undefined);
    await sendFrames(publisher, 30);
    await waitFor(
      () =>
        viewers.every((v) =>
          holesOf(v.videoSeqs).unique >= 280 && holesOf(v.videoSeqs).holes === 0
        ),
      15_000,
      "repaired media at the viewers",
    );
    const pliIn = counters.pliIn;
    viewers[0].sendPli();
    await waitFor(() => counters.pliIn > pliIn, 5_000, "the viewer's PLI at the server");

    for (const v of viewers) {
      const r = await fetch(server.url + v.location, { method: "DELETE" });
      await r.body?.cancel();
    }
    const r = await fetch(server.url + publisher.location, {
      method: "DELETE",
      headers: { Authorization: `Bearer ${server.publishToken}` },
    });
    await r.body?.cancel();

    // Viewer workers report their counter increments every 250 ms: scrape once the last
    // reports are in, or the exposition and the in-process counter below race.
    await settled(() => counters.retransmissions + counters.rtpPacketsOut[1] + counters.nacks[0]);
    const after = await scrape(server);
    // Throughput.
    for (const kind of ["audio", "video"]) {
      assertGreater(
        delta(after, "quetzal_rtp_packets_total", { direction: "in", kind }),
        0,
        `${kind} in`,
      );
      assertGreater(
        delta(after, "quetzal_rtp_packets_total", { direction: "out", kind }),
        0,
        `${kind} out`,
      );
      assertGreater(delta(after, "quetzal_rtp_bytes_total", { direction: "in", kind }), 0);
      assertGreater(delta(after, "quetzal_rtp_bytes_total", { direction: "out", kind }), 0);
    }
    // Two viewers: out is at least twice what came in and was forwarded (video from a key frame).
    assertGreater(
      delta(after, "quetzal_rtp_packets_total", { direction: "out", kind: "video" }),
      delta(after, "quetzal_rtp_packets_total", { direction: "in", kind: "video" }),
    );
    // Quality: NACKs both ways, retransmissions, key-frame requests.
    assertGreater(
      delta(after, "quetzal_nack_total", { direction: "out" }),
      0,
      "NACKs to the publisher",
    );
    assertGreaterOrEqual(
      delta(after, "quetzal_nack_total", { direction: "in" }),
      20,
      "NACKs from viewers",
    );
    assertGreaterOrEqual(delta(after, "quetzal_retransmissions_total"), 20, "retransmissions");
    assertEquals(value(after, "quetzal_retransmissions_total"), counters.retransmissions);
    assertGreater(
      delta(after, "quetzal_keyframe_requests_total", { type: "pli", direction: "in" }),
      0,
    );
    assertGreater(
      delta(after, "quetzal_keyframe_requests_total", { type: "pli", direction: "out" }),
      0,
    );
    // Sessions: created and ended (DELETE) by role; the gauges are back to zero.
    assertEquals(delta(after, "quetzal_sessions_created_total", { role: "publisher" }), 1);
    assertEquals(delta(after, "quetzal_sessions_created_total", { role: "viewer" }), 2);
    assertEquals(
      delta(after, "quetzal_sessions_ended_total", { role: "publisher", reason: "deleted" }),
      1,
    );
    assertEquals(
      delta(after, "quetzal_sessions_ended_total", { role: "viewer", reason: "deleted" }),
      2,
    );
    assertEquals(value(after, "quetzal_sessions", { role: "publisher" }), 0);
    assertEquals(value(after, "quetzal_sessions", { role: "viewer" }), 0);
    assertEquals(value(after, "quetzal_streams"), 0);
    assertGreater(delta(after, "quetzal_session_setup_seconds_count"), 0, "setup time observed");
  } finally {
    for (const peer of peers) await peer.close();
    await server.close();
    await stun.close();
    await settleWeriftTimers();
  }
});
