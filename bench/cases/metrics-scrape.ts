/**
 * Cost of one `/metrics` render with counters populated as 1000 viewers of a minute of
 * 1 Mbit/s video would leave them (the same population as bench/metrics-scrape.bench.ts).
 */
import { Counters, Histograms } from "../../src/observability/counters.ts";
import { createMetrics } from "../../src/observability/metrics.ts";
import { percentile } from "../lib/latency-histogram.ts";
import { emptyRow, type Row } from "../lib/report.ts";

export async function runMetricsScrape(renders: number): Promise<Row> {
  const sessions = 1000;
  const counters = new Counters();
  const histograms = new Histograms();
  for (let s = 0; s < sessions; s++) {
    counters.rtpPacketsOut[1] += 5000;
    counters.rtpBytesOut[1] += 5000 * 1100;
    counters.nacks[0] += 20;
    counters.retransmissions += 20;
    counters.sessionsCreated[1]++;
    histograms.sessionSetupSeconds.observe(0.3 + (s % 10) / 10);
    for (let i = 0; i < 20; i++) {
      histograms.forwardLatencySeconds.observe(20e-6 + i * 1e-6);
      histograms.rttSeconds.observe(0.02 + (i % 5) / 100);
    }
  }
  const metrics = createMetrics({
    streams: () => 10,
    sessions: (role) => (role === "viewer" ? sessions : 10),
  }, { counters, histograms, eventLoopLag: false });
  try {
    for (const route of ["/whip/:stream", "/whep/:stream", "/whip/:stream/:session"]) {
      for (const status of [201, 204, 400, 401, 404, 503]) {
        metrics.observeHttp(route, "POST", status, 0.01);
      }
    }
    for (let i = 0; i < 5; i++) await metrics.render(); // warm up
    const times: number[] = [];
    let bytes = 0;
    for (let i = 0; i < renders; i++) {
      const t0 = performance.now();
      bytes = (await metrics.render()).length;
      times.push(performance.now() - t0);
    }
    const row = emptyRow("metrics-scrape", "quetzal");
    row.subscribers = sessions;
    row.latency_p50_ms = percentile(times, 0.5);
    row.latency_p99_ms = percentile(times, 0.99);
    row.render_bytes = bytes;
    row.rss_peak_mb = Deno.memoryUsage().rss / 1048576;
    row.note = `render() with counters of ${sessions} sessions, ${renders} renders`;
    return row;
  } finally {
    metrics.close();
  }
}
