/**
 * Issue 13/14's room rows: real rooms over the room signalling (`POST /api/rooms`, then each
 * participant on the WebSocket `/rooms/{id}/signal` with a publish and a subscribe
 * connection), driven by the Go/Pion tool of bench/peers (`quetzal-peers room`), which costs
 * less per packet than the server:
 *
 * - **meeting of N**: every participant publishes a three-layer simulcast camera (q/h/f at
 *   150 kbit/s, 500 kbit/s, 1.7 Mbit/s, 30 frames/s) and a microphone (50 packets/s with the
 *   RFC 6464 level) and receives everyone else: the server's allocator picks each camera's
 *   layer from the subscriber's transport-wide CC feedback, and the 3 loudest voices arrive in
 *   the audio slots. Server pinned to CPU 0 (`--workers=1`), load on CPU 1, as pion.ts does.
 * - **voice chat**: 5 speakers (microphones only) and L listeners (the listener token), who
 *   hear the 3 loudest speakers; server unpinned with `--workers=auto` (all cores). The first
 *   `fullListeners` listeners are full Pion receivers (decrypt, latency, RTCP feedback); the
 *   others are light (bench/peers/light.go: real signalling, ICE and DTLS, media counted from
 *   the clear RTP header on one shared socket), so the generator costs far less per packet
 *   than the server even at 1,000 listeners on 2 cores.
 *
 * The server's CPU time in the window over the packets subscribers received that were sent in
 * it is the cost per forwarded packet; `us_ratio_vs_broadcast` divides it by the WHIP/WHEP
 * broadcast row (pion.ts's Quetzal row, same Go load generator) measured in the same run.
 */
import type { CreatedRoom } from "../../src/http/rooms-api.ts";
import { cpuSeconds, memoryMb } from "../lib/proc-stats.ts";
import { buildPeers, JsonLinesProcess } from "../lib/pion-peers.ts";
import { emptyRow, type Row } from "../lib/report.ts";
import { hasTaskset, pinnedCommand, runOne, type RunSpec, startServer, TOKEN } from "./pion.ts";

export interface RoomsOptions {
  /** Participants of each meeting row (0 rows: none). */
  meeting: number[];
  /** Speakers of the voice chat. */
  voiceSpeakers: number;
  /** Listeners of each voice chat row. */
  listeners: number[];
  windowS: number;
  /**
   * After the last participant connected: the subscribers' bandwidth estimates ramp up from
   * the allocator's start (600 kbit/s, about +8 %/s without probes).
   */
  warmupS: number;
  /** Viewers of the WHIP/WHEP broadcast row the ratios divide by (0: no ratio). */
  broadcastViewers: number;
  /**
   * Voice chat listeners that are full Pion receivers (the latency sample); the others are
   * light listeners. -1: all full.
   */
  fullListeners: number;
  /** Participants joining at once. */
  parallel: number;
  /** Pin the meeting's server to CPU 0 and its load to CPU 1 (default, as pion.ts). */
  pin?: boolean;
  /**
   * Also run each voice chat with the server on one UDP port per thread (`--rtc-port`), its
   * light listeners on a socket each (a shared port tells clients apart by address).
   */
  sharedPort?: boolean;
  verbose: boolean;
}

export const ROOMS_FULL: Omit<RoomsOptions, "verbose"> = {
  meeting: [5, 10, 25],
  voiceSpeakers: 5,
  listeners: [1000],
  windowS: 15,
  warmupS: 20,
  broadcastViewers: 100,
  fullListeners: 40,
  parallel: 8,
};
/** The tiniest rooms, end to end: a meeting of 2 and 2 speakers with 2 listeners. */
export const ROOMS_SMOKE: Omit<RoomsOptions, "verbose"> = {
  meeting: [2],
  voiceSpeakers: 2,
  listeners: [2],
  windowS: 1,
  warmupS: 1,
  broadcastViewers: 0,
  // One of each kind, so the smoke run keeps both listener paths working.
  fullListeners: 1,
  parallel: 4,
};

const AUDIO_SLOTS = 3;

/** The Go tool's last line (`event: "result"`), as bench/peers/room.go writes it. */
interface RoomResult {
  participants: number;
  connected: number;
  expected: number;
  received: number;
  forwarded: number;
  delivered_ratio: number;
  delivered_audio: number | null;
  delivered_video: number | null;
  video_layers: Record<string, number | null>;
  video_frames_missing: number | null;
  subscriber_states: Record<string, number>;
  publisher_states: Record<string, number>;
  latency_p50_ms: number | null;
  latency_p99_ms: number | null;
  padding_packets: number;
  duplicates: number;
  subscribe_offers: number;
  publisher_plis: number;
  load_cpu_s: number;
  full_listeners: number;
  light_listeners: number;
  delivered_audio_full: number | null;
  delivered_audio_light: number | null;
  light_listeners_silent: number | null;
  light_unmatched_packets: number | null;
}

function num(m: Record<string, unknown>, key: string): number {
  const v = m[key];
  if (typeof v !== "number") throw new Error(`room load result: ${key} is not a number`);
  return v;
}

function numOrNull(m: Record<string, unknown>, key: string): number | null {
  const v = m[key];
  return typeof v === "number" ? v : null;
}

function counts(m: Record<string, unknown>, key: string): Record<string, number> {
  const out: Record<string, number> = {};
  const v = m[key];
  if (v && typeof v === "object") {
    for (const [k, n] of Object.entries(v)) if (typeof n === "number") out[k] = n;
  }
  return out;
}

function parseResult(m: Record<string, unknown>): RoomResult {
  const layers = m.video_layers;
  const videoLayers: Record<string, number | null> = {};
  if (layers && typeof layers === "object") {
    for (const [rid, share] of Object.entries(layers)) {
      videoLayers[rid] = typeof share === "number" ? share : null;
    }
  }
  return {
    participants: num(m, "participants"),
    connected: num(m, "connected"),
    expected: num(m, "expected"),
    received: num(m, "received"),
    forwarded: num(m, "forwarded"),
    delivered_ratio: num(m, "delivered_ratio"),
    delivered_audio: numOrNull(m, "delivered_audio"),
    delivered_video: numOrNull(m, "delivered_video"),
    video_layers: videoLayers,
    video_frames_missing: numOrNull(m, "video_frames_missing"),
    subscriber_states: counts(m, "subscriber_states"),
    publisher_states: counts(m, "publisher_states"),
    latency_p50_ms: numOrNull(m, "latency_p50_ms"),
    latency_p99_ms: numOrNull(m, "latency_p99_ms"),
    padding_packets: num(m, "padding_packets"),
    duplicates: num(m, "duplicates"),
    subscribe_offers: num(m, "subscribe_offers"),
    publisher_plis: num(m, "publisher_plis"),
    load_cpu_s: num(m, "load_cpu_s"),
    full_listeners: num(m, "full_listeners"),
    light_listeners: num(m, "light_listeners"),
    delivered_audio_full: numOrNull(m, "delivered_audio_full"),
    delivered_audio_light: numOrNull(m, "delivered_audio_light"),
    light_listeners_silent: numOrNull(m, "light_listeners_silent"),
    light_unmatched_packets: numOrNull(m, "light_unmatched_packets"),
  };
}

interface RoomSpec {
  kind: "meeting" | "voice";
  speakers: number;
  listeners: number;
  video: boolean;
  workers: string;
  pinned: boolean;
  /** The server on one UDP port per thread (`--rtc-port=0`). */
  sharedPort?: boolean;
}

async function createRoom(url: string, participants: number): Promise<CreatedRoom> {
  const res = await fetch(`${url}/api/rooms`, {
    method: "POST",
    headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" },
    body: JSON.stringify({
      name: "bench",
      maxParticipants: participants + 10,
      maxVideoPublishers: Math.min(100, Math.max(30, participants)),
      audioSlots: AUDIO_SLOTS,
    }),
  });
  const body = await res.text();
  if (res.status !== 201) throw new Error(`POST /api/rooms: ${res.status} ${body}`);
  return JSON.parse(body) as CreatedRoom;
}

/** The server's figures that explain a row: bandwidth estimates and paused-track drops. */
interface Scrape {
  estimateSum: number;
  estimateCount: number;
  pausedDrops: number;
}

/** Reads a few samples of `/metrics` (outside the CPU window's bounds). */
async function scrape(url: string): Promise<Scrape | undefined> {
  try {
    const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    const sample = (line: string) => {
      const at = text.indexOf(`\n${line} `);
      return at < 0 ? NaN : Number(text.slice(at + line.length + 2, text.indexOf("\n", at + 1)));
    };
    return {
      estimateSum: sample("quetzal_bandwidth_estimate_bytes_per_second_sum"),
      estimateCount: sample("quetzal_bandwidth_estimate_bytes_per_second_count"),
      pausedDrops: sample('quetzal_packets_dropped_total{reason="paused"}'),
    };
  } catch {
    return undefined;
  }
}

function caseName(spec: RoomSpec): string {
  if (spec.kind === "meeting") return "rooms-meeting";
  return spec.sharedPort ? "rooms-voice-rtc-port" : "rooms-voice";
}

async function runRoom(
  spec: RoomSpec,
  binary: string,
  options: RoomsOptions,
  pin: boolean,
  log: (s: string) => void,
): Promise<Row> {
  const participants = spec.speakers + spec.listeners;
  const runSpec: RunSpec = {
    impl: "quetzal",
    viewers: participants,
    workers: spec.workers,
    pinned: spec.pinned,
    label: caseName(spec),
    serverArgs: spec.sharedPort ? ["--rtc-port=0"] : [],
  };
  const server = await startServer(runSpec, binary, pin);
  let load: JsonLinesProcess | undefined;
  try {
    const idleRssMb = memoryMb(server.process.pid).rssMb;
    const room = await createRoom(server.url, participants);
    const { command, args } = pinnedCommand(pin && spec.pinned ? 1 : undefined, binary, [
      "room",
      "-url",
      server.url,
      "-room",
      room.id,
      "-speaker-token",
      room.tokens.speaker,
      "-listener-token",
      room.tokens.listener,
      "-speakers",
      String(spec.speakers),
      "-listeners",
      String(spec.listeners),
      "-full-listeners",
      String(options.fullListeners),
      `-video=${spec.video}`,
      "-audio-slots",
      String(AUDIO_SLOTS),
      "-parallel",
      String(options.parallel),
      "-warmup",
      `${options.warmupS}s`,
      "-window",
      `${options.windowS}s`,
      "-light-sockets",
      spec.sharedPort ? "own" : "shared",
    ]);
    load = new JsonLinesProcess("room-load", command, args);
    // Joining is one WebSocket and two DTLS handshakes per speaker, a few at a time.
    const connected = await load.next(
      (m) => m.event === "participants-connected",
      60_000 + participants * 2_000,
    );
    log(
      `  ${connected.connected}/${participants} connected in ${
        Number(connected.join_s).toFixed(1)
      } s${
        connected.subscribe_refused
          ? `, ${connected.subscribe_refused} subscribe connections refused by the server`
          : ""
      }${connected.error ? ` (first error: ${connected.error})` : ""}`,
    );
    await load.next((m) => m.event === "window-start", options.warmupS * 1000 + 60_000);
    const scrape0 = await scrape(server.url);
    const cpu0 = cpuSeconds(server.process.pid);
    const loadCpu0 = cpuSeconds(load.pid);
    const t0 = performance.now();
    await load.next((m) => m.event === "window-end", options.windowS * 1000 + 60_000);
    const cpu1 = cpuSeconds(server.process.pid);
    const t1 = performance.now();
    const loadCpu1 = cpuSeconds(load.pid);
    const rss = memoryMb(server.process.pid);
    const scrape1 = await scrape(server.url);
    const result = parseResult(await load.next((m) => m.event === "result", 60_000));
    const seconds = (t1 - t0) / 1000;
    const serverCpu = cpu1 - cpu0;
    const row = emptyRow(caseName(spec), "quetzal");
    row.subscribers = participants;
    row.publishers = spec.speakers;
    row.listeners = spec.listeners;
    row.offered_pps = result.expected / seconds;
    row.forwarded_pps = result.forwarded / seconds;
    row.us_per_packet = result.forwarded > 0 ? serverCpu * 1e6 / result.forwarded : null;
    row.pps_per_core = serverCpu > 0 ? result.forwarded / serverCpu : null;
    row.delivered_ratio = result.delivered_ratio;
    row.delivered_audio = result.delivered_audio;
    row.delivered_video = result.delivered_video;
    row.video_layers = result.video_layers;
    // Frames of a (subscriber, camera) pair of which nothing arrived: the allocator paused the
    // camera (a low bandwidth estimate) or every packet was lost.
    row.video_frames_missing = result.video_frames_missing;
    row.latency_p50_ms = result.latency_p50_ms;
    row.latency_p99_ms = result.latency_p99_ms;
    row.rss_peak_mb = rss.hwmMb;
    row.rss_mb = rss.rssMb;
    row.rss_per_participant_mb = (rss.rssMb - idleRssMb) / participants;
    row.cpu_percent = serverCpu / seconds * 100;
    row.workers = spec.workers;
    row.pinned = pin && spec.pinned;
    row.participants_connected = result.connected;
    row.connect_failures = Number(connected.failed);
    // Joined, but the server sent an error instead of a subscribe offer (e.g. over-capacity).
    row.subscribe_refused = Number(connected.subscribe_refused ?? 0);
    row.join_s = Number(connected.join_s);
    if (connected.error) row.connect_error = connected.error;
    row.padding_packets = result.padding_packets;
    row.duplicates = result.duplicates;
    row.subscribe_offers = result.subscribe_offers;
    row.publisher_plis = result.publisher_plis;
    if (scrape0 && scrape1) {
      // The allocator's view in the window: its mean bandwidth estimate per subscriber (one
      // sample per allocation) and the packets it held back from paused tracks.
      const allocations = scrape1.estimateCount - scrape0.estimateCount;
      row.allocations_in_window = allocations;
      row.mean_estimate_kbps = allocations > 0
        ? (scrape1.estimateSum - scrape0.estimateSum) * 8 / 1000 / allocations
        : null;
      row.paused_drops_per_s = (scrape1.pausedDrops - scrape0.pausedDrops) / seconds;
    }
    row.subscriber_states = result.subscriber_states;
    row.publisher_states = result.publisher_states;
    row.load_cpu_percent = (loadCpu1 - loadCpu0) / seconds * 100;
    // The generator's CPU per packet its subscribers received (light and full): far below the
    // server's µs/pkt, or the row measures the generator.
    row.load_us_per_packet = result.forwarded > 0
      ? (loadCpu1 - loadCpu0) * 1e6 / result.forwarded
      : null;
    if (spec.listeners > 0) {
      row.full_listeners = result.full_listeners;
      row.light_listeners = result.light_listeners;
      // Audio delivery of the full receivers (payload stamps, send-time window; the latency
      // sample) and of the light ones (sequence numbers, arrival-time window), apart.
      row.delivered_audio_full = result.delivered_audio_full;
      row.delivered_audio_light = result.delivered_audio_light;
      row.light_listeners_silent = result.light_listeners_silent;
      row.light_unmatched_packets = result.light_unmatched_packets;
    }
    // The generator's own limit: pinned it has one core, unpinned the machine's (shared with
    // the server). Near it, loss and latency are the generator's, not the server's.
    const loadCores = pin && spec.pinned ? 1 : navigator.hardwareConcurrency;
    row.load_saturated = (row.load_cpu_percent as number) >= 90 * loadCores ||
      (row.load_cpu_percent as number) + (row.cpu_percent ?? 0) >=
        90 * navigator.hardwareConcurrency;
    row.window_s = seconds;
    row.note = (spec.kind === "meeting"
      ? `${participants} × (simulcast camera + mic), all subscribed to all`
      : `${spec.speakers} speakers × ${spec.listeners} listeners (${result.light_listeners} light), audio only`) +
      (row.load_saturated ? "; load generator + server saturate the CPUs" : "");
    return row;
  } finally {
    load?.kill();
    await load?.status;
    await server.process.stop();
  }
}

/** The room rows (and the broadcast row they are compared with), or a note why not. */
export async function runRooms(
  options: RoomsOptions,
  log: (s: string) => void,
): Promise<{ rows: Row[]; notes: string[] }> {
  const notes: string[] = [];
  const peers = await buildPeers();
  if (!peers.ok) {
    const note = `room rows skipped: ${peers.reason}`;
    log(note);
    return { rows: [], notes: [note] };
  }
  notes.push(
    "room rows: real rooms over the room signalling, participants are Pion peers of " +
      "bench/peers (`room`): meetings where everyone publishes a q/h/f simulcast camera and a " +
      "microphone with the audio level and subscribes to everyone (the allocator picks layers " +
      "from TWCC; video_layers is the share of frames received per layer), and a voice chat " +
      "of speakers and listeners. µs/pkt is the server's CPU over the media packets received " +
      "(padding probes not counted); us_ratio_vs_broadcast divides it by the WHIP/WHEP " +
      "broadcast row of the same run.",
  );
  const pin = options.pin !== false && hasTaskset() && navigator.hardwareConcurrency >= 2;
  if (!pin) notes.push("room meeting rows unpinned (--rooms-pin=false, no taskset or one CPU)");
  const rows: Row[] = [];
  let broadcast: Row | undefined;
  if (options.broadcastViewers > 0) {
    const viewers = options.broadcastViewers;
    log(`rooms: the broadcast row they are compared with, ${viewers} WHEP viewers, pinned`);
    try {
      broadcast = await runOne(
        { impl: "quetzal", viewers, workers: "1", pinned: true, label: "quetzal" },
        peers.binary,
        {
          viewers: [viewers],
          windowS: options.windowS,
          warmupS: 3,
          scalingViewers: 0,
          verbose: false,
        },
        pin,
      );
      broadcast.case = "rooms-broadcast";
      broadcast.pps_per_core = broadcast.us_per_packet ? 1e6 / broadcast.us_per_packet : null;
      broadcast.note = `1 WHIP publisher (500 + 50 pkt/s) × ${viewers} WHEP viewers`;
      rows.push(broadcast);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      notes.push(`rooms broadcast row failed: ${message}`);
      log(`  failed: ${message}`);
    }
  }
  const specs: RoomSpec[] = [
    ...options.meeting.map((n): RoomSpec => ({
      kind: "meeting",
      speakers: n,
      listeners: 0,
      video: true,
      workers: "1",
      pinned: true,
    })),
    ...options.listeners.flatMap((l): RoomSpec[] =>
      (options.sharedPort ? [false, true] : [false]).map((sharedPort) => ({
        kind: "voice",
        speakers: options.voiceSpeakers,
        listeners: l,
        video: false,
        workers: "auto",
        pinned: false,
        sharedPort,
      }))
    ),
  ];
  for (const spec of specs) {
    log(
      `rooms: ${spec.kind} of ${spec.speakers} speakers + ${spec.listeners} listeners, ${options.windowS} s window` +
        (pin && spec.pinned ? " (server on CPU 0, load on CPU 1)" : " (unpinned, --workers=auto)"),
    );
    try {
      const row = await runRoom(spec, peers.binary, options, pin, log);
      if (broadcast?.us_per_packet && row.us_per_packet) {
        row.us_ratio_vs_broadcast = row.us_per_packet / broadcast.us_per_packet;
      }
      log(
        `  delivered ${((row.delivered_ratio ?? 0) * 100).toFixed(2)} %, p99 ${
          row.latency_p99_ms ?? "–"
        } ms, ${row.us_per_packet?.toFixed(2)} µs/pkt, CPU ${row.cpu_percent?.toFixed(0)} %; ` +
          `load ${(row.load_us_per_packet as number | null)?.toFixed(2)} µs/pkt, CPU ${
            (row.load_cpu_percent as number).toFixed(0)
          } %`,
      );
      rows.push(row);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      notes.push(
        `room ${spec.kind} (${spec.speakers} speakers, ${spec.listeners} listeners) failed: ${message}`,
      );
      log(`  failed: ${message}`);
    }
  }
  return { rows, notes };
}
