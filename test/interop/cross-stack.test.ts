/**
 * One stack publishes, another decodes: a GStreamer webrtcbin publisher played by an aiortc
 * viewer, and an aiortc publisher played by a webrtcbin viewer, through Quetzal over real
 * ICE/DTLS/SRTP on 127.0.0.1. Skipped unless both stacks are present (see aiortc.test.ts and
 * gstreamer.test.ts for the packages).
 */
import { assertEquals, assertGreater } from "@std/assert";
import type { RunningServer } from "../../src/server.ts";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { settleWeriftTimers } from "../support/werift-client.ts";
import { type ClientProcess, findPython, scriptPath, spawnClient } from "./child-process.ts";
import type { VideoCodec } from "./media-checks.ts";
import { startLoopbackServer } from "../support/loopback-server.ts";

// Load the native SRTP library outside the tests so the resource sanitizer does not count it.
loadLibsrtp();

const python = await findPython(
  "import aiortc, numpy, gi; gi.require_version('Gst', '1.0'); " +
    "gi.require_version('GstWebRTC', '1.0'); gi.require_version('Nice', '0.1'); " +
    "from gi.repository import Gst, GstWebRTC, Nice; Gst.init(None); " +
    "assert all(Gst.ElementFactory.find(e) for e in ['webrtcbin', 'nicesrc', 'vp8enc', " +
    "'vp8dec', 'x264enc', 'avdec_h264', 'opusenc', 'opusdec'])",
);
const ignore = python === undefined;
if (ignore) console.log("skip cross-stack interop: no python3 with both aiortc and GStreamer");

const SCRIPTS = { aiortc: scriptPath("./aiortc-client.py"), gst: scriptPath("./gst-client.py") };
type Stack = keyof typeof SCRIPTS;

async function withServer(body: (server: RunningServer) => Promise<void>): Promise<void> {
  const server = await startLoopbackServer();
  try {
    await body(server);
  } finally {
    await server.close();
    await settleWeriftTimers();
  }
}

const PAIRS: { publisher: Stack; viewer: Stack; codec: VideoCodec }[] = [
  { publisher: "gst", viewer: "aiortc", codec: "vp8" },
  { publisher: "gst", viewer: "aiortc", codec: "h264" },
  { publisher: "aiortc", viewer: "gst", codec: "vp8" },
  { publisher: "aiortc", viewer: "gst", codec: "h264" },
];

for (const { publisher: from, viewer: to, codec } of PAIRS) {
  Deno.test({
    name: `${from} publisher (${codec}) → Quetzal → ${to} viewer decodes video and audio`,
    ignore,
    async fn() {
      let publisher: ClientProcess | undefined;
      let viewer: ClientProcess | undefined;
      try {
        await withServer(async (server) => {
          const stream = `${from}-to-${to}-${codec}`;
          publisher = spawnClient(python!, [
            SCRIPTS[from],
            "publish",
            `--url=${server.url}/whip/${stream}`,
            // "--token=…": a token may start with "-", which argparse would read as a flag.
            `--token=${server.publishToken}`,
            "--codec",
            codec,
          ]);
          await publisher.waitFor("connected");
          // aiortc's stock offer (extmap id 2 on both m-lines) is fine here: a webrtcbin
          // publisher sends no audio level, so nothing reaches aiortc at the clashing id.
          viewer = spawnClient(python!, [
            SCRIPTS[to],
            "play",
            `--url=${server.url}/whep/${stream}`,
            "--video-frames",
            "30",
            "--audio-frames",
            "50",
            "--timeout",
            "12",
          ]);
          const decoded = await viewer.waitFor("decoded", 20_000);
          assertEquals((await viewer.stop()).code, 0, viewer.stderr());
          assertGreater(decoded.video as number, 29, "decoded video frames");
          assertGreater(decoded.audio as number, 49, "decoded audio frames");
          assertEquals(decoded.sizes, [[320, 240]]);
          assertEquals(viewer.events.find((e) => e.event === "deleted")?.status, 200);

          assertEquals((await publisher.stop()).code, 0, publisher.stderr());
          assertEquals(publisher.events.find((e) => e.event === "deleted")?.status, 200);
          assertEquals(server.manager.sessions.size, 0, "DELETEs free both sessions");
        });
      } finally {
        await viewer?.stop();
        await publisher?.stop();
      }
    },
  });
}
