/**
 * One forwarding worker of the data-plane scaling case (bench/cases/fanout-workers.ts): the
 * worker half of `src/cluster` without werift. It attaches to a PacketRing, mirrors the
 * publisher's track in a Producer, and fans every packet out to its share of consumers, each
 * with its own SRTP session (the backend `auto` picks) and a link on the send path `auto`
 * picks, sending to a loopback sink. Outbound packets are counted in a shared Int32 slot.
 *
 * Protocol: postMessage({ ring, sinkPort, consumers, first, counts, index }) → "ready";
 * "stop" → closes everything and replies "stopped".
 */
import dgram from "node:dgram";
import { InboundPacket } from "../../src/rtp/inbound-packet.ts";
import { Consumer, type ViewerLink } from "../../src/sfu/consumer.ts";
import { PacketRing, type RingSink } from "../../src/cluster/packet-ring.ts";
import type { DatagramLink } from "../../src/transport/datagram-link.ts";
import { selectSendPath } from "../../src/transport/send-path.ts";
import { selectSrtpBackend } from "../../src/transport/srtp-backend.ts";
import { SrtpProfile, type SrtpSession } from "../../src/transport/srtp.ts";
import { srtpKeys, vp8Producer } from "./synthetic-media.ts";

interface Start {
  ring: SharedArrayBuffer;
  counts: SharedArrayBuffer;
  index: number;
  sinkPort: number;
  consumers: number;
  first: number;
}

const self = globalThis as unknown as {
  onmessage: ((e: MessageEvent) => void) | null;
  postMessage(m: unknown): void;
};

let stop: (() => Promise<void>) | undefined;

self.onmessage = async (event: MessageEvent) => {
  if (event.data === "stop") {
    await stop?.();
    self.postMessage("stopped");
    return;
  }
  stop = await start(event.data as Start);
  self.postMessage("ready");
};

async function start(o: Start): Promise<() => Promise<void>> {
  const ring = new PacketRing(o.ring);
  const counts = new Int32Array(o.counts);
  const producer = vp8Producer();
  const extensions = producer.extensions;
  const backend = selectSrtpBackend("auto");
  const path = selectSendPath("auto");
  const socket = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
  const sessions: SrtpSession[] = [];
  const links: DatagramLink[] = [];
  for (let c = 0; c < o.consumers; c++) {
    const srtp = backend.createSession(srtpKeys(SrtpProfile.AEAD_AES_128_GCM, o.first + c));
    const udp = path.link(socket, "127.0.0.1", o.sinkPort);
    sessions.push(srtp);
    links.push(udp);
    let twcc = 0;
    const link: ViewerLink = {
      sendRtp(buf, len) {
        const slot = udp.acquire();
        if (slot < 0) return false;
        const n = srtp.protectRtp(buf, len, udp.view(slot));
        if (n < 0) {
          udp.discard(slot);
          return false;
        }
        udp.send(slot, n);
        Atomics.add(counts, o.index, 1);
        return true;
      },
      nextTransportSequence: () => (twcc = (twcc + 1) & 0xffff),
      ready: true,
    };
    producer.addConsumer(
      new Consumer({
        producer,
        link,
        ssrc: 0x1000 + o.first + c,
        payloadType: 96,
        mid: "0",
        extensions,
      }),
    );
  }
  const pkt = new InboundPacket();
  const timeOrigin = performance.timeOrigin;
  const sink: RingSink = {
    onRingPacket(buf, len, _track, _ssrc, _flags, arrivalEpochMs) {
      if (!pkt.parse(buf, len, extensions)) return;
      pkt.arrivalMs = arrivalEpochMs - timeOrigin;
      producer.onPacket(pkt);
    },
  };
  // The same read loop as ViewerHost: drain a batch, sleep on the ring when it is empty.
  let closed = false;
  const channel = new MessageChannel();
  const pump = () => {
    if (closed) return;
    ring.drain(sink, 1024);
    const wait = ring.waitForData();
    if (wait === undefined) channel.port1.postMessage(0);
    else wait.then(pump);
  };
  channel.port2.onmessage = pump;
  pump();
  return async () => {
    closed = true;
    ring.wake();
    channel.port1.close();
    channel.port2.close();
    producer.close();
    for (const s of sessions) s.close();
    for (const l of links) l.close();
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  };
}
