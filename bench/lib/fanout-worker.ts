/**
 * One forwarding worker of the data-plane scaling case (bench/cases/fanout-workers.ts): the
 * worker half of `src/workers` without werift. It attaches to a PacketRing, mirrors the
 * publisher's track in a Producer, and fans every packet out to its share of consumers
 * (fanout-consumers.ts). Outbound packets are counted in a shared Int32 slot.
 *
 * Protocol: postMessage({ ring, sinkPort, consumers, first, counts, index }) → "ready";
 * "stop" → closes everything and replies "stopped".
 */
import dgram from "node:dgram";
import { InboundPacket } from "../../src/rtp/inbound-packet.ts";
import { PacketRing, type RingSink } from "../../src/workers/packet-ring.ts";
import { vp8Producer } from "./synthetic-media.ts";
import { attachConsumers } from "./fanout-consumers.ts";

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
  const socket = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
  const consumers = attachConsumers(producer, socket, o, () => Atomics.add(counts, o.index, 1));
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
    consumers.close();
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  };
}
