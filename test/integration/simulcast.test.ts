// Simulcast end to end without a browser: a synthetic rid-simulcast publisher (three VP8 layers
// with their own sizes and unaligned key frames) and a recording werift viewer, through
// Quetzal over real ICE/DTLS/SRTP on 127.0.0.1. Switches are driven through the WHEP layer
// extension; the viewer's packets must always form one stream.
import { assert, assertEquals, assertGreater } from "@std/assert";
import type { RunningServer } from "../../src/server.ts";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { startStunStub } from "../support/stun-stub.ts";
import { selectLayer, streamInfo, waitForStreamInfo } from "../support/stream-api.ts";
import { serverSideConnected, settleWeriftTimers, waitFor } from "../support/werift-client.ts";
import {
  BROWSER_LAYERS,
  inSequenceOrder,
  type LayerSpec,
  playRecording,
  publishSimulcast,
  type ReceivedPacket,
  type RecordingViewer,
  type SimulcastPublisher,
  type SimulcastPublisherOptions,
  simulcastRecvRids,
} from "../support/simulcast-publisher.ts";
import { startLoopbackServer } from "../support/loopback-server.ts";

// Load the native SRTP library outside the test so the resource sanitizer does not count it.
loadLibsrtp();

/** Liveness bound for each step: a broken build fails instead of hanging. */
const STEP_MS = 10_000;
/** Packets of a layer that must arrive after a switch before the next step. */
const SETTLE_PACKETS = 30;

/** Waits until `count` packets of layer `index` arrived after position `from`. */
function waitForLayer(viewer: RecordingViewer, index: number, from: number, what: string) {
  return waitFor(
    () => viewer.packets.slice(from).filter((p) => p.layer === index).length >= SETTLE_PACKETS,
    STEP_MS,
    what,
  );
}

/** The first `layers` event of a WHEP event stream (direct GET, as Broadcast Box players do). */
async function firstLayersEvent(url: string): Promise<Record<string, LayerEntry[]>> {
  const response = await fetch(url);
  assertEquals(response.status, 200);
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`event stream ended before a layers event: ${text}`);
      text += value;
      const m = /event: layers\ndata: (.*)\n\n/.exec(text);
      if (m) return JSON.parse(m[1]);
    }
  } finally {
    await reader.cancel();
  }
}

interface LayerEntry {
  rid: string;
  spatialLayerId: number;
  width: number;
  height: number;
  bitrate: number;
}

/** Runs of consecutive packets (in sequence order) from one layer. */
function segmentsOf(packets: ReceivedPacket[]): { layer: number; start: number }[] {
  const out: { layer: number; start: number }[] = [];
  for (const [i, p] of packets.entries()) {
    if (out.length === 0 || out[out.length - 1].layer !== p.layer) {
      out.push({ layer: p.layer, start: i });
    }
  }
  return out;
}

Deno.test("simulcast: rid publisher → three ranked layers; manual switch and layer loss keep one stream", async () => {
  const stun = await startStunStub();
  const server = await startLoopbackServer();
  const closers: (() => Promise<void>)[] = [];
  try {
    // Rids offered in an order that is not quality order: ranking must come from the sizes.
    const publisher = await publishSimulcast(server.url, "sim", server.publishToken, {
      stunUrl: stun.url,
      ridOrder: ["f", "q", "h"],
    });
    closers.push(() => publisher.close());
    assertEquals(simulcastRecvRids(publisher.answer), ["f", "q", "h"], publisher.answer);
    for (const rid of ["q", "h", "f"]) {
      assert(publisher.answer.includes(`a=rid:${rid} recv`), `a=rid:${rid} recv missing`);
    }
    await publisher.connected;
    await serverSideConnected(server.manager, publisher.location);
    publisher.start();

    // Three layers, all measured, ranked by size: q (320) < h (640) < f (1280).
    const info = await waitForStreamInfo(
      server.url,
      "sim",
      (s) => {
        const layers = s.tracks.find((t) => t.kind === "video")?.layers ?? [];
        return layers.length === 3 && layers.every((l) => l.active && l.width > 0);
      },
      STEP_MS,
      "three measured layers",
    );
    const layers = info.tracks.find((t) => t.kind === "video")!.layers;
    for (const spec of publisher.layers) {
      const layer = layers.find((l) => l.rid === spec.spec.rid)!;
      assertEquals([layer.width, layer.height], [spec.spec.width, spec.spec.height]);
      assertEquals(layer.ssrc, spec.ssrc, "SSRC learnt from the rid extension");
    }
    const producer = server.manager.publisherOf("sim")!.producers[0];
    await waitFor(
      () => ["q", "h", "f"].every((rid, rank) => producer.layerOfRank(rank)?.rid === rid),
      STEP_MS,
      "ranks by measured size",
    );

    const viewer = await playRecording(server.url, "sim", { stunUrl: stun.url });
    closers.push(() => viewer.close());
    assert(viewer.layerUrl, "the answer links the layer extension");
    assert(viewer.eventsUrl, "the answer links server-sent events");
    await viewer.connected;
    await serverSideConnected(server.manager, viewer.location);
    await waitFor(() => viewer.packets.length >= SETTLE_PACKETS, STEP_MS, "media at the viewer");

    // SSE `layers`: every layer with its rank as spatialLayerId and its measured size.
    const event = await firstLayersEvent(viewer.eventsUrl!);
    const listed = Object.values(event)[0];
    assertEquals(
      listed.map((l) => [l.rid, l.spatialLayerId, l.width]).sort((a, b) =>
        Number(a[1]) - Number(b[1])
      ),
      [["q", 0, 320], ["h", 1, 640], ["f", 2, 1280]],
    );

    // Bad bodies are refused with a reason; an unknown rid too.
    assertEquals(await selectLayer(viewer, { mediaId: "0", rid: "nope" }), 400);
    assertEquals(await selectLayer(viewer, { mediaId: "0", spatialLayerId: "x" }), 400);

    // Pin the lowest layer by rid, then the top one by its draft-01 alias `encodingId`.
    let mark = viewer.packets.length;
    assertEquals(await selectLayer(viewer, { mediaId: "0", rid: "q" }), 200);
    await waitForLayer(viewer, 0, mark, "layer q after pinning it");
    await waitForStreamInfo(
      server.url,
      "sim",
      (s) => s.viewerLayers[0]?.layer === "q",
      STEP_MS,
      "api: layer q",
    );

    mark = viewer.packets.length;
    assertEquals(await selectLayer(viewer, { mediaId: "0", encodingId: "f" }), 200);
    await waitForLayer(viewer, 2, mark, "layer f after pinning it");
    const pinned = await waitForStreamInfo(
      server.url,
      "sim",
      (s) => s.viewerLayers[0]?.layer === "f",
      STEP_MS,
      "api: layer f",
    );
    assertEquals(pinned.viewerLayers[0].reason, "manual");

    // The forwarded layer stops: the viewer moves to the nearest live layer below and keeps
    // receiving (the layer goes stalled after ~250 ms, inactive after 1.5 s).
    mark = viewer.packets.length;
    publisher.layer("f").active = false;
    await waitForLayer(viewer, 1, mark, "fallback to layer h when f stops");
    const fallback = await waitForStreamInfo(
      server.url,
      "sim",
      (s) => s.viewerLayers[0]?.layer === "h",
      STEP_MS,
      "api: layer h",
    );
    assertEquals(fallback.viewerLayers[0].reason, "layer_loss");
    await waitForStreamInfo(
      server.url,
      "sim",
      (s) => s.tracks[0].layers.some((l) => l.rid === "f" && !l.active),
      STEP_MS,
      "api: layer f inactive",
    );

    // The pinned layer returns: the viewer goes back to it once it is stable again.
    mark = viewer.packets.length;
    publisher.layer("f").active = true;
    await waitForLayer(viewer, 2, mark, "back to layer f when it returns");

    // Automatic again (`{mediaId}` alone): the viewer still gets video.
    mark = viewer.packets.length;
    assertEquals(await selectLayer(viewer, { mediaId: "0" }), 200);
    await waitFor(() => viewer.packets.length - mark >= SETTLE_PACKETS, STEP_MS, "auto media");
    publisher.stop();

    // Loopback loss is repaired by NACK: wait for a hole-free sequence space.
    await waitFor(
      () => {
        const ordered = inSequenceOrder(viewer.packets);
        return ordered.length > 0 && holes(ordered) === 0;
      },
      STEP_MS,
      "a hole-free sequence space",
    );
    assertOneStream(inSequenceOrder(viewer.packets), publisher.layers.map((l) => l.spec.width));
  } finally {
    for (const close of closers.reverse()) await close();
    await server.close();
    await stun.close();
    await settleWeriftTimers();
  }
});

function extendedSeqs(packets: ReceivedPacket[]): number[] {
  const out: number[] = [];
  let ext = 0;
  for (const [i, p] of packets.entries()) {
    ext = i === 0 ? p.seq : ext + (((p.seq - packets[i - 1].seq + 32768) & 0xffff) - 32768);
    out.push(ext);
  }
  return out;
}

function holes(packets: ReceivedPacket[]): number {
  const ext = extendedSeqs(packets);
  return ext[ext.length - 1] - ext[0] + 1 - ext.length;
}

/**
 * The properties of simulcast.md §7 "one stream": one SSRC; contiguous sequence numbers;
 * timestamps never go backwards; every switch lands on the target layer's key frame;
 * the VP8 PictureID goes up by one per frame across switches.
 */
function assertOneStream(packets: ReceivedPacket[], widths: number[], midFrameCuts = 0): void {
  assertEquals(new Set(packets.map((p) => p.ssrc)).size, 1, "one SSRC");
  // Contiguous, except one deliberate gap where a layer stopped mid-frame (§2.1, mediasoup
  // `Sync(seq − 2)`): the decoder then drops the partial frame instead of waiting for it.
  assertEquals(holes(packets), midFrameCuts, "contiguous sequence numbers");
  assert(packets.every((p) => p.layer >= 0), "every packet comes from a publisher layer");
  const segments = segmentsOf(packets);
  assertGreater(segments.length, 2, `switches happened: ${JSON.stringify(segments)}`);
  // Every switch lands on the first packet of a key frame of the target layer. (The first
  // run is not checked: a viewer's head of stream can be lost while its transport comes up,
  // the known issue of test/integration/viewer-join.test.ts.)
  for (const { layer, start } of segments.slice(1)) {
    const first = packets[start];
    assert(first.keyframe, `layer ${layer} starts at seq ${first.seq} without a key frame`);
    assertEquals(first.width, widths[layer], `the key frame is the target layer's own`);
  }
  for (let i = 1; i < packets.length; i++) {
    const step = (packets[i].timestamp - packets[i - 1].timestamp) | 0;
    assert(step >= 0, `timestamp went back by ${-step} at seq ${packets[i].seq}`);
    const newFrame = packets[i].timestamp !== packets[i - 1].timestamp;
    if (((packets[i].seq - packets[i - 1].seq) & 0xffff) === 2) {
      // The deliberate gap: after a cut-off frame, right before the new layer's key frame.
      assert(!packets[i - 1].marker && packets[i].keyframe && newFrame, `gap at ${packets[i].seq}`);
    } else {
      // A new frame starts exactly where the previous one ended (marker), also at a switch.
      assertEquals(newFrame, packets[i - 1].marker, `frame boundary at seq ${packets[i].seq}`);
    }
    if (newFrame) {
      const picture = (packets[i].pictureId - packets[i - 1].pictureId) & 0x7fff;
      assertEquals(picture, 1, `PictureID step at seq ${packets[i].seq}`);
      // Aligned across layers: a switch moves time on by about one frame, not by seconds.
      assert(step < 90_000, `timestamp jumped ${step} ticks at seq ${packets[i].seq}`);
    }
  }
}

/** OBS 32.1+ style (simulcast.md §1.1): rid "0" is the full size, lower rids scaled down. */
const OBS_LAYERS: LayerSpec[] = [
  { ...BROWSER_LAYERS[2], rid: "0", width: 1280, height: 720 },
  { ...BROWSER_LAYERS[1], rid: "1", width: 848, height: 480 },
  { ...BROWSER_LAYERS[0], rid: "2", width: 424, height: 240 },
];

type Server = RunningServer;

/** A server, a STUN stub and a connected synthetic publisher sending frames. */
async function withPublisher(
  stream: string,
  options: Omit<SimulcastPublisherOptions, "stunUrl">,
  body: (server: Server, publisher: SimulcastPublisher, stunUrl: string) => Promise<void>,
): Promise<void> {
  const stun = await startStunStub();
  const server = await startLoopbackServer();
  let publisher: SimulcastPublisher | undefined;
  try {
    publisher = await publishSimulcast(server.url, stream, server.publishToken, {
      ...options,
      stunUrl: stun.url,
    });
    await publisher.connected;
    await serverSideConnected(server.manager, publisher.location);
    publisher.start();
    await body(server, publisher, stun.url);
  } finally {
    await publisher?.close();
    await server.close();
    await stun.close();
    await settleWeriftTimers();
  }
}

async function connectedViewer(
  server: Server,
  stream: string,
  stunUrl: string,
): Promise<RecordingViewer> {
  const viewer = await playRecording(server.url, stream, { stunUrl });
  await viewer.connected;
  await serverSideConnected(server.manager, viewer.location);
  await waitFor(() => viewer.packets.length >= SETTLE_PACKETS, STEP_MS, "media at the viewer");
  return viewer;
}

Deno.test('simulcast: OBS-style rids ("0" = full size) rank by size; pins by spatialLayerId without sender reports; a layer cut mid-frame', async () => {
  await withPublisher(
    "obs",
    { layers: OBS_LAYERS, senderReportEvery: 0 },
    async (server, publisher, stunUrl) => {
      assertEquals(simulcastRecvRids(publisher.answer), ["0", "1", "2"]);
      const producer = server.manager.publisherOf("obs")!.producers[0];
      await waitFor(
        () => ["2", "1", "0"].every((rid, rank) => producer.layerOfRank(rank)?.rid === rid),
        STEP_MS,
        "ranks by measured size, not by rid",
      );
      const viewer = await connectedViewer(server, "obs", stunUrl);
      try {
        // spatialLayerId is the rank: 0 = the smallest (rid "2"), 2 = the largest (rid "0").
        let mark = viewer.packets.length;
        assertEquals(await selectLayer(viewer, { mediaId: "0", spatialLayerId: 0 }), 200);
        await waitForLayer(viewer, 2, mark, "rid 2 after pinning spatial layer 0");
        mark = viewer.packets.length;
        assertEquals(await selectLayer(viewer, { mediaId: "0", spatialLayerId: 2 }), 200);
        await waitForLayer(viewer, 0, mark, "rid 0 after pinning spatial layer 2");
        mark = viewer.packets.length;
        assertEquals(await selectLayer(viewer, { mediaId: "0", spatialLayerId: 1 }), 200);
        await waitForLayer(viewer, 1, mark, "rid 1 after pinning spatial layer 1");
        assertEquals(await selectLayer(viewer, { mediaId: "0", spatialLayerId: 9 }), 400);

        // The forwarded layer stops in the middle of a frame: fall back to the layer below.
        mark = viewer.packets.length;
        publisher.layer("1").stopAfterPackets = 1;
        await waitForLayer(viewer, 2, mark, "rid 2 after rid 1 stopped mid-frame");
        publisher.stop();
        // NACK repair fills real loss; the one deliberate gap stays.
        await waitFor(
          () => {
            const ordered = inSequenceOrder(viewer.packets);
            return ordered.length > 0 && holes(ordered) === 1;
          },
          STEP_MS,
          "a sequence space with only the deliberate gap",
        );
        // No sender reports: timestamps are aligned from arrival times, still one stream.
        assertOneStream(inSequenceOrder(viewer.packets), OBS_LAYERS.map((l) => l.width), 1);
      } finally {
        await viewer.close();
      }
    },
  );
});

Deno.test({
  name: "simulcast: an automatic viewer without bandwidth feedback stays on the top layer",
  fn: async () => {
    await withPublisher("auto", {}, async (server, _publisher, stunUrl) => {
      // Join once every layer has sent a key frame, so the top layer is a valid first target.
      const producer = server.manager.publisherOf("auto")!.producers[0];
      await waitFor(
        () => producer.layers.length === 3 && producer.layers.every((l) => l.lastKeyframeMs >= 0),
        STEP_MS,
        "a key frame on every layer",
      );
      const viewer = await connectedViewer(server, "auto", stunUrl);
      try {
        // Longer than the allocator's 10 s minimum change interval.
        await new Promise((r) => setTimeout(r, 12_000));
        const info = await streamInfo(server.url, "auto");
        assertEquals(info.viewerLayers[0].layer, "f", JSON.stringify(info.viewerLayers));
        const recent = viewer.packets.slice(-SETTLE_PACKETS);
        assert(recent.every((p) => p.layer === 2), "the last packets come from the top layer");
      } finally {
        await viewer.close();
      }
    });
  },
});
