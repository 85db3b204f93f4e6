/**
 * A synthetic rid-simulcast WHIP publisher and a recording WHEP viewer, both werift peers, for
 * integration tests over real ICE, DTLS and SRTP on 127.0.0.1.
 *
 * werift cannot send simulcast through its API (its sender writes one SSRC and never the rid
 * extension), so the publisher works one level lower: its offer is rewritten to declare
 * `a=rid:<x> send` and `a=simulcast:send …` (RFC 8853) before it is POSTed, and packets go
 * straight to the DTLS transport's SRTP session on one SSRC per layer, with the mid and rid
 * header extensions (RFC 8843 §15, RFC 8852) written here, as libwebrtc does before RTCP has
 * acknowledged the SSRCs.
 *
 * Every layer sends VP8 (RFC 7741) with a 15-bit PictureID; key frames carry the layer's own
 * size after the `9d 01 2a` start code (RFC 6386 §9.1), come on each layer's own schedule
 * (unaligned across layers) and on a PLI for that layer's SSRC, as browsers answer them. The
 * last two payload bytes name the layer and the packet's index in its frame, so a viewer can
 * tell which layer every forwarded packet came from. A layer may also carry VP8 temporal
 * layers (`LayerSpec.temporalLayers`).
 */
import { Buffer } from "node:buffer";
import {
  MediaStreamTrack,
  RTCPeerConnection,
  RtcpSenderInfo,
  RtcpSrPacket,
  RtpHeader,
  useAbsSendTime,
  useSdesMid,
  useSdesRTPStreamId,
  useTransportWideCC,
} from "werift";
import { createOffer, VP8 } from "./werift-client.ts";
import {
  extmapId,
  startViewerFeedback,
  TRANSPORT_CC_URI,
  type ViewerFeedback,
} from "./viewer-feedback.ts";

/** The header-extension URIs the publisher writes (RFC 8843, RFC 8852). */
export const MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid";
export const RID_URI = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id";

/** One simulcast encoding of the synthetic publisher. */
export interface LayerSpec {
  rid: string;
  width: number;
  height: number;
  /** RTP packets per frame (a frame's last packet has the marker bit). */
  packetsPerFrame: number;
  /** Payload bytes per packet: sets the layer's bitrate. */
  payloadBytes: number;
  /** A key frame every this many frames... */
  keyframeInterval: number;
  /** ...starting at this frame, so layers' key frames do not line up. */
  keyframePhase: number;
  /**
   * 3: VP8 temporal layers as libwebrtc's L1T3 (TIDs 0,2,1,2 restarting at each key frame,
   * TL0PICIDX, the Y bit on the first TID 2 and the TID 1 of each group). Default 1: no T bit.
   */
  temporalLayers?: 1 | 3;
}

/** 180p/360p/720p as a browser sends them (simulcast.md §7), rids in browser style. */
export const BROWSER_LAYERS: readonly LayerSpec[] = [
  {
    rid: "q",
    width: 320,
    height: 180,
    packetsPerFrame: 1,
    payloadBytes: 500,
    keyframeInterval: 90,
    keyframePhase: 0,
  },
  {
    rid: "h",
    width: 640,
    height: 360,
    packetsPerFrame: 2,
    payloadBytes: 900,
    keyframeInterval: 90,
    keyframePhase: 31,
  },
  {
    rid: "f",
    width: 1280,
    height: 720,
    packetsPerFrame: 4,
    payloadBytes: 1100,
    keyframeInterval: 90,
    keyframePhase: 62,
  },
];

/**
 * Adds rid send lines, `a=simulcast:send` and (when missing) the mid and rid extmaps to the
 * first video m-line of `sdp`. Returns the SDP and the extension IDs the packets must carry.
 */
export function rewriteOfferForSimulcast(
  sdp: string,
  rids: readonly string[],
): { sdp: string; midId: number; ridId: number } {
  const eol = sdp.includes("\r\n") ? "\r\n" : "\n";
  const lines = sdp.split(/\r?\n/);
  if (lines[lines.length - 1] === "") lines.pop();
  const used = new Set<number>();
  for (const line of lines) {
    const m = /^a=extmap:(\d+)/.exec(line);
    if (m) used.add(Number(m[1]));
  }
  const start = lines.findIndex((l) => l.startsWith("m=video"));
  if (start < 0) throw new Error("the offer has no video m-line");
  let end = lines.findIndex((l, i) => i > start && l.startsWith("m="));
  if (end < 0) end = lines.length;
  const section = lines.slice(start, end);
  const idOf = (uri: string): number => {
    const line = section.find((l) => l.startsWith("a=extmap:") && l.endsWith(` ${uri}`));
    if (line) return Number(/^a=extmap:(\d+)/.exec(line)![1]);
    // One-byte header extensions: IDs 1–14 (RFC 8285 §4.2).
    let id = 1;
    while (used.has(id)) id++;
    if (id > 14) throw new Error("no free one-byte extension ID");
    used.add(id);
    section.push(`a=extmap:${id} ${uri}`);
    return id;
  };
  const midId = idOf(MID_URI);
  const ridId = idOf(RID_URI);
  const kept = section.filter((l) => !l.startsWith("a=rid:") && !l.startsWith("a=simulcast:"));
  for (const rid of rids) kept.push(`a=rid:${rid} send`);
  kept.push(`a=simulcast:send ${rids.join(";")}`);
  const out = [...lines.slice(0, start), ...kept, ...lines.slice(end)];
  return { sdp: out.join(eol) + eol, midId, ridId };
}

/** The rids of `a=simulcast:recv` in an answer, in order; empty when absent. */
export function simulcastRecvRids(sdp: string): string[] {
  const line = sdp.split(/\r?\n/).find((l) => l.startsWith("a=simulcast:"));
  const m = line ? /\brecv\s+(\S+)/.exec(line) : null;
  return m ? m[1].split(";") : [];
}

/** A VP8 key frame's size from a frame's first payload (descriptor included), or null. */
export function vp8KeyframeSize(
  payload: Uint8Array,
): { width: number; height: number } | null {
  const offset = vp8DescriptorLength(payload);
  if (offset < 0 || !isVp8Keyframe(payload)) return null;
  const p = offset + 3;
  if (payload.length < p + 7) return null;
  if (payload[p] !== 0x9d || payload[p + 1] !== 0x01 || payload[p + 2] !== 0x2a) return null;
  return {
    width: (payload[p + 3] | (payload[p + 4] << 8)) & 0x3fff,
    height: (payload[p + 5] | (payload[p + 6] << 8)) & 0x3fff,
  };
}

/** Whether a VP8 payload starts a key frame: S=1, PID=0, P=0 (RFC 7741 §4.3). */
export function isVp8Keyframe(payload: Uint8Array): boolean {
  const offset = vp8DescriptorLength(payload);
  if (offset < 0 || offset >= payload.length) return false;
  const start = (payload[0] & 0x10) !== 0 && (payload[0] & 0x07) === 0;
  return start && (payload[offset] & 0x01) === 0;
}

/** The 15-bit (or 7-bit) PictureID of a VP8 payload descriptor, -1 if absent. */
export function vp8PictureId(payload: Uint8Array): number {
  if ((payload[0] & 0x80) === 0 || (payload[1] & 0x80) === 0) return -1;
  return (payload[2] & 0x80) !== 0 ? ((payload[2] & 0x7f) << 8) | payload[3] : payload[2] & 0x7f;
}

/** TID, TL0PICIDX (-1 when absent) and Y bit of a VP8 payload descriptor (RFC 7741 §4.2). */
export function vp8TemporalFields(
  payload: Uint8Array,
): { tid: number; tl0PicIdx: number; sync: boolean } {
  const out = { tid: -1, tl0PicIdx: -1, sync: false };
  if (payload.length < 2 || (payload[0] & 0x80) === 0) return out;
  const x = payload[1];
  let n = 2;
  if (x & 0x80) n += payload.length > n && (payload[n] & 0x80) !== 0 ? 2 : 1;
  if (x & 0x40 && n < payload.length) out.tl0PicIdx = payload[n++];
  if (x & 0x20 && n < payload.length) {
    out.tid = payload[n] >> 6;
    out.sync = (payload[n] & 0x20) !== 0;
  }
  return out;
}

/** Length of the VP8 payload descriptor (RFC 7741 §4.2), -1 if truncated. */
export function vp8DescriptorLength(payload: Uint8Array): number {
  if (payload.length < 1) return -1;
  let n = 1;
  if ((payload[0] & 0x80) === 0) return n;
  if (payload.length < 2) return -1;
  const x = payload[1];
  n++;
  if (x & 0x80) n += payload.length > n && (payload[n] & 0x80) !== 0 ? 2 : 1;
  if (x & 0x40) n++;
  if (x & 0x30) n++;
  return n <= payload.length ? n : -1;
}

/** Marks the last two payload bytes carry: `LAYER_TAG | layer index`, then the packet index. */
export const LAYER_TAG = 0xa0;

/** Which layer a payload written by the publisher came from, -1 if untagged. */
export function layerIndexOf(payload: Uint8Array): number {
  const tag = payload[payload.length - 2];
  return (tag & 0xf0) === LAYER_TAG ? tag & 0x0f : -1;
}

/** Live state of one synthetic layer. */
export interface SyntheticLayer {
  readonly spec: LayerSpec;
  readonly index: number;
  readonly ssrc: number;
  /** Sending; false stops the layer as `encodings[i].active = false` does. */
  active: boolean;
  /** Frames sent. */
  frames: number;
  /** Key frames sent, and the RTP timestamps they carried. */
  keyframeTimestamps: number[];
  /** PLIs received for this layer's SSRC. */
  plis: number;
  /**
   * When ≥ 0: the next frame stops after this many packets (no marker) and the layer goes
   * inactive, as an encoder cut off mid-frame.
   */
  stopAfterPackets: number;
}

/** Options of {@link publishSimulcast}. */
export interface SimulcastPublisherOptions {
  stunUrl: string;
  layers?: readonly LayerSpec[];
  /** Order of the rids in `a=simulcast:send` (default: the layers' order). */
  ridOrder?: readonly string[];
  /** Send a key frame on the next frame of a layer whose SSRC got a PLI (default true). */
  answerPli?: boolean;
  /** Send a sender report per layer every this many frames (default 15; 0 = none). */
  senderReportEvery?: number;
  /**
   * Send the mid and rid extensions on each layer's first this many packets only (default:
   * on every packet), as libwebrtc does until a receiver report acknowledges the SSRC.
   */
  ridPackets?: number;
}

/** A running synthetic simulcast publisher. */
export interface SimulcastPublisher {
  pc: RTCPeerConnection;
  /** WHIP session URL path. */
  location: string;
  /** The rewritten offer that was POSTed, and the server's answer. */
  offer: string;
  answer: string;
  layers: SyntheticLayer[];
  connected: Promise<void>;
  /** Sends one frame on every active layer (each its key frame when due). */
  sendFrame(): void;
  /** Sends a frame every `intervalMs` until {@link stop}. */
  start(intervalMs?: number): void;
  /** Stops the frame timer. */
  stop(): void;
  layer(rid: string): SyntheticLayer;
  /** Stops the timer and closes the peer without DELETE. */
  close(): Promise<void>;
}

const CLOCK_RATE = 90_000;
const FRAME_MS = 1000 / 30;
/** Seconds from 1900 (NTP epoch) to 1970 (RFC 5905 §6). */
const NTP_UNIX_OFFSET_S = 2_208_988_800;

/**
 * Publishes a synthetic three-layer (by default) VP8 simulcast stream to
 * `${baseUrl}/whip/${stream}`. Media starts with {@link SimulcastPublisher.start} or
 * {@link SimulcastPublisher.sendFrame}, after `connected`.
 */
export async function publishSimulcast(
  baseUrl: string,
  stream: string,
  token: string,
  options: SimulcastPublisherOptions,
): Promise<SimulcastPublisher> {
  const specs = options.layers ?? BROWSER_LAYERS;
  const answerPli = options.answerPli ?? true;
  const srEvery = options.senderReportEvery ?? 15;
  const ridPackets = options.ridPackets ?? Infinity;
  const pc = new RTCPeerConnection({
    bundlePolicy: "max-bundle",
    iceServers: [{ urls: options.stunUrl }],
    iceUseIpv6: false,
    iceAdditionalHostAddresses: ["127.0.0.1"],
    iceInterfaceAddresses: { udp4: "127.0.0.1" },
    codecs: { video: [VP8] },
    headerExtensions: {
      video: [useSdesMid(), useSdesRTPStreamId(), useTransportWideCC(), useAbsSendTime()],
    },
  });
  const transceiver = pc.addTransceiver(new MediaStreamTrack({ kind: "video" }), {
    direction: "sendonly",
  });
  const connected = new Promise<void>((resolve, reject) => {
    pc.connectionStateChange.subscribe((s) => {
      if (s === "connected") resolve();
      if (s === "failed") reject(new Error("publisher connection failed"));
    });
  });
  const rewritten = rewriteOfferForSimulcast(
    await createOffer(pc),
    options.ridOrder ?? specs.map((s) => s.rid),
  );
  const response = await fetch(`${baseUrl}/whip/${stream}`, {
    method: "POST",
    headers: { "Content-Type": "application/sdp", Authorization: `Bearer ${token}` },
    body: rewritten.sdp,
  });
  const answer = await response.text();
  if (response.status !== 201) throw new Error(`WHIP POST → ${response.status}: ${answer}`);
  await pc.setRemoteDescription({ type: "answer", sdp: answer });

  const mid = transceiver.mid ?? "0";
  const payloadType = VP8.payloadType ?? 96;
  const ssrcs = new Set<number>();
  const layers: SyntheticLayer[] = specs.map((spec, index) => {
    let ssrc = 0;
    while (ssrc === 0 || ssrcs.has(ssrc)) ssrc = crypto.getRandomValues(new Uint32Array(1))[0];
    ssrcs.add(ssrc);
    return {
      spec,
      index,
      ssrc,
      active: true,
      frames: 0,
      keyframeTimestamps: [],
      plis: 0,
      stopAfterPackets: -1,
    };
  });
  // Independent encoders: random sequence, timestamp and PictureID bases per layer.
  const random16 = () => crypto.getRandomValues(new Uint16Array(1))[0];
  const seq = layers.map(() => random16());
  const tsBase = layers.map(() => crypto.getRandomValues(new Uint32Array(1))[0]);
  const pictureId = layers.map(() => random16() & 0x7fff);
  const tl0PicIdx = layers.map(() => random16() & 0xff);
  /** Position in the temporal pattern; 0 at each key frame. */
  const patternPos = layers.map(() => 0);
  const pliPending = layers.map(() => false);
  const packetCount = layers.map(() => 0);
  const octetCount = layers.map(() => 0);
  const startMs = performance.now();
  const midBytes = Buffer.from(new TextEncoder().encode(mid));
  const ridBytes = layers.map((l) => Buffer.from(new TextEncoder().encode(l.spec.rid)));

  const dtls = () => transceiver.sender.dtlsTransport;
  const rtpTimestampAt = (i: number, nowMs: number) =>
    (tsBase[i] + Math.round((nowMs - startMs) * CLOCK_RATE / 1000)) >>> 0;

  dtls().onRtcp.subscribe((rtcp) => {
    const fb = rtcp as unknown as {
      type: number;
      feedback?: { count?: number; mediaSsrc?: number };
    };
    // PSFB (RFC 4585 §6.1) with FMT 1: PLI.
    if (fb.type !== 206 || fb.feedback?.count !== 1) return;
    const layer = layers.find((l) => l.ssrc === fb.feedback!.mediaSsrc);
    if (!layer) return;
    layer.plis++;
    if (answerPli) pliPending[layer.index] = true;
  });

  const sendLayerFrame = (layer: SyntheticLayer, nowMs: number) => {
    const i = layer.index;
    const spec = layer.spec;
    const keyframe = pliPending[i] || layer.frames % spec.keyframeInterval === spec.keyframePhase;
    pliPending[i] = false;
    const timestamp = rtpTimestampAt(i, nowMs);
    if (keyframe) layer.keyframeTimestamps.push(timestamp);
    const pid = pictureId[i];
    pictureId[i] = (pid + 1) & 0x7fff;
    const temporal = (spec.temporalLayers ?? 1) > 1;
    if (keyframe) patternPos[i] = 0;
    const pos = patternPos[i]++ % 4;
    const tid = [0, 2, 1, 2][pos];
    if (tid === 0 && layer.frames > 0) tl0PicIdx[i] = (tl0PicIdx[i] + 1) & 0xff;
    const sync = pos === 1 || pos === 2;
    // Descriptor length: X, I (15-bit), then L and T|Y with temporal layers.
    const d = temporal ? 6 : 4;
    const cut = layer.stopAfterPackets;
    const packets = cut >= 0 ? Math.min(cut, spec.packetsPerFrame) : spec.packetsPerFrame;
    if (cut >= 0) {
      layer.stopAfterPackets = -1;
      layer.active = false;
    }
    for (let p = 0; p < packets; p++) {
      const payload = Buffer.alloc(spec.payloadBytes);
      // RFC 7741 §4.2: X=1, S on the first packet, PID=0; I=1 with a 15-bit PictureID;
      // with temporal layers L=1 (TL0PICIDX) and T=1 (TID, Y).
      payload[0] = p === 0 ? 0x90 : 0x80;
      payload[1] = temporal ? 0xe0 : 0x80;
      payload[2] = 0x80 | (pid >> 8);
      payload[3] = pid & 0xff;
      if (temporal) {
        payload[4] = tl0PicIdx[i];
        payload[5] = (tid << 6) | (sync ? 0x20 : 0);
      }
      if (p === 0) {
        // RFC 6386 §9.1 frame tag: bit 0 = 0 for a key frame; show_frame set.
        payload[d] = keyframe ? 0x10 : 0x11;
        if (keyframe) {
          payload.set([0x9d, 0x01, 0x2a], d + 3);
          payload.writeUInt16LE(spec.width & 0x3fff, d + 6);
          payload.writeUInt16LE(spec.height & 0x3fff, d + 8);
        }
      }
      payload[payload.length - 2] = LAYER_TAG | i;
      payload[payload.length - 1] = p;
      const header = new RtpHeader({
        payloadType,
        sequenceNumber: seq[i],
        timestamp,
        ssrc: layer.ssrc,
        marker: p === spec.packetsPerFrame - 1,
      });
      header.extensions = packetCount[i] < ridPackets
        ? [
          { id: rewritten.midId, payload: midBytes },
          { id: rewritten.ridId, payload: ridBytes[i] },
        ]
        : [];
      seq[i] = (seq[i] + 1) & 0xffff;
      packetCount[i]++;
      octetCount[i] += payload.length;
      void dtls().sendRtp(payload, header);
    }
    layer.frames++;
    if (srEvery > 0 && layer.frames % srEvery === 1) {
      // RFC 3550 §6.4.1: the NTP and RTP timestamps of the same instant.
      const unixMs = performance.timeOrigin + nowMs;
      const seconds = Math.floor(unixMs / 1000) + NTP_UNIX_OFFSET_S;
      const fraction = Math.floor(((unixMs % 1000) / 1000) * 2 ** 32);
      const sr = new RtcpSrPacket({
        ssrc: layer.ssrc,
        senderInfo: new RtcpSenderInfo({
          ntpTimestamp: (BigInt(seconds) << 32n) | BigInt(fraction),
          rtpTimestamp: timestamp,
          packetCount: packetCount[i],
          octetCount: octetCount[i],
        }),
      });
      void dtls().sendRtcp([sr]);
    }
  };

  let timer: ReturnType<typeof setInterval> | undefined;
  const publisher: SimulcastPublisher = {
    pc,
    location: response.headers.get("Location") ?? "",
    offer: rewritten.sdp,
    answer,
    layers,
    connected,
    sendFrame() {
      const nowMs = performance.now();
      for (const layer of layers) if (layer.active) sendLayerFrame(layer, nowMs);
    },
    start(intervalMs = FRAME_MS) {
      publisher.stop();
      timer = setInterval(() => publisher.sendFrame(), intervalMs);
    },
    stop() {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
    },
    layer(rid: string) {
      const found = layers.find((l) => l.spec.rid === rid);
      if (!found) throw new Error(`no layer "${rid}"`);
      return found;
    },
    async close() {
      publisher.stop();
      await pc.close();
    },
  };
  return publisher;
}

/** One video packet as a viewer received it. */
export interface ReceivedPacket {
  seq: number;
  timestamp: number;
  ssrc: number;
  marker: boolean;
  /** Index of the publisher's layer the payload came from, -1 if untagged. */
  layer: number;
  keyframe: boolean;
  /** Size from a key frame's header, 0 otherwise. */
  width: number;
  pictureId: number;
  /** VP8 TID and TL0PICIDX, -1 when absent; Y bit. */
  tid: number;
  tl0PicIdx: number;
  sync: boolean;
  /** performance.now() at arrival. */
  arrivalMs: number;
}

/** A werift WHEP viewer that records every video packet. */
export interface RecordingViewer {
  pc: RTCPeerConnection;
  location: string;
  packets: ReceivedPacket[];
  connected: Promise<void>;
  /** The layer-selection URL from the answer's Link header, or null. */
  layerUrl: string | null;
  /** The server-sent-events URL from the answer's Link header, or null. */
  eventsUrl: string | null;
  /** Transport-cc feedback the viewer sends, null unless asked for. */
  feedback: ViewerFeedback | null;
  close(): Promise<void>;
}

/** Options of {@link playRecording}. */
export interface RecordingViewerOptions {
  stunUrl: string;
  /**
   * Negotiate transport-wide-cc and send correct feedback, as a browser does (see
   * viewer-feedback.ts for why not werift's own). Default false: receiver reports only.
   */
  transportCc?: boolean;
  /** Rewrites the answer before the viewer applies it (e.g. to go through a link shaper). */
  rewriteAnswer?: (sdp: string) => string;
}

/** Plays `${baseUrl}/whep/${stream}` with a video-only werift peer that records packets. */
export async function playRecording(
  baseUrl: string,
  stream: string,
  options: RecordingViewerOptions,
): Promise<RecordingViewer> {
  const pc = new RTCPeerConnection({
    bundlePolicy: "max-bundle",
    iceServers: [{ urls: options.stunUrl }],
    iceUseIpv6: false,
    iceAdditionalHostAddresses: ["127.0.0.1"],
    iceInterfaceAddresses: { udp4: "127.0.0.1" },
    codecs: { video: [VP8] },
    headerExtensions: {
      video: options.transportCc
        ? [useSdesMid(), useAbsSendTime(), useTransportWideCC()]
        : [useSdesMid(), useAbsSendTime()],
    },
  });
  pc.addTransceiver("video", { direction: "recvonly" });
  const packets: ReceivedPacket[] = [];
  pc.onTrack.subscribe((track) => {
    track.onReceiveRtp.subscribe((rtp) => {
      const payload = new Uint8Array(rtp.payload);
      const size = vp8KeyframeSize(payload);
      packets.push({
        seq: rtp.header.sequenceNumber,
        timestamp: rtp.header.timestamp,
        ssrc: rtp.header.ssrc,
        marker: rtp.header.marker,
        layer: layerIndexOf(payload),
        keyframe: isVp8Keyframe(payload),
        width: size?.width ?? 0,
        pictureId: vp8PictureId(payload),
        ...vp8TemporalFields(payload),
        arrivalMs: performance.now(),
      });
    });
  });
  const connected = new Promise<void>((resolve) => {
    pc.connectionStateChange.subscribe((s) => s === "connected" && resolve());
  });
  const url = `${baseUrl}/whep/${stream}`;
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/sdp" },
    body: await createOffer(pc),
  });
  const body = await response.text();
  if (response.status !== 201) throw new Error(`WHEP POST → ${response.status}: ${body}`);
  await pc.setRemoteDescription({
    type: "answer",
    sdp: options.rewriteAnswer ? options.rewriteAnswer(body) : body,
  });
  let feedback: ViewerFeedback | null = null;
  if (options.transportCc) {
    const id = extmapId(body, TRANSPORT_CC_URI);
    if (id < 0) throw new Error("the answer did not accept transport-wide-cc");
    feedback = startViewerFeedback(pc, id);
  }
  const links = parseLinks(response.headers.get("Link") ?? "", url);
  return {
    pc,
    location: response.headers.get("Location") ?? "",
    packets,
    connected,
    layerUrl: links.get("urn:ietf:params:whep:ext:core:layer") ?? null,
    eventsUrl: links.get("urn:ietf:params:whep:ext:core:server-sent-events") ?? null,
    feedback,
    close: async () => {
      feedback?.stop();
      await pc.close();
    },
  };
}

/** rel → absolute URL of a Link header (RFC 8288); enough for Quetzal's answers. */
export function parseLinks(header: string, baseUrl: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of header.matchAll(/<([^>]*)>([^<]*)/g)) {
    const rel = /;\s*rel="?([^";,]+)"?/.exec(m[2]);
    if (rel) out.set(rel[1], new URL(m[1], baseUrl).href);
  }
  return out;
}

/**
 * Received packets sorted by extended sequence number with retransmitted duplicates removed
 * (arrival order is the network's business; NACK repair sends some packets twice).
 */
export function inSequenceOrder(packets: readonly ReceivedPacket[]): ReceivedPacket[] {
  const byExt = new Map<number, ReceivedPacket>();
  let last = -1;
  let ext = 0;
  for (const p of packets) {
    ext = last < 0 ? p.seq : ext + (((p.seq - last + 32768) & 0xffff) - 32768);
    last = p.seq;
    if (!byExt.has(ext)) byExt.set(ext, p);
  }
  return [...byExt.entries()].sort((a, b) => a[0] - b[0]).map(([, p]) => p);
}
