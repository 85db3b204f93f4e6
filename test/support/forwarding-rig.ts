/**
 * A Producer → Consumer pair over an in-memory viewer link, for forwarding tests without
 * sockets: feed the producer RTP bytes and read back, parsed, what the viewer was sent.
 */
import { ExtensionMap, ExtensionUri } from "../../src/rtp/header-extensions.ts";
import { InboundPacket } from "../../src/rtp/inbound-packet.ts";
import type { CodecName } from "../../src/rtp/codecs/codec.ts";
import { Consumer, type ViewerLink } from "../../src/sfu/consumer.ts";
import { Producer } from "../../src/sfu/producer.ts";

/** A simulcast publisher's extension IDs: mid 1, rid 2. */
export const PUBLISHER_MID_RID: ExtensionMap = ExtensionMap.fromExtmaps([
  { id: 1, uri: ExtensionUri.mid },
  { id: 2, uri: ExtensionUri.rid },
]);
/** A viewer's extension IDs with transport-wide CC (so probes run): mid 3, transport-wide-cc 4. */
export const VIEWER_MID_TWCC: ExtensionMap = ExtensionMap.fromExtmaps([
  { id: 3, uri: ExtensionUri.mid },
  { id: 4, uri: ExtensionUri.transportWideCc },
]);

/** A viewer link that keeps every packet sent to it, parsed with the viewer's extension map. */
export class MemoryLink implements ViewerLink {
  sent: InboundPacket[] = [];
  /** Per sent packet: the transport-wide seq and whether it was sent as a probe. */
  twccSeqs: number[] = [];
  probes: boolean[] = [];
  ready = true;
  #twcc = 0;
  constructor(readonly extensions: ExtensionMap) {}
  sendRtp(buf: Uint8Array, len: number, twccSeq: number, isProbe = false): boolean {
    const pkt = new InboundPacket();
    pkt.parse(buf.slice(0, len), len, this.extensions);
    this.sent.push(pkt);
    this.twccSeqs.push(twccSeq);
    this.probes.push(isProbe);
    return true;
  }
  nextTransportSequence(): number {
    return this.#twcc++ & 0xffff;
  }
}

/** Options of {@link forwardingRig}. */
export interface ForwardingRigOptions {
  codecName: CodecName;
  /** The publisher's extension IDs. */
  publisherMap: ExtensionMap;
  /** The viewer's extension IDs. */
  viewerMap: ExtensionMap;
  /** Simulcast rids; default none. */
  rids?: string[];
  /** The publisher's payload type; default 96. */
  payloadType?: number;
  /** The viewer's payload type; default 100. */
  viewerPayloadType?: number;
  /** Key-frame requests for a layer's SSRC; default ignored. */
  requestKeyframe?: (ssrc: number) => void;
}

/** A video producer (mid "1") with one consumer (SSRC 0xabc, mid "v") on a {@link MemoryLink}. */
export function forwardingRig(options: ForwardingRigOptions): {
  producer: Producer;
  consumer: Consumer;
  link: MemoryLink;
  /** Parses `bytes` with the publisher's map and hands the packet to the producer. */
  push(bytes: Uint8Array, arrivalMs: number): void;
} {
  const producer = new Producer({
    kind: "video",
    mid: "1",
    codecName: options.codecName,
    payloadType: options.payloadType ?? 96,
    clockRate: 90000,
    rids: options.rids ?? [],
    extensions: options.publisherMap,
    requestKeyframe: options.requestKeyframe ?? (() => {}),
  });
  const link = new MemoryLink(options.viewerMap);
  const consumer = new Consumer({
    producer,
    link,
    ssrc: 0xabc,
    payloadType: options.viewerPayloadType ?? 100,
    mid: "v",
    extensions: options.viewerMap,
  });
  producer.addConsumer(consumer);
  const pkt = new InboundPacket();
  const push = (bytes: Uint8Array, arrivalMs: number) => {
    pkt.parse(bytes, bytes.length, options.publisherMap);
    pkt.arrivalMs = arrivalMs;
    producer.onPacket(pkt);
  };
  return { producer, consumer, link, push };
}
