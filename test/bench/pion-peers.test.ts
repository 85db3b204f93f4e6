/**
 * Keeps the Go/Pion bench tools (bench/peers) compiling and working: builds them from Debian's
 * Go packages and runs issue 14's comparison for a second with 2 viewers, against the Pion SFU
 * and Quetzal. Skipped, with the reason, where Go or Pion's sources are missing. No timing is
 * asserted: only that media went through both servers.
 */
import { assert, assertEquals } from "@std/assert";
import { buildPeers } from "../../bench/lib/pion-peers.ts";
import { PION_SMOKE, runPionComparison } from "../../bench/cases/pion.ts";

const peers = await buildPeers();
if (!peers.ok) console.log(`skipping Pion bench tools test: ${peers.reason}`);

Deno.test({
  name: "bench/peers: the Pion load generator drives the Pion SFU and Quetzal (2 viewers, 1 s)",
  ignore: !peers.ok,
  fn: async () => {
    const { rows, notes } = await runPionComparison({ ...PION_SMOKE, verbose: false }, () => {});
    assertEquals(notes.filter((n) => n.includes("failed")), []);
    assertEquals(rows.map((r) => r.impl), ["pion-sfu", "quetzal"]);
    for (const row of rows) {
      assertEquals(row.viewers_connected, 2, `${row.impl}: both viewers connected`);
      assert((row.delivered_ratio ?? 0) > 0, `${row.impl}: media reached the viewers`);
      assert((row.us_per_packet ?? 0) > 0, `${row.impl}: server CPU per packet measured`);
    }
  },
});
