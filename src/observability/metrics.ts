/**
 * The metric catalogue and the Prometheus registry that renders it.
 *
 * Every metric Quetzal exports is described once, in `METRICS`: `docs/operations.md` is generated
 * from it (`scripts/gen-metrics-doc.ts`) and the tests check the rendered output against it. The
 * packet path never calls prom-client: it bumps plain numbers in `counters.ts`, and the collectors
 * here read them when Prometheus scrapes. Label values come only from fixed sets, so the number of
 * series does not grow with streams or sessions (per-stream detail belongs in `/api/streams`).
 */

import client from "prom-client";
import {
  type Counters,
  counters as defaultCounters,
  DIRECTIONS,
  DROP_REASON_LABELS,
  DYNACAST_DIRECTIONS,
  END_REASONS,
  FAILURE_STAGES,
  type FastHistogram,
  type Histograms,
  histograms as defaultHistograms,
  KEYFRAME_REQUEST_TYPES,
  KINDS,
  ROLES,
  ROOM_PCS,
  ROOM_SOURCES,
  roomCounters,
  SEND_LINK_PATHS,
  SIGNAL_ERROR_CODES,
  SIGNAL_MESSAGE_TYPES,
  SWITCH_REASONS,
} from "./counters.ts";
import { Buckets } from "./fast-histogram.ts";
import { EventLoopLagMonitor } from "./event-loop-lag.ts";
import { type ProcessSnapshot, readProcessSnapshot } from "./process-metrics.ts";

/** Label names a Quetzal metric may carry (plus `le` on histogram buckets). */
export const LABEL_NAMES = [
  "kind",
  "direction",
  "reason",
  "codec",
  "role",
  "type",
  "stage",
  "route",
  "method",
  "status",
  "bucket",
  "source",
  "pc",
  "path",
] as const;
export type LabelName = typeof LABEL_NAMES[number];

/** Room roles, values of `quetzal_participants{role}` (src/room/roles.ts; no import upward). */
export const ROOM_ROLES = ["admin", "speaker", "listener"] as const;

/** HTTP methods kept as label values; anything else is recorded as `OTHER`. */
export const HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;

/** Values of the `bucket` label of `quetzal_http_rate_limited_total` (see src/http/rate-limit.ts). */
export const RATE_LIMIT_BUCKETS = ["joins", "failures"] as const;
export type RateLimitBucket = typeof RATE_LIMIT_BUCKETS[number];

/** The `route` value for requests that matched no route (404s): raw paths are never labels. */
export const UNMATCHED_ROUTE = "unmatched";

/** Prometheus metric types used by Quetzal. */
export type MetricType = "counter" | "gauge" | "histogram";

/** One catalogue entry. */
export interface MetricSpec {
  /** Full name as exposed (counters end in `_total`). */
  readonly name: string;
  readonly type: MetricType;
  /** The HELP text: what is counted, in which unit, from where. */
  readonly help: string;
  /** Label names, in exposition order. */
  readonly labels: readonly LabelName[];
  /**
   * Allowed values per label. Labels absent here are bounded by code instead: `route` is a
   * registered route pattern or `unmatched`, `status` an HTTP status code (100–599).
   */
  readonly values?: Partial<Record<LabelName, readonly string[]>>;
}

const methodValues = [...HTTP_METHODS, "OTHER"] as const;

/** The catalogue: every metric `/metrics` exposes. */
export const METRICS: readonly MetricSpec[] = [
  // Load
  {
    name: "quetzal_streams",
    type: "gauge",
    help: "Streams with a live publisher.",
    labels: [],
  },
  {
    name: "quetzal_sessions",
    type: "gauge",
    help:
      "Open sessions: WHIP and room publish connections (publisher), WHEP and room subscribe connections (viewer).",
    labels: ["role"],
    values: { role: ROLES },
  },
  {
    name: "quetzal_rooms",
    type: "gauge",
    help: "Rooms (group calls) open.",
    labels: [],
  },
  {
    name: "quetzal_participants",
    type: "gauge",
    help: "Room participants, hidden listeners included, by role.",
    labels: ["role"],
    values: { role: ROOM_ROLES },
  },
  {
    name: "quetzal_sessions_created_total",
    type: "counter",
    help: "Sessions created (an answer was sent).",
    labels: ["role"],
    values: { role: ROLES },
  },
  {
    name: "quetzal_sessions_ended_total",
    type: "counter",
    help: "Sessions ended, by why they ended.",
    labels: ["role", "reason"],
    values: { role: ROLES, reason: END_REASONS },
  },
  {
    name: "quetzal_session_failures_total",
    type: "counter",
    help: "Session setups that failed, by the stage that failed (SDP negotiation, ICE, DTLS).",
    labels: ["stage"],
    values: { stage: FAILURE_STAGES },
  },
  {
    name: "quetzal_session_setup_seconds",
    type: "histogram",
    help: "Time from receiving the SDP offer to the first media packet, in seconds.",
    labels: [],
  },
  // Throughput
  {
    name: "quetzal_rtp_packets_total",
    type: "counter",
    help: "RTP packets received from publishers (in) and sent to viewers (out, retransmissions " +
      "included).",
    labels: ["direction", "kind"],
    values: { direction: DIRECTIONS, kind: KINDS },
  },
  {
    name: "quetzal_rtp_bytes_total",
    type: "counter",
    help: "RTP bytes (header and payload, before SRTP) received (in) and sent (out).",
    labels: ["direction", "kind"],
    values: { direction: DIRECTIONS, kind: KINDS },
  },
  {
    name: "quetzal_packets_dropped_total",
    type: "counter",
    help: "Packets not forwarded, by reason.",
    labels: ["reason"],
    values: { reason: DROP_REASON_LABELS },
  },
  // Quality
  {
    name: "quetzal_nack_total",
    type: "counter",
    help: "Sequence numbers NACKed (RFC 4585 generic NACK): in = received from viewers, out = " +
      "sent to publishers.",
    labels: ["direction"],
    values: { direction: DIRECTIONS },
  },
  {
    name: "quetzal_send_links",
    type: "gauge",
    help: "Media links open, by send path: syscall (sendto over FFI) or dgram (the fallback).",
    labels: ["path"],
    values: { path: SEND_LINK_PATHS },
  },
  {
    name: "quetzal_retransmissions_total",
    type: "counter",
    help: "Packets retransmitted to viewers from the retransmission cache.",
    labels: [],
  },
  {
    name: "quetzal_keyframe_requests_total",
    type: "counter",
    help: "Key-frame requests (PLI, FIR): in = received from viewers, out = sent to publishers.",
    labels: ["type", "direction"],
    values: { type: KEYFRAME_REQUEST_TYPES, direction: DIRECTIONS },
  },
  {
    name: "quetzal_keyframe_wait_seconds",
    type: "histogram",
    help: "Time a viewer waited for a key frame (join or layer switch), in seconds.",
    labels: [],
  },
  {
    name: "quetzal_rtt_seconds",
    type: "histogram",
    help: "Round-trip time computed from RTCP reports, in seconds.",
    labels: [],
  },
  {
    name: "quetzal_jitter_seconds",
    type: "histogram",
    help: "Interarrival jitter from RTCP receiver reports, in seconds.",
    labels: [],
  },
  {
    name: "quetzal_packet_loss_ratio",
    type: "histogram",
    help: "Fraction lost from RTCP receiver reports (0 to 1), one sample per report block.",
    labels: [],
  },
  // Latency
  {
    name: "quetzal_forward_latency_seconds",
    type: "histogram",
    help: "Time from receiving an RTP packet to sending it to a viewer, in seconds.",
    labels: [],
  },
  // Simulcast
  {
    name: "quetzal_layer_switches_total",
    type: "counter",
    help: "Simulcast layer switches, by reason.",
    labels: ["reason"],
    values: { reason: SWITCH_REASONS },
  },
  {
    // Not `_bits`: Prometheus' base unit is bytes (promtool check metrics rejects bits).
    name: "quetzal_bandwidth_estimate_bytes_per_second",
    type: "histogram",
    help: "Viewer bandwidth estimates in bytes per second (bits / 8), one sample per allocation.",
    labels: [],
  },
  // HTTP
  {
    name: "quetzal_http_requests_total",
    type: "counter",
    help: "HTTP requests, by route pattern, method and status code.",
    labels: ["route", "method", "status"],
    values: { method: methodValues },
  },
  {
    name: "quetzal_http_request_duration_seconds",
    type: "histogram",
    help: "HTTP request handling time, by route pattern and method, in seconds.",
    labels: ["route", "method"],
    values: { method: methodValues },
  },
  {
    name: "quetzal_http_rate_limited_total",
    type: "counter",
    help: "Requests refused (429) by the per-address rate limit, by the bucket that was empty.",
    labels: ["bucket"],
    values: { bucket: RATE_LIMIT_BUCKETS },
  },
  // Rooms
  {
    name: "quetzal_room_publications",
    type: "gauge",
    help: "Tracks published in rooms, by source.",
    labels: ["source"],
    values: { source: ROOM_SOURCES },
  },
  {
    name: "quetzal_room_subscriptions",
    type: "gauge",
    help: "Tracks being forwarded to room subscribers (one per subscriber and track), by source.",
    labels: ["source"],
    values: { source: ROOM_SOURCES },
  },
  {
    name: "quetzal_renegotiations_total",
    type: "counter",
    help:
      "Room offers: answered on publish connections (pub, the first included) and sent on subscribe connections (sub).",
    labels: ["pc"],
    values: { pc: ROOM_PCS },
  },
  {
    name: "quetzal_active_speaker_changes_total",
    type: "counter",
    help: "Times the loudest speaker of a room changed.",
    labels: [],
  },
  {
    name: "quetzal_dynacast_constraints_total",
    type: "counter",
    help:
      "Allocator decisions told to room publishers (senderConstraint): a layer needed again (up) or no longer (down).",
    labels: ["direction"],
    values: { direction: DYNACAST_DIRECTIONS },
  },
  {
    name: "quetzal_signal_messages_total",
    type: "counter",
    help: "Room signalling messages handled, by type.",
    labels: ["type"],
    values: { type: SIGNAL_MESSAGE_TYPES },
  },
  {
    name: "quetzal_signal_errors_total",
    type: "counter",
    help: "Room signalling refusals sent, by error code.",
    labels: ["reason"],
    values: { reason: SIGNAL_ERROR_CODES },
  },
  // Runtime
  {
    name: "quetzal_event_loop_lag_seconds",
    type: "histogram",
    help: "How late a 20 ms timer fires: time the event loop was blocked, in seconds.",
    labels: [],
  },
  {
    name: "quetzal_heap_used_bytes",
    type: "gauge",
    help: "V8 heap in use, in bytes.",
    labels: [],
  },
  {
    name: "quetzal_heap_total_bytes",
    type: "gauge",
    help: "V8 heap reserved, in bytes.",
    labels: [],
  },
  {
    name: "quetzal_external_memory_bytes",
    type: "gauge",
    help: "Memory held outside the V8 heap by JavaScript objects (ArrayBuffers), in bytes.",
    labels: [],
  },
  {
    name: "process_cpu_user_seconds_total",
    type: "counter",
    help: "User CPU time spent, in seconds.",
    labels: [],
  },
  {
    name: "process_cpu_system_seconds_total",
    type: "counter",
    help: "System CPU time spent, in seconds.",
    labels: [],
  },
  {
    name: "process_cpu_seconds_total",
    type: "counter",
    help: "User and system CPU time spent, in seconds.",
    labels: [],
  },
  {
    name: "process_resident_memory_bytes",
    type: "gauge",
    help: "Resident set size, in bytes.",
    labels: [],
  },
  {
    name: "process_virtual_memory_bytes",
    type: "gauge",
    help: "Virtual memory size, in bytes (Linux only).",
    labels: [],
  },
  {
    name: "process_open_fds",
    type: "gauge",
    help: "Open file descriptors (Linux only).",
    labels: [],
  },
  {
    name: "process_max_fds",
    type: "gauge",
    help: "Limit on open file descriptors (Linux only).",
    labels: [],
  },
  {
    name: "process_start_time_seconds",
    type: "gauge",
    help: "Process start time since the Unix epoch, in seconds.",
    labels: [],
  },
];

/** What the metrics read from the running server at scrape time. */
export interface MetricsSource {
  /** Streams with a live publisher. */
  streams(): number;
  /** Open sessions of one role. */
  sessions(role: "publisher" | "viewer"): number;
  /** Requests refused by the rate limit so far, by bucket. Absent: 0. */
  rateLimited?(bucket: RateLimitBucket): number;
  /** Open rooms (0 when absent). */
  rooms?(): number;
  /** Room participants of one role (0 when absent). */
  participants?(role: typeof ROOM_ROLES[number]): number;
  /** Room tracks published and forwarded, by source (0 when absent). */
  roomTracks?(): {
    publications: Record<typeof ROOM_SOURCES[number], number>;
    subscriptions: Record<typeof ROOM_SOURCES[number], number>;
  };
}

export type { Counters, Histograms };

/** Options of {@link createMetrics}. */
export interface MetricsOptions {
  /** Default: the process-wide `counters`. */
  counters?: Counters;
  /** Default: the process-wide `histograms`. */
  histograms?: Histograms;
  /**
   * Source of `quetzal_event_loop_lag_seconds`. Default: a monitor owned (started and stopped)
   * by the metrics object. Pass your own to share it (it is then not stopped by `close()`), or
   * `false` to leave the metric empty.
   */
  eventLoopLag?: EventLoopLagMonitor | false;
  /** Process snapshot reader, injectable for tests. Default: `readProcessSnapshot`. */
  readProcess?: () => ProcessSnapshot;
}

/** The `/metrics` endpoint's backend. */
export interface Metrics {
  /** Content-Type of `render()`'s output (Prometheus text format 0.0.4). */
  readonly contentType: string;
  /** The registry; add metrics here only through the catalogue. */
  readonly registry: client.Registry;
  /** Renders every metric in the Prometheus text format. */
  render(): Promise<string>;
  /** HTTP accounting, called by `metricsMiddleware`; method and status are normalised here. */
  observeHttp(route: string, method: string, status: number, seconds: number): void;
  /** Stops the owned event-loop lag monitor; idempotent. */
  close(): void;
}

/** One sample as prom-client's Registry formats it. */
interface Sample {
  value: number;
  labels: Record<string, string>;
  metricName?: string;
}

/**
 * A metric whose samples are computed at scrape time from plain numbers. prom-client's Registry
 * formats any object with `name`, `help`, `type` and `get()` (registry.js, getMetricsAsString),
 * which lets these skip its per-label hashing. Samples are preallocated; a scrape only refreshes
 * their values. `refresh` returns false to emit no sample (a value this platform lacks).
 */
class SourcedMetric {
  readonly aggregator = "sum";
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: MetricType,
    readonly values: Sample[],
    readonly refresh: (values: Sample[]) => boolean | void,
  ) {}

  get(): Promise<
    { name: string; help: string; type: MetricType; values: Sample[]; aggregator: string }
  > {
    const present = this.refresh(this.values) !== false;
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      values: present ? this.values : [],
      aggregator: this.aggregator,
    });
  }
}

function spec(name: string): MetricSpec {
  const found = METRICS.find((m) => m.name === name);
  if (!found) throw new Error(`metric ${name} is not in the catalogue`);
  return found;
}

/** Samples for every combination of the given label values, first label varying slowest. */
function labelGrid(names: readonly string[], sets: readonly (readonly string[])[]): Sample[] {
  let rows: Record<string, string>[] = [{}];
  for (let i = 0; i < names.length; i++) {
    const next: Record<string, string>[] = [];
    for (const row of rows) {
      for (const v of sets[i]) next.push({ ...row, [names[i]]: v });
    }
    rows = next;
  }
  return rows.map((labels) => ({ value: 0, labels }));
}

function formatBound(bound: number): string {
  return String(bound);
}

function histogramSamples(name: string, bounds: Float64Array | readonly number[]): Sample[] {
  const samples: Sample[] = [];
  for (const b of bounds) {
    samples.push({ metricName: name + "_bucket", labels: { le: formatBound(b) }, value: 0 });
  }
  samples.push({ metricName: name + "_bucket", labels: { le: "+Inf" }, value: 0 });
  samples.push({ metricName: name + "_sum", labels: {}, value: 0 });
  samples.push({ metricName: name + "_count", labels: {}, value: 0 });
  return samples;
}

/** `scale` converts the recorded unit to the exposed one (bounds and sum), e.g. bits → bytes. */
function fastHistogramMetric(
  name: string,
  read: () => FastHistogram | undefined,
  scale = 1,
): SourcedMetric {
  const s = spec(name);
  const first = read();
  const bounds = first ? Array.from(first.upperBounds, (b) => b * scale) : [];
  const cumulative = new Float64Array(bounds.length + 1);
  return new SourcedMetric(name, s.help, "histogram", histogramSamples(name, bounds), (values) => {
    const h = read();
    if (!h) return;
    h.cumulative(cumulative);
    for (let i = 0; i < cumulative.length; i++) values[i].value = cumulative[i];
    values[cumulative.length].value = h.sum * scale;
    values[cumulative.length + 1].value = cumulative[cumulative.length - 1];
  });
}

function scalarMetric(name: string, read: () => number | undefined): SourcedMetric {
  const s = spec(name);
  return new SourcedMetric(name, s.help, s.type, [{ value: 0, labels: {} }], (v) => {
    const value = read();
    // A value this platform cannot read is left out rather than reported as 0 or NaN.
    if (value === undefined || !Number.isFinite(value)) return false;
    v[0].value = value;
    return true;
  });
}

function normaliseMethod(method: string): string {
  const upper = method.toUpperCase();
  return (HTTP_METHODS as readonly string[]).includes(upper) ? upper : "OTHER";
}

function normaliseStatus(status: number): string {
  return Number.isInteger(status) && status >= 100 && status <= 599 ? String(status) : "0";
}

/**
 * Builds the registry for one server. Cheap to render with any number of sessions: the series
 * are fixed by the label sets (see `bench/metrics-scrape.bench.ts`).
 *
 * @example const metrics = createMetrics({ streams: () => 0, sessions: () => 0 });
 */
export function createMetrics(source: MetricsSource, opts: MetricsOptions = {}): Metrics {
  const c = opts.counters ?? defaultCounters;
  const h = opts.histograms ?? defaultHistograms;
  const readProcess = opts.readProcess ?? readProcessSnapshot;
  const ownsLag = opts.eventLoopLag === undefined;
  const lag = opts.eventLoopLag === undefined ? new EventLoopLagMonitor() : opts.eventLoopLag;
  if (ownsLag && lag) lag.start();

  const registry = new client.Registry();
  // prom-client types `registerMetric` with its Metric class, not the shape its Registry reads
  // (see SourcedMetric): the one place a duck-typed object needs a cast.
  const add = (m: SourcedMetric) => registry.registerMetric(m as unknown as client.Metric);

  add(
    new SourcedMetric(
      "quetzal_streams",
      spec("quetzal_streams").help,
      "gauge",
      labelGrid([], []),
      (v) => {
        v[0].value = source.streams();
      },
    ),
  );
  add(
    new SourcedMetric(
      "quetzal_sessions",
      spec("quetzal_sessions").help,
      "gauge",
      labelGrid(["role"], [ROLES]),
      (v) => {
        v[0].value = source.sessions("publisher");
        v[1].value = source.sessions("viewer");
      },
    ),
  );
  add(
    new SourcedMetric(
      "quetzal_rooms",
      spec("quetzal_rooms").help,
      "gauge",
      labelGrid([], []),
      (v) => {
        v[0].value = source.rooms?.() ?? 0;
      },
    ),
  );
  add(
    new SourcedMetric(
      "quetzal_participants",
      spec("quetzal_participants").help,
      "gauge",
      labelGrid(["role"], [ROOM_ROLES]),
      (v) => {
        for (let i = 0; i < ROOM_ROLES.length; i++) {
          v[i].value = source.participants?.(ROOM_ROLES[i]) ?? 0;
        }
      },
    ),
  );
  add(counterFrom("quetzal_sessions_created_total", ["role"], [ROLES], (v) => {
    v[0].value = c.sessionsCreated[0];
    v[1].value = c.sessionsCreated[1];
  }));
  add(counterFrom("quetzal_sessions_ended_total", ["role", "reason"], [ROLES, END_REASONS], (v) => {
    const n = END_REASONS.length;
    for (let r = 0; r < n; r++) {
      v[r].value = c.sessionsEnded[0][r];
      v[n + r].value = c.sessionsEnded[1][r];
    }
  }));
  add(counterFrom("quetzal_session_failures_total", ["stage"], [FAILURE_STAGES], (v) => {
    for (let i = 0; i < v.length; i++) v[i].value = c.sessionFailures[i];
  }));
  add(fastHistogramMetric("quetzal_session_setup_seconds", () => h.sessionSetupSeconds));

  // direction slowest, then kind: [in audio, in video, out audio, out video].
  add(counterFrom("quetzal_rtp_packets_total", ["direction", "kind"], [DIRECTIONS, KINDS], (v) => {
    v[0].value = c.rtpPacketsIn[0];
    v[1].value = c.rtpPacketsIn[1];
    v[2].value = c.rtpPacketsOut[0];
    v[3].value = c.rtpPacketsOut[1];
  }));
  add(counterFrom("quetzal_rtp_bytes_total", ["direction", "kind"], [DIRECTIONS, KINDS], (v) => {
    v[0].value = c.rtpBytesIn[0];
    v[1].value = c.rtpBytesIn[1];
    v[2].value = c.rtpBytesOut[0];
    v[3].value = c.rtpBytesOut[1];
  }));
  add(counterFrom("quetzal_packets_dropped_total", ["reason"], [DROP_REASON_LABELS], (v) => {
    for (let i = 0; i < v.length; i++) v[i].value = c.packetsDropped[i];
  }));

  add(counterFrom("quetzal_nack_total", ["direction"], [DIRECTIONS], (v) => {
    v[0].value = c.nacks[0];
    v[1].value = c.nacks[1];
  }));
  add(
    new SourcedMetric(
      "quetzal_send_links",
      spec("quetzal_send_links").help,
      "gauge",
      labelGrid(["path"], [SEND_LINK_PATHS]),
      (v) => {
        v[0].value = c.sendLinks[0];
        v[1].value = c.sendLinks[1];
        v[2].value = c.sendLinks[2];
      },
    ),
  );
  add(counterFrom("quetzal_retransmissions_total", [], [], (v) => {
    v[0].value = c.retransmissions;
  }));
  // type slowest: [pli in, pli out, fir in, fir out], the order of the Counters fields.
  add(
    counterFrom("quetzal_keyframe_requests_total", ["type", "direction"], [
      KEYFRAME_REQUEST_TYPES,
      DIRECTIONS,
    ], (v) => {
      v[0].value = c.pliIn;
      v[1].value = c.pliOut;
      v[2].value = c.firIn;
      v[3].value = c.firOut;
    }),
  );
  add(fastHistogramMetric("quetzal_keyframe_wait_seconds", () => h.keyframeWaitSeconds));
  add(fastHistogramMetric("quetzal_rtt_seconds", () => h.rttSeconds));
  add(fastHistogramMetric("quetzal_jitter_seconds", () => h.jitterSeconds));
  add(fastHistogramMetric("quetzal_packet_loss_ratio", () => h.packetLossRatio));
  add(fastHistogramMetric("quetzal_forward_latency_seconds", () => h.forwardLatencySeconds));
  add(counterFrom("quetzal_layer_switches_total", ["reason"], [SWITCH_REASONS], (v) => {
    for (let i = 0; i < v.length; i++) v[i].value = c.layerSwitches[i];
  }));
  add(
    fastHistogramMetric(
      "quetzal_bandwidth_estimate_bytes_per_second",
      () => h.bandwidthEstimateBits,
      1 / 8,
    ),
  );

  const httpRequests = new client.Counter({
    name: "quetzal_http_requests_total",
    help: spec("quetzal_http_requests_total").help,
    labelNames: ["route", "method", "status"],
    registers: [registry],
  });
  const httpDuration = new client.Histogram({
    name: "quetzal_http_request_duration_seconds",
    help: spec("quetzal_http_request_duration_seconds").help,
    labelNames: ["route", "method"],
    buckets: [...Buckets.httpRequestDurationSeconds],
    registers: [registry],
  });

  add(counterFrom("quetzal_http_rate_limited_total", ["bucket"], [RATE_LIMIT_BUCKETS], (v) => {
    for (let i = 0; i < v.length; i++) {
      v[i].value = source.rateLimited?.(RATE_LIMIT_BUCKETS[i]) ?? 0;
    }
  }));

  add(
    new SourcedMetric(
      "quetzal_room_publications",
      spec("quetzal_room_publications").help,
      "gauge",
      labelGrid(["source"], [ROOM_SOURCES]),
      (v) => {
        const tracks = source.roomTracks?.();
        for (let i = 0; i < ROOM_SOURCES.length; i++) {
          v[i].value = tracks?.publications[ROOM_SOURCES[i]] ?? 0;
        }
      },
    ),
  );
  add(
    new SourcedMetric(
      "quetzal_room_subscriptions",
      spec("quetzal_room_subscriptions").help,
      "gauge",
      labelGrid(["source"], [ROOM_SOURCES]),
      (v) => {
        const tracks = source.roomTracks?.();
        for (let i = 0; i < ROOM_SOURCES.length; i++) {
          v[i].value = tracks?.subscriptions[ROOM_SOURCES[i]] ?? 0;
        }
      },
    ),
  );
  add(counterFrom("quetzal_renegotiations_total", ["pc"], [ROOM_PCS], (v) => {
    v[0].value = roomCounters.renegotiations[0];
    v[1].value = roomCounters.renegotiations[1];
  }));
  add(counterFrom("quetzal_active_speaker_changes_total", [], [], (v) => {
    v[0].value = roomCounters.speakerChanges;
  }));
  add(
    counterFrom("quetzal_dynacast_constraints_total", ["direction"], [DYNACAST_DIRECTIONS], (v) => {
      v[0].value = roomCounters.dynacast[0];
      v[1].value = roomCounters.dynacast[1];
    }),
  );
  add(counterFrom("quetzal_signal_messages_total", ["type"], [SIGNAL_MESSAGE_TYPES], (v) => {
    for (let i = 0; i < v.length; i++) v[i].value = roomCounters.signalMessages[i];
  }));
  add(counterFrom("quetzal_signal_errors_total", ["reason"], [SIGNAL_ERROR_CODES], (v) => {
    for (let i = 0; i < v.length; i++) v[i].value = roomCounters.signalErrors[i];
  }));

  add(fastHistogramMetric("quetzal_event_loop_lag_seconds", () => lag ? lag.histogram : undefined));

  let snapshot: ProcessSnapshot | undefined;
  const proc = (read: (s: ProcessSnapshot) => number | undefined) => () =>
    snapshot ? read(snapshot) : undefined;
  add(scalarMetric("quetzal_heap_used_bytes", proc((s) => s.heapUsedBytes)));
  add(scalarMetric("quetzal_heap_total_bytes", proc((s) => s.heapTotalBytes)));
  add(scalarMetric("quetzal_external_memory_bytes", proc((s) => s.externalMemoryBytes)));
  add(scalarMetric("process_cpu_user_seconds_total", proc((s) => s.cpuUserSeconds)));
  add(scalarMetric("process_cpu_system_seconds_total", proc((s) => s.cpuSystemSeconds)));
  add(
    scalarMetric("process_cpu_seconds_total", proc((s) => s.cpuUserSeconds + s.cpuSystemSeconds)),
  );
  add(scalarMetric("process_resident_memory_bytes", proc((s) => s.residentMemoryBytes)));
  add(scalarMetric("process_virtual_memory_bytes", proc((s) => s.virtualMemoryBytes)));
  add(scalarMetric("process_open_fds", proc((s) => s.openFds)));
  add(scalarMetric("process_max_fds", proc((s) => s.maxFds)));
  add(scalarMetric("process_start_time_seconds", proc((s) => s.startTimeSeconds)));

  let closed = false;
  return {
    contentType: registry.contentType,
    registry,
    render() {
      snapshot = readProcess();
      return registry.metrics();
    },
    observeHttp(route, method, status, seconds) {
      const m = normaliseMethod(method);
      httpRequests.inc({ route, method: m, status: normaliseStatus(status) });
      httpDuration.observe({ route, method: m }, seconds);
    },
    close() {
      if (closed) return;
      closed = true;
      if (ownsLag && lag) lag.stop();
    },
  };
}

function counterFrom(
  name: string,
  labelNames: readonly string[],
  labelSets: readonly (readonly string[])[],
  refresh: (values: Sample[]) => void,
): SourcedMetric {
  return new SourcedMetric(
    name,
    spec(name).help,
    "counter",
    labelGrid(labelNames, labelSets),
    refresh,
  );
}
