/**
 * Case 3, the N×N meeting with three-layer simulcast: N publishers, each one stream of three
 * VP8 layers (180p 150 kbit/s, 360p 500 kbit/s, 720p 1.7 Mbit/s, key frames every 2 s) plus
 * Opus-sized audio at 50 packets/s, and N participants each watching the N − 1 other streams
 * as a gallery view does: one "speaker" tile at the top layer and the rest at the lowest.
 *
 * Viewers send no transport-wide feedback, so the server would forward the top layer to all of
 * them; each viewer session pins its layer through the WHEP layer extension instead. Which
 * participant a session belongs to does not change the server's work, so per stream there is
 * one session pinned to "f" (the speaker tile of one participant) and N − 2 pinned to "q".
 * Speaker and gallery sessions live in separate viewer processes, so delivery is counted per
 * layer: each session expects its stream's audio plus the packets of the layer it is pinned to.
 *
 * The werift-only baseline has no simulcast layer selection, so its row is not measured.
 */
import { BenchChild } from "../lib/children.ts";
import { LatencyHistogram } from "../lib/latency-histogram.ts";
import { epochMs } from "../lib/media-clock.ts";
import { cpuSeconds, RssSampler } from "../lib/proc-stats.ts";
import { emptyRow, type Row } from "../lib/report.ts";
import { bucketQuantile, type SfuImpl, sleep, type Window } from "../lib/rig.ts";
import { windowRow } from "./e2e.ts";

const LIB = new URL("../lib/", import.meta.url).pathname;

export interface MeetingOptions {
  /** Publishers = participants (N of N×N). */
  participants: number;
  windowMs: number;
  /** After the last viewer joined: every layer has sent a key frame (one every 2 s). */
  settleMs: number;
  viewersPerProcess: number;
  verbose?: boolean;
}

/** 4×4: 90 werift viewer handshakes alone take about two minutes on a two-core machine. */
export const MEETING_QUICK: MeetingOptions = {
  participants: 4,
  windowMs: 2500,
  settleMs: 2500,
  viewersPerProcess: 20,
};
export const MEETING_FULL: MeetingOptions = {
  participants: 10,
  windowMs: 8000,
  settleMs: 3000,
  viewersPerProcess: 20,
};
export const MEETING_SMOKE: MeetingOptions = {
  participants: 3,
  windowMs: 1000,
  settleMs: 2200,
  viewersPerProcess: 20,
};

/** The speaker tile's layer and the gallery tiles' layer (rids of the publisher process). */
const SPEAKER_RID = "f";
const GALLERY_RID = "q";

interface ViewerGroup {
  rid: string;
  children: BenchChild[];
  /** Sessions requested per child (connected or not). */
  load: number[];
  sessions: number;
  failed: number;
}

function caseName(participants: number): string {
  return `scenario-meeting-${participants}x${participants}-simulcast`;
}

/** Runs the meeting on Quetzal and returns its row. */
export async function runMeeting(
  options: MeetingOptions,
  log: (s: string) => void,
): Promise<Row> {
  const n = options.participants;
  const verbose = options.verbose ?? false;
  const server = new BenchChild("quetzal", LIB + "server-process.ts", [
    "--srtp=auto",
    "--workers=1",
  ], {
    verbose,
  });
  const rss = new RssSampler(server.pid);
  const children: BenchChild[] = [server];
  try {
    const hello = await server.waitFor((m) => m.event === "listening");
    const url = String(hello.url);
    const publisher = new BenchChild(
      "simulcast-publisher",
      LIB + "simulcast-publisher-process.ts",
      [],
      { verbose },
    );
    children.push(publisher);
    const streams = Array.from({ length: n }, (_, i) => `meeting${i}`);
    const t0 = performance.now();
    await publisher.request("start", { url, token: String(hello.publishToken), streams }, 120_000);

    const groups: ViewerGroup[] = [SPEAKER_RID, GALLERY_RID].map((rid) => ({
      rid,
      children: [],
      load: [],
      sessions: 0,
      failed: 0,
    }));
    const [speakers, gallery] = groups;
    // Per stream: one speaker tile and N − 2 gallery tiles (the publisher does not watch itself).
    for (const stream of streams) {
      await addSessions(speakers, stream, 1, url, options, children);
      await addSessions(gallery, stream, n - 2, url, options, children);
    }
    log(
      `meeting ${n}×${n}: ${speakers.sessions + gallery.sessions} viewer sessions up in ${
        ((performance.now() - t0) / 1000).toFixed(1)
      } s (${speakers.failed + gallery.failed} failed)`,
    );
    await sleep(options.settleMs);

    await stats(server, "lag-reset");
    const viewerChildren = groups.flatMap((g) => g.children);
    await Promise.all(viewerChildren.map((c) => c.request("window")));
    // SRTP failures are cumulative in the viewers: keep those of the connect phase apart.
    let srtpErrorsBefore = 0;
    for (const child of viewerChildren) {
      srtpErrorsBefore += Number(
        (await child.request("report", { fromMs: 0, toMs: 0 })).srtpErrors,
      );
    }
    rss.resetPeak();
    const s0 = await stats(server, "stats");
    const cpu0 = cpuSeconds(server.pid);
    const fromMs = epochMs();
    await sleep(options.windowMs);
    const toMs = epochMs();
    const cpu1 = cpuSeconds(server.pid);
    const s1 = await stats(server, "stats");
    rss.sample();
    await sleep(400); // packets sent before toMs still in flight
    const sent = await publisher.request("report", { fromMs, toMs }) as {
      audio: number;
      video: Record<string, number>;
    };
    const latency = new LatencyHistogram();
    let received = 0, expected = 0, viewers = 0, srtpErrors = 0;
    const srtpErrorsByCode: Record<string, number> = {};
    const perLayer: Record<string, number> = {};
    for (const group of groups) {
      let groupReceived = 0, groupViewers = 0;
      for (const child of group.children) {
        const r = await child.request("report", { fromMs, toMs });
        groupReceived += Number(r.received);
        groupViewers += Number(r.viewers);
        srtpErrors += Number(r.srtpErrors);
        for (const [code, k] of Object.entries(r.srtpErrorsByCode as Record<string, number>)) {
          srtpErrorsByCode[code] = (srtpErrorsByCode[code] ?? 0) + k;
        }
        latency.addSparse(r.latency as Record<string, number>);
      }
      // Every stream sends alike: a session expects its stream's share of audio and its layer.
      const groupExpected = groupViewers * (sent.audio + (sent.video[group.rid] ?? 0)) / n;
      perLayer[group.rid] = groupExpected > 0 ? groupReceived / groupExpected : NaN;
      received += groupReceived;
      expected += groupExpected;
      viewers += groupViewers;
    }
    const d = (key: string) => Number(s1[key]) - Number(s0[key]);
    const window: Window = {
      fromMs,
      toMs,
      seconds: (toMs - fromMs) / 1000,
      viewers,
      sent: sent.audio + Object.values(sent.video).reduce((a, b) => a + b, 0),
      expected,
      received,
      latency,
      serverCpuS: cpu1 - cpu0,
      serverPacketsIn: d("packetsIn"),
      serverBytesIn: d("bytesIn"),
      serverPacketsOut: d("packetsOut"),
      serverBytesOut: d("bytesOut"),
      lagP99Ms: Number(s1.p99Ms),
      serverForwardP99Ms: bucketQuantile(s0, s1, 0.99),
      rssPeakMb: rss.peakMb,
      srtpErrors,
      srtpErrorsByCode,
    };
    const row = windowRow(caseName(n), "quetzal", window, n);
    row.subscribers = n;
    row.sessions = viewers + n;
    row.viewer_sessions = viewers;
    row.connect_failures = speakers.failed + gallery.failed;
    row.srtp_errors_in_window = srtpErrors - srtpErrorsBefore;
    row.delivered_speaker = perLayer[SPEAKER_RID];
    row.delivered_gallery = perLayer[GALLERY_RID];
    row.note = `${n} publishers × 3 layers; ${n} participants × ${n - 1} streams ` +
      `(1 at 720p, ${n - 2} at 180p)`;
    log(
      `meeting ${n}×${n}: ${(row.mbps_in as number).toFixed(1)} Mbit/s in, ${
        (row.mbps_out as number).toFixed(1)
      } Mbit/s out, ${(row.packets_out_per_s as number).toFixed(0)} pkt/s out, delivered ${
        ((row.delivered_ratio ?? 0) * 100).toFixed(2)
      } %, CPU ${row.cpu_percent?.toFixed(0)} %, ${row.us_per_packet?.toFixed(2)} µs/pkt`,
    );
    return row;
  } finally {
    rss.stop();
    for (const child of children.slice(1).reverse()) await child.stop();
    await server.stop();
  }
}

/** Adds `count` sessions of `stream` pinned to the group's layer, filling its processes. */
async function addSessions(
  group: ViewerGroup,
  stream: string,
  count: number,
  url: string,
  options: MeetingOptions,
  children: BenchChild[],
): Promise<void> {
  let remaining = count;
  while (remaining > 0) {
    const last = group.children.length - 1;
    if (last < 0 || group.load[last] >= options.viewersPerProcess) {
      const child = new BenchChild(
        `viewers-${group.rid}${group.children.length}`,
        LIB + "viewer-process.ts",
        [],
        { verbose: options.verbose },
      );
      group.children.push(child);
      group.load.push(0);
      children.push(child);
    }
    const i = group.children.length - 1;
    const k = Math.min(remaining, options.viewersPerProcess - group.load[i]);
    const reply = await group.children[i].request(
      "add",
      { url, stream, count: k, kinds: ["video", "audio"], rid: group.rid },
      180_000,
    );
    group.load[i] += k;
    group.sessions += k - Number(reply.failed);
    group.failed += Number(reply.failed);
    remaining -= k;
  }
}

/** The server's counters, or NaNs when it is too busy to answer (procfs still measures it). */
async function stats(server: BenchChild, cmd: string): Promise<Record<string, unknown>> {
  try {
    return await server.request(cmd, {}, 5000);
  } catch {
    return { packetsIn: NaN, bytesIn: NaN, packetsOut: NaN, bytesOut: NaN, p99Ms: NaN };
  }
}

/** The werift-only baseline's row: not measured, it has no simulcast layer selection. */
export function meetingBaselineRow(participants: number): Row {
  const row = emptyRow(caseName(participants), "werift-sfu");
  row.publishers = participants;
  row.subscribers = participants;
  row.note = "n/a (no layer selection): the werift-only SFU relays one track per m-line and " +
    "cannot pick a simulcast layer per viewer";
  return row;
}

export type { SfuImpl };
