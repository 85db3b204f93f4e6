/**
 * The codec-specific part of forwarding one outbound video track: reading the temporal layer
 * of a packet and rewriting payload-descriptor numbering (PictureID, TL0PICIDX, …) so it
 * continues across source switches and temporal filtering. One implementation per codec,
 * chosen when the consumer is built (LiveKit `codecmunger/`: a null object instead of
 * `if (munger)` on the packet path).
 *
 * @module
 */

import type { CodecName } from "./codec.ts";
import { Vp8Munger } from "./vp8-munger.ts";
import { Vp9Munger } from "./vp9-munger.ts";

/** Results of {@link PayloadMunger.process} and {@link PayloadMunger.drop}. */
export const PayloadMungeCode = {
  ok: 0,
  /** The descriptor is truncated: forward nothing. */
  malformed: -1,
} as const;

/**
 * Descriptor reading and rewriting for one outbound track. Hot path: a descriptor parse into a
 * preallocated object and a few byte writes; no allocation.
 */
export interface PayloadMunger {
  /** Temporal layer id of the payload last given to {@link inspect}; -1 when it carries none. */
  readonly tid: number;
  /** That payload is a temporal up-switch point (VP8 Y bit, VP9 U bit). */
  readonly layerSync: boolean;
  /** Reads the descriptor of `buf[off..off+len)` without changing it; false if truncated. */
  inspect(buf: Uint8Array, off: number, len: number): boolean;
  /** The next packet comes from another source and starts a key frame: numbering continues. */
  switchSource(): void;
  /** Rewrites the descriptor of a forwarded payload in place; a {@link PayloadMungeCode}. */
  process(buf: Uint8Array, off: number, len: number): number;
  /** A payload of the current source is not forwarded (temporal filtering); reads only. */
  drop(buf: Uint8Array, off: number, len: number): number;
}

/** For codecs without a descriptor to rewrite (H.264, H.265, AV1, Opus): no temporal ids. */
export class NullPayloadMunger implements PayloadMunger {
  readonly tid = -1;
  readonly layerSync = false;
  inspect(_buf: Uint8Array, _off: number, _len: number): boolean {
    return true;
  }
  switchSource(): void {}
  process(_buf: Uint8Array, _off: number, _len: number): number {
    return PayloadMungeCode.ok;
  }
  drop(_buf: Uint8Array, _off: number, _len: number): number {
    return PayloadMungeCode.ok;
  }
}

/**
 * The payload munger for a codec.
 *
 * @example const munger = payloadMungerFor(producer.codecName);
 */
export function payloadMungerFor(codec: CodecName): PayloadMunger {
  switch (codec) {
    case "vp8":
      return new Vp8Munger();
    case "vp9":
      return new Vp9Munger();
    default:
      return new NullPayloadMunger();
  }
}
