/**
 * The server's half of a subscribe connection for tests: a transport that offers
 * (`PeerTransport.createOffer`), the offers written from a slot description, the client's
 * answers read and applied, and Consumers bound to slots. A stand-in for the Subscriber of
 * rooms.md §3 until it exists; RTCP handling is the minimum media needs (PLI/FIR → key frame,
 * NACK → retransmission).
 */
import { PsfbFmt, readNack, RtcpReader, RtcpType, RtpfbFmt } from "../../src/rtp/rtcp-reader.ts";
import { Consumer, type ViewerLink } from "../../src/sfu/consumer.ts";
import type { Producer } from "../../src/sfu/producer.ts";
import type { LocalTransport } from "../../src/session/negotiation.ts";
import {
  newIceCredentials,
  type PeerListener,
  PeerTransport,
} from "../../src/session/peer-transport.ts";
import { parseSdp } from "../../src/session/sdp.ts";
import {
  readSubscribeAnswer,
  slotBinding,
  type SubscribeAnswer,
} from "../../src/session/subscribe-answer.ts";
import {
  addSlots,
  newSubscribeDescription,
  type SubscribeDescription,
  writeSubscribeOffer,
} from "../../src/session/subscribe-offer.ts";
import { selectSrtpBackend } from "../../src/transport/srtp-backend.ts";

export class SubscribeRig implements PeerListener, ViewerLink {
  readonly peer: PeerTransport;
  /** The transport lines of every offer (new ICE credentials after `restartIce`). */
  local: LocalTransport;
  /** The answer's ICE credentials we last applied. */
  #remoteIce = { ufrag: "", pwd: "" };
  description: SubscribeDescription;
  /** The last answer read (for the current revision once answered). */
  answer: SubscribeAnswer | undefined;
  readonly consumers = new Map<string, Consumer>();
  /** How many times the transport reported connected (a DTLS handshake each). */
  connects = 0;
  failures: string[] = [];
  plis = 0;
  readonly #reader = new RtcpReader();
  readonly #nackSeqs = new Uint16Array(512);
  #twccSeq = 0;
  #timer: ReturnType<typeof setInterval> | undefined;

  private constructor(peer: PeerTransport, local: LocalTransport, audio: number, video: number) {
    this.peer = peer;
    this.local = local;
    this.description = newSubscribeDescription(audio, video);
    peer.setListener(this);
  }

  /** A transport on 127.0.0.1 with `audio` audio slots and `video` video slots (revision 1). */
  static async create(audio: number, video: number): Promise<SubscribeRig> {
    const { peer, local } = await PeerTransport.createOffer(
      { announcedIps: ["127.0.0.1"], bindIp: "127.0.0.1" },
      selectSrtpBackend("auto"),
    );
    return new SubscribeRig(peer, local, audio, video);
  }

  /** The offer of the current revision. */
  offer(): string {
    return writeSubscribeOffer(this.description, this.local);
  }

  /** A re-offer with `count` more slots of `kind` (next revision). */
  grow(kind: "audio" | "video", count: number): string {
    this.description = {
      ...this.description,
      revision: this.description.revision + 1,
      slots: addSlots(this.description.slots, kind, count),
    };
    return this.offer();
  }

  /** A re-offer with the slot `mid` retired (`a=inactive`, kept in place; next revision). */
  retire(mid: string): string {
    this.consumers.get(mid)?.close();
    this.consumers.delete(mid);
    this.description = {
      ...this.description,
      revision: this.description.revision + 1,
      slots: this.description.slots.map((s) => s.mid === mid ? { ...s, direction: "inactive" } : s),
    };
    return this.offer();
  }

  /** A re-offer with fresh local ICE credentials (RFC 8445 §9), same slots (next revision). */
  restartIce(): string {
    this.local = { ...this.local, ...newIceCredentials() };
    this.description = { ...this.description, revision: this.description.revision + 1 };
    return this.offer();
  }

  /** Reads and applies the client's answer to the current revision. */
  async accept(sdp: string): Promise<SubscribeAnswer> {
    const answer = readSubscribeAnswer(parseSdp(sdp), this.description);
    const { iceUfrag, icePwd } = answer.transport;
    const restarted = this.#remoteIce.ufrag !== "" &&
      (iceUfrag !== this.#remoteIce.ufrag || icePwd !== this.#remoteIce.pwd);
    // The answer to an ICE-restart offer: our new credentials with the client's new ones.
    if (restarted) this.peer.restartIce(iceUfrag, icePwd, this.local);
    await this.peer.acceptAnswer(answer.transport);
    this.#remoteIce = { ufrag: iceUfrag, pwd: icePwd };
    this.answer = answer;
    return answer;
  }

  /** Forwards `producer` on the slot `mid` (the answer must have accepted its codec there). */
  bind(mid: string, producer: Producer): Consumer {
    const track = this.answer?.tracks.find((t) => t.mid === mid);
    const binding = track && slotBinding(track, producer.codecName);
    if (!binding) throw new Error(`slot ${mid} cannot carry ${producer.codecName}`);
    const consumer = new Consumer({ producer, link: this, ...binding });
    producer.addConsumer(consumer);
    this.consumers.set(mid, consumer);
    return consumer;
  }

  // ViewerLink
  sendRtp(buf: Uint8Array, len: number): boolean {
    return this.peer.sendRtp(buf, len);
  }

  nextTransportSequence(): number {
    const seq = this.#twccSeq;
    this.#twccSeq = (seq + 1) & 0xffff;
    return seq;
  }

  get ready(): boolean {
    return this.peer.connected;
  }

  // PeerListener
  onRtp(): void {}

  onConnected(): void {
    this.connects++;
    // Layer selection asks the publisher for the key frame a new consumer waits for.
    const select = () => {
      for (const c of this.consumers.values()) c.select(performance.now());
    };
    select();
    this.#timer = setInterval(select, 100);
  }

  onFailed(stage: "ice" | "dtls"): void {
    this.failures.push(stage);
  }

  onRtcp(buf: Uint8Array, len: number): void {
    const reader = this.#reader;
    reader.reset(buf, len);
    while (reader.next()) {
      const consumer = this.#bySsrc(reader.mediaSsrc);
      if (!consumer) continue;
      if (reader.type === RtcpType.PSFB && reader.fmt === PsfbFmt.PLI) {
        this.plis++;
        const layer = consumer.current ?? consumer.target;
        if (layer) consumer.producer.requestKeyframe(layer, performance.now());
      } else if (reader.type === RtcpType.RTPFB && reader.fmt === RtpfbFmt.NACK) {
        const count = readNack(buf, reader.offset, reader.length, this.#nackSeqs);
        consumer.retransmit(this.#nackSeqs, count, performance.now());
      }
    }
  }

  #bySsrc(ssrc: number): Consumer | undefined {
    for (const c of this.consumers.values()) if (c.ssrc === ssrc) return c;
    return undefined;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    for (const c of this.consumers.values()) c.close();
    this.consumers.clear();
    await this.peer.close();
  }
}
