/**
 * Rewrites the VP8 payload descriptor (RFC 7741 §4.2) of forwarded packets in place so that
 * PictureID, TL0PICIDX and KEYIDX continue across layer switches and frames dropped by
 * temporal filtering (simulcast.md §2.5). Behaviour learnt from LiveKit `codecmunger/vp8.go`
 * and mediasoup `Codecs/VP8.cpp`; the code is ours.
 *
 * - PictureID keeps its width (7 or 15 bits: the packet length never changes) and wraps in it.
 * - At a switch, the first packet of the new source (a key frame) continues at last + 1 for
 *   PictureID, TL0PICIDX (a key frame is a TL0 picture) and KEYIDX.
 * - A dropped picture shifts later PictureIDs down by one; a small ring of (from-PictureID,
 *   offset) keeps late packets of earlier pictures on their old offset.
 *
 * Hot path: one descriptor parse into a preallocated object and up to four byte writes.
 *
 * @module
 */

import { bitsDiff } from "../seq.ts";
import type { PayloadMunger } from "./payload-munger.ts";
import { readVp8Descriptor, Vp8Descriptor } from "./vp8.ts";

/** Results of {@link Vp8Munger.process} and {@link Vp8Munger.drop} (= `PayloadMungeCode`). */
export const Vp8MungeCode = {
  ok: 0,
  /** The descriptor is truncated: forward nothing. */
  malformed: -1,
} as const;

const RING = 8;

/**
 * VP8 descriptor munger for one outbound video track.
 *
 * @example
 * const m = new Vp8Munger();
 * m.switchSource();                       // before the new layer's key frame
 * if (m.process(buf, payloadOff, payloadLen) < 0) dropPacket();
 */
export class Vp8Munger implements PayloadMunger {
  /** The descriptor of the last packet inspected, processed or dropped. */
  readonly descriptor = new Vp8Descriptor();

  #rebase = true;
  #started = false;
  /** Ring of (first input PictureID, offset), newest at #head. */
  readonly #fromPid = new Int32Array(RING);
  readonly #pidOffset = new Int32Array(RING);
  #head = 0;
  #entries = 0;
  #tl0Offset = 0;
  #keyIdxOffset = 0;
  #lastOutPid = -1;
  #lastOutTl0 = -1;
  #lastOutKeyIdx = -1;
  /** Newest input PictureID forwarded or dropped since the last switch. */
  #newestInPid = -1;
  #lastDroppedPid = -1;
  #lastDroppedTl0 = -1;

  /** TID of the last payload read, -1 without a T bit. */
  get tid(): number {
    return this.descriptor.tid;
  }

  /** Y bit of the last payload read: it depends only on TL0 frames. */
  get layerSync(): boolean {
    return this.descriptor.layerSync;
  }

  /** Reads the descriptor (for {@link tid} and {@link layerSync}) without rewriting it. */
  inspect(buf: Uint8Array, off: number, len: number): boolean {
    return readVp8Descriptor(buf, off, len, this.descriptor);
  }

  /** Last PictureID written, -1 before the first. */
  get lastPictureId(): number {
    return this.#lastOutPid;
  }

  /** Last TL0PICIDX written, -1 before the first. */
  get lastTl0PicIdx(): number {
    return this.#lastOutTl0;
  }

  /** Last KEYIDX written, -1 before the first. */
  get lastKeyIdx(): number {
    return this.#lastOutKeyIdx;
  }

  /**
   * The next packet comes from another source (layer switch, publisher replacement): it must
   * be the first packet of a key frame; numbering continues from the last output.
   */
  switchSource(): void {
    this.#rebase = true;
  }

  /** Rewrites the descriptor of a forwarded packet at `buf[off..off+len)` (the RTP payload). */
  process(buf: Uint8Array, off: number, len: number): number {
    const d = this.descriptor;
    if (!readVp8Descriptor(buf, off, len, d)) return Vp8MungeCode.malformed;
    if (this.#rebase) this.#rebaseOn(d);

    if (d.pictureIdOffset >= 0) {
      const bits = d.pictureIdBits;
      const mask = bits === 15 ? 0x7fff : 0x7f;
      const out = (d.pictureId + this.#offsetFor(d.pictureId, bits)) & mask;
      const o = d.pictureIdOffset;
      if (bits === 15) {
        buf[o] = 0x80 | (out >>> 8);
        buf[o + 1] = out & 0xff;
      } else {
        buf[o] = out;
      }
      if (this.#lastOutPid < 0 || bitsDiff(out, this.#lastOutPid, bits) > 0) this.#lastOutPid = out;
      if (this.#newestInPid < 0 || bitsDiff(d.pictureId, this.#newestInPid, bits) > 0) {
        this.#newestInPid = d.pictureId;
      }
    }
    if (d.tl0PicIdxOffset >= 0) {
      const out = (d.tl0PicIdx + this.#tl0Offset) & 0xff;
      buf[d.tl0PicIdxOffset] = out;
      if (this.#lastOutTl0 < 0 || bitsDiff(out, this.#lastOutTl0, 8) > 0) this.#lastOutTl0 = out;
    }
    if (d.keyIdx >= 0) {
      const out = (d.keyIdx + this.#keyIdxOffset) & 0x1f;
      const o = d.tidKeyIdxOffset;
      buf[o] = (buf[o] & 0xe0) | out;
      this.#lastOutKeyIdx = out;
    }
    this.#started = true;
    return Vp8MungeCode.ok;
  }

  /**
   * The forwarder drops this packet (a temporal layer above the target): later pictures move
   * down so the output has no PictureID (or TL0PICIDX) holes. Call for every dropped packet;
   * a picture counts once.
   */
  drop(buf: Uint8Array, off: number, len: number): number {
    const d = this.descriptor;
    if (!readVp8Descriptor(buf, off, len, d)) return Vp8MungeCode.malformed;
    if (!this.#started || this.#rebase) return Vp8MungeCode.ok; // nothing sent from this source
    if (d.pictureIdOffset >= 0) {
      const bits = d.pictureIdBits;
      const pid = d.pictureId;
      const isNew = pid !== this.#lastDroppedPid &&
        (this.#newestInPid < 0 || bitsDiff(pid, this.#newestInPid, bits) > 0);
      if (isNew) {
        this.#lastDroppedPid = pid;
        this.#newestInPid = pid;
        const mask = bits === 15 ? 0x7fff : 0x7f;
        this.#push((pid + 1) & mask, this.#pidOffset[this.#head] - 1);
      }
    }
    // Filtering never drops TID 0 in practice; if it does, TL0PICIDX must not skip either.
    if (d.tid === 0 && d.tl0PicIdxOffset >= 0 && d.tl0PicIdx !== this.#lastDroppedTl0) {
      this.#lastDroppedTl0 = d.tl0PicIdx;
      this.#tl0Offset--;
    }
    return Vp8MungeCode.ok;
  }

  #rebaseOn(d: Vp8Descriptor): void {
    this.#rebase = false;
    this.#entries = 0;
    this.#lastDroppedPid = -1;
    this.#lastDroppedTl0 = -1;
    this.#newestInPid = -1;
    const haveOut = this.#started;
    if (d.pictureIdOffset >= 0) {
      const offset = haveOut && this.#lastOutPid >= 0 ? this.#lastOutPid + 1 - d.pictureId : 0;
      this.#push(d.pictureId, offset);
    } else {
      this.#push(0, 0);
    }
    if (d.tl0PicIdxOffset >= 0) {
      this.#tl0Offset = haveOut && this.#lastOutTl0 >= 0 ? this.#lastOutTl0 + 1 - d.tl0PicIdx : 0;
    }
    if (d.keyIdx >= 0) {
      this.#keyIdxOffset = haveOut && this.#lastOutKeyIdx >= 0
        ? this.#lastOutKeyIdx + 1 - d.keyIdx
        : 0;
    }
  }

  #push(fromPid: number, offset: number): void {
    this.#head = (this.#head + 1) % RING;
    this.#fromPid[this.#head] = fromPid;
    this.#pidOffset[this.#head] = offset;
    if (this.#entries < RING) this.#entries++;
  }

  /** Offset of the newest entry whose range holds `pid`; the oldest for older pictures. */
  #offsetFor(pid: number, bits: number): number {
    let i = this.#head;
    for (let k = 0; k < this.#entries; k++) {
      if (bitsDiff(pid, this.#fromPid[i], bits) >= 0) return this.#pidOffset[i];
      if (k + 1 < this.#entries) i = (i + RING - 1) % RING;
    }
    return this.#pidOffset[i];
  }
}
