/**
 * Worker scaling (issue 6, "all cores"): the same end-to-end load (one 2.5 Mbit/s stream with
 * audio, N werift viewers in other processes) through Quetzal with 1, 2, … viewer workers,
 * one row per worker count: forwarded packets/s at the delivery reached, and server CPU per
 * forwarded packet (procfs: all of the server's threads).
 *
 * Needs the rig to pass `workers` to the server process (`--workers=N` → `startServer({
 * workers })`); until bench/lib/rig.ts and server-process.ts do, every row runs on one thread.
 */
import { emptyRow, type Row } from "../lib/report.ts";
import { Rig, type RigOptions, sleep } from "../lib/rig.ts";
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
    const rig = await Rig.start(
      { impl: "quetzal", verbose: options.verbose, workers } as RigOptions,
    );
    try {
      await rig.publish(["live"], ONE_STREAM);
      await rig.addViewers(options.viewers);
      await sleep(options.settleMs);
      const row = windowRow("workers", impl, await rig.measure(options.windowMs), 1);
      row.note = `${workers} worker(s), ${options.viewers} viewers`;
      rows.push(row);
      log(
        `workers ${workers}: fwd ${row.forwarded_pps?.toFixed(0)} pkt/s, delivered ${
          ((row.delivered_ratio ?? 0) * 100).toFixed(2)
        } %, ${row.us_per_packet?.toFixed(1)} µs/pkt, CPU ${row.cpu_percent?.toFixed(0)} %`,
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
