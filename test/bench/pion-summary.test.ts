import { assertEquals, assertStringIncludes } from "@std/assert";
import { emptyRow, type Row } from "../../bench/lib/report.ts";
import { summarise } from "../../bench/lib/summary.ts";

function pair(viewers: number, round: number, pionUs: number, quetzalUs: number): Row[] {
  const pion = emptyRow("pion", "pion-sfu");
  const quetzal = emptyRow("pion", "quetzal");
  for (const [row, us] of [[pion, pionUs], [quetzal, quetzalUs]] as const) {
    row.subscribers = viewers;
    row.us_per_packet = us;
    row.delivered_ratio = 1;
    row.latency_p99_ms = 10;
    row.pinned = true;
    row.round = round;
  }
  quetzal.us_ratio_vs_pion = quetzalUs / pionUs;
  return [pion, quetzal];
}

Deno.test("bench summary: rounds of the Pion comparison give the median ratio", () => {
  // One noisy round (1.5×) among three must not decide the verdict.
  const rows = [
    ...pair(40, 0, 10, 9),
    ...pair(40, 1, 10, 15),
    ...pair(40, 2, 10, 9.5),
    ...pair(100, 0, 10, 9),
  ];
  const summary = summarise(rows);
  const table = summary.pion_cpu_per_packet as Record<string, Record<string, unknown>>;
  assertEquals(table["N=40"].ratio, 0.95);
  assertEquals(table["N=40"].ratios, [0.9, 1.5, 0.95]);
  assertEquals(table["N=100"].ratio, 0.9);
  const targets = summary.targets as Record<string, string>;
  assertStringIncludes(targets.pion_cpu_per_packet_le_1x, "met: 0.95× at N=40, 0.90× at N=100");
  assertStringIncludes(targets.pion_cpu_per_packet_le_1x, "median of 3 alternating rounds");
});
