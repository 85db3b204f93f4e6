/** The report header: machine, runtime and library versions (read, never guessed). */
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import type { Header } from "./report.ts";

function cpuModel(): string {
  try {
    const info = Deno.readTextFileSync("/proc/cpuinfo");
    return info.match(/^model name\s*:\s*(.+)$/m)?.[1]?.trim() ?? "unknown";
  } catch {
    return "unknown";
  }
}

/** werift's version as pinned by the import map (npm:werift@x.y.z). */
function weriftVersion(): string {
  try {
    const config = JSON.parse(
      Deno.readTextFileSync(new URL("../../deno.json", import.meta.url)),
    ) as { imports?: Record<string, string> };
    return config.imports?.werift?.match(/@([\d.]+)$/)?.[1] ?? "unknown";
  } catch {
    return "unknown";
  }
}

export function machineHeader(mode: string): Header {
  const libsrtp = loadLibsrtp();
  let memTotalMb = NaN;
  try {
    memTotalMb = Deno.systemMemoryInfo().total / 1048576;
  } catch {
    // Not permitted: leave NaN.
  }
  return {
    machine: {
      cpu_model: cpuModel(),
      cores: navigator.hardwareConcurrency,
      mem_total_mb: Math.round(memTotalMb),
      load_average: Deno.loadavg().map((x) => Math.round(x * 100) / 100),
    },
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    typescript: Deno.version.typescript,
    werift: weriftVersion(),
    libsrtp: libsrtp.available ? libsrtp.version : `unavailable (${libsrtp.reason})`,
    mode,
    date: new Date().toISOString(),
    notes: [],
  };
}
