/**
 * `deno task bench`: Quetzal's forwarding throughput, latency and memory, side by side with
 * werift baselines measured in the same run (issue 5).
 *
 *   deno task bench                 quick mode (under 3 minutes on 2 cores)
 *   deno task bench --full          longer windows, more load steps
 *   deno task bench --only=micro,fanout,metrics,e2e,scenarios,overload,workers,pion
 *   deno task bench --only=pion --pion-window=5 --pion-viewers=40,100 --pion-scaling=0
 *                   [--pion-pin=false]   (let the scheduler place server and load)
 *                   [--pion-rounds=3]    (alternating Pion/Quetzal pairs; the median ratio)
 *                   [--pion-full-viewers=20|all] (full Pion viewers, the latency sample; the
 *                                        others are light viewers; all: every viewer full)
 *                                   issue 14: Quetzal vs a Pion SFU under a Go/Pion load
 *                                   (built from bench/peers when Go is present; 15 s windows)
 *   deno task bench --only=rooms [--rooms-window=S --rooms-meeting=5,10,25 --rooms-listeners=1000
 *                   --rooms-broadcast=100 --rooms-warmup=S --rooms-pin=false
 *                   --rooms-full-listeners=40|all --rooms-rtc-port=false]
 *                                   issues 13/14: real rooms (meetings with simulcast, a voice
 *                                   chat) over the room signalling, Go/Pion participants
 *   deno task bench --out=DIR       where the JSON goes (default bench/results)
 *   deno task bench --smoke         a few seconds, for the test suite
 *   deno task bench --verbose       child processes' stderr on the console
 *
 * Writes DIR/<timestamp>.json and DIR/latest.json and prints a Markdown table. Every child
 * process is started with `Deno.execPath()` and killed when the bench ends or is interrupted.
 */
import { BenchChild, installSignalHandlers, killAllChildren } from "./lib/children.ts";
import { argValue } from "./lib/child-protocol.ts";
import { machineHeader } from "./lib/machine.ts";
import { markdownTable, type Report, roundRow, type Row, scenarioTable } from "./lib/report.ts";
import {
  E2E_FULL,
  E2E_QUICK,
  E2E_SMOKE,
  type E2eOptions,
  runAt80,
  runOverload,
  runRamp,
} from "./cases/e2e.ts";
import {
  oneToManyRow,
  runMeetingScenario,
  runVoiceChat,
  SCENARIO_FULL,
  SCENARIO_QUICK,
  SCENARIO_SMOKE,
} from "./cases/scenarios.ts";
import { runMetricsScrape } from "./cases/metrics-scrape.ts";
import { runWorkerScaling, WORKERS_QUICK } from "./cases/workers.ts";
import { PION_FULL, PION_SMOKE, runPionComparison } from "./cases/pion.ts";
import { ROOMS_FULL, ROOMS_SMOKE, runRooms } from "./cases/rooms.ts";
import { summarise } from "./lib/summary.ts";

installSignalHandlers();
const args = Deno.args;
const mode = args.includes("--full") ? "full" : args.includes("--smoke") ? "smoke" : "quick";
/** Worker scaling (issue 6) runs in full mode, or on request: it needs --workers support. */
const DEFAULT_CASES: Record<string, string> = {
  quick: "micro,fanout,metrics,e2e,overload,scenarios",
  full: "micro,fanout,metrics,e2e,overload,scenarios,workers,pion,rooms",
  smoke: "micro,fanout,metrics,e2e,overload,scenarios",
};
const only = new Set(
  (argValue(args, "only") ?? DEFAULT_CASES[mode]).split(",").map((s) => s.trim()),
);
const outDir = argValue(args, "out") ?? new URL("./results/", import.meta.url).pathname;
const verbose = args.includes("--verbose");
const e2eOptions: E2eOptions = {
  ...(mode === "full" ? E2E_FULL : mode === "smoke" ? E2E_SMOKE : E2E_QUICK),
  verbose,
};
const scenarioOptions = {
  ...(mode === "full" ? SCENARIO_FULL : mode === "smoke" ? SCENARIO_SMOKE : SCENARIO_QUICK),
  verbose,
};

const log = (s: string) =>
  console.error(`[${((performance.now() - started) / 1000).toFixed(1)} s] ${s}`);
const started = performance.now();
const header = machineHeader(mode);
if (header.machine.cores <= 2) {
  header.notes.push(
    `Only ${header.machine.cores} cores: the publisher and viewer processes compete with the server ` +
      "for CPU, so end-to-end delivery and latency limits are partly the load generator's. " +
      "Server CPU time per forwarded packet (us_per_packet) stays meaningful.",
  );
}
header.notes.push(
  "Latency is one-way from the publisher's send time (in the payload) to the viewer's " +
    "decryption, so it includes werift's send path and the viewer; it bounds the SFU's added latency.",
  "Viewers are werift peers (ICE, DTLS, key export) that decrypt with Quetzal's SRTP backend and " +
    "count, instead of werift's receive stack, so they cost less CPU than the server.",
);
log(
  `bench ${mode}: ${header.machine.cpu_model}, ${header.machine.cores} cores, Deno ${header.deno}`,
);

const rows: Row[] = [];
const extra: Record<string, unknown> = {};

async function micro(): Promise<void> {
  log("case 1: data-plane micro (child process with --expose-gc)");
  const child = new BenchChild(
    "micro",
    new URL("./cases/micro.ts", import.meta.url).pathname,
    [`--mode=${mode}`],
    { v8Flags: ["--expose-gc"], denoFlags: ["--unstable-net"], verbose: true },
  );
  const result = await child.waitFor((m) => Array.isArray(m.rows), 600_000);
  await child.stop();
  rows.push(...(result.rows as Row[]));
}

async function fanout(): Promise<void> {
  log("case 1b: data-plane scaling over 1 and 2 forwarding workers (child process)");
  const child = new BenchChild(
    "fanout",
    new URL("./cases/fanout-workers.ts", import.meta.url).pathname,
    [`--mode=${mode}`],
    { denoFlags: ["--unstable-net"], verbose: true },
  );
  const result = await child.waitFor((m) => Array.isArray(m.rows), 300_000);
  await child.stop();
  rows.push(...(result.rows as Row[]));
}

async function e2e(): Promise<void> {
  log("case 2: end to end over loopback, Quetzal");
  const quetzal = await runRamp("quetzal", e2eOptions, log);
  rows.push(...quetzal.rows);
  extra.quetzal_clean_viewers = quetzal.cleanViewers;
  extra.quetzal_delivery_clean_viewers = quetzal.deliveryCleanViewers;
  // The load reference for the 80 % and 2× runs: the largest load with ≥ 99.5 % delivery (see
  // runRamp on why p99 alone is too noisy a limit on a shared machine).
  const reference = Math.max(quetzal.cleanViewers, quetzal.deliveryCleanViewers);
  try {
    if (mode !== "smoke") {
      const at80 = await runAt80(quetzal.rig, reference, e2eOptions, log);
      if (at80) rows.push(at80);
    }
    if (only.has("overload")) {
      log("case 5: overload, Quetzal");
      rows.push(await runOverload(quetzal.rig, reference, e2eOptions, log));
    }
  } finally {
    await quetzal.rig.stop();
  }
  if (Deno.build.os === "linux") {
    // The send path's before/after in the same run: node:dgram instead of sendto over FFI.
    log("case 2: end to end over loopback, Quetzal with --send-path=dgram");
    const dgramRamp = await runRamp("quetzal", e2eOptions, log, "dgram");
    await dgramRamp.rig.stop();
    rows.push(...dgramRamp.rows);
  }
  log("case 2: end to end over loopback, werift-only SFU (baseline)");
  const werift = await runRamp("werift-sfu", e2eOptions, log);
  rows.push(...werift.rows);
  try {
    // The baseline's overload takes long (it collapses) and so runs in full mode only.
    if (only.has("overload") && mode === "full") {
      log("case 5: overload, werift-only SFU (same 2× of its own clean load)");
      const weriftReference = Math.max(werift.cleanViewers, werift.deliveryCleanViewers);
      rows.push(await runOverload(werift.rig, weriftReference, e2eOptions, log));
    }
  } finally {
    await werift.rig.stop();
  }
  extra.werift_clean_viewers = werift.cleanViewers;
  extra.werift_delivery_clean_viewers = werift.deliveryCleanViewers;
  for (const ramp of [quetzal, werift]) {
    const row = oneToManyRow(ramp.rows);
    if (row) rows.push(row);
  }
}

async function scenarios(): Promise<void> {
  log("case 3: voice chat");
  rows.push(await runVoiceChat("quetzal", scenarioOptions, log));
  rows.push(await runVoiceChat("werift-sfu", scenarioOptions, log));
  rows.push(...await runMeetingScenario(scenarioOptions, log));
}

let failed = false;
/** Runs one case; a failure is reported and the other cases still run. */
async function run(name: string, fn: () => Promise<void>): Promise<void> {
  if (!only.has(name)) return;
  try {
    await fn();
  } catch (error) {
    failed = true;
    console.error(`bench case ${name} failed: ${error instanceof Error ? error.stack : error}`);
    header.notes.push(
      `case ${name} incomplete: ${error instanceof Error ? error.message.split("\n")[0] : error}`,
    );
    killAllChildren();
  }
}
try {
  await run("micro", micro);
  await run("fanout", fanout);
  await run("metrics", async () => {
    log("metrics scrape");
    rows.push(await runMetricsScrape(mode === "smoke" ? 20 : 200));
  });
  await run("e2e", e2e);
  await run("scenarios", scenarios);
  await run("workers", async () => {
    log("workers: 1 vs 2 viewer workers, same load");
    rows.push(...await runWorkerScaling({ ...WORKERS_QUICK, verbose }, log));
  });
  await run("pion", async () => {
    log("issue 14: Quetzal vs a Pion SFU under a Go/Pion load");
    const base = mode === "smoke" ? PION_SMOKE : PION_FULL;
    const window = argValue(args, "pion-window");
    const viewers = argValue(args, "pion-viewers");
    const scaling = argValue(args, "pion-scaling");
    const rounds = argValue(args, "pion-rounds");
    const fullViewers = argValue(args, "pion-full-viewers");
    const result = await runPionComparison({
      ...base,
      ...(window ? { windowS: Number(window) } : {}),
      ...(viewers ? { viewers: viewers.split(",").map(Number) } : {}),
      ...(scaling ? { scalingViewers: Number(scaling) } : {}),
      ...(rounds ? { rounds: Number(rounds) } : {}),
      ...(fullViewers ? { fullViewers: fullViewers === "all" ? -1 : Number(fullViewers) } : {}),
      pin: argValue(args, "pion-pin") !== "false",
      verbose,
    }, log);
    rows.push(...result.rows);
    header.notes.push(...result.notes);
  });
  await run("rooms", async () => {
    log("issues 13/14: room rows (meetings, voice chat) under a Go/Pion load");
    const list = (name: string) => argValue(args, name)?.split(",").filter((s) => s).map(Number);
    const window = argValue(args, "rooms-window");
    const warmup = argValue(args, "rooms-warmup");
    const broadcast = argValue(args, "rooms-broadcast");
    const fullListeners = argValue(args, "rooms-full-listeners");
    const result = await runRooms({
      ...(mode === "smoke" ? ROOMS_SMOKE : ROOMS_FULL),
      ...(window ? { windowS: Number(window) } : {}),
      ...(warmup ? { warmupS: Number(warmup) } : {}),
      ...(broadcast ? { broadcastViewers: Number(broadcast) } : {}),
      ...(fullListeners
        ? { fullListeners: fullListeners === "all" ? -1 : Number(fullListeners) }
        : {}),
      ...(list("rooms-meeting") ? { meeting: list("rooms-meeting")! } : {}),
      ...(list("rooms-listeners") ? { listeners: list("rooms-listeners")! } : {}),
      pin: argValue(args, "rooms-pin") !== "false",
      sharedPort: argValue(args, "rooms-rtc-port") !== "false",
      verbose,
    }, log);
    rows.push(...result.rows);
    header.notes.push(...result.notes);
  });
} finally {
  killAllChildren();
}

header.duration_s = Math.round((performance.now() - started) / 100) / 10;
const rounded = rows.map(roundRow);
const report: Report = { header, rows: rounded, summary: { ...summarise(rows), ...extra } };
const stamp = header.date.replace(/[:.]/g, "-");
await Deno.mkdir(outDir, { recursive: true });
const json = JSON.stringify(report, null, 2) + "\n";
await Deno.writeTextFile(`${outDir.replace(/\/$/, "")}/${stamp}.json`, json);
await Deno.writeTextFile(`${outDir.replace(/\/$/, "")}/latest.json`, json);

console.log(`\n## Quetzal bench (${mode}), ${header.date}\n`);
console.log(
  `${header.machine.cpu_model}, ${header.machine.cores} cores; Deno ${header.deno}, V8 ${header.v8}, ` +
    `werift ${header.werift}, libsrtp ${header.libsrtp}\n`,
);
console.log(markdownTable(rounded));
if (rounded.some((r) => r.case.startsWith("scenario-"))) {
  console.log("\n### Scenarios (LiveKit's row format)\n");
  console.log(scenarioTable(rounded));
}
console.log("\n### Summary\n");
for (const [key, value] of Object.entries(report.summary)) {
  console.log(`- ${key}: ${JSON.stringify(value)}`);
}
for (const note of header.notes) console.log(`\n> ${note}`);
console.log(
  `\nJSON: ${outDir.replace(/\/$/, "")}/${stamp}.json (and latest.json); ${header.duration_s} s`,
);
Deno.exit(failed ? 1 : 0);
