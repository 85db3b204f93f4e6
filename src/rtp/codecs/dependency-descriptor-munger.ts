/**
 * Rewrites the frame_number of the AV1 RTP Dependency Descriptor header extension (AV1 RTP
 * payload format, appendix A) in a viewer's copy of a packet, so that it keeps increasing
 * across source switches (simulcast layer, publisher replaced).
 *
 * Why: frame_number "increases strictly monotonically in decode order" (A.8.3), and libwebrtc's
 * receiver unwraps it into the frame id it orders and references frames by
 * (`RtpVideoStreamReceiver2::ParseGenericDependenciesExtension`): a key frame whose attached
 * template structure comes with a frame id older than the last structure's is dropped ("is
 * older than the latest received key frame"), and without that structure none of the new
 * layer's descriptors parse. Independent simulcast encoders number frames from unrelated
 * random bases, so about half of all switches would freeze the picture. At a switch the new
 * source's first frame (a key frame carrying its structure) continues at last + 1; later frames
 * keep that offset, which leaves frame and chain differences (fdiff, frame_chain_fdiff) intact.
 * Gaps from frames the forwarder drops are allowed: references say what each frame needs.
 *
 * Hot path: two byte reads and two writes per packet.
 *
 * @module
 */

import { seqDiff } from "../seq.ts";

/**
 * @example
 * dd.switchSource();                                   // before the new layer's key frame
 * dd.process(out, rewriter.ddOffset, rewriter.ddLength); // after writing the viewer's copy
 */
export class DependencyDescriptorMunger {
  #rebase = true;
  #started = false;
  #offset = 0;
  #lastOut = 0;

  /** Last frame_number written, -1 before the first. */
  get lastFrameNumber(): number {
    return this.#started ? this.#lastOut : -1;
  }

  /** The next descriptor comes from another source (its first packet starts a key frame). */
  switchSource(): void {
    this.#rebase = true;
  }

  /** Rewrites frame_number (bytes 1–2 of the mandatory fields); false if too short. */
  process(buf: Uint8Array, off: number, len: number): boolean {
    if (len < 3) return false;
    const frameNumber = (buf[off + 1] << 8) | buf[off + 2];
    if (this.#rebase) {
      this.#rebase = false;
      this.#offset = this.#started ? (this.#lastOut + 1 - frameNumber) & 0xffff : 0;
    }
    const out = (frameNumber + this.#offset) & 0xffff;
    buf[off + 1] = out >> 8;
    buf[off + 2] = out & 0xff;
    if (!this.#started || seqDiff(out, this.#lastOut) > 0) this.#lastOut = out;
    this.#started = true;
    return true;
  }
}
