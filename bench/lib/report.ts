/**
 * The bench's output: one row per (case, implementation, load) in the JSON schema of issue 5,
 * a header describing the machine and versions, and the Markdown table printed at the end.
 */

/** One measured configuration. Unmeasured figures are null. */
export interface Row {
  case: string;
  impl: string;
  subscribers: number | null;
  offered_pps: number | null;
  forwarded_pps: number | null;
  /** Server CPU time per forwarded packet (the process's own accounting). */
  us_per_packet: number | null;
  delivered_ratio: number | null;
  latency_p50_ms: number | null;
  latency_p99_ms: number | null;
  event_loop_lag_p99_ms: number | null;
  rss_peak_mb: number | null;
  cpu_percent: number | null;
  /** Case-specific extras (breakdown, allocation, scenario figures, notes). */
  [extra: string]: unknown;
}

/** A row with every required figure null, to be filled in. */
export function emptyRow(caseName: string, impl: string): Row {
  return {
    case: caseName,
    impl,
    subscribers: null,
    offered_pps: null,
    forwarded_pps: null,
    us_per_packet: null,
    delivered_ratio: null,
    latency_p50_ms: null,
    latency_p99_ms: null,
    event_loop_lag_p99_ms: null,
    rss_peak_mb: null,
    cpu_percent: null,
  };
}

export interface Header {
  machine: { cpu_model: string; cores: number; mem_total_mb: number; load_average: number[] };
  deno: string;
  v8: string;
  typescript: string;
  werift: string;
  libsrtp: string;
  mode: string;
  date: string;
  duration_s?: number;
  notes: string[];
}

export interface Report {
  header: Header;
  rows: Row[];
  summary: Record<string, unknown>;
}

/** Numbers rounded for reading; null and NaN print as "–". */
export function fmt(value: unknown, digits = 1): string {
  if (value === null || value === undefined) return "–";
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return "–";
    if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString("en-US");
    return value.toFixed(digits);
  }
  return String(value);
}

/** Rounds every numeric field of a row (keeps the JSON readable). */
export function roundRow(row: Row): Row {
  const out: Row = { ...row };
  for (const [key, value] of Object.entries(out)) {
    if (typeof value === "number") {
      out[key] = !Number.isFinite(value)
        ? null
        : Math.abs(value) >= 100
        ? Math.round(value * 10) / 10
        : Math.round(value * 1000) / 1000;
    }
  }
  return out;
}

const COLUMNS: Array<[string, keyof Row | string, number]> = [
  ["case", "case", 0],
  ["impl", "impl", 0],
  ["subs", "subscribers", 0],
  ["offered pkt/s", "offered_pps", 0],
  ["fwd pkt/s", "forwarded_pps", 0],
  ["µs/pkt", "us_per_packet", 2],
  ["delivered", "delivered_ratio", 4],
  ["p50 ms", "latency_p50_ms", 2],
  ["p99 ms", "latency_p99_ms", 2],
  ["lag p99 ms", "event_loop_lag_p99_ms", 1],
  ["RSS MB", "rss_peak_mb", 0],
  ["CPU %", "cpu_percent", 0],
  ["note", "note", 0],
];

/** The rows as one Markdown table (the columns of the JSON schema plus a note). */
export function markdownTable(rows: Row[]): string {
  const lines = [
    `| ${COLUMNS.map((c) => c[0]).join(" | ")} |`,
    `|${COLUMNS.map(([, , d]) => (d > 0 ? "---:" : "---")).join("|")}|`,
  ];
  for (const row of rows) {
    lines.push(
      `| ${COLUMNS.map(([, key, digits]) => fmt(row[key as string], digits)).join(" | ")} |`,
    );
  }
  return lines.join("\n");
}

const SCENARIO_COLUMNS: Array<[string, string, number]> = [
  ["scenario", "case", 0],
  ["impl", "impl", 0],
  ["publishers", "publishers", 0],
  ["subscribers", "subscribers", 0],
  ["Mbit/s in", "mbps_in", 1],
  ["Mbit/s out", "mbps_out", 1],
  ["pkt/s in", "packets_in_per_s", 0],
  ["pkt/s out", "packets_out_per_s", 0],
  ["CPU %", "cpu_percent", 0],
  ["delivered", "delivered_ratio", 4],
];

/** Scenario rows in the columns LiveKit publishes (publishers, subscribers, traffic, CPU). */
export function scenarioTable(rows: Row[]): string {
  const picked = rows.filter((r) => r.case.startsWith("scenario-"));
  const lines = [
    `| ${SCENARIO_COLUMNS.map((c) => c[0]).join(" | ")} |`,
    `|${SCENARIO_COLUMNS.map(([, , d]) => (d > 0 ? "---:" : "---")).join("|")}|`,
  ];
  for (const row of picked) {
    const cells = SCENARIO_COLUMNS.map(([, key, digits]) =>
      key === "case" ? row.case.replace(/^scenario-/, "") : fmt(row[key], digits)
    );
    lines.push(`| ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}
