/**
 * The Quetzal server under test, in its own process: `startServer` on 127.0.0.1 with a free
 * port, announcing 127.0.0.1 only. Prints `{ event: "listening", url, publishToken }`, then
 * answers the orchestrator's commands (event-loop lag, packet counters) until stdin closes.
 *
 * Args: --srtp=auto|ts|libsrtp, --workers=N|auto (viewer workers; the rig passes 1 unless a
 * case compares counts),
 * --send-path=auto|syscall|dgram
 */
import { configFrom } from "../../src/config.ts";
import { startServer } from "../../src/server.ts";
import { counters, histograms } from "../../src/observability/counters.ts";
import { createLogger } from "../../src/observability/log.ts";
import { argValue, emit, serveCommands } from "./child-protocol.ts";
import { LagSampler } from "./lag-sampler.ts";

const srtp = (argValue(Deno.args, "srtp") ?? "auto") as "auto" | "ts" | "libsrtp";
const workers = argValue(Deno.args, "workers");
const sendPath = (argValue(Deno.args, "send-path") ?? "auto") as "auto" | "syscall" | "dgram";
const server = await startServer(
  configFrom({
    port: 0,
    host: "127.0.0.1",
    publicIps: ["127.0.0.1"],
    logLevel: "silent",
    srtp,
    sendPath,
    maxSessions: 10_000,
    maxViewersPerStream: 10_000,
    rateLimitJoins: 0,
    ...(workers !== undefined ? { workers: workers === "auto" ? "auto" : Number(workers) } : {}),
  }),
  { logger: createLogger("silent") },
);
const lag = new LagSampler();
emit({
  event: "listening",
  url: server.url,
  publishToken: server.publishToken,
  srtp: srtp === "auto" ? "auto" : srtp,
});

/** Packet and byte totals so far (both kinds), for per-window differences. */
function totals(): Record<string, number> {
  return {
    packetsIn: counters.rtpPacketsIn[0] + counters.rtpPacketsIn[1],
    bytesIn: counters.rtpBytesIn[0] + counters.rtpBytesIn[1],
    packetsOut: counters.rtpPacketsOut[0] + counters.rtpPacketsOut[1],
    bytesOut: counters.rtpBytesOut[0] + counters.rtpBytesOut[1],
    dropped: counters.packetsDropped.reduce((a, b) => a + b, 0),
  };
}

await serveCommands((command) => {
  switch (command.cmd) {
    case "lag-reset":
      lag.reset();
      return {};
    case "stats":
      return {
        ...totals(),
        ...lag.summary(),
        sessions: server.manager.sessions.size,
        // Receive → send inside the server (per bucket, not cumulative): the server's own
        // share of the latency, without the viewers' receive queues.
        forwardBounds: [...histograms.forwardLatencySeconds.upperBounds],
        forwardCounts: [...histograms.forwardLatencySeconds.counts],
        heapMb: Deno.memoryUsage().heapUsed / 1048576,
      };
    default:
      throw new Error(`unknown command ${command.cmd}`);
  }
});
lag.stop();
await server.close();
Deno.exit(0);
