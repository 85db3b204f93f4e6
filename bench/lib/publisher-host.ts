/**
 * What the bench's WHIP publisher processes share: send-time stamping, Opus-sized audio at
 * 50 packets/s, a video pacer in libwebrtc's manner, the key-frame schedule, and the process
 * around them (a STUN stub, the start/stop command protocol, a 5 ms send tick, timeline pruning
 * and closing). publisher-process.ts and simulcast-publisher-process.ts differ only in how a
 * publisher negotiates and what video it sends.
 */
import { Buffer } from "node:buffer";
import { type MediaStreamTrack, type RTCPeerConnection, RtpHeader, RtpPacket } from "werift";
import { startStunStub } from "../../test/support/stun-stub.ts";
import { type Command, serveCommands } from "./child-protocol.ts";
import { epochMs, SEND_TIME_OFFSET, type Timeline } from "./media-clock.ts";

const TICK_MS = 5;
export const KEYFRAME_INTERVAL_MS = 2000;
/** A key frame is about three inter frames. */
export const KEYFRAME_SCALE = 3;
const AUDIO_INTERVAL_MS = 20;
const AUDIO_PAYLOAD_BYTES = 100;
/** libwebrtc's pacing factor: video may leave at 2.5× its target bitrate. */
const PACING_FACTOR = 2.5;

/** Writes the send time into `payload` and counts the packet in `timeline`. */
export function stampSendTime(payload: Uint8Array, timeline: Timeline): void {
  const sendMs = epochMs();
  new DataView(payload.buffer, payload.byteOffset, payload.length).setFloat64(
    SEND_TIME_OFFSET,
    sendMs,
    true,
  );
  timeline.add(sendMs);
}

/**
 * Whether a stream whose last key frame was at `lastKeyMs` sends one now: every
 * KEYFRAME_INTERVAL_MS, or on a PLI (`requested`) at most every 500 ms.
 */
export function keyFrameDue(nowMs: number, lastKeyMs: number, requested: boolean): boolean {
  return requested && nowMs - lastKeyMs > 500 || nowMs - lastKeyMs >= KEYFRAME_INTERVAL_MS;
}

/** Opus-sized audio (100-byte payloads every 20 ms) through werift's stock send path. */
export class AudioSender {
  readonly #track: MediaStreamTrack;
  readonly #timeline: Timeline;
  #seq = 1;
  #ts = 0;
  #nextMs = 0;

  constructor(track: MediaStreamTrack, timeline: Timeline) {
    this.#track = track;
    this.#timeline = timeline;
  }

  /** Sends a packet if one is due at `nowMs`. */
  tick(nowMs: number): void {
    if (nowMs < this.#nextMs) return;
    this.#nextMs = Math.max(this.#nextMs + AUDIO_INTERVAL_MS, nowMs - 100);
    const payload = Buffer.alloc(AUDIO_PAYLOAD_BYTES, 0x11);
    stampSendTime(payload, this.#timeline);
    const header = new RtpHeader({
      payloadType: 111,
      sequenceNumber: this.#seq++ & 0xffff,
      timestamp: this.#ts,
      marker: false,
    });
    this.#ts = (this.#ts + 960) >>> 0;
    this.#track.writeRtp(new RtpPacket(header, payload));
  }
}

/**
 * Video packets waiting to leave, each a number of flags the publisher chooses, released under a
 * byte budget that refills at PACING_FACTOR × the bitrate and holds at most `maxBurstBytes`.
 */
export class VideoPacer {
  readonly queue: number[] = [];
  readonly #maxBurstBytes: number;
  #budgetBytes = 0;
  #lastTickMs = 0;

  constructor(maxBurstBytes: number) {
    this.#maxBurstBytes = maxBurstBytes;
  }

  /** Sends queued packets while the budget lasts; `send` returns the bytes the packet costs. */
  drain(nowMs: number, bitrateBps: number, send: (flags: number) => number): void {
    const elapsedMs = Math.min(50, nowMs - (this.#lastTickMs || nowMs));
    this.#lastTickMs = nowMs;
    const rateBytesPerMs = (bitrateBps * PACING_FACTOR) / 8 / 1000;
    this.#budgetBytes = Math.min(
      this.#budgetBytes + elapsedMs * rateBytesPerMs,
      this.#maxBurstBytes,
    );
    while (this.queue.length > 0 && this.#budgetBytes > 0) {
      this.#budgetBytes -= send(this.queue.shift()!);
    }
  }
}

/** A connected publisher that sends whatever is due when ticked. */
export interface TickedPublisher {
  readonly pc: RTCPeerConnection;
  tick(nowMs: number): void;
}

/** How one kind of publisher process opens publishers and answers queries. */
export interface PublisherKind<P extends TickedPublisher> {
  /** Creates the `index`th publisher of the process and resolves once it is connected. */
  open(stunUrl: string, whipUrl: string, token: string, start: Command, index: number): Promise<P>;
  /** Answers a command other than start and stop, or undefined for an unknown one. */
  query(command: Command): Record<string, unknown> | undefined;
  /** Forgets send times before `beforeMs`. */
  prune(beforeMs: number): void;
}

/**
 * Runs a publisher process until the orchestrator closes stdin, then exits. Commands:
 * start { url, token, streams, ... } opens one publisher per stream; stop {} stops sending.
 */
export async function servePublishers<P extends TickedPublisher>(
  kind: PublisherKind<P>,
): Promise<never> {
  const stun = await startStunStub();
  const publishers: P[] = [];
  let timer: ReturnType<typeof setInterval> | undefined;

  async function handle(command: Command): Promise<Record<string, unknown>> {
    switch (command.cmd) {
      case "start": {
        for (const stream of command.streams as string[]) {
          const whipUrl = `${command.url}/whip/${stream}`;
          const token = String(command.token);
          publishers.push(await kind.open(stun.url, whipUrl, token, command, publishers.length));
        }
        timer ??= setInterval(() => {
          const now = epochMs();
          for (const p of publishers) p.tick(now);
        }, TICK_MS);
        return { publishers: publishers.length };
      }
      case "stop":
        clearInterval(timer);
        timer = undefined;
        return {};
      default: {
        const reply = kind.query(command);
        if (reply === undefined) throw new Error(`unknown command ${command.cmd}`);
        return reply;
      }
    }
  }

  const pruner = setInterval(() => kind.prune(epochMs() - 120_000), 10_000);
  await serveCommands(handle);
  clearInterval(pruner);
  clearInterval(timer);
  await Promise.all(publishers.map((p) => p.pc.close().catch(() => {})));
  await stun.close();
  Deno.exit(0);
}
