/**
 * The baseline: a werift-only SFU doing WHIP and WHEP with werift's stock media pipeline, the
 * way werift's own examples forward. Each viewer gets a local MediaStreamTrack per kind
 * (`sender.replaceTrack(track)`), and every packet of the publisher's track is written to each
 * of them with `track.writeRtp` after its header extensions are stripped (werift would
 * otherwise forward the publisher's extension bytes verbatim under the publisher's IDs).
 *
 * Prints `{ event: "listening", url, publishToken }`; commands: lag-reset, stats.
 */
import {
  MediaStreamTrack,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  type RtpPacket,
  useAbsSendTime,
  useSdesMid,
  useTransportWideCC,
} from "werift";
import { emit, serveCommands } from "./child-protocol.ts";
import { LagSampler } from "./lag-sampler.ts";

const VP8 = new RTCRtpCodecParameters({
  mimeType: "video/VP8",
  clockRate: 90000,
  rtcpFeedback: [{ type: "nack" }, { type: "nack", parameter: "pli" }, { type: "transport-cc" }],
});
const OPUS = new RTCRtpCodecParameters({ mimeType: "audio/opus", clockRate: 48000, channels: 2 });
const PUBLISH_TOKEN = "bench-werift-sfu-token";

type Kind = "audio" | "video";

interface StreamState {
  /** Local tracks of the viewers, by kind. */
  outputs: Record<Kind, Set<MediaStreamTrack>>;
  /** Kinds the publisher sends. */
  kinds: Set<Kind>;
}

const streams = new Map<string, StreamState>();
const peers = new Set<RTCPeerConnection>();
const resources = new Map<string, RTCPeerConnection>();
const totals = { packetsIn: 0, bytesIn: 0, packetsOut: 0, bytesOut: 0, dropped: 0 };
let nextId = 1;

function streamOf(name: string): StreamState {
  let state = streams.get(name);
  if (!state) {
    state = { outputs: { audio: new Set(), video: new Set() }, kinds: new Set() };
    streams.set(name, state);
  }
  return state;
}

function createPeer(): RTCPeerConnection {
  const pc = new RTCPeerConnection({
    iceLite: true,
    bundlePolicy: "max-bundle",
    iceServers: [],
    iceUseIpv6: false,
    iceAdditionalHostAddresses: ["127.0.0.1"],
    iceInterfaceAddresses: { udp4: "127.0.0.1" },
    codecs: { audio: [OPUS], video: [VP8] },
    headerExtensions: {
      video: [useSdesMid(), useTransportWideCC(), useAbsSendTime()],
      audio: [useSdesMid()],
    },
  });
  peers.add(pc);
  pc.connectionStateChange.subscribe((state) => {
    if (state === "failed" || state === "closed") {
      peers.delete(pc);
      void pc.close().catch(() => {});
    }
  });
  return pc;
}

async function answer(pc: RTCPeerConnection): Promise<string> {
  await pc.setLocalDescription(await pc.createAnswer());
  await new Promise<void>((resolve) => {
    if (pc.iceGatheringState === "complete") return resolve();
    pc.iceGatheringStateChange.subscribe((s) => s === "complete" && resolve());
  });
  return pc.localDescription!.sdp;
}

async function whip(name: string, offer: string): Promise<{ sdp: string; pc: RTCPeerConnection }> {
  const state = streamOf(name);
  const pc = createPeer();
  pc.onTrack.subscribe((track) => {
    const kind = track.kind as Kind;
    state.kinds.add(kind);
    track.onReceiveRtp.subscribe((rtp: RtpPacket) => {
      totals.packetsIn++;
      totals.bytesIn += rtp.serializeSize;
      rtp.header.extensions = [];
      for (const output of state.outputs[kind]) {
        output.writeRtp(rtp);
        totals.packetsOut++;
        totals.bytesOut += rtp.serializeSize;
      }
    });
  });
  await pc.setRemoteDescription({ type: "offer", sdp: offer });
  for (const t of pc.getTransceivers()) t.setDirection("recvonly");
  return { sdp: await answer(pc), pc };
}

async function whep(name: string, offer: string): Promise<{ sdp: string; pc: RTCPeerConnection }> {
  const state = streamOf(name);
  const pc = createPeer();
  await pc.setRemoteDescription({ type: "offer", sdp: offer });
  const mine: Array<[Kind, MediaStreamTrack]> = [];
  for (const t of pc.getTransceivers()) {
    const kind = t.kind as Kind;
    const track = new MediaStreamTrack({ kind });
    await t.sender.replaceTrack(track);
    t.setDirection("sendonly");
    mine.push([kind, track]);
  }
  const sdp = await answer(pc);
  pc.connectionStateChange.subscribe((s) => {
    if (s === "connected") { for (const [kind, track] of mine) state.outputs[kind].add(track); }
    if (s === "failed" || s === "closed") {
      for (const [kind, track] of mine) state.outputs[kind].delete(track);
    }
  });
  return { sdp, pc };
}

const lag = new LagSampler();
const abort = new AbortController();
const listening = Promise.withResolvers<number>();
const server = Deno.serve({
  port: 0,
  hostname: "127.0.0.1",
  signal: abort.signal,
  onListen: (addr) => listening.resolve(addr.port),
}, async (req) => {
  const path = new URL(req.url).pathname;
  if (req.method === "DELETE") {
    const pc = resources.get(path);
    if (!pc) return new Response("not found", { status: 404 });
    resources.delete(path);
    peers.delete(pc);
    await pc.close().catch(() => {});
    return new Response(null, { status: 200 });
  }
  const match = path.match(/^\/(whip|whep)\/([^/]+)$/);
  if (req.method !== "POST" || !match) return new Response("not found", { status: 404 });
  if (match[1] === "whip" && req.headers.get("Authorization") !== `Bearer ${PUBLISH_TOKEN}`) {
    return new Response("unauthorized", { status: 401 });
  }
  try {
    const offer = await req.text();
    const { sdp, pc } = match[1] === "whip"
      ? await whip(match[2], offer)
      : await whep(match[2], offer);
    const location = `/${match[1]}/${match[2]}/${nextId++}`;
    resources.set(location, pc);
    return new Response(sdp, {
      status: 201,
      headers: { "Content-Type": "application/sdp", Location: location },
    });
  } catch (error) {
    return new Response(String(error), { status: 500 });
  }
});
const port = await listening.promise;
emit({ event: "listening", url: `http://127.0.0.1:${port}`, publishToken: PUBLISH_TOKEN });

await serveCommands((command) => {
  switch (command.cmd) {
    case "lag-reset":
      lag.reset();
      return {};
    case "stats":
      return {
        ...totals,
        ...lag.summary(),
        sessions: peers.size,
        heapMb: Deno.memoryUsage().heapUsed / 1048576,
      };
    default:
      throw new Error(`unknown command ${command.cmd}`);
  }
});
lag.stop();
await Promise.all([...peers].map((pc) => pc.close().catch(() => {})));
abort.abort();
await server.finished;
Deno.exit(0);
