// A viewer hosted in a worker is seen by operators exactly as one on the main thread: the same
// session log lines (offer, answer, ICE, DTLS, first packet, end), the same session metrics
// and the same row in /api/streams. Issue 12: worker-hosted viewers wrote no log line at all.
import { assert, assertEquals, assertGreater } from "@std/assert";
import { configFrom } from "../../src/config.ts";
import { createLogger } from "../../src/observability/log.ts";
import { type RunningServer, startServer } from "../../src/server.ts";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { parseExposition, sampleValue } from "../support/prom-parse.ts";
import { waitForStreamInfo } from "../support/stream-api.ts";
import { startStunStub } from "../support/stun-stub.ts";
import {
  play,
  publish,
  serverSideConnected,
  sessionIdOf,
  settleWeriftTimers,
  waitFor,
} from "../support/werift-client.ts";

loadLibsrtp();

const STEP_MS = 10_000;

/** The session metrics a viewer moves, by series. */
const SERIES: [string, Record<string, string>][] = [
  ["quetzal_sessions", { role: "viewer" }],
  ["quetzal_sessions_created_total", { role: "viewer" }],
  ["quetzal_sessions_ended_total", { role: "viewer", reason: "deleted" }],
  ["quetzal_session_setup_seconds_count", {}],
];

async function sessionMetrics(server: RunningServer): Promise<number[]> {
  const families = parseExposition(await (await fetch(`${server.url}/metrics`)).text());
  return SERIES.map(([name, labels]) => sampleValue(families, name, labels) ?? NaN);
}

interface Seen {
  /** The viewer's session log lines: message and `event`, in order. */
  lines: string[];
  /** Every viewer line carries these. */
  fields: { role: unknown; stream: unknown; session: unknown }[];
  /** Metric changes while connected (viewer open, created, setup observed) and after DELETE. */
  whileOpen: number[];
  afterEnd: number[];
  /** /api/streams row of the viewer, without its measured estimate. */
  row: Record<string, unknown>;
  /** The viewer's session id. */
  id: string;
}

async function watchOneViewer(workers: number): Promise<Seen> {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger("info", { sink: (line) => lines.push(JSON.parse(line)) });
  const stun = await startStunStub();
  const server = await startServer(
    configFrom({ port: 0, host: "127.0.0.1", publicIps: ["127.0.0.1"], logLevel: "info", workers }),
    { logger },
  );
  const closers: (() => Promise<void>)[] = [];
  try {
    const publisher = await publish(server.url, "parity", server.publishToken, {
      stunUrl: stun.url,
    });
    closers.push(() => publisher.close());
    await publisher.connected;
    await serverSideConnected(server.manager, publisher.location);
    let frame = 0;
    const timer = setInterval(() => {
      publisher.sendVideo(frame++ % 30 === 0);
      publisher.sendAudio();
    }, 20);
    closers.push(() => Promise.resolve(clearInterval(timer)));
    // The publisher's setup time is observed first (the histogram has no role label).
    await waitFor(
      () => lines.some((l) => l.role === "publisher" && l.event === "first_packet"),
      STEP_MS,
      "the publisher's first packet",
    );
    const before = await sessionMetrics(server);

    const viewer = await play(server.url, "parity", { stunUrl: stun.url });
    closers.push(() => viewer.close());
    const id = sessionIdOf(viewer.location);
    const ofViewer = () => lines.filter((l) => l.session === id);
    await viewer.connected;
    await serverSideConnected(server.manager, viewer.location);
    await waitFor(() => viewer.keyframes > 0, STEP_MS, "video at the viewer");
    await waitFor(
      () => ofViewer().some((l) => l.event === "first_packet"),
      STEP_MS,
      "the viewer's first_packet log line",
    );
    // A worker's viewer rows follow its status reports (every 250 ms).
    const info = await waitForStreamInfo(
      server.url,
      "parity",
      (s) => s.viewerLayers[0]?.layer !== null,
      STEP_MS,
      "the viewer's layer in /api/streams",
    );
    const { estimateBps, ...row } = info.viewerLayers[0];
    assertGreater(estimateBps, -1);
    const open = await sessionMetrics(server);

    const response = await fetch(server.url + viewer.location, {
      method: "DELETE",
      headers: { Authorization: `Bearer ${server.publishToken}` },
    });
    await response.body?.cancel();
    assertEquals(response.status, 200);
    await waitFor(() => ofViewer().some((l) => l.event === "end"), STEP_MS, "the end line");
    const after = await sessionMetrics(server);
    const viewerLines = ofViewer();
    return {
      lines: viewerLines.map((l) => `${l.msg} ${l.event}`),
      fields: viewerLines.map((l) => ({ role: l.role, stream: l.stream, session: l.session })),
      whileOpen: open.map((v, i) => v - before[i]),
      afterEnd: after.map((v, i) => v - before[i]),
      row: { ...row, videoSsrc: info.tracks.find((t) => t.kind === "video")?.layers[0]?.ssrc },
      id,
    };
  } finally {
    for (const close of closers.reverse()) await close();
    await server.close();
    await stun.close();
    await settleWeriftTimers();
  }
}

Deno.test("workers: a worker-hosted viewer logs, counts and shows in /api/streams like a main-thread one", async () => {
  const main = await watchOneViewer(1);
  const worker = await watchOneViewer(2);
  const expected = [
    "session offer offer",
    "session answer answer",
    "session ice.connected ice_connected",
    "session dtls.connected dtls_connected",
    "session first_packet first_packet",
    "session end end",
  ];
  assertEquals(main.lines, expected, "main thread");
  assertEquals(worker.lines, expected, "worker");
  for (const seen of [main, worker]) {
    for (const f of seen.fields) {
      assertEquals(f, { role: "viewer", stream: "parity", session: seen.id });
    }
  }
  // Open viewers +1, created +1, ended 0, one setup time; after DELETE: 0, +1, +1, one.
  assertEquals(main.whileOpen, [1, 1, 0, 1], "main thread metrics while open");
  assertEquals(worker.whileOpen, main.whileOpen, "worker metrics while open");
  assertEquals(main.afterEnd, [0, 1, 1, 1], "main thread metrics after DELETE");
  assertEquals(worker.afterEnd, main.afterEnd, "worker metrics after DELETE");
  const shape = (s: Seen) => ({
    ...s.row,
    session: s.row.session === s.id.slice(0, 8),
    layer: s.row.layer === String(s.row.videoSsrc),
    target: s.row.target === String(s.row.videoSsrc),
    videoSsrc: typeof s.row.videoSsrc,
  });
  assert(shape(main).layer, JSON.stringify(main.row));
  assertEquals(shape(worker), shape(main));
});
