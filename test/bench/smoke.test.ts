/**
 * A smoke run of `deno task bench` so the bench does not rot: it must run in smoke mode, exit
 * cleanly and write valid JSON with the documented row schema. No timing is asserted.
 */
import { assert, assertEquals, assertGreater } from "@std/assert";

const REQUIRED = [
  "case",
  "impl",
  "subscribers",
  "offered_pps",
  "forwarded_pps",
  "us_per_packet",
  "delivered_ratio",
  "latency_p50_ms",
  "latency_p99_ms",
  "event_loop_lag_p99_ms",
  "rss_peak_mb",
  "cpu_percent",
];

Deno.test("bench smoke run writes a report with the documented rows", async () => {
  const out = await Deno.makeTempDir({ prefix: "quetzal-bench-" });
  try {
    const main = new URL("../../bench/main.ts", import.meta.url).pathname;
    const result = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        main,
        "--smoke",
        "--only=micro,fanout,metrics,e2e",
        `--out=${out}`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(result.stdout);
    const stderr = new TextDecoder().decode(result.stderr);
    assertEquals(result.code, 0, `bench exited ${result.code}\n${stderr.slice(-3000)}`);
    assert(stdout.includes("| case | impl |"), "prints the Markdown table");

    const files = [...Deno.readDirSync(out)].map((e) => e.name).sort();
    assertEquals(files.length, 2, `a timestamped report and latest.json: ${files}`);
    assert(files.includes("latest.json"));
    const report = JSON.parse(await Deno.readTextFile(`${out}/latest.json`));
    const stamped = JSON.parse(
      await Deno.readTextFile(`${out}/${files.find((f) => f !== "latest.json")}`),
    );
    assertEquals(stamped, report);

    assertEquals(report.header.mode, "smoke");
    assertEquals(typeof report.header.machine.cpu_model, "string");
    assertGreater(report.header.machine.cores, 0);
    assertEquals(report.header.deno, Deno.version.deno);
    assertEquals(report.header.werift, "0.25.2");
    for (const row of report.rows) {
      for (const key of REQUIRED) assert(key in row, `row ${row.case}/${row.impl} lacks ${key}`);
    }
    const cases = new Set(report.rows.map((r: { case: string }) => r.case));
    const expected = [
      "micro",
      "micro-alloc",
      "fanout-workers",
      "fanout-paced",
      "metrics-scrape",
      "e2e",
    ];
    for (const name of expected) {
      assert(cases.has(name), `no ${name} rows`);
    }
    // Both sides of every comparison are measured in the same run.
    const impls = new Set(report.rows.map((r: { impl: string }) => r.impl));
    for (const name of ["quetzal-ts", "werift-stock", "quetzal", "werift-sfu", "quetzal-w2"]) {
      assert(impls.has(name), `no ${name} rows`);
    }
    // The forwarding workers and the end-to-end rows carry real traffic.
    for (const row of report.rows.filter((r: { case: string }) => r.case === "fanout-workers")) {
      assertGreater(row.forwarded_pps, 0, `${row.impl} forwarded nothing`);
    }
    for (const row of report.rows.filter((r: { case: string }) => r.case === "e2e")) {
      assertGreater(row.forwarded_pps, 0, `${row.impl} forwarded nothing`);
      assertGreater(row.delivered_ratio, 0);
    }
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
