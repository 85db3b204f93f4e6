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
 *
 * Paced rows (`fanout-paced`): the same fan-out at one camera's pace, on the main thread
 * (`quetzal-inline`, what `--workers 1` does) and over workers: what the ring hand-off and the
 * workers' wake-ups cost per packet below saturation.
 */
import process from "node:process";
import { InboundPacket } from "../../src/rtp/inbound-packet.ts";
import { PacketRing } from "../../src/workers/packet-ring.ts";
import { RingTap } from "../../src/workers/ring-tap.ts";
import { WakeCoalescer } from "../../src/workers/wake-coalescer.ts";
import dgram from "node:dgram";
import { emptyRow, type Row } from "../lib/report.ts";
import { attachConsumers } from "../lib/fanout-consumers.ts";
import { PACKET_LENGTH, stampPacket, vp8Packet, vp8Producer } from "../lib/synthetic-media.ts";

export interface FanoutWorkersOptions {
  workers: number[];
  consumers: number;
  runMs: number;
  /** Worker counts of the paced rows (0: consumers on the main thread). */
  pacedWorkers: number[];
  pacedConsumers: number;
  pacedMs: number;
}

export const FANOUT_WORKERS_QUICK: FanoutWorkersOptions = {
  workers: [1, 2],
  consumers: 100,
  runMs: 2000,
  pacedWorkers: [0, 1, 2],
  pacedConsumers: 20,
  pacedMs: 3000,
};
export const FANOUT_WORKERS_SMOKE: FanoutWorkersOptions = {
  workers: [1, 2],
  consumers: 10,
  runMs: 200,
  pacedWorkers: [0, 2],
  pacedConsumers: 2,
  pacedMs: 200,
};

const RING_SLOTS = 4096;
const yieldToLoop = () => new Promise<void>((resolve) => setTimeout(resolve, 0));
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

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

/** A producer fanned out to consumers over `workers` workers (0: on this thread). */
interface Fanout {
  /** Forwards inbound packet number i. */
  forward(i: number): void;
  /** Datagrams sent so far. */
  sent(): number;
  /** Fill of the fullest ring (0 without workers). */
  occupancy(): number;
  shed(): number;
  close(): Promise<void>;
}

async function startFanout(
  workers: number,
  consumers: number,
  sinkPort: number,
): Promise<Fanout> {
  const counts = new SharedArrayBuffer(4 * Math.max(1, workers));
  const counters = new Int32Array(counts);
  const producer = vp8Producer();
  const extensions = producer.extensions;
  const wakes = new WakeCoalescer();
  const tap = new RingTap(producer, 1, wakes);
  const rings: PacketRing[] = [];
  const threads: Worker[] = [];
  let inline: { close(): void } | undefined;
  let socket: dgram.Socket | undefined;
  const close = async () => {
    tap.rings = [];
    for (const worker of threads) {
      await request(worker, "stop", "stopped").catch(() => {});
      worker.terminate();
    }
    producer.close();
    inline?.close();
    wakes.close();
    if (socket) await new Promise<void>((resolve) => socket!.close(() => resolve()));
  };
  try {
    if (workers === 0) {
      socket = dgram.createSocket("udp4");
      await new Promise<void>((resolve) => socket!.bind(0, "127.0.0.1", () => resolve()));
      inline = attachConsumers(producer, socket, { consumers, first: 0, sinkPort }, () => {
        counters[0]++;
      });
    } else {
      producer.addTap(tap);
      const per = Math.ceil(consumers / workers);
      for (let w = 0; w < workers; w++) {
        const ring = new PacketRing(RING_SLOTS);
        rings.push(ring);
        const worker = new Worker(new URL("../lib/fanout-worker.ts", import.meta.url), {
          type: "module",
        });
        threads.push(worker);
        await request(worker, {
          ring: ring.buffer,
          counts,
          index: w,
          sinkPort,
          consumers: Math.min(per, consumers - w * per),
          first: w * per,
        }, "ready");
      }
      tap.rings = rings;
    }
  } catch (error) {
    await close();
    throw error;
  }
  const pkt = new InboundPacket();
  const delta = vp8Packet(false);
  pkt.parse(vp8Packet(true), PACKET_LENGTH, extensions);
  pkt.arrivalMs = performance.now();
  producer.onPacket(pkt);
  return {
    forward(i) {
      stampPacket(delta, i);
      pkt.parse(delta, PACKET_LENGTH, extensions);
      pkt.arrivalMs = performance.now();
      producer.onPacket(pkt);
    },
    sent: () => counters.reduce((a, b) => a + b, 0),
    occupancy: () => rings.reduce((m, r) => Math.max(m, r.occupancy), 0),
    shed: () => tap.shed,
    close,
  };
}

interface Measured {
  pps: number;
  usPerPacket: number;
  cpuPercent: number;
  shed: number;
}

/** Datagrams/s, process CPU per datagram and packets shed while `run(until)` drives the fan-out. */
async function measureWindow(
  fanout: Fanout,
  ms: number,
  run: (untilMs: number) => Promise<void>,
): Promise<Measured> {
  const sent0 = fanout.sent();
  const shed0 = fanout.shed();
  const cpu0 = cpuNow();
  const t0 = performance.now();
  await run(t0 + ms);
  const wallS = (performance.now() - t0) / 1000;
  const cpuS = cpuNow() - cpu0;
  const sent = fanout.sent() - sent0;
  return {
    pps: sent / wallS,
    usPerPacket: (cpuS * 1e6) / sent,
    cpuPercent: (cpuS / wallS) * 100,
    shed: fanout.shed() - shed0,
  };
}

/** Saturated: as many packets as the workers take; returns outbound packets/s and CPU. */
async function runSaturated(
  workers: number,
  options: FanoutWorkersOptions,
  sinkPort: number,
): Promise<Measured> {
  const fanout = await startFanout(workers, options.consumers, sinkPort);
  try {
    let i = 0;
    const feed = async (untilMs: number) => {
      while (performance.now() < untilMs) {
        // Top every ring up to a quarter full, then let the workers drain.
        while (fanout.occupancy() < 0.25) fanout.forward(i++);
        await yieldToLoop();
      }
    };
    await feed(performance.now() + Math.min(500, options.runMs / 2)); // warm-up
    return await measureWindow(fanout, options.runMs, feed);
  } finally {
    await fanout.close();
  }
}

/**
 * Paced like one 2.5 Mbit/s camera (a frame of 12 packets every 33 ms, ~360 packets/s in):
 * the CPU that forwarding costs below saturation, inline or over workers.
 */
async function runPaced(
  workers: number,
  options: FanoutWorkersOptions,
  sinkPort: number,
): Promise<Measured> {
  const fanout = await startFanout(workers, options.pacedConsumers, sinkPort);
  let i = 0;
  const timer = setInterval(() => {
    for (let k = 0; k < 12; k++) fanout.forward(i++);
  }, 1000 / 30);
  try {
    await sleep(Math.min(1000, options.pacedMs / 2)); // warm-up
    return await measureWindow(
      fanout,
      options.pacedMs,
      (untilMs) => sleep(untilMs - performance.now()),
    );
  } finally {
    clearInterval(timer);
    await fanout.close();
  }
}

/** A report row for one measured run of `subscribers` consumers sending AES-GCM to the UDP sink. */
function measuredRow(caseName: string, impl: string, subscribers: number, r: Measured): Row {
  const row = emptyRow(caseName, impl);
  row.subscribers = subscribers;
  row.profile = "AEAD_AES_128_GCM";
  row.sink = "udp";
  row.forwarded_pps = r.pps;
  row.offered_pps = r.pps;
  row.us_per_packet = r.usPerPacket;
  row.cpu_percent = r.cpuPercent;
  return row;
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
      const r = await runSaturated(workers, options, (sink.addr as Deno.NetAddr).port);
      if (workers === options.workers[0]) base = r.pps;
      const row = measuredRow("fanout-workers", `quetzal-w${workers}`, options.consumers, r);
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
    for (const workers of options.pacedWorkers) {
      const r = await runPaced(workers, options, (sink.addr as Deno.NetAddr).port);
      const impl = workers === 0 ? "quetzal-inline" : `quetzal-w${workers}`;
      const row = measuredRow("fanout-paced", impl, options.pacedConsumers, r);
      row.note = `${
        workers === 0 ? "on the main thread" : `${workers} worker(s)`
      }, ${options.pacedConsumers} consumers, one camera's pace`;
      rows.push(row);
      log(
        `fanout-paced ${row.impl}: ${Math.round(r.pps)} pkt/s, ${
          r.usPerPacket.toFixed(2)
        } µs/pkt CPU, CPU ${r.cpuPercent.toFixed(1)} %`,
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
