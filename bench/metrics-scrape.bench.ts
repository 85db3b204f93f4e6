/**
 * Cost of one `/metrics` scrape. The series are fixed by the label sets, so the cost must not
 * depend on how many sessions the counters were fed by: the 1-session and 1000-session cases
 * should match within noise.
 */

import { Counters, Histograms } from "../src/observability/counters.ts";
import { createMetrics } from "../src/observability/metrics.ts";

function populated(sessions: number) {
  const counters = new Counters();
  const histograms = new Histograms();
  // What `sessions` viewers of 1 Mbit/s video for a minute leave behind, roughly.
  for (let s = 0; s < sessions; s++) {
    counters.rtpPacketsOut[1] += 5000;
    counters.rtpBytesOut[1] += 5000 * 1100;
    counters.nacks[0] += 20;
    counters.retransmissions += 20;
    counters.pliIn += 2;
    counters.sessionsCreated[1]++;
    counters.layerSwitches[0] += 3;
    histograms.sessionSetupSeconds.observe(0.3 + (s % 10) / 10);
    for (let i = 0; i < 100; i++) {
      histograms.forwardLatencySeconds.observe(20e-6 + i * 1e-6);
      histograms.rttSeconds.observe(0.02 + (i % 5) / 100);
      histograms.packetLossRatio.observe((i % 20) / 1000);
      histograms.bandwidthEstimateBits.observe(1e6 + i * 1e4);
    }
  }
  const metrics = createMetrics({
    streams: () => Math.ceil(sessions / 100),
    sessions: (role) => (role === "viewer" ? sessions : Math.ceil(sessions / 100)),
  }, { counters, histograms, eventLoopLag: false });
  for (const route of ["/whip/:stream", "/whep/:stream", "/whip/:stream/:session"]) {
    for (const status of [201, 204, 400, 401, 404, 503]) {
      metrics.observeHttp(route, "POST", status, 0.01);
    }
  }
  return metrics;
}

const one = populated(1);
const thousand = populated(1000);

Deno.bench(
  "metrics render, counters from 1 session",
  { group: "scrape", baseline: true },
  async () => {
    await one.render();
  },
);

Deno.bench("metrics render, counters from 1000 sessions", { group: "scrape" }, async () => {
  await thousand.render();
});

Deno.bench("FastHistogram.observe (forward latency)", (b) => {
  const h = new Histograms().forwardLatencySeconds;
  b.start();
  for (let i = 0; i < 1e6; i++) h.observe((i & 1023) * 1e-7);
  b.end();
});

addEventListener("unload", () => {
  one.close();
  thousand.close();
});
