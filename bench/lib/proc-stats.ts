/**
 * A process's own accounting from Linux procfs: CPU time (utime + stime of every thread,
 * proc(5) /proc/<pid>/stat fields 14 and 15) and resident memory (VmRSS, VmHWM).
 */

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ on Linux (sysconf(_SC_CLK_TCK)), fixed at 100.

/** CPU seconds (user + system) used so far by process `pid`, or NaN when unreadable. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // The command name (field 2) may contain spaces: fields are counted after its ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}

/** Resident set size and its high-water mark in MiB, or NaN when unreadable. */
export function memoryMb(pid: number): { rssMb: number; hwmMb: number } {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const kb = (name: string) => Number(status.match(new RegExp(`^${name}:\\s+(\\d+)`, "m"))?.[1]);
    return { rssMb: kb("VmRSS") / 1024, hwmMb: kb("VmHWM") / 1024 };
  } catch {
    return { rssMb: NaN, hwmMb: NaN };
  }
}

/** Samples a process's RSS every `intervalMs` and keeps the peak and the samples. */
export class RssSampler {
  readonly pid: number;
  readonly samples: Array<{ tMs: number; rssMb: number }> = [];
  peakMb = 0;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(pid: number, intervalMs = 200) {
    this.pid = pid;
    this.#timer = setInterval(() => this.sample(), intervalMs);
  }

  sample(): number {
    const { rssMb } = memoryMb(this.pid);
    if (Number.isFinite(rssMb)) {
      this.samples.push({ tMs: performance.now(), rssMb });
      if (rssMb > this.peakMb) this.peakMb = rssMb;
    }
    return rssMb;
  }

  /** Starts a new peak (keeps the samples). */
  resetPeak(): void {
    this.peakMb = 0;
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
