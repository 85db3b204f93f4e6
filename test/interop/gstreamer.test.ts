/**
 * GStreamer's WebRTC stack (webrtcbin, libnice, vp8enc/x264enc, opusenc, decodebin) against
 * Quetzal over real ICE/DTLS/SRTP on 127.0.0.1, driven through gst-client.py: a webrtcbin WHIP
 * publisher seen by a werift viewer, and a webrtcbin WHEP viewer decoding a webrtcbin
 * publisher. Skipped when the Python GObject bindings or the GStreamer elements are missing
 * (Debian: python3-gi, gir1.2-gst-plugins-bad-1.0, gir1.2-nice-0.1, gstreamer1.0-nice,
 * gstreamer1.0-plugins-good, gstreamer1.0-plugins-bad, gstreamer1.0-plugins-ugly,
 * gstreamer1.0-libav).
 *
 * Why not simple-whip-client, the packaged webrtcbin WHIP client: Debian 12's build links
 * libsoup 2.4 while libnice links libsoup 3 (through gupnp-igd), and libsoup aborts the process
 * as soon as webrtcbin loads ("libsoup2 symbols detected"). Past that, its libnice agent
 * leaves out loopback candidates whenever the host has another interface and it has no flag
 * to choose interfaces, so its checks toward a server announcing 127.0.0.1 fail; tests may
 * not announce any other address. gst-client.py drives the same webrtcbin, with Python's HTTP
 * and libnice given 127.0.0.1 as its only local address.
 */
import { assertEquals, assertGreater, assertMatch } from "@std/assert";
import type { RunningServer } from "../../src/server.ts";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { startStunStub } from "../support/stun-stub.ts";
import { H264, play, settleWeriftTimers, VP8, waitFor } from "../support/werift-client.ts";
import { type ClientProcess, findPython, scriptPath, spawnClient } from "./child-process.ts";
import { type VideoCodec, watchMedia } from "./media-checks.ts";
import { startLoopbackServer } from "../support/loopback-server.ts";

// Load the native SRTP library outside the tests so the resource sanitizer does not count it.
loadLibsrtp();

/** Python that has GStreamer's WebRTC bindings and every element `elements` names. */
function gstProbe(elements: string[]): string {
  return [
    "import gi",
    "gi.require_version('Gst', '1.0')",
    "gi.require_version('GstSdp', '1.0')",
    "gi.require_version('GstWebRTC', '1.0')",
    "gi.require_version('Nice', '0.1')",
    "from gi.repository import Gst, GstSdp, GstWebRTC, Nice",
    "Gst.init(None)",
    `assert all(Gst.ElementFactory.find(e) for e in ${JSON.stringify(elements)})`,
  ].join("; ");
}

const COMMON = ["webrtcbin", "nicesrc", "videotestsrc", "audiotestsrc", "opusenc", "opusdec"];
const ELEMENTS: Record<VideoCodec, string[]> = {
  vp8: [...COMMON, "vp8enc", "rtpvp8pay", "vp8dec"],
  h264: [...COMMON, "x264enc", "rtph264pay", "avdec_h264"],
};
const python: Record<VideoCodec, string | undefined> = {
  vp8: await findPython(gstProbe(ELEMENTS.vp8)),
  h264: await findPython(gstProbe(ELEMENTS.h264)),
};
for (const codec of ["vp8", "h264"] as const) {
  if (!python[codec]) {
    console.log(
      `skip GStreamer ${codec} interop: no python3 with GStreamer WebRTC bindings and ` +
        ELEMENTS[codec].join(", "),
    );
  }
}
const script = scriptPath("./gst-client.py");

async function withServer(body: (server: RunningServer) => Promise<void>): Promise<void> {
  const server = await startLoopbackServer();
  try {
    await body(server);
  } finally {
    await server.close();
    await settleWeriftTimers();
  }
}

function gst(codec: VideoCodec, args: string[]): ClientProcess {
  return spawnClient(python[codec]!, [script, ...args]);
}

/** Stops a publisher the way a user would: it DELETEs its resource, then closes. */
async function stopPublisher(server: RunningServer, publisher: ClientProcess): Promise<void> {
  const status = await publisher.stop();
  assertEquals(status.code, 0, publisher.stderr());
  assertEquals(publisher.events.find((e) => e.event === "deleted")?.status, 200);
  assertEquals(server.manager.count("publisher"), 0, "DELETE frees the publisher");
}

function publishArgs(server: RunningServer, stream: string, codec: VideoCodec): string[] {
  return [
    "publish",
    `--url=${server.url}/whip/${stream}`,
    // "--token=…": a token may start with "-", which argparse would read as a flag.
    `--token=${server.publishToken}`,
    "--codec",
    codec,
  ];
}

for (const codec of ["vp8", "h264"] as const) {
  Deno.test({
    name: `GStreamer webrtcbin publisher (${codec}) → Quetzal → werift viewer`,
    ignore: python[codec] === undefined,
    async fn() {
      const stun = await startStunStub();
      let publisher: ClientProcess | undefined;
      try {
        await withServer(async (server) => {
          publisher = gst(codec, publishArgs(server, `gst-${codec}`, codec));
          await publisher.waitFor("connected");
          // webrtcbin's max-bundle offer: the audio m-line rides the video transport, offered
          // with port 0 and a=bundle-only (RFC 8843 §6), and Quetzal must answer it normally.
          const offer = (await publisher.waitFor("offer")).sdp as string;
          assertMatch(offer, /\r\nm=audio 0 [^\r]*\r\n(?:[^m][^\r]*\r\n)*a=bundle-only\r\n/);
          const answer = (await publisher.waitFor("answer")).sdp as string;
          assertMatch(answer, /\r\nm=audio [1-9]\d* UDP\/TLS\/RTP\/SAVPF 111\r\n/);

          const viewer = await play(server.url, `gst-${codec}`, {
            stunUrl: stun.url,
            video: [codec === "vp8" ? VP8 : H264],
          });
          const media = watchMedia(viewer, codec);
          await viewer.connected;
          await waitFor(
            () =>
              media.keyframeTimestamps.size > 0 && media.videoFrames >= 30 &&
              media.audioPackets >= 50,
            15_000,
            `${codec} key frame, 30 frames and 50 audio packets at the werift viewer`,
          );
          assertEquals(media.videoSsrcs.size, 1, "one outbound video SSRC");
          assertEquals(media.videoPayloadTypes.size, 1);
          assertEquals(media.audioPayloadTypes.size, 1);

          await stopPublisher(server, publisher);
          const r = await fetch(server.url + viewer.location, { method: "DELETE" });
          assertEquals(r.status, 200);
          await r.body?.cancel();
          await viewer.close();
          assertEquals(server.manager.sessions.size, 0);
        });
      } finally {
        await publisher?.stop();
        await stun.close();
      }
    },
  });

  Deno.test({
    name: `GStreamer webrtcbin publisher (${codec}) → Quetzal → webrtcbin viewer decodes`,
    ignore: python[codec] === undefined,
    async fn() {
      let publisher: ClientProcess | undefined;
      let viewer: ClientProcess | undefined;
      try {
        await withServer(async (server) => {
          publisher = gst(codec, publishArgs(server, `gst-pair-${codec}`, codec));
          await publisher.waitFor("connected");
          viewer = gst(codec, [
            "play",
            `--url=${server.url}/whep/gst-pair-${codec}`,
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
          await stopPublisher(server, publisher);
          assertEquals(server.manager.sessions.size, 0);
        });
      } finally {
        await viewer?.stop();
        await publisher?.stop();
      }
    },
  });
}
