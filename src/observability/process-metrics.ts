/**
 * Process CPU, memory and file descriptors, read at scrape time.
 *
 * prom-client's `collectDefaultMetrics` half-works on Deno 2.9: CPU, RSS and open fds are right,
 * but the event-loop gauges report 9.2e9 s and `Nan` (not a valid sample value), the handle
 * counts are always empty and the lag fallback leaves a `setImmediate` pending after each scrape.
 * So Quetzal reads what it needs itself and keeps the standard `process_*` names that generic
 * dashboards expect. Linux-only values (`/proc`) are omitted elsewhere or without `--allow-read`.
 */

import process from "node:process";

/** One snapshot; a field is undefined when this platform or permission set cannot read it. */
export interface ProcessSnapshot {
  cpuUserSeconds: number;
  cpuSystemSeconds: number;
  residentMemoryBytes: number;
  heapUsedBytes: number;
  heapTotalBytes: number;
  externalMemoryBytes: number;
  startTimeSeconds: number;
  virtualMemoryBytes?: number;
  openFds?: number;
  maxFds?: number;
}

/** Reads a {@link ProcessSnapshot}. Never throws. */
export function readProcessSnapshot(): ProcessSnapshot {
  const cpu = process.cpuUsage();
  const mem = Deno.memoryUsage();
  return {
    cpuUserSeconds: cpu.user / 1e6,
    cpuSystemSeconds: cpu.system / 1e6,
    residentMemoryBytes: mem.rss,
    heapUsedBytes: mem.heapUsed,
    heapTotalBytes: mem.heapTotal,
    externalMemoryBytes: mem.external,
    startTimeSeconds: Math.round(performance.timeOrigin / 1000),
    virtualMemoryBytes: readVirtualMemoryBytes(),
    openFds: countOpenFds(),
    maxFds: readMaxFds(),
  };
}

function readProcFile(path: string): string | undefined {
  if (Deno.build.os !== "linux") return undefined;
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
}

function readVirtualMemoryBytes(): number | undefined {
  // proc(5): "VmSize: <n> kB".
  const status = readProcFile("/proc/self/status");
  const match = status?.match(/^VmSize:\s+(\d+)\s+kB/m);
  return match ? Number(match[1]) * 1024 : undefined;
}

function readMaxFds(): number | undefined {
  // proc(5) /proc/pid/limits: "Max open files  <soft>  <hard>  files".
  const limits = readProcFile("/proc/self/limits");
  const match = limits?.match(/^Max open files\s+(\d+|unlimited)/m);
  if (!match) return undefined;
  return match[1] === "unlimited" ? undefined : Number(match[1]);
}

function countOpenFds(): number | undefined {
  if (Deno.build.os !== "linux") return undefined;
  try {
    let n = 0;
    for (const _ of Deno.readDirSync("/proc/self/fd")) n++;
    // The directory handle being read is itself one of the entries.
    return n - 1;
  } catch {
    return undefined;
  }
}
