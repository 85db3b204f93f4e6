/**
 * Data-plane scaling across workers (issue 6, "all cores"): one publisher's packets fanned out
 * to `consumers` consumers split over W forwarding workers (bench/lib/fanout-worker.ts), in one
 * process, without werift or viewer processes: the main thread writes each packet once per
 * worker into its PacketRing through the server's own RingTap and WakeCoalescer, each worker
 * parses, rewrites, encrypts and sends (sendto to a loopback sink that is never read).
 *
 * Why in process: end to end (bench/cases/workers.ts), the publisher and viewer processes run
 * on the same two cores as the server, so a second worker mostly competes with the load
 * generator. Here every core is the SFU's, and the main thread's share is small (one ring
 * write per worker per inbound packet), so the scaling from 1 to 2 workers is the data plane's.
 *
 * The writer keeps each ring about a quarter full (below the RingTap's shedding thresholds):
 * saturated, not overflowing. Rows: `quetzal-w<N>`, forwarded packets/s (wall) and CPU per
 * packet, with `scaling_vs_w1` on the W > 1 rows.
 */
import process from "node:process";
import { InboundPacket } from "../../src/rtp/inbound-packet.ts";
import { PacketRing } from "../../src/cluster/packet-ring.ts";
import { RingTap } from "../../src/cluster/ring-tap.ts";
import { WakeCoalescer } from "../../src/cluster/wake-coalescer.ts";
import { emptyRow, type Row } from "../lib/report.ts";
import { PACKET_LENGTH, stampPacket, vp8Packet, vp8Producer } from "../lib/synthetic-media.ts";

export interface FanoutWorkersOptions {
  workers: number[];
  consumers: number;
  runMs: number;
}

export const FANOUT_WORKERS_QUICK: FanoutWorkersOptions = {
  workers: [1, 2],
  consumers: 100,
  runMs: 2000,
};
export const FANOUT_WORKERS_SMOKE: FanoutWorkersOptions = {
  workers: [1, 2],
  consumers: 10,
  runMs: 200,
};

const RING_SLOTS = 4096;
const yieldToLoop = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

function request(worker: Worker, message: unknown, reply: string): Promise<void> {
  return new Promise((resolve, reject) => {
    worker.onmessage = (e) => e.data === reply && resolve();
    worker.onerror = (e) => {
      e.preventDefault();
      reject(new Error(`fan-out worker failed: ${e.message}`));
    };
    worker.postMessage(message);
  });
}

/** One run with `workers` workers; returns outbound packets/s and CPU µs per packet. */
async function runOnce(
  workers: number,
  options: FanoutWorkersOptions,
  sinkPort: number,
): Promise<{ pps: number; usPerPacket: number; cpuPercent: number; shed: number }> {
  const counts = new SharedArrayBuffer(4 * workers);
  const counters = new Int32Array(counts);
  const producer = vp8Producer();
  const extensions = producer.extensions;
  const wakes = new WakeCoalescer();
  const tap = new RingTap(producer, 1, wakes);
  producer.addTap(tap);
  const rings: PacketRing[] = [];
  const threads: Worker[] = [];
  try {
    const per = Math.ceil(options.consumers / workers);
    for (let w = 0; w < workers; w++) {
      const ring = new PacketRing(RING_SLOTS);
      rings.push(ring);
      const worker = new Worker(new URL("../lib/fanout-worker.ts", import.meta.url), {
        type: "module",
      });
      threads.push(worker);
      const consumers = Math.min(per, options.consumers - w * per);
      await request(worker, {
        ring: ring.buffer,
        counts,
        index: w,
        sinkPort,
        consumers,
        first: w * per,
      }, "ready");
    }
    tap.rings = rings;
    const pkt = new InboundPacket();
    const key = vp8Packet(true);
    const delta = vp8Packet(false);
    pkt.parse(key, PACKET_LENGTH, extensions);
    pkt.arrivalMs = performance.now();
    producer.onPacket(pkt);
    let i = 0;
    const feed = async (untilMs: number) => {
      while (performance.now() < untilMs) {
        // Top every ring up to a quarter full, then let the workers drain.
        while (rings.every((r) => r.occupancy < 0.25)) {
          stampPacket(delta, i++);
          pkt.parse(delta, PACKET_LENGTH, extensions);
          pkt.arrivalMs = performance.now();
          producer.onPacket(pkt);
        }
        await yieldToLoop();
      }
    };
    await feed(performance.now() + Math.min(500, options.runMs / 2)); // warm-up
    const sent0 = counters.reduce((a, b) => a + b, 0);
    const shed0 = tap.shed;
    const cpu0 = cpuNow();
    const t0 = performance.now();
    await feed(t0 + options.runMs);
    const wallS = (performance.now() - t0) / 1000;
    const cpuS = cpuNow() - cpu0;
    const sent = counters.reduce((a, b) => a + b, 0) - sent0;
    return {
      pps: sent / wallS,
      usPerPacket: (cpuS * 1e6) / sent,
      cpuPercent: (cpuS / wallS) * 100,
      shed: tap.shed - shed0,
    };
  } finally {
    tap.rings = [];
    for (const worker of threads) {
      await request(worker, "stop", "stopped").catch(() => {});
      worker.terminate();
    }
    producer.close();
    wakes.close();
  }
}

export async function runFanoutWorkers(
  options: FanoutWorkersOptions,
  log: (s: string) => void = () => {},
): Promise<Row[]> {
  const sink = Deno.listenDatagram({ port: 0, hostname: "127.0.0.1", transport: "udp" });
  const rows: Row[] = [];
  try {
    let base = 0;
    for (const workers of options.workers) {
      const r = await runOnce(workers, options, (sink.addr as Deno.NetAddr).port);
      if (workers === options.workers[0]) base = r.pps;
      const row = emptyRow("fanout-workers", `quetzal-w${workers}`);
      row.subscribers = options.consumers;
      row.profile = "AEAD_AES_128_GCM";
      row.sink = "udp";
      row.forwarded_pps = r.pps;
      row.offered_pps = r.pps;
      row.us_per_packet = r.usPerPacket;
      row.cpu_percent = r.cpuPercent;
      row.scaling_vs_w1 = base > 0 ? r.pps / base : null;
      row.note = `${workers} worker(s), ${options.consumers} consumers, ${r.shed} shed`;
      rows.push(row);
      log(
        `fanout-workers w${workers}: ${Math.round(r.pps)} pkt/s, ${
          r.usPerPacket.toFixed(2)
        } µs/pkt CPU, CPU ${r.cpuPercent.toFixed(0)} %${
          workers > options.workers[0] ? `, ×${(r.pps / base).toFixed(2)} vs w1` : ""
        }`,
      );
    }
  } finally {
    sink.close();
  }
  return rows;
}

if (import.meta.main) {
  const smoke = Deno.args.includes("--mode=smoke");
  const rows = await runFanoutWorkers(
    smoke ? FANOUT_WORKERS_SMOKE : FANOUT_WORKERS_QUICK,
    (s) => console.error(s),
  );
  console.log(JSON.stringify({ rows }));
  Deno.exit(0);
}
