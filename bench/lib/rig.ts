/**
 * An end-to-end test rig on 127.0.0.1: the SFU under test in its own process (Quetzal, or the
 * werift-only baseline), a publisher process and viewer processes, all werift peers over real
 * ICE, DTLS and SRTP. The server is measured from outside (procfs CPU and RSS) and through its
 * own counters; delivery and latency are measured by send time, so in-flight packets at the
 * edges of a window are neither lost nor double counted.
 */
import { BenchChild } from "./children.ts";
import { LatencyHistogram } from "./latency-histogram.ts";
import { BUCKET_MS, epochMs } from "./media-clock.ts";
import { cpuSeconds, memoryMb, RssSampler } from "./proc-stats.ts";

const HERE = new URL(".", import.meta.url).pathname;

/** Which SFU a rig runs. */
export type SfuImpl = "quetzal" | "werift-sfu";

export interface MediaSpec {
  video: boolean;
  audio: boolean;
  videoBitrateBps: number;
  fps: number;
}

/** One measurement window. */
export interface Window {
  fromMs: number;
  toMs: number;
  seconds: number;
  viewers: number;
  sent: number;
  expected: number;
  received: number;
  latency: LatencyHistogram;
  serverCpuS: number;
  serverPacketsIn: number;
  serverBytesIn: number;
  serverPacketsOut: number;
  serverBytesOut: number;
  lagP99Ms: number;
  /**
   * p99 of the server's receive → send time in the window (the upper bound of its histogram
   * bucket), NaN when the server did not say.
   */
  serverForwardP99Ms: number;
  rssPeakMb: number;
  srtpErrors: number;
  /** Viewer-side SRTP failures by SrtpError code, cumulative since the viewers started. */
  srtpErrorsByCode: Record<string, number>;
}

export interface RigOptions {
  impl: SfuImpl;
  /** Quetzal's SRTP backend. */
  srtp?: "auto" | "ts" | "libsrtp";
  /**
   * Quetzal's viewer workers (`--workers`); default 1, one thread like the werift baseline, so
   * CPU per packet compares like with like (the `workers` and `fanout` cases compare counts).
   */
  workers?: number;
  /** Quetzal's send path (`--send-path`); unset: auto. */
  sendPath?: "auto" | "syscall" | "dgram";
  /** Viewer sessions per viewer process. */
  viewersPerProcess?: number;
  verbose?: boolean;
}

/** A quantile of the difference between two snapshots of a bucketed histogram, in ms. */
export function bucketQuantile(
  s0: Record<string, unknown>,
  s1: Record<string, unknown>,
  q: number,
): number {
  const bounds = s1.forwardBounds as number[] | undefined;
  const c0 = s0.forwardCounts as number[] | undefined;
  const c1 = s1.forwardCounts as number[] | undefined;
  if (!bounds || !c0 || !c1) return NaN;
  const diff = c1.map((c, i) => c - (c0[i] ?? 0));
  const total = diff.reduce((a, b) => a + b, 0);
  if (total <= 0) return NaN;
  let running = 0;
  for (let i = 0; i < diff.length; i++) {
    running += diff[i];
    if (running >= q * total) return i < bounds.length ? bounds[i] * 1000 : Infinity;
  }
  return Infinity;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Rig {
  readonly impl: SfuImpl;
  readonly server: BenchChild;
  readonly rss: RssSampler;
  url = "";
  token = "";
  streams: string[] = [];
  #publisher: BenchChild | undefined;
  readonly #viewers: Array<{ child: BenchChild; sessions: number; failed: number }> = [];
  /** Server commands that timed out (the server was too busy to read its pipe). */
  serverUnresponsive = 0;
  /** Errors of viewers that never connected. */
  readonly connectFailures: string[] = [];
  readonly #perProcess: number;
  readonly #verbose: boolean;

  private constructor(options: RigOptions) {
    this.impl = options.impl;
    this.#perProcess = options.viewersPerProcess ?? 20;
    this.#verbose = options.verbose ?? false;
    const script = options.impl === "quetzal" ? "server-process.ts" : "werift-sfu-process.ts";
    const args = [`--srtp=${options.srtp ?? "auto"}`];
    args.push(`--workers=${options.workers ?? 1}`);
    if (options.sendPath !== undefined) args.push(`--send-path=${options.sendPath}`);
    this.server = new BenchChild(options.impl, HERE + script, args, { verbose: this.#verbose });
    this.rss = new RssSampler(this.server.pid);
  }

  static async start(options: RigOptions): Promise<Rig> {
    const rig = new Rig(options);
    const hello = await rig.server.waitFor((m) => m.event === "listening");
    rig.url = String(hello.url);
    rig.token = String(hello.publishToken);
    return rig;
  }

  /** Starts one publisher per stream name, all in one process. */
  async publish(streams: string[], media: MediaSpec): Promise<void> {
    this.#publisher ??= new BenchChild("publisher", HERE + "publisher-process.ts", [], {
      verbose: this.#verbose,
    });
    await this.#publisher.request(
      "start",
      { url: this.url, token: this.token, streams, ...media },
      120_000,
    );
    this.streams.push(...streams);
  }

  /** Viewer sessions connected now. */
  get viewers(): number {
    return this.#viewers.reduce((n, v) => n + v.sessions, 0);
  }

  /**
   * Adds `count` viewer sessions of each stream in `streams` (so a listener of ten voice
   * streams is ten sessions), filling viewer processes up to their capacity. Returns how many
   * could not connect (werift handshakes fail now and then on a loaded machine; each was
   * retried by the viewer process first).
   */
  async addViewers(
    count: number,
    streams = this.streams,
    kinds = ["video", "audio"],
  ): Promise<number> {
    let remaining = count * streams.length;
    let streamIndex = 0;
    let failed = 0;
    while (remaining > 0) {
      let slot = this.#viewers.find((v) => v.sessions + v.failed < this.#perProcess);
      if (!slot) {
        slot = {
          child: new BenchChild(`viewers${this.#viewers.length}`, HERE + "viewer-process.ts", [], {
            verbose: this.#verbose,
          }),
          sessions: 0,
          failed: 0,
        };
        this.#viewers.push(slot);
      }
      const n = Math.min(remaining, this.#perProcess - slot.sessions - slot.failed);
      remaining -= n;
      // One stream per request so sessions spread evenly over streams.
      const requests: Array<{ stream: string; count: number }> = [];
      for (let i = 0; i < n; i++) {
        const stream = streams[streamIndex++ % streams.length];
        const last = requests[requests.length - 1];
        if (last && last.stream === stream) last.count++;
        else requests.push({ stream, count: 1 });
      }
      // One process at a time: the server then sees at most two handshakes at once (werift's
      // DTLS fails under bursts of concurrent handshakes).
      for (const r of requests) {
        const reply = await slot.child.request("add", { url: this.url, kinds, ...r }, 180_000);
        slot.sessions = Number(reply.viewers);
        if (Number(reply.failed) > 0) {
          failed += Number(reply.failed);
          slot.failed += Number(reply.failed);
          this.connectFailures.push(String(reply.lastError));
        }
      }
    }
    return failed;
  }

  /** Closes `count` viewer sessions (from the last processes first). */
  async removeViewers(count: number): Promise<void> {
    let remaining = count;
    for (let i = this.#viewers.length - 1; i >= 0 && remaining > 0; i--) {
      const v = this.#viewers[i];
      const n = Math.min(remaining, v.sessions);
      if (n === 0) continue;
      await v.child.request("remove", { count: n });
      v.sessions -= n;
      remaining -= n;
    }
  }

  /** Measures one window of `windowMs` (after the caller's settling time). */
  async measure(windowMs: number): Promise<Window> {
    await this.#serverStats("lag-reset");
    await Promise.all(this.#viewers.map((v) => v.child.request("window")));
    this.rss.resetPeak();
    const s0 = await this.#serverStats("stats");
    const cpu0 = cpuSeconds(this.server.pid);
    const fromMs = epochMs();
    await sleep(windowMs);
    const toMs = epochMs();
    const cpu1 = cpuSeconds(this.server.pid);
    const s1 = await this.#serverStats("stats");
    this.rss.sample();
    const rssPeakMb = this.rss.peakMb;
    await sleep(400); // packets sent before toMs still in flight
    const { sent } = await this.#publisher!.request("report", { fromMs, toMs });
    const latency = new LatencyHistogram();
    let received = 0, expected = 0, viewers = 0, srtpErrors = 0;
    const srtpErrorsByCode: Record<string, number> = {};
    for (const v of this.#viewers) {
      const r = await v.child.request("report", { fromMs, toMs });
      received += Number(r.received);
      srtpErrors += Number(r.srtpErrors);
      for (const [code, n] of Object.entries(r.srtpErrorsByCode as Record<string, number>)) {
        srtpErrorsByCode[code] = (srtpErrorsByCode[code] ?? 0) + n;
      }
      latency.addSparse(r.latency as Record<string, number>);
      viewers += Number(r.viewers);
    }
    // Every stream sends alike, so each session expects its stream's share of what was sent.
    expected = (viewers * Number(sent)) / Math.max(1, this.streams.length);
    const n = (key: string) => Number(s1[key]) - Number(s0[key]);
    return {
      fromMs,
      toMs,
      seconds: (toMs - fromMs) / 1000,
      viewers,
      sent: Number(sent),
      expected,
      received,
      latency,
      serverCpuS: cpu1 - cpu0,
      serverPacketsIn: n("packetsIn"),
      serverBytesIn: n("bytesIn"),
      serverPacketsOut: n("packetsOut"),
      serverBytesOut: n("bytesOut"),
      lagP99Ms: Number(s1.p99Ms),
      serverForwardP99Ms: bucketQuantile(s0, s1, 0.99),
      rssPeakMb,
      srtpErrors,
      srtpErrorsByCode,
    };
  }

  /**
   * The server's own figures, or NaNs when it does not answer within 5 s: an overloaded server
   * may not read its command pipe for a long time, and procfs still measures it.
   */
  async #serverStats(cmd: string): Promise<Record<string, unknown>> {
    try {
      return await this.server.request(cmd, {}, 5000);
    } catch {
      this.serverUnresponsive++;
      return { packetsIn: NaN, bytesIn: NaN, packetsOut: NaN, bytesOut: NaN, p99Ms: NaN };
    }
  }

  /**
   * Delivery per timeline bucket over [fromMs, toMs): received by all viewers ÷ (sessions ×
   * the stream's share of sent). Assumes the viewer count was constant over the range.
   */
  async deliverySeries(fromMs: number, toMs: number): Promise<number[]> {
    const { series: sent } = await this.#publisher!.request("series", { fromMs, toMs }) as {
      series: number[];
    };
    const received = new Array(sent.length).fill(0);
    for (const v of this.#viewers) {
      const { series } = await v.child.request("series", { fromMs, toMs }) as { series: number[] };
      series.forEach((c, i) => received[i] += c);
    }
    const sessions = this.viewers;
    return sent.map((s, i) =>
      s === 0 ? 1 : received[i] / ((sessions * s) / Math.max(1, this.streams.length))
    );
  }

  serverMemory(): { rssMb: number; hwmMb: number } {
    return memoryMb(this.server.pid);
  }

  async stop(): Promise<void> {
    this.rss.stop();
    await Promise.all([
      ...this.#viewers.map((v) => v.child.stop()),
      this.#publisher?.stop(),
    ]);
    await this.server.stop();
  }
}

export { BUCKET_MS, sleep };
