/**
 * Worker scaling (issue 6, "all cores"): the same end-to-end load (one 2.5 Mbit/s stream with
 * audio, N werift viewers in other processes) through Quetzal with 1, 2, … viewer workers,
 * one row per worker count: forwarded packets/s at the delivery reached, and server CPU per
 * forwarded packet (procfs: all of the server's threads). Each row's `threads_cpu_percent`
 * splits that CPU by thread (main, each worker, V8's helper threads), which is what tells a
 * per-packet cost from a fixed per-worker one.
 */
import { emptyRow, type Row } from "../lib/report.ts";
import { Rig, sleep } from "../lib/rig.ts";
import { ONE_STREAM, windowRow } from "./e2e.ts";

export interface WorkersOptions {
  /** Worker counts to compare (1 = today's single-thread path). */
  workers: number[];
  viewers: number;
  windowMs: number;
  settleMs: number;
  verbose?: boolean;
}

export const WORKERS_QUICK: WorkersOptions = {
  workers: [1, 2],
  viewers: 20,
  windowMs: 5000,
  settleMs: 3000,
};

/** One row per worker count; `impl` is `quetzal-w<N>`. */
export async function runWorkerScaling(
  options: WorkersOptions,
  log: (s: string) => void,
): Promise<Row[]> {
  const rows: Row[] = [];
  for (const workers of options.workers) {
    const impl = `quetzal-w${workers}`;
    // `workers` is read by the rig once it forwards it to the server process (see above).
    const rig = await Rig.start({ impl: "quetzal", verbose: options.verbose, workers });
    try {
      await rig.publish(["live"], ONE_STREAM);
      await rig.addViewers(options.viewers);
      await sleep(options.settleMs);
      const before = threadCpuSeconds(rig.server.pid);
      const window = await rig.measure(options.windowMs);
      const row = windowRow("workers", impl, window, 1);
      row.threads_cpu_percent = threadPercents(
        before,
        threadCpuSeconds(rig.server.pid),
        window.seconds,
      );
      row.note = `${workers} worker(s), ${options.viewers} viewers`;
      rows.push(row);
      log(
        `workers ${workers}: fwd ${row.forwarded_pps?.toFixed(0)} pkt/s, delivered ${
          ((row.delivered_ratio ?? 0) * 100).toFixed(2)
        } %, ${row.us_per_packet?.toFixed(1)} µs/pkt, CPU ${row.cpu_percent?.toFixed(0)} % (${
          Object.entries(row.threads_cpu_percent as Record<string, number>).map(([k, v]) =>
            `${k} ${v} %`
          ).join(", ")
        })`,
      );
    } catch (error) {
      const row = emptyRow("workers", impl);
      row.note = `failed: ${String(error).split("\n")[0]}`;
      rows.push(row);
    } finally {
      await rig.stop();
    }
  }
  return rows;
}

/** CPU seconds of each thread of `pid`, keyed "tid:name" (procfs; empty when unreadable). */
export function threadCpuSeconds(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  try {
    for (const entry of Deno.readDirSync(`/proc/${pid}/task`)) {
      try {
        const stat = Deno.readTextFileSync(`/proc/${pid}/task/${entry.name}/stat`);
        // The thread name (field 2) may contain spaces: fields are counted after its ")".
        const close = stat.lastIndexOf(")");
        const name = stat.slice(stat.indexOf("(") + 1, close);
        const fields = stat.slice(close + 2).split(" ");
        out.set(`${entry.name}:${name}`, (Number(fields[11]) + Number(fields[12])) / 100);
      } catch {
        // The thread ended between the listing and the read.
      }
    }
  } catch {
    // Not Linux, or the process is gone.
  }
  return out;
}

/**
 * Per-thread CPU over a window as % of one core, by thread name ("deno" is the main thread,
 * "worker-N" the viewer workers; V8's helper threads are summed as "v8-helpers"); threads
 * under 0.1 % are left out.
 */
export function threadPercents(
  before: Map<string, number>,
  after: Map<string, number>,
  seconds: number,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, cpu] of after) {
    const name = key.slice(key.indexOf(":") + 1);
    const label = name.startsWith("V8 ") ? "v8-helpers" : name;
    const percent = ((cpu - (before.get(key) ?? 0)) / seconds) * 100;
    out[label] = Math.round(((out[label] ?? 0) + percent) * 10) / 10;
  }
  for (const [label, percent] of Object.entries(out)) if (percent < 0.1) delete out[label];
  return out;
}
