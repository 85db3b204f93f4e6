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
import { startStunStub } from "../../test/support/stun-stub.ts";
import { type Command, serveCommands } from "./child-protocol.ts";
import { epochMs, SEND_TIME_OFFSET, Timeline } from "./media-clock.ts";
import { connected, createClientPeer, negotiate } from "./werift-peer.ts";

const stun = await startStunStub();
const timeline = new Timeline();
const TICK_MS = 5;
const KEYFRAME_INTERVAL_MS = 2000;
const KEYFRAME_SCALE = 3; // a key frame is about three inter frames
const AUDIO_INTERVAL_MS = 20;
const AUDIO_PAYLOAD_BYTES = 100;
/** libwebrtc's pacing factor: video may leave at 2.5× its target bitrate. */
const PACING_FACTOR = 2.5;
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
  readonly audio = new MediaStreamTrack({ kind: "audio" });
  readonly options: PublishOptions;
  seq = 1000;
  ts = 5000;
  aseq = 1;
  ats = 0;
  nextFrameMs = 0;
  nextAudioMs = 0;
  lastKeyMs = -Infinity;
  keyRequested = false;
  sent = 0;
  /** Paced video packets waiting: 1 = key-frame start, 2 = marker (frame end), per packet. */
  readonly queue: number[] = [];
  budgetBytes = 0;
  lastTickMs = 0;

  constructor(options: PublishOptions) {
    this.options = options;
    this.pc = createClientPeer(stun.url);
    if (options.video) {
      const t = this.pc.addTransceiver(this.video, { direction: "sendonly" });
      t.sender.onPictureLossIndication.subscribe(() => this.keyRequested = true);
    }
    if (options.audio) this.pc.addTransceiver(this.audio, { direction: "sendonly" });
  }

  /** Sends whatever is due at `nowMs` (frames are sent as a burst, as encoders do). */
  tick(nowMs: number): void {
    const o = this.options;
    if (o.video && nowMs >= this.nextFrameMs) {
      this.nextFrameMs = Math.max(this.nextFrameMs + 1000 / o.fps, nowMs - 100);
      const key = this.keyRequested && nowMs - this.lastKeyMs > 500 ||
        nowMs - this.lastKeyMs >= KEYFRAME_INTERVAL_MS;
      if (key) {
        this.lastKeyMs = nowMs;
        this.keyRequested = false;
      }
      const perFrame = Math.max(1, Math.round(o.videoBitrateBps / 8 / o.fps / PACKET_BYTES));
      const count = key ? perFrame * KEYFRAME_SCALE : perFrame;
      for (let i = 0; i < count; i++) {
        this.queue.push((key && i === 0 ? 1 : 0) | (i === count - 1 ? 2 : 0));
      }
    }
    if (o.audio && nowMs >= this.nextAudioMs) {
      this.nextAudioMs = Math.max(this.nextAudioMs + AUDIO_INTERVAL_MS, nowMs - 100);
      const payload = Buffer.alloc(AUDIO_PAYLOAD_BYTES, 0x11);
      this.#stamp(payload);
      const header = new RtpHeader({
        payloadType: 111,
        sequenceNumber: this.aseq++ & 0xffff,
        timestamp: this.ats,
        marker: false,
      });
      this.ats = (this.ats + 960) >>> 0;
      this.audio.writeRtp(new RtpPacket(header, payload));
    }
    if (o.video) this.#pace(nowMs);
  }

  #pace(nowMs: number): void {
    const elapsedMs = Math.min(50, nowMs - (this.lastTickMs || nowMs));
    this.lastTickMs = nowMs;
    const rateBytesPerMs = (this.options.videoBitrateBps * PACING_FACTOR) / 8 / 1000;
    this.budgetBytes = Math.min(this.budgetBytes + elapsedMs * rateBytesPerMs, 4 * PACKET_BYTES);
    while (this.queue.length > 0 && this.budgetBytes > 0) {
      const flags = this.queue.shift()!;
      this.#sendVideo((flags & 1) !== 0, (flags & 2) !== 0);
      this.budgetBytes -= PACKET_BYTES;
      if ((flags & 2) !== 0) this.ts = (this.ts + Math.round(90000 / this.options.fps)) >>> 0;
    }
  }

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
    this.#stamp(payload);
    const header = new RtpHeader({
      payloadType: 96,
      sequenceNumber: this.seq++ & 0xffff,
      timestamp: this.ts,
      marker,
    });
    this.video.writeRtp(new RtpPacket(header, payload));
  }

  #stamp(payload: Buffer): void {
    const sendMs = epochMs();
    new DataView(payload.buffer, payload.byteOffset, payload.length).setFloat64(
      SEND_TIME_OFFSET,
      sendMs,
      true,
    );
    timeline.add(sendMs);
    this.sent++;
  }
}

const publishers: Publisher[] = [];
let timer: ReturnType<typeof setInterval> | undefined;

async function handle(command: Command): Promise<Record<string, unknown>> {
  switch (command.cmd) {
    case "start": {
      const options: PublishOptions = {
        video: command.video !== false,
        audio: command.audio !== false,
        videoBitrateBps: Number(command.videoBitrateBps ?? 2_500_000),
        fps: Number(command.fps ?? 30),
      };
      for (const stream of command.streams as string[]) {
        const publisher = new Publisher(options);
        await negotiate(publisher.pc, `${command.url}/whip/${stream}`, String(command.token));
        await connected(publisher.pc);
        publishers.push(publisher);
      }
      timer ??= setInterval(() => {
        const now = epochMs();
        for (const p of publishers) p.tick(now);
      }, TICK_MS);
      return { publishers: publishers.length };
    }
    case "report":
      return { sent: timeline.sum(Number(command.fromMs), Number(command.toMs)) };
    case "series":
      return { series: timeline.series(Number(command.fromMs), Number(command.toMs)) };
    case "stop":
      clearInterval(timer);
      timer = undefined;
      return {};
    default:
      throw new Error(`unknown command ${command.cmd}`);
  }
}

const pruner = setInterval(() => timeline.prune(epochMs() - 120_000), 10_000);
await serveCommands(handle);
clearInterval(pruner);
clearInterval(timer);
await Promise.all(publishers.map((p) => p.pc.close().catch(() => {})));
await stun.close();
Deno.exit(0);
