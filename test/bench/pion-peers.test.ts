/**
 * Keeps the Go/Pion bench tools (bench/peers) compiling and working: builds them from Debian's
 * Go packages and runs issue 14's comparison for a second with 2 viewers, against the Pion SFU
 * and Quetzal, one viewer full (decrypting, latency) and one light (light_whep.go: media counted
 * from the clear RTP headers). Skipped, with the reason, where Go or Pion's sources are missing.
 * No timing is asserted: only that media went through both servers to both kinds of viewer.
 */
import { assert, assertEquals } from "@std/assert";
import { buildPeers } from "../../bench/lib/pion-peers.ts";
import { PION_SMOKE, runPionComparison } from "../../bench/cases/pion.ts";

const peers = await buildPeers();
if (!peers.ok) console.log(`skipping Pion bench tools test: ${peers.reason}`);

Deno.test({
  name:
    "bench/peers: the Pion load generator drives the Pion SFU and Quetzal (1 full + 1 light viewer, 1 s)",
  ignore: !peers.ok,
  fn: async () => {
    const { rows, notes } = await runPionComparison(
      { ...PION_SMOKE, fullViewers: 1, verbose: false },
      () => {},
    );
    assertEquals(notes.filter((n) => n.includes("failed")), []);
    assertEquals(rows.map((r) => r.impl), ["pion-sfu", "quetzal"]);
    for (const row of rows) {
      assertEquals(row.viewers_connected, 2, `${row.impl}: both viewers connected`);
      assert((row.delivered_ratio ?? 0) > 0, `${row.impl}: media reached the viewers`);
      assert((row.us_per_packet ?? 0) > 0, `${row.impl}: server CPU per packet measured`);
      assertEquals([row.full_viewers, row.light_viewers], [1, 1], `${row.impl}: the split`);
      assert(Number(row.delivered_full) > 0, `${row.impl}: media reached the full viewer`);
      assertEquals(row.light_viewers_silent, 0, `${row.impl}: the light viewer got media`);
      assertEquals(row.light_unmatched_packets, 0, `${row.impl}: media matched to its viewer`);
      // A short clean run on loopback: the light viewer's count is close to what was sent.
      assert(
        Number(row.delivered_light) > 0.9,
        `${row.impl}: light viewer delivered ${row.delivered_light}`,
      );
      assert(Number(row.load_us_per_packet) > 0, `${row.impl}: generator cost measured`);
    }
  },
});

Deno.test({
  name: "bench/peers: go test (the light WHEP viewers' bookkeeping)",
  ignore: !peers.ok,
  fn: async () => {
    const out = await new Deno.Command("sh", {
      args: [new URL("../../bench/peers/build.sh", import.meta.url).pathname, "--test"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert(out.success, `go test failed:\n${text}`);
  },
});
