/**
 * werift peers acting as a WHIP publisher and WHEP viewers in integration tests, over real
 * ICE, DTLS and SRTP on 127.0.0.1.
 */
import { Buffer } from "node:buffer";
import {
  MediaStreamTrack,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RtpHeader,
  RtpPacket,
  useAbsSendTime,
  useSdesMid,
  useTransportWideCC,
} from "werift";

export const VP8 = new RTCRtpCodecParameters({
  mimeType: "video/VP8",
  clockRate: 90000,
  rtcpFeedback: [{ type: "nack" }, { type: "nack", parameter: "pli" }, { type: "transport-cc" }],
});
export const H264 = new RTCRtpCodecParameters({
  mimeType: "video/H264",
  clockRate: 90000,
  parameters: "profile-level-id=42e01f;packetization-mode=1;level-asymmetry-allowed=1",
  rtcpFeedback: [{ type: "nack" }, { type: "nack", parameter: "pli" }],
});
export const OPUS = new RTCRtpCodecParameters({
  mimeType: "audio/opus",
  clockRate: 48000,
  channels: 2,
});

export interface ClientOptions {
  stunUrl: string;
  /** The one local address ICE uses (default 127.0.0.1; a network namespace's own address). */
  hostIp?: string;
  video?: RTCRtpCodecParameters[];
  /** werift's debug knob: keeps `outboundPacketLoss`% of outgoing packets (sic). */
  keepPercent?: number;
  /**
   * werift's debug knob: keeps `inboundPacketLoss`% of incoming SRTP/SRTCP packets, dropped
   * before decryption (so before its NACK handler sees them).
   */
  inboundKeepPercent?: number;
  /** For HTTPS with a test certificate: a client that trusts it (`Deno.createHttpClient`). */
  httpClient?: Deno.HttpClient;
}

export function createPeer(options: ClientOptions): RTCPeerConnection {
  return new RTCPeerConnection({
    bundlePolicy: "max-bundle",
    iceServers: [{ urls: options.stunUrl }],
    iceUseIpv6: false,
    iceAdditionalHostAddresses: [options.hostIp ?? "127.0.0.1"],
    iceInterfaceAddresses: { udp4: options.hostIp ?? "127.0.0.1" },
    codecs: { audio: [OPUS], video: options.video ?? [VP8] },
    headerExtensions: {
      video: [useSdesMid(), useTransportWideCC(), useAbsSendTime()],
      audio: [useSdesMid()],
    },
    debug: {
      ...(options.keepPercent !== undefined ? { outboundPacketLoss: options.keepPercent } : {}),
      ...(options.inboundKeepPercent !== undefined
        ? { inboundPacketLoss: options.inboundKeepPercent }
        : {}),
    },
  });
}

/**
 * Changes a peer's induced loss while it runs: werift reads its `debug` config per packet.
 * `undefined` turns the direction's loss off; otherwise the percentage of packets kept.
 */
export function setKeepPercent(
  pc: RTCPeerConnection,
  outbound: number | undefined,
  inbound?: number,
): void {
  const debug = pc.config.debug;
  debug.outboundPacketLoss = outbound;
  debug.inboundPacketLoss = inbound;
}

/**
 * Drops incoming RTP datagrams for which `drop(ssrc, seq)` is true, before werift decrypts
 * them (SRTP leaves the RTP header in the clear, RFC 3711 §3.1), so its NACK handler sees the
 * gap. Unlike `inboundKeepPercent`, the caller chooses, e.g. first transmissions only.
 */
export function dropIncomingRtp(
  pc: RTCPeerConnection,
  drop: (ssrc: number, seq: number) => boolean,
): void {
  const transport = pc.dtlsTransports[0] as unknown as {
    iceTransport: { connection: { onData: { execute: (data: Uint8Array) => void } } };
  };
  const onData = transport.iceTransport.connection.onData;
  const deliver = onData.execute;
  onData.execute = (data: Uint8Array) => {
    const pt = data[1] & 0x7f;
    // RFC 7983 demux: RTP/RTCP first byte 128–191; RFC 5761 §4: payload types 64–95 are RTCP.
    if (data.length >= 12 && data[0] >= 128 && data[0] <= 191 && (pt < 64 || pt > 95)) {
      const ssrc = ((data[8] << 24) | (data[9] << 16) | (data[10] << 8) | data[11]) >>> 0;
      if (drop(ssrc, (data[2] << 8) | data[3])) return;
    }
    deliver(data);
  };
}

/** Creates the peer's offer and waits for local gathering; returns the SDP to POST. */
export async function createOffer(pc: RTCPeerConnection): Promise<string> {
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise<void>((resolve) => {
    if (pc.iceGatheringState === "complete") return resolve();
    pc.iceGatheringStateChange.subscribe((s) => s === "complete" && resolve());
  });
  return pc.localDescription!.sdp;
}

async function exchange(
  pc: RTCPeerConnection,
  url: string,
  token?: string,
  client?: Deno.HttpClient,
): Promise<{ location: string; response: Response }> {
  const sdp = await createOffer(pc);
  const response = await fetch(url, {
    client,
    method: "POST",
    headers: {
      "Content-Type": "application/sdp",
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
    },
    body: sdp,
  });
  const body = await response.text();
  if (response.status !== 201) throw new Error(`POST ${url} → ${response.status}: ${body}`);
  await pc.setRemoteDescription({ type: "answer", sdp: body });
  return { location: response.headers.get("Location")!, response };
}

export interface Publisher {
  pc: RTCPeerConnection;
  location: string;
  video: MediaStreamTrack;
  audio: MediaStreamTrack;
  /** PLIs the publisher received. */
  plis: number;
  /** Sequence numbers NACKed to the publisher (werift retransmits them from its cache). */
  nackedSeqs: number;
  connected: Promise<void>;
  /** Sends a synthetic VP8 packet; the frame (timestamp) ends with `marker`. */
  sendVideo(keyframe: boolean, marker?: boolean): void;
  /** Sends any video payload; the frame (timestamp) ends with `marker`. */
  sendVideoPayload(payload: Uint8Array, marker?: boolean): void;
  sendAudio(): void;
  /** Closes the peer without DELETE (werift sends no DTLS close_notify: the peer just stops). */
  close(): Promise<void>;
}

export async function publish(
  baseUrl: string,
  stream: string,
  token: string,
  options: ClientOptions,
): Promise<Publisher> {
  const pc = createPeer(options);
  const video = new MediaStreamTrack({ kind: "video" });
  const audio = new MediaStreamTrack({ kind: "audio" });
  const vt = pc.addTransceiver(video, { direction: "sendonly" });
  pc.addTransceiver(audio, { direction: "sendonly" });
  const connected = new Promise<void>((resolve) => {
    pc.connectionStateChange.subscribe((s) => s === "connected" && resolve());
  });
  const { location } = await exchange(
    pc,
    `${baseUrl}/whip/${stream}`,
    token,
    options.httpClient,
  );
  let seq = 1000, ts = 5000, aseq = 1, ats = 0;
  const publisher: Publisher = {
    pc,
    location,
    video,
    audio,
    plis: 0,
    nackedSeqs: 0,
    connected,
    sendVideo(keyframe: boolean, marker = true) {
      publisher.sendVideoPayload(vp8Payload(keyframe), marker);
    },
    sendVideoPayload(payload: Uint8Array, marker = true) {
      const header = new RtpHeader({
        payloadType: 96,
        sequenceNumber: seq++ & 0xffff,
        timestamp: ts,
        marker,
      });
      if (marker) ts += 3000;
      video.writeRtp(new RtpPacket(header, Buffer.from(payload)));
    },
    sendAudio() {
      const header = new RtpHeader({
        payloadType: 111,
        sequenceNumber: aseq++ & 0xffff,
        timestamp: ats,
        marker: false,
      });
      ats += 960;
      audio.writeRtp(new RtpPacket(header, Buffer.alloc(80, 0x11)));
    },
    close: () => pc.close(),
  };
  vt.sender.onPictureLossIndication.subscribe(() => publisher.plis++);
  vt.sender.onGenericNack.subscribe((nack) => publisher.nackedSeqs += nack.lost.length);
  return publisher;
}

/** A VP8 payload (RFC 7741 descriptor + frame tag); key frames carry a 640×480 header. */
export function vp8Payload(keyframe: boolean): Buffer {
  const out = Buffer.alloc(1100);
  out[0] = 0x10; // S=1, PID=0
  if (keyframe) {
    out[1] = 0x00; // P=0: key frame
    out[2] = 0x00;
    out[3] = 0x00;
    out.set([0x9d, 0x01, 0x2a, 640 & 0xff, 640 >> 8, 480 & 0xff, 480 >> 8], 4);
  } else {
    out[1] = 0x01; // P=1: inter frame
  }
  for (let i = 12; i < out.length; i++) out[i] = i & 0xff;
  return out;
}

export interface Viewer {
  pc: RTCPeerConnection;
  location: string;
  /** Sequence numbers of the video packets received, in arrival order. */
  videoSeqs: number[];
  /** RTP timestamps of the video packets received, in arrival order. */
  videoTimestamps: number[];
  /** First payload byte of each video packet (an H264 NAL header), in arrival order. */
  videoFirstBytes: number[];
  videoSsrcs: Set<number>;
  videoPayloadTypes: Set<number>;
  audioPackets: number;
  keyframes: number;
  /** Index (in `videoSeqs`) of the first VP8 key-frame packet received, or -1. */
  firstKeyframeAt: number;
  /** NACK packets werift's receiver sent (it NACKs gaps every 5 ms, up to 10 times). */
  nacksSent: number;
  connected: Promise<void>;
  sendPli(): void;
  /** Closes the peer without DELETE (werift sends no DTLS close_notify: the peer just stops). */
  close(): Promise<void>;
}

export async function play(
  baseUrl: string,
  stream: string,
  options: ClientOptions & { token?: string },
): Promise<Viewer> {
  const pc = createPeer(options);
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  const viewer: Viewer = {
    pc,
    location: "",
    videoSeqs: [],
    videoTimestamps: [],
    videoFirstBytes: [],
    videoSsrcs: new Set(),
    videoPayloadTypes: new Set(),
    audioPackets: 0,
    keyframes: 0,
    firstKeyframeAt: -1,
    nacksSent: 0,
    connected: new Promise<void>((resolve) => {
      pc.connectionStateChange.subscribe((s) => s === "connected" && resolve());
    }),
    sendPli() {
      const receiver = pc.getTransceivers().find((t) => t.kind === "video")!.receiver;
      const ssrc = [...viewer.videoSsrcs][0];
      if (ssrc !== undefined) void receiver.sendRtcpPLI(ssrc);
    },
    close: () => pc.close(),
  };
  pc.onTrack.subscribe((track) => {
    track.onReceiveRtp.subscribe((rtp) => {
      if (track.kind === "video") {
        viewer.videoSeqs.push(rtp.header.sequenceNumber);
        viewer.videoTimestamps.push(rtp.header.timestamp);
        viewer.videoFirstBytes.push(rtp.payload[0]);
        viewer.videoSsrcs.add(rtp.header.ssrc);
        viewer.videoPayloadTypes.add(rtp.header.payloadType);
        if (rtp.payload[0] === 0x10 && (rtp.payload[1] & 1) === 0) {
          if (viewer.keyframes++ === 0) viewer.firstKeyframeAt = viewer.videoSeqs.length - 1;
        }
      } else {
        viewer.audioPackets++;
      }
    });
  });
  for (const t of pc.getTransceivers()) {
    t.receiver.onPacketLost.subscribe(() => viewer.nacksSent++);
  }
  const { location } = await exchange(
    pc,
    `${baseUrl}/whep/${stream}`,
    options.token,
    options.httpClient,
  );
  viewer.location = location;
  return viewer;
}

/** Polls until `check` is true or `timeoutMs` passes (a liveness bound, not a timing assertion). */
export async function waitFor(
  check: () => boolean,
  timeoutMs = 10_000,
  what = "condition",
): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * werift's DTLS flights wait on uncancellable 0.5–1 s retransmission timers; let them run out
 * so the test's op sanitizer sees only Quetzal's own (cleared) timers.
 */
export function settleWeriftTimers(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 1100));
}

/**
 * Sends `frames` one-packet video frames (a key frame every `keyframeEvery`) and an audio
 * packet every third, yielding to the event loop now and then so werift's send promises run.
 */
export async function sendFrames(
  publisher: Publisher,
  frames: number,
  keyframeEvery = 60,
): Promise<void> {
  for (let i = 0; i < frames; i++) {
    publisher.sendVideo(i % keyframeEvery === 0);
    if (i % 3 === 0) publisher.sendAudio();
    if (i % 5 === 0) await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Continuity of a received sequence space: after unwrapping (RFC 3550 16-bit wrap) and
 * de-duplicating, how many numbers arrived and how many are missing inside their range.
 * Arrival order is the network's business, so reordering is not a hole.
 */
export function holesOf(seqs: number[]): { unique: number; holes: number } {
  if (seqs.length === 0) return { unique: 0, holes: 0 };
  const unique = [...new Set(unwrapSeqs(seqs))].sort((a, b) => a - b);
  return {
    unique: unique.length,
    holes: unique[unique.length - 1] - unique[0] + 1 - unique.length,
  };
}

/** 16-bit sequence numbers in arrival order → extended numbers (each step taken as the shorter way). */
export function unwrapSeqs(seqs: number[]): number[] {
  const out: number[] = [];
  let last = -1;
  let ext = 0;
  for (const seq of seqs) {
    if (last >= 0) ext += ((seq - last + 32768) & 0xffff) - 32768;
    else ext = seq;
    last = seq;
    out.push(ext);
  }
  return out;
}

/** The session ID at the end of a WHIP/WHEP resource URL. */
export function sessionIdOf(location: string): string {
  return location.slice(location.lastIndexOf("/") + 1);
}

/**
 * Waits until the server's side of a session is connected too (DTLS done there). The client's
 * "connected" can come first, and Quetzal sends nothing on a transport that is not up yet.
 */
export function serverSideConnected(
  manager: { connected(id: string): boolean },
  location: string,
): Promise<void> {
  const id = sessionIdOf(location);
  return waitFor(() => manager.connected(id), 10_000, `server side of ${id}`);
}

/**
 * Answers a server's offer (a subscribe connection, where the server offers): applies it,
 * answers, waits for local gathering and returns the answer's SDP. Works for re-offers too;
 * `setup` (first answer only) picks the client's DTLS role.
 */
export async function answerOffer(
  pc: RTCPeerConnection,
  offer: string,
  { setup }: { setup?: "passive" } = {},
): Promise<string> {
  await pc.setRemoteDescription({ type: "offer", sdp: offer });
  const answer = await pc.createAnswer();
  // werift answers actpass with active; "passive" makes the client the DTLS server instead.
  const sdp = setup ? answer.sdp.replaceAll("a=setup:active", `a=setup:${setup}`) : answer.sdp;
  await pc.setLocalDescription({ type: "answer", sdp });
  await new Promise<void>((resolve) => {
    if (pc.iceGatheringState === "complete") return resolve();
    pc.iceGatheringStateChange.subscribe((s) => s === "complete" && resolve());
  });
  return pc.localDescription!.sdp;
}
