/**
 * The main thread's end of the fan-out to workers: a Producer's tap (Producer.addTap) that
 * writes each packet once into the ring of every worker that has viewers of the stream.
 *
 * Shedding under saturation (issue: lowest priority first): as a worker's ring fills, packets
 * of higher simulcast layers are dropped first (from half full), then the lowest video layer
 * (from 7/8 full), and audio only when the ring is full. Each is counted as
 * `packetsDropped{reason="queue_full"}` and in the ring's own drop count.
 */
import { counters, DropReason } from "../observability/counters.ts";
import type { InboundPacket } from "../rtp/inbound-packet.ts";
import type { Layer } from "../sfu/layer.ts";
import type { PacketTap, Producer } from "../sfu/producer.ts";
import { type PacketRing, RingFlag } from "./packet-ring.ts";
import { WakeCoalescer } from "./wake-coalescer.ts";

/** Ring fill (of capacity) from which a class of packets is shed. */
export const SHED_UPPER_LAYERS_AT = 0.5;
export const SHED_BASE_LAYER_AT = 0.875;

/** Wakes a sleeping reader at every packet: for taps given no coalescer. */
const WAKE_AT_ONCE = new WakeCoalescer(0);

export class RingTap implements PacketTap {
  readonly producer: Producer;
  readonly trackId: number;
  /** The Router (stream key) of the producer. */
  readonly stream: string;
  /** Rings of the workers subscribed to this producer's stream. */
  rings: PacketRing[] = [];
  readonly #audio: boolean;
  readonly #timeOrigin = performance.timeOrigin;
  readonly #wakes: WakeCoalescer;
  /** Packets written and shed, over every ring. */
  written = 0;
  shed = 0;

  /** `wakes` batches the readers' wake-ups; without it a sleeping reader is woken per packet. */
  constructor(
    producer: Producer,
    trackId: number,
    wakes: WakeCoalescer = WAKE_AT_ONCE,
    stream = "",
  ) {
    this.producer = producer;
    this.trackId = trackId;
    this.stream = stream;
    this.#wakes = wakes;
    this.#audio = producer.kind === "audio";
  }

  /** Called by the producer for every packet. */
  onPacket(pkt: InboundPacket, layer: Layer, keyframe: boolean): void {
    const rings = this.rings;
    if (rings.length === 0) return;
    const audio = this.#audio;
    // Rank 0 is the lowest layer; −1 (not ranked yet) counts as the base.
    const upper = !audio && layer.state.rank > 0;
    // The rid index too: the worker cannot learn the layer from the rid extension (see
    // Producer.learnLayer).
    const flags = (keyframe ? RingFlag.keyframe : 0) | (audio ? RingFlag.audio : 0) |
      ((layer.ridIndex + 1) << RingFlag.ridShift);
    const arrival = this.#timeOrigin + pkt.arrivalMs;
    for (let i = 0; i < rings.length; i++) {
      const ring = rings[i];
      if (!audio) {
        const occupancy = ring.occupancy;
        if (occupancy >= (upper ? SHED_UPPER_LAYERS_AT : SHED_BASE_LAYER_AT)) {
          ring.countDrop();
          this.shed++;
          counters.packetsDropped[DropReason.queueFull]++;
          continue;
        }
      }
      if (ring.write(pkt.buf, 0, pkt.length, this.trackId, layer.ssrc, flags, arrival)) {
        this.written++;
        this.#wakes.packetWritten(ring);
      } else {
        this.shed++;
        counters.packetsDropped[DropReason.queueFull]++;
      }
    }
  }
}
