/**
 * A room participant in-process: protocol v1 over the room WebSocket (docs/signalling.md) with
 * two werift peer connections, what a browser SDK does with RTCPeerConnection:
 *
 * - the publish PC: the client offers (`offer {pc: "pub", sdp, sources}`), re-offers to add,
 *   stop (direction inactive) or restart ICE;
 * - the subscribe PC: the server offers (`offer {pc: "sub", rev, sdp, bound}`), the client
 *   answers with `answer {pc: "sub", rev, sdp}`, one offer at a time; `bound` and
 *   `activeSpeakers.slots` say what each m-line carries.
 *
 * Synthetic media: each packet's payload carries a 4-byte tag (its sender's counter), so a
 * receiver can check the bytes arrived intact; microphone packets carry the RFC 6464 audio
 * level the test chooses.
 */
import { Buffer } from "node:buffer";
import {
  MediaStreamTrack,
  ReceiverEstimatedMaxBitrate,
  RTCPeerConnection,
  RtcpPayloadSpecificFeedback,
  type RTCRtpTransceiver,
  RtpHeader,
  RtpPacket,
  useAbsSendTime,
  useAudioLevelIndication,
  useSdesMid,
  useSdesRTPStreamId,
  useTransportWideCC,
} from "werift";
import { type LayerSpec, rewriteOfferForSimulcast } from "./simulcast-publisher.ts";
import { assert, assertEquals } from "@std/assert";
import type { ServerMessage, ServerMessageOf } from "../../src/signal/mod.ts";
import type { RunningServer } from "../../src/server.ts";
import { startLoopbackServer } from "./loopback-server.ts";
import { SignalClient } from "./signal-client.ts";
import { startStunStub, type StunStub } from "./stun-stub.ts";
import { answerOffer, OPUS, settleWeriftTimers, VP8 } from "./werift-client.ts";

export type Source = "camera" | "microphone" | "screen" | "screenAudio";

/** What this client received on one subscribe m-line. */
export interface Received {
  packets: number;
  ssrcs: Set<number>;
  /** Tag → payload bytes (first copy). */
  payloads: Map<number, Uint8Array>;
  /** Tags in arrival order. */
  tags: number[];
  /** The last payload byte of each packet (a simulcast layer's index), in arrival order. */
  lastBytes: number[];
}

/** A published track: its werift track, transceiver and RTP state. */
interface Published {
  source: Source;
  track: MediaStreamTrack;
  transceiver: RTCRtpTransceiver;
  seq: number;
  ts: number;
  /** Tag → payload bytes sent. */
  sent: Map<number, Uint8Array>;
  nextTag: number;
  active: boolean;
}

const AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";
/** Tags start at a per-source base so payloads of different tracks never look alike. */
const TAG_BASE: Record<Source, number> = {
  camera: 0x10000000,
  microphone: 0x20000000,
  screen: 0x30000000,
  screenAudio: 0x40000000,
};

function peer(stunUrl: string): RTCPeerConnection {
  return new RTCPeerConnection({
    bundlePolicy: "max-bundle",
    iceServers: [{ urls: stunUrl }],
    iceUseIpv6: false,
    iceAdditionalHostAddresses: ["127.0.0.1"],
    iceInterfaceAddresses: { udp4: "127.0.0.1" },
    codecs: { audio: [OPUS], video: [VP8] },
    headerExtensions: {
      video: [useSdesMid(), useSdesRTPStreamId(), useTransportWideCC(), useAbsSendTime()],
      audio: [useSdesMid(), useAudioLevelIndication()],
    },
  });
}

/** A simulcast camera's layer as this client sends it (rid, SSRC, key-frame requests). */
interface SimulcastLayer {
  spec: LayerSpec;
  ssrc: number;
  seq: number;
  frames: number;
  keyframePending: boolean;
}

async function gathered(pc: RTCPeerConnection): Promise<void> {
  await new Promise<void>((resolve) => {
    if (pc.iceGatheringState === "complete") return resolve();
    pc.iceGatheringStateChange.subscribe((s) => s === "complete" && resolve());
  });
}

export class RoomClient {
  signal: SignalClient;
  readonly baseUrl: string;
  readonly roomId: string;
  readonly stunUrl: string;
  self = "";
  resumeToken = "";
  joined: ServerMessageOf<"joined"> | undefined;
  /** The publish PC, once something was published. */
  pub: RTCPeerConnection | undefined;
  readonly sub: RTCPeerConnection;
  readonly published = new Map<Source, Published>();
  /** Subscribe m-line → what it received. */
  readonly received = new Map<string, Received>();
  /** Track m-line → what it carries (from offers and `bound`). */
  readonly bindings = new Map<string, { participant: string | null; source: Source | null }>();
  /** Audio slot → whose voice (from `activeSpeakers`). */
  slots: Record<string, string | null> = {};
  readonly speakerEvents: ServerMessageOf<"activeSpeakers">[] = [];
  readonly constraints: ServerMessageOf<"senderConstraint">[] = [];
  /** Subscribe offers answered (revisions). */
  readonly answered: number[] = [];
  /** Errors answering offers (the test fails on them). */
  readonly failures: string[] = [];
  #offers: Promise<void> = Promise.resolve();
  /** Answer the server's offers (false: the test reads them from `signal.received`). */
  autoAnswer = true;
  readonly #tagSpace = Math.floor(Math.random() * 0x1000);
  /** The camera's simulcast layers (`publishSimulcastCamera`), and their extension IDs. */
  simulcast:
    | { layers: SimulcastLayer[]; midId: number; ridId: number; ts: number; pt: number }
    | undefined;
  #subConnected: Promise<void>;

  private constructor(baseUrl: string, roomId: string, stunUrl: string, signal: SignalClient) {
    this.baseUrl = baseUrl;
    this.roomId = roomId;
    this.stunUrl = stunUrl;
    this.signal = signal;
    this.sub = peer(stunUrl);
    this.#subConnected = new Promise<void>((resolve) => {
      this.sub.connectionStateChange.subscribe((s) => s === "connected" && resolve());
    });
    this.sub.onTransceiverAdded.subscribe((t: RTCRtpTransceiver) => {
      t.onTrack.subscribe((track) => {
        track.onReceiveRtp.subscribe((rtp) => {
          const mid = t.mid ?? "?";
          let entry = this.received.get(mid);
          if (!entry) {
            entry = { packets: 0, ssrcs: new Set(), payloads: new Map(), tags: [], lastBytes: [] };
            this.received.set(mid, entry);
          }
          entry.packets++;
          entry.ssrcs.add(rtp.header.ssrc);
          const payload = new Uint8Array(rtp.payload);
          const tag = tagOf(payload);
          entry.tags.push(tag);
          entry.lastBytes.push(payload[payload.length - 1]);
          if (!entry.payloads.has(tag)) entry.payloads.set(tag, payload);
        });
      });
    });
    this.#listen();
  }

  /** Opens a socket to the room and joins with `token`. */
  static async join(
    baseUrl: string,
    roomId: string,
    token: string,
    stunUrl: string,
    name?: string,
  ): Promise<RoomClient> {
    const signal = await SignalClient.open(baseUrl, roomId);
    const client = new RoomClient(baseUrl, roomId, stunUrl, signal);
    const joined = await signal.request({ t: "join", token, ...(name ? { name } : {}) });
    if (joined.t !== "joined") {
      await client.close();
      throw new Error(`join refused: ${JSON.stringify(joined)}`);
    }
    client.joined = joined;
    client.self = joined.self.id;
    client.resumeToken = joined.resumeToken;
    return client;
  }

  #listen(): void {
    this.signal.listeners.add((m) => this.#onMessage(m));
  }

  #onMessage(m: ServerMessage): void {
    switch (m.t) {
      case "offer":
        for (const b of m.bound) {
          if (b.kind === "video" || b.participant !== null) this.bindings.set(b.mid, b);
        }
        if (!this.autoAnswer) return;
        // One answer at a time, in order.
        this.#offers = this.#offers.then(() => this.#answer(m.rev, m.sdp));
        return;
      case "bound":
        for (const b of m.bound) this.bindings.set(b.mid, b);
        return;
      case "activeSpeakers":
        this.slots = m.slots;
        this.speakerEvents.push(m);
        return;
      case "senderConstraint":
        this.constraints.push(m);
        return;
    }
  }

  async #answer(rev: number, sdp: string): Promise<void> {
    try {
      const answer = await answerOffer(this.sub, sdp);
      this.signal.send({ t: "answer", pc: "sub", rev, sdp: answer }, { id: false });
      this.answered.push(rev);
    } catch (error) {
      this.failures.push(`answering offer ${rev}: ${String(error)}`);
    }
  }

  /** Resolves when the subscribe PC is connected (the server offered and we answered). */
  subscribed(): Promise<void> {
    return this.#subConnected;
  }

  /**
   * Publishes `sources` (new ones get a transceiver; stopped ones start again) and keeps the
   * others; returns the answer's SDP. The first call creates the publish PC.
   */
  async publish(...sources: Source[]): Promise<string> {
    const pc = this.pub ??= peer(this.stunUrl);
    for (const source of sources) {
      const existing = this.published.get(source);
      if (existing) {
        existing.active = true;
        existing.transceiver.setDirection("sendonly");
        continue;
      }
      const kind = source === "microphone" || source === "screenAudio" ? "audio" : "video";
      const track = new MediaStreamTrack({ kind });
      const transceiver = pc.addTransceiver(track, { direction: "sendonly" });
      this.published.set(source, {
        source,
        track,
        transceiver,
        seq: 1 + Math.floor(Math.random() * 1000),
        ts: Math.floor(Math.random() * 100000),
        sent: new Map(),
        // Bits 16–27 tell senders apart (audio slots carry several over time).
        nextTag: TAG_BASE[source] + this.#tagSpace * 0x10000,
        active: true,
      });
    }
    return await this.#offer();
  }

  /**
   * Publishes a simulcast camera (first: the offer's first video m-line gets the rids, RFC
   * 8853), sent below werift's API as simulcast-publisher.ts does: one SSRC per layer with the
   * mid and rid extensions, VP8 key frames of each layer's size, a key frame after a PLI.
   */
  async publishSimulcastCamera(layers: readonly LayerSpec[]): Promise<string> {
    assert(!this.published.has("camera"), "publish the simulcast camera first");
    this.simulcast = {
      layers: layers.map((spec) => ({
        spec,
        ssrc: crypto.getRandomValues(new Uint32Array(1))[0],
        seq: Math.floor(Math.random() * 60000),
        frames: 0,
        keyframePending: true,
      })),
      midId: 0,
      ridId: 0,
      ts: Math.floor(Math.random() * 1e6),
      pt: 0,
    };
    const answer = await this.publish("camera");
    // The payload type the answer accepted (werift numbers codecs per connection).
    this.simulcast.pt = Number(/m=video \d+ \S+ (\d+)/.exec(answer)?.[1] ?? 96);
    const dtls = this.published.get("camera")!.transceiver.sender.dtlsTransport;
    dtls.onRtcp.subscribe((rtcp) => {
      if (!(rtcp instanceof RtcpPayloadSpecificFeedback)) return;
      const media = (rtcp.feedback as { mediaSsrc?: number }).mediaSsrc;
      const layer = this.simulcast?.layers.find((l) => l.ssrc === media);
      if (layer) layer.keyframePending = true;
    });
    return answer;
  }

  /** One frame on every simulcast layer; the last payload byte is the layer's index. */
  sendSimulcastFrame(): void {
    const sim = this.simulcast;
    const p = this.published.get("camera");
    if (!sim || !p?.active) return;
    const dtls = p.transceiver.sender.dtlsTransport;
    const mid = Buffer.from(p.transceiver.mid ?? "0");
    sim.ts = (sim.ts + 3000) >>> 0;
    for (const [index, layer] of sim.layers.entries()) {
      const spec = layer.spec;
      const keyframe = layer.keyframePending || layer.frames % spec.keyframeInterval === 0;
      layer.keyframePending = false;
      layer.frames++;
      for (let i = 0; i < spec.packetsPerFrame; i++) {
        const payload = Buffer.alloc(spec.payloadBytes);
        payload[0] = i === 0 ? 0x10 : 0x00;
        if (i === 0) {
          payload[1] = keyframe ? 0x00 : 0x01;
          if (keyframe) {
            payload.set([0x9d, 0x01, 0x2a], 4);
            payload.writeUInt16LE(spec.width, 7);
            payload.writeUInt16LE(spec.height, 9);
          }
        }
        payload[payload.length - 1] = index;
        const header = new RtpHeader({
          payloadType: sim.pt,
          sequenceNumber: layer.seq,
          timestamp: sim.ts,
          ssrc: layer.ssrc,
          marker: i === spec.packetsPerFrame - 1,
        });
        header.extensions = [
          { id: sim.midId, payload: mid },
          { id: sim.ridId, payload: Buffer.from(spec.rid) },
        ];
        layer.seq = (layer.seq + 1) & 0xffff;
        void dtls.sendRtp(payload, header);
      }
    }
  }

  /** Sends a REMB (RFC draft-alvestrand-rmcat-remb) of `bps` on the subscribe PC. */
  sendRemb(bps: number): void {
    const ssrcs = new Set<number>();
    for (const r of this.received.values()) for (const ssrc of r.ssrcs) ssrcs.add(ssrc);
    // bitrate = mantissa (18 bits) × 2^exp; werift serializes these two fields.
    let exp = 0;
    while (bps / 2 ** exp >= 1 << 18) exp++;
    const remb = new ReceiverEstimatedMaxBitrate({
      senderSsrc: 1,
      mediaSsrc: 0,
      brExp: exp,
      brMantissa: Math.floor(bps / 2 ** exp),
      bitrate: BigInt(bps),
      ssrcNum: ssrcs.size,
      ssrcFeedbacks: [...ssrcs],
    });
    void this.sub.dtlsTransports[0]?.sendRtcp([
      new RtcpPayloadSpecificFeedback({ feedback: remb }),
    ]);
  }

  /** Stops sending `sources` (their m-lines go inactive) and re-offers. */
  async unpublish(...sources: Source[]): Promise<string> {
    this.stop(...sources);
    return await this.#offer();
  }

  /** Marks `sources` stopped without offering (after a refused offer, say). */
  stop(...sources: Source[]): void {
    for (const source of sources) {
      const p = this.published.get(source);
      if (!p) continue;
      p.active = false;
      p.transceiver.setDirection("inactive");
    }
  }

  /**
   * The publish PC's current offer with new ICE credentials, sent as a re-offer (an ICE
   * restart as the server sees it); returns the server's answer without applying it. (A
   * werift client cannot complete an ICE restart against an ICE-lite server: it never
   * nominates again, so tests check the server's half.)
   */
  async offerIceRestart(): Promise<string> {
    const pc = this.pub!;
    const sdp = pc.localDescription!.sdp
      .replace(/a=ice-ufrag:.*/g, "a=ice-ufrag:rstA")
      .replace(/a=ice-pwd:.*/g, "a=ice-pwd:restartedpasswordrestarted0");
    const sources: Record<string, Source> = {};
    for (const p of this.published.values()) {
      if (p.active && p.transceiver.mid) sources[p.transceiver.mid] = p.source;
    }
    const reply = await this.signal.request({ t: "offer", pc: "pub", sdp, sources });
    if (reply.t !== "answer") throw new RoomRequestError(reply);
    return reply.sdp;
  }

  async #offer(): Promise<string> {
    const pc = this.pub!;
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const sources: Record<string, Source> = {};
    for (const p of this.published.values()) {
      if (p.active && p.transceiver.mid) sources[p.transceiver.mid] = p.source;
    }
    let sdp = pc.localDescription!.sdp;
    if (this.simulcast) {
      const rewritten = rewriteOfferForSimulcast(sdp, this.simulcast.layers.map((l) => l.spec.rid));
      sdp = rewritten.sdp;
      this.simulcast.midId = rewritten.midId;
      this.simulcast.ridId = rewritten.ridId;
    }
    const reply = await this.signal.request({ t: "offer", pc: "pub", sdp, sources });
    if (reply.t !== "answer") {
      // Roll the PC back to the last agreed state is more than a test needs: just report.
      throw new RoomRequestError(reply);
    }
    await pc.setRemoteDescription({ type: "answer", sdp: reply.sdp });
    return reply.sdp;
  }

  /** The audio-level extension ID this client's publish PC negotiated. */
  get #audioLevelId(): number {
    const sdp = this.pub?.localDescription?.sdp ?? "";
    const m = sdp.match(new RegExp(`a=extmap:(\\d+) ${AUDIO_LEVEL_URI}`));
    return m ? Number(m[1]) : 0;
  }

  /** What this client sees, for failure messages. */
  describe(): string {
    const received = [...this.received].map(([mid, r]) => `${mid}:${r.packets}`).join(" ");
    const bound = [...this.bindings].map(([mid, b]) => `${mid}=${b.participant}/${b.source}`)
      .join(" ");
    return `${this.self}: received {${received}} bound {${bound}} slots ${
      JSON.stringify(this.slots)
    } answered [${this.answered}] pub ${this.pub?.connectionState} sub ${this.sub.connectionState}`;
  }

  /**
   * Sends one packet of `source`. Video: a one-packet VP8 frame (key frame when `keyframe`);
   * audio: an Opus-sized payload with audio level `level` (RFC 6464: 0 loudest, 127 silence).
   */
  send(source: Source, options: { keyframe?: boolean; level?: number } = {}): void {
    const p = this.published.get(source);
    assert(p, `${source} is not published`);
    if (!p.active) return;
    const tag = p.nextTag++;
    const audio = source === "microphone" || source === "screenAudio";
    const payload = audio ? opusPayload(tag) : vp8Frame(options.keyframe ?? false, tag);
    p.sent.set(tag, payload);
    const header = new RtpHeader({
      payloadType: audio ? 111 : 96,
      sequenceNumber: p.seq++ & 0xffff,
      timestamp: p.ts >>> 0,
      marker: !audio,
    });
    p.ts += audio ? 960 : 3000;
    const levelId = this.#audioLevelId;
    if (audio && levelId > 0) {
      header.extensions = [{
        id: levelId,
        payload: Buffer.from([0x80 | ((options.level ?? 30) & 0x7f)]),
      }];
      header.extension = true;
    }
    p.track.writeRtp(new RtpPacket(header, Buffer.from(payload)));
  }

  /** Payloads this client sent on `source`, by tag. */
  sent(source: Source): Map<number, Uint8Array> {
    return this.published.get(source)?.sent ?? new Map();
  }

  /** The subscribe m-line carrying `participant`'s `source` (a track m-line), if any. */
  midOf(participant: string, source: Source): string | undefined {
    for (const [mid, b] of this.bindings) {
      if (b.participant === participant && b.source === source) return mid;
    }
    return undefined;
  }

  /** The audio slot carrying `participant`'s voice, if any. */
  slotOf(participant: string): string | undefined {
    for (const [mid, who] of Object.entries(this.slots)) if (who === participant) return mid;
    return undefined;
  }

  /** Packets received on a mid (0 when none). */
  packetsOn(mid: string | undefined): number {
    return mid === undefined ? 0 : this.received.get(mid)?.packets ?? 0;
  }

  /**
   * A new socket taking this seat back (`join` with `resume`), as after a network change;
   * the old socket is closed first unless `keepOld` (then the server closes it, 4003).
   */
  async resume(token: string, options: { keepOld?: boolean } = {}): Promise<boolean> {
    if (!options.keepOld) await this.signal.close();
    const signal = await SignalClient.open(this.baseUrl, this.roomId);
    this.signal = signal;
    this.#listen();
    const joined = await signal.request({ t: "join", token, resume: this.resumeToken });
    assert(joined.t === "joined", JSON.stringify(joined));
    this.joined = joined;
    this.resumeToken = joined.resumeToken;
    return joined.resumed && joined.self.id === this.self;
  }

  /** Leaves (unless `leave: false`) and closes the socket and both PCs. */
  async close(options: { leave?: boolean } = {}): Promise<void> {
    if ((options.leave ?? true) && this.signal.socket.readyState === WebSocket.OPEN) {
      this.signal.send({ t: "leave" }, { id: false });
    }
    await this.signal.close();
    await this.#offers;
    // A DTLS handshake cut short leaves werift's retransmission timers running: let it finish.
    for (const pc of [this.pub, this.sub]) {
      for (let waited = 0; pc?.connectionState === "connecting" && waited < 10_000; waited += 20) {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    await this.pub?.close();
    await this.sub.close();
  }
}

/** A refused request, with the server's error. */
export class RoomRequestError extends Error {
  readonly reply: ServerMessage;
  constructor(reply: ServerMessage) {
    super(`refused: ${JSON.stringify(reply)}`);
    this.reply = reply;
  }

  get code(): string | undefined {
    return this.reply.t === "reply" && !this.reply.ok ? this.reply.error.code : undefined;
  }
}

/** A one-packet VP8 frame (RFC 7741 descriptor, 640×480 key frames) carrying `tag` at 20. */
function vp8Frame(keyframe: boolean, tag: number): Uint8Array {
  const out = new Uint8Array(240);
  out[0] = 0x10; // S=1, no PictureID: the forwarder leaves the bytes as they are
  if (keyframe) {
    out.set([0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a, 640 & 0xff, 640 >> 8, 480 & 0xff, 480 >> 8], 1);
  } else {
    out[1] = 0x01;
  }
  writeTag(out, 20, tag);
  for (let i = 24; i < out.length; i++) out[i] = (i * 7 + tag) & 0xff;
  return out;
}

/** An Opus-sized payload carrying `tag` first. */
function opusPayload(tag: number): Uint8Array {
  const out = new Uint8Array(80);
  writeTag(out, 0, tag);
  for (let i = 4; i < out.length; i++) out[i] = (i * 13 + tag) & 0xff;
  return out;
}

function writeTag(out: Uint8Array, at: number, tag: number): void {
  out[at] = tag >>> 24;
  out[at + 1] = (tag >>> 16) & 0xff;
  out[at + 2] = (tag >>> 8) & 0xff;
  out[at + 3] = tag & 0xff;
}

/** The tag of a received payload (video at 20, audio at 0, told apart by the tag's base). */
export function tagOf(payload: Uint8Array): number {
  const read = (at: number) =>
    payload.length >= at + 4
      ? ((payload[at] << 24) | (payload[at + 1] << 16) | (payload[at + 2] << 8) |
        payload[at + 3]) >>> 0
      : 0;
  const audio = read(0);
  if (audio >= TAG_BASE.microphone && audio < TAG_BASE.screen) return audio;
  if (audio >= TAG_BASE.screenAudio) return audio;
  return read(20);
}

/** Creates a room over `POST /api/rooms`; returns its id and a token per role. */
export async function createRoom(
  baseUrl: string,
  publishToken: string,
  body: Record<string, unknown> = {},
): Promise<{ id: string; tokens: { admin: string; speaker: string; listener: string } }> {
  const res = await fetch(`${baseUrl}/api/rooms`, {
    method: "POST",
    headers: { Authorization: `Bearer ${publishToken}`, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const created = await res.json();
  assert(res.status === 201, JSON.stringify(created));
  return created;
}

/**
 * Sends media from every client's published sources (a key frame every 10th video frame,
 * audio at `levels[participant]` or 30) every 10 ms until `done()`; fails after `timeoutMs`
 * (a liveness guard, not a timing assertion).
 */
export async function pumpUntil(
  clients: RoomClient[],
  done: () => boolean,
  what: string,
  options: { timeoutMs?: number; levels?: Record<string, number> } = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  let frame = 0;
  while (!done()) {
    if (Date.now() > deadline) {
      throw new Error(
        `timed out waiting for ${what}:\n${clients.map((c) => c.describe()).join("\n")}`,
      );
    }
    for (const client of clients) {
      if (client.simulcast && frame % 3 === 0) client.sendSimulcastFrame();
      for (const [source, p] of client.published) {
        if (!p.active || (source === "camera" && client.simulcast)) continue;
        const audio = source === "microphone" || source === "screenAudio";
        client.send(source, {
          keyframe: !audio && frame % 10 === 0,
          level: options.levels?.[client.self] ?? 30,
        });
      }
    }
    frame++;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Every payload `receiver` got on `mid` is byte for byte one `sender` sent on `source`;
 * returns how many were checked.
 */
export function checkPayloads(
  receiver: RoomClient,
  mid: string,
  sender: RoomClient,
  source: Source,
): number {
  const got = receiver.received.get(mid);
  assert(got, `nothing received on ${mid}`);
  const sent = sender.sent(source);
  let checked = 0;
  for (const [tag, payload] of got.payloads) {
    const original = sent.get(tag);
    assert(original, `${mid}: tag ${tag.toString(16)} was never sent by ${sender.self}/${source}`);
    assert(
      original.length === payload.length && original.every((b, i) => b === payload[i]),
      `${mid}: payload of tag ${tag.toString(16)} changed`,
    );
    checked++;
  }
  return checked;
}

export const TOKEN = "publish-secret-token";

/**
 * A loopback server, a STUN stub and a room created with `body`; `join` adds a participant
 * (closed afterwards). Every client must have answered every offer it got.
 */
export async function withRoom(
  body: Record<string, unknown>,
  run: (ctx: {
    server: RunningServer;
    stun: StunStub;
    room: Awaited<ReturnType<typeof createRoom>>;
    join: (role?: "admin" | "speaker" | "listener", name?: string) => Promise<RoomClient>;
  }) => Promise<void>,
): Promise<void> {
  const server = await startLoopbackServer({ publishToken: TOKEN });
  const stun = await startStunStub();
  const clients: RoomClient[] = [];
  try {
    const room = await createRoom(server.url, TOKEN, body);
    await run({
      server,
      stun,
      room,
      join: async (role = "speaker", name) => {
        const client = await RoomClient.join(
          server.url,
          room.id,
          room.tokens[role],
          stun.url,
          name,
        );
        clients.push(client);
        return client;
      },
    });
    for (const c of clients) assertEquals(c.failures, []);
  } finally {
    for (const c of clients) await c.close().catch(() => {});
    await server.close();
    await stun.close();
    await settleWeriftTimers();
  }
}
