/**
 * Simulcast WHIP publishers for the bench, several per process: werift peers whose offer is
 * rewritten to declare three rids (RFC 8853), sending synthetic VP8 on one SSRC per layer with
 * the mid and rid header extensions (RFC 8843 §15, RFC 8852) straight through the DTLS
 * transport's SRTP session (werift's sender cannot send simulcast; see
 * test/support/simulcast-publisher.ts, whose offer rewrite this reuses), plus Opus-sized audio
 * at 50 packets/s through werift's stock send path.
 *
 * Every payload carries its send time (media-clock.ts) and is counted in one send-time timeline
 * per layer and one for audio, so the meeting can expect, per viewer, the audio plus the layer
 * that viewer was pinned to. Key frames come every 2 s per layer (phases spread over streams and
 * layers) and on a PLI for that layer's SSRC; video is paced at 2.5× the layer bitrates as
 * libwebrtc's pacer does, so a 720p key frame is not one burst.
 *
 * Commands: start { url, token, streams }, report { fromMs, toMs }, stop {}.
 */
import { Buffer } from "node:buffer";
import {
  MediaStreamTrack,
  RTCPeerConnection,
  RtpHeader,
  useAbsSendTime,
  useSdesMid,
  useSdesRTPStreamId,
  useTransportWideCC,
} from "werift";
import { rewriteOfferForSimulcast } from "../../test/support/simulcast-publisher.ts";
import { epochMs, Timeline } from "./media-clock.ts";
import {
  AudioSender,
  KEYFRAME_INTERVAL_MS,
  KEYFRAME_SCALE,
  keyFrameDue,
  servePublishers,
  stampSendTime,
  VideoPacer,
} from "./publisher-host.ts";
import { connected, createClientPeer, VP8 } from "./werift-peer.ts";

/** One simulcast encoding: rid, key-frame size and target bitrate. */
interface MeetingLayer {
  rid: string;
  width: number;
  height: number;
  bitrateBps: number;
}

/** 180p / 360p / 720p at 150 kbit/s, 500 kbit/s and 1.7 Mbit/s, rids in browser style. */
const MEETING_LAYERS: readonly MeetingLayer[] = [
  { rid: "q", width: 320, height: 180, bitrateBps: 150_000 },
  { rid: "h", width: 640, height: 360, bitrateBps: 500_000 },
  { rid: "f", width: 1280, height: 720, bitrateBps: 1_700_000 },
];

const videoTimelines = MEETING_LAYERS.map(() => new Timeline());
const audioTimeline = new Timeline();
const FPS = 30;
const MAX_PAYLOAD_BYTES = 1150;

/** Per layer: payload bytes and packets of an inter frame at the layer's bitrate. */
const FRAME_SHAPE = MEETING_LAYERS.map((l) => {
  const frameBytes = l.bitrateBps / 8 / FPS;
  const packets = Math.max(1, Math.ceil(frameBytes / MAX_PAYLOAD_BYTES));
  return { packets, payloadBytes: Math.max(64, Math.round(frameBytes / packets)) };
});
const TOTAL_VIDEO_BPS = MEETING_LAYERS.reduce((n, l) => n + l.bitrateBps, 0);

class SimulcastPublisher {
  readonly pc: RTCPeerConnection;
  readonly audioTrack = new MediaStreamTrack({ kind: "audio" });
  readonly audio = new AudioSender(this.audioTrack, audioTimeline);
  readonly videoTransceiver;
  readonly ssrcs: number[];
  readonly seq = MEETING_LAYERS.map(() => crypto.getRandomValues(new Uint16Array(1))[0]);
  readonly pictureId = MEETING_LAYERS.map(() => 0);
  readonly lastKeyMs: number[];
  readonly pliPending = MEETING_LAYERS.map(() => false);
  midId = 0;
  ridId = 0;
  midBytes = Buffer.from("0");
  readonly ridBytes = MEETING_LAYERS.map((l) => Buffer.from(l.rid));
  ts = 5000;
  nextFrameMs = 0;
  /** Paced packets: layer index | 4 = key-frame start | 8 = marker (frame end). */
  readonly pacer = new VideoPacer(4 * MAX_PAYLOAD_BYTES);

  constructor(stunUrl: string, index: number) {
    this.pc = createClientPeer(stunUrl, [
      useSdesMid(),
      useSdesRTPStreamId(),
      useTransportWideCC(),
      useAbsSendTime(),
    ]);
    this.videoTransceiver = this.pc.addTransceiver(new MediaStreamTrack({ kind: "video" }), {
      direction: "sendonly",
    });
    this.pc.addTransceiver(this.audioTrack, { direction: "sendonly" });
    const used = new Set<number>();
    this.ssrcs = MEETING_LAYERS.map(() => {
      let ssrc = 0;
      while (ssrc === 0 || used.has(ssrc)) ssrc = crypto.getRandomValues(new Uint32Array(1))[0];
      used.add(ssrc);
      return ssrc;
    });
    // Spread key frames over streams and layers, as independent encoders would.
    const now = epochMs();
    this.lastKeyMs = MEETING_LAYERS.map((_, layer) =>
      now - ((index * 397 + layer * 661) % KEYFRAME_INTERVAL_MS)
    );
  }

  async publish(url: string, token: string): Promise<void> {
    await this.pc.setLocalDescription(await this.pc.createOffer());
    await new Promise<void>((resolve) => {
      if (this.pc.iceGatheringState === "complete") return resolve();
      this.pc.iceGatheringStateChange.subscribe((s) => s === "complete" && resolve());
    });
    const rewritten = rewriteOfferForSimulcast(
      this.pc.localDescription!.sdp,
      MEETING_LAYERS.map((l) => l.rid),
    );
    this.midId = rewritten.midId;
    this.ridId = rewritten.ridId;
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/sdp", Authorization: `Bearer ${token}` },
      body: rewritten.sdp,
    });
    const answer = await response.text();
    if (response.status !== 201) throw new Error(`POST ${url} → ${response.status}: ${answer}`);
    await this.pc.setRemoteDescription({ type: "answer", sdp: answer });
    this.midBytes = Buffer.from(this.videoTransceiver.mid ?? "0");
    this.videoTransceiver.sender.dtlsTransport.onRtcp.subscribe((rtcp) => {
      const fb = rtcp as unknown as {
        type: number;
        feedback?: { count?: number; mediaSsrc?: number };
      };
      // PSFB (RFC 4585 §6.1) with FMT 1: a PLI, answered on that layer only.
      if (fb.type !== 206 || fb.feedback?.count !== 1) return;
      const layer = this.ssrcs.indexOf(fb.feedback.mediaSsrc ?? -1);
      if (layer >= 0) this.pliPending[layer] = true;
    });
    await connected(this.pc);
  }

  tick(nowMs: number): void {
    if (nowMs >= this.nextFrameMs) {
      this.nextFrameMs = Math.max(this.nextFrameMs + 1000 / FPS, nowMs - 100);
      for (let layer = 0; layer < MEETING_LAYERS.length; layer++) {
        const key = keyFrameDue(nowMs, this.lastKeyMs[layer], this.pliPending[layer]);
        if (key) {
          this.lastKeyMs[layer] = nowMs;
          this.pliPending[layer] = false;
        }
        const count = FRAME_SHAPE[layer].packets * (key ? KEYFRAME_SCALE : 1);
        for (let i = 0; i < count; i++) {
          this.pacer.queue.push(layer | (key && i === 0 ? 4 : 0) | (i === count - 1 ? 8 : 0));
        }
      }
      // One capture instant for every layer of a frame, as a simulcast encoder stamps them.
      this.ts = (this.ts + 90000 / FPS) >>> 0;
    }
    this.audio.tick(nowMs);
    this.pacer.drain(nowMs, TOTAL_VIDEO_BPS, this.#sendQueued);
  }

  readonly #sendQueued = (flags: number): number => {
    const layer = flags & 3;
    this.#sendVideo(layer, (flags & 4) !== 0, (flags & 8) !== 0);
    return FRAME_SHAPE[layer].payloadBytes;
  };

  #sendVideo(layer: number, keyStart: boolean, marker: boolean): void {
    const spec = MEETING_LAYERS[layer];
    const payload = Buffer.alloc(FRAME_SHAPE[layer].payloadBytes);
    const pid = this.pictureId[layer];
    // RFC 7741 §4.2: X=1, S on a frame's first packet, PID=0; I=1 with a 15-bit PictureID.
    payload[0] = keyStart ? 0x90 : 0x80;
    payload[1] = 0x80;
    payload[2] = 0x80 | (pid >> 8);
    payload[3] = pid & 0xff;
    // RFC 6386 §9.1 frame tag: bit 0 = 0 for a key frame, with the layer's size after 9d 01 2a.
    payload[4] = keyStart ? 0x10 : 0x11;
    if (keyStart) {
      payload.set([0x9d, 0x01, 0x2a], 7);
      payload.writeUInt16LE(spec.width & 0x3fff, 10);
      payload.writeUInt16LE(spec.height & 0x3fff, 12);
    }
    if (marker) this.pictureId[layer] = (pid + 1) & 0x7fff;
    stampSendTime(payload, videoTimelines[layer]);
    const header = new RtpHeader({
      payloadType: VP8.payloadType ?? 96,
      sequenceNumber: this.seq[layer],
      timestamp: this.ts,
      ssrc: this.ssrcs[layer],
      marker,
    });
    header.extensions = [
      { id: this.midId, payload: this.midBytes },
      { id: this.ridId, payload: this.ridBytes[layer] },
    ];
    this.seq[layer] = (this.seq[layer] + 1) & 0xffff;
    void this.videoTransceiver.sender.dtlsTransport.sendRtp(payload, header);
  }
}

await servePublishers<SimulcastPublisher>({
  async open(stunUrl, whipUrl, token, _start, index) {
    const publisher = new SimulcastPublisher(stunUrl, index);
    await publisher.publish(whipUrl, token);
    return publisher;
  },
  query(command) {
    if (command.cmd !== "report") return undefined;
    const from = Number(command.fromMs), to = Number(command.toMs);
    const video: Record<string, number> = {};
    MEETING_LAYERS.forEach((l, i) => video[l.rid] = videoTimelines[i].sum(from, to));
    return { audio: audioTimeline.sum(from, to), video };
  },
  prune(beforeMs) {
    audioTimeline.prune(beforeMs);
    for (const t of videoTimelines) t.prune(beforeMs);
  },
});
