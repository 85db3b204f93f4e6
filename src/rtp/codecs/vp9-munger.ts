/**
 * Rewrites the VP9 payload descriptor (RFC 9628 §4.2) of forwarded packets in place so that
 * PictureID and TL0PICIDX continue across source switches (simulcast layer, publisher
 * replaced): the key frame that starts a new source gets last + 1 for both, and every later
 * packet of that source keeps the same offset.
 *
 * Unlike VP8, pictures dropped by temporal filtering are **not** closed up: a VP9 receiver in
 * non-flexible mode derives each picture's references from its PictureID's position in the
 * group of frames (libwebrtc `RtpVp9RefFinder`: `(pid − pid_start) % num_frames_in_gof`, refs
 * `pid − pid_diff`), so the spacing must stay as encoded; the same receiver books the missing
 * PictureIDs by temporal layer and decodes the lower layers without them. In flexible mode
 * the references are PictureID differences (P_DIFF), which a constant offset also keeps.
 *
 * Hot path: one descriptor parse into a preallocated object and up to three byte writes.
 *
 * @module
 */

import { bitsDiff } from "../seq.ts";
import type { PayloadMunger } from "./payload-munger.ts";
import { readVp9Descriptor, Vp9Descriptor } from "./vp9.ts";

/**
 * VP9 descriptor munger for one outbound video track.
 *
 * @example
 * const m = new Vp9Munger();
 * m.switchSource();                       // before the new layer's key frame
 * if (m.process(buf, payloadOff, payloadLen) < 0) dropPacket();
 */
export class Vp9Munger implements PayloadMunger {
  /** The descriptor of the last payload inspected, processed or dropped. */
  readonly descriptor = new Vp9Descriptor();

  #rebase = true;
  #started = false;
  #pidOffset = 0;
  #tl0Offset = 0;
  #lastOutPid = -1;
  #lastOutTl0 = -1;

  /** TID of the last payload read, -1 without layer indices. */
  get tid(): number {
    return this.descriptor.tid;
  }

  /** U bit of the last payload read: higher temporal layers may be joined here. */
  get layerSync(): boolean {
    return this.descriptor.switchingUp;
  }

  /** Last PictureID written, -1 before the first. */
  get lastPictureId(): number {
    return this.#lastOutPid;
  }

  /** Last TL0PICIDX written, -1 before the first. */
  get lastTl0PicIdx(): number {
    return this.#lastOutTl0;
  }

  inspect(buf: Uint8Array, off: number, len: number): boolean {
    return readVp9Descriptor(buf, off, len, this.descriptor);
  }

  switchSource(): void {
    this.#rebase = true;
  }

  process(buf: Uint8Array, off: number, len: number): number {
    const d = this.descriptor;
    if (!readVp9Descriptor(buf, off, len, d)) return -1;
    if (this.#rebase) this.#rebaseOn(d);
    if (d.pictureIdOffset >= 0) {
      const bits = d.pictureIdBits;
      const out = (d.pictureId + this.#pidOffset) & (bits === 15 ? 0x7fff : 0x7f);
      const o = d.pictureIdOffset;
      if (bits === 15) {
        buf[o] = 0x80 | (out >>> 8);
        buf[o + 1] = out & 0xff;
      } else {
        buf[o] = out;
      }
      if (this.#lastOutPid < 0 || bitsDiff(out, this.#lastOutPid, bits) > 0) this.#lastOutPid = out;
    }
    if (d.tl0PicIdxOffset >= 0) {
      const out = (d.tl0PicIdx + this.#tl0Offset) & 0xff;
      buf[d.tl0PicIdxOffset] = out;
      if (this.#lastOutTl0 < 0 || bitsDiff(out, this.#lastOutTl0, 8) > 0) this.#lastOutTl0 = out;
    }
    this.#started = true;
    return 0;
  }

  /** Numbering keeps its gaps (see the module comment): only validates the descriptor. */
  drop(buf: Uint8Array, off: number, len: number): number {
    return readVp9Descriptor(buf, off, len, this.descriptor) ? 0 : -1;
  }

  #rebaseOn(d: Vp9Descriptor): void {
    this.#rebase = false;
    const haveOut = this.#started;
    if (d.pictureIdOffset >= 0) {
      this.#pidOffset = haveOut && this.#lastOutPid >= 0 ? this.#lastOutPid + 1 - d.pictureId : 0;
    }
    if (d.tl0PicIdxOffset >= 0) {
      // A key frame is a TL0 picture: it takes the next index.
      this.#tl0Offset = haveOut && this.#lastOutTl0 >= 0 ? this.#lastOutTl0 + 1 - d.tl0PicIdx : 0;
    }
  }
}
