import { assert, assertEquals } from "@std/assert";
import { METRICS } from "../../src/observability/metrics.ts";

interface Target {
  expr: string;
  datasource?: { uid?: string };
}
interface Panel {
  type: string;
  title: string;
  targets?: Target[];
  datasource?: { uid?: string };
}

const dashboard = JSON.parse(
  await Deno.readTextFile(new URL("../../docs/grafana/quetzal.json", import.meta.url)),
) as { panels: Panel[]; __inputs: { name: string }[]; uid: string };

const HISTOGRAM_SUFFIXES = ["_bucket", "_sum", "_count"];

/** Metric names in a PromQL expression: our prefixes only (functions and labels never match). */
function metricNames(expr: string): string[] {
  const withoutStrings = expr.replace(/"[^"]*"/g, '""');
  return [...withoutStrings.matchAll(/\b(?:quetzal|process)_[a-zA-Z0-9_]+/g)].map((m) => m[0]);
}

function catalogueName(used: string): string | undefined {
  const byName = new Map(METRICS.map((m) => [m.name, m]));
  if (byName.has(used)) return used;
  for (const suffix of HISTOGRAM_SUFFIXES) {
    const base = used.slice(0, -suffix.length);
    if (used.endsWith(suffix) && byName.get(base)?.type === "histogram") return base;
  }
  return undefined;
}

Deno.test("the dashboard asks for the Prometheus data source as an import input", () => {
  assertEquals(dashboard.__inputs.map((i) => i.name), ["DS_PROMETHEUS"]);
  for (const panel of dashboard.panels.filter((p) => p.type !== "row")) {
    assertEquals(panel.datasource?.uid, "${DS_PROMETHEUS}", panel.title);
    for (const t of panel.targets ?? []) assertEquals(t.datasource?.uid, "${DS_PROMETHEUS}");
  }
});

Deno.test("the dashboard has the operator rows", () => {
  const rows = dashboard.panels.filter((p) => p.type === "row").map((p) => p.title);
  assertEquals(rows, [
    "Load",
    "Throughput",
    "Quality",
    "Latency",
    "Simulcast",
    "Errors",
    "Rooms",
    "Runtime",
  ]);
});

Deno.test("every metric a panel queries is in the catalogue, and every metric is charted", () => {
  const charted = new Set<string>();
  for (const panel of dashboard.panels) {
    for (const target of panel.targets ?? []) {
      const names = metricNames(target.expr);
      assert(names.length > 0, `${panel.title}: no metric in ${target.expr}`);
      for (const used of names) {
        const name = catalogueName(used);
        assert(name, `${panel.title}: ${used} is not in the catalogue`);
        const spec = METRICS.find((m) => m.name === name)!;
        // rate() on gauges or bare histogram names would return nothing.
        if (spec.type === "histogram") {
          assert(used !== name, `${panel.title}: ${used} needs _bucket`);
        }
        charted.add(name);
      }
    }
  }
  assertEquals(METRICS.map((m) => m.name).filter((n) => !charted.has(n)), []);
});
