// Chromium accepts the server's subscribe offers (rooms.md §5): two pages publish their fake
// camera over WHIP (VP8 and H.264), a third page applies Quetzal's offer (3 audio slots, 2 video
// m-lines offering VP8 and H.264), answers, and decodes both cameras forwarded into its video
// m-lines. Then, on the same DTLS transport: a re-offer adds two video m-lines and a third
// forwarded copy decodes too; a re-offer retires a slot (a=inactive); an ICE restart (a re-offer
// with new credentials) keeps video decoding. SDP goes through CDP evaluate: no signalling server.
import { assert, assertEquals } from "@std/assert";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { browserUnavailable, launchBrowser, type Page } from "../support/browser.ts";
import { pollUntil, publishFromPage } from "../support/browser-media.ts";
import { startLoopbackServer } from "../support/loopback-server.ts";
import { SubscribeRig } from "../support/subscribe-rig.ts";

/** An upper bound so a broken build fails instead of hanging; not a speed assertion. */
const MEDIA_DEADLINE_MS = 45_000;
const POLL_MS = 250;
const MIN_FRAMES = 20;

// Load the native SRTP library outside the tests so the resource sanitizer does not count it.
loadLibsrtp();

const skipReason = browserUnavailable();
if (skipReason) console.log(`skipping subscribe browser test: ${skipReason}`);

/** The subscriber page's ICE transport, from getStats. */
interface IceSummary {
  /** The page's own ICE username fragment. */
  ufrag: string;
  /** How often the selected candidate pair changed. */
  pairChanges: number;
  /** Check responses received on the selected pair. */
  responses: number;
  iceState: string;
}

/** The subscriber page: one RTCPeerConnection that answers offers; video tracks played muted. */
const SUBSCRIBER_PAGE = `(() => {
  const pc = new RTCPeerConnection();
  globalThis.sub = pc;
  globalThis.dtlsStates = [];
  pc.ontrack = (e) => {
    if (e.track.kind !== "video") return;
    const video = document.createElement("video");
    video.muted = true;
    video.playsInline = true;
    video.autoplay = true;
    video.srcObject = new MediaStream([e.track]);
    document.body.append(video);
  };
  globalThis.answerOffer = async (sdp) => {
    await pc.setRemoteDescription({ type: "offer", sdp });
    await pc.setLocalDescription();
    if (pc.iceGatheringState !== "complete") {
      await new Promise((resolve) => pc.addEventListener("icegatheringstatechange", () => {
        if (pc.iceGatheringState === "complete") resolve();
      }));
    }
    return pc.localDescription.sdp;
  };
  globalThis.watchDtls = () => {
    const transport = pc.getTransceivers()[0].receiver.transport;
    transport.addEventListener("statechange", () => globalThis.dtlsStates.push(transport.state));
    return transport.state;
  };
  globalThis.transportStats = async () => {
    const stats = [...(await pc.getStats()).values()];
    const t = stats.find((s) => s.type === "transport");
    const pair = stats.find((s) => s.id === t.selectedCandidatePairId);
    return {
      ufrag: t.iceLocalUsernameFragment,
      pairChanges: t.selectedCandidatePairChanges,
      responses: pair?.responsesReceived ?? 0,
      iceState: pc.iceConnectionState,
    };
  };
  /** Per mid: frames decoded (video), packets received (audio). */
  globalThis.decodedByMid = async () => {
    const out = {};
    for (const s of (await pc.getStats()).values()) {
      if (s.type !== "inbound-rtp") continue;
      out[s.mid] = s.kind === "video" ? s.framesDecoded ?? 0 : s.packetsReceived ?? 0;
    }
    return out;
  };
})()`;

Deno.test({
  name:
    "browser: Chromium answers Quetzal's subscribe offers (first, more m-lines, a retired one, ICE restart) and decodes video",
  ignore: skipReason !== null,
  fn: async () => {
    await using browser = await launchBrowser();
    if (!browser) return;
    const server = await startLoopbackServer();
    const rig = await SubscribeRig.create(3, 2);
    const pages: Page[] = [];
    try {
      for (const codec of ["VP8", "H264"] as const) {
        const page = await browser.newPage(`${server.url}/`);
        pages.push(page);
        const published = await publishFromPage<string>(
          page,
          `cam-${codec}`,
          { token: server.publishToken, codec },
          `sender.getParameters().codecs[0]?.mimeType ?? ""`,
        );
        assertEquals(published, `video/${codec}`);
      }
      const vp8 = server.manager.routers.get("cam-VP8")!.producerOfKind("video")!;
      const h264 = server.manager.routers.get("cam-H264")!.producerOfKind("video")!;
      const mic = server.manager.routers.get("cam-VP8")!.producerOfKind("audio")!;
      assertEquals([vp8.codecName, h264.codecName], ["vp8", "h264"]);

      const subscriber = await browser.newPage(`${server.url}/`);
      pages.push(subscriber);
      await subscriber.evaluate(SUBSCRIBER_PAGE);
      const answer1 = await subscriber.evaluate<string>(
        `globalThis.answerOffer(${JSON.stringify(rig.offer())})`,
      );
      const accepted = await rig.accept(answer1);
      assertEquals(accepted.transport.setup, "active", "Chromium answers actpass with active");
      const v0 = accepted.tracks.find((t) => t.mid === "v0")!;
      assertEquals(
        v0.codecs.map((c) => c.codecName).sort(),
        ["h264", "vp8"],
        "Chromium accepts both offered video codecs",
      );
      rig.bind("a0", mic);
      rig.bind("v0", vp8);
      rig.bind("v1", h264);
      await pollUntil(
        "the subscribe connection to connect",
        () => subscriber.evaluate<string>("globalThis.sub.connectionState"),
        (state) => state === "connected" || state === "failed",
        MEDIA_DEADLINE_MS,
        pages,
        POLL_MS,
      ).then((state) => assertEquals(state, "connected"));
      assertEquals(await subscriber.evaluate<string>("globalThis.watchDtls()"), "connected");
      const decodedByMid = () =>
        subscriber.evaluate<Record<string, number>>("globalThis.decodedByMid()");
      const first = await pollUntil(
        "decoded frames on v0 (VP8) and v1 (H.264), audio on a0",
        decodedByMid,
        (d) => (d.v0 ?? 0) > MIN_FRAMES && (d.v1 ?? 0) > MIN_FRAMES && (d.a0 ?? 0) > MIN_FRAMES,
        MEDIA_DEADLINE_MS,
        pages,
        POLL_MS,
      );

      // Re-offer: two more video m-lines; a third copy of the VP8 camera goes to v2.
      const answer2 = await subscriber.evaluate<string>(
        `globalThis.answerOffer(${JSON.stringify(rig.grow("video", 2))})`,
      );
      const accepted2 = await rig.accept(answer2);
      assertEquals(accepted2.tracks.map((t) => t.mid), ["a0", "a1", "a2", "v0", "v1", "v2", "v3"]);
      rig.bind("v2", vp8);
      await pollUntil(
        "decoded frames on v2, and v0/v1 still decoding",
        decodedByMid,
        (d) =>
          (d.v2 ?? 0) > MIN_FRAMES && d.v0 > first.v0 + MIN_FRAMES &&
          d.v1 > first.v1 + MIN_FRAMES,
        MEDIA_DEADLINE_MS,
        pages,
        POLL_MS,
      );
      assertEquals(first.a1 ?? 0, 0, "an unbound audio slot carries nothing");

      // A retired slot stays in place as a=inactive; Chromium accepts that too.
      const answerRetired = await subscriber.evaluate<string>(
        `globalThis.answerOffer(${JSON.stringify(rig.retire("v1"))})`,
      );
      const retired = await rig.accept(answerRetired);
      assertEquals(retired.tracks.find((t) => t.mid === "v1")!.direction, "inactive");
      assertEquals(
        await subscriber.evaluate<string[]>(
          `globalThis.sub.getTransceivers().map((t) => t.mid + ":" + t.currentDirection)`,
        ),
        [
          "a0:recvonly",
          "a1:recvonly",
          "a2:recvonly",
          "v0:recvonly",
          "v1:inactive",
          "v2:recvonly",
          "v3:recvonly",
        ],
      );

      // ICE restart (rooms.md §6 restartIce {pc: "sub"}): a re-offer with new local ICE
      // credentials; the client answers with new ones and checks again, DTLS stays.
      const before = await subscriber.evaluate<IceSummary>("globalThis.transportStats()");
      const answer3 = await subscriber.evaluate<string>(
        `globalThis.answerOffer(${JSON.stringify(rig.restartIce())})`,
      );
      const accepted3 = await rig.accept(answer3);
      assert(accepted3.transport.iceUfrag !== accepted2.transport.iceUfrag, "the client restarted");
      const afterRestart = await decodedByMid();
      // Chromium selected a pair of the new ICE generation, and our lite agent answered its
      // checks there (responses are authenticated with our new password, RFC 8489 §14.5).
      await pollUntil(
        "checks answered on a new pair, under the new credentials",
        () => subscriber.evaluate<IceSummary>("globalThis.transportStats()"),
        (t) =>
          t.ufrag === accepted3.transport.iceUfrag && t.pairChanges > before.pairChanges &&
          t.responses > 0 && t.iceState === "connected",
        MEDIA_DEADLINE_MS,
        pages,
        POLL_MS,
      );
      await pollUntil(
        "video still decoding after the ICE restart",
        decodedByMid,
        (d) =>
          d.v0 > afterRestart.v0 + MIN_FRAMES && d.v2 > afterRestart.v2 + MIN_FRAMES &&
          d.a0 > afterRestart.a0 + MIN_FRAMES,
        MEDIA_DEADLINE_MS,
        pages,
        POLL_MS,
      );
      assertEquals(
        await subscriber.evaluate<string[]>("globalThis.dtlsStates"),
        [],
        "the DTLS transport never changed state (no new handshake)",
      );
      assertEquals(rig.connects, 1);
      assert(rig.failures.length === 0, rig.failures.join());
      for (const page of pages) await page.close();
    } finally {
      await rig.close();
      await server.close();
    }
  },
});
