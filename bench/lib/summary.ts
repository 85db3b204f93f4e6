/**
 * Ratios and target status from one run's rows (the targets of issues 5 and 6): micro
 * ≥ 100,000 outbound packets/s per core and ≥ 4× werift; end to end ≥ 40,000 forwarded
 * packets/s per busy core; p99 < 5 ms at 80 % of the clean load; bounded RSS under overload.
 */
import type { Row } from "./report.ts";

const r1 = (
  x: number | null | undefined,
) => (x == null || !Number.isFinite(x) ? null : Math.round(x * 10) / 10);

export function summarise(rows: Row[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const targets: Record<string, string> = {};

  // Micro: fan-out 100 (the largest measured), per profile and sink.
  const micro = rows.filter((r) => r.case === "micro");
  if (micro.length > 0) {
    const fanout = Math.max(...micro.map((r) => r.subscribers ?? 0));
    const table: Record<string, Record<string, unknown>> = {};
    for (const r of micro.filter((r) => r.subscribers === fanout)) {
      const key = `${r.profile === "AEAD_AES_128_GCM" ? "GCM" : "CM"} ${r.sink}`;
      table[String(r.impl)] ??= {};
      table[String(r.impl)][key] = {
        pps_per_core: r1(r.pps_per_core as number),
        ratio_vs_werift: r1(r.ratio_vs_werift as number),
      };
    }
    out[`micro_fanout_${fanout}`] = table;
    const best = micro.filter((r) =>
      r.impl !== "werift-stock" && r.subscribers === fanout && r.sink === "udp"
    )
      .sort((a, b) => (b.pps_per_core as number) - (a.pps_per_core as number))[0];
    if (best) {
      const pps = best.pps_per_core as number;
      const ratio = best.ratio_vs_werift as number;
      targets.micro_100k_pps_per_core = `${pps >= 100_000 ? "met" : "not met"}: ${
        Math.round(pps)
      } pkt/s per core (${best.impl}, ${best.profile}, UDP sink, fan-out ${fanout})`;
      targets.micro_4x_werift = `${ratio >= 4 ? "met" : "not met"}: ${
        ratio.toFixed(2)
      }× werift's stock path (same row)`;
    }
    const nullBest = micro.filter((r) =>
      r.impl !== "werift-stock" && r.subscribers === fanout && r.sink === "null"
    )
      .sort((a, b) => (b.pps_per_core as number) - (a.pps_per_core as number))[0];
    if (nullBest) {
      targets.micro_without_send = `${
        Math.round(nullBest.pps_per_core as number)
      } pkt/s per core, ${
        (nullBest.ratio_vs_werift as number).toFixed(2)
      }× werift (${nullBest.impl}, ${nullBest.profile}, null sink)`;
    }
  }
  const alloc = rows.filter((r) => r.case === "micro-alloc");
  if (alloc.length > 0) {
    out.alloc_bytes_per_packet = Object.fromEntries(
      alloc.map((r) => [r.impl, r1(r.alloc_bytes_per_packet as number)]),
    );
  }

  // Data-plane scaling over forwarding workers, in process.
  const fan = rows.filter((r) => r.case === "fanout-workers");
  const w2 = fan.find((r) => r.impl === "quetzal-w2");
  const w1 = fan.find((r) => r.impl === "quetzal-w1");
  if (w1 && w2 && typeof w2.scaling_vs_w1 === "number") {
    targets.scaling_1_to_2_workers = `${w2.scaling_vs_w1 >= 1.7 ? "met" : "not met"}: ×${
      w2.scaling_vs_w1.toFixed(2)
    } (${Math.round(w1.forwarded_pps ?? 0)} → ${
      Math.round(w2.forwarded_pps ?? 0)
    } pkt/s, in-process data plane, ${w2.subscribers} consumers)`;
  }

  // End to end: per-busy-core rates and the ratio at each load both ramps measured.
  const e2e = rows.filter((r) => r.case === "e2e");
  const q = e2e.filter((r) => r.impl === "quetzal");
  const w = e2e.filter((r) => r.impl === "werift-sfu");
  if (q.length > 0) {
    const ratios: Record<string, number | null> = {};
    for (const row of q) {
      const base = w.find((b) => b.subscribers === row.subscribers);
      if (base?.us_per_packet && row.us_per_packet) {
        ratios[`N=${row.subscribers}`] = r1(base.us_per_packet / row.us_per_packet);
      }
    }
    out.e2e_cpu_ratio_werift_over_quetzal = ratios;
    // The send path's effect, same run: node:dgram CPU per packet over sendto's.
    const d = e2e.filter((r) => r.impl === "quetzal-dgram");
    const sendPath: Record<string, number | null> = {};
    for (const row of q) {
      const base = d.find((b) => b.subscribers === row.subscribers);
      if (base?.us_per_packet && row.us_per_packet) {
        sendPath[`N=${row.subscribers}`] = r1(base.us_per_packet / row.us_per_packet);
      }
    }
    if (d.length > 0) out.e2e_cpu_ratio_dgram_over_sendto = sendPath;
    const top = q[q.length - 1];
    out.e2e_quetzal_largest_step = {
      subscribers: top.subscribers,
      forwarded_pps: r1(top.forwarded_pps),
      us_per_packet: r1(top.us_per_packet),
      pps_per_busy_core: r1(top.pps_per_busy_core as number),
      cpu_percent: r1(top.cpu_percent),
    };
    const busy = top.pps_per_busy_core as number;
    targets.e2e_40k_pps_per_busy_core = `${busy >= 40_000 ? "met" : "not met"}: ${
      Math.round(busy)
    } fwd pkt/s per busy core at N=${top.subscribers} (${top.us_per_packet?.toFixed(1)} µs/pkt)`;
  }
  const at80 = rows.find((r) => r.case === "e2e-80pct");
  if (at80) {
    targets.p99_under_5ms_at_80pct =
      `${(at80.latency_p99_ms ?? Infinity) < 5 ? "met" : "not met"}: p99 ${
        at80.latency_p99_ms?.toFixed(2)
      } ms at N=${at80.subscribers} (publisher to viewer, ` +
      `including the viewer processes' receive queues); inside the server (receive → send) p99 ≤ ${
        (at80.server_forward_p99_ms as number | null)?.toFixed(2)
      } ms; event-loop lag p99 ${at80.event_loop_lag_p99_ms?.toFixed(1)} ms`;
  }
  const overload = rows.find((r) => r.case === "overload");
  if (overload) {
    targets.bounded_rss_under_overload = `${overload.memory_bounded ? "met" : "not met"}: peak ${
      overload.rss_peak_mb?.toFixed(0)
    } MB, slope ${(overload.rss_slope_mb_per_s as number).toFixed(2)} MB/s, recovery ${
      overload.recovery_ms === null
        ? "not observed"
        : `${Math.round(overload.recovery_ms as number)} ms`
    }`;
  }
  pionTargets(rows, out, targets);
  roomTargets(rows, out, targets);
  out.targets = targets;
  return out;
}

const pct = (x: number | null | undefined) => x == null ? "–" : `${(x * 100).toFixed(1)} %`;

/** Issue 14: Quetzal as a ratio to the Pion SFU of the same run, under the Go/Pion load. */
function pionTargets(
  rows: Row[],
  out: Record<string, unknown>,
  targets: Record<string, string>,
): void {
  const pion = rows.filter((r) => r.case === "pion");
  if (pion.length === 0) return;
  const quetzal = pion.filter((r) => r.impl === "quetzal");
  const table: Record<string, unknown> = {};
  // With --pion-rounds > 1 each viewer count has several Pion/Quetzal pairs: the ratio is the
  // median of the pairs' ratios (the machine's noise between runs is larger than the gap).
  const counts = [...new Set(quetzal.map((q) => q.subscribers ?? 0))];
  const medianRatio = new Map<number, number>();
  for (const n of counts) {
    const qs = quetzal.filter((q) => q.subscribers === n);
    const ratios = qs.map((q) => q.us_ratio_vs_pion).filter((x): x is number =>
      typeof x === "number"
    );
    if (ratios.length > 0) medianRatio.set(n, median(ratios));
    const ps = pion.filter((r) => r.impl === "pion-sfu" && r.subscribers === n);
    table[`N=${n}`] = {
      quetzal_us: r1(median(qs.map((q) => q.us_per_packet ?? NaN).filter(isFinite))),
      pion_us: r1(median(ps.map((p) => p.us_per_packet ?? NaN).filter(isFinite))),
      ratio: ratios.length === 0 ? null : Math.round(median(ratios) * 100) / 100,
      ...(qs.length > 1 ? { ratios: ratios.map((x) => Math.round(x * 100) / 100) } : {}),
      quetzal_delivered: median(qs.map((q) => q.delivered_ratio ?? 0)),
      pion_delivered: ps.length === 0 ? null : median(ps.map((p) => p.delivered_ratio ?? 0)),
      quetzal_p99_ms: median(qs.map((q) => q.latency_p99_ms ?? Infinity)),
      pion_p99_ms: ps.length === 0 ? null : median(ps.map((p) => p.latency_p99_ms ?? Infinity)),
    };
  }
  out.pion_cpu_per_packet = table;
  const uncomparable = quetzal.filter((q) =>
    (q.subscribers ?? 0) >= 40 && (q.subscribers ?? 0) <= 100 &&
    typeof q.us_ratio_vs_pion !== "number"
  );
  if (uncomparable.length > 0) {
    out.pion_not_compared = uncomparable.map((q) => {
      const p = pion.find((r) =>
        r.impl === "pion-sfu" && r.subscribers === q.subscribers && r.round === q.round
      );
      return `N=${q.subscribers}: delivered ${pct(q.delivered_ratio)} (Quetzal) / ${
        pct(p?.delivered_ratio)
      } (Pion), below 95 %: CPU per packet not comparable`;
    });
  }
  const mid = counts.filter((n) => n >= 40 && n <= 100 && medianRatio.has(n)).sort((a, b) => a - b);
  if (mid.length === 0 && quetzal.length > 0) {
    targets.pion_cpu_per_packet_le_1x = "not measured: no load of 40–100 viewers where both " +
      "servers delivered ≥ 95 % (see pion_not_compared)";
  }
  if (mid.length > 0) {
    const worst = Math.max(...mid.map((n) => medianRatio.get(n)!));
    const rounds = Math.max(...quetzal.map((q) => Number(q.round ?? 0) + 1));
    const at = mid.map((n) => `${medianRatio.get(n)!.toFixed(2)}× at N=${n}`).join(", ");
    targets.pion_cpu_per_packet_le_1x = `${worst <= 1 ? "met" : "not met"}: ${at} ` +
      `(Quetzal µs per forwarded packet / Pion's, same load, ${
        quetzal.every((q) => q.pinned) ? "server pinned to one core" : "unpinned"
      }${rounds > 1 ? `; median of ${rounds} alternating rounds` : "; one round"})`;
    targets.pion_cpu_per_packet_stretch_0_7x = `${worst <= 0.7 ? "met" : "not met"}: worst ${
      worst.toFixed(2)
    }×`;
  }
  const at200 = quetzal.filter((q) => q.subscribers === 200);
  if (at200.length > 0) {
    const delivered = median(at200.map((q) => q.delivered_ratio ?? 0));
    const p99 = median(at200.map((q) => q.latency_p99_ms ?? Infinity));
    const ok = delivered >= 0.995 && p99 < 50;
    targets.pion_200_viewers_one_core = `${ok ? "met" : "not met"}: ${
      (delivered * 100).toFixed(1)
    } % delivered, p99 ${isFinite(p99) ? p99 : "–"} ms (needs ≥ 99.5 %, < 50 ms)${
      at200.length > 1 ? `; median of ${at200.length} rounds` : ""
    }`;
  }
  const auto = pion.find((r) => r.impl === "quetzal-auto-free");
  const w1 = pion.find((r) => r.impl === "quetzal-w1-free");
  if (auto && w1 && typeof auto.forwarded_vs_w1 === "number") {
    const saturated = (w1.delivered_ratio ?? 0) < 0.995;
    targets.pion_workers_auto_1_8x = `${auto.forwarded_vs_w1 >= 1.8 ? "met" : "not met"}: ×${
      auto.forwarded_vs_w1.toFixed(2)
    } forwarded with --workers auto over 1 worker at N=${auto.subscribers}, unpinned${
      saturated ? "" : " (1 worker was not saturated at this load, so the ratio cannot show 1.8×)"
    }`;
  }
}

/** The issues' bar for a room: what a person notices (loss, lag). */
const ROOM_DELIVERED = 0.995;
const ROOM_P99_MS = 50;

/**
 * Issues 13/14, rooms: per row the figures and the cost per packet over the broadcast row of
 * the same run; targets: a 25-person meeting on one core, 1000 listeners on all cores.
 */
function roomTargets(
  rows: Row[],
  out: Record<string, unknown>,
  targets: Record<string, string>,
): void {
  const rooms = rows.filter((r) =>
    r.case === "rooms-meeting" || r.case === "rooms-voice" || r.case === "rooms-voice-rtc-port"
  );
  if (rooms.length === 0) return;
  const table: Record<string, unknown> = {};
  for (const r of rooms) {
    const key = r.case === "rooms-meeting"
      ? `meeting N=${r.subscribers}`
      : `voice ${r.publishers}×${r.listeners}${
        r.case === "rooms-voice-rtc-port" ? " --rtc-port" : ""
      }`;
    table[key] = {
      delivered: r.delivered_ratio,
      delivered_audio: r.delivered_audio ?? null,
      delivered_video: r.delivered_video ?? null,
      video_frames_missing: r.video_frames_missing ?? null,
      p99_ms: r.latency_p99_ms,
      us_per_packet: r1(r.us_per_packet),
      pps_per_core: r1(r.pps_per_core as number | null),
      rss_per_participant_mb: r.rss_per_participant_mb == null
        ? null
        : Math.round((r.rss_per_participant_mb as number) * 100) / 100,
      ratio_vs_broadcast: typeof r.us_ratio_vs_broadcast === "number"
        ? Math.round(r.us_ratio_vs_broadcast * 100) / 100
        : null,
      load_saturated: r.load_saturated ?? null,
    };
  }
  out.rooms = table;
  const ok = (r: Row) =>
    (r.delivered_ratio ?? 0) >= ROOM_DELIVERED && (r.latency_p99_ms ?? Infinity) < ROOM_P99_MS;
  const figures = (r: Row) =>
    `${pct(r.delivered_ratio)} delivered, p99 ${
      r.latency_p99_ms ?? "–"
    } ms (needs ≥ 99.5 %, < 50 ms)`;
  const meeting = rooms.find((r) => r.case === "rooms-meeting" && r.subscribers === 25);
  if (meeting) {
    targets.rooms_meeting_25_one_core = `${ok(meeting) ? "met" : "not met"}: ${figures(meeting)}, ${
      meeting.pinned ? "server pinned to one core" : "unpinned (not the one-core setting)"
    }, ${meeting.us_per_packet?.toFixed(1)} µs/pkt, CPU ${meeting.cpu_percent?.toFixed(0)} %`;
  }
  const voices = rooms.filter((r) => r.case !== "rooms-meeting");
  // The target is for the server as an operator can run it: either port configuration.
  const thousands = voices.filter((r) => (r.listeners as number) >= 1000);
  const full = thousands.find(ok) ?? thousands[0];
  if (full) {
    targets.rooms_voice_1000_listeners_all_cores = `${ok(full) ? "met" : "not met"}: ${
      figures(full)
    }, ${full.listeners} listeners, --workers=${full.workers}${
      full.case === "rooms-voice-rtc-port" ? " --rtc-port" : ""
    }, CPU ${full.cpu_percent?.toFixed(0)} %`;
  } else if (voices.length > 0) {
    const largest = voices.reduce((a, b) =>
      (a.listeners as number) >= (b.listeners as number) ? a : b
    );
    targets.rooms_voice_1000_listeners_all_cores =
      `not measured at 1000 listeners: at ${largest.listeners}, ${figures(largest)} (${
        ok(largest) ? "within" : "outside"
      } the bar)`;
  }
}

/** The middle value (mean of the two middle ones for an even count); NaN for none. */
function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
