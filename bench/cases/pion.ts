/**
 * Issue 14: Quetzal against a small Pion SFU (bench/peers, shaped like Broadcast Box) under the
 * same load from a Go/Pion load generator whose viewers behave like browsers (receiver
 * reports, NACKs, transport-wide CC feedback every 100 ms, a PLI on start). Every figure is a
 * ratio to the Pion row measured on this machine in this run.
 *
 * Viewers beyond a sample of full ones (`fullViewers`, 20 by default) are light viewers
 * (bench/peers/light_whep.go): real ICE, DTLS and the same RTCP feedback, computed from the clear
 * RTP headers without decrypting, so the generator stays cheaper per packet than the server at
 * 200 viewers. Latency is the full viewers'; delivery covers every viewer.
 *
 * Each run starts a fresh server process (Quetzal with the flags of `deno task start`, or the
 * Pion SFU) pinned to CPU 0 with taskset, and the load pinned to CPU 1: one publisher (500
 * video packets/s of 1200 bytes + 50 audio packets/s) over WHIP and N viewers over WHEP. The
 * server's CPU time (/proc/<pid>/stat) over the window, divided by the packets the viewers
 * received that were sent in the window, is its cost per forwarded packet. Then Quetzal with
 * `--workers auto` and with one worker, both unpinned, at the largest load.
 */
import { cpuSeconds, memoryMb } from "../lib/proc-stats.ts";
import { buildPeers, JsonLinesProcess } from "../lib/pion-peers.ts";
import { emptyRow, type Row } from "../lib/report.ts";

export interface PionOptions {
  /** Viewer counts of the pinned comparison. */
  viewers: number[];
  windowS: number;
  warmupS: number;
  /** Viewers of the unpinned workers rows (0: skip them). */
  scalingViewers: number;
  /**
   * Pion/Quetzal pairs per viewer count, run alternately (default 1). On a 2-core machine one
   * pair's ratio moved between 0.72× and 1.06× at 40 viewers from one run to the next
   * (2026-12-07): the summary takes the median of the rounds' ratios.
   */
  rounds?: number;
  /**
   * Pin the server to CPU 0 and the load to CPU 1 (default). On a machine other jobs share,
   * pinned processes cannot move off a busy core: `--pion-pin=false` lets the scheduler place them.
   */
  pin?: boolean;
  /**
   * Viewers that are full Pion receivers (decrypt, payload stamps, latency); the others are
   * light (bench/peers/light_whep.go). Default {@link DEFAULT_FULL_VIEWERS}; -1: all, the load
   * as it was before light viewers. The Pion SFU and Quetzal rows get the same split.
   */
  fullViewers?: number;
  verbose: boolean;
}

/** Full viewers by default: enough for latency percentiles, cheap enough at 200 viewers. */
export const DEFAULT_FULL_VIEWERS = 20;

export const PION_FULL: Omit<PionOptions, "verbose"> = {
  viewers: [40, 100, 200],
  windowS: 15,
  warmupS: 3,
  scalingViewers: 200,
};
export const PION_SMOKE: Omit<PionOptions, "verbose"> = {
  viewers: [2],
  windowS: 1,
  warmupS: 1,
  scalingViewers: 0,
};

const VIDEO_PPS = 500;
/** Delivery both rows need for their CPU per packet to be compared. */
export const COMPARABLE_DELIVERY = 0.95;
const AUDIO_PPS = 50;
/** The publish token of the servers the Pion cases start (rooms.ts creates rooms with it). */
export const TOKEN = "bench-pion-publish-token";
const ROOT = new URL("../../", import.meta.url);

export type Impl = "quetzal" | "pion-sfu";

export interface RunSpec {
  impl: Impl;
  viewers: number;
  /** Quetzal's --workers (ignored for Pion). */
  workers: string;
  pinned: boolean;
  label: string;
  /** Which round of the pinned comparison (0 for the others). */
  round?: number;
  /** More server flags (Quetzal only). */
  serverArgs?: string[];
}

export function hasTaskset(): boolean {
  try {
    return new Deno.Command("taskset", { args: ["-V"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** The permission flags of `deno task start`, read from deno.json: the command users run. */
function startFlags(): string[] {
  const config = JSON.parse(Deno.readTextFileSync(new URL("deno.json", ROOT)));
  return String(config.tasks.start).split(/\s+/).filter((w) => w.startsWith("--allow-"));
}

export function pinnedCommand(cpu: number | undefined, command: string, args: string[]) {
  return cpu === undefined
    ? { command, args }
    : { command: "taskset", args: ["-c", String(cpu), command, ...args] };
}

export async function startServer(
  spec: RunSpec,
  binary: string,
  pin: boolean,
): Promise<{ process: JsonLinesProcess; url: string }> {
  const cpu = pin && spec.pinned ? 0 : undefined;
  if (spec.impl === "pion-sfu") {
    const { command, args } = pinnedCommand(cpu, binary, [
      "sfu",
      "-listen",
      "127.0.0.1:0",
      "-ip",
      "127.0.0.1",
    ]);
    const process = new JsonLinesProcess("pion-sfu", command, args);
    const listening = await process.next((m) => m.event === "listening", 30_000);
    return { process, url: String(listening.url) };
  }
  const port = freePort();
  const { command, args } = pinnedCommand(cpu, Deno.execPath(), [
    "run",
    ...startFlags(),
    `--config=${new URL("deno.json", ROOT).pathname}`,
    new URL("src/main.ts", ROOT).pathname,
    `--port=${port}`,
    "--host=127.0.0.1",
    "--public-ip=127.0.0.1",
    `--publish-token=${TOKEN}`,
    `--workers=${spec.workers}`,
    // Hundreds of viewers from one address: the join bucket is not what is measured.
    "--rate-limit-joins=0",
    "--max-sessions=10000",
    "--max-viewers-per-stream=10000",
    "--shutdown-grace-ms=500",
    "--log-level=warn",
    ...(spec.serverArgs ?? []),
  ]);
  const process = new JsonLinesProcess("quetzal", command, args);
  const url = `http://127.0.0.1:${port}`;
  const deadline = performance.now() + 60_000;
  while (true) {
    try {
      const res = await fetch(`${url}/healthz`);
      await res.body?.cancel();
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (performance.now() > deadline) {
      process.kill();
      throw new Error(`quetzal did not start: ${process.stderrTail.join(" | ")}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { process, url };
}

export async function runOne(
  spec: RunSpec,
  binary: string,
  options: PionOptions,
  pin: boolean,
): Promise<Row> {
  const server = await startServer(spec, binary, pin);
  let load: JsonLinesProcess | undefined;
  try {
    const { command, args } = pinnedCommand(pin && spec.pinned ? 1 : undefined, binary, [
      "load",
      "-url",
      server.url,
      "-token",
      TOKEN,
      "-ip",
      "127.0.0.1",
      "-viewers",
      String(spec.viewers),
      "-video-pps",
      String(VIDEO_PPS),
      "-audio-pps",
      String(AUDIO_PPS),
      "-warmup",
      `${options.warmupS}s`,
      "-window",
      `${options.windowS}s`,
      "-full-viewers",
      String(options.fullViewers ?? DEFAULT_FULL_VIEWERS),
    ]);
    load = new JsonLinesProcess("pion-load", command, args);
    const connected = await load.next((m) => m.event === "viewers-connected", 300_000);
    await load.next((m) => m.event === "window-start", 60_000);
    const cpu0 = cpuSeconds(server.process.pid);
    const loadCpu0 = cpuSeconds(load.pid);
    const t0 = performance.now();
    await load.next((m) => m.event === "window-end", options.windowS * 1000 + 30_000);
    const cpu1 = cpuSeconds(server.process.pid);
    const t1 = performance.now();
    const rss = memoryMb(server.process.pid);
    const result = await load.next((m) => m.event === "result", 30_000);
    const seconds = (t1 - t0) / 1000;
    const received = Number(result.received);
    const serverCpu = cpu1 - cpu0;
    const row = emptyRow("pion", spec.label);
    row.subscribers = spec.viewers;
    row.offered_pps = (VIDEO_PPS + AUDIO_PPS) * spec.viewers;
    row.forwarded_pps = received / seconds;
    row.us_per_packet = received > 0 ? serverCpu * 1e6 / received : null;
    row.delivered_ratio = Number(result.delivered_ratio);
    row.latency_p50_ms = result.latency_p50_ms as number | null;
    row.latency_p99_ms = result.latency_p99_ms as number | null;
    row.rss_peak_mb = rss.hwmMb;
    row.cpu_percent = serverCpu / seconds * 100;
    row.server = spec.impl;
    row.workers = spec.impl === "quetzal" ? spec.workers : null;
    row.pinned = pin && spec.pinned;
    row.viewers_connected = connected.connected;
    row.viewer_states = connected.states;
    if (connected.error) row.viewer_error = connected.error;
    row.load_cpu_percent = (cpuSeconds(load.pid) - loadCpu0) / seconds * 100;
    row.load_cpu_s_self = result.load_cpu_s;
    // The generator's CPU per packet its viewers received: it must stay below the server's.
    row.load_us_per_packet = result.load_us_per_received_packet ?? null;
    row.publisher_nacks = result.publisher_nacks;
    row.full_viewers = result.full_viewers;
    row.light_viewers = result.light_viewers;
    row.delivered_full = result.delivered_full;
    if (Number(result.light_viewers) > 0) {
      row.delivered_light = result.delivered_light;
      row.light_viewers_silent = result.light_viewers_silent;
      row.light_unmatched_packets = result.light_unmatched_packets;
      row.light_duplicates = result.light_duplicates;
      row.light_nacked_packets = result.light_nacked_packets;
    }
    row.window_s = seconds;
    return row;
  } finally {
    load?.kill();
    await load?.status;
    await server.process.stop();
  }
}

/** The rows of issue 14's comparison, or none and a note saying why it was skipped. */
export async function runPionComparison(
  options: PionOptions,
  log: (s: string) => void,
): Promise<{ rows: Row[]; notes: string[] }> {
  const notes: string[] = [];
  const peers = await buildPeers();
  if (!peers.ok) {
    const note = `pion comparison skipped: ${peers.reason}`;
    log(note);
    return { rows: [], notes: [note] };
  }
  const full = options.fullViewers ?? DEFAULT_FULL_VIEWERS;
  notes.push(
    "pion rows: the load is bench/peers (Go, Pion v3): one WHIP publisher and N WHEP viewers " +
      "that are Pion PeerConnections with the NACK generator, receiver reports and TWCC " +
      "feedback (100 ms), and a PLI on start; latency is one-way from the publisher's send to " +
      "the viewer's read; µs/pkt is the server's CPU in the window over the packets viewers got. " +
      (full < 0
        ? "Every viewer is a full Pion receiver."
        : `Beyond ${full} full viewers (the latency sample), viewers are light: ` +
          "the same ICE, DTLS and RTCP feedback (TWCC, receiver reports, NACKs, PLI), computed " +
          "from the clear RTP headers without decrypting (delivered_full / delivered_light)."),
  );
  const pin = options.pin !== false && hasTaskset() && navigator.hardwareConcurrency >= 2;
  if (!pin) notes.push("pion comparison unpinned (--pion-pin=false, no taskset or one CPU)");
  const specs: RunSpec[] = [];
  const rounds = Math.max(1, options.rounds ?? 1);
  for (let round = 0; round < rounds; round++) {
    for (const viewers of options.viewers) {
      specs.push({
        impl: "pion-sfu",
        viewers,
        workers: "1",
        pinned: true,
        label: "pion-sfu",
        round,
      });
      specs.push({ impl: "quetzal", viewers, workers: "1", pinned: true, label: "quetzal", round });
    }
  }
  if (options.scalingViewers > 0) {
    const viewers = options.scalingViewers;
    specs.push({ impl: "quetzal", viewers, workers: "1", pinned: false, label: "quetzal-w1-free" });
    specs.push({
      impl: "quetzal",
      viewers,
      workers: "auto",
      pinned: false,
      label: "quetzal-auto-free",
    });
  }
  const rows: Row[] = [];
  for (const spec of specs) {
    log(
      `pion comparison: ${spec.label}, ${spec.viewers} viewers, ${options.windowS} s window` +
        (rounds > 1 && spec.pinned ? `, round ${(spec.round ?? 0) + 1} of ${rounds}` : "") +
        (pin && spec.pinned ? " (server on CPU 0, load on CPU 1)" : " (unpinned)"),
    );
    try {
      const row = await runOne(spec, peers.binary, options, pin);
      row.round = spec.round ?? 0;
      rows.push(row);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      notes.push(`pion comparison ${spec.label} at ${spec.viewers} viewers failed: ${message}`);
      log(`  failed: ${message}`);
    }
  }
  for (const row of rows) {
    const pion = rows.find((r) =>
      r.impl === "pion-sfu" && r.subscribers === row.subscribers && r.round === row.round &&
      r !== row
    );
    // CPU per packet compares like with like only when both servers kept up: a starved or
    // collapsing server spends its CPU on fewer packets (retransmissions, timeouts, rejoins).
    const bothDelivered = (row.delivered_ratio ?? 0) >= COMPARABLE_DELIVERY &&
      (pion?.delivered_ratio ?? 0) >= COMPARABLE_DELIVERY;
    if (row.impl === "quetzal" && pion?.us_per_packet && row.us_per_packet && bothDelivered) {
      row.us_ratio_vs_pion = row.us_per_packet / pion.us_per_packet;
      row.delivered_vs_pion = (row.delivered_ratio ?? 0) / (pion.delivered_ratio || 1);
    }
  }
  const w1 = rows.find((r) => r.impl === "quetzal-w1-free");
  const auto = rows.find((r) => r.impl === "quetzal-auto-free");
  if (w1?.forwarded_pps && auto?.forwarded_pps) {
    auto.forwarded_vs_w1 = auto.forwarded_pps / w1.forwarded_pps;
  }
  return { rows, notes };
}
