import { assert, assertEquals, assertRejects } from "@std/assert";
import { LocalSubscriberHost } from "../../src/session/local-subscriber-host.ts";
import { CapacityError, SessionManager } from "../../src/session/session-manager.ts";
import { createLogger } from "../../src/observability/log.ts";
import { tsSrtpBackend } from "../../src/transport/srtp-ts.ts";

function manager(rssMb: number, maxRssMb: number): SessionManager {
  return new SessionManager({
    network: { announcedIps: ["127.0.0.1"], bindIp: "127.0.0.1" },
    srtp: tsSrtpBackend,
    maxSessions: 10,
    maxViewersPerStream: 10,
    connectTimeoutMs: 5000,
    logger: createLogger("silent"),
    maxRssMb,
    rssBytes: () => rssMb * (1 << 20),
  });
}

Deno.test("admission: over the RSS budget a new session is refused with CapacityError (503)", async () => {
  const rows = [
    { rssMb: 900, maxRssMb: 512, refused: true },
    { rssMb: 100, maxRssMb: 512, refused: false },
    { rssMb: 900, maxRssMb: 0, refused: false }, // 0 = no budget
  ];
  for (const row of rows) {
    const m = manager(row.rssMb, row.maxRssMb);
    try {
      // A bad offer fails after admission with another error: which error says whether the
      // budget refused the session.
      const error = await assertRejects(() => m.publish("s", "not sdp"));
      assertEquals(error instanceof CapacityError, row.refused, JSON.stringify(row));
    } finally {
      await m.close();
    }
  }
});

Deno.test("admission: the forwarded rate starts at zero and a server under no load admits", async () => {
  const m = manager(0, 0);
  try {
    assertEquals(m.forwardedPps, 0);
    assert(m.subscribers instanceof LocalSubscriberHost, "viewers run on this thread");
  } finally {
    await m.close();
  }
});
