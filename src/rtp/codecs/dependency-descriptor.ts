/**
 * What a forwarder needs from the AV1 RTP Dependency Descriptor (AV1 RTP payload format,
 * appendix A): each frame's temporal layer and whether a viewer may move up to more temporal
 * layers at it, read from the template dependency structure that key frames attach (A.8.3.1:
 * template_layers, template_dtis) and the frame's template id (mandatory fields).
 *
 * Up-switch: a frame whose decode target indication is Switch ("S") for a decode target can
 * start that decode target (A.4): from it on, every frame of the decode target decodes. The
 * temporal level a frame opens is the highest temporal layer among the decode targets it
 * switches. libwebrtc's L1T3 marks every TL0 frame "SSS" and every TL1 frame "-DS".
 *
 * Hot path: {@link DependencyTemplates.read} is two array lookups per packet; a structure (a
 * key frame's first packet) is a bit-level parse into preallocated arrays.
 *
 * @module
 */

import { BitReader } from "./bit-reader.ts";

const TEMPLATES = 64;
const DECODE_TARGETS = 32;
/** Decode target indication "Switch" (A.8.3.2). */
const DTI_SWITCH = 2;

/**
 * The latest template structure of one stream, and the frame last read against it.
 *
 * @example
 * if (templates.read(buf, ddOff, ddLen) && templates.tid >= 0) filter(templates.tid);
 */
export class DependencyTemplates {
  /** Temporal layer of the frame last read; -1 when unknown (no structure yet, bad id). */
  tid = -1;
  /** Highest temporal layer the frame last read lets a viewer switch up to; -1: none. */
  syncUpTo = -1;
  /** Highest temporal layer in the structure, -1 before one arrived. */
  maxTemporalId = -1;
  /** By absolute template id: temporal layer (-1: not in the structure) and switch level. */
  readonly #tidById = new Int8Array(TEMPLATES).fill(-1);
  readonly #syncById = new Int8Array(TEMPLATES).fill(-1);
  readonly #tmplTid = new Int8Array(TEMPLATES);
  readonly #dtTid = new Int8Array(DECODE_TARGETS);
  readonly #dti = new Uint8Array(TEMPLATES * DECODE_TARGETS);
  readonly #bits = new BitReader();

  /**
   * Reads the descriptor at `buf[off..off+len)`: learns an attached structure, then looks the
   * frame's template up. False if the descriptor is malformed.
   */
  read(buf: Uint8Array, off: number, len: number): boolean {
    this.tid = -1;
    this.syncUpTo = -1;
    if (len < 3) return false;
    if (len > 3) {
      const r = this.#bits;
      r.reset(buf, off + 3, len - 3, false);
      const structurePresent = r.readBit() === 1;
      r.skipBits(4); // active decode targets, custom DTIs, fdiffs, chains
      if (structurePresent && !this.#readStructure(r)) return false;
    }
    const id = buf[off] & 0x3f;
    this.tid = this.#tidById[id];
    this.syncUpTo = this.#syncById[id];
    return true;
  }

  #readStructure(r: BitReader): boolean {
    const offset = r.readBits(6);
    const dtCount = r.readBits(5) + 1;
    // template_layers(): each template's temporal id, stepped by next_layer_idc.
    let count = 0;
    let tid = 0;
    let maxTid = 0;
    for (;;) {
      if (count >= TEMPLATES) return false;
      this.#tmplTid[count++] = tid;
      const next = r.readBits(2);
      if (next === 3) break;
      if (next === 1) {
        tid++;
        if (tid > maxTid) maxTid = tid;
      } else if (next === 2) {
        tid = 0; // the next spatial layer starts at temporal layer 0
      }
    }
    // template_dtis(): two bits per (template, decode target).
    const dti = this.#dti;
    for (let i = 0; i < count; i++) {
      for (let d = 0; d < dtCount; d++) dti[i * DECODE_TARGETS + d] = r.readBits(2);
    }
    if (r.overrun) return false;
    // A decode target's temporal layer: the highest of the templates it contains.
    const dtTid = this.#dtTid;
    for (let d = 0; d < dtCount; d++) {
      let t = 0;
      for (let i = 0; i < count; i++) {
        if (dti[i * DECODE_TARGETS + d] !== 0 && this.#tmplTid[i] > t) t = this.#tmplTid[i];
      }
      dtTid[d] = t;
    }
    this.#tidById.fill(-1);
    this.#syncById.fill(-1);
    for (let i = 0; i < count; i++) {
      let up = -1;
      for (let d = 0; d < dtCount; d++) {
        if (dti[i * DECODE_TARGETS + d] === DTI_SWITCH && dtTid[d] > up) up = dtTid[d];
      }
      const id = (i + offset) % TEMPLATES;
      this.#tidById[id] = this.#tmplTid[i];
      this.#syncById[id] = up;
    }
    this.maxTemporalId = maxTid;
    return true;
  }
}
