/**
 * WHIP publishers for the bench, several per process: werift peers sending synthetic VP8
 * (RTP packets of 1100–1200 bytes, a key frame every 2 s and on PLI) and Opus-sized audio at
 * 50 packets/s through werift's stock send path. Every payload carries its send time
 * (media-clock.ts) and every packet is counted in a send-time timeline.
 *
 * Video goes through a pacer the way libwebrtc's does (a budget of 2.5× the target bitrate per
 * 5 ms tick, audio first and unpaced), so a key frame is not one 30-packet burst.
 *
 * Commands: start { url, token, streams, video, audio, videoBitrateBps, fps },
 * report { fromMs, toMs }, series { fromMs, toMs }, stop {}.
 */
import { Buffer } from "node:buffer";
import { MediaStreamTrack, RTCPeerConnection, RtpHeader, RtpPacket } from "werift";
import { Timeline } from "./media-clock.ts";
import {
  AudioSender,
  KEYFRAME_SCALE,
  keyFrameDue,
  servePublishers,
  stampSendTime,
  VideoPacer,
} from "./publisher-host.ts";
import { connected, createClientPeer, negotiate } from "./werift-peer.ts";

const timeline = new Timeline();
const PACKET_BYTES = 1150;

interface PublishOptions {
  video: boolean;
  audio: boolean;
  videoBitrateBps: number;
  fps: number;
}

class Publisher {
  readonly pc: RTCPeerConnection;
  readonly video = new MediaStreamTrack({ kind: "video" });
  readonly audioTrack = new MediaStreamTrack({ kind: "audio" });
  readonly audio = new AudioSender(this.audioTrack, timeline);
  readonly options: PublishOptions;
  seq = 1000;
  ts = 5000;
  nextFrameMs = 0;
  lastKeyMs = -Infinity;
  keyRequested = false;
  /** Paced video packets waiting: 1 = key-frame start, 2 = marker (frame end), per packet. */
  readonly pacer = new VideoPacer(4 * PACKET_BYTES);

  constructor(stunUrl: string, options: PublishOptions) {
    this.options = options;
    this.pc = createClientPeer(stunUrl);
    if (options.video) {
      const t = this.pc.addTransceiver(this.video, { direction: "sendonly" });
      t.sender.onPictureLossIndication.subscribe(() => this.keyRequested = true);
    }
    if (options.audio) this.pc.addTransceiver(this.audioTrack, { direction: "sendonly" });
  }

  /** Sends whatever is due at `nowMs` (frames are sent as a burst, as encoders do). */
  tick(nowMs: number): void {
    const o = this.options;
    if (o.video && nowMs >= this.nextFrameMs) {
      this.nextFrameMs = Math.max(this.nextFrameMs + 1000 / o.fps, nowMs - 100);
      const key = keyFrameDue(nowMs, this.lastKeyMs, this.keyRequested);
      if (key) {
        this.lastKeyMs = nowMs;
        this.keyRequested = false;
      }
      const perFrame = Math.max(1, Math.round(o.videoBitrateBps / 8 / o.fps / PACKET_BYTES));
      const count = key ? perFrame * KEYFRAME_SCALE : perFrame;
      for (let i = 0; i < count; i++) {
        this.pacer.queue.push((key && i === 0 ? 1 : 0) | (i === count - 1 ? 2 : 0));
      }
    }
    if (o.audio) this.audio.tick(nowMs);
    if (o.video) this.pacer.drain(nowMs, o.videoBitrateBps, this.#sendQueued);
  }

  readonly #sendQueued = (flags: number): number => {
    this.#sendVideo((flags & 1) !== 0, (flags & 2) !== 0);
    if ((flags & 2) !== 0) this.ts = (this.ts + Math.round(90000 / this.options.fps)) >>> 0;
    return PACKET_BYTES;
  };

  #sendVideo(keyStart: boolean, marker: boolean): void {
    // RTP packets of 1100–1200 bytes: 12-byte header + werift's extensions (~12) + payload.
    const payload = Buffer.alloc(1076 + (this.seq % 96));
    payload[0] = 0x10; // RFC 7741 descriptor: S=1, PartID 0
    if (keyStart) {
      payload[1] = 0x00; // P=0: key frame
      payload.set([0x9d, 0x01, 0x2a, 640 & 0xff, 640 >> 8, 480 & 0xff, 480 >> 8], 4);
    } else {
      payload[1] = 0x01;
    }
    stampSendTime(payload, timeline);
    const header = new RtpHeader({
      payloadType: 96,
      sequenceNumber: this.seq++ & 0xffff,
      timestamp: this.ts,
      marker,
    });
    this.video.writeRtp(new RtpPacket(header, payload));
  }
}

await servePublishers<Publisher>({
  async open(stunUrl, whipUrl, token, start) {
    const publisher = new Publisher(stunUrl, {
      video: start.video !== false,
      audio: start.audio !== false,
      videoBitrateBps: Number(start.videoBitrateBps ?? 2_500_000),
      fps: Number(start.fps ?? 30),
    });
    await negotiate(publisher.pc, whipUrl, token);
    await connected(publisher.pc);
    return publisher;
  },
  query(command) {
    switch (command.cmd) {
      case "report":
        return { sent: timeline.sum(Number(command.fromMs), Number(command.toMs)) };
      case "series":
        return { series: timeline.series(Number(command.fromMs), Number(command.toMs)) };
    }
  },
  prune: (beforeMs) => timeline.prune(beforeMs),
});
