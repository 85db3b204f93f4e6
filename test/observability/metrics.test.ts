import { assert, assertEquals, assertGreater } from "@std/assert";
import { Counters, DropReason, Histograms, Kind } from "../../src/observability/counters.ts";
import { createMetrics, METRICS, type MetricsSource } from "../../src/observability/metrics.ts";
import type { ProcessSnapshot } from "../../src/observability/process-metrics.ts";
import { parseExposition, sampleValue } from "../support/prom-parse.ts";

const source: MetricsSource = {
  streams: () => 3,
  sessions: (role) => (role === "publisher" ? 3 : 42),
};

function fixture(readProcess?: () => ProcessSnapshot) {
  const counters = new Counters();
  const histograms = new Histograms();
  const metrics = createMetrics(source, { counters, histograms, eventLoopLag: false, readProcess });
  return { counters, histograms, metrics };
}

Deno.test("render() exposes exactly the catalogue, with its types and help", async () => {
  const { metrics } = fixture();
  const families = parseExposition(await metrics.render());
  assertEquals([...families.keys()].sort(), METRICS.map((m) => m.name).sort());
  for (const spec of METRICS) {
    const family = families.get(spec.name)!;
    assertEquals(family.type, spec.type, spec.name);
    assertEquals(family.help, spec.help, spec.name);
  }
  assertEquals(metrics.contentType, "text/plain; version=0.0.4; charset=utf-8");
  metrics.close();
});

Deno.test("gauges read the source at scrape time", async () => {
  const { metrics } = fixture();
  const f = parseExposition(await metrics.render());
  assertEquals(sampleValue(f, "quetzal_streams"), 3);
  assertEquals(sampleValue(f, "quetzal_sessions", { role: "publisher" }), 3);
  assertEquals(sampleValue(f, "quetzal_sessions", { role: "viewer" }), 42);
  metrics.close();
});

Deno.test("counters move by exactly the increments made between scrapes", async () => {
  const { counters: c, metrics } = fixture();
  const before = parseExposition(await metrics.render());
  // A publish/play cycle with induced loss: viewers NACK, we retransmit, we PLI the publisher.
  c.rtpPacketsIn[Kind.video] += 100;
  c.rtpBytesIn[Kind.video] += 120_000;
  c.rtpPacketsIn[Kind.audio] += 50;
  c.rtpPacketsOut[Kind.video] += 205;
  c.rtpBytesOut[Kind.audio] += 3_000;
  c.nacks[0] += 5;
  c.nacks[1] += 2;
  c.retransmissions += 5;
  c.pliIn += 1;
  c.pliOut += 1;
  c.firOut += 1;
  c.packetsDropped[DropReason.waitingKeyframe] += 7;
  c.sessionsCreated[1] += 2;
  c.sessionsEnded[1][2] += 1; // viewer, ice_failed
  c.sessionFailures[1] += 1; // ice
  c.layerSwitches[0] += 4; // bandwidth
  const after = parseExposition(await metrics.render());
  const delta = (name: string, labels: Record<string, string> = {}) =>
    sampleValue(after, name, labels)! - sampleValue(before, name, labels)!;
  const rows: [string, Record<string, string>, number][] = [
    ["quetzal_rtp_packets_total", { direction: "in", kind: "video" }, 100],
    ["quetzal_rtp_packets_total", { direction: "in", kind: "audio" }, 50],
    ["quetzal_rtp_packets_total", { direction: "out", kind: "video" }, 205],
    ["quetzal_rtp_packets_total", { direction: "out", kind: "audio" }, 0],
    ["quetzal_rtp_bytes_total", { direction: "in", kind: "video" }, 120_000],
    ["quetzal_rtp_bytes_total", { direction: "out", kind: "audio" }, 3_000],
    ["quetzal_nack_total", { direction: "in" }, 5],
    ["quetzal_nack_total", { direction: "out" }, 2],
    ["quetzal_retransmissions_total", {}, 5],
    ["quetzal_keyframe_requests_total", { type: "pli", direction: "in" }, 1],
    ["quetzal_keyframe_requests_total", { type: "pli", direction: "out" }, 1],
    ["quetzal_keyframe_requests_total", { type: "fir", direction: "in" }, 0],
    ["quetzal_keyframe_requests_total", { type: "fir", direction: "out" }, 1],
    ["quetzal_packets_dropped_total", { reason: "waiting_keyframe" }, 7],
    ["quetzal_packets_dropped_total", { reason: "srtp" }, 0],
    ["quetzal_sessions_created_total", { role: "viewer" }, 2],
    ["quetzal_sessions_created_total", { role: "publisher" }, 0],
    ["quetzal_sessions_ended_total", { role: "viewer", reason: "ice_failed" }, 1],
    ["quetzal_sessions_ended_total", { role: "publisher", reason: "ice_failed" }, 0],
    ["quetzal_session_failures_total", { stage: "ice" }, 1],
    ["quetzal_layer_switches_total", { reason: "bandwidth" }, 4],
  ];
  for (const [name, labels, expected] of rows) {
    assertEquals(delta(name, labels), expected, `${name} ${JSON.stringify(labels)}`);
  }
  metrics.close();
});

Deno.test("hot-path histograms render cumulative buckets with matching _sum and _count", async () => {
  const { histograms: h, metrics } = fixture();
  h.forwardLatencySeconds.observe(20e-6);
  h.forwardLatencySeconds.observe(80e-6);
  h.forwardLatencySeconds.observe(1);
  h.packetLossRatio.observe(0);
  h.bandwidthEstimateBits.observe(2e6);
  const f = parseExposition(await metrics.render()); // checks histogram invariants
  const b = (le: string) => sampleValue(f, "quetzal_forward_latency_seconds_bucket", { le });
  assertEquals(b("0.00001"), 0);
  assertEquals(b("0.000025"), 1);
  assertEquals(b("0.0001"), 2);
  assertEquals(b("+Inf"), 3);
  assertEquals(sampleValue(f, "quetzal_forward_latency_seconds_count"), 3);
  assertEquals(sampleValue(f, "quetzal_packet_loss_ratio_bucket", { le: "0" }), 1);
  // Recorded in bits per second, exposed in bytes per second.
  assertEquals(sampleValue(f, "quetzal_bandwidth_estimate_bytes_per_second_sum"), 250_000);
  assertEquals(
    sampleValue(f, "quetzal_bandwidth_estimate_bytes_per_second_bucket", { le: "312500" }),
    1,
  );
  metrics.close();
});

Deno.test("observeHttp normalises method and status into bounded sets", async () => {
  const { metrics } = fixture();
  metrics.observeHttp("/whip/:stream", "post", 201, 0.01);
  metrics.observeHttp("/whip/:stream", "BREW", 418, 0.01);
  metrics.observeHttp("/whip/:stream", "GET", 1234, 0.01);
  const f = parseExposition(await metrics.render());
  const req = (method: string, status: string) =>
    sampleValue(f, "quetzal_http_requests_total", { route: "/whip/:stream", method, status });
  assertEquals(req("POST", "201"), 1);
  assertEquals(req("OTHER", "418"), 1);
  assertEquals(req("GET", "0"), 1);
  assertEquals(
    sampleValue(f, "quetzal_http_request_duration_seconds_count", {
      route: "/whip/:stream",
      method: "POST",
    }),
    1,
  );
  metrics.close();
});

Deno.test("process metrics come from one snapshot per scrape; unknown values are omitted", async () => {
  let reads = 0;
  const { metrics } = fixture(() => {
    reads++;
    return {
      cpuUserSeconds: 1.5,
      cpuSystemSeconds: 0.5,
      residentMemoryBytes: 1e8,
      heapUsedBytes: 1e7,
      heapTotalBytes: 2e7,
      externalMemoryBytes: 1e6,
      startTimeSeconds: 1_700_000_000,
      openFds: 12,
    };
  });
  const f = parseExposition(await metrics.render());
  assertEquals(reads, 1);
  assertEquals(sampleValue(f, "process_cpu_seconds_total"), 2);
  assertEquals(sampleValue(f, "process_open_fds"), 12);
  assertEquals(sampleValue(f, "quetzal_heap_used_bytes"), 1e7);
  assertEquals(f.get("process_max_fds")!.samples.length, 0);
  assertEquals(f.get("process_virtual_memory_bytes")!.samples.length, 0);
  metrics.close();
});

Deno.test("the real process snapshot yields plausible values", async () => {
  const { metrics } = fixture();
  const f = parseExposition(await metrics.render());
  assertGreater(sampleValue(f, "process_resident_memory_bytes")!, 1e6);
  assertGreater(sampleValue(f, "process_cpu_seconds_total")!, 0);
  if (Deno.build.os === "linux") assertGreater(sampleValue(f, "process_open_fds")!, 2);
  metrics.close();
});

Deno.test("an owned event-loop lag monitor feeds the histogram and stops on close()", async () => {
  const metrics = createMetrics(source, { counters: new Counters(), histograms: new Histograms() });
  await new Promise((resolve) => setTimeout(resolve, 50));
  const f = parseExposition(await metrics.render());
  assertGreater(sampleValue(f, "quetzal_event_loop_lag_seconds_count")!, 0);
  metrics.close();
  metrics.close(); // idempotent; the sanitizers fail this test if the timer survived
});

Deno.test({
  name: "promtool check metrics accepts the output",
  ignore: !hasPromtool(),
  fn: async () => {
    const { counters, histograms: h, metrics } = fixture();
    counters.rtpPacketsIn[0] = 10;
    h.rttSeconds.observe(0.02);
    metrics.observeHttp("/whep/:stream", "POST", 201, 0.03);
    const text = await metrics.render();
    metrics.close();
    const child = new Deno.Command("promtool", {
      args: ["check", "metrics"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(text));
    await writer.close();
    const out = await child.output();
    const report = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assertEquals(report.trim(), "", report);
    assert(out.success, `promtool exited with ${out.code}`);
  },
});

function hasPromtool(): boolean {
  try {
    return new Deno.Command("promtool", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}
